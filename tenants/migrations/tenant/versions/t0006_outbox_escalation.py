"""outbox, in-app notifications, external bodies, escalations and routings

Also the tenant setting ``auto_escalate_on_final_dissatisfaction`` (on for bank tenants) and the default
policy rules of the new actions for tenants created before them (added only where missing).

Revision ID: t0006
Revises: t0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0006"
down_revision = "t0005"
branch_labels = None
depends_on = None

# the rules this revision introduced, per template (frozen here; policies/<template>.csv holds them too)
_COMMON = [
    ("tenant_admin", "external_body.manage", "any", "allow"),
    ("tenant_admin", "external_body.read", "any", "allow"),
    ("receiver", "external_body.read", "any", "allow"),
    ("complaint_desk", "external_body.read", "any", "allow"),
    ("manager", "external_body.read", "any", "allow"),
    ("complaint_desk", "complaint.escalate", "any", "allow"),
    ("manager", "complaint.escalate", "any", "allow"),
    ("receiver", "complaint.route", "owner", "allow"),
    ("complaint_desk", "complaint.route", "any", "allow"),
]
NEW_RULES = {
    "retail": _COMMON,
    "bank": [*_COMMON, ("regulator_liaison", "external_body.read", "any", "allow"),
             ("regulator_liaison", "complaint.escalate", "any", "allow")],
}


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("complaint_id", UUID(as_uuid=True), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", JSONB(), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        sa.CheckConstraint("kind IN ('notification', 'webhook', 'email')", name="ck_outbox_kind"),
        sa.CheckConstraint("state IN ('pending', 'sent', 'failed', 'skipped')", name="ck_outbox_state"),
    )
    op.create_index("ix_outbox_complaint_id", "outbox", ["complaint_id"])
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at"], postgresql_where=sa.text("state = 'pending'"))
    op.create_table(
        "notifications",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE",
                                                               name="fk_notifications_user_id_users"),
                  nullable=False),
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name="fk_notifications_complaint_id_complaints"),
                  nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_notifications_idempotency_key"),
    )
    op.create_index("ix_notifications_user_created", "notifications", ["user_id", "created_at"])
    op.create_table(
        "external_bodies",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("handles", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("handles_text", sa.Text(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("webhook_url", sa.String(2000), nullable=True),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=True),
        sa.Column("receives_personal_data", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_external_bodies_name"),
        sa.CheckConstraint("escalation_level IS NULL OR escalation_level BETWEEN 1 AND 9",
                           name="ck_external_bodies_level"),
    )
    op.create_table(
        "escalations",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name="fk_escalations_complaint_id_complaints"),
                  nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("external_body_id", UUID(as_uuid=True),
                  sa.ForeignKey("external_bodies.id", ondelete="RESTRICT",
                                name="fk_escalations_external_body_id_external_bodies"), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("trigger_ref", sa.String(200), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=True),
        sa.Column("dossier_sha256", sa.String(64), nullable=False),
        sa.Column("personal_data_included", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outbox_id", UUID(as_uuid=True), nullable=True),
        sa.Column("created_by", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", JSONB(), nullable=True),
        sa.UniqueConstraint("complaint_id", "step", name="uq_escalations_complaint_step"),
        sa.UniqueConstraint("idempotency_key", name="uq_escalations_idempotency_key"),
        sa.UniqueConstraint("trigger_ref", name="uq_escalations_trigger_ref"),
    )
    op.create_index("ix_escalations_complaint_id", "escalations", ["complaint_id"])
    op.create_index("ix_escalations_outbox_id", "escalations", ["outbox_id"])
    op.create_table(
        "routings",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name="fk_routings_complaint_id_complaints"),
                  nullable=False),
        sa.Column("external_body_id", UUID(as_uuid=True),
                  sa.ForeignKey("external_bodies.id", ondelete="RESTRICT",
                                name="fk_routings_external_body_id_external_bodies"), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_routings_complaint_id", "routings", ["complaint_id"])
    op.add_column("tenant_settings", sa.Column("auto_escalate_on_final_dissatisfaction", sa.Boolean(),
                                               nullable=False, server_default=sa.text("false")))
    conn = op.get_bind()
    template = conn.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template == "bank":
        op.execute("UPDATE tenant_settings SET auto_escalate_on_final_dissatisfaction = true")
    added = 0
    roles = set(conn.execute(sa.text("SELECT name FROM roles")).scalars())
    for role, action, relation, effect in NEW_RULES.get(template or "", []):
        if role not in roles:
            continue
        added += conn.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', :r, '*', :a, :rel, :e "
            "WHERE NOT EXISTS (SELECT 1 FROM policy_rules WHERE ptype = 'p' AND v0 = :r AND v2 = :a AND v3 = :rel "
            "AND v4 = :e)"), {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    op.drop_column("tenant_settings", "auto_escalate_on_final_dissatisfaction")
    op.drop_table("routings")
    op.drop_table("escalations")
    op.drop_table("external_bodies")
    op.drop_table("notifications")
    op.drop_table("outbox")
