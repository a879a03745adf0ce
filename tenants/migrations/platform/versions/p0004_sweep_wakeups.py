"""sweep wake-ups: when each tenant row next needs the sweeper, kept by triggers in the tenant schemas

One row per tenant row with work ahead (a deadline to remind or breach, a customer notice to hand to its
owner, an outbox item to deliver): ``schema_name``, ``source`` (the tenant table), ``row_id`` and ``at``, the
moment the sweeper must look at it. The tenant schemas' triggers (t0007) keep it in the same transaction
as the row, so it is never behind the truth; the sweeper visits only the tenants with a wake-up due instead
of every tenant on every pass. It holds no tenant data beyond row ids and times.

The functions ``complaintdesk_deadline_wake_at`` (the deadline's next event: its reminder or its breach, as
the sweep counts them) and the three trigger functions live here, once, for every tenant schema. A trigger
writes only when the row's wake-up time changes (a row sent, met, moved), so most updates cost nothing here.
``TG_TABLE_SCHEMA`` is a ``name`` (collation "C"): compared in the default collation, or the index is not
used.

Revision ID: p0004
Revises: p0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "p0004"
down_revision = "p0003"
branch_labels = None
depends_on = None

_WAKE_AT_FUNCTION = """
CREATE OR REPLACE FUNCTION public.complaintdesk_deadline_wake_at(
    met_at timestamptz, cancelled_at timestamptz, party text, due_at timestamptz, remind_at timestamptz,
    reminded_at timestamptz, paused_at timestamptz, breached_at timestamptz
) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN met_at IS NULL AND cancelled_at IS NULL THEN LEAST(
        CASE WHEN reminded_at IS NULL AND paused_at IS NULL THEN remind_at END,
        CASE WHEN party = 'COMPANY' AND breached_at IS NULL AND (paused_at IS NULL OR due_at < paused_at)
             THEN due_at END
    ) END
$$
"""

# trigger function -> the row's wake-up time ({r}: OLD or NEW)
WAKE_AT = {
    "complaintdesk_wake_deadline": "public.complaintdesk_deadline_wake_at({r}.met_at, {r}.cancelled_at, {r}.party, "
                                   "{r}.due_at, {r}.remind_at, {r}.reminded_at, {r}.paused_at, {r}.breached_at)",
    "complaintdesk_wake_notice": "CASE WHEN {r}.sent_at IS NULL THEN {r}.created_at END",
    "complaintdesk_wake_outbox": "CASE WHEN {r}.state = 'pending' THEN {r}.next_attempt_at END",
}

_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION public.{name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was timestamptz;
    now_at timestamptz;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        was := {old};
    END IF;
    IF TG_OP <> 'DELETE' THEN
        now_at := {new};
    END IF;
    IF was IS NOT DISTINCT FROM now_at THEN
        RETURN NULL;  -- the wake-up (or its absence) is already right
    END IF;
    IF now_at IS NULL THEN
        DELETE FROM public.sweep_wakeups WHERE schema_name = TG_TABLE_SCHEMA::text COLLATE "default"
            AND source = TG_TABLE_NAME::text COLLATE "default" AND row_id = OLD.id;
    ELSE
        INSERT INTO public.sweep_wakeups (schema_name, source, row_id, at)
        VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, NEW.id, now_at)
        ON CONFLICT (schema_name, source, row_id) DO UPDATE SET at = EXCLUDED.at;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "sweep_wakeups",
        sa.Column("schema_name", sa.String(63), nullable=False),
        sa.Column("source", sa.String(63), nullable=False),
        sa.Column("row_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("schema_name", "source", "row_id", name="pk_sweep_wakeups"),
        schema="public",
    )
    # "has this tenant a deadline / notice / outbox item due": one index probe each
    op.create_index("ix_sweep_wakeups_due", "sweep_wakeups", ["schema_name", "source", "at"], schema="public")
    op.execute(_WAKE_AT_FUNCTION)
    for name, wake_at in WAKE_AT.items():
        op.execute(_TRIGGER_FUNCTION.format(name=name, old=wake_at.format(r="OLD"), new=wake_at.format(r="NEW")))


def downgrade() -> None:
    for name in WAKE_AT:
        op.execute(f"DROP FUNCTION IF EXISTS public.{name}()")
    op.execute("DROP FUNCTION IF EXISTS public.complaintdesk_deadline_wake_at(timestamptz, timestamptz, text, "
               "timestamptz, timestamptz, timestamptz, timestamptz, timestamptz)")
    op.drop_table("sweep_wakeups", schema="public")
