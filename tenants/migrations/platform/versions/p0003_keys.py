"""tenant keys and key rotations

Revision ID: p0003
Revises: p0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "p0003"
down_revision = "p0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_keys",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_slug", sa.String(32), nullable=False, index=True),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("tenant_slug", "purpose", "version", name="uq_tenant_keys_version"),
        schema="public",
    )
    # at most one active and one next key per tenant and purpose
    op.create_index("uq_tenant_keys_state", "tenant_keys", ["tenant_slug", "purpose", "state"], unique=True,
                    schema="public", postgresql_where=sa.text("state IN ('active', 'next')"))
    op.create_table(
        "key_rotations",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_slug", sa.String(32), nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("rows_done", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("cursor", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_by", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        schema="public",
    )
    # one running data-key rotation per tenant
    op.create_index("uq_key_rotations_running", "key_rotations", ["tenant_slug"], unique=True, schema="public",
                    postgresql_where=sa.text("state = 'running'"))


def downgrade() -> None:
    op.drop_table("key_rotations", schema="public")
    op.drop_table("tenant_keys", schema="public")
