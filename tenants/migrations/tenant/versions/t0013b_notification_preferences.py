"""notification preferences: how each user hears of the work handed to them

Hand-off notifications (issue 14 point 1) reach a user in-app, and also by e-mail through the outbox if they
ask: ``users.notification_preference`` is ``IN_APP`` (the default, for existing users too), ``EMAIL`` (in-app and
an outbox e-mail to their address) or ``DIGEST`` (stored; in-app only for now, the daily summary is not built).
New tenants get the column and its default from this revision, like every other.

Downgrade drops the column (the preferences are lost; everyone is notified in-app only).

Revision ID: t0013b
Revises: t0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "t0013b"
down_revision = "t0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("notification_preference", sa.String(16), nullable=False,
                                     server_default="IN_APP"))
    op.create_check_constraint("notification_preference", "users",  # named ck_users_notification_preference
                               "notification_preference IN ('IN_APP', 'EMAIL', 'DIGEST')")


def downgrade() -> None:
    op.drop_constraint("notification_preference", "users", type_="check")
    op.drop_column("users", "notification_preference")
