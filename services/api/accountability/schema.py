"""Accountability (issue 16): responsibility attribution, penalties, the periodic independent review.

Names from the issue: ``Complaint.responsibility``, ``proposeResponsibility``, ``decideResponsibility``,
``penalties``, ``proposePenalty``, ``decidePenalty``, ``createReviewPlan``, ``reviewPlans``; and what they need:
``penaltyNotices``, ``recordReviewFinding``, ``addImprovementAction``. Resolvers call one core function each.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from services.api.accountability.types import (
    ImprovementActionType,
    PenaltyType,
    ReviewCoverage,
    ReviewFindingType,
)
from services.api.authz import require, require_query, subject_of
from services.api.complaints.mutations import ComplaintPayload, _step
from services.api.complaints.types import ComplaintType, load_complaint
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.api.ids import decode_id, decode_optional
from services.api.nodes import global_id
from services.api.org.types import OrgUnitType, load_org_unit
from services.core import authz
from services.core.accountability import models, penalties, responsibility, review_plans
from services.core.authz import Action
from services.core.errors import DomainError

# ---------------------------------------------------------------- responsibility


@strawberry.input(description="责任归属: the smallest responsible unit that can be identified, and the cause")
class ProposeResponsibilityInput:
    complaint_id: relay.GlobalID
    level: models.ResponsibleLevel
    cause: models.ResponsibilityCause
    reason: str
    org_unit_id: relay.GlobalID | None = strawberry.field(
        default=None, description="PRODUCTION_TEAM: the team; FACTORY: the production department; STORE: the store "
        "or branch")
    person_id: relay.GlobalID | None = strawberry.field(default=None, description="INDIVIDUAL: the person")
    outside_party: str | None = strawberry.field(default=None,
                                                 description="OUTSIDE_PARTY: the supplier or other company")


@strawberry.input(description="The general manager's decision on the proposed attribution")
class DecideResponsibilityInput:
    complaint_id: relay.GlobalID
    approve: bool
    note: str | None = strawberry.field(default=None, description="required to reject")


# ---------------------------------------------------------------- penalties


@strawberry.input(description="处分及罚扣: on a unit or a person; a serious one waits for the general manager")
class ProposePenaltyInput:
    target: models.PenaltyTarget
    kind: models.PenaltyKind
    reason: str
    serious: bool = False
    org_unit_id: relay.GlobalID | None = None
    person_id: relay.GlobalID | None = None
    amount: Decimal | None = strawberry.field(default=None, description="a FINE's amount")
    complaint_id: relay.GlobalID | None = None


@strawberry.input
class DecidePenaltyInput:
    penalty_id: relay.GlobalID
    approve: bool
    note: str | None = strawberry.field(default=None, description="required to reject")


@strawberry.type
class PenaltyPayload:
    penalty: PenaltyType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A published penalty (总经理办公室公布): the person's name masked, no reason")
class PenaltyNotice:
    id: strawberry.ID
    kind: models.PenaltyKind
    amount: Decimal | None
    person_name: str | None
    published_at: datetime
    org_unit_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def org_unit(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.org_unit_id)


# ---------------------------------------------------------------- review plans


@strawberry.input(description="定期检查回顾: a period, a sample rule, and a department that handles no complaints")
class CreateReviewPlanInput:
    name: str
    period_from: date
    period_to: date
    sample_rule: models.SampleRule
    department_id: relay.GlobalID
    sample_percent: int | None = strawberry.field(default=None, description="RANDOM_PERCENT: 1-100")


@strawberry.input
class RecordReviewFindingInput:
    plan_id: relay.GlobalID
    complaint_id: relay.GlobalID
    outcome: models.FindingOutcome
    note: str


@strawberry.input
class AddImprovementActionInput:
    plan_id: relay.GlobalID
    description: str
    owner_id: relay.GlobalID
    due_date: date
    finding_id: relay.GlobalID | None = None


@strawberry.type(name="ReviewPlan")
class ReviewPlanType:
    id: strawberry.ID
    name: str
    period_from: date
    period_to: date
    sample_rule: models.SampleRule
    sample_percent: int | None
    created_at: datetime
    department_id: strawberry.Private[uuid.UUID]
    uuid: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, p: Any) -> ReviewPlanType:
        return cls(id=global_id("ReviewPlan", p.id), name=p.name, period_from=p.period_from, period_to=p.period_to,
                   sample_rule=models.SampleRule(p.sample_rule), sample_percent=p.sample_percent,
                   created_at=p.created_at, department_id=p.department_id, uuid=p.id)

    @strawberry.field(description="The reviewing department (one that handles no complaints)")
    async def department(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.department_id)

    @strawberry.field(description="Sampled, reviewed, nonconforming; improvement actions (open)")
    async def coverage(self, info: Info) -> ReviewCoverage:
        async with info.context.db() as session:
            s = await review_plans.plan_summary(session, self.uuid)
        return ReviewCoverage(sampled=s.sampled, reviewed=s.reviewed, nonconforming=s.nonconforming,
                              improvement_actions=s.actions, improvement_actions_open=s.actions_open)

    @strawberry.field(description="The sampled complaints (those you may read)")
    async def cases(self, info: Info) -> list[ComplaintType]:
        async with info.context.db() as session:
            ids = await review_plans.sample_of(session, self.uuid)
        found = [await load_complaint(info, i) for i in ids]
        return [c for c in found if c is not None]

    @strawberry.field
    async def findings(self, info: Info) -> list[ReviewFindingType]:
        async with info.context.db() as session:
            return [ReviewFindingType.from_model(f) for f in await review_plans.findings_of(session, self.uuid)]

    @strawberry.field
    async def improvement_actions(self, info: Info) -> list[ImprovementActionType]:
        async with info.context.db() as session:
            return [ImprovementActionType.from_model(a) for a in await review_plans.actions_of(session, self.uuid)]


@strawberry.type
class ReviewPlanPayload:
    review_plan: ReviewPlanType | None = None
    finding: ReviewFindingType | None = None
    improvement_action: ImprovementActionType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# ---------------------------------------------------------------- operations


async def _may(info: Info, session: AsyncSession, action: Action) -> bool:
    return (await authz.authorize(session, await subject_of(info.context), action)).allowed


@strawberry.type
class AccountabilityQueries:
    @strawberry.field(description="Penalties: all of them if you may read penalties, else your own; newest first")
    async def penalties(self, info: Info, complaint_id: relay.GlobalID | None = None) -> list[PenaltyType]:
        viewer = await info.context.require_viewer()
        cid = None
        if complaint_id is not None:
            try:
                cid = decode_id(complaint_id, "Complaint", "complaintId")
            except DomainError:
                return []
        async with info.context.db() as session:
            see_all = await _may(info, session, Action.PENALTY_READ)
            found = await penalties.list_penalties(session, viewer_id=viewer.id, see_all=see_all, complaint_id=cid)
        return [PenaltyType.from_model(p, full=True) for p in found]

    @strawberry.field(description="The published penalties (serious ones the general manager approved), for every "
                      "member of staff; names masked")
    async def penalty_notices(self, info: Info) -> list[PenaltyNotice]:
        await info.context.require_viewer()
        async with info.context.db() as session:
            found = await penalties.notices(session)
        return [PenaltyNotice(id=global_id("Penalty", p.id), kind=models.PenaltyKind(p.kind), amount=p.amount,
                              person_name=authz.mask_name(p.person_name) if p.person_name else None,
                              published_at=p.published_at, org_unit_id=p.org_unit_id)
                for p in found if p.published_at is not None]

    @strawberry.field(description="The periodic independent review plans, newest first")
    async def review_plans(self, info: Info) -> list[ReviewPlanType]:
        await require_query(info.context, Action.REVIEW_PLAN_READ)
        async with info.context.db() as session:
            return [ReviewPlanType.from_model(p) for p in await review_plans.plans(session)]


@strawberry.type
class AccountabilityMutations:
    @strawberry.mutation(description="The complaint desk proposes who is responsible for a valid complaint")
    async def propose_responsibility(self, info: Info, input: ProposeResponsibilityInput) -> ComplaintPayload:
        def decoded() -> dict[str, Any]:
            return {"data": responsibility.ResponsibilityInput(
                level=input.level, cause=input.cause, reason=input.reason,
                org_unit_id=decode_optional(input.org_unit_id, "OrgUnit", "orgUnitId"),
                person_id=decode_optional(input.person_id, "User", "personId"), outside_party=input.outside_party)}

        return await _step(info, input.complaint_id, Action.PROPOSE_RESPONSIBILITY,
                           responsibility.propose_responsibility, decoded)

    @strawberry.mutation(description="The general manager decides the proposed attribution (never the proposer)")
    async def decide_responsibility(self, info: Info, input: DecideResponsibilityInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.DECIDE_RESPONSIBILITY,
                           responsibility.decide_responsibility, approve=input.approve, note=input.note)

    @strawberry.mutation(description="Propose a penalty; an ordinary one takes effect at once, a serious one waits "
                         "for the general manager")
    async def propose_penalty(self, info: Info, input: ProposePenaltyInput) -> PenaltyPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.PENALTY_PROPOSE)
                penalty = await penalties.propose_penalty(session, actor=viewer.actor, now=ctx.now(), data=(
                    penalties.PenaltyInput(
                        target=input.target, kind=input.kind, reason=input.reason, serious=input.serious,
                        org_unit_id=decode_optional(input.org_unit_id, "OrgUnit", "orgUnitId"),
                        person_id=decode_optional(input.person_id, "User", "personId"), amount=input.amount,
                        complaint_id=decode_optional(input.complaint_id, "Complaint", "complaintId"))))
        except DomainError as exc:
            return PenaltyPayload(user_errors=[user_error(exc)])
        return PenaltyPayload(penalty=PenaltyType.from_model(penalty, full=True))

    @strawberry.mutation(description="The general manager approves (it takes effect and is published) or rejects a "
                         "serious penalty; never one they proposed")
    async def decide_penalty(self, info: Info, input: DecidePenaltyInput) -> PenaltyPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.PENALTY_DECIDE)
                penalty = await penalties.decide_penalty(
                    session, actor=viewer.actor, now=ctx.now(),
                    penalty_id=decode_id(input.penalty_id, "Penalty", "penaltyId"), approve=input.approve,
                    note=input.note)
        except DomainError as exc:
            return PenaltyPayload(user_errors=[user_error(exc)])
        return PenaltyPayload(penalty=PenaltyType.from_model(penalty, full=True))

    @strawberry.mutation(description="Plan a periodic independent review (refused for a department that handles "
                         "complaints)")
    async def create_review_plan(self, info: Info, input: CreateReviewPlanInput) -> ReviewPlanPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.REVIEW_PLAN_MANAGE)
                plan = await review_plans.create_review_plan(session, actor=viewer.actor, now=ctx.now(), data=(
                    review_plans.ReviewPlanInput(
                        name=input.name, period_from=input.period_from, period_to=input.period_to,
                        sample_rule=input.sample_rule, sample_percent=input.sample_percent,
                        department_id=decode_id(input.department_id, "OrgUnit", "departmentId"))))
        except DomainError as exc:
            return ReviewPlanPayload(user_errors=[user_error(exc)])
        return ReviewPlanPayload(review_plan=ReviewPlanType.from_model(plan))

    @strawberry.mutation(description="A reviewer of the plan's department records the finding on a sampled case "
                         "(never on a case they handled)")
    async def record_review_finding(self, info: Info, input: RecordReviewFindingInput) -> ReviewPlanPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.REVIEW_PLAN_RECORD)
                finding = await review_plans.record_finding(
                    session, actor=viewer.actor, now=ctx.now(),
                    plan_id=decode_id(input.plan_id, "ReviewPlan", "planId"),
                    complaint_id=decode_id(input.complaint_id, "Complaint", "complaintId"),
                    outcome=input.outcome, note=input.note)
                plan = await session.get(models.ReviewPlan, finding.plan_id)
        except DomainError as exc:
            return ReviewPlanPayload(user_errors=[user_error(exc)])
        return ReviewPlanPayload(review_plan=ReviewPlanType.from_model(plan),
                                 finding=ReviewFindingType.from_model(finding))

    @strawberry.mutation(description="An improvement action the review calls for: owner and due date")
    async def add_improvement_action(self, info: Info, input: AddImprovementActionInput) -> ReviewPlanPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.REVIEW_PLAN_MANAGE)
                action = await review_plans.add_improvement_action(
                    session, actor=viewer.actor, now=ctx.now(),
                    plan_id=decode_id(input.plan_id, "ReviewPlan", "planId"), description=input.description,
                    owner_id=decode_id(input.owner_id, "User", "ownerId"), due_date=input.due_date,
                    finding_id=decode_optional(input.finding_id, "ReviewFinding", "findingId"))
                plan = await session.get(models.ReviewPlan, action.plan_id)
        except DomainError as exc:
            return ReviewPlanPayload(user_errors=[user_error(exc)])
        return ReviewPlanPayload(review_plan=ReviewPlanType.from_model(plan),
                                 improvement_action=ImprovementActionType.from_model(action))


__all__ = ["AccountabilityMutations", "AccountabilityQueries"]
