"""identity providers offer sign-in from the console: a display name and a sealed client secret (issue 17)

``identity_providers`` gains ``display_name`` (a provider with one is offered on the console's sign-in screen) and
``client_secret`` (for a confidential client; sealed with the tenant's data key like the other secrets, never
returned by the API). The OAuth client id is the provider's audience.

Downgrade drops the columns.

Revision ID: t0023
Revises: t0022
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "t0023"
down_revision = "t0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("identity_providers", sa.Column("display_name", sa.String(100), nullable=True))
    op.add_column("identity_providers", sa.Column("client_secret", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("identity_providers", "client_secret")
    op.drop_column("identity_providers", "display_name")
