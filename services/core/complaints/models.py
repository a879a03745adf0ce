"""The complaint record and its forms (product.md, seed I and IV)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.classification import models as _classification  # noqa: F401  (the codes' table, for the FKs)
from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class ComplaintStatus(enum.StrEnum):
    RECEIVED = "RECEIVED"
    INVESTIGATING = "INVESTIGATING"
    UNFOUNDED = "UNFOUNDED"
    ASSIGNED = "ASSIGNED"
    SOLUTION_PROPOSED = "SOLUTION_PROPOSED"
    APPROVED = "APPROVED"
    AWAITING_CUSTOMER = "AWAITING_CUSTOMER"
    IMPLEMENTING = "IMPLEMENTING"
    FOLLOW_UP = "FOLLOW_UP"
    CLOSED = "CLOSED"
    REOPENED = "REOPENED"
    ESCALATED = "ESCALATED"
    WITHDRAWN = "WITHDRAWN"
    UNDER_REVIEW = "UNDER_REVIEW"
    """the customer asked for a review (复核) of the decision; an independent reviewer answers"""
    REFERRED = "REFERRED"
    """the matter belongs to another authority (seed II): the customer was told which, and the case ends"""


class Channel(enum.StrEnum):
    PHONE = "PHONE"
    STORE = "STORE"
    OPINION_BOOK = "OPINION_BOOK"
    WEB = "WEB"
    APP = "APP"
    LETTER = "LETTER"
    EMAIL = "EMAIL"
    REGULATOR_TRANSFER = "REGULATOR_TRANSFER"


class Scope(enum.StrEnum):
    DOMESTIC = "DOMESTIC"
    FOREIGN = "FOREIGN"


class HandlingFormKind(enum.StrEnum):
    """A valid complaint's handling form (the solution), or an unfounded complaint's written investigation
    opinion (seed I step 2, 向客户返回调查意见): both approved by someone else before the customer is told."""

    SOLUTION = "SOLUTION"
    OPINION = "OPINION"


class ReviewState(enum.StrEnum):
    REQUESTED = "REQUESTED"
    ASSIGNED = "ASSIGNED"
    ANSWERED = "ANSWERED"


class ReviewOutcome(enum.StrEnum):
    UPHELD = "UPHELD"
    """the decision stands: the bank's final answer (the customer may re-complain outside)"""
    REVISED = "REVISED"
    """the decision changes: the case is handled again"""


class HandlingFormStatus(enum.StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class Satisfaction(enum.StrEnum):
    VERY_SATISFIED = "VERY_SATISFIED"
    SATISFIED = "SATISFIED"
    NEUTRAL = "NEUTRAL"
    DISSATISFIED = "DISSATISFIED"
    VERY_DISSATISFIED = "VERY_DISSATISFIED"

    @property
    def closes(self) -> bool:
        return self in (Satisfaction.VERY_SATISFIED, Satisfaction.SATISFIED)


class Source(enum.StrEnum):
    """Who recorded a customer's answer: staff on the customer's behalf, or the customer online."""

    STAFF = "STAFF"
    CUSTOMER = "CUSTOMER"


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


def _sealed(column: str, nullable: bool = True) -> Mapped[bytes | None]:
    return mapped_column(column, LargeBinary, nullable=nullable)


def _complaint_fk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), index=True)


def _user_fk(nullable: bool = False) -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), nullable=nullable)


IDENTITY_FIELDS = ("name", "phone", "email", "id_number", "address", "contact")


def _identity_field(key: str) -> property:
    def get(self: Complainant) -> str | None:
        identity = self.identity
        return None if identity is None else identity.get(key)

    def set_(self: Complainant, value: str | None) -> None:
        self.identity = {**(self.identity or {}), key: value}

    return property(get, set_, doc=f"the complainant's {key.replace('_', ' ')} (sealed in ``identity``)")


class Complainant(TenantBase):
    """Who complained. Their identity (name, phone, e-mail, ID number, address) is one value sealed under the
    complainant's own key (``subject_key``, itself sealed with the tenant's data key): erasing them destroys
    that key and their blind indexes."""

    __tablename__ = "complainants"

    id: Mapped[uuid.UUID] = _uuid_pk()
    _identity: Mapped[bytes | None] = _sealed("identity", nullable=False)
    _subject_key: Mapped[bytes | None] = _sealed("subject_key")
    identity = encrypted("_identity", subject=True, codec="json")
    name = _identity_field("name")
    phone = _identity_field("phone")
    email = _identity_field("email")
    id_number = _identity_field("id_number")
    address = _identity_field("address")
    contact = _identity_field("contact")  # the preferred contact's address or number (messages.models)
    # blind indexes: HMAC-SHA256 (tenant index key) over the normalised value
    phone_key: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    email_key: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    id_number_key: Mapped[str | None] = mapped_column(Text, nullable=True, index=True)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ComplaintCounter(TenantBase):
    """The last serial given out per month: taken under a row lock, rolled back with its transaction."""

    __tablename__ = "complaint_counters"

    period: Mapped[str] = mapped_column(String(4), primary_key=True)
    last_serial: Mapped[int] = mapped_column(Integer)


class Complaint(TenantBase):
    __tablename__ = "complaints"

    id: Mapped[uuid.UUID] = _uuid_pk()
    number: Mapped[str] = mapped_column(String(10), unique=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    channel: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    _description: Mapped[bytes | None] = _sealed("description", nullable=False)
    description = encrypted("_description")
    complainant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complainants.id", ondelete="RESTRICT"), index=True
    )
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    scope: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    responsible_department_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    # the classification (issue 15): one code of the tenant's list per dimension (classification.models)
    business_type_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("classification_codes.id", ondelete="RESTRICT"), nullable=True)
    cause_code_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("classification_codes.id", ondelete="RESTRICT"), nullable=True)
    business_channel_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("classification_codes.id", ondelete="RESTRICT"), nullable=True)
    area_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("classification_codes.id", ondelete="RESTRICT"), nullable=True)
    order_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    material_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivery_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    defective_quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    repeat_of_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    litigation: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    resolved_on_the_spot: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    _resolution: Mapped[bytes | None] = _sealed("resolution")
    resolution = encrypted("_resolution")
    access_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_channel: Mapped[str | None] = mapped_column(String(8), nullable=True)
    """How the customer wants to hear from us (``messages.models.ContactChannel``); the address or number itself
    is the complainant's sealed ``contact`` (erased with them); null: no usable contact (tasks for the owner)."""
    contact_locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    """The language of the messages to the customer (zh-CN or en); null: the tenant's default."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    appraisal_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    """Set while the case is on external appraisal (its ``appraisals`` row is open); the deadlines whose
    ``pause_in`` names ``EXTERNAL_APPRAISAL`` are paused meanwhile (``services.core.deadlines.appraisal``)."""


class Investigation(TenantBase):
    __tablename__ = "investigations"

    complaint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("complaints.id", ondelete="CASCADE"), primary_key=True
    )
    valid: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    _findings: Mapped[bytes | None] = _sealed("findings")
    findings = encrypted("_findings")
    investigator_id: Mapped[uuid.UUID] = _user_fk()
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Evidence(TenantBase):
    __tablename__ = "evidence"

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    _filename: Mapped[bytes | None] = _sealed("filename", nullable=False)
    filename = encrypted("_filename")
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    _content: Mapped[bytes | None] = _sealed("content", nullable=False)
    content = encrypted("_content", codec="bytes")
    _note: Mapped[bytes | None] = _sealed("note")
    note = encrypted("_note")
    uploaded_by: Mapped[uuid.UUID] = _user_fk()
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TransferSlip(TenantBase):
    __tablename__ = "transfer_slips"

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    department_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT")
    )
    _instructions: Mapped[bytes | None] = _sealed("instructions")
    instructions = encrypted("_instructions")
    sent_by: Mapped[uuid.UUID] = _user_fk()
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class HandlingForm(TenantBase):
    """顾客投诉处理表: internal; approved in writing before anything is promised to the customer."""

    __tablename__ = "handling_forms"
    __table_args__ = (UniqueConstraint("complaint_id", "version", name="uq_handling_forms_complaint_version"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'SOLUTION'"))
    _cause_analysis: Mapped[bytes | None] = _sealed("cause_analysis")
    _solution: Mapped[bytes | None] = _sealed("solution")
    _customer_reply: Mapped[bytes | None] = _sealed("customer_reply", nullable=False)
    cause_analysis = encrypted("_cause_analysis")
    solution = encrypted("_solution")
    customer_reply = encrypted("_customer_reply")
    compensation_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    proposed_by: Mapped[uuid.UUID] = _user_fk()
    proposed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    _decision_note: Mapped[bytes | None] = _sealed("decision_note")
    decision_note = encrypted("_decision_note")


class CustomerOpinion(TenantBase):
    """客户意见表: the customer's answer to the approved solution."""

    __tablename__ = "customer_opinions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    handling_form_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("handling_forms.id", ondelete="RESTRICT")
    )
    agreed: Mapped[bool] = mapped_column(Boolean)
    _comment: Mapped[bytes | None] = _sealed("comment")
    comment = encrypted("_comment")
    source: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SatisfactionSurvey(TenantBase):
    """满意度调查表, recorded at the follow-up visit."""

    __tablename__ = "satisfaction_surveys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    rating: Mapped[str] = mapped_column(String(24))
    _comment: Mapped[bytes | None] = _sealed("comment")
    comment = encrypted("_comment")
    source: Mapped[str] = mapped_column(String(16))
    recorded_by: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    returned_to_department_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True
    )
    """seed I step 7: the survey goes back to the responsible department when the case closes"""
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Review(TenantBase):
    """复核 (the 2020 rules): the customer disagrees with the decision and asks, within the review window, for it
    to be reviewed by someone independent of the first decision; answered within its own deadline."""

    __tablename__ = "reviews"

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    state: Mapped[str] = mapped_column(String(16))
    _reason: Mapped[bytes | None] = _sealed("reason", nullable=False)
    reason = encrypted("_reason")
    source: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reviewer_id: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    assigned_by: Mapped[uuid.UUID | None] = _user_fk(nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    _answer: Mapped[bytes | None] = _sealed("answer")
    answer = encrypted("_answer")
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CustomerMessage(TenantBase):
    """What was told to the customer: only after, and only from, the approved handling form."""

    __tablename__ = "customer_messages"

    id: Mapped[uuid.UUID] = _uuid_pk()
    complaint_id: Mapped[uuid.UUID] = _complaint_fk()
    handling_form_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("handling_forms.id", ondelete="RESTRICT")
    )
    _body: Mapped[bytes | None] = _sealed("body", nullable=False)
    body = encrypted("_body")
    sent_by: Mapped[uuid.UUID] = _user_fk()
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
