"""a tenant may accept registered documents only (trusted documents: the SPAs' operations by their SHA-256)

``registered_documents_only``: false by default; set by an operator with ``complaintdesk tenant documents``.

Revision ID: p0006
Revises: p0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "p0006"
down_revision = "p0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("registered_documents_only", sa.Boolean(), nullable=False,
                                       server_default=sa.false()), schema="public")


def downgrade() -> None:
    op.drop_column("tenants", "registered_documents_only", schema="public")
