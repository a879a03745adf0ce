"""one-time set-password tokens, the calendar's receipt rule, the external-body directory's entries to complete

``password_tokens``: one-time set-password tokens (a new tenant's first admin, users made or reset by an
operator), stored only as SHA-256, with their expiry, use and revocation (``services.core.auth.password_tokens``).

``calendar_settings.receipt_rule``: which day a complaint counts as received on (``ReceiptRule``); null, which
every tenant gets here, means the jurisdiction's default: for CN the Civil Code art. 201 rule (the day of arrival,
a rest day too, is not counted), where until now every tenant counted a rest day's complaint as received on the
next working day (one working day more for the company). The open deadlines of tenants upgraded across this
revision are computed again by ``tenants.provision.migrate_all`` (``complaintdesk migrate``, ``up``) in the same
transaction, right after the upgrade (``recompute_tenant_deadlines``, one audit event per tenant whose deadlines
moved), since the planner's arithmetic is Python, not SQL.

The directory entries to complete: the template's standard kinds of external body (a frozen copy of
``tenants.templates``' ``external_bodies`` as they are at this revision), inactive and without a webhook, for a
tenant whose directory is still empty; a tenant with any entry keeps its directory as it is. A tenant being
created (its registry row has no schema revision yet) is left to its template's seed, which follows the
migrations in the same transaction.

Downgrade drops the column and the table; the entries stay (they are the tenant's data once there).

Revision ID: t0011
Revises: t0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0011"
down_revision = "t0010"
branch_labels = None
depends_on = None

TO_COMPLETE = "To complete: contact, webhook (https) and secret, what it handles; then activate it."

# (name, kind, escalation level) per template, as tenants.templates holds them at this revision
BODIES: dict[str, list[tuple[str, str, int | None]]] = {
    "retail": [
        ("（待完善）消费者协会 Consumer association — to complete", "CONSUMER_ASSOCIATION", 1),
        ("（待完善）行业协会 Industry association — to complete", "INDUSTRY_ASSOCIATION", 1),
        ("（待完善）市场监督管理局 Market regulator — to complete", "MARKET_REGULATOR", 2),
        ("（待完善）卫生健康委员会 Health administration — to complete", "HEALTH_ADMINISTRATION", None),
        ("（待完善）价格主管部门 Price bureau — to complete", "PRICE_BUREAU", None),
    ],
    "bank": [
        ("（待完善）银行业协会 Banking association — to complete", "INDUSTRY_ASSOCIATION", 1),
        ("（待完善）金融监管总局派出机构 NFRA local office (regulator) — to complete", "REGULATOR", 2),
        ("（待完善）中国人民银行分支机构 People's Bank of China branch — to complete", "REGULATOR", None),
        ("（待完善）消费者协会 Consumer association — to complete", "CONSUMER_ASSOCIATION", None),
        ("（待完善）价格主管部门 Price bureau — to complete", "PRICE_BUREAU", None),
    ],
}


def upgrade() -> None:
    op.create_table(
        "password_tokens",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("user_id", UUID(as_uuid=True),
                  sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_password_tokens_user_id_users"),
                  nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_password_tokens_token_hash"),
        sa.CheckConstraint("purpose IN ('INITIAL', 'RESET')", name="ck_password_tokens_purpose"),
    )
    op.create_index("ix_password_tokens_user_id", "password_tokens", ["user_id"])
    op.add_column("calendar_settings", sa.Column("receipt_rule", sa.String(32), nullable=True))
    op.create_check_constraint("ck_calendar_settings_receipt_rule", "calendar_settings",
                               "receipt_rule IS NULL OR receipt_rule IN ('CIVIL_CODE_201', 'NEXT_BUSINESS_DAY')")

    bind = op.get_bind()
    registry = bind.execute(sa.text(
        "SELECT template, schema_revision FROM public.tenants WHERE schema_name = current_schema()")).first()
    if registry is None or registry.schema_revision is None or registry.template not in BODIES:
        return  # no registry row (a bare schema), or a tenant being created: its template seeds the directory
    if bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM external_bodies)")).scalar():
        return  # the tenant's own directory: left alone
    for name, kind, level in BODIES[registry.template]:
        bind.execute(sa.text(
            "INSERT INTO external_bodies (id, name, kind, handles, handles_text, escalation_level, "
            "receives_personal_data, active, created_at, updated_at) VALUES (gen_random_uuid(), :name, :kind, "
            "'[]'::jsonb, :text, :level, false, false, now(), now())"),
            {"name": name, "kind": kind, "text": TO_COMPLETE, "level": level})


def downgrade() -> None:
    op.drop_constraint("ck_calendar_settings_receipt_rule", "calendar_settings", type_="check")
    op.drop_column("calendar_settings", "receipt_rule")
    op.drop_index("ix_password_tokens_user_id", table_name="password_tokens")
    op.drop_table("password_tokens")
