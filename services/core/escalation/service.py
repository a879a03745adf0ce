"""Re-complaint escalation (seed III item 12) and routing to other authorities (seed II).

``escalate_complaint`` picks the next external body by level (industry association first, then the
regulator; an explicit body is allowed), builds the dossier, moves the complaint to ESCALATED, records the
escalation and enqueues its webhook under the key ``escalation:<complaint>:<step>``, all in the caller's
transaction. At most one escalation exists per (complaint, step): the row is unique, and an automatic
trigger that fires twice for the same survey finds its escalation already there.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import ipaddress
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.models import AuditEvent
from services.core.audit.service import Actor, record_event
from services.core.complaints import lifecycle
from services.core.complaints.models import (
    Complainant,
    Complaint,
    ComplaintStatus,
    CustomerMessage,
    CustomerOpinion,
    Evidence,
    HandlingForm,
    Investigation,
    SatisfactionSurvey,
    TransferSlip,
)
from services.core.complaints.steps import begin, get_for_update, move, record_step, review_window_open
from services.core.deadlines import notices
from services.core.deadlines.models import CustomerNotice
from services.core.errors import DomainError, ErrorCode
from services.core.escalation.models import (
    Escalation,
    EscalationState,
    EscalationTrigger,
    ExternalBody,
    ExternalBodyKind,
    Routing,
    RoutingMode,
)
from services.core.i18n import msg
from services.core.org.models import Category, OrgUnit, TenantSettings
from services.core.outbox.models import OutboxKind
from services.core.outbox.service import body_bytes, enqueue, notify

S = ComplaintStatus
RECOMPLAINT_GUIDANCE = "RECOMPLAINT_GUIDANCE"
REFERRED_NOTICE = "REFERRED"
REDACTED = "[redacted]"
MAX_LEVEL = 9
DOSSIER_VERSION = 1


# ------------------------------------------------------------------ the directory


def _url(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    parts = urlsplit(cleaned)
    production = os.environ.get("COMPLAINTDESK_ENV", "production").strip() in ("", "production")
    if len(cleaned) > 2000 or not parts.hostname or parts.username or parts.password:
        raise DomainError(ErrorCode.INVALID, "webhookUrl must be an https:// URL", [field])
    loopback = False
    with contextlib.suppress(ValueError):
        loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
    if parts.scheme == "https" or (parts.scheme == "http" and loopback and not production):
        return cleaned
    raise DomainError(ErrorCode.INVALID, "webhookUrl must be an https:// URL", [field])


@dataclass(frozen=True)
class ExternalBodyInput:
    name: str
    kind: ExternalBodyKind
    handles: Sequence[str] = ()
    handles_text: str | None = None
    contact: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None  # None keeps the stored secret; "" removes it
    escalation_level: int | None = None
    receives_personal_data: bool = False
    active: bool = True


async def upsert_external_body(
    session: AsyncSession, *, now: datetime, data: ExternalBodyInput, body_id: uuid.UUID | None = None,
) -> ExternalBody:
    """Create an external body, or change the one with ``body_id``."""
    name = v.required_text(data.name, "name", max_length=200)
    handles = [v.required_text(h, "handles", max_length=64) for h in data.handles]
    if len(handles) > 50:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "at most 50 entries in handles", ["handles"])
    level = data.escalation_level
    if level is not None and not 1 <= level <= MAX_LEVEL:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("escalationLevel is 1 to {max_level}",
                max_level=MAX_LEVEL), ["escalationLevel"])
    url = _url(data.webhook_url, "webhookUrl")
    secret = data.webhook_secret
    if secret and not 16 <= len(secret) <= 200:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "webhookSecret is 16 to 200 characters", ["webhookSecret"])
    clash = await session.scalar(select(ExternalBody.id).where(ExternalBody.name == name))
    if clash is not None and clash != body_id:
        raise DomainError(ErrorCode.DUPLICATE, "an external body with this name exists", ["name"])
    if body_id is None:
        body = ExternalBody(created_at=now)
        session.add(body)
    else:
        found = await session.get(ExternalBody, body_id, with_for_update=True)
        if found is None:
            raise DomainError(ErrorCode.NOT_FOUND, "external body not found", ["id"])
        body = found
    body.name, body.kind, body.handles = name, data.kind.value, handles
    body.handles_text = v.text(data.handles_text, "handlesText", max_length=2_000)
    body.contact = v.text(data.contact, "contact", max_length=1_000)
    body.webhook_url = url
    if secret is not None:
        body.webhook_secret = secret or None
    body.escalation_level = level
    body.receives_personal_data = data.receives_personal_data
    body.active = data.active
    body.updated_at = now
    await session.flush()
    return body


async def list_external_bodies(session: AsyncSession, *, handles: str | None = None) -> list[ExternalBody]:
    query = select(ExternalBody).order_by(ExternalBody.escalation_level.nulls_last(), ExternalBody.name)
    if handles:
        query = query.where(ExternalBody.handles.contains([handles]))
    return list((await session.scalars(query)).all())


async def _usable_body(session: AsyncSession, body_id: uuid.UUID, field: str) -> ExternalBody:
    body = await session.get(ExternalBody, body_id)
    if body is None or not body.active:
        raise DomainError(ErrorCode.NOT_FOUND, "external body not found", [field])
    return body


# ------------------------------------------------------------------ the dossier


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def _redactor(identity: dict[str, Any]) -> Any:
    """Replaces the complainant's name, phone, e-mail, ID number and address wherever they appear in text."""
    needles: list[str] = []
    for key in ("name", "phone", "email", "id_number", "address"):
        value = identity.get(key)
        if isinstance(value, str) and len(value.strip()) >= 2:
            needles.append(value.strip())
    digits = v.phone_key(identity.get("phone")) if identity.get("phone") else None
    if digits and len(digits) >= 7:
        needles.append(digits)
    patterns = [re.compile(re.escape(n), re.IGNORECASE) for n in sorted(set(needles), key=len, reverse=True)]

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            for p in patterns:
                value = p.sub(REDACTED, value)
            return value
        if isinstance(value, dict):
            return {k: scrub(x) for k, x in value.items()}
        if isinstance(value, list):
            return [scrub(x) for x in value]
        return value

    return scrub


redactor = _redactor
"""The same, for other parts of core (erasure scrubs a stored draft with it)."""


async def build_dossier(
    session: AsyncSession, complaint: Complaint, body: ExternalBody, *, step: int | None, reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The case file for an external body: summary, timeline, forms, evidence hashes.

    The complainant's identity goes in only when the body ``receives_personal_data``; otherwise it is left
    out and scrubbed from every free text of the file."""
    cid = complaint.id
    category = await session.get(Category, complaint.category_id) if complaint.category_id else None
    department = (await session.get(OrgUnit, complaint.responsible_department_id)
                  if complaint.responsible_department_id else None)
    events = (await session.scalars(
        select(AuditEvent).where(AuditEvent.subject_id == cid).order_by(AuditEvent.seq))).all()
    investigation = await session.get(Investigation, cid)
    slips = (await session.scalars(select(TransferSlip).where(TransferSlip.complaint_id == cid)
                                   .order_by(TransferSlip.sent_at))).all()
    forms = (await session.scalars(select(HandlingForm).where(HandlingForm.complaint_id == cid)
                                   .order_by(HandlingForm.version))).all()
    opinions = (await session.scalars(select(CustomerOpinion).where(CustomerOpinion.complaint_id == cid)
                                      .order_by(CustomerOpinion.recorded_at))).all()
    surveys = (await session.scalars(select(SatisfactionSurvey).where(SatisfactionSurvey.complaint_id == cid)
                                     .order_by(SatisfactionSurvey.recorded_at))).all()
    messages = (await session.scalars(select(CustomerMessage).where(CustomerMessage.complaint_id == cid)
                                      .order_by(CustomerMessage.sent_at))).all()
    evidence = (await session.scalars(select(Evidence).where(Evidence.complaint_id == cid)
                                      .order_by(Evidence.uploaded_at))).all()
    previous = (await session.scalars(select(Escalation).where(Escalation.complaint_id == cid)
                                      .order_by(Escalation.step))).all()
    complainant = await session.get(Complainant, complaint.complainant_id)
    identity: dict[str, Any] = dict(complainant.identity or {}) if complainant is not None else {}
    dossier: dict[str, Any] = {
        "version": DOSSIER_VERSION,
        "preparedAt": _iso(now),
        "recipient": {"name": body.name, "kind": body.kind, "level": body.escalation_level},
        "escalation": {"step": step, "reason": reason,
                       "previous": [{"step": e.step, "level": e.level, "state": e.state,
                                     "createdAt": _iso(e.created_at)} for e in previous]},
        "case": {
            "number": complaint.number, "title": complaint.title, "description": complaint.description,
            "status": complaint.status, "channel": complaint.channel, "scope": complaint.scope,
            "cause": complaint.cause, "category": ({"code": category.code, "name": category.name}
                                                   if category else None),
            "responsibleDepartment": department.name if department else None,
            "orderNumber": complaint.order_number, "amount": _iso(complaint.amount),
            "litigation": complaint.litigation, "repeat": complaint.repeat_of_id is not None,
            "receivedAt": _iso(complaint.created_at), "closedAt": _iso(complaint.closed_at),
            "resolution": complaint.resolution,
        },
        "timeline": [{"at": _iso(e.occurred_at), "action": e.action, "from": e.from_status, "to": e.to_status}
                     for e in events],
        "forms": {
            "investigation": None if investigation is None else {
                "valid": investigation.valid, "findings": investigation.findings,
                "startedAt": _iso(investigation.started_at), "submittedAt": _iso(investigation.submitted_at)},
            "transferSlips": [{"instructions": s.instructions, "sentAt": _iso(s.sent_at),
                               "answeredAt": _iso(s.answered_at)} for s in slips],
            "handlingForms": [{"version": f.version, "status": f.status, "causeAnalysis": f.cause_analysis,
                               "solution": f.solution, "customerReply": f.customer_reply,
                               "compensationAmount": _iso(f.compensation_amount),
                               "proposedAt": _iso(f.proposed_at), "decidedAt": _iso(f.decided_at)} for f in forms],
            "customerOpinions": [{"agreed": o.agreed, "comment": o.comment, "at": _iso(o.recorded_at)}
                                 for o in opinions],
            "satisfactionSurveys": [{"rating": s.rating, "comment": s.comment, "at": _iso(s.recorded_at)}
                                    for s in surveys],
            "customerMessages": [{"body": m.body, "at": _iso(m.sent_at)} for m in messages],
        },
        "evidence": [{"sha256": e.sha256, "size": e.size, "contentType": e.content_type,
                      "uploadedAt": _iso(e.uploaded_at),
                      **({"filename": e.filename} if body.receives_personal_data else {})} for e in evidence],
        "personalDataIncluded": bool(body.receives_personal_data),
    }
    if body.receives_personal_data:
        dossier["complainant"] = {k: identity.get(k) for k in ("name", "phone", "email", "id_number", "address")}
        return dossier
    scrubbed: dict[str, Any] = _redactor(identity)(dossier)
    return scrubbed


def dossier_hash(dossier: dict[str, Any]) -> str:
    return hashlib.sha256(body_bytes(dossier)).hexdigest()


# ------------------------------------------------------------------ escalation


async def _next_body(session: AsyncSession, after_level: int | None) -> ExternalBody:
    query = (select(ExternalBody)
             .where(ExternalBody.active.is_(True), ExternalBody.escalation_level.is_not(None),
                    ExternalBody.webhook_url.is_not(None))
             .order_by(ExternalBody.escalation_level, ExternalBody.name).limit(1))
    if after_level is not None:
        query = query.where(ExternalBody.escalation_level > after_level)
    body = (await session.scalars(query)).first()
    if body is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no external body is configured for the next escalation level "
                          "(an active body with an escalation level and a webhook)", ["externalBodyId"])
    return body


def escalation_key(complaint_id: uuid.UUID, step: int) -> str:
    return f"escalation:{complaint_id}:{step}"


async def escalate_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, reason: str,
    body_id: uuid.UUID | None = None, step: int | None = None,
    trigger: EscalationTrigger = EscalationTrigger.MANUAL, trigger_ref: str | None = None,
) -> Escalation:
    """Escalate to the next external body (or ``body_id``). ``step``, when given, makes a retry idempotent:
    the escalation already at that step is returned unchanged."""
    complaint = await get_for_update(session, complaint_id)
    existing = list((await session.scalars(
        select(Escalation).where(Escalation.complaint_id == complaint.id).order_by(Escalation.step))).all())
    if step is not None:
        done = next((e for e in existing if e.step == step), None)
        if done is not None:
            return done
        if step != len(existing) + 1:
            raise DomainError(
                ErrorCode.INVALID, msg("the next escalation step is {step}", step=len(existing) + 1), ["step"])
    if trigger_ref is not None:
        done = next((e for e in existing if e.trigger_ref == trigger_ref), None)
        if done is not None:
            return done
    # a final answer the customer may take further (unfounded, closed, reopened after an unsatisfied follow-up);
    # an escalated case goes on to the next level
    lifecycle.require("escalate_complaint", lifecycle.Facts(status=S(complaint.status)))
    why = v.required_text(reason, "reason", max_length=5_000)
    if body_id is not None:
        body = await _usable_body(session, body_id, "externalBodyId")
        if not body.webhook_url:
            raise DomainError(ErrorCode.INVALID, "this external body has no webhook to deliver a dossier to",
                              ["externalBodyId"])
    else:
        levels = [e.level for e in existing if e.level is not None]
        body = await _next_body(session, max(levels) if levels else None)
    number = (existing[-1].step if existing else 0) + 1
    dossier = await build_dossier(session, complaint, body, step=number, reason=why, now=now)
    key = escalation_key(complaint.id, number)
    escalation = Escalation(
        complaint_id=complaint.id, step=number, external_body_id=body.id, level=body.escalation_level,
        idempotency_key=key, trigger=trigger.value, trigger_ref=trigger_ref, reason=why,
        dossier_sha256=dossier_hash(dossier), personal_data_included=bool(body.receives_personal_data),
        state=EscalationState.PENDING.value, created_by=actor.user_id, created_at=now,
    )
    session.add(escalation)
    await session.flush()
    escalation.outbox_id = await enqueue(
        session, OutboxKind.WEBHOOK, key,
        {"event": "complaint.escalated", "idempotencyKey": key, "dossierSha256": escalation.dossier_sha256,
         "dossier": dossier},
        target=f"external_body:{body.id}", now=now, complaint_id=complaint.id,
    )
    before = move(complaint, S.ESCALATED, now)
    await record_step(session, complaint, actor=actor, action="escalate_complaint", now=now, before=before,
                 changes={"step": number, "externalBodyId": body.id, "level": body.escalation_level,
                          "trigger": trigger.value, "dossierSha256": escalation.dossier_sha256,
                          "personalDataIncluded": escalation.personal_data_included},
                 note=why)
    await notify(session, user_ids=[complaint.owner_id], key=f"{key}:owner", kind="ESCALATED",
                 title=msg("Complaint {number} escalated to {body}", number=complaint.number, body=body.name),
                 complaint_id=complaint.id, now=now)
    return escalation


class AfterFinalAnswer(enum.StrEnum):
    """What follows a final answer the customer may take outside the company (seed III item 12)."""

    GUIDE = "GUIDE"
    """tell the customer where to re-complain: the association's and the regulator's names and contacts"""
    FORWARD = "FORWARD"
    """forward the dossier to the next external body"""


@dataclass(frozen=True)
class EscalationSettings:
    """The tenant's escalation settings (one row, ``tenant_settings``)."""

    auto_escalate_on_final_dissatisfaction: bool
    after_final_answer: tuple[AfterFinalAnswer, ...] = (AfterFinalAnswer.GUIDE,)


def _after(values: Sequence[str] | None) -> tuple[AfterFinalAnswer, ...]:
    return tuple(a for a in AfterFinalAnswer if a.value in (values or ()))


async def escalation_settings(session: AsyncSession) -> EscalationSettings:
    row = (await session.execute(
        select(TenantSettings.auto_escalate_on_final_dissatisfaction, TenantSettings.after_final_answer)
        .where(TenantSettings.id == 1))).first()
    if row is None:
        return EscalationSettings(False)
    return EscalationSettings(bool(row[0]), _after(row[1]))


async def update_escalation_settings(
    session: AsyncSession, *, actor: Actor, now: datetime, auto_escalate_on_final_dissatisfaction: bool | None = None,
    after_final_answer: Sequence[AfterFinalAnswer] | None = None,
) -> EscalationSettings:
    """Change automatic escalation on final dissatisfaction and what follows a final answer (None keeps a
    value); a change is audited (the values before and after), setting the values it has already changes
    nothing. Cases already reopened stay as they are: the settings decide at the next final answer."""
    settings = await session.get(TenantSettings, 1, with_for_update=True)
    if settings is None:
        raise DomainError(ErrorCode.NOT_FOUND, "tenant settings not found")
    before = EscalationSettings(bool(settings.auto_escalate_on_final_dissatisfaction),
                                _after(settings.after_final_answer))
    wanted = EscalationSettings(
        before.auto_escalate_on_final_dissatisfaction if auto_escalate_on_final_dissatisfaction is None
        else bool(auto_escalate_on_final_dissatisfaction),
        before.after_final_answer if after_final_answer is None else _after([a.value for a in after_final_answer]))
    if wanted != before:
        settings.auto_escalate_on_final_dissatisfaction = wanted.auto_escalate_on_final_dissatisfaction
        settings.after_final_answer = [a.value for a in wanted.after_final_answer]
        changes: dict[str, Any] = {}
        if wanted.auto_escalate_on_final_dissatisfaction != before.auto_escalate_on_final_dissatisfaction:
            changes.update(autoEscalateOnFinalDissatisfaction=wanted.auto_escalate_on_final_dissatisfaction,
                           before=before.auto_escalate_on_final_dissatisfaction)
        if wanted.after_final_answer != before.after_final_answer:
            changes.update(afterFinalAnswer=[a.value for a in wanted.after_final_answer],
                           afterFinalAnswerBefore=[a.value for a in before.after_final_answer])
        await record_event(session, actor=actor, action="update_escalation_settings", subject_type="TenantSettings",
                           subject_id=None, now=now, changes=changes)
    return wanted


async def on_final_dissatisfaction(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, survey_id: uuid.UUID,
) -> Escalation | None:
    """The hook ``record_follow_up`` calls when the customer is not satisfied with the final answer.

    Where the customer may still ask for a review of the decision (an open review window: the bank's 复核),
    nothing leaves the company yet: the review comes first, and what follows its answer (or its breach) is the
    tenant's after-final-answer setting. Otherwise the customer is told where to re-complain when the setting
    says GUIDE, and the case escalates when ``auto_escalate_on_final_dissatisfaction`` says so; once per survey
    however often it fires. With no body configured the owner is told, and the complaint stays REOPENED."""
    if await review_window_open(session, complaint_id, now):
        return None
    settings = await escalation_settings(session)
    if AfterFinalAnswer.GUIDE in settings.after_final_answer:
        await guide_customer(session, complaint_id=complaint_id, now=now, ref=f"survey:{survey_id}")
    if not settings.auto_escalate_on_final_dissatisfaction:
        return None
    return await _escalate_automatically(
        session, actor=actor, now=now, complaint_id=complaint_id, ref=f"survey:{survey_id}",
        reason="The customer is not satisfied with the final answer (automatic escalation).",
        trigger=EscalationTrigger.FINAL_DISSATISFACTION,
    )


async def _escalate_automatically(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, ref: str, reason: str,
    trigger: EscalationTrigger,
) -> Escalation | None:
    """Escalate once per ``ref``; refused (no body configured, a status that cannot escalate), the owner is
    told and nothing else changes (the attempt runs in a savepoint)."""
    try:
        async with session.begin_nested():
            return await escalate_complaint(session, actor=actor, now=now, complaint_id=complaint_id, reason=reason,
                                            trigger=trigger, trigger_ref=ref)
    except DomainError as exc:
        owner = await session.scalar(select(Complaint.owner_id).where(Complaint.id == complaint_id))
        if owner is not None:
            await notify(session, user_ids=[owner], key=f"auto-escalation-refused:{ref}",
                         kind="ESCALATION_NOT_POSSIBLE", title=msg("Automatic escalation was not possible"),
                         body=exc.message, complaint_id=complaint_id, now=now)
        return None


async def on_review_overdue(
    session: AsyncSession, *, now: datetime, complaint_id: uuid.UUID, deadline_id: uuid.UUID,
) -> Escalation | None:
    """The hook the deadline sweep calls when a REVIEW deadline is breached (seed III item 12: a review
    request answered out of time goes to the next body). Once per deadline (trigger ref
    ``deadline:<id>:escalate``) however often it fires; whatever the tenant's auto-escalation setting (that
    one is about the customer's final answer). Refused (no body configured, a status that cannot escalate):
    the owner is told, and nothing else changes."""
    settings = await escalation_settings(session)
    if AfterFinalAnswer.GUIDE in settings.after_final_answer:
        await guide_customer(session, complaint_id=complaint_id, now=now, ref=f"deadline:{deadline_id}")
    if AfterFinalAnswer.FORWARD not in settings.after_final_answer:
        return None
    return await _escalate_automatically(
        session, actor=Actor.system(), now=now, complaint_id=complaint_id, ref=f"deadline:{deadline_id}:escalate",
        reason="The review request was not answered in time (automatic escalation).",
        trigger=EscalationTrigger.REVIEW_OVERDUE,
    )


async def after_final_answer(
    session: AsyncSession, *, complaint_id: uuid.UUID, now: datetime, ref: str,
) -> Escalation | None:
    """A final answer the customer may take outside (a review upheld): the tenant's setting tells the customer
    where to re-complain (GUIDE) and/or forwards the dossier to the next body (FORWARD), once per ``ref``."""
    settings = await escalation_settings(session)
    if AfterFinalAnswer.GUIDE in settings.after_final_answer:
        await guide_customer(session, complaint_id=complaint_id, now=now, ref=ref)
    if AfterFinalAnswer.FORWARD not in settings.after_final_answer:
        return None
    return await _escalate_automatically(
        session, actor=Actor.system(), now=now, complaint_id=complaint_id, ref=f"{ref}:forward",
        reason="The review upheld the decision; the dossier is forwarded (the tenant's setting).",
        trigger=EscalationTrigger.AFTER_REVIEW,
    )


async def recomplaint_bodies(session: AsyncSession) -> list[ExternalBody]:
    """Where a customer may re-complain: the active bodies with an escalation level (association, then
    regulator), in that order."""
    return list((await session.scalars(
        select(ExternalBody).where(ExternalBody.active.is_(True), ExternalBody.escalation_level.is_not(None))
        .order_by(ExternalBody.escalation_level, ExternalBody.name))).all())


def _contact_line(body: ExternalBody) -> str:
    return f"{body.name}" + (f" ({body.contact})" if body.contact else "")


async def guide_customer(session: AsyncSession, *, complaint_id: uuid.UUID, now: datetime, ref: str) -> None:
    """Tell the customer where to re-complain (a customer notice naming the bodies and their contacts; the
    tracking page lists them from then on), once per ``ref``."""
    bodies = await recomplaint_bodies(session)
    notice = CustomerNotice(complaint_id=complaint_id, kind=RECOMPLAINT_GUIDANCE, dedup_key=f"{ref}:guidance",
                            created_at=now, **notices.keyed(*notices.guidance([_contact_line(b) for b in bodies])))
    exists_ = await session.scalar(select(CustomerNotice.id).where(CustomerNotice.dedup_key == notice.dedup_key))
    if exists_ is None:
        session.add(notice)
        await session.flush()


async def guided(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The complaints whose customers were told where to re-complain."""
    ids = list(complaint_ids)
    if not ids:
        return set()
    return set((await session.scalars(select(CustomerNotice.complaint_id).where(
        CustomerNotice.complaint_id.in_(ids), CustomerNotice.kind == RECOMPLAINT_GUIDANCE))).all())


async def escalations_for(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    rows = (await session.scalars(select(Escalation).where(Escalation.complaint_id.in_(list(complaint_ids)))
                                  .order_by(Escalation.complaint_id, Escalation.step))).all()
    out: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        out.setdefault(row.complaint_id, []).append(row)
    return out


async def routings_for(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    rows = (await session.scalars(select(Routing).where(Routing.complaint_id.in_(list(complaint_ids)))
                                  .order_by(Routing.complaint_id, Routing.created_at))).all()
    out: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        out.setdefault(row.complaint_id, []).append(row)
    return out


async def bodies_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ExternalBody]:
    return {b.id: b for b in (await session.scalars(select(ExternalBody).where(ExternalBody.id.in_(list(ids)))))}


# ------------------------------------------------------------------ routing


async def route_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, body_id: uuid.UUID,
    mode: RoutingMode, note: str | None = None,
) -> Routing:
    """A complaint for another authority: send it there (its webhook, if it has one) or tell the customer
    where to go; recorded either way, the complaint's status unchanged."""
    complaint = await begin(session, "route_complaint", complaint_id, actor=actor, now=now)
    if mode == RoutingMode.REFERRED:
        raise DomainError(ErrorCode.INVALID, "to refer the complaint (it ends as REFERRED) use referComplaint",
                          ["mode"])
    body = await _usable_body(session, body_id, "externalBodyId")
    text_ = v.text(note, "note", max_length=5_000)
    count = int(await session.scalar(select(func.count()).select_from(Routing)
                                     .where(Routing.complaint_id == complaint.id)) or 0)
    routing = Routing(complaint_id=complaint.id, external_body_id=body.id, mode=mode.value, note=text_,
                      created_by=actor.user_id, created_at=now)
    session.add(routing)
    await session.flush()
    if mode == RoutingMode.ROUTED and body.webhook_url:
        key = f"routing:{complaint.id}:{count + 1}"
        dossier = await build_dossier(session, complaint, body, step=None, reason=text_, now=now)
        await enqueue(session, OutboxKind.WEBHOOK, key,
                      {"event": "complaint.routed", "idempotencyKey": key, "dossier": dossier},
                      target=f"external_body:{body.id}", now=now, complaint_id=complaint.id)
    complaint.updated_at = now
    await record_step(session, complaint, actor=actor, action="route_complaint", now=now, before=complaint.status,
                 changes={"externalBodyId": body.id, "mode": mode.value, "routingId": routing.id}, note=text_)
    return routing


async def refer_complaint(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, body_id: uuid.UUID,
    note: str | None = None,
) -> Routing:
    """Seed II: the matter belongs to another authority (a hospital's charges: the health administration and
    the price bureau). The case ends as REFERRED (counted apart from withdrawn ones), the company's deadlines
    are met, and the customer is told which body and how to reach it (a customer notice; the tracking page
    shows the body)."""
    complaint = await begin(session, "refer_complaint", complaint_id, actor=actor, now=now)
    body = await _usable_body(session, body_id, "externalBodyId")
    text_ = v.text(note, "note", max_length=5_000)
    routing = Routing(complaint_id=complaint.id, external_body_id=body.id, mode=RoutingMode.REFERRED.value,
                      note=text_, created_by=actor.user_id, created_at=now)
    session.add(routing)
    await session.flush()
    session.add(CustomerNotice(
        complaint_id=complaint.id, kind=REFERRED_NOTICE, dedup_key=f"referral:{routing.id}", created_at=now,
        **notices.keyed(*notices.referred(_contact_line(body)))))
    before = move(complaint, S.REFERRED, now)
    await record_step(session, complaint, actor=actor, action="refer_complaint", now=now, before=before,
                      changes={"externalBodyId": body.id, "routingId": routing.id}, note=text_)
    return routing


async def referral_of(session: AsyncSession, complaint_id: uuid.UUID) -> ExternalBody | None:
    """The body a REFERRED complaint was referred to."""
    return (await session.scalars(
        select(ExternalBody).join(Routing, Routing.external_body_id == ExternalBody.id)
        .where(Routing.complaint_id == complaint_id, Routing.mode == RoutingMode.REFERRED.value)
        .order_by(Routing.created_at.desc()).limit(1))).first()
