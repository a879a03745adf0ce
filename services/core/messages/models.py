"""Messages that reach the customer (issue 14 point 2): the complaint's preferred contact, the messages sent to
it (``outgoing_messages``: one row per message, its delivery state), and the tenant's own wording of each
message (``message_templates``: a row only where the tenant changed the default)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class ContactChannel(enum.StrEnum):
    """How the customer wants to hear from the company. EMAIL and SMS are sent by the platform; POST and PHONE
    are done by staff (each message becomes a task for the owner)."""

    EMAIL = "EMAIL"
    SMS = "SMS"
    POST = "POST"
    PHONE = "PHONE"

    @property
    def sent_by_platform(self) -> bool:
        return self in (ContactChannel.EMAIL, ContactChannel.SMS)


class MessageKind(enum.StrEnum):
    """The messages the rules allow (``services.core.messages.rules.RULES`` says when each goes out)."""

    ACKNOWLEDGEMENT = "ACKNOWLEDGEMENT"
    APPROVED_ANSWER = "APPROVED_ANSWER"
    UNFOUNDED_OPINION = "UNFOUNDED_OPINION"
    DEADLINE_EXTENDED = "DEADLINE_EXTENDED"
    DELAY_NOTICE = "DELAY_NOTICE"
    REVIEW_ANSWER = "REVIEW_ANSWER"
    RECOMPLAINT_GUIDANCE = "RECOMPLAINT_GUIDANCE"
    SATISFACTION_SURVEY = "SATISFACTION_SURVEY"


class MessageState(enum.StrEnum):
    PENDING = "PENDING"  # in the outbox, not sent yet (or being retried)
    SENT = "SENT"  # the mail server or the SMS provider took it
    DELIVERED = "DELIVERED"  # the provider says it reached the customer
    FAILED = "FAILED"  # given up (the outbox's last error says why)
    TASKED = "TASKED"  # the platform cannot send it (post, phone, no usable contact): the owner was tasked


LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


class OutgoingMessage(TenantBase):
    """One message to the customer. ``params`` (sealed) holds what the message needs that is not on the case
    (an acknowledgement's access code until it is sent, a notice's reason): the body is rendered at delivery
    from the sealed fields, so no plaintext reaches the outbox row, Redis or a log."""

    __tablename__ = "outgoing_messages"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(8), nullable=True)
    locale: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    _params: Mapped[bytes | None] = mapped_column("params", LargeBinary, nullable=True)
    params = encrypted("_params", codec="json")
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class MessageTemplate(TenantBase):
    """The tenant's wording of one message in one locale (Jinja syntax, rendered in its sandbox)."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("kind", "locale", name="uq_message_templates_kind_locale"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
