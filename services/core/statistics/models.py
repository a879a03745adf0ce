"""One narrow row per complaint with what the statistics count, kept in step by ``statistics.facts.refresh``
inside the transaction of every step (``complaints.steps.record_step``) and of the deadline sweeper's breaches.
The statistics read this table (and ``complaints`` only for the viewer's scope), never the forms themselves."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import TenantBase


def _ref(nullable: bool = True) -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), nullable=nullable)


class ComplaintFacts(TenantBase):
    __tablename__ = "complaint_facts"
    __table_args__ = (
        Index("ix_complaint_facts_received_at", "received_at"),
    )

    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_month: Mapped[date] = mapped_column(Date)
    """the first day of the month of receipt in the tenant's time zone (grouped on as it is)"""
    store_id: Mapped[uuid.UUID | None] = _ref()
    department_id: Mapped[uuid.UUID | None] = _ref()
    owner_id: Mapped[uuid.UUID | None] = _ref()
    category_id: Mapped[uuid.UUID | None] = _ref()
    cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    channel: Mapped[str] = mapped_column(String(24))
    business_type_id: Mapped[uuid.UUID | None] = _ref()
    cause_code_id: Mapped[uuid.UUID | None] = _ref()
    business_channel_id: Mapped[uuid.UUID | None] = _ref()
    area_id: Mapped[uuid.UUID | None] = _ref()
    status: Mapped[str] = mapped_column(String(24))
    valid: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    final_answer: Mapped[bool] = mapped_column(Boolean)
    """the case reached CLOSED at least once (a final answer: on the spot, accepted, or a review upheld)"""
    referred: Mapped[bool] = mapped_column(Boolean)
    litigation: Mapped[bool] = mapped_column(Boolean)
    repeat: Mapped[bool] = mapped_column(Boolean)
    escalated: Mapped[bool] = mapped_column(Boolean)
    """the case was escalated to an external body at least once"""
    breached: Mapped[bool] = mapped_column(Boolean)
    """a deadline of the company's on the case is breached"""
    satisfaction: Mapped[str | None] = mapped_column(String(24), nullable=True)
    """the latest satisfaction survey's rating"""
    final_answer_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    handling_days: Mapped[Decimal | None] = mapped_column(Numeric(8, 1), nullable=True)
    """working days (the tenant's calendar) from receipt to the first final answer"""
    responsibility_level: Mapped[str | None] = mapped_column(String(24), nullable=True)
    """the newest APPROVED responsibility attribution's level (``ResponsibleLevel``); None: none approved"""
    responsibility_cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """its cause: PRODUCT / NON_PRODUCT"""
    responsible_unit_id: Mapped[uuid.UUID | None] = _ref()
    """its unit (a team, the factory, the store, or the person's unit); None for an outside party"""
    penalties: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """EFFECTIVE penalties on the complaint"""
    repeat_confirmed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """a repeat complaint the desk confirmed"""
    repeat_against_store: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """... of an earlier complaint the store left unanswered: it counts against that store"""
    major: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """flagged as a major complaint"""
    major_reported: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    """its regulator notification approved and sent"""
