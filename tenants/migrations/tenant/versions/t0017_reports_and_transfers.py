"""reports as durable objects; exports and imports (issue 15 points 3 and 4)

- ``reports``: one generated report (kind, period, parameters, state, progress, the figures it used, their content
  hash, who asked and when). A scheduled report (the semi-annual summary, the periodic management report) is
  unique per kind and period (``uq_reports_scheduled``), so two workers scheduling it at once make one row.
  A row whose state is ``COMPLETED`` is never changed nor deleted again (trigger ``reports_immutable``).
- ``data_transfers``: an export (complaints, org units, users) or an import (org units, users) run by the worker,
  with its progress and its row-level errors.
- ``report_files``: the files of a report or a transfer (CSV, XLSX, PDF; an import's uploaded file), sealed with
  the tenant's data key, with the SHA-256 of their plain bytes. Only ``content`` may change (a data-key rotation
  re-seals it); a completed report's files are never deleted (trigger ``report_files_immutable``).
- Triggers ``sweep_wakeup`` on ``reports`` and ``data_transfers`` keep ``public.sweep_wakeups`` (sources
  ``reports``, ``data_transfers``): a PENDING row 30 s after it was made, a RUNNING one when its lease runs out.
- ``tenant_settings.management_report_cadence``: NONE, MONTHLY or QUARTERLY (periodic management reports).
- The default policy rules of ``report.read``, ``report.generate``, ``data.export`` and ``data.import``, added
  where missing (policies/<template>.csv holds them too).

Revision ID: t0017
Revises: t0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0017"
down_revision = "t0016"
branch_labels = None
depends_on = None

_READERS = ("tenant_admin", "report_reader", "general_manager", "manager", "complaint_desk", "reviewer",
            "approver")
_GENERATORS = ("tenant_admin", "general_manager", "manager", "complaint_desk")
_EXPORTERS = ("tenant_admin", "manager", "complaint_desk", "general_manager")
_IMPORTERS = ("tenant_admin",)
_COMMON = [
    *[(r, "report.read", "any", "allow") for r in _READERS],
    *[(r, "report.generate", "any", "allow") for r in _GENERATORS],
    *[(r, "data.export", "any", "allow") for r in _EXPORTERS],
    *[(r, "data.import", "any", "allow") for r in _IMPORTERS],
]
NEW_RULES: dict[str, list[tuple[str, str, str, str]]] = {
    "retail": [*_COMMON, ("store_manager", "data.export", "any", "allow")],
    "bank": [*_COMMON, ("regulator_liaison", "report.read", "any", "allow"),
             ("regulator_liaison", "report.generate", "any", "allow")],
}
"""The rules this revision introduced (frozen here; policies/<template>.csv holds them too)."""

_IMMUTABLE_REPORTS = """
CREATE OR REPLACE FUNCTION reports_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state = 'COMPLETED' THEN
        RAISE EXCEPTION 'report % is completed and cannot be changed', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$
"""
_IMMUTABLE_FILES = """
CREATE OR REPLACE FUNCTION report_files_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    report_state text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.id, NEW.report_id, NEW.transfer_id, NEW.purpose, NEW.format, NEW.filename, NEW.content_type,
            NEW.size, NEW.sha256, NEW.created_at)
           IS DISTINCT FROM
           (OLD.id, OLD.report_id, OLD.transfer_id, OLD.purpose, OLD.format, OLD.filename, OLD.content_type,
            OLD.size, OLD.sha256, OLD.created_at) THEN
            RAISE EXCEPTION 'file % cannot be changed', OLD.id USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.report_id IS NOT NULL THEN
        -- the trigger's own schema (the tenant's), whatever the caller's search_path
        EXECUTE format('SELECT state FROM %I.reports WHERE id = $1', TG_TABLE_SCHEMA) INTO report_state
            USING OLD.report_id;
        IF report_state = 'COMPLETED' THEN
            RAISE EXCEPTION 'file % belongs to a completed report', OLD.id USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    RETURN OLD;
END $$
"""


_JOBS_WAKEUP = """
CREATE OR REPLACE FUNCTION jobs_wakeup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was timestamptz;
    now_at timestamptz;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        was := CASE OLD.state WHEN 'PENDING' THEN OLD.created_at + interval '30 seconds'
                              WHEN 'RUNNING' THEN OLD.lease_until END;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        now_at := CASE NEW.state WHEN 'PENDING' THEN NEW.created_at + interval '30 seconds'
                                 WHEN 'RUNNING' THEN NEW.lease_until END;
    END IF;
    IF was IS NOT DISTINCT FROM now_at THEN
        RETURN NULL;
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
        "reports",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),  # exclusive
        sa.Column("parameters", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("scheduled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("state", sa.String(16), nullable=False, server_default=sa.text("'PENDING'")),
        sa.Column("progress", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("figures", JSONB(), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", UUID(as_uuid=True),
                  sa.ForeignKey("users.id", ondelete="RESTRICT", name="fk_reports_created_by_users"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')", name="ck_reports_state"),
        sa.CheckConstraint("kind IN ('SEMI_ANNUAL_SUMMARY', 'MANAGEMENT', 'ANNUAL_MECHANISM', 'REGULATOR_RETURN')",
                           name="ck_reports_kind"),
        sa.CheckConstraint("period_from < period_to", name="ck_reports_period"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="ck_reports_progress"),
    )
    op.create_index("uq_reports_scheduled", "reports", ["kind", "period_from", "period_to"], unique=True,
                    postgresql_where=sa.text("scheduled"))
    op.create_index("ix_reports_created_at", "reports", ["created_at"])
    op.create_index("ix_reports_open", "reports", ["created_at"],
                    postgresql_where=sa.text("state IN ('PENDING', 'RUNNING')"))
    op.create_table(
        "data_transfers",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("parameters", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("state", sa.String(16), nullable=False, server_default=sa.text("'PENDING'")),
        sa.Column("progress", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("rows_total", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("rows_done", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("row_errors", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", UUID(as_uuid=True),
                  sa.ForeignKey("users.id", ondelete="RESTRICT", name="fk_data_transfers_created_by_users"),
                  nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED')", name="ck_data_transfers_state"),
        sa.CheckConstraint("format IN ('CSV', 'XLSX')", name="ck_data_transfers_format"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="ck_data_transfers_progress"),
    )
    op.create_index("ix_data_transfers_open", "data_transfers", ["created_at"],
                    postgresql_where=sa.text("state IN ('PENDING', 'RUNNING')"))
    op.create_table(
        "report_files",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("report_id", UUID(as_uuid=True),
                  sa.ForeignKey("reports.id", ondelete="RESTRICT", name="fk_report_files_report_id_reports"),
                  nullable=True),
        sa.Column("transfer_id", UUID(as_uuid=True),
                  sa.ForeignKey("data_transfers.id", ondelete="CASCADE",
                                name="fk_report_files_transfer_id_data_transfers"), nullable=True),
        sa.Column("purpose", sa.String(8), nullable=False),  # OUTPUT or INPUT
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(report_id IS NULL) <> (transfer_id IS NULL)", name="ck_report_files_owner"),
        sa.CheckConstraint("purpose IN ('OUTPUT', 'INPUT')", name="ck_report_files_purpose"),
        sa.CheckConstraint("format IN ('CSV', 'XLSX', 'PDF')", name="ck_report_files_format"),
    )
    op.create_index("ix_report_files_report_id", "report_files", ["report_id"])
    op.create_index("ix_report_files_transfer_id", "report_files", ["transfer_id"])
    op.execute(_IMMUTABLE_REPORTS)
    op.execute("CREATE TRIGGER reports_immutable BEFORE UPDATE OR DELETE ON reports "
               "FOR EACH ROW EXECUTE FUNCTION reports_immutable()")
    op.execute(_IMMUTABLE_FILES)
    op.execute("CREATE TRIGGER report_files_immutable BEFORE UPDATE OR DELETE ON report_files "
               "FOR EACH ROW EXECUTE FUNCTION report_files_immutable()")
    # when a job needs the sweeper (a PENDING row whose message may be lost, a RUNNING one whose lease runs out):
    # kept in public.sweep_wakeups like the deadlines and the outbox, so the sweeper visits only those tenants
    op.execute(_JOBS_WAKEUP)
    for table in ("reports", "data_transfers"):
        op.execute(f"CREATE TRIGGER sweep_wakeup AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION jobs_wakeup()")
    op.add_column("tenant_settings", sa.Column("management_report_cadence", sa.String(16), nullable=False,
                                               server_default=sa.text("'QUARTERLY'")))
    op.create_check_constraint("management_report_cadence", "tenant_settings",
                               "management_report_cadence IN ('NONE', 'MONTHLY', 'QUARTERLY')")

    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    roles = set(bind.execute(sa.text("SELECT name FROM roles")).scalars())
    added = 0
    for role, action, relation, effect in NEW_RULES.get(template or "", []):
        if role not in roles:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) "
            "SELECT 'p', CAST(:r AS text), '*', CAST(:a AS text), CAST(:rel AS text), CAST(:e AS text) "
            "WHERE NOT EXISTS (SELECT 1 FROM policy_rules WHERE ptype = 'p' AND v0 = CAST(:r AS text) "
            "AND v2 = CAST(:a AS text) AND v3 = CAST(:rel AS text) AND v4 = CAST(:e AS text))"),
            {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    bind = op.get_bind()
    removed = bind.execute(sa.text(
        "DELETE FROM policy_rules WHERE ptype = 'p' AND v2 IN "
        "('report.read', 'report.generate', 'data.export', 'data.import')")).rowcount
    if removed:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")
    op.drop_constraint("management_report_cadence", "tenant_settings", type_="check")
    op.drop_column("tenant_settings", "management_report_cadence")
    for table in ("reports", "data_transfers"):
        op.execute(f"DROP TRIGGER sweep_wakeup ON {table}")
        op.execute(f"DELETE FROM public.sweep_wakeups WHERE schema_name = current_schema() "  # noqa: S608
                   f"AND source = '{table}'")
    op.execute("DROP FUNCTION jobs_wakeup()")
    op.execute("DROP TRIGGER report_files_immutable ON report_files")
    op.execute("DROP TRIGGER reports_immutable ON reports")
    op.drop_table("report_files")
    op.execute("DROP FUNCTION report_files_immutable()")
    op.execute("DROP FUNCTION reports_immutable()")
    op.drop_table("data_transfers")
    op.drop_table("reports")
