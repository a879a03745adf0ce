"""The outbox and in-app notifications: side effects as rows, written in the caller's transaction."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import PlatformBase, TenantBase


class OutboxKind(enum.StrEnum):
    NOTIFICATION = "notification"
    WEBHOOK = "webhook"
    EMAIL = "email"
    MESSAGE = "message"  # a message to the customer (messages.OutgoingMessage), rendered at delivery


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt (last_error says why)
    SKIPPED = "skipped"  # the channel is not configured here (last_error says which setting); never sent


class OutboxItem(TenantBase):
    """One side effect to deliver. ``idempotency_key`` is unique: enqueueing the same effect twice is a no-op,
    and webhooks carry it as the ``Idempotency-Key`` header so a receiver drops a redelivered duplicate."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # who or what it goes to, never personal data: "user:<uuid>", "external_body:<uuid>"
    target: Mapped[str] = mapped_column(String(200))
    _payload: Mapped[bytes | None] = mapped_column("payload", LargeBinary, nullable=False)
    payload = encrypted("_payload", codec="json")
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    # the W3C traceparent of the transaction that enqueued it, when tracing is on (t0019)
    trace_context: Mapped[str | None] = mapped_column(String(128), nullable=True)


class OutboxInflight(TenantBase):
    """A webhook or e-mail being sent: committed before the send, deleted with the recorded result. Still there
    when the item is claimed again, it is an attempt of a dispatcher that died mid-send (``tries`` of them)."""

    __tablename__ = "outbox_inflight"

    outbox_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("outbox.id", ondelete="CASCADE"),
                                                 primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tries: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class Notification(TenantBase):
    """An in-app notification for one user (queried over GraphQL: ``notifications``)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"))
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    _body: Mapped[bytes | None] = mapped_column("body", LargeBinary, nullable=True)
    body = encrypted("_body")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SweepWakeup(PlatformBase):
    """When a tenant row next needs the sweeper (platform table, kept by triggers in the tenant schemas: the
    application never writes it). ``source`` is the tenant table, ``row_id`` the row."""

    __tablename__ = "sweep_wakeups"

    schema_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    source: Mapped[str] = mapped_column(String(63), primary_key=True)
    row_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
