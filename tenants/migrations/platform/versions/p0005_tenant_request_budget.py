"""a request budget per tenant: how many requests a second one API process serves it (``RATE/BURST``)

Null: the platform's default (``COMPLAINTDESK_TENANT_BUDGET``). Set by an operator with
``complaintdesk tenant budget``; checked at the edge before any GraphQL work.

Revision ID: p0005
Revises: p0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "p0005"
down_revision = "p0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("request_budget", sa.String(32), nullable=True), schema="public")


def downgrade() -> None:
    op.drop_column("tenants", "request_budget", schema="public")
