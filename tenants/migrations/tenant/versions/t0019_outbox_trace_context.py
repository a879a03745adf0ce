"""the outbox keeps the trace context of the transaction that wrote each item

``outbox.trace_context`` is the W3C ``traceparent`` of the request (or sweep) whose transaction enqueued the item,
when OpenTelemetry tracing is on (``OTEL_EXPORTER_OTLP_ENDPOINT``), else NULL: the worker that delivers the item,
often from the sweeper rather than from a message, continues that trace. It holds ids only (no personal data).

Downgrade drops the column (traces of items already queued then end at their commit).

Revision ID: t0019
Revises: t0018
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "t0019"
down_revision = "t0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_context", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "trace_context")
