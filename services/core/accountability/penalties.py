"""处分及罚扣 (seed IV 七.3, 五.2): a penalty on a unit or a person (kind, amount, reason), proposed by the complaint
desk. An ordinary one takes effect at once; a serious one (情节严重) waits for the general manager, who approves it
(it takes effect and is published: the tenant-visible notice list, 总经理办公室公布) or rejects it, and who never
decides a penalty they proposed (four eyes). Whoever holds ``penalty.read`` sees every penalty; everyone else sees
the published notices and the penalties on themselves. The person's name and the reason are sealed; the notices
show the name masked.

Statistics count EFFECTIVE penalties (by unit, person, kind, with the amounts; ``source = 'REPEAT'`` for those a
confirmed unanswered repeat complaint opened).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.accountability.models import Penalty, PenaltyKind, PenaltyState, PenaltyTarget
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complaint
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import OrgUnit, User
from services.core.statistics import facts

MAX_TEXT = 2_000


@dataclass(frozen=True)
class PenaltyInput:
    target: PenaltyTarget
    kind: PenaltyKind
    reason: str
    serious: bool = False
    org_unit_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    amount: Decimal | None = None
    complaint_id: uuid.UUID | None = None


async def propose_penalty(
    session: AsyncSession, *, actor: Actor, now: datetime, data: PenaltyInput, source: str = "DESK",
) -> Penalty:
    # what it names is looked up first: an unknown unit, person or complaint is NOT_FOUND whatever else is wrong
    if data.org_unit_id is not None and await session.get(OrgUnit, data.org_unit_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", ["orgUnitId"])
    person = await session.get(User, data.person_id) if data.person_id is not None else None
    if data.person_id is not None and person is None:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", ["personId"])
    if data.complaint_id is not None and await session.get(Complaint, data.complaint_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    person_name = None
    if data.target == PenaltyTarget.UNIT:
        if data.org_unit_id is None:
            raise DomainError(ErrorCode.REQUIRED, "a penalty on a unit names the unit", ["orgUnitId"])
        if person is not None:
            raise DomainError(ErrorCode.INVALID, "a penalty on a unit names no person", ["personId"])
    else:
        if person is None:
            raise DomainError(ErrorCode.REQUIRED, "a penalty on a person names the person", ["personId"])
        if data.org_unit_id is not None:
            raise DomainError(ErrorCode.INVALID, "a penalty on a person names no unit", ["orgUnitId"])
        person_name = person.display_name
    reason = v.required_text(data.reason, "reason", max_length=MAX_TEXT)
    amount = v.money(data.amount, "amount")
    if data.kind == PenaltyKind.FINE and not amount:
        raise DomainError(ErrorCode.REQUIRED, "a fine names its amount", ["amount"])
    if data.kind != PenaltyKind.FINE and amount:
        raise DomainError(ErrorCode.INVALID, "only a fine has an amount", ["amount"])
    penalty = Penalty(
        complaint_id=data.complaint_id, target=data.target.value, org_unit_id=data.org_unit_id,
        person_id=data.person_id, person_name=person_name, kind=data.kind.value, amount=amount, reason=reason,
        serious=data.serious, source=source,
        state=(PenaltyState.PROPOSED if data.serious else PenaltyState.EFFECTIVE).value,
        proposed_by=actor.user_id, proposed_at=now)
    session.add(penalty)
    await session.flush()
    await record_event(session, actor=actor, action="propose_penalty", subject_type="Penalty", subject_id=penalty.id,
                       now=now, to_status=penalty.state, changes={
                           "target": penalty.target, "orgUnitId": penalty.org_unit_id, "personId": penalty.person_id,
                           "kind": penalty.kind, "amount": amount, "serious": penalty.serious,
                           "complaintId": penalty.complaint_id, "source": source})
    await facts.refresh_accountability(session, penalty.complaint_id)
    return penalty


async def decide_penalty(
    session: AsyncSession, *, actor: Actor, now: datetime, penalty_id: uuid.UUID, approve: bool,
    note: str | None = None,
) -> Penalty:
    """The general manager on a serious penalty: approved, it takes effect and is published; rejected, why."""
    penalty = await session.get(Penalty, penalty_id, with_for_update=True, populate_existing=True)
    if penalty is None:
        raise DomainError(ErrorCode.NOT_FOUND, "penalty not found", ["penaltyId"])
    if penalty.state != PenaltyState.PROPOSED.value:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          msg("the penalty is {state}: nothing waits for a decision",
                              state=penalty.state.lower()), ["penaltyId"])
    if penalty.proposed_by is not None and penalty.proposed_by == actor.user_id:
        raise DomainError(ErrorCode.SEPARATION_OF_DUTIES,
                          "four eyes: whoever proposed a penalty may not decide it", ["penaltyId"])
    remark = v.text(note, "note", max_length=MAX_TEXT)
    if not approve and remark is None:
        raise DomainError(ErrorCode.REQUIRED, "say why the penalty is rejected", ["note"])
    before = penalty.state
    penalty.state = (PenaltyState.EFFECTIVE if approve else PenaltyState.REJECTED).value
    penalty.decided_by, penalty.decided_at, penalty.decision_note = actor.user_id, now, remark
    if approve:
        penalty.published_at = now
    await session.flush()
    await record_event(session, actor=actor, action="decide_penalty", subject_type="Penalty", subject_id=penalty.id,
                       now=now, from_status=before, to_status=penalty.state,
                       changes={"published": penalty.published_at is not None})
    await facts.refresh_accountability(session, penalty.complaint_id)
    return penalty


async def list_penalties(session: AsyncSession, *, viewer_id: uuid.UUID, see_all: bool,
                         complaint_id: uuid.UUID | None = None) -> Sequence[Penalty]:
    """Every penalty (``see_all``), else the viewer's own; newest first."""
    query = select(Penalty).order_by(Penalty.proposed_at.desc(), Penalty.id)
    if not see_all:
        query = query.where(Penalty.person_id == viewer_id)
    if complaint_id is not None:
        query = query.where(Penalty.complaint_id == complaint_id)
    return (await session.scalars(query)).all()


async def notices(session: AsyncSession) -> Sequence[Penalty]:
    """The published penalties (serious, approved by the general manager), newest first."""
    return (await session.scalars(select(Penalty).where(
        Penalty.published_at.is_not(None), or_(Penalty.state == PenaltyState.EFFECTIVE.value))
        .order_by(Penalty.published_at.desc(), Penalty.id))).all()
