"""Accountability's GraphQL types (issue 16)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from services.api.context import Info
from services.api.nodes import global_id
from services.api.org.types import OrgUnitType, UserType, load_org_unit, load_user
from services.core.accountability import models
from services.core.authz import mask_name

if TYPE_CHECKING:
    from services.api.complaints.types import ComplaintType


@strawberry.type(name="Responsibility", description="责任归属: the responsible unit, person or outside party, and the "
                 "cause; proposed by the complaint desk, decided by the general manager")
class ResponsibilityType:
    level: models.ResponsibleLevel
    cause: models.ResponsibilityCause
    state: models.DecisionState
    outside_party: str | None
    reason: str
    proposed_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    org_unit_id: strawberry.Private[uuid.UUID | None]
    person_id: strawberry.Private[uuid.UUID | None]
    proposed_by_id: strawberry.Private[uuid.UUID]
    decided_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, r: Any) -> ResponsibilityType:
        return cls(level=models.ResponsibleLevel(r.level), cause=models.ResponsibilityCause(r.cause),
                   state=models.DecisionState(r.state), outside_party=r.outside_party, reason=r.reason,
                   proposed_at=r.proposed_at, decided_at=r.decided_at, decision_note=r.decision_note,
                   org_unit_id=r.org_unit_id, person_id=r.person_id, proposed_by_id=r.proposed_by,
                   decided_by_id=r.decided_by)

    @strawberry.field(description="The responsible unit (the person's unit for an INDIVIDUAL)")
    async def org_unit(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.org_unit_id)

    @strawberry.field(description="The responsible person (INDIVIDUAL)")
    async def person(self, info: Info) -> UserType | None:
        return await load_user(info, self.person_id)

    @strawberry.field
    async def proposed_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.proposed_by_id)

    @strawberry.field
    async def decided_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.decided_by_id)


@strawberry.type(name="Penalty", description="处分及罚扣: a penalty on a unit or a person")
class PenaltyType:
    id: strawberry.ID
    target: models.PenaltyTarget
    kind: models.PenaltyKind
    amount: Decimal | None
    serious: bool
    state: models.PenaltyState
    source: str = strawberry.field(description="DESK, or REPEAT (opened by a confirmed unanswered repeat complaint)")
    person_name: str | None = strawberry.field(description="The penalised person's name (masked unless you may "
                                               "read penalties or it is you)")
    reason: str | None
    proposed_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    published_at: datetime | None
    org_unit_id: strawberry.Private[uuid.UUID | None]
    person_id: strawberry.Private[uuid.UUID | None]
    complaint_uuid: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, p: Any, *, full: bool) -> PenaltyType:
        """``full``: the viewer may read penalties, or it is their own."""
        name = p.person_name
        return cls(id=global_id("Penalty", p.id), target=models.PenaltyTarget(p.target),
                   kind=models.PenaltyKind(p.kind), amount=p.amount, serious=p.serious,
                   state=models.PenaltyState(p.state), source=p.source,
                   person_name=(name if full else mask_name(name)) if name else None,
                   reason=p.reason if full else None, proposed_at=p.proposed_at, decided_at=p.decided_at,
                   decision_note=p.decision_note if full else None, published_at=p.published_at,
                   org_unit_id=p.org_unit_id, person_id=p.person_id if full else None,
                   complaint_uuid=p.complaint_id if full else None)

    @strawberry.field
    async def org_unit(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.org_unit_id)

    @strawberry.field(description="The penalised person (to those who may read penalties, and to themselves)")
    async def person(self, info: Info) -> UserType | None:
        return await load_user(info, self.person_id)

    @strawberry.field(description="The complaint behind the penalty, if the viewer may read it")
    async def complaint(self, info: Info) -> Annotated[
            ComplaintType, strawberry.lazy("services.api.complaints.types")] | None:
        from services.api.complaints.types import load_complaint

        return await load_complaint(info, self.complaint_uuid)


@strawberry.type(description="Coverage and findings of a review plan (for the annual report)")
class ReviewCoverage:
    sampled: int
    reviewed: int
    nonconforming: int
    improvement_actions: int
    improvement_actions_open: int


@strawberry.type(name="ReviewFinding")
class ReviewFindingType:
    id: strawberry.ID
    outcome: models.FindingOutcome
    note: str
    recorded_at: datetime
    complaint_id: strawberry.ID
    reviewer_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, f: Any) -> ReviewFindingType:
        return cls(id=global_id("ReviewFinding", f.id), outcome=models.FindingOutcome(f.outcome), note=f.note,
                   recorded_at=f.recorded_at, complaint_id=global_id("Complaint", f.complaint_id),
                   reviewer_id=f.reviewer_id)

    @strawberry.field
    async def reviewer(self, info: Info) -> UserType | None:
        return await load_user(info, self.reviewer_id)


@strawberry.type(name="ImprovementAction")
class ImprovementActionType:
    id: strawberry.ID
    description: str
    due_date: date
    completed_at: datetime | None
    completion_note: str | None = strawberry.field(description="what was done (completeImprovementAction)")
    finding_id: strawberry.ID | None
    owner_id: strawberry.Private[uuid.UUID]
    completed_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, a: Any) -> ImprovementActionType:
        return cls(id=global_id("ImprovementAction", a.id), description=a.description, due_date=a.due_date,
                   completed_at=a.completed_at, completion_note=a.completion_note, completed_by_id=a.completed_by,
                   finding_id=global_id("ReviewFinding", a.finding_id) if a.finding_id else None, owner_id=a.owner_id)

    @strawberry.field
    async def owner(self, info: Info) -> UserType | None:
        return await load_user(info, self.owner_id)

    @strawberry.field(description="who completed it")
    async def completed_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.completed_by_id) if self.completed_by_id is not None else None


@strawberry.type(name="RepeatProposal", description="二次投诉: an earlier complaint by the same complainant on the "
                 "same matter within the tenant's window, found on recording; confirmed or dismissed by the desk")
class RepeatProposalType:
    matched_on: str = strawberry.field(description="PHONE, EMAIL or ID_NUMBER (the blind index that matched)")
    state: models.RepeatState
    proposed_at: datetime
    decided_at: datetime | None
    left_unanswered: bool | None = strawberry.field(
        description="confirmed: the earlier complaint had never been answered")
    earlier_id: strawberry.Private[uuid.UUID]
    store_id: strawberry.Private[uuid.UUID | None]
    penalty_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, p: Any) -> RepeatProposalType:
        return cls(matched_on=p.matched_on, state=models.RepeatState(p.state), proposed_at=p.proposed_at,
                   decided_at=p.decided_at, left_unanswered=p.left_unanswered, earlier_id=p.earlier_id,
                   store_id=p.store_id, penalty_id=p.penalty_id)

    @strawberry.field(description="The earlier complaint, if you may read it")
    async def earlier(self, info: Info) -> Annotated[
            ComplaintType, strawberry.lazy("services.api.complaints.types")] | None:
        from services.api.complaints.types import load_complaint

        return await load_complaint(info, self.earlier_id)

    @strawberry.field(description="The store the confirmed unanswered repeat counts against")
    async def counted_against(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.store_id)

    @strawberry.field(name="penaltyId", description="The penalty proposal it opened (see penalties)")
    def penalty(self) -> strawberry.ID | None:
        return global_id("Penalty", self.penalty_id) if self.penalty_id else None


@strawberry.type(name="MajorComplaint", description="重大投诉: flagged by the tenant's criteria; the regulator "
                 "notification draft goes out once the regulator liaison approves it")
class MajorComplaintType:
    reasons: list[str] = strawberry.field(
        description="AMOUNT, GROUP_COMPLAINT, MEDIA_ATTENTION, REPEAT_COUNT, CATEGORY")
    state: models.MajorState
    draft: JSON = strawberry.field(description="The regulator notification draft (the dossier without the "
                                   "personal data the regulator is not entitled to)")
    draft_sha256: str
    complainant_erased: bool = strawberry.field(
        description="true when the complainant was erased: the draft holds no personal data of theirs any more "
                    "(a draft already sent keeps its state and the hash of what went out)")
    flagged_at: datetime
    approved_at: datetime | None
    approved_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, m: Any) -> MajorComplaintType:
        return cls(reasons=list(m.reasons), state=models.MajorState(m.state), draft=m.draft,
                   draft_sha256=m.draft_sha256, complainant_erased=m.complainant_erased_at is not None,
                   flagged_at=m.flagged_at, approved_at=m.approved_at,
                   approved_by_id=m.approved_by)

    @strawberry.field
    async def approved_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.approved_by_id)
