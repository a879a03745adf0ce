"""Extensions that need an approval: requested by one person, decided by another (2020 rules: the bank's second
extension of a decision deadline).

``request_extension`` stores a PENDING ``DeadlineExtensionRequest`` for the deadline's next extension when the
rule says that extension ``requires_approval`` (any other one is granted at once by ``service.extend_deadline``),
at most one pending per deadline. ``approve_extension`` grants it exactly as a direct extension would
(``service.apply_extension``: the period, the plan, the ``DeadlineExtension`` naming requester and approver, the
customer notice with the request's reason); ``reject_extension`` records why not. Whoever asked never decides
(``service.may_decide_extension``: a core rule, whatever their roles or the tenant's policy). The approvers are
told of a new request, the requester of the decision (``outbox.handoffs``). Each change writes one audit event in
the caller's transaction; refusals raise ``DomainError`` and change nothing. Who may request
(``complaint.extend_deadline``) and decide (``complaint.approve_deadline_extension``) is the caller's
authorization, as for every step.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complaint
from services.core.deadlines.models import DeadlineExtensionRequest, ExtensionRequestState
from services.core.deadlines.rules import DeadlineKind
from services.core.deadlines.service import (
    MAX_REASON,
    Extended,
    apply_extension,
    may_decide_extension,
    next_extension,
)
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.outbox import handoffs

State = ExtensionRequestState
MAX_NOTE = 2_000


async def get_request(session: AsyncSession, request_id: uuid.UUID) -> DeadlineExtensionRequest:
    """The request (to authorize the caller on its complaint before deciding), or NOT_FOUND."""
    found = await session.get(DeadlineExtensionRequest, request_id)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND, "extension request not found", ["requestId"])
    return found


async def requests_for(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]
                       ) -> dict[uuid.UUID, list[DeadlineExtensionRequest]]:
    """The extension requests of a page of complaints, oldest first: one statement."""
    found: dict[uuid.UUID, list[DeadlineExtensionRequest]] = {}
    if complaint_ids:
        for r in (await session.scalars(
            select(DeadlineExtensionRequest).where(DeadlineExtensionRequest.complaint_id.in_(list(complaint_ids)))
            .order_by(DeadlineExtensionRequest.complaint_id, DeadlineExtensionRequest.requested_at,
                      DeadlineExtensionRequest.extension_number)
        )).all():
            found.setdefault(r.complaint_id, []).append(r)
    return found


async def requests_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]
                         ) -> dict[uuid.UUID, DeadlineExtensionRequest]:
    if not ids:
        return {}
    return {r.id: r for r in (await session.scalars(
        select(DeadlineExtensionRequest).where(DeadlineExtensionRequest.id.in_(list(ids))))).all()}


async def request_extension(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, complaint_id: uuid.UUID, reason: str,
    complex_case: bool, kind: DeadlineKind = DeadlineKind.DECISION,
) -> DeadlineExtensionRequest:
    """Ask for the next extension of an open deadline when its rule needs an approval.

    Refused like ``extendDeadline`` (an ended case, no open deadline of ``kind``, no extension left, a complex-
    only one for a case not marked complex), and also: an extension that needs no approval (ILLEGAL_TRANSITION:
    extend it directly) and a deadline that has a pending request already (DUPLICATE)."""
    why = v.required_text(reason, "reason", max_length=MAX_REASON)
    nxt = await next_extension(session, complaint_id=complaint_id, kind=kind, complex_case=complex_case,
                               doing=msg("request a deadline extension"))
    if not nxt.requires_approval:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          msg("extension {number} of the {kind} deadline needs no approval: extend it directly "
                              "(extendDeadline)", number=nxt.number, kind=kind.value), ["kind"])
    pending = await session.scalar(select(DeadlineExtensionRequest.id).where(
        DeadlineExtensionRequest.deadline_id == nxt.deadline.id,
        DeadlineExtensionRequest.state == State.PENDING.value))
    if pending is not None:
        raise DomainError(
            ErrorCode.DUPLICATE, msg("the {kind} deadline has a pending extension request already: it must be "
                                                     "approved or rejected first", kind=kind.value), ["kind"])
    request = DeadlineExtensionRequest(
        complaint_id=nxt.complaint.id, deadline_id=nxt.deadline.id, kind=nxt.deadline.kind,
        extension_number=nxt.number, add_days=nxt.add_days, reason=why, complex=complex_case,
        state=State.PENDING.value, requested_by=actor.user_id, requested_at=now,
    )
    session.add(request)
    nxt.complaint.updated_at = now
    await session.flush()
    event = await record_event(
        session, actor=actor, action="request_deadline_extension", subject_type="Complaint",
        subject_id=nxt.complaint.id, now=now, from_status=nxt.complaint.status, to_status=nxt.complaint.status,
        changes={"requestId": request.id, "kind": request.kind, "extension": request.extension_number,
                 "addDays": request.add_days, "complex": complex_case},
        note=why,
    )
    await handoffs.after_step(session, nxt.complaint, action="request_deadline_extension", actor=actor,
                              ref=f"event-{event.seq}", now=now, changes={"requestId": request.id})
    return request


@dataclass(frozen=True)
class Decided:
    request: DeadlineExtensionRequest
    extended: Extended | None  # the extension granted (approved), else None


async def _pending(session: AsyncSession, request_id: uuid.UUID, actor: Actor,
                   verb: str) -> tuple[Complaint, DeadlineExtensionRequest]:
    """Lock the request's complaint, then the request (the order every deadline change takes), and check that it
    is pending and that the actor did not ask for it."""
    found = await get_request(session, request_id)
    complaint = await session.get(Complaint, found.complaint_id, with_for_update=True, populate_existing=True)
    request = await session.get(DeadlineExtensionRequest, request_id, with_for_update=True, populate_existing=True)
    if complaint is None or request is None:  # deleted meanwhile
        raise DomainError(ErrorCode.NOT_FOUND, "extension request not found", ["requestId"])
    if request.state != State.PENDING.value:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          msg("cannot {verb} the request: it was {state} already", verb=verb,
                              state=request.state.lower()), ["requestId"])
    refused = may_decide_extension(request, actor.user_id)
    if refused is not None:
        raise DomainError(ErrorCode.SEPARATION_OF_DUTIES, refused, ["requestId"])
    return complaint, request


async def approve_extension(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, request_id: uuid.UUID, note: str | None = None,
) -> Decided:
    """Approve a pending request: the extension is granted (the requester and the approver recorded on it, the
    customer told the new date and the request's reason). Refused: not pending (ILLEGAL_TRANSITION), the
    requester themselves (SEPARATION_OF_DUTIES), a case ended or a deadline met meanwhile, or a deadline whose
    next extension is no longer the one requested (ILLEGAL_TRANSITION)."""
    complaint, request = await _pending(session, request_id, actor, "approve")
    remark = v.text(note, "note", max_length=MAX_NOTE)
    try:
        nxt = await next_extension(session, complaint_id=complaint.id, kind=DeadlineKind(request.kind),
                                   complex_case=request.complex, doing=msg("approve a deadline extension"))
    except DomainError as exc:
        if exc.code == ErrorCode.ILLEGAL_TRANSITION:
            raise
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          msg("the request can no longer be granted ({reason}): reject it", reason=exc.message),
                          ["requestId"]) from None
    if nxt.deadline.id != request.deadline_id or nxt.number != request.extension_number:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          "the deadline changed since the request (met, or extended otherwise): reject it",
                          ["requestId"])
    extended = await apply_extension(
        session, nxt, actor=actor, now=now, reason=request.reason or "", complex_case=request.complex,
        requested_by=request.requested_by, approved_by=actor.user_id, action="approve_deadline_extension",
        audit={"requestId": request.id}, note=remark,
    )
    request.state = State.APPROVED.value
    request.decided_by, request.decided_at, request.decision_note = actor.user_id, now, remark
    request.extension_id = extended.extension.id
    await session.flush()
    await handoffs.after_step(session, complaint, action="approve_deadline_extension", actor=actor,
                              ref=f"extension-request:{request.id}:decided", now=now, changes={"requestId": request.id})
    return Decided(request, extended)


async def reject_extension(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, request_id: uuid.UUID, reason: str,
) -> Decided:
    """Reject a pending request, with the reason; the deadline stays as it is and a new request may follow.
    Refused: not pending (ILLEGAL_TRANSITION), the requester themselves (SEPARATION_OF_DUTIES)."""
    complaint, request = await _pending(session, request_id, actor, "reject")
    why = v.required_text(reason, "reason", max_length=MAX_NOTE)
    request.state = State.REJECTED.value
    request.decided_by, request.decided_at, request.decision_note = actor.user_id, now, why
    complaint.updated_at = now
    await session.flush()
    await record_event(
        session, actor=actor, action="reject_deadline_extension", subject_type="Complaint", subject_id=complaint.id,
        now=now, from_status=complaint.status, to_status=complaint.status,
        changes={"requestId": request.id, "kind": request.kind, "extension": request.extension_number,
                 "requestedBy": request.requested_by},
        note=why,
    )
    await handoffs.after_step(session, complaint, action="reject_deadline_extension", actor=actor,
                              ref=f"extension-request:{request.id}:decided", now=now, changes={"requestId": request.id})
    return Decided(request, None)


__all__ = ["Decided", "approve_extension", "get_request", "reject_extension", "request_extension", "requests_by_id",
           "requests_for"]
