"""customer messages: the preferred contact, the messages sent to the customer, the tenant's message wording

Issue 14 point 2. ``complaints.contact_channel`` (EMAIL, SMS, POST, PHONE; null: no usable contact) and
``contact_locale`` (zh-CN, en; null: the tenant's default); the address or number itself is sealed in the
complainant's identity (``contact``), so erasing the complainant erases it. ``outgoing_messages``: one row per
message to the customer, its delivery state (pending, sent, delivered, failed, or tasked to the owner), its
params sealed. ``message_templates``: the tenant's own wording where it differs from the template's defaults.
``outbox.kind`` takes ``message``. The default rules of the two new actions (``complaint.update_contact``,
``message_template.manage``) are added to existing tenants where missing (as t0009 does).

Existing complaints keep no preferred contact (null): their messages stay tasks for the owner until staff set one
with ``updateComplaintContact``.

Downgrade drops the tables, the columns and the rules (the messages' delivery states are lost).

Revision ID: t0014
Revises: t0013b
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0014"
down_revision = "t0013b"
branch_labels = None
depends_on = None

NEW_RULES: dict[str, list[tuple[str, str, str, str]]] = {
    "retail": [
        ("tenant_admin", "message_template.manage", "any", "allow"),
        ("receiver", "complaint.update_contact", "owner", "allow"),
        ("complaint_desk", "complaint.update_contact", "any", "allow"),
        ("store_manager", "complaint.update_contact", "owner", "allow"),
    ],
    "bank": [
        ("tenant_admin", "message_template.manage", "any", "allow"),
        ("receiver", "complaint.update_contact", "owner", "allow"),
        ("complaint_desk", "complaint.update_contact", "any", "allow"),
    ],
}
"""The rules this revision introduced (frozen here; policies/<template>.csv holds them too)."""


def _template(bind: sa.engine.Connection) -> str | None:
    found = bind.execute(sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")).scalar()
    return str(found) if found is not None else None


def _outbox_kinds(kinds: str) -> None:
    """Replace the outbox's kind check (t0006's ``ck_outbox_kind``, named ck_outbox_ck_outbox_kind by the naming
    convention); the same name again."""
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS ck_outbox_ck_outbox_kind")
    op.execute(f"ALTER TABLE outbox ADD CONSTRAINT ck_outbox_ck_outbox_kind CHECK (kind IN ({kinds}))")


def upgrade() -> None:
    op.add_column("complaints", sa.Column("contact_channel", sa.String(8), nullable=True))
    op.add_column("complaints", sa.Column("contact_locale", sa.String(8), nullable=True))
    op.create_check_constraint("contact_channel", "complaints",  # ck_complaints_contact_channel
                               "contact_channel IS NULL OR contact_channel IN ('EMAIL', 'SMS', 'POST', 'PHONE')")
    op.create_check_constraint("contact_locale", "complaints",
                               "contact_locale IS NULL OR contact_locale IN ('zh-CN', 'en')")
    op.create_table(
        "outgoing_messages",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE",
                                name="fk_outgoing_messages_complaint_id_complaints"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(8), nullable=True),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("params", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt", JSONB(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("idempotency_key", name="uq_outgoing_messages_idempotency_key"),
        sa.CheckConstraint("state IN ('PENDING', 'SENT', 'DELIVERED', 'FAILED', 'TASKED')",
                           name="state"),
        sa.CheckConstraint("channel IS NULL OR channel IN ('EMAIL', 'SMS', 'POST', 'PHONE')",
                           name="channel"),
    )
    op.create_index("ix_outgoing_messages_complaint_id", "outgoing_messages", ["complaint_id"])
    op.create_table(
        "message_templates",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", UUID(as_uuid=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "locale", name="uq_message_templates_kind_locale"),
        sa.CheckConstraint("locale IN ('zh-CN', 'en')", name="locale"),
    )
    _outbox_kinds("'notification', 'webhook', 'email', 'message'")

    bind = op.get_bind()
    template = _template(bind)
    roles = set(bind.execute(sa.text("SELECT name FROM roles")).scalars())
    added = 0
    for role, action, relation, effect in NEW_RULES.get(template or "", []):
        if role not in roles:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', CAST(:r AS text), '*', "
            "CAST(:a AS text), CAST(:rel AS text), CAST(:e AS text) WHERE NOT EXISTS (SELECT 1 FROM policy_rules "
            "WHERE ptype = 'p' AND v0 = CAST(:r AS text) AND v2 = CAST(:a AS text) AND v3 = CAST(:rel AS text) "
            "AND v4 = CAST(:e AS text))"), {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    bind = op.get_bind()
    removed = bind.execute(sa.text(
        "DELETE FROM policy_rules WHERE ptype = 'p' AND v2 IN ('complaint.update_contact', 'message_template.manage')"
    )).rowcount
    if removed:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")
    op.execute("DELETE FROM outbox WHERE kind = 'message'")
    _outbox_kinds("'notification', 'webhook', 'email'")
    op.drop_table("message_templates")
    op.drop_index("ix_outgoing_messages_complaint_id", table_name="outgoing_messages")
    op.drop_table("outgoing_messages")
    op.drop_constraint("contact_locale", "complaints", type_="check")
    op.drop_constraint("contact_channel", "complaints", type_="check")
    op.drop_column("complaints", "contact_locale")
    op.drop_column("complaints", "contact_channel")
