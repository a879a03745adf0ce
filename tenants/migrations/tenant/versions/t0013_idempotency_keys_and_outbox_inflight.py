"""idempotency keys of mutations; outbox attempts that a worker started but never recorded

``idempotency_keys``: one row per (principal, ``Idempotency-Key``) of a mutation, kept a day, so a client that
retries after an error gets the first outcome instead of a second complaint (services/core/idempotency). The
answer is sealed (it may name the complainant); who sent it is stored as a SHA-256 only.

``outbox_inflight``: the webhooks and e-mails a dispatcher is sending, written and committed before the sends
(one row per item, ``tries`` counting the batches that claimed it), deleted in the transaction that records the
results. A row still there when the item is claimed again is an attempt of a dispatcher that died mid-send: it
is counted in ``outbox.attempts`` then.

Nothing to seed: both tables start empty for new and existing tenants alike.

Revision ID: t0013
Revises: t0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0013"
down_revision = "t0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default=sa.text("'in_progress'")),
        sa.Column("committed", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("media_type", sa.String(100), nullable=True),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_table(
        "outbox_inflight",
        sa.Column("outbox_id", UUID(as_uuid=True),
                  sa.ForeignKey("outbox.id", ondelete="CASCADE", name="fk_outbox_inflight_outbox_id_outbox"),
                  primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    op.drop_table("outbox_inflight")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
