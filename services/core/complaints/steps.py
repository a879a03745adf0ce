"""Moving a case: lock it, read the facts the lifecycle's guards need, check the step, change the status, and
record the step (audit event and deadlines) in the caller's transaction.

The public API every step uses — the complaint steps, escalation and routing, appraisal and deadline
extensions — so the rules of ``lifecycle.STEPS`` apply the same way everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability.models import RESPONSIBILITY_NEWEST_FIRST, RepeatProposal, Responsibility
from services.core.audit.models import AuditEvent
from services.core.audit.service import Actor, record_event
from services.core.complaints import lifecycle
from services.core.complaints.lifecycle import HANDLING_ACTIONS, Facts, FormFacts, ResponsibilityFacts, ReviewFacts
from services.core.complaints.models import (
    Complaint,
    ComplaintStatus,
    CustomerMessage,
    HandlingForm,
    HandlingFormKind,
    HandlingFormStatus,
    Investigation,
    Review,
    ReviewState,
)
from services.core.deadlines import appraisal as appraisals
from services.core.deadlines import service as deadlines
from services.core.deadlines.models import Deadline, DeadlineExtensionRequest, ExtensionRequestState
from services.core.deadlines.rules import DeadlineKind
from services.core.errors import DomainError, ErrorCode
from services.core.messages import service as customer_messages
from services.core.outbox import handoffs
from services.core.statistics import facts

S = ComplaintStatus



async def get_for_update(session: AsyncSession, complaint_id: uuid.UUID) -> Complaint:
    complaint = await session.get(Complaint, complaint_id, with_for_update=True, populate_existing=True)
    if complaint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    return complaint


async def current_form(session: AsyncSession, complaint_id: uuid.UUID) -> HandlingForm | None:
    return (await session.scalars(
        select(HandlingForm).where(HandlingForm.complaint_id == complaint_id)
        .order_by(HandlingForm.version.desc()).limit(1)
    )).first()


async def current_review(session: AsyncSession, complaint_id: uuid.UUID) -> Review | None:
    return (await session.scalars(
        select(Review).where(Review.complaint_id == complaint_id).order_by(Review.requested_at.desc()).limit(1)
    )).first()


async def handlers_of(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """Who handled each case: its owner, its investigator, and the actors of its handling steps."""
    ids = list(complaint_ids)
    found: dict[uuid.UUID, set[uuid.UUID]] = {i: set() for i in ids}
    if not ids:
        return found
    rows: Sequence[Any] = (await session.execute(union(
        select(Complaint.id, Complaint.owner_id).where(Complaint.id.in_(ids)),
        select(Investigation.complaint_id, Investigation.investigator_id).where(Investigation.complaint_id.in_(ids)),
        select(AuditEvent.subject_id, AuditEvent.actor_id).where(
            AuditEvent.subject_id.in_(ids), AuditEvent.actor_id.is_not(None),
            AuditEvent.action.in_(HANDLING_ACTIONS)),
    ))).all()
    for cid, uid in rows:
        if uid is not None:
            found.setdefault(cid, set()).add(uid)
    return found


async def review_window_until(session: AsyncSession, complaint_id: uuid.UUID, now: datetime) -> datetime | None:
    """Until when the customer may still ask for a review of the decision (the open, unlapsed REVIEW_REQUEST
    window's due time), or None."""
    found: datetime | None = await session.scalar(select(Deadline.due_at).where(
        Deadline.complaint_id == complaint_id, Deadline.kind == DeadlineKind.REVIEW_REQUEST.value,
        Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None), Deadline.due_at > now
    ).order_by(Deadline.due_at.desc()).limit(1))
    return found


async def review_window_open(session: AsyncSession, complaint_id: uuid.UUID, now: datetime) -> bool:
    return await review_window_until(session, complaint_id, now) is not None


async def load_facts(session: AsyncSession, complaint: Complaint, now: datetime, *, handlers: bool = True) -> Facts:
    """What the lifecycle's guards read about one case (a few statements, whatever its history); who handled it
    only when ``handlers`` (the four-eyes rules need it)."""
    cid = complaint.id
    investigation = await session.get(Investigation, cid)
    form = await current_form(session, cid)
    form_facts = None
    if form is not None:
        sent = form.status == HandlingFormStatus.APPROVED and bool(await session.scalar(
            select(CustomerMessage.id).where(CustomerMessage.handling_form_id == form.id).limit(1)))
        submitted = investigation.submitted_at if investigation is not None else None
        form_facts = FormFacts(
            kind=HandlingFormKind(form.kind), status=HandlingFormStatus(form.status), proposed_by=form.proposed_by,
            current_cycle=submitted is None or form.proposed_at >= submitted, sent=sent)
    review = await current_review(session, cid)
    handled = (await handlers_of(session, [cid]))[cid] if handlers else set()
    requesters = tuple((await session.scalars(select(DeadlineExtensionRequest.requested_by).where(
        DeadlineExtensionRequest.complaint_id == cid,
        DeadlineExtensionRequest.state == ExtensionRequestState.PENDING.value))).all())
    attribution = (await session.execute(
        select(Responsibility.state, Responsibility.proposed_by).where(Responsibility.complaint_id == cid)
        .order_by(*RESPONSIBILITY_NEWEST_FIRST).limit(1))).first()
    repeat = await session.scalar(select(RepeatProposal.id).where(
        RepeatProposal.complaint_id == cid, RepeatProposal.state == "PROPOSED"))
    return Facts(
        status=S(complaint.status),
        investigation_submitted=investigation is not None and investigation.submitted_at is not None,
        investigation_valid=investigation.valid if investigation is not None else None,
        form=form_facts,
        review=ReviewFacts(ReviewState(review.state), review.reviewer_id) if review is not None else None,
        review_window_open=await review_window_open(session, cid, now),
        handlers=frozenset(handled),
        on_appraisal=complaint.appraisal_started_at is not None,
        extension_requesters=requesters,
        responsibility=ResponsibilityFacts(attribution.state == "PROPOSED", attribution.proposed_by)
        if attribution is not None else None,
        repeat_proposed=repeat is not None,
    )


async def begin_with_facts(
    session: AsyncSession, name: str, complaint_id: uuid.UUID, *, actor: Actor, now: datetime,
) -> tuple[Complaint, Facts]:
    """Lock the case and check that step ``name`` may happen now (for this actor): the start of every step."""
    complaint = await get_for_update(session, complaint_id)
    facts = await load_facts(session, complaint, now, handlers=lifecycle.STEPS[name].person is not None)
    lifecycle.require(name, facts, actor.user_id)
    return complaint, facts


async def begin(session: AsyncSession, name: str, complaint_id: uuid.UUID, *, actor: Actor, now: datetime
                ) -> Complaint:
    return (await begin_with_facts(session, name, complaint_id, actor=actor, now=now))[0]


def move(complaint: Complaint, to: ComplaintStatus, now: datetime) -> str:
    """Change the status. A CLOSED case is archived (seed I step 7): ``lifecycle.STEPS`` lets only a review
    request, a reopen or an escalation (and the litigation flag) touch it."""
    before = complaint.status
    complaint.status = to.value
    complaint.updated_at = now
    if to == S.CLOSED:
        complaint.closed_at = now
    elif before == S.CLOSED:
        complaint.closed_at = None
    return before


async def record_step(
    session: AsyncSession,
    complaint: Complaint,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    before: str | None,
    changes: dict[str, Any] | None = None,
    note: str | None = None,
    message_params: dict[str, Any] | None = None,
) -> None:
    """The step's audit event, then its deadlines (started, met, paused, resumed), its hand-off notifications
    (``outbox.handoffs.RULES``), the statistics' facts (``statistics.facts``) and its messages to the customer
    (``messages.service.RULES``; ``message_params``: what a message needs that is not stored in plaintext, the
    access code), in the step's transaction."""
    event = await record_event(
        session, actor=actor, action=action, subject_type="Complaint", subject_id=complaint.id, now=now,
        from_status=before, to_status=complaint.status, changes=changes or {}, note=note,
    )
    await deadlines.on_step(session, complaint, action=action, before=before, now=now)
    if complaint.appraisal_started_at is not None:  # a case that ends ends its external appraisal too
        await appraisals.end_with_case(session, complaint, actor=actor, now=now, action=action)
    await handoffs.after_step(session, complaint, action=action, actor=actor, ref=f"event-{event.seq}", now=now,
                              before=before, changes=changes)
    await session.flush()
    await facts.refresh(session, complaint, now=now, calendar=deadlines.lazy_calendar(session))
    await customer_messages.after_step(session, complaint, action=action, ref=f"event-{event.seq}", now=now,
                                       changes=changes, params=message_params, actor_id=actor.user_id)
