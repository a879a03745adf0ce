"""sweep wake-up triggers on deadlines, customer notices and the outbox (platform revision p0004)

Each insert, update or delete of those rows sets (or clears) the row's entry in ``public.sweep_wakeups`` in
the same transaction, so the sweeper knows which tenants have work due without visiting every tenant.
Existing rows get their entries here.

Revision ID: t0007
Revises: t0006
Create Date: 2026-11-29
"""

from alembic import op
from sqlalchemy import text

revision = "t0007"
down_revision = "t0006"
branch_labels = None
depends_on = None

TRIGGERS = {
    "deadlines": "complaintdesk_wake_deadline",
    "customer_notices": "complaintdesk_wake_notice",
    "outbox": "complaintdesk_wake_outbox",
}

_BACKFILL = {
    "deadlines": "public.complaintdesk_deadline_wake_at(met_at, cancelled_at, party, due_at, remind_at, "
                 "reminded_at, paused_at, breached_at)",
    "customer_notices": "CASE WHEN sent_at IS NULL THEN created_at END",
    "outbox": "CASE WHEN state = 'pending' THEN next_attempt_at END",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.scalar(text("SELECT to_regclass('public.sweep_wakeups')")) is None:
        raise RuntimeError("the platform schema is older than p0004: run `complaintdesk migrate` first")
    for table, function in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER sweep_wakeup AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION public.{function}()")
        backfill = (f"INSERT INTO public.sweep_wakeups (schema_name, source, row_id, at) "  # noqa: S608 (constants)
                    f"SELECT current_schema(), '{table}', id, at FROM "
                    f"(SELECT id, {_BACKFILL[table]} AS at FROM {table}) t WHERE at IS NOT NULL "
                    "ON CONFLICT DO NOTHING")
        op.execute(backfill)


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS sweep_wakeup ON {table}")
        op.execute(f"DELETE FROM public.sweep_wakeups WHERE schema_name = current_schema() AND source = '{table}'")  # noqa: S608
