"""complaints: settings, roles, categories, complainants, complaints, forms, evidence, audit trail

Revision ID: t0002
Revises: t0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0002"
down_revision = "t0001"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()"))


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(name: str, table: str, nullable: bool = False, ondelete: str = "RESTRICT") -> list:
    return [
        sa.Column(name, UUID(as_uuid=True), nullable=nullable),
        sa.ForeignKeyConstraint([name], [f"{table}.id"], ondelete=ondelete),
    ]


def upgrade() -> None:
    op.create_table(
        "tenant_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("timezone", sa.String(64), nullable=False, server_default=sa.text("'Asia/Shanghai'")),
        sa.Column("locale", sa.String(16), nullable=False, server_default=sa.text("'zh-CN'")),
        sa.CheckConstraint("id = 1", name="ck_tenant_settings_single_row"),
    )
    op.execute("INSERT INTO tenant_settings (id) VALUES (1)")
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(500), nullable=False),
    )
    op.create_table(
        "categories",
        _id(),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_fk("parent_id", "categories", nullable=True),
        sa.Column("cause", sa.String(16), nullable=True),
        sa.Column("dimension", sa.String(32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("code", name="uq_categories_code"),
        sa.CheckConstraint("cause IN ('QUALITY', 'NON_QUALITY')", name="ck_categories_cause"),
    )
    op.create_table(
        "complainants",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text()),
        sa.Column("email", sa.Text()),
        sa.Column("id_number", sa.Text()),
        sa.Column("address", sa.Text()),
        sa.Column("phone_key", sa.Text()),
        sa.Column("id_number_key", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_complainants_phone_key", "complainants", ["phone_key"])
    op.create_index("ix_complainants_id_number_key", "complainants", ["id_number_key"])
    op.create_table(
        "complaint_counters",
        sa.Column("period", sa.String(4), primary_key=True),
        sa.Column("last_serial", sa.Integer(), nullable=False),
    )
    op.create_table(
        "complaints",
        _id(),
        sa.Column("number", sa.String(10), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(24), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        *_fk("complainant_id", "complainants"),
        *_fk("category_id", "categories", nullable=True),
        sa.Column("cause", sa.String(16)),
        sa.Column("scope", sa.String(16), nullable=False),
        *_fk("store_id", "org_units", nullable=True),
        *_fk("owner_id", "users"),
        *_fk("responsible_department_id", "org_units", nullable=True),
        sa.Column("order_number", sa.String(64)),
        sa.Column("material_number", sa.String(64)),
        sa.Column("quantity", sa.Integer()),
        sa.Column("delivery_date", sa.Date()),
        sa.Column("defective_quantity", sa.Integer()),
        sa.Column("amount", sa.Numeric(14, 2)),
        *_fk("repeat_of_id", "complaints", nullable=True),
        sa.Column("litigation", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("resolved_on_the_spot", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("resolution", sa.Text()),
        sa.Column("access_code_hash", sa.String(64)),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("closed_at", nullable=True),
        sa.UniqueConstraint("number", name="uq_complaints_number"),
        sa.CheckConstraint("quantity IS NULL OR quantity >= 0", name="ck_complaints_quantity"),
        sa.CheckConstraint("defective_quantity IS NULL OR defective_quantity >= 0",
                           name="ck_complaints_defective_quantity"),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name="ck_complaints_amount"),
    )
    for column in ("status", "complainant_id", "category_id", "store_id", "owner_id",
                   "responsible_department_id", "repeat_of_id", "created_at"):
        op.create_index(f"ix_complaints_{column}", "complaints", [column])
    op.create_table(
        "investigations",
        sa.Column("complaint_id", UUID(as_uuid=True), primary_key=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE"),
        sa.Column("valid", sa.Boolean()),
        sa.Column("findings", sa.Text()),
        *_fk("investigator_id", "users"),
        _ts("started_at"),
        _ts("submitted_at", nullable=True),
    )
    op.create_table(
        "evidence",
        _id(),
        *_fk("complaint_id", "complaints", ondelete="CASCADE"),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text()),
        *_fk("uploaded_by", "users"),
        _ts("uploaded_at"),
    )
    op.create_table(
        "transfer_slips",
        _id(),
        *_fk("complaint_id", "complaints", ondelete="CASCADE"),
        *_fk("department_id", "org_units"),
        sa.Column("instructions", sa.Text()),
        *_fk("sent_by", "users"),
        _ts("sent_at"),
        _ts("answered_at", nullable=True),
    )
    op.create_table(
        "handling_forms",
        _id(),
        *_fk("complaint_id", "complaints", ondelete="CASCADE"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cause_analysis", sa.Text()),
        sa.Column("solution", sa.Text(), nullable=False),
        sa.Column("customer_reply", sa.Text(), nullable=False),
        sa.Column("compensation_amount", sa.Numeric(14, 2)),
        sa.Column("status", sa.String(24), nullable=False),
        *_fk("proposed_by", "users"),
        _ts("proposed_at"),
        *_fk("decided_by", "users", nullable=True),
        _ts("decided_at", nullable=True),
        sa.Column("decision_note", sa.Text()),
        sa.UniqueConstraint("complaint_id", "version", name="uq_handling_forms_complaint_version"),
    )
    op.create_table(
        "customer_opinions",
        _id(),
        *_fk("complaint_id", "complaints", ondelete="CASCADE"),
        *_fk("handling_form_id", "handling_forms"),
        sa.Column("agreed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("source", sa.String(16), nullable=False),
        *_fk("recorded_by", "users", nullable=True),
        _ts("recorded_at"),
    )
    op.create_table(
        "satisfaction_surveys",
        _id(),
        *_fk("complaint_id", "complaints", ondelete="CASCADE"),
        sa.Column("rating", sa.String(24), nullable=False),
        sa.Column("comment", sa.Text()),
        sa.Column("source", sa.String(16), nullable=False),
        *_fk("recorded_by", "users", nullable=True),
        _ts("recorded_at"),
    )
    op.create_table(
        "customer_messages",
        _id(),
        *_fk("complaint_id", "complaints", ondelete="CASCADE"),
        *_fk("handling_form_id", "handling_forms"),
        sa.Column("body", sa.Text(), nullable=False),
        *_fk("sent_by", "users"),
        _ts("sent_at"),
    )
    for table in ("evidence", "transfer_slips", "handling_forms", "customer_opinions", "satisfaction_surveys",
                  "customer_messages"):
        op.create_index(f"ix_{table}_complaint_id", table, ["complaint_id"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        _ts("occurred_at"),
        sa.Column("actor_id", UUID(as_uuid=True)),
        sa.Column("actor_label", sa.String(254), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", UUID(as_uuid=True)),
        sa.Column("from_status", sa.String(24)),
        sa.Column("to_status", sa.String(24)),
        sa.Column("changes", JSONB(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text()),
    )
    op.create_index("ix_audit_events_subject_id", "audit_events", ["subject_id"])


def downgrade() -> None:
    for table in ("audit_events", "customer_messages", "satisfaction_surveys", "customer_opinions",
                  "handling_forms", "transfer_slips", "evidence", "investigations", "complaints",
                  "complaint_counters", "complainants", "categories", "roles", "tenant_settings"):
        op.drop_table(table)
