"""a customer notice the platform words itself keeps a message key and its values, written in the reader's language

``customer_notices.reason_key`` and ``reason_params`` (services/core/deadlines/notices.py): the notices the platform
wrote in English until now become keyed, so the customer's message and the owner's task read in their language.
Their English text was always made from the notice's kind and the rows it names, so the backfill maps each kind of
those to its key and takes the values from the same rows (``reason`` itself is sealed; it is left as it is):

- ``DEADLINE_BREACHED``: "The {deadline} deadline (due {due}) has passed: ..." -> the deadline's kind, stage, due time;
- ``REFERRED``: "This matter is for {body}: ..." -> the body of the referral (``dedup_key`` ``referral:<routing>``);
- ``RECOMPLAINT_GUIDANCE``: "... complain further to: {where}." -> the active re-complaint bodies (association,
  then regulator, as the text listed them; the general wording when there are none).

Notices a person worded (an extension's reason, a review's answer) keep no key. Downgrade drops the columns (the
English ``reason`` is there still).

Revision ID: t0021
Revises: t0020
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "t0021"
down_revision = "t0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer_notices", sa.Column("reason_key", sa.String(64), nullable=True))
    op.add_column("customer_notices", sa.Column("reason_params", postgresql.JSONB(), nullable=True))
    op.execute("""
        UPDATE customer_notices n
           SET reason_key = 'DEADLINE_BREACHED',
               reason_params = jsonb_build_object(
                   'kind', d.kind, 'stage', d.stage,
                   'due', to_char(d.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00')
          FROM deadlines d
         WHERE n.kind = 'DEADLINE_BREACHED' AND n.reason_key IS NULL AND d.id = n.deadline_id
    """)
    op.execute("""
        UPDATE customer_notices n
           SET reason_key = 'REFERRED',
               reason_params = jsonb_build_object(
                   'body', b.name || COALESCE(' (' || NULLIF(b.contact, '') || ')', ''))
          FROM routings r JOIN external_bodies b ON b.id = r.external_body_id
         WHERE n.kind = 'REFERRED' AND n.reason_key IS NULL AND n.dedup_key = 'referral:' || r.id::text
    """)
    op.execute("""
        WITH bodies AS (
            SELECT jsonb_agg(name || COALESCE(' (' || NULLIF(contact, '') || ')', '')
                             ORDER BY escalation_level, name) AS lines
              FROM external_bodies WHERE active AND escalation_level IS NOT NULL)
        UPDATE customer_notices n
           SET reason_key = CASE WHEN bodies.lines IS NULL THEN 'RECOMPLAINT_GUIDANCE_GENERAL'
                                 ELSE 'RECOMPLAINT_GUIDANCE' END,
               reason_params = CASE WHEN bodies.lines IS NULL THEN '{}'::jsonb
                                    ELSE jsonb_build_object('where', bodies.lines) END
          FROM bodies
         WHERE n.kind = 'RECOMPLAINT_GUIDANCE' AND n.reason_key IS NULL
    """)


def downgrade() -> None:
    op.drop_column("customer_notices", "reason_params")
    op.drop_column("customer_notices", "reason_key")
