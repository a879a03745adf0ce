"""责任归属 (seed IV 七.1-2, 二.3, 三.6): on a valid complaint the complaint desk proposes the responsible unit at the
smallest level that can be identified, with the cause; the general manager decides (four eyes: never the
proposer). Both are steps of the case (``lifecycle.STEPS``: ``propose_responsibility``, ``decide_responsibility``),
audited on its trail. Every proposal is kept; the newest is the case's attribution.

Levels and what they name:

- ``PRODUCTION_TEAM``: a production team (班组); ``FACTORY``: the whole production department (全厂), when no team
  can be named;
- ``INDIVIDUAL``: a person of a business or service department (a user); ``STORE``: the store or sales branch,
  when no person can be named;
- ``OUTSIDE_PARTY``: a supplier or another company (named in ``outsideParty``), handled jointly by the deputy GM
  and marketing.

Statistics count APPROVED attributions only (the newest per complaint): by level, cause, and unit or person.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.accountability.models import (
    RESPONSIBILITY_NEWEST_FIRST,
    DecisionState,
    Responsibility,
    ResponsibilityCause,
    ResponsibleLevel,
)
from services.core.audit.service import Actor
from services.core.complaints.steps import begin, record_step
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import OrgUnit, OrgUnitKind, User

L = ResponsibleLevel
MAX_TEXT = 2_000
UNIT_KINDS: dict[ResponsibleLevel, tuple[OrgUnitKind, ...]] = {
    L.PRODUCTION_TEAM: (OrgUnitKind.PRODUCTION_TEAM,),
    L.FACTORY: (OrgUnitKind.DEPARTMENT,),
    L.STORE: (OrgUnitKind.STORE, OrgUnitKind.BRANCH),
}


@dataclass(frozen=True)
class ResponsibilityInput:
    level: ResponsibleLevel
    cause: ResponsibilityCause
    reason: str
    org_unit_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    outside_party: str | None = None


async def _check_target(session: AsyncSession, data: ResponsibilityInput) -> tuple[uuid.UUID | None,
                                                                                  uuid.UUID | None, str | None]:
    """(unit, person, outside party) as the level wants them: exactly the one it names (what it names is looked
    up first: an unknown unit or person is NOT_FOUND whatever else is wrong)."""
    unit = await session.get(OrgUnit, data.org_unit_id) if data.org_unit_id is not None else None
    if data.org_unit_id is not None and unit is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", ["orgUnitId"])
    user = await session.get(User, data.person_id) if data.person_id is not None else None
    if data.person_id is not None and user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", ["personId"])
    if data.level in UNIT_KINDS:
        if unit is None:
            raise DomainError(ErrorCode.REQUIRED, msg("a {level} attribution names the unit", level=data.level.value),
                              ["orgUnitId"])
        kinds = UNIT_KINDS[data.level]
        if unit.kind not in kinds:
            raise DomainError(ErrorCode.INVALID, msg("a {level} attribution names a {kinds}", level=data.level.value,
                                  kinds=" or ".join(k.value for k in kinds)), ["orgUnitId"])
        if data.level == L.FACTORY and await session.scalar(select(OrgUnit.id).where(
                OrgUnit.parent_id == unit.id, OrgUnit.kind == OrgUnitKind.PRODUCTION_TEAM.value).limit(1)) is None:
            raise DomainError(ErrorCode.INVALID, "FACTORY names a production department (one with teams)",
                              ["orgUnitId"])
        if user is not None or data.outside_party:
            raise DomainError(ErrorCode.INVALID, "name the unit only", ["personId"])
        return unit.id, None, None
    if data.level == L.INDIVIDUAL:
        if user is None:
            raise DomainError(ErrorCode.REQUIRED, "an INDIVIDUAL attribution names the person", ["personId"])
        if unit is not None or data.outside_party:
            raise DomainError(ErrorCode.INVALID, "name the person only", ["orgUnitId"])
        return user.org_unit_id, user.id, None
    party = v.required_text(data.outside_party, "outsideParty", max_length=200)
    if unit is not None or user is not None:
        raise DomainError(ErrorCode.INVALID, "name the outside party only", ["orgUnitId"])
    return None, None, party


async def propose_responsibility(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, data: ResponsibilityInput,
) -> Responsibility:
    """The desk's proposal (a valid complaint; none waiting for a decision already)."""
    unit_id, person_id, party = await _check_target(session, data)
    complaint = await begin(session, "propose_responsibility", complaint_id, actor=actor, now=now)
    reason = v.required_text(data.reason, "reason", max_length=MAX_TEXT)
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a person proposes")
    found = Responsibility(
        complaint_id=complaint.id, level=data.level.value, cause=data.cause.value, org_unit_id=unit_id,
        person_id=person_id, outside_party=party, reason=reason, state=DecisionState.PROPOSED.value,
        proposed_by=actor.user_id, proposed_at=now)
    session.add(found)
    complaint.updated_at = now
    await session.flush()
    await record_step(session, complaint, actor=actor, action="propose_responsibility", now=now,
                      before=complaint.status, changes={
                          "responsibilityId": found.id, "level": found.level, "cause": found.cause,
                          "orgUnitId": unit_id, "personId": person_id, "outsideParty": party is not None})
    return found


async def decide_responsibility(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, approve: bool,
    note: str | None = None,
) -> Responsibility:
    """The general manager's decision on the pending proposal (never the proposer's own)."""
    complaint = await begin(session, "decide_responsibility", complaint_id, actor=actor, now=now)
    remark = v.text(note, "note", max_length=MAX_TEXT)
    if not approve and remark is None:
        raise DomainError(ErrorCode.REQUIRED, "say why the attribution is rejected", ["note"])
    found = await current(session, complaint.id)
    assert found is not None and found.state == DecisionState.PROPOSED.value  # the step's guard
    found.state = (DecisionState.APPROVED if approve else DecisionState.REJECTED).value
    found.decided_by, found.decided_at, found.decision_note = actor.user_id, now, remark
    complaint.updated_at = now
    await session.flush()
    await record_step(session, complaint, actor=actor, action="decide_responsibility", now=now,
                      before=complaint.status, changes={"responsibilityId": found.id, "decision": found.state})
    return found


async def current(session: AsyncSession, complaint_id: uuid.UUID) -> Responsibility | None:
    found: Responsibility | None = (await session.scalars(
        select(Responsibility).where(Responsibility.complaint_id == complaint_id)
        .order_by(*RESPONSIBILITY_NEWEST_FIRST).limit(1))).first()
    return found


async def current_for(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]
                      ) -> dict[uuid.UUID, Responsibility]:
    """The newest attribution of each of a page of complaints: one statement."""
    if not complaint_ids:
        return {}
    rows = (await session.scalars(
        select(Responsibility).where(Responsibility.complaint_id.in_(list(complaint_ids)))
        .order_by(*RESPONSIBILITY_NEWEST_FIRST))).all()
    found: dict[uuid.UUID, Responsibility] = {}
    for r in rows:
        found.setdefault(r.complaint_id, r)
    return found
