"""policy versions: every rule set a tenant has had, so that an earlier one can be restored

``setPolicies`` replaced the rules in place; a set that left nobody able to change them could not be undone
through the API (issue 13). ``policy_versions`` keeps each accepted set (``source``: ``seed``, ``set``,
``restore``, ``reset``), numbered from 1. Existing tenants get their current rules as version 1 (``seed``);
new tenants too, since their creation runs this revision after the template's rules are in place.

Downgrade drops the table (the versions are lost; the rules in force stay as they are).

Revision ID: t0012
Revises: t0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0012"
down_revision = "t0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("rules", JSONB(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_by", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('seed', 'set', 'restore', 'reset')", name="ck_policy_versions_source"),
        sa.CheckConstraint("version >= 1", name="ck_policy_versions_version"),
    )
    op.execute(
        "INSERT INTO policy_versions (version, rules, source, created_at) "
        "SELECT 1, coalesce(jsonb_agg(jsonb_build_array(v0, v2, v3, v4) ORDER BY id), '[]'::jsonb), 'seed', now() "
        "FROM policy_rules WHERE ptype = 'p'"
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
