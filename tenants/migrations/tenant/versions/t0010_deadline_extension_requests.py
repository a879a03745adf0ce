"""deadline extension requests: an extension that needs an approval is requested, then approved or rejected

Until now the holder of ``complaint.approve_deadline_extension`` granted such an extension (the bank's second
one, +30 days) on their own with ``extendDeadline``. Now the desk (``complaint.extend_deadline``) requests it
with the reason, and someone else allowed to approve decides (issue 12, point 4; four eyes on the person: the
requester never decides their own request, a core rule). ``deadline_extension_requests`` keeps each request:
deadline and step, reason (sealed, like other free text), who asked and when, state (PENDING, APPROVED,
REJECTED: at most one PENDING per deadline), who decided, when and with which note (sealed), and the extension
granted.

No policy rule changes: requesting reuses ``complaint.extend_deadline`` and deciding
``complaint.approve_deadline_extension``, which tenants have since t0005. Extensions granted before this
revision stay as they are (their rows name the approver as requester and approver).

Downgrade drops the table (pending requests are lost; granted extensions stay in ``deadline_extensions``).

Revision ID: t0010
Revises: t0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0010"
down_revision = "t0009"
branch_labels = None
depends_on = None

TABLE = "deadline_extension_requests"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("complaint_id", UUID(as_uuid=True), nullable=False),
        sa.Column("deadline_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("extension_number", sa.Integer(), nullable=False),
        sa.Column("add_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed (AES-GCM)
        sa.Column("complex", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default=sa.text("'PENDING'")),
        sa.Column("requested_by", UUID(as_uuid=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", UUID(as_uuid=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("extension_id", UUID(as_uuid=True), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE",
                                name=f"fk_{TABLE}_complaint_id_complaints"),
        sa.ForeignKeyConstraint(["deadline_id"], ["deadlines.id"], ondelete="CASCADE",
                                name=f"fk_{TABLE}_deadline_id_deadlines"),
        sa.ForeignKeyConstraint(["extension_id"], ["deadline_extensions.id"], ondelete="SET NULL",
                                name=f"fk_{TABLE}_extension_id_deadline_extensions"),
        # bare names: the naming convention (services.core.db) makes them ck_<table>_state and ck_<table>_decided
        sa.CheckConstraint("state IN ('PENDING', 'APPROVED', 'REJECTED')", name="state"),
        sa.CheckConstraint("(state = 'PENDING') = (decided_at IS NULL)", name="decided"),
    )
    op.create_index(f"ix_{TABLE}_complaint_id", TABLE, ["complaint_id"])
    op.create_index(f"uq_{TABLE}_pending", TABLE, ["deadline_id"], unique=True,
                    postgresql_where=sa.text("state = 'PENDING'"))


def downgrade() -> None:
    op.drop_index(f"uq_{TABLE}_pending", table_name=TABLE)
    op.drop_index(f"ix_{TABLE}_complaint_id", table_name=TABLE)
    op.drop_table(TABLE)
