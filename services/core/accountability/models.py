"""The accountability records (tenant migration t0018). Free text and a penalised person's details are sealed."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class ResponsibleLevel(enum.StrEnum):
    """Seed IV 七.1-2 and 三.6: the smallest unit that can be identified."""

    PRODUCTION_TEAM = "PRODUCTION_TEAM"
    """加工单位以各班组为最小单位"""
    FACTORY = "FACTORY"
    """未及明确归属班组单位时，归属至全厂"""
    INDIVIDUAL = "INDIVIDUAL"
    """业务部门、服务部门以归属至个人为原则"""
    STORE = "STORE"
    """未能明确归属个人时，归属至区域专卖店或分公司"""
    OUTSIDE_PARTY = "OUTSIDE_PARTY"
    """其他公司或原物料供应商 (handled jointly by the deputy GM and marketing)"""


class ResponsibilityCause(enum.StrEnum):
    PRODUCT = "PRODUCT"
    NON_PRODUCT = "NON_PRODUCT"


class DecisionState(enum.StrEnum):
    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class PenaltyTarget(enum.StrEnum):
    UNIT = "UNIT"
    PERSON = "PERSON"


class PenaltyKind(enum.StrEnum):
    WARNING = "WARNING"
    CRITICISM = "CRITICISM"
    FINE = "FINE"
    """罚扣金额"""
    DEMERIT = "DEMERIT"


class PenaltyState(enum.StrEnum):
    PROPOSED = "PROPOSED"
    """serious: waits for the general manager"""
    EFFECTIVE = "EFFECTIVE"
    REJECTED = "REJECTED"


class SampleRule(enum.StrEnum):
    ALL_BREACHED = "ALL_BREACHED"
    RANDOM_PERCENT = "RANDOM_PERCENT"
    ALL_ESCALATED = "ALL_ESCALATED"


class FindingOutcome(enum.StrEnum):
    CONFORMING = "CONFORMING"
    NONCONFORMING = "NONCONFORMING"


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


class Responsibility(TenantBase):
    """责任归属: proposed by the complaint desk, decided by the general manager; every proposal kept (the newest is
    the case's current one)."""

    __tablename__ = "responsibilities"
    __table_args__ = (
        Index("ix_responsibilities_complaint_id", "complaint_id"),
        CheckConstraint("state IN ('PROPOSED', 'APPROVED', 'REJECTED')", name="state"),
    )

    id: Mapped[uuid.UUID] = _pk()
    complaint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("complaints.id",
                                                                                   ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(24))
    cause: Mapped[str] = mapped_column(String(16))
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=True)
    _outside_party: Mapped[bytes | None] = mapped_column("outside_party", LargeBinary, nullable=True)
    outside_party = encrypted("_outside_party")
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=False)
    reason = encrypted("_reason")
    state: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    _decision_note: Mapped[bytes | None] = mapped_column("decision_note", LargeBinary, nullable=True)
    decision_note = encrypted("_decision_note")


RESPONSIBILITY_NEWEST_FIRST = (
    Responsibility.proposed_at.desc(), Responsibility.decided_at.desc().nulls_first(), Responsibility.id)
"""The case's attribution first: the newest proposal (a pending one, under a frozen clock too)."""


class Penalty(TenantBase):
    """处分及罚扣: a unit or a person, the kind, the amount, the reason. Proposed by the desk; a serious one needs
    the general manager's approval and is then published (the GM office's notice)."""

    __tablename__ = "penalties"
    __table_args__ = (
        CheckConstraint("state IN ('PROPOSED', 'EFFECTIVE', 'REJECTED')", name="state"),
        CheckConstraint("(target = 'UNIT') = (org_unit_id IS NOT NULL AND person_id IS NULL)", name="target"),
    )

    id: Mapped[uuid.UUID] = _pk()
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="SET NULL"), nullable=True, index=True)
    target: Mapped[str] = mapped_column(String(8))
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=True, index=True)
    _person_name: Mapped[bytes | None] = mapped_column("person_name", LargeBinary, nullable=True)
    person_name = encrypted("_person_name")
    """the person's name as it stood when penalised (personal data: sealed, masked to those without rights)"""
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    _reason: Mapped[bytes | None] = mapped_column("reason", LargeBinary, nullable=False)
    reason = encrypted("_reason")
    serious: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(24), server_default=text("'DESK'"))
    """DESK (proposed by hand) or REPEAT (opened by a confirmed repeat complaint the store left unanswered)"""
    state: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    _decision_note: Mapped[bytes | None] = mapped_column("decision_note", LargeBinary, nullable=True)
    decision_note = encrypted("_decision_note")
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReviewPlan(TenantBase):
    """定期检查回顾 (seed III item 9): a period, a sample rule and the department (one that handles no complaints)
    that reviews the sampled cases."""

    __tablename__ = "review_plans"
    __table_args__ = (
        CheckConstraint("sample_rule IN ('ALL_BREACHED', 'RANDOM_PERCENT', 'ALL_ESCALATED')", name="sample_rule"),
    )

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(String(200))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    sample_rule: Mapped[str] = mapped_column(String(16))
    sample_percent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    department_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewPlanCase(TenantBase):
    """A case the plan sampled (fixed when the plan is created)."""

    __tablename__ = "review_plan_cases"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("review_plans.id", ondelete="CASCADE"), primary_key=True)
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True)


class ReviewFinding(TenantBase):
    """A reviewer's finding on one sampled case (one per case and plan)."""

    __tablename__ = "review_findings"
    __table_args__ = (
        UniqueConstraint("plan_id", "complaint_id", name="uq_review_findings_plan_id"),
        CheckConstraint("outcome IN ('CONFORMING', 'NONCONFORMING')", name="outcome"),
    )

    id: Mapped[uuid.UUID] = _pk()
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("review_plans.id",
                                                                              ondelete="CASCADE"))
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    _note: Mapped[bytes | None] = mapped_column("note", LargeBinary, nullable=False)
    note = encrypted("_note")
    reviewer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ImprovementAction(TenantBase):
    """An improvement the review calls for: what, who owns it, by when."""

    __tablename__ = "improvement_actions"

    id: Mapped[uuid.UUID] = _pk()
    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("review_plans.id", ondelete="CASCADE"), index=True)
    finding_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("review_findings.id", ondelete="CASCADE"), nullable=True)
    _description: Mapped[bytes | None] = mapped_column("description", LargeBinary, nullable=False)
    description = encrypted("_description")
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"))
    due_date: Mapped[date] = mapped_column(Date)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    _completion_note: Mapped[bytes | None] = mapped_column("completion_note", LargeBinary, nullable=True)
    completion_note = encrypted("_completion_note")
    """what was done (t0020; sealed)"""


class RepeatState(enum.StrEnum):
    PROPOSED = "PROPOSED"
    CONFIRMED = "CONFIRMED"
    DISMISSED = "DISMISSED"


class AccountabilitySettings(TenantBase):
    """One row (id 1; absent: the defaults): the repeat-complaint window and the major-complaint criteria."""

    __tablename__ = "accountability_settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    repeat_window_days: Mapped[int] = mapped_column(Integer, server_default=text("30"))
    major_amount_at_least: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    major_on_group_complaint: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    major_on_media_attention: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    major_repeat_count_at_least: Mapped[int | None] = mapped_column(Integer, nullable=True)
    major_category_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)),
                                                                 server_default=text("'{}'"))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RepeatProposal(TenantBase):
    """二次投诉: a new complaint by the same complainant (blind index) within the tenant's window, proposed on
    recording as a repeat of the earlier one; confirmed or dismissed by the desk. A confirmed repeat of a complaint
    the store had left unanswered counts against that store (``store_id``) and opens a penalty proposal."""

    __tablename__ = "repeat_proposals"
    __table_args__ = (CheckConstraint("state IN ('PROPOSED', 'CONFIRMED', 'DISMISSED')", name="state"),)

    id: Mapped[uuid.UUID] = _pk()
    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), unique=True)
    earlier_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    matched_on: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    left_unanswered: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True)
    """the store the confirmed unanswered repeat counts against"""
    penalty_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("penalties.id", ondelete="SET NULL"), nullable=True)


class OpinionBookEntry(TenantBase):
    """顾客意见簿: an entry a store copied from its opinion book; reconciled against the complaints (the complaint
    recorded for it). The text and the customer's details are sealed; the phone has a blind index."""

    __tablename__ = "opinion_book_entries"

    id: Mapped[uuid.UUID] = _pk()
    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), index=True)
    entry_date: Mapped[date] = mapped_column(Date)
    _text: Mapped[bytes | None] = mapped_column("text", LargeBinary, nullable=False)
    text_ = encrypted("_text")
    _customer_name: Mapped[bytes | None] = mapped_column("customer_name", LargeBinary, nullable=True)
    customer_name = encrypted("_customer_name")
    _customer_phone: Mapped[bytes | None] = mapped_column("customer_phone", LargeBinary, nullable=True)
    customer_phone = encrypted("_customer_phone")
    phone_key: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    complaint_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="SET NULL"), nullable=True, index=True)
    recorded_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reconciled_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    customer_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """the customer's name and phone were erased (t0022; ``accountability.erasure``)"""


class MajorState(enum.StrEnum):
    DRAFT = "DRAFT"
    """the regulator notification waits for the regulator liaison's approval"""
    SENT = "SENT"
    """approved, and handed to the outbox (delivered once)"""


class ComplaintAttention(TenantBase):
    """What the major-complaint criteria read besides the case itself: a group complaint, media attention."""

    __tablename__ = "complaint_attention"

    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True)
    group_complaint: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    media_attention: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MajorComplaint(TenantBase):
    """重大投诉 (seed III item 8): a complaint the tenant's criteria flag, with the regulator notification draft
    (the dossier without the personal data the regulator is not entitled to), sent once after the regulator
    liaison approves it."""

    __tablename__ = "major_complaints"
    __table_args__ = (CheckConstraint("state IN ('DRAFT', 'SENT')", name="state"),)

    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    state: Mapped[str] = mapped_column(String(16))
    external_body_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("external_bodies.id", ondelete="RESTRICT"), nullable=True)
    _draft: Mapped[bytes | None] = mapped_column("draft", LargeBinary, nullable=False)
    draft = encrypted("_draft", codec="json")
    """the dossier (free text the customer wrote included): sealed"""
    draft_sha256: Mapped[str] = mapped_column(String(64))
    flagged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outbox_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    complainant_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """the complainant was erased: the draft's personal parts are gone (t0022; ``accountability.erasure``)"""
