"""External appraisal (鉴定/评估): a time the case waits on a third party, not counted in the deadlines whose
``pause_in`` names ``EXTERNAL_APPRAISAL`` (the 2020 rules for banking and insurance consumer complaints; a
product inspection in retail).

``start_external_appraisal`` sets ``complaints.appraisal_started_at``, opens an ``appraisals`` row (reason,
appraiser: sealed) and pauses those open deadlines; ``end_external_appraisal`` closes the row (outcome: sealed),
clears the flag and resumes them, unless something else in their ``pause_in`` still holds, with the pause
counted and the due time planned again (``service.follow_pause``, the same code as a status pause). A deadline
started meanwhile starts paused (``service.on_step``). Closing or withdrawing the case ends its appraisal
(``end_with_case``). Each change writes one audit event, in the caller's transaction; refusals raise
``DomainError`` and change nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.complaints import lifecycle
from services.core.complaints.models import Complaint, ComplaintStatus
from services.core.deadlines.models import Deadline, ExternalAppraisal
from services.core.deadlines.service import follow_pause, holding, lazy_calendar, open_deadlines
from services.core.errors import DomainError, ErrorCode

MAX_REASON = 2_000
MAX_APPRAISER = 200


async def _open_complaint(session: AsyncSession, complaint_id: uuid.UUID, step: str) -> Complaint:
    """Lock the case and check the step against the lifecycle (an open case; on appraisal or not)."""
    complaint = await session.get(Complaint, complaint_id, with_for_update=True, populate_existing=True)
    if complaint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    lifecycle.require(step, lifecycle.Facts(status=ComplaintStatus(complaint.status),
                                            on_appraisal=complaint.appraisal_started_at is not None))
    return complaint


async def _current(session: AsyncSession, complaint_id: uuid.UUID) -> ExternalAppraisal | None:
    return (await session.scalars(
        select(ExternalAppraisal).where(ExternalAppraisal.complaint_id == complaint_id,
                                        ExternalAppraisal.ended_at.is_(None)).with_for_update()
    )).first()


async def _follow(session: AsyncSession, complaint: Complaint, now: dt.datetime) -> list[Deadline]:
    """Pause or resume the complaint's open deadlines by what holds now; returns those that changed."""
    calendar = lazy_calendar(session)
    held = holding(complaint)
    return [d for d in await open_deadlines(session, complaint.id) if await follow_pause(d, held, now, calendar)]


def _kinds(deadlines: Sequence[Deadline]) -> list[str]:
    return [d.kind + (f":{d.stage}" if d.stage else "") for d in deadlines]


async def start_external_appraisal(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, complaint_id: uuid.UUID, reason: str,
    appraiser: str | None = None,
) -> ExternalAppraisal:
    """Put an open complaint on external appraisal; its deadlines that pause for it stop now."""
    complaint = await _open_complaint(session, complaint_id, "start_external_appraisal")
    why = v.required_text(reason, "reason", max_length=MAX_REASON)
    who = v.text(appraiser, "appraiser", max_length=MAX_APPRAISER)
    appraisal = ExternalAppraisal(complaint_id=complaint.id, reason=why, appraiser=who, started_at=now,
                                  started_by=actor.user_id)
    session.add(appraisal)
    complaint.appraisal_started_at = now
    complaint.updated_at = now
    paused = await _follow(session, complaint, now)
    await session.flush()
    await record_event(
        session, actor=actor, action="start_external_appraisal", subject_type="Complaint", subject_id=complaint.id,
        now=now, from_status=complaint.status, to_status=complaint.status,
        changes={"appraisalId": appraisal.id, "appraiser": who is not None, "paused": _kinds(paused)},
        note=why,
    )
    return appraisal


async def end_external_appraisal(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, complaint_id: uuid.UUID, outcome: str | None = None,
) -> ExternalAppraisal:
    """Take an open complaint off external appraisal; the deadlines it paused run again (those that nothing else
    pauses), longer by the time it took."""
    complaint = await _open_complaint(session, complaint_id, "end_external_appraisal")
    appraisal = await _current(session, complaint.id)
    if appraisal is None:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the complaint is not on external appraisal")
    result = v.text(outcome, "outcome", max_length=MAX_REASON)
    appraisal.ended_at = now
    appraisal.ended_by = actor.user_id
    appraisal.outcome = result
    complaint.appraisal_started_at = None
    complaint.updated_at = now
    resumed = await _follow(session, complaint, now)
    await session.flush()
    await record_event(
        session, actor=actor, action="end_external_appraisal", subject_type="Complaint", subject_id=complaint.id,
        now=now, from_status=complaint.status, to_status=complaint.status,
        changes={"appraisalId": appraisal.id, "resumed": _kinds(resumed),
                 "dueAt": {k: d.due_at.isoformat() for k, d in zip(_kinds(resumed), resumed, strict=True)}},
        note=result,
    )
    return appraisal


async def end_with_case(session: AsyncSession, complaint: Complaint, *, actor: Actor, now: dt.datetime,
                        action: str) -> None:
    """A case closed or withdrawn while on appraisal: its appraisal ends with it (its deadlines ended already)."""
    if complaint.appraisal_started_at is None or complaint.status in lifecycle.OPEN:
        return
    appraisal = await _current(session, complaint.id)
    complaint.appraisal_started_at = None
    if appraisal is not None:
        appraisal.ended_at = now
        appraisal.ended_by = actor.user_id
    await session.flush()
    await record_event(
        session, actor=actor, action="end_external_appraisal", subject_type="Complaint", subject_id=complaint.id,
        now=now, from_status=complaint.status, to_status=complaint.status,
        changes={"appraisalId": appraisal.id if appraisal else None, "endedWith": action, "resumed": []},
    )


async def current_appraisals(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ExternalAppraisal]:
    """The open appraisal of each of a page of complaints (those on appraisal): one statement."""
    if not ids:
        return {}
    return {a.complaint_id: a for a in (await session.scalars(
        select(ExternalAppraisal).where(ExternalAppraisal.complaint_id.in_(list(ids)),
                                        ExternalAppraisal.ended_at.is_(None))
    )).all()}
