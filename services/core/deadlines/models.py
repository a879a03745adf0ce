"""Deadlines as rows, SLA profiles, and the tenant's working-day calendar settings and overrides."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class CalendarSettings(TenantBase):
    """One row: which jurisdiction's working days the tenant follows, its receipt rule, and the years whose
    official schedule it imported (declared known)."""

    __tablename__ = "calendar_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    jurisdiction: Mapped[str] = mapped_column(String(16), server_default=text("'CN'"))
    working_hours_end: Mapped[time] = mapped_column(Time(), server_default=text("'17:30'"))
    covered_years: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    receipt_rule: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The tenant's choice (``ReceiptRule``); null: the jurisdiction's default."""
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CalendarDayOverride(TenantBase):
    """The tenant's word on one date (WORKDAY or HOLIDAY); it wins over the package data."""

    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint("kind IN ('WORKDAY', 'HOLIDAY')", name="kind"),)

    day: Mapped[date] = mapped_column(Date(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaProfile(TenantBase):
    """The deadlines a case gets: the default profile (no category) or one category's (it wins)."""

    __tablename__ = "sla_profiles"
    __table_args__ = (
        Index("uq_sla_profiles_category", "category_id", unique=True,
              postgresql_where=text("category_id IS NOT NULL")),
        Index("uq_sla_profiles_default", text("(category_id IS NULL)"), unique=True,
              postgresql_where=text("category_id IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("categories.id", ondelete="CASCADE"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Deadline(TenantBase):
    """One deadline of one complaint. Open: neither met nor cancelled. Overdue: open and ``due_at`` before now
    (or before the moment it was paused). ``breached_at``/``reminded_at`` are the sweeper's."""

    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_complaint_id", "complaint_id"),
        Index("ix_deadlines_open_due_at", "due_at",
              postgresql_where=text("met_at IS NULL AND cancelled_at IS NULL")),
        Index("ix_deadlines_open_remind_at", "remind_at",
              postgresql_where=text("met_at IS NULL AND cancelled_at IS NULL AND reminded_at IS NULL")),
        CheckConstraint("basis IN ('WORKING', 'CALENDAR')", name="basis"),
        CheckConstraint("party IN ('COMPANY', 'CUSTOMER')", name="party"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    party: Mapped[str] = mapped_column(String(16), server_default=text("'COMPANY'"))
    basis: Mapped[str] = mapped_column(String(16))
    period_days: Mapped[int] = mapped_column(Integer)
    """The rule's period plus the extensions granted (without pauses)."""
    met_on: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    pause_in: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    extensions_policy: Mapped[list[dict[str, Any]]] = mapped_column(JSONB(), server_default=text("'[]'"))
    remind_before: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    remind_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    provisional: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    unknown_years: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    paused_days: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    """Days (of the deadline's basis) added for the time it was paused."""
    extension_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    @property
    def open(self) -> bool:
        return self.met_at is None and self.cancelled_at is None


class DeadlineExtension(TenantBase):
    """An extension granted: why, by whom, approved by whom (when the rule needs an approval)."""

    __tablename__ = "deadline_extensions"
    __table_args__ = (Index("ix_deadline_extensions_deadline_id", "deadline_id"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    deadline_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deadlines.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=False)  # free text: sealed
    reason = encrypted("_reason")
    complex: Mapped[bool] = mapped_column(Boolean)
    added_days: Mapped[int] = mapped_column(Integer)
    previous_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    new_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ExtensionRequestState(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class DeadlineExtensionRequest(TenantBase):
    """An extension whose rule needs an approval, asked for (who, when, why, which step) and then decided by
    someone else (approved: ``extension_id`` is the extension granted; rejected: ``decision_note`` says why).
    At most one PENDING request per deadline. The reason and the decision's note are free text: sealed."""

    __tablename__ = "deadline_extension_requests"
    __table_args__ = (
        Index("ix_deadline_extension_requests_complaint_id", "complaint_id"),
        Index("uq_deadline_extension_requests_pending", "deadline_id", unique=True,
              postgresql_where=text("state = 'PENDING'")),
        CheckConstraint("state IN ('PENDING', 'APPROVED', 'REJECTED')", name="state"),
        CheckConstraint("(state = 'PENDING') = (decided_at IS NULL)", name="decided"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE")
    )
    deadline_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deadlines.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    extension_number: Mapped[int] = mapped_column(Integer)
    """Which of the rule's extensions (1 = the first) the request is for."""
    add_days: Mapped[int] = mapped_column(Integer)
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=False)  # free text: sealed
    reason = encrypted("_reason")
    complex: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    requested_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    _decision_note: Mapped[bytes | None] = mapped_column("decision_note", LargeBinary, nullable=True)  # sealed
    decision_note = encrypted("_decision_note")
    extension_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deadline_extensions.id", ondelete="SET NULL"), nullable=True
    )


class ExternalAppraisal(TenantBase):
    """A time the case waited on a third party's appraisal or assessment (鉴定/评估): from ``started_at`` to
    ``ended_at`` (open while null: at most one per complaint, and ``complaints.appraisal_started_at`` is set).
    The reason, the appraiser and the outcome are free text: sealed."""

    __tablename__ = "appraisals"
    __table_args__ = (
        Index("ix_appraisals_complaint_id", "complaint_id"),
        Index("uq_appraisals_open", "complaint_id", unique=True, postgresql_where=text("ended_at IS NULL")),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE")
    )
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=False)  # free text: sealed
    reason = encrypted("_reason")
    _appraiser: Mapped[bytes | None] = mapped_column("appraiser", LargeBinary, nullable=True)
    appraiser = encrypted("_appraiser")
    _outcome: Mapped[bytes | None] = mapped_column("outcome", LargeBinary, nullable=True)
    outcome = encrypted("_outcome")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)


class CustomerNotice(TenantBase):
    """Something the customer must be told (e.g. a deadline extended, and why); the outbox sends it and
    sets ``sent_at``. Unique per (deadline, reason key): a redelivery never doubles it."""

    __tablename__ = "customer_notices"
    __table_args__ = (
        Index("ix_customer_notices_unsent", "created_at", postgresql_where=text("sent_at IS NULL")),
        Index("uq_customer_notices_key", "dedup_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE")
    )
    deadline_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deadlines.id", ondelete="CASCADE"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(200))
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=False)  # free text: sealed
    reason = encrypted("_reason")
    # a reason the platform words itself: a message key and its values, written in the reader's language where it
    # is read (services/core/deadlines/notices.py); None: ``reason`` is a person's own words
    reason_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    new_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BreachEffect(TenantBase):
    """A breach recorded whose effects are still to come (the owner and supervisors notified, the customer notice and
    its owner task, the REVIEW escalation): written by the tenant schema's ``sweep_breaches()`` in the breach's
    transaction, deleted in the transaction that enqueues the effects (``deadlines.sweep``). Its wake-up (source
    ``breach_effects``) brings the sweep back if a worker died between the two (t0024)."""

    __tablename__ = "breach_effects"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    deadline_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("deadlines.id", ondelete="CASCADE"))
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE")
    )
    breach_key: Mapped[str] = mapped_column(String(200))  # deadline:<id>:breach:<due_at in epoch seconds>
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the due time the breach passed
    breached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
