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
from services.api.authz import require_query, subject_of
from services.api.complaints.mutations import ComplaintPayload, _step
from services.api.complaints.types import ERASED_NAME, ComplaintType, load_complaint
from services.api.context import Info, Viewer
from services.api.errors import UserError
from services.api.ids import decode_id, decode_optional
from services.api.mutations import mutate
from services.api.nodes import global_id
from services.api.org.types import OrgUnitType, UserType, load_org_unit, load_user
from services.core import authz
from services.core.accountability import (
    major,
    models,
    opinion_book,
    penalties,
    repeats,
    responsibility,
    review_plans,
    settings,
)
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


@strawberry.input
class CompleteImprovementActionInput:
    action_id: relay.GlobalID
    note: str = strawberry.field(description="what was done")


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
        views = await info.context.loaders.complaint_by_id.load_many(ids)  # one statement for the page
        return [ComplaintType.from_view(v) for v in views if v is not None]

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


# ---------------------------------------------------------------- repeats, opinion books, major complaints


@strawberry.input(description="二次投诉: confirm (the complaint repeats the earlier one) or dismiss the proposal")
class ConfirmRepeatInput:
    complaint_id: relay.GlobalID
    confirm: bool


@strawberry.input(description="What the major-complaint criteria read besides the case (null keeps a mark)")
class MarkComplaintAttentionInput:
    complaint_id: relay.GlobalID
    group_complaint: bool | None = None
    media_attention: bool | None = None


@strawberry.input(description="The regulator liaison approves the major complaint's regulator notification draft")
class ApproveMajorComplaintReportInput:
    complaint_id: relay.GlobalID


@strawberry.input(description="顾客意见簿: an entry of a store's opinion book")
class RecordOpinionBookEntryInput:
    store_id: relay.GlobalID
    entry_date: date
    text: str
    customer_name: str | None = None
    customer_phone: str | None = None
    complaint_id: relay.GlobalID | None = strawberry.field(default=None,
                                                          description="the complaint recorded for it, if known")


@strawberry.input
class ReconcileOpinionBookEntryInput:
    entry_id: relay.GlobalID
    complaint_id: relay.GlobalID


@strawberry.type(name="OpinionBookEntry")
class OpinionBookEntryType:
    id: strawberry.ID
    entry_date: date
    text: str
    customer_name: str | None = strawberry.field(description="masked unless you may see complainants' identity")
    customer_phone: str | None = strawberry.field(description="masked unless you may see complainants' identity")
    customer_erased: bool = strawberry.field(description=f"true when the customer's details were erased (the "
                                             f"complainant's erasure, or the retention period): customerName is "
                                             f"{ERASED_NAME!r}, customerPhone null")
    recorded_at: datetime
    reconciled_at: datetime | None
    store_id: strawberry.Private[uuid.UUID]
    complaint_uuid: strawberry.Private[uuid.UUID | None]
    matched_uuid: strawberry.Private[uuid.UUID | None]
    recorded_by_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, e: Any, *, identity: bool, matched: uuid.UUID | None = None) -> OpinionBookEntryType:
        name, phone = e.customer_name, e.customer_phone
        erased = e.customer_erased_at is not None
        return cls(id=global_id("OpinionBookEntry", e.id), entry_date=e.entry_date, text=e.text_,
                   customer_name=ERASED_NAME if erased else
                   (name if identity else authz.mask_name(name)) if name else None,
                   customer_phone=(phone if identity else authz.mask_phone(phone)) if phone else None,
                   customer_erased=erased,
                   recorded_at=e.recorded_at, reconciled_at=e.reconciled_at, store_id=e.store_id,
                   complaint_uuid=e.complaint_id, matched_uuid=matched, recorded_by_id=e.recorded_by)

    @strawberry.field
    async def store(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.store_id)

    @strawberry.field
    async def recorded_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.recorded_by_id)

    @strawberry.field(description="The complaint behind the entry: reconciled, or found by the customer's phone")
    async def complaint(self, info: Info) -> ComplaintType | None:
        return await load_complaint(info, self.complaint_uuid or self.matched_uuid)

    @strawberry.field(description="Whether a complaint is behind the entry (whether or not you may read it)")
    def has_complaint(self) -> bool:
        return self.complaint_uuid is not None or self.matched_uuid is not None


@strawberry.type
class OpinionBookEntryPayload:
    entry: OpinionBookEntryType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(name="AccountabilitySettings")
class AccountabilitySettingsType:
    repeat_window_days: int
    major_amount_at_least: Decimal | None
    major_on_group_complaint: bool
    major_on_media_attention: bool
    major_repeat_count_at_least: int | None
    major_category_ids: list[strawberry.ID]

    @classmethod
    def from_model(cls, row: Any) -> AccountabilitySettingsType:
        return cls(repeat_window_days=row.repeat_window_days, major_amount_at_least=row.major_amount_at_least,
                   major_on_group_complaint=row.major_on_group_complaint,
                   major_on_media_attention=row.major_on_media_attention,
                   major_repeat_count_at_least=row.major_repeat_count_at_least,
                   major_category_ids=[global_id("Category", c) for c in row.major_category_ids or []])


@strawberry.input(description="null keeps a value; clearMajorAmount / clearMajorRepeatCount switch that criterion off")
class UpdateAccountabilitySettingsInput:
    repeat_window_days: int | None = None
    major_amount_at_least: Decimal | None = None
    clear_major_amount: bool = False
    major_on_group_complaint: bool | None = None
    major_on_media_attention: bool | None = None
    major_repeat_count_at_least: int | None = None
    clear_major_repeat_count: bool = False
    major_category_ids: list[relay.GlobalID] | None = None


@strawberry.type
class AccountabilitySettingsPayload:
    settings: AccountabilitySettingsType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# ---------------------------------------------------------------- operations


async def _may(info: Info, session: AsyncSession, action: Action) -> bool:
    return (await authz.authorize(session, await subject_of(info.context), action)).allowed


def _penalty_payload(penalty: Any) -> PenaltyPayload:
    return PenaltyPayload(penalty=PenaltyType.from_model(penalty, full=True))


def _settings_payload(row: Any) -> AccountabilitySettingsPayload:
    return AccountabilitySettingsPayload(settings=AccountabilitySettingsType.from_model(row))


def _finding_payload(done: tuple[Any, Any]) -> ReviewPlanPayload:
    finding, plan = done
    return ReviewPlanPayload(review_plan=ReviewPlanType.from_model(plan), finding=ReviewFindingType.from_model(finding))


def _improvement_payload(done: tuple[Any, Any]) -> ReviewPlanPayload:
    action, plan = done
    return ReviewPlanPayload(review_plan=ReviewPlanType.from_model(plan),
                             improvement_action=ImprovementActionType.from_model(action))


def _entry_payload(done: tuple[Any, bool]) -> OpinionBookEntryPayload:
    entry, identity = done
    return OpinionBookEntryPayload(entry=OpinionBookEntryType.from_model(entry, identity=identity))


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


    @strawberry.field(description="顾客意见簿: the stores' opinion-book entries by day; spotCheck: only those with no "
                      "complaint behind them (not reconciled, and no complaint of the store by the customer's phone)")
    async def opinion_book_entries(self, info: Info, store_id: relay.GlobalID | None = None,
                                   date_from: date | None = None, date_to: date | None = None,
                                   spot_check: bool = False) -> list[OpinionBookEntryType]:
        await require_query(info.context, Action.OPINION_BOOK_READ)
        try:
            store = decode_optional(store_id, "OrgUnit", "storeId")
        except DomainError:
            return []
        async with info.context.db() as session:
            found = await opinion_book.entries(session, store_id=store, date_from=date_from, date_to=date_to,
                                               unreconciled_only=spot_check)
            matched = await opinion_book.matched_complaints(session, [e.id for e in found if e.complaint_id is None])
            identity = await _may(info, session, Action.COMPLAINT_READ_IDENTITY)
        return [OpinionBookEntryType.from_model(e, identity=identity, matched=matched.get(e.id)) for e in found]

    @strawberry.field(description="The repeat window and the major-complaint criteria")
    async def accountability_settings(self, info: Info) -> AccountabilitySettingsType:
        await require_query(info.context, Action.ACCOUNTABILITY_CONFIGURE)
        async with info.context.db() as session:
            return AccountabilitySettingsType.from_model(await settings.get_settings(session))

    @strawberry.field(description="重大投诉: the flagged complaints you may read, newest first (state: DRAFT waits "
                      "for the regulator liaison)")
    async def major_complaints(self, info: Info, state: models.MajorState | None = None) -> list[ComplaintType]:
        await info.context.require_viewer()
        async with info.context.db() as session:
            found = await major.flagged(session, state)
        views = await info.context.loaders.complaint_by_id.load_many([m.complaint_id for m in found])
        return [ComplaintType.from_view(v) for v in views if v is not None]


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
        async def work(session: AsyncSession, viewer: Viewer) -> Any:
            return await penalties.propose_penalty(session, actor=viewer.actor, now=info.context.now(), data=(
                penalties.PenaltyInput(
                    target=input.target, kind=input.kind, reason=input.reason, serious=input.serious,
                    org_unit_id=decode_optional(input.org_unit_id, "OrgUnit", "orgUnitId"),
                    person_id=decode_optional(input.person_id, "User", "personId"), amount=input.amount,
                    complaint_id=decode_optional(input.complaint_id, "Complaint", "complaintId"))))

        return await mutate(info, PenaltyPayload, work, _penalty_payload, action=Action.PENALTY_PROPOSE)

    @strawberry.mutation(description="The general manager approves (it takes effect and is published) or rejects a "
                         "serious penalty; never one they proposed")
    async def decide_penalty(self, info: Info, input: DecidePenaltyInput) -> PenaltyPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> Any:
            return await penalties.decide_penalty(
                session, actor=viewer.actor, now=info.context.now(),
                penalty_id=decode_id(input.penalty_id, "Penalty", "penaltyId"), approve=input.approve,
                note=input.note)

        return await mutate(info, PenaltyPayload, work, _penalty_payload, action=Action.PENALTY_DECIDE)

    @strawberry.mutation(description="Plan a periodic independent review (refused for a department that handles "
                         "complaints)")
    async def create_review_plan(self, info: Info, input: CreateReviewPlanInput) -> ReviewPlanPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> Any:
            return await review_plans.create_review_plan(session, actor=viewer.actor, now=info.context.now(), data=(
                review_plans.ReviewPlanInput(
                    name=input.name, period_from=input.period_from, period_to=input.period_to,
                    sample_rule=input.sample_rule, sample_percent=input.sample_percent,
                    department_id=decode_id(input.department_id, "OrgUnit", "departmentId"))))

        return await mutate(info, ReviewPlanPayload, work,
                            lambda plan: ReviewPlanPayload(review_plan=ReviewPlanType.from_model(plan)),
                            action=Action.REVIEW_PLAN_MANAGE)

    @strawberry.mutation(description="A reviewer of the plan's department records the finding on a sampled case "
                         "(never on a case they handled)")
    async def record_review_finding(self, info: Info, input: RecordReviewFindingInput) -> ReviewPlanPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> tuple[Any, Any]:
            finding = await review_plans.record_finding(
                session, actor=viewer.actor, now=info.context.now(),
                plan_id=decode_id(input.plan_id, "ReviewPlan", "planId"),
                complaint_id=decode_id(input.complaint_id, "Complaint", "complaintId"),
                outcome=input.outcome, note=input.note)
            return finding, await session.get(models.ReviewPlan, finding.plan_id)

        return await mutate(info, ReviewPlanPayload, work, _finding_payload, action=Action.REVIEW_PLAN_RECORD)

    @strawberry.mutation(description="An improvement action the review calls for: owner and due date")
    async def add_improvement_action(self, info: Info, input: AddImprovementActionInput) -> ReviewPlanPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> tuple[Any, Any]:
            action = await review_plans.add_improvement_action(
                session, actor=viewer.actor, now=info.context.now(),
                plan_id=decode_id(input.plan_id, "ReviewPlan", "planId"), description=input.description,
                owner_id=decode_id(input.owner_id, "User", "ownerId"), due_date=input.due_date,
                finding_id=decode_optional(input.finding_id, "ReviewFinding", "findingId"))
            return action, await session.get(models.ReviewPlan, action.plan_id)

        return await mutate(info, ReviewPlanPayload, work, _improvement_payload, action=Action.REVIEW_PLAN_MANAGE)

    @strawberry.mutation(description="The action's owner (or a holder of review_plan.manage) marks an improvement "
                         "action done, saying what was done")
    async def complete_improvement_action(self, info: Info, input: CompleteImprovementActionInput
                                          ) -> ReviewPlanPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> tuple[Any, Any]:
            action = await review_plans.complete_improvement_action(
                session, actor=viewer.actor, subject=await subject_of(info.context), now=info.context.now(),
                action_id=decode_id(input.action_id, "ImprovementAction", "actionId"), note=input.note)
            return action, await session.get(models.ReviewPlan, action.plan_id)

        return await mutate(info, ReviewPlanPayload, work, _improvement_payload)  # the core decides who may


    @strawberry.mutation(description="二次投诉: the desk confirms or dismisses the repeat proposed on recording; a "
                         "confirmed repeat of an unanswered complaint counts against its store and opens a penalty "
                         "proposal")
    async def confirm_repeat(self, info: Info, input: ConfirmRepeatInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.CONFIRM_REPEAT, repeats.confirm_repeat,
                           confirm=input.confirm)

    @strawberry.mutation(description="Mark a group complaint or media attention (the major-complaint criteria are "
                         "checked again)")
    async def mark_complaint_attention(self, info: Info, input: MarkComplaintAttentionInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.FLAG_MAJOR, major.mark_attention,
                           group_complaint=input.group_complaint, media_attention=input.media_attention)

    @strawberry.mutation(description="The regulator liaison approves a major complaint's regulator notification "
                         "draft: it goes out through the outbox, once")
    async def approve_major_complaint_report(self, info: Info, input: ApproveMajorComplaintReportInput
                                             ) -> ComplaintPayload:
        payload = await _step(info, input.complaint_id, Action.APPROVE_MAJOR_REPORT, major.approve_draft)
        if payload.complaint is not None:
            from services.api.escalation.schema import kick_outbox

            await kick_outbox()
        return payload

    @strawberry.mutation(description="顾客意见簿: record an entry of a store's opinion book")
    async def record_opinion_book_entry(self, info: Info, input: RecordOpinionBookEntryInput
                                        ) -> OpinionBookEntryPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> tuple[Any, bool]:
            entry = await opinion_book.record_entry(session, actor=viewer.actor, now=info.context.now(), data=(
                opinion_book.EntryInput(
                    store_id=decode_id(input.store_id, "OrgUnit", "storeId"), entry_date=input.entry_date,
                    text=input.text, customer_name=input.customer_name, customer_phone=input.customer_phone,
                    complaint_id=decode_optional(input.complaint_id, "Complaint", "complaintId"))))
            return entry, await _may(info, session, Action.COMPLAINT_READ_IDENTITY)

        return await mutate(info, OpinionBookEntryPayload, work, _entry_payload, action=Action.OPINION_BOOK_RECORD)

    @strawberry.mutation(description="Reconcile an opinion-book entry with the complaint recorded for it")
    async def reconcile_opinion_book_entry(self, info: Info, input: ReconcileOpinionBookEntryInput
                                           ) -> OpinionBookEntryPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> tuple[Any, bool]:
            entry = await opinion_book.reconcile_entry(
                session, actor=viewer.actor, now=info.context.now(),
                entry_id=decode_id(input.entry_id, "OpinionBookEntry", "entryId"),
                complaint_id=decode_id(input.complaint_id, "Complaint", "complaintId"))
            return entry, await _may(info, session, Action.COMPLAINT_READ_IDENTITY)

        return await mutate(info, OpinionBookEntryPayload, work, _entry_payload, action=Action.OPINION_BOOK_RECORD)

    @strawberry.mutation(description="Admin: the repeat window and the major-complaint criteria (audited)")
    async def update_accountability_settings(self, info: Info, input: UpdateAccountabilitySettingsInput
                                             ) -> AccountabilitySettingsPayload:
        async def work(session: AsyncSession, viewer: Viewer) -> Any:
            return await settings.update_settings(session, actor=viewer.actor, now=info.context.now(), data=(
                settings.SettingsInput(
                    repeat_window_days=input.repeat_window_days,
                    major_amount_at_least=input.major_amount_at_least, clear_major_amount=input.clear_major_amount,
                    major_on_group_complaint=input.major_on_group_complaint,
                    major_on_media_attention=input.major_on_media_attention,
                    major_repeat_count_at_least=input.major_repeat_count_at_least,
                    clear_major_repeat_count=input.clear_major_repeat_count,
                    major_category_ids=None if input.major_category_ids is None else [
                        decode_id(c, "Category", "majorCategoryIds") for c in input.major_category_ids])))

        return await mutate(info, AccountabilitySettingsPayload, work, _settings_payload,
                            action=Action.ACCOUNTABILITY_CONFIGURE)


__all__ = ["AccountabilityMutations", "AccountabilityQueries"]
