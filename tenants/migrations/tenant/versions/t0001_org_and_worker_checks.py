"""org units, users, worker checks

Revision ID: t0001
Revises:
Create Date: 2026-11-29

Tables are created unqualified: the migration runs with the tenant's schema as
the transaction's search_path.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "t0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_units",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent_id", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["parent_id"], ["org_units.id"], ondelete="RESTRICT",
                                name="fk_org_units_parent_id_org_units"),
        sa.UniqueConstraint("code", name="uq_org_units_code"),
        sa.CheckConstraint("kind in ('DEPARTMENT', 'BRANCH', 'STORE', 'PRODUCTION_TEAM')",
                           name="ck_org_units_kind"),
    )
    op.create_index("ix_org_units_parent_id", "org_units", ["parent_id"])
    op.create_table(
        "users",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("roles", ARRAY(sa.Text()), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("org_unit_id", UUID(as_uuid=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_units.id"], ondelete="RESTRICT",
                                name="fk_users_org_unit_id_org_units"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_index("ix_users_org_unit_id", "users", ["org_unit_id"])
    op.create_table(
        "worker_checks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_in_schema", sa.String(63), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("worker_checks")
    op.drop_table("users")
    op.drop_table("org_units")
