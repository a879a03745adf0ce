"""二次投诉 and concealment (seed IV 五): a new complaint by the same complainant (any blind index: phone, e-mail, ID
number) on the same matter within the tenant's window is proposed, on recording, as a repeat of the newest such
earlier complaint. "The same matter": nothing the two complaints both name differs (order number, category,
store). The desk confirms (the complaint's ``repeatOf`` is set) or dismisses it (``confirm_repeat``, a step of the
case). A confirmed repeat of a complaint the customer was never answered (no answer sent, not resolved on the
spot, not closed) counts against that complaint's store (``repeat_proposals.store_id``) and opens a serious
penalty proposal on the store for the general manager (``penalties.source = 'REPEAT'``).

Statistics: confirmed repeats (``state = 'CONFIRMED'``), and those counted against a store (``store_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.core.accountability import penalties
from services.core.accountability.models import (
    PenaltyKind,
    PenaltyTarget,
    RepeatProposal,
    RepeatState,
)
from services.core.accountability.settings import get_settings
from services.core.audit.service import Actor
from services.core.complaints.models import Complainant, Complaint, ComplaintStatus, CustomerMessage
from services.core.complaints.steps import begin, record_step
from services.core.errors import DomainError, ErrorCode

S = ComplaintStatus
ANSWERED_STATUSES = (S.CLOSED.value, S.WITHDRAWN.value, S.REFERRED.value)


def _same(column: InstrumentedAttribute[Any], value: object) -> ColumnElement[bool]:
    """Nothing differs: either side unknown, or equal."""
    return or_(column.is_(None), column == value) if value is not None else true()


async def propose_on_recording(session: AsyncSession, complaint: Complaint, complainant: Complainant,
                               now: datetime) -> RepeatProposal | None:
    """The repeat proposal of a newly recorded complaint, if an earlier one matches (one statement to look)."""
    if complaint.repeat_of_id is not None:
        return None  # recorded as a repeat already
    keys = [(name, column, value) for name, column, value in (
        ("PHONE", Complainant.phone_key, complainant.phone_key),
        ("EMAIL", Complainant.email_key, complainant.email_key),
        ("ID_NUMBER", Complainant.id_number_key, complainant.id_number_key)) if value is not None]
    if not keys:
        return None
    window = (await get_settings(session)).repeat_window_days
    row = (await session.execute(
        select(Complaint.id, Complainant.phone_key, Complainant.email_key, Complainant.id_number_key)
        .join(Complainant, Complainant.id == Complaint.complainant_id)
        .where(Complaint.id != complaint.id, Complaint.created_at >= now - timedelta(days=window),
               Complaint.created_at <= now, or_(*[column == value for _, column, value in keys]),
               and_(_same(Complaint.order_number, complaint.order_number),
                    _same(Complaint.category_id, complaint.category_id),
                    _same(Complaint.store_id, complaint.store_id)))
        .order_by(Complaint.created_at.desc(), Complaint.number.desc()).limit(1))).first()
    if row is None:
        return None
    found = {"PHONE": row.phone_key, "EMAIL": row.email_key, "ID_NUMBER": row.id_number_key}
    matched = next(name for name, _, value in keys if found[name] == value)
    proposal = RepeatProposal(complaint_id=complaint.id, earlier_id=row.id, matched_on=matched,
                              state=RepeatState.PROPOSED.value, proposed_at=now)
    session.add(proposal)
    await session.flush()
    return proposal


async def proposal_of(session: AsyncSession, complaint_id: uuid.UUID) -> RepeatProposal | None:
    found: RepeatProposal | None = (await session.scalars(
        select(RepeatProposal).where(RepeatProposal.complaint_id == complaint_id))).first()
    return found


async def proposals_for(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]
                        ) -> dict[uuid.UUID, RepeatProposal]:
    if not complaint_ids:
        return {}
    return {p.complaint_id: p for p in (await session.scalars(
        select(RepeatProposal).where(RepeatProposal.complaint_id.in_(list(complaint_ids))))).all()}


async def was_answered(session: AsyncSession, complaint: Complaint) -> bool:
    if complaint.resolved_on_the_spot or complaint.status in ANSWERED_STATUSES:
        return True
    return await session.scalar(select(CustomerMessage.id).where(
        CustomerMessage.complaint_id == complaint.id).limit(1)) is not None


async def confirm_repeat(session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID,
                         confirm: bool) -> RepeatProposal:
    """The desk's decision on the proposal: confirmed, the complaint repeats the earlier one (and an unanswered
    earlier complaint counts against its store, with a penalty proposal); dismissed, it stands alone."""
    complaint = await begin(session, "confirm_repeat", complaint_id, actor=actor, now=now)
    proposal = await proposal_of(session, complaint.id)
    assert proposal is not None and proposal.state == RepeatState.PROPOSED.value  # the step's guard
    proposal.decided_by, proposal.decided_at = actor.user_id, now
    changes: dict[str, object] = {"earlierId": proposal.earlier_id, "confirmed": confirm}
    if not confirm:
        proposal.state = RepeatState.DISMISSED.value
    else:
        proposal.state = RepeatState.CONFIRMED.value
        earlier = await session.get(Complaint, proposal.earlier_id)
        if earlier is None:
            raise DomainError(ErrorCode.NOT_FOUND, "the earlier complaint was not found", ["complaintId"])
        complaint.repeat_of_id = earlier.id
        proposal.left_unanswered = not await was_answered(session, earlier)
        if proposal.left_unanswered and earlier.store_id is not None:
            proposal.store_id = earlier.store_id
            penalty = await penalties.propose_penalty(session, actor=actor, now=now, source="REPEAT", data=(
                penalties.PenaltyInput(
                    target=PenaltyTarget.UNIT, kind=PenaltyKind.CRITICISM, serious=True, org_unit_id=earlier.store_id,
                    complaint_id=complaint.id,
                    reason=f"二次投诉: complaint {complaint.number} repeats {earlier.number}, which the store left "
                           "unanswered (seed IV 五.2)")))
            proposal.penalty_id = penalty.id
        changes.update({"leftUnanswered": proposal.left_unanswered, "storeId": proposal.store_id,
                        "penaltyId": proposal.penalty_id})
    complaint.updated_at = now
    await session.flush()
    await record_step(session, complaint, actor=actor, action="confirm_repeat", now=now, before=complaint.status,
                      changes=changes)
    if confirm:
        from services.core.accountability import major  # (major builds dossiers: escalation imports complaints)

        await major.evaluate(session, complaint, actor=actor, now=now)
    return proposal
