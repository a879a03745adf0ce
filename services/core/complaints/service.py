"""The complaint lifecycle (product.md; seed I and IV): one function per step.

Every step starts with ``steps.begin`` (lock the complaint row, check the step against the lifecycle's
table ``lifecycle.STEPS``: status, the case's condition, four eyes), validates its form, changes the
state, and ends with ``steps.record_step`` (one audit event, the case's deadlines planned), all in the
caller's transaction: a refusal raises ``DomainError`` and, rolled back, leaves nothing changed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor
from services.core.classification import service as classification
from services.core.classification.models import ClassificationDimension
from services.core.complaints import lifecycle
from services.core.complaints.models import (
    Channel,
    Complainant,
    Complaint,
    ComplaintCounter,
    ComplaintStatus,
    CustomerMessage,
    CustomerOpinion,
    Evidence,
    HandlingForm,
    HandlingFormKind,
    HandlingFormStatus,
    Investigation,
    Satisfaction,
    SatisfactionSurvey,
    Scope,
    Source,
    TransferSlip,
)
from services.core.complaints.steps import begin, current_form, move, record_step
from services.core.crypto.fields import blind_index, keyring_of
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.messages.service import ContactInput, resolve_contact
from services.core.org.models import Category, CategoryCause, OrgUnit, OrgUnitKind, TenantSettings, User

S = ComplaintStatus
OPEN_STATUSES = lifecycle.OPEN
MAX_EVIDENCE_BYTES = 512 * 1024
ACCESS_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the phone
ACCESS_CODE_LENGTH = 12


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ComplainantInput:
    name: str
    phone: str | None = None
    email: str | None = None
    id_number: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class ComplaintInput:
    complainant: ComplainantInput
    title: str
    description: str
    channel: Channel
    scope: Scope = Scope.DOMESTIC
    store_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    cause: CategoryCause | None = None
    order_number: str | None = None
    material_number: str | None = None
    quantity: int | None = None
    delivery_date: date | None = None
    defective_quantity: int | None = None
    amount: Decimal | None = None
    repeat_of_id: uuid.UUID | None = None
    classification: Mapping[ClassificationDimension, uuid.UUID | None] | None = None
    """a code per dimension of the tenant's lists (``classification.service``)"""
    contact: ContactInput | None = None
    """the preferred contact (default: e-mail if given, else SMS to the phone)"""


@dataclass(frozen=True)
class Recorded:
    complaint: Complaint
    access_code: str


# ---------------------------------------------------------------- helpers


def hash_access_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_access_code() -> str:
    return "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))


async def tenant_timezone(session: AsyncSession) -> ZoneInfo:
    name = await session.scalar(select(TenantSettings.timezone).where(TenantSettings.id == 1))
    return ZoneInfo(name or "Asia/Shanghai")


async def next_number(session: AsyncSession, now: datetime) -> str:
    """``YYMM`` + a six-digit serial restarting each month (tenant time zone), gap-free.

    The counter row is locked by the upsert until the transaction ends, so concurrent
    recordings queue behind each other, and a rolled-back recording gives its serial back.
    """
    period = now.astimezone(await tenant_timezone(session)).strftime("%y%m")
    statement = (
        insert(ComplaintCounter)
        .values(period=period, last_serial=1)
        .on_conflict_do_update(
            index_elements=[ComplaintCounter.period],
            set_={"last_serial": ComplaintCounter.last_serial + 1},
        )
        .returning(ComplaintCounter.last_serial)
    )
    serial = int((await session.execute(statement)).scalar_one())
    if serial > 999_999:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "this month's complaint numbers are used up")
    return f"{period}{serial:06d}"


async def _org_unit(session: AsyncSession, unit_id: uuid.UUID, field: str,
                    kinds: Collection[OrgUnitKind] | None = None) -> OrgUnit:
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", [field])
    if kinds is not None and unit.kind not in kinds:
        wanted = " or ".join(k.value for k in kinds)
        raise DomainError(ErrorCode.INVALID, msg("{field} must be a {wanted}", field=field, wanted=wanted), [field])
    return unit


async def _active_user(session: AsyncSession, user_id: uuid.UUID, field: str) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", [field])
    return user


async def intake_owner(session: AsyncSession) -> User:
    """Who owns what arrives through a public channel: the tenant's first active receiver."""
    owner = (
        await session.scalars(
            select(User)
            .where(User.active.is_(True), User.roles.contains(["receiver"]))
            .order_by(User.created_at, User.email)
            .limit(1)
        )
    ).first()
    if owner is None:
        raise DomainError(
            ErrorCode.NOT_FOUND, "complaints cannot be accepted online yet: the company has no receiver"
        )
    return owner


# ---------------------------------------------------------------- receive


async def record_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, data: ComplaintInput, owner_id: uuid.UUID | None = None,
    require_contact: bool = False,
) -> Recorded:
    """接受投诉: record a complaint from any channel; the first receiver owns it.

    ``require_contact``: the complaint came without a person taking it (web, app), so a phone
    number or an e-mail address is needed to answer the customer at all.
    """
    p = data.complainant
    name = v.required_text(p.name, "complainant.name", max_length=100)
    phone = v.phone(p.phone, "complainant.phone")
    email = v.email(p.email, "complainant.email")
    if require_contact and phone is None and email is None:
        raise DomainError(ErrorCode.REQUIRED, "a phone number or an e-mail address is needed to answer you",
                          ["complainant", "phone"])
    id_number = v.id_number(p.id_number, "complainant.idNumber")
    address = v.text(p.address, "complainant.address", max_length=500)
    title = v.required_text(data.title, "title", max_length=200)
    description = v.required_text(data.description, "description", max_length=10_000)
    order_number = v.text(data.order_number, "orderNumber", max_length=64)
    material_number = v.text(data.material_number, "materialNumber", max_length=64)
    quantity = v.non_negative_int(data.quantity, "quantity")
    defective = v.non_negative_int(data.defective_quantity, "defectiveQuantity")
    if quantity is not None and defective is not None and defective > quantity:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "defectiveQuantity cannot exceed quantity", ["defectiveQuantity"])
    amount = v.money(data.amount, "amount")
    tz = await tenant_timezone(session)
    delivery = v.past_date(data.delivery_date, "deliveryDate", today=now.astimezone(tz).date())
    if data.store_id is not None:
        await _org_unit(session, data.store_id, "storeId", (OrgUnitKind.STORE, OrgUnitKind.BRANCH))
    if data.category_id is not None:
        category = await session.get(Category, data.category_id)
        if category is None or not category.active:
            raise DomainError(ErrorCode.NOT_FOUND, "category not found", ["categoryId"])
    if data.repeat_of_id is not None and await session.get(Complaint, data.repeat_of_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "the earlier complaint was not found", ["repeatOfId"])
    owner = owner_id or actor.user_id
    if owner is None:
        raise DomainError(ErrorCode.REQUIRED, "a complaint needs an owner")
    codes = await classification.check_codes(session, data.classification) if data.classification else {}
    contact_channel, contact, contact_locale = resolve_contact(data.contact, phone=phone, email=email,
                                                               address=address)

    ring = keyring_of(session)
    complainant = Complainant(
        name=name, phone=phone, email=email, id_number=id_number, address=address, contact=contact,
        phone_key=blind_index(ring, "phone", v.phone_key(phone)),
        email_key=blind_index(ring, "email", v.email_key(email)),
        id_number_key=blind_index(ring, "id_number", v.id_number_key(id_number)),
    )
    session.add(complainant)
    await session.flush()
    access_code = new_access_code()
    complaint = Complaint(
        number=await next_number(session, now),
        status=S.RECEIVED.value,
        channel=data.channel.value,
        title=title,
        description=description,
        complainant_id=complainant.id,
        category_id=data.category_id,
        cause=data.cause.value if data.cause else None,
        scope=data.scope.value,
        store_id=data.store_id,
        owner_id=owner,
        order_number=order_number,
        material_number=material_number,
        quantity=quantity,
        delivery_date=delivery,
        defective_quantity=defective,
        amount=amount,
        repeat_of_id=data.repeat_of_id,
        access_code_hash=hash_access_code(access_code),
        contact_channel=contact_channel.value if contact_channel else None,
        contact_locale=contact_locale,
        created_at=now,
        updated_at=now,
    )
    classified = classification.apply(complaint, codes)
    session.add(complaint)
    await session.flush()
    # accountability (issue 16): a repeat of an earlier complaint is proposed. Before the audit event: the proposal's
    # key-share lock on the earlier complaint may wait for a step on it, which must not wait for this audit lock.
    from services.core.accountability import repeats

    await repeats.propose_on_recording(session, complaint, complainant, now)
    await record_step(
        session, complaint, actor=actor, action="record_complaint", now=now, before=None,
        changes={
            "number": complaint.number, "channel": complaint.channel, "scope": complaint.scope,
            "categoryId": complaint.category_id, "storeId": complaint.store_id, "ownerId": owner,
            "repeatOfId": complaint.repeat_of_id, "amount": amount, **({"codes": classified} if classified else {}),
            "fields": sorted(k for k, val in {
                "complainant.phone": phone, "complainant.email": email, "complainant.idNumber": id_number,
                "complainant.address": address, "orderNumber": order_number, "materialNumber": material_number,
                "quantity": quantity, "deliveryDate": delivery, "defectiveQuantity": defective,
            }.items() if val is not None),
            "contactChannel": complaint.contact_channel, "contactLocale": contact_locale,
        },
        message_params={"accessCode": access_code},  # sealed in the acknowledgement until it is sent
    )
    # accountability (issue 16): the major-complaint criteria checked
    from services.core.accountability import major  # (major builds dossiers: escalation imports this module)

    await major.evaluate(session, complaint, actor=actor, now=now)
    return Recorded(complaint=complaint, access_code=access_code)


async def resolve_on_the_spot(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, resolution: str
) -> Complaint:
    """Solved at once (seed IV 三.1(1)): closed, and still on record."""
    complaint = await begin(session, "resolve_on_the_spot", complaint_id, actor=actor, now=now)
    complaint.resolution = v.required_text(resolution, "resolution", max_length=5_000)
    complaint.resolved_on_the_spot = True
    before = move(complaint, S.CLOSED, now)
    await record_step(session, complaint, actor=actor, action="resolve_on_the_spot", now=now, before=before,
                      changes={"fields": ["resolution"]})
    return complaint


# ---------------------------------------------------------------- investigate


async def start_investigation(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID,
    investigator_id: uuid.UUID | None = None,
) -> Complaint:
    complaint = await begin(session, "start_investigation", complaint_id, actor=actor, now=now)
    investigator = investigator_id or actor.user_id
    if investigator is None:
        raise DomainError(ErrorCode.REQUIRED, "an investigator is required", ["investigatorId"])
    await _active_user(session, investigator, "investigatorId")
    investigation = await session.get(Investigation, complaint.id, with_for_update=True)
    if investigation is None:
        session.add(Investigation(complaint_id=complaint.id, investigator_id=investigator, started_at=now))
    else:  # a reopened case is investigated again
        investigation.investigator_id = investigator
        investigation.started_at = now
        investigation.valid = None
        investigation.findings = None
        investigation.submitted_at = None
    before = move(complaint, S.INVESTIGATING, now)
    await record_step(session, complaint, actor=actor, action="start_investigation", now=now, before=before,
                      changes={"investigatorId": investigator})
    return complaint


@dataclass(frozen=True)
class InvestigationInput:
    valid: bool
    findings: str
    cause: CategoryCause | None = None
    category_id: uuid.UUID | None = None
    order_number: str | None = None
    material_number: str | None = None
    quantity: int | None = None
    delivery_date: date | None = None
    defective_quantity: int | None = None
    amount: Decimal | None = None
    fields_set: frozenset[str] = field(default_factory=frozenset)


async def submit_investigation(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, form: InvestigationInput
) -> Complaint:
    """调查表: facts gathered; valid (投诉成立) goes on to a responsible department, else UNFOUNDED."""
    complaint = await begin(session, "submit_investigation", complaint_id, actor=actor, now=now)
    investigation = await session.get(Investigation, complaint.id, with_for_update=True)
    assert investigation is not None  # INVESTIGATING follows start_investigation
    findings = v.required_text(form.findings, "findings", max_length=10_000)
    tz = await tenant_timezone(session)
    updates: dict[str, Any] = {}
    if form.order_number is not None:
        updates["order_number"] = v.text(form.order_number, "orderNumber", max_length=64)
    if form.material_number is not None:
        updates["material_number"] = v.text(form.material_number, "materialNumber", max_length=64)
    if form.quantity is not None:
        updates["quantity"] = v.non_negative_int(form.quantity, "quantity")
    if form.defective_quantity is not None:
        updates["defective_quantity"] = v.non_negative_int(form.defective_quantity, "defectiveQuantity")
    if form.delivery_date is not None:
        updates["delivery_date"] = v.past_date(form.delivery_date, "deliveryDate", today=now.astimezone(tz).date())
    if form.amount is not None:
        updates["amount"] = v.money(form.amount, "amount")
    if form.cause is not None:
        updates["cause"] = form.cause.value
    if form.category_id is not None:
        category = await session.get(Category, form.category_id)
        if category is None or not category.active:
            raise DomainError(ErrorCode.NOT_FOUND, "category not found", ["categoryId"])
        updates["category_id"] = form.category_id
    quantity = updates.get("quantity", complaint.quantity)
    defective = updates.get("defective_quantity", complaint.defective_quantity)
    if quantity is not None and defective is not None and defective > quantity:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "defectiveQuantity cannot exceed quantity", ["defectiveQuantity"])
    for key, value in updates.items():
        setattr(complaint, key, value)
    investigation.valid = form.valid
    investigation.findings = findings
    investigation.submitted_at = now
    before = move(complaint, S.INVESTIGATING if form.valid else S.UNFOUNDED, now)
    await record_step(session, complaint, actor=actor, action="submit_investigation", now=now, before=before,
                      changes={"valid": form.valid, "fields": sorted(["findings", *updates])})
    return complaint


async def attach_evidence(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, filename: str,
    content_type: str, content: bytes, note: str | None = None,
) -> Evidence:
    """Truthful evidence: who, when, and a content hash that the audit trail keeps."""
    complaint = await begin(session, "attach_evidence", complaint_id, actor=actor, now=now)
    name = v.required_text(filename, "filename", max_length=255)
    ctype = v.required_text(content_type, "contentType", max_length=100)
    if not content:
        raise DomainError(ErrorCode.REQUIRED, "the file is empty", ["content"])
    if len(content) > MAX_EVIDENCE_BYTES:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("files are limited to {max_evidence_bytes} bytes",
                max_evidence_bytes=MAX_EVIDENCE_BYTES), ["content"])
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "evidence is attached by a user")
    digest = hashlib.sha256(content).hexdigest()
    evidence = Evidence(
        complaint_id=complaint.id, filename=name, content_type=ctype, size=len(content), sha256=digest,
        content=content, note=v.text(note, "note", max_length=2_000), uploaded_by=actor.user_id, uploaded_at=now,
    )
    session.add(evidence)
    complaint.updated_at = now
    await session.flush()
    await record_step(session, complaint, actor=actor, action="attach_evidence", now=now, before=complaint.status,
                      changes={"evidenceId": evidence.id, "sha256": digest, "size": len(content)})
    return evidence


# ---------------------------------------------------------------- transfer and solution


async def assign_responsible_department(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, department_id: uuid.UUID,
    instructions: str | None = None,
) -> Complaint:
    """传递单: a valid complaint goes to the responsible department, which answers with a solution."""
    complaint = await begin(session, "assign_responsible_department", complaint_id, actor=actor, now=now)
    await _org_unit(session, department_id, "departmentId",
                    (OrgUnitKind.DEPARTMENT, OrgUnitKind.PRODUCTION_TEAM, OrgUnitKind.BRANCH, OrgUnitKind.STORE))
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a transfer slip is sent by a user")
    session.add(TransferSlip(
        complaint_id=complaint.id, department_id=department_id,
        instructions=v.text(instructions, "instructions", max_length=5_000), sent_by=actor.user_id, sent_at=now,
    ))
    complaint.responsible_department_id = department_id
    before = move(complaint, S.ASSIGNED, now)
    await record_step(session, complaint, actor=actor, action="assign_responsible_department", now=now, before=before,
                      changes={"departmentId": department_id})
    return complaint


async def _next_form(
    session: AsyncSession, complaint: Complaint, actor: Actor, now: datetime, *, kind: HandlingFormKind,
    solution: str | None, customer_reply: str, cause_analysis: str | None = None,
    compensation_amount: Decimal | None = None,
) -> HandlingForm:
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a handling form is proposed by a user")
    previous = await current_form(session, complaint.id)
    form = HandlingForm(
        complaint_id=complaint.id,
        version=(previous.version + 1) if previous else 1,
        kind=kind.value,
        cause_analysis=v.text(cause_analysis, "causeAnalysis", max_length=10_000),
        solution=v.required_text(solution, "solution", max_length=10_000) if kind == HandlingFormKind.SOLUTION
        else None,
        customer_reply=v.required_text(customer_reply, "customerReply" if kind == HandlingFormKind.SOLUTION
                                       else "opinion", max_length=5_000),
        compensation_amount=v.money(compensation_amount, "compensationAmount"),
        status=HandlingFormStatus.PENDING_APPROVAL.value,
        proposed_by=actor.user_id,
        proposed_at=now,
    )
    session.add(form)
    return form


async def propose_solution(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, solution: str,
    customer_reply: str, cause_analysis: str | None = None, compensation_amount: Decimal | None = None,
) -> HandlingForm:
    """The department's answer, written up as the handling form (顾客投诉处理表) for approval."""
    complaint = await begin(session, "propose_solution", complaint_id, actor=actor, now=now)
    form = await _next_form(session, complaint, actor, now, kind=HandlingFormKind.SOLUTION, solution=solution,
                            customer_reply=customer_reply, cause_analysis=cause_analysis,
                            compensation_amount=compensation_amount)
    slip = (
        await session.scalars(
            select(TransferSlip).where(TransferSlip.complaint_id == complaint.id)
            .order_by(TransferSlip.sent_at.desc()).limit(1)
        )
    ).first()
    if slip is not None and slip.answered_at is None:
        slip.answered_at = now
    before = move(complaint, S.SOLUTION_PROPOSED, now)
    await session.flush()
    await record_step(session, complaint, actor=actor, action="propose_solution", now=now, before=before,
                      changes={"handlingFormVersion": form.version, "compensationAmount": form.compensation_amount})
    return form


async def propose_opinion(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, opinion: str,
    cause_analysis: str | None = None,
) -> HandlingForm:
    """向客户返回调查意见 (seed I step 2): the unfounded complaint's written investigation opinion, for approval by
    someone else before the owner relays it (the same no-promise rule as a solution)."""
    complaint = await begin(session, "propose_opinion", complaint_id, actor=actor, now=now)
    form = await _next_form(session, complaint, actor, now, kind=HandlingFormKind.OPINION, solution=None,
                            customer_reply=opinion, cause_analysis=cause_analysis)
    await session.flush()
    complaint.updated_at = now
    await record_step(session, complaint, actor=actor, action="propose_opinion", now=now, before=complaint.status,
                      changes={"handlingFormVersion": form.version, "kind": form.kind})
    return form


async def decide_handling_form(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, approve: bool,
    note: str | None = None,
) -> HandlingForm:
    """The approver's written sign-off (never the proposer's own: four eyes); a rejected solution goes back to
    the department, a rejected opinion is written again."""
    name = "approve_handling_form" if approve else "reject_handling_form"
    complaint = await begin(session, name, complaint_id, actor=actor, now=now)
    form = await current_form(session, complaint.id)
    assert form is not None  # the guard found it pending
    reason = v.text(note, "note", max_length=5_000)
    if not approve and reason is None:
        raise DomainError(ErrorCode.REQUIRED, "a rejection needs a reason", ["note"])
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a handling form is decided by a user")
    form.status = (HandlingFormStatus.APPROVED if approve else HandlingFormStatus.REJECTED).value
    form.decided_by = actor.user_id
    form.decided_at = now
    form.decision_note = reason
    if form.kind == HandlingFormKind.OPINION:
        before = complaint.status
        complaint.updated_at = now
    else:
        before = move(complaint, S.APPROVED if approve else S.ASSIGNED, now)
    await record_step(session, complaint, actor=actor, action=name, now=now, before=before,
                      changes={"handlingFormVersion": form.version, "kind": form.kind})
    return form


# ---------------------------------------------------------------- the customer


async def approved_form(session: AsyncSession, complaint_id: uuid.UUID) -> HandlingForm | None:
    form = await current_form(session, complaint_id)
    return form if form is not None and form.status == HandlingFormStatus.APPROVED else None


async def send_customer_message(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, body: str | None = None,
) -> CustomerMessage:
    """Tell the customer the outcome (the approved solution, or an unfounded complaint's approved opinion):
    refused before written approval, and only what the form says."""
    complaint = await begin(session, "send_customer_message", complaint_id, actor=actor, now=now)
    form = await approved_form(session, complaint.id)
    assert form is not None  # the guard found it approved
    text_ = form.customer_reply if body is None else v.required_text(body, "body", max_length=5_000)
    if text_ != form.customer_reply:
        raise DomainError(
            ErrorCode.APPROVAL_REQUIRED, "only the approved reply may be sent to the customer", ["body"]
        )
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a message is sent by a user")
    message = CustomerMessage(
        complaint_id=complaint.id, handling_form_id=form.id, body=text_, sent_by=actor.user_id, sent_at=now
    )
    session.add(message)
    before = complaint.status
    if complaint.status == S.APPROVED:
        move(complaint, S.AWAITING_CUSTOMER, now)
    else:
        complaint.updated_at = now
    await session.flush()
    await record_step(session, complaint, actor=actor, action="send_customer_message", now=now, before=before,
                      changes={"messageId": message.id, "handlingFormVersion": form.version, "kind": form.kind})
    return message


async def record_customer_opinion(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, agreed: bool,
    comment: str | None = None, source: Source = Source.STAFF,
) -> Complaint:
    """客户意见表: agree, and the department implements; disagree, and it goes back to the department. On an
    unfounded complaint's opinion: agree, and the case closes; dispute it, and it is investigated again."""
    complaint = await begin(session, "record_customer_opinion", complaint_id, actor=actor, now=now)
    if source == Source.CUSTOMER and complaint.status == S.APPROVED:  # not yet told: the owner relays it first
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          msg("cannot record the customer's opinion: the complaint is {status}",
                              status=lifecycle.status_text(complaint.status)))
    form = await approved_form(session, complaint.id)
    assert form is not None  # APPROVED, AWAITING_CUSTOMER and a sent opinion all follow an approval
    session.add(CustomerOpinion(
        complaint_id=complaint.id, handling_form_id=form.id, agreed=agreed,
        comment=v.text(comment, "comment", max_length=5_000), source=source.value,
        recorded_by=actor.user_id, recorded_at=now,
    ))
    if complaint.status == S.UNFOUNDED:
        before = move(complaint, S.CLOSED if agreed else S.REOPENED, now)
    elif agreed:
        before = move(complaint, S.IMPLEMENTING, now)
    else:
        before = move(complaint, S.ASSIGNED, now)
        if complaint.responsible_department_id is not None and actor.user_id is not None:
            session.add(TransferSlip(
                complaint_id=complaint.id, department_id=complaint.responsible_department_id,
                instructions="The customer did not agree with the proposed solution.",
                sent_by=actor.user_id, sent_at=now,
            ))
    await record_step(session, complaint, actor=actor, action="record_customer_opinion", now=now, before=before,
                      changes={"agreed": agreed, "source": source.value})
    return complaint


async def complete_implementation(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, note: str | None = None,
) -> Complaint:
    complaint = await begin(session, "complete_implementation", complaint_id, actor=actor, now=now)
    before = move(complaint, S.FOLLOW_UP, now)
    await record_step(session, complaint, actor=actor, action="complete_implementation", now=now, before=before,
                      note=v.text(note, "note", max_length=5_000))
    return complaint


async def _return_survey(complaint: Complaint, survey: SatisfactionSurvey, now: datetime) -> None:
    """Seed I step 7: the survey goes back to the responsible department (recorded here; its people are told by
    the hand-off rules, ``outbox.handoffs``)."""
    department = complaint.responsible_department_id
    if department is None:
        return
    survey.returned_to_department_id = department
    survey.returned_at = now


async def record_follow_up(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, rating: Satisfaction,
    comment: str | None = None, source: Source = Source.STAFF,
) -> Complaint:
    """回访 with the satisfaction survey: closes (returned to the department and archived) only when (very)
    satisfied, otherwise reopens."""
    complaint = await begin(session, "record_follow_up", complaint_id, actor=actor, now=now)
    survey = SatisfactionSurvey(
        complaint_id=complaint.id, rating=rating.value, comment=v.text(comment, "comment", max_length=5_000),
        source=source.value, recorded_by=actor.user_id, recorded_at=now,
    )
    session.add(survey)
    before = move(complaint, S.CLOSED if rating.closes else S.REOPENED, now)
    await session.flush()
    if rating.closes:
        await _return_survey(complaint, survey, now)
    await record_step(session, complaint, actor=actor, action="record_follow_up", now=now, before=before,
                      changes={"rating": rating.value, "source": source.value,
                               "returnedTo": survey.returned_to_department_id})
    if not rating.closes:
        # not satisfied with the final answer: escalate if the tenant's rules say so (seed III item 12)
        from services.core.escalation.service import on_final_dissatisfaction

        await on_final_dissatisfaction(session, actor=actor, now=now, complaint_id=complaint.id, survey_id=survey.id)
    return complaint


async def reopen_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, reason: str,
) -> Complaint:
    """The customer disputes the investigation's opinion or the closed outcome, or an external body sent an
    escalated case back to be handled again."""
    complaint = await begin(session, "reopen_complaint", complaint_id, actor=actor, now=now)
    before = move(complaint, S.REOPENED, now)
    await record_step(session, complaint, actor=actor, action="reopen_complaint", now=now, before=before,
                      note=v.required_text(reason, "reason", max_length=5_000))
    return complaint


async def withdraw_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, reason: str | None = None,
) -> Complaint:
    complaint = await begin(session, "withdraw_complaint", complaint_id, actor=actor, now=now)
    before = move(complaint, S.WITHDRAWN, now)
    await record_step(session, complaint, actor=actor, action="withdraw_complaint", now=now, before=before,
                      note=v.text(reason, "reason", max_length=5_000))
    return complaint


async def mark_litigation(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, litigation: bool = True,
) -> Complaint:
    """The case turned into a lawsuit (counted in the statistics), or the flag is lifted."""
    complaint = await begin(session, "mark_litigation", complaint_id, actor=actor, now=now)
    if complaint.litigation == litigation:
        return complaint
    complaint.litigation = litigation
    complaint.updated_at = now
    await record_step(session, complaint, actor=actor, action="mark_litigation", now=now, before=complaint.status,
                      changes={"litigation": litigation})
    return complaint


async def transfer_ownership(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, new_owner_id: uuid.UUID,
    reason: str,
) -> Complaint:
    """First-receiver ownership changes hands only by this recorded transfer."""
    complaint = await begin(session, "transfer_ownership", complaint_id, actor=actor, now=now)
    await _active_user(session, new_owner_id, "newOwnerId")
    if new_owner_id == complaint.owner_id:
        raise DomainError(ErrorCode.INVALID, "the new owner already owns the complaint", ["newOwnerId"])
    previous = complaint.owner_id
    complaint.owner_id = new_owner_id
    complaint.updated_at = now
    await record_step(session, complaint, actor=actor, action="transfer_ownership", now=now, before=complaint.status,
                      changes={"fromOwnerId": previous, "toOwnerId": new_owner_id},
                 note=v.required_text(reason, "reason", max_length=2_000))
    return complaint


# ---------------------------------------------------------------- public access


NUMBER_PATTERN = re.compile(r"^[0-9]{10}$")


async def complaint_by_access(session: AsyncSession, number: str, access_code: str) -> Complaint | None:
    """The complaint for a number and its access code; a wrong code looks exactly like no complaint."""
    supplied = hash_access_code(access_code or "")
    wanted = (number or "").strip()
    complaint = None
    if NUMBER_PATTERN.fullmatch(wanted):
        complaint = (await session.scalars(select(Complaint).where(Complaint.number == wanted))).first()
    stored = complaint.access_code_hash if complaint is not None and complaint.access_code_hash else "0" * 64
    if not hmac.compare_digest(stored, supplied) or complaint is None:
        return None
    return complaint


async def review_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, findings: str,
) -> Complaint:
    """An independent review (seed III item 9): recorded on the trail; the case itself is unchanged. Never by
    someone who handled the case (four eyes, whatever their roles)."""
    complaint = await begin(session, "review_complaint", complaint_id, actor=actor, now=now)
    await record_step(session, complaint, actor=actor, action="review_complaint", now=now, before=complaint.status,
                      note=v.required_text(findings, "findings", max_length=10_000))
    return complaint
