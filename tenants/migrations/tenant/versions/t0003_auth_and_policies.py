"""authentication and authorization: passwords, refresh tokens, identity providers, policies

Revision ID: t0003
Revises: t0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0003"
down_revision = "t0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.Text(), nullable=True))
    op.create_table(
        "refresh_tokens",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("user_id", UUID(as_uuid=True), nullable=False),
        sa.Column("family_id", UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_refresh_tokens_user_id_users"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "identity_providers",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("audience", sa.String(500), nullable=False),
        sa.Column("jwks_uri", sa.String(2000), nullable=True),
        sa.Column("jwks", JSONB(), nullable=True),
        sa.Column("email_claim", sa.String(100), nullable=False, server_default=sa.text("'email'")),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("issuer", name="uq_identity_providers_issuer"),
    )
    op.create_table(
        "policy_rules",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("ptype", sa.String(8), nullable=False),
        sa.Column("v0", sa.String(255), nullable=False),
        sa.Column("v1", sa.String(255), nullable=False),
        sa.Column("v2", sa.String(255), nullable=False),
        sa.Column("v3", sa.String(255), nullable=False),
        sa.Column("v4", sa.String(255), nullable=False),
        sa.CheckConstraint("ptype IN ('p')", name="ck_policy_rules_ptype"),
    )
    op.create_table(
        "policy_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("1")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="ck_policy_state_single_row"),
    )
    op.execute("INSERT INTO policy_state (id) VALUES (1)")
    # The template's default rules (policies/<template>.csv) for this tenant.
    template = op.get_bind().execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template is not None:
        from services.core.authz import default_rules

        rules = sa.table("policy_rules", sa.column("ptype"), sa.column("v0"), sa.column("v1"), sa.column("v2"),
                         sa.column("v3"), sa.column("v4"))
        op.bulk_insert(rules, [{"ptype": "p", "v0": r.role, "v1": "*", "v2": r.action, "v3": r.relation,
                                "v4": r.effect} for r in default_rules(template)])


def downgrade() -> None:
    op.drop_table("policy_state")
    op.drop_table("policy_rules")
    op.drop_table("identity_providers")
    op.drop_table("refresh_tokens")
    op.drop_column("users", "password_hash")
