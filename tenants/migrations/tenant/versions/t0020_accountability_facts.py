"""the statistics' facts carry the accountability; improvement actions are completed (issue 16)

``complaint_facts`` gains, per complaint: the newest APPROVED responsibility attribution's level, cause and unit;
the number of EFFECTIVE penalties on it; whether it is a confirmed repeat and whether that repeat counts against
a store; whether it is flagged as a major complaint and whether its regulator notification was sent. From now on
``statistics.facts`` keeps them in step in the transactions of the accountability steps; existing complaints are
backfilled here from the accountability tables (t0018). No personal data.

``improvement_actions`` gains who completed it (``completed_by``) and what was done (``completion_note``, sealed
like the other free texts): ``completeImprovementAction``.

Downgrade drops the columns.

Revision ID: t0020
Revises: t0019
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0020"
down_revision = "t0019"
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE complaint_facts f SET
    responsibility_level = r.level, responsibility_cause = r.cause, responsible_unit_id = r.org_unit_id,
    penalties = (SELECT count(*) FROM penalties p WHERE p.complaint_id = f.complaint_id AND p.state = 'EFFECTIVE'),
    repeat_confirmed = EXISTS (SELECT 1 FROM repeat_proposals rp WHERE rp.complaint_id = f.complaint_id
                               AND rp.state = 'CONFIRMED'),
    repeat_against_store = EXISTS (SELECT 1 FROM repeat_proposals rp WHERE rp.complaint_id = f.complaint_id
                                   AND rp.state = 'CONFIRMED' AND rp.store_id IS NOT NULL),
    major = EXISTS (SELECT 1 FROM major_complaints m WHERE m.complaint_id = f.complaint_id),
    major_reported = EXISTS (SELECT 1 FROM major_complaints m WHERE m.complaint_id = f.complaint_id
                             AND m.state = 'SENT')
FROM complaint_facts f2
LEFT JOIN LATERAL (
    SELECT level, cause, org_unit_id FROM responsibilities x
    WHERE x.complaint_id = f2.complaint_id AND x.state = 'APPROVED'
    ORDER BY x.decided_at DESC NULLS LAST, x.proposed_at DESC, x.id LIMIT 1) r ON true
WHERE f2.complaint_id = f.complaint_id
"""


def upgrade() -> None:
    op.add_column("complaint_facts", sa.Column("responsibility_level", sa.String(24), nullable=True))
    op.add_column("complaint_facts", sa.Column("responsibility_cause", sa.String(16), nullable=True))
    op.add_column("complaint_facts", sa.Column("responsible_unit_id", UUID(as_uuid=True), nullable=True))
    op.add_column("complaint_facts", sa.Column("penalties", sa.Integer(), server_default=sa.text("0"),
                                               nullable=False))
    for name in ("repeat_confirmed", "repeat_against_store", "major", "major_reported"):
        op.add_column("complaint_facts", sa.Column(name, sa.Boolean(), server_default=sa.text("false"),
                                                   nullable=False))
    op.execute(BACKFILL)
    op.add_column("improvement_actions", sa.Column("completed_by", UUID(as_uuid=True), nullable=True))
    op.add_column("improvement_actions", sa.Column("completion_note", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("improvement_actions", "completion_note")
    op.drop_column("improvement_actions", "completed_by")
    for name in ("major_reported", "major", "repeat_against_store", "repeat_confirmed", "penalties",
                 "responsible_unit_id", "responsibility_cause", "responsibility_level"):
        op.drop_column("complaint_facts", name)
