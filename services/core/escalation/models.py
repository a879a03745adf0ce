"""External bodies (seed II, seed III item 12), escalations to them, and routings."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class ExternalBodyKind(enum.StrEnum):
    INDUSTRY_ASSOCIATION = "INDUSTRY_ASSOCIATION"
    REGULATOR = "REGULATOR"
    HEALTH_ADMINISTRATION = "HEALTH_ADMINISTRATION"
    PRICE_BUREAU = "PRICE_BUREAU"
    CONSUMER_ASSOCIATION = "CONSUMER_ASSOCIATION"
    MARKET_REGULATOR = "MARKET_REGULATOR"
    OTHER = "OTHER"


class EscalationState(enum.StrEnum):
    PENDING = "PENDING"  # the webhook is in the outbox
    DELIVERED = "DELIVERED"  # the body's endpoint answered 2xx (receipt recorded)
    FAILED = "FAILED"  # every attempt failed; the owner was told


class EscalationTrigger(enum.StrEnum):
    MANUAL = "MANUAL"
    FINAL_DISSATISFACTION = "FINAL_DISSATISFACTION"
    REVIEW_OVERDUE = "REVIEW_OVERDUE"  # a review request answered out of time (the deadline sweep)
    AFTER_REVIEW = "AFTER_REVIEW"  # the review upheld the decision and the tenant forwards the dossier


class RoutingMode(enum.StrEnum):
    ROUTED = "ROUTED"  # the complaint was sent to the body
    CUSTOMER_TOLD = "CUSTOMER_TOLD"  # the customer was told to go there
    REFERRED = "REFERRED"  # the matter belongs there: the customer was told, and the case ended as REFERRED


class ExternalBody(TenantBase):
    """An authority or association outside the company: who they are, what they handle, how to reach them.

    ``escalation_level`` orders re-complaint escalation (1 = industry association, 2 = regulator, ...);
    null keeps the body out of escalation (routing only)."""

    __tablename__ = "external_bodies"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    handles: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    handles_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    contact: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    _webhook_secret: Mapped[bytes | None] = mapped_column("webhook_secret", LargeBinary, nullable=True)
    webhook_secret = encrypted("_webhook_secret")
    escalation_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    receives_personal_data: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Escalation(TenantBase):
    """One step of a complaint's escalation: at most one row per (complaint, step)."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("complaint_id", "step", name="uq_escalations_complaint_step"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    step: Mapped[int] = mapped_column(Integer)
    external_body_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("external_bodies.id", ondelete="RESTRICT")
    )
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    trigger: Mapped[str] = mapped_column(String(32))
    trigger_ref: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=True)
    reason = encrypted("_reason")
    dossier_sha256: Mapped[str] = mapped_column(String(64))
    personal_data_included: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16))
    outbox_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True, index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)


class Routing(TenantBase):
    """A complaint that belongs to another authority (seed II): sent there, or the customer told where to go."""

    __tablename__ = "routings"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), index=True
    )
    external_body_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("external_bodies.id", ondelete="RESTRICT")
    )
    mode: Mapped[str] = mapped_column(String(16))
    _note: Mapped[bytes | None] = mapped_column("note", LargeBinary, nullable=True)
    note = encrypted("_note")
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
