"""定期检查回顾 (seed III item 9; product.md rule 4): a review plan names a period, a sample rule (all breached
cases, a random N%, all escalated cases) and the department that reviews them, which must be one that handles no
complaints: no user of it holds a handling role, and no complaint names it as responsible department or store
(refused with SEPARATION_OF_DUTIES otherwise). The sample is drawn once, when the plan is created. A member of
that department, never a handler of the case, records one finding per sampled case; improvement actions name an
owner and a due date.

For the annual report: per plan, ``sampled`` and ``reviewed`` (coverage), findings by outcome, improvement
actions open and done (``plan_summary``).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import authz
from services.core import validation as v
from services.core.accountability.models import (
    FindingOutcome,
    ImprovementAction,
    ReviewFinding,
    ReviewPlan,
    ReviewPlanCase,
    SampleRule,
)
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complaint, ComplaintStatus
from services.core.complaints.service import tenant_timezone
from services.core.complaints.steps import handlers_of
from services.core.deadlines.models import Deadline
from services.core.errors import DomainError, ErrorCode
from services.core.escalation.models import Escalation
from services.core.i18n import Msg, msg
from services.core.org.models import OrgUnit, OrgUnitKind, User

HANDLING_ROLES = ("receiver", "investigator", "complaint_desk", "handler", "store_manager")
"""The roles of the complaint-handling side (policies: they record, investigate, decide or answer cases)."""
MAX_TEXT = 5_000
MAX_PERIOD_DAYS = 800


@dataclass(frozen=True)
class ReviewPlanInput:
    name: str
    period_from: date
    period_to: date
    sample_rule: SampleRule
    department_id: uuid.UUID
    sample_percent: int | None = None


async def handling_reason(session: AsyncSession, unit: OrgUnit) -> Msg | None:
    """Why ``unit`` counts as a complaint-handling department, or None if it handles none."""
    if unit.kind != OrgUnitKind.DEPARTMENT.value:
        return msg("a {kind} handles complaints", kind=unit.kind)
    if await session.scalar(select(User.id).where(
            User.org_unit_id == unit.id, User.active.is_(True), User.roles.overlap(list(HANDLING_ROLES))).limit(1)):
        return msg("members of the department hold complaint-handling roles")
    if await session.scalar(select(Complaint.id).where(
            or_(Complaint.responsible_department_id == unit.id, Complaint.store_id == unit.id)).limit(1)):
        return msg("the department is responsible for complaints")
    return None


async def _sample(session: AsyncSession, plan: ReviewPlanInput) -> list[uuid.UUID]:
    tz = await tenant_timezone(session)
    start = datetime.combine(plan.period_from, time(), tz)
    end = datetime.combine(plan.period_to + timedelta(days=1), time(), tz)
    query = select(Complaint.id).where(Complaint.created_at >= start, Complaint.created_at < end)
    if plan.sample_rule == SampleRule.ALL_BREACHED:
        query = query.where(exists().where(Deadline.complaint_id == Complaint.id, Deadline.breached_at.is_not(None)))
    elif plan.sample_rule == SampleRule.ALL_ESCALATED:
        query = query.where(or_(Complaint.status == ComplaintStatus.ESCALATED.value,
                                exists().where(Escalation.complaint_id == Complaint.id)))
    found = list((await session.scalars(query.order_by(Complaint.created_at, Complaint.id))).all())
    if plan.sample_rule == SampleRule.RANDOM_PERCENT:
        assert plan.sample_percent is not None
        size = math.ceil(len(found) * plan.sample_percent / 100)
        found = random.SystemRandom().sample(found, size)
    return found


async def create_review_plan(session: AsyncSession, *, actor: Actor, now: datetime, data: ReviewPlanInput
                             ) -> ReviewPlan:
    name = v.required_text(data.name, "name", max_length=200)
    if data.period_to < data.period_from:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "the period ends before it starts", ["periodTo"])
    if (data.period_to - data.period_from).days > MAX_PERIOD_DAYS:
        raise DomainError(ErrorCode.OUT_OF_RANGE, msg("a period spans at most {days} days", days=MAX_PERIOD_DAYS),
                          ["periodTo"])
    if data.sample_rule == SampleRule.RANDOM_PERCENT:
        if data.sample_percent is None or not 1 <= data.sample_percent <= 100:
            raise DomainError(ErrorCode.OUT_OF_RANGE, "a random sample takes 1 to 100 percent", ["samplePercent"])
    elif data.sample_percent is not None:
        raise DomainError(ErrorCode.INVALID, "only a random sample takes a percentage", ["samplePercent"])
    unit = await session.get(OrgUnit, data.department_id)
    if unit is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", ["departmentId"])
    why = await handling_reason(session, unit)
    if why is not None:
        raise DomainError(ErrorCode.SEPARATION_OF_DUTIES,
                          msg("the periodic review is done by a department that handles no complaints: {why}", why=why),
                          ["departmentId"])
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a person creates a review plan")
    plan = ReviewPlan(name=name, period_from=data.period_from, period_to=data.period_to,
                      sample_rule=data.sample_rule.value, sample_percent=data.sample_percent,
                      department_id=unit.id, created_by=actor.user_id, created_at=now)
    session.add(plan)
    await session.flush()
    sample = await _sample(session, data)
    session.add_all([ReviewPlanCase(plan_id=plan.id, complaint_id=c) for c in sample])
    await session.flush()
    await record_event(session, actor=actor, action="create_review_plan", subject_type="ReviewPlan",
                       subject_id=plan.id, now=now, changes={
                           "departmentId": unit.id, "sampleRule": plan.sample_rule, "sampled": len(sample),
                           "periodFrom": plan.period_from.isoformat(), "periodTo": plan.period_to.isoformat()})
    return plan


async def _plan(session: AsyncSession, plan_id: uuid.UUID) -> ReviewPlan:
    plan = await session.get(ReviewPlan, plan_id)
    if plan is None:
        raise DomainError(ErrorCode.NOT_FOUND, "review plan not found", ["planId"])
    return plan


async def record_finding(
    session: AsyncSession, *, actor: Actor, now: datetime, plan_id: uuid.UUID, complaint_id: uuid.UUID,
    outcome: FindingOutcome, note: str,
) -> ReviewFinding:
    plan = await _plan(session, plan_id)
    sampled = await session.scalar(select(ReviewPlanCase.complaint_id).where(
        ReviewPlanCase.plan_id == plan.id, ReviewPlanCase.complaint_id == complaint_id))
    if sampled is None:
        raise DomainError(ErrorCode.NOT_FOUND, "the complaint is not in the plan's sample", ["complaintId"])
    text_ = v.required_text(note, "note", max_length=MAX_TEXT)
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a reviewer records findings")
    member = await session.scalar(select(User.org_unit_id).where(User.id == actor.user_id))
    if member != plan.department_id:
        raise DomainError(ErrorCode.NOT_ALLOWED, "only a member of the plan's department records its findings",
                          ["planId"])
    if actor.user_id in (await handlers_of(session, [complaint_id]))[complaint_id]:
        raise DomainError(ErrorCode.SEPARATION_OF_DUTIES, "four eyes: whoever handled a case may not review it",
                          ["complaintId"])
    if await session.scalar(select(ReviewFinding.id).where(ReviewFinding.plan_id == plan.id,
                                                           ReviewFinding.complaint_id == complaint_id)):
        raise DomainError(ErrorCode.DUPLICATE, "the case has a finding in this plan already", ["complaintId"])
    finding = ReviewFinding(plan_id=plan.id, complaint_id=complaint_id, outcome=outcome.value, note=text_,
                            reviewer_id=actor.user_id, recorded_at=now)
    session.add(finding)
    await session.flush()
    await record_event(session, actor=actor, action="record_review_finding", subject_type="ReviewPlan",
                       subject_id=plan.id, now=now,
                       changes={"findingId": finding.id, "complaintId": complaint_id, "outcome": finding.outcome})
    return finding


async def add_improvement_action(
    session: AsyncSession, *, actor: Actor, now: datetime, plan_id: uuid.UUID, description: str,
    owner_id: uuid.UUID, due_date: date, finding_id: uuid.UUID | None = None,
) -> ImprovementAction:
    plan = await _plan(session, plan_id)
    text_ = v.required_text(description, "description", max_length=MAX_TEXT)
    owner = await session.get(User, owner_id)
    if owner is None or not owner.active:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", ["ownerId"])
    if finding_id is not None and await session.scalar(select(ReviewFinding.id).where(
            ReviewFinding.id == finding_id, ReviewFinding.plan_id == plan.id)) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "finding not found in this plan", ["findingId"])
    if due_date < now.astimezone(await tenant_timezone(session)).date():
        raise DomainError(ErrorCode.OUT_OF_RANGE, "the due date is past", ["dueDate"])
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a person adds improvement actions")
    action = ImprovementAction(plan_id=plan.id, finding_id=finding_id, description=text_, owner_id=owner.id,
                               due_date=due_date, created_by=actor.user_id, created_at=now)
    session.add(action)
    await session.flush()
    await record_event(session, actor=actor, action="add_improvement_action", subject_type="ReviewPlan",
                       subject_id=plan.id, now=now, changes={"actionId": action.id, "ownerId": owner.id,
                                                             "dueDate": due_date.isoformat()})
    return action


async def complete_improvement_action(
    session: AsyncSession, *, actor: Actor, subject: authz.Subject, now: datetime, action_id: uuid.UUID, note: str,
) -> ImprovementAction:
    """The action's owner, or a holder of ``review_plan.manage``, marks it done with what was done (sealed);
    audited on the plan's trail. Refusals: NOT_FOUND, NOT_ALLOWED (neither the owner nor a manager of review
    plans), ILLEGAL_TRANSITION (completed already), REQUIRED (no note)."""
    action = await session.get(ImprovementAction, action_id, with_for_update=True, populate_existing=True)
    if action is None:
        raise DomainError(ErrorCode.NOT_FOUND, "improvement action not found", ["actionId"])
    if actor.user_id is None or (actor.user_id != action.owner_id and not (
            await authz.authorize(session, subject, authz.Action.REVIEW_PLAN_MANAGE)).allowed):
        raise DomainError(ErrorCode.NOT_ALLOWED, "only the action's owner or a manager of review plans completes "
                          "it", ["actionId"])
    if action.completed_at is not None:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the improvement action is completed already",
                          ["actionId"])
    text_ = v.required_text(note, "note", max_length=MAX_TEXT)
    action.completed_at, action.completed_by, action.completion_note = now, actor.user_id, text_
    await session.flush()
    await record_event(session, actor=actor, action="complete_improvement_action", subject_type="ReviewPlan",
                       subject_id=action.plan_id, now=now,
                       changes={"actionId": action.id, "ownerId": action.owner_id,
                                "byOwner": actor.user_id == action.owner_id})
    return action


@dataclass(frozen=True)
class PlanSummary:
    sampled: int
    reviewed: int
    nonconforming: int
    actions: int
    actions_open: int


async def plans(session: AsyncSession) -> Sequence[ReviewPlan]:
    return (await session.scalars(select(ReviewPlan).order_by(ReviewPlan.created_at.desc(), ReviewPlan.id))).all()


async def plan_summary(session: AsyncSession, plan_id: uuid.UUID) -> PlanSummary:
    sampled = await session.scalar(select(func.count()).select_from(ReviewPlanCase)
                                   .where(ReviewPlanCase.plan_id == plan_id))
    reviewed, nonconforming = (await session.execute(select(
        func.count(), func.count().filter(ReviewFinding.outcome == FindingOutcome.NONCONFORMING.value))
        .where(ReviewFinding.plan_id == plan_id))).one()
    actions, open_ = (await session.execute(select(
        func.count(), func.count().filter(ImprovementAction.completed_at.is_(None)))
        .where(ImprovementAction.plan_id == plan_id))).one()
    return PlanSummary(int(sampled or 0), int(reviewed), int(nonconforming), int(actions), int(open_))


async def sample_of(session: AsyncSession, plan_id: uuid.UUID) -> list[uuid.UUID]:
    return list((await session.scalars(select(ReviewPlanCase.complaint_id).where(ReviewPlanCase.plan_id == plan_id)
                                       )).all())


async def findings_of(session: AsyncSession, plan_id: uuid.UUID) -> Sequence[ReviewFinding]:
    return (await session.scalars(select(ReviewFinding).where(ReviewFinding.plan_id == plan_id)
                                  .order_by(ReviewFinding.recorded_at, ReviewFinding.id))).all()


async def actions_of(session: AsyncSession, plan_id: uuid.UUID) -> Sequence[ImprovementAction]:
    return (await session.scalars(select(ImprovementAction).where(ImprovementAction.plan_id == plan_id)
                                  .order_by(ImprovementAction.created_at, ImprovementAction.id))).all()
