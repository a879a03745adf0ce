"""deadlines as rows, SLA profiles, the tenant's working-day calendar (settings and overrides)

Seeds the template's default SLA profile (``services.core.deadlines.rules.TEMPLATE_PROFILES``) and the
calendar settings (CN, working hours end 17:30), and adds the template's policy rules for the new actions
(``deadline.configure``, ``complaint.extend_deadline``, ``complaint.approve_deadline_extension``) to the
tenant's rules, for existing tenants and new ones alike.

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-29
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision = "t0005"
down_revision = "t0004"
branch_labels = None
depends_on = None

NEW_ACTIONS = ("deadline.configure", "complaint.extend_deadline", "complaint.approve_deadline_extension")


def _id() -> sa.Column:
    return sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()"))


def _at(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "calendar_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("jurisdiction", sa.String(16), nullable=False, server_default=sa.text("'CN'")),
        sa.Column("working_hours_end", sa.Time(), nullable=False, server_default=sa.text("'17:30'")),
        sa.Column("covered_years", ARRAY(sa.Integer()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="ck_calendar_settings_single_row"),
    )
    op.execute("INSERT INTO calendar_settings (id) VALUES (1)")
    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('WORKDAY', 'HOLIDAY')", name="ck_calendar_days_kind"),
    )
    op.create_table(
        "sla_profiles",
        _id(),
        sa.Column("category_id", UUID(as_uuid=True), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("rules", JSONB(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["category_id"], ["categories.id"], ondelete="CASCADE",
                                name="fk_sla_profiles_category_id_categories"),
    )
    op.create_index("uq_sla_profiles_category", "sla_profiles", ["category_id"], unique=True,
                    postgresql_where=sa.text("category_id IS NOT NULL"))
    op.create_index("uq_sla_profiles_default", "sla_profiles", [sa.text("(category_id IS NULL)")], unique=True,
                    postgresql_where=sa.text("category_id IS NULL"))
    op.create_table(
        "deadlines",
        _id(),
        sa.Column("complaint_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(64), nullable=True),
        sa.Column("party", sa.String(16), nullable=False, server_default=sa.text("'COMPANY'")),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("met_on", ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("pause_in", ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("extensions_policy", JSONB(), nullable=False, server_default=sa.text("'[]'")),
        sa.Column("remind_before", sa.Integer(), nullable=False, server_default=sa.text("1")),
        _at("started_at", False),
        _at("due_at", False),
        _at("remind_at"),
        sa.Column("provisional", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("unknown_years", ARRAY(sa.Integer()), nullable=False, server_default=sa.text("'{}'")),
        _at("paused_at"),
        sa.Column("paused_days", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("extension_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
        _at("met_at"),
        _at("cancelled_at"),
        _at("breached_at"),
        _at("reminded_at"),
        _at("created_at", False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE",
                                name="fk_deadlines_complaint_id_complaints"),
        sa.CheckConstraint("basis IN ('WORKING', 'CALENDAR')", name="ck_deadlines_basis"),
        sa.CheckConstraint("party IN ('COMPANY', 'CUSTOMER')", name="ck_deadlines_party"),
    )
    op.create_index("ix_deadlines_complaint_id", "deadlines", ["complaint_id"])
    op.create_index("ix_deadlines_open_due_at", "deadlines", ["due_at"],
                    postgresql_where=sa.text("met_at IS NULL AND cancelled_at IS NULL"))
    op.create_index("ix_deadlines_open_remind_at", "deadlines", ["remind_at"],
                    postgresql_where=sa.text("met_at IS NULL AND cancelled_at IS NULL AND reminded_at IS NULL"))
    op.create_table(
        "deadline_extensions",
        _id(),
        sa.Column("deadline_id", UUID(as_uuid=True), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed (AES-GCM)
        sa.Column("complex", sa.Boolean(), nullable=False),
        sa.Column("added_days", sa.Integer(), nullable=False),
        _at("previous_due_at", False),
        _at("new_due_at", False),
        sa.Column("requested_by", UUID(as_uuid=True), nullable=True),
        sa.Column("approved_by", UUID(as_uuid=True), nullable=True),
        _at("created_at", False),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadlines.id"], ondelete="CASCADE",
                                name="fk_deadline_extensions_deadline_id_deadlines"),
    )
    op.create_index("ix_deadline_extensions_deadline_id", "deadline_extensions", ["deadline_id"])
    op.create_table(
        "customer_notices",
        _id(),
        sa.Column("complaint_id", UUID(as_uuid=True), nullable=False),
        sa.Column("deadline_id", UUID(as_uuid=True), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed (AES-GCM)
        _at("new_due_at"),
        _at("created_at", False),
        _at("sent_at"),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE",
                                name="fk_customer_notices_complaint_id_complaints"),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadlines.id"], ondelete="CASCADE",
                                name="fk_customer_notices_deadline_id_deadlines"),
    )
    op.create_index("ix_customer_notices_unsent", "customer_notices", ["created_at"],
                    postgresql_where=sa.text("sent_at IS NULL"))
    op.create_index("uq_customer_notices_key", "customer_notices", ["dedup_key"], unique=True)

    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template is None:
        return
    from services.core.authz import default_rules
    from services.core.deadlines.rules import template_profile

    profile = template_profile(template)
    if profile is not None:
        bind.execute(sa.text("INSERT INTO sla_profiles (name, rules) VALUES (:name, CAST(:rules AS jsonb))"),
                     {"name": profile[0], "rules": json.dumps(profile[1])})
    added = 0
    for r in default_rules(template):
        if r.action not in NEW_ACTIONS:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', CAST(:role AS varchar), '*', "
            "CAST(:action AS varchar), CAST(:relation AS varchar), CAST(:effect AS varchar) WHERE NOT EXISTS (SELECT 1 FROM policy_rules WHERE v0 = :role AND v2 = :action "
            "AND v3 = :relation AND v4 = :effect)"
        ), {"role": r.role, "action": r.action, "relation": r.relation, "effect": r.effect}).rowcount
    if added:
        bind.execute(sa.text("UPDATE policy_state SET version = version + 1, updated_at = now() WHERE id = 1"))


def downgrade() -> None:
    for table in ("customer_notices", "deadline_extensions", "deadlines", "sla_profiles", "calendar_days",
                  "calendar_settings"):
        op.drop_table(table)
    op.execute("DELETE FROM policy_rules WHERE v2 IN ('deadline.configure', 'complaint.extend_deadline', "
                "'complaint.approve_deadline_extension')")
