"""GraphQL types of deadlines, SLA profiles and the working-day calendar (``Deadline`` is fixed by api.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Self

import strawberry

from services.api.context import Info
from services.api.nodes import Node, global_id
from services.api.org.types import UserType, load_user, parse_uuid
from services.core.calendars import DayKind, ReceiptRule
from services.core.calendars.schedule import ScheduleFormat
from services.core.complaints.models import ComplaintStatus
from services.core.deadlines import models, tracking
from services.core.deadlines import rules as r
from services.core.deadlines import service as svc

strawberry.enum(r.DeadlineKind, name="DeadlineKind", description=(
    "CUSTOMER_REPLY, DEPARTMENT_ANSWER, FOLLOW_UP, RESOLUTION, STAGE (api.md); DECISION (a bank's decision on the "
    "complaint), REVIEW_REQUEST (the customer's window to ask for a review), REVIEW (the answer to a review)"))
strawberry.enum(r.Basis, name="DeadlineBasis", description="Counts working days or calendar days")
strawberry.enum(r.Party, name="DeadlineParty",
                description="COMPANY deadlines can be overdue; a CUSTOMER window only lapses")
strawberry.enum(r.Event, name="DeadlineEvent", description="The lifecycle events that start and meet deadlines")
strawberry.enum(r.PauseCondition, name="DeadlinePauseCondition", description=(
    "What besides the complaint's status pauses a deadline: EXTERNAL_APPRAISAL, while the case waits on a third "
    "party's appraisal or assessment (startExternalAppraisal until endExternalAppraisal)"))

_STATUSES = {m.value: m for m in ComplaintStatus}
_CONDITIONS = {m.value: m for m in r.PauseCondition}


def pause_statuses(pause_in: Iterable[str]) -> list[ComplaintStatus]:
    """The statuses of a ``pause_in`` (``pauseIn``)."""
    return [_STATUSES[p] for p in pause_in if p in _STATUSES]


def pause_conditions(pause_in: Iterable[str]) -> list[r.PauseCondition]:
    """The other conditions of a ``pause_in`` (``pauseConditions``)."""
    return [_CONDITIONS[p] for p in pause_in if p in _CONDITIONS]
strawberry.enum(DayKind, name="CalendarDayKind")
strawberry.enum(models.ExtensionRequestState, name="DeadlineExtensionRequestState",
                description="PENDING until someone other than the requester approves or rejects it")
strawberry.enum(ReceiptRule, name="ReceiptRule", description=(
    "Which day a complaint counts as received on; it is not counted. CIVIL_CODE_201 (CN's default): the day it "
    "arrives, a rest day too (after working hours: the next day). NEXT_BUSINESS_DAY (other jurisdictions' "
    "default): on a rest day or after working hours, the next working day"))
strawberry.enum(ScheduleFormat, name="CalendarScheduleFormat",
                description="JSON (a list of {date, kind, name}) or CSV (date,kind,name)")


@strawberry.type(description="An extension granted, why, and who approved it (when the rule needs approval)")
class DeadlineExtension:
    number: int
    reason: str
    complex: bool
    added_days: int
    previous_due_at: datetime
    new_due_at: datetime
    created_at: datetime
    requested_by_id: strawberry.Private[uuid.UUID | None]
    approved_by_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def requested_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.requested_by_id) if self.requested_by_id else None

    @strawberry.field
    async def approved_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.approved_by_id) if self.approved_by_id else None


@strawberry.type(description="One deadline of a complaint: a row, planned by the lifecycle's steps")
class Deadline:
    kind: r.DeadlineKind
    stage: str | None = strawberry.field(description="for STAGE: whose share (branch, marketing, processing_unit)")
    party: r.Party
    basis: r.Basis
    period_days: int = strawberry.field(description="the rule's period plus extensions (pauses not included)")
    started_at: datetime
    due_at: datetime = strawberry.field(description="the end of the due day in the tenant's time zone")
    remind_at: datetime | None
    paused: bool
    paused_since: datetime | None
    paused_days: int = strawberry.field(description="days (of the basis) added for the time it was paused")
    pause_in: list[ComplaintStatus] = strawberry.field(description="the statuses that pause this clock")
    pause_conditions: list[r.PauseCondition] = strawberry.field(
        description="the other conditions that pause this clock (EXTERNAL_APPRAISAL)")
    provisional: bool = strawberry.field(
        description="counted on weekends alone in a year the calendar does not know; recomputed when it does")
    unknown_years: list[int]
    extension_count: int
    breached_at: datetime | None
    met_at: datetime | None
    cancelled_at: datetime | None = strawberry.field(description="the complaint was withdrawn")
    id_: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The kind for a person, in the reader's locale (zh-CN or en)")
    async def kind_label(self, info: Info) -> str:
        return await info.context.translate(tracking.KIND_LABELS[self.kind.value])
    row: strawberry.Private[models.Deadline]

    @classmethod
    def from_model(cls, d: models.Deadline) -> Deadline:
        return cls(
            kind=r.DeadlineKind(d.kind), stage=d.stage, party=r.Party(d.party), basis=r.Basis(d.basis),
            period_days=d.period_days, started_at=d.started_at, due_at=d.due_at, remind_at=d.remind_at,
            paused=d.paused_at is not None, paused_since=d.paused_at, paused_days=d.paused_days,
            pause_in=pause_statuses(d.pause_in), pause_conditions=pause_conditions(d.pause_in),
            provisional=d.provisional,
            unknown_years=list(d.unknown_years), extension_count=d.extension_count, breached_at=d.breached_at,
            met_at=d.met_at, cancelled_at=d.cancelled_at, id_=d.id, row=d,
        )

    @strawberry.field(description=(
        "Working days from now to the due day (0 on the due day, negative after it); for a met deadline from "
        "when it was met, for a paused one from when it was paused"))
    async def working_days_left(self, info: Info) -> float:
        cal = await info.context.loaders.calendar.load("tenant")
        return float(svc.working_days_left(cal.calendar, self.row, info.context.now()))

    @strawberry.field(description="open, a COMPANY deadline, and past its due time")
    def overdue(self, info: Info) -> bool:
        return svc.is_overdue(self.row, info.context.now())

    @strawberry.field
    async def extensions(self, info: Info) -> list[DeadlineExtension]:
        if self.extension_count == 0:
            return []
        return [
            DeadlineExtension(number=e.number, reason=e.reason, complex=e.complex, added_days=e.added_days,
                              previous_due_at=e.previous_due_at, new_due_at=e.new_due_at, created_at=e.created_at,
                              requested_by_id=e.requested_by, approved_by_id=e.approved_by)
            for e in await info.context.loaders.extensions_by_deadline_id.load(self.id_)
        ]


@strawberry.type(name="DeadlineExtensionRequest", description=(
    "An extension whose rule needs an approval (bank: the second extension of a decision, +30 days), requested "
    "with the reason (requestDeadlineExtension) and approved or rejected by someone else allowed "
    "complaint.approve_deadline_extension; never by the requester"))
class DeadlineExtensionRequestType(Node):
    kind: r.DeadlineKind
    extension_number: int = strawberry.field(description="which of the rule's extensions (1 = the first)")
    add_days: int = strawberry.field(description="the days it adds, as the rule says")
    reason: str = strawberry.field(description="why; the customer is told it when the extension is granted")
    complex: bool
    state: models.ExtensionRequestState
    requested_at: datetime
    decided_at: datetime | None
    decision_note: str | None = strawberry.field(description="the approver's note, or why it was rejected")
    requested_by_id: strawberry.Private[uuid.UUID]
    decided_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, x: models.DeadlineExtensionRequest) -> DeadlineExtensionRequestType:
        return cls(id=global_id("DeadlineExtensionRequest", x.id), kind=r.DeadlineKind(x.kind),
                   extension_number=x.extension_number, add_days=x.add_days, reason=x.reason or "",
                   complex=x.complex, state=models.ExtensionRequestState(x.state), requested_at=x.requested_at,
                   decided_at=x.decided_at, decision_note=x.decision_note, requested_by_id=x.requested_by,
                   decided_by_id=x.decided_by)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        """``node(id:)``: a request of a complaint the viewer may read, else null."""
        parsed = [parse_uuid(n) for n in node_ids]
        requests = await info.context.loaders.extension_request_by_id.load_many([p for p in parsed if p is not None])
        found = {x.id: x for x in requests if x is not None}
        readable = await info.context.loaders.complaint_by_id.load_many([x.complaint_id for x in found.values()])
        visible = {v.id for v in readable if v is not None}
        return [cls.from_model(found[p]) if p in found and found[p].complaint_id in visible  # type: ignore[misc]
                else None for p in parsed]

    @strawberry.field
    async def requested_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.requested_by_id)

    @strawberry.field
    async def decided_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.decided_by_id) if self.decided_by_id else None


@strawberry.type(description=(
    "The case waits on a third party's appraisal or assessment (鉴定/评估) since startedAt: the deadlines whose "
    "rules name EXTERNAL_APPRAISAL are paused meanwhile"))
class ExternalAppraisal:
    started_at: datetime
    reason: str
    appraiser: str | None
    started_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, a: models.ExternalAppraisal) -> ExternalAppraisal:
        return cls(started_at=a.started_at, reason=a.reason, appraiser=a.appraiser, started_by_id=a.started_by)

    @strawberry.field
    async def started_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.started_by_id) if self.started_by_id else None


@strawberry.type
class SlaExtension:
    add_days: int
    requires_complex: bool
    requires_approval: bool


@strawberry.type(description="One deadline a profile gives a case")
class SlaRule:
    kind: r.DeadlineKind
    basis: r.Basis
    days: int
    days_foreign: int | None
    starts_on: r.Event
    met_on: list[r.Event]
    pause_in: list[ComplaintStatus] = strawberry.field(description="the statuses that pause the deadline")
    pause_conditions: list[r.PauseCondition] = strawberry.field(
        description="the other conditions that pause the deadline (EXTERNAL_APPRAISAL)")
    stage: str | None
    party: r.Party
    remind_before: int
    only_department_kinds: list[str]
    extensions: list[SlaExtension]

    @classmethod
    def from_rule(cls, x: r.Rule) -> SlaRule:
        return cls(kind=x.kind, basis=x.basis, days=x.days, days_foreign=x.days_foreign, starts_on=x.starts_on,
                   met_on=list(x.met_on), pause_in=pause_statuses(x.pause_in),
                   pause_conditions=pause_conditions(x.pause_in), stage=x.stage, party=x.party,
                   remind_before=x.remind_before, only_department_kinds=list(x.only_department_kinds),
                   extensions=[SlaExtension(add_days=e.add_days, requires_complex=e.requires_complex,
                                            requires_approval=e.requires_approval) for e in x.extensions])


@strawberry.type(description="The deadlines of a category's cases (a category's profile wins over the default)")
class SlaProfile:
    id: strawberry.ID
    name: str
    category_id: strawberry.ID | None = strawberry.field(description="null: the default profile")
    rules: list[SlaRule]
    updated_at: datetime

    @classmethod
    def from_model(cls, p: models.SlaProfile) -> SlaProfile:
        return cls(id=strawberry.ID(str(p.id)), name=p.name,
                   category_id=global_id("Category", p.category_id) if p.category_id else None,
                   rules=[SlaRule.from_rule(r.rule_from_json(x, i)) for i, x in enumerate(p.rules)],
                   updated_at=p.updated_at)


@strawberry.type
class CalendarDay:
    date: date
    kind: DayKind
    name: str | None


@strawberry.type(description="The calendar's known years run out soon: enter next year's schedule")
class CoverageWarning:
    last_covered_date: date
    days_left: int
    message: str


@strawberry.type(name="WorkingDayCalendar", description="The tenant's working-day calendar")
class WorkingDayCalendar:
    jurisdiction: str
    timezone: str
    working_hours_end: time = strawberry.field(description="a complaint arriving at or after it counts as arriving "
                                                           "the next day (see receiptRule)")
    receipt_rule: ReceiptRule = strawberry.field(description="the tenant's choice, else the jurisdiction's default")
    receipt_rule_is_default: bool = strawberry.field(description="the tenant chose no receipt rule")
    covered_years: list[int] = strawberry.field(description="the years it knows (package data or declared), near today")
    declared_years: list[int] = strawberry.field(description="the years whose official schedule the tenant imported "
                                                             "(importCalendarYear)")
    overrides: list[CalendarDay]
    coverage_warning: CoverageWarning | None = strawberry.field(
        description="for those who configure deadlines: the known years end less than 60 days ahead")


def calendar_type(info_: svc.CalendarInfo, now: datetime, *, admin: bool) -> WorkingDayCalendar:
    cal = info_.calendar
    today = now.astimezone(cal.tz).date()
    warning = cal.coverage_warning(today) if admin else None
    return WorkingDayCalendar(
        jurisdiction=cal.jurisdiction, timezone=info_.timezone, working_hours_end=cal.working_hours_end,
        receipt_rule=cal.receipt_rule, receipt_rule_is_default=not info_.receipt_rule_chosen,
        covered_years=svc.known_years(cal, today.year), declared_years=list(info_.declared_years),
        overrides=[CalendarDay(date=d, kind=DayKind(k), name=n) for d, k, n in info_.overrides],
        coverage_warning=CoverageWarning(
            last_covered_date=warning.last_covered_date, days_left=warning.days_left,
            message=(f"the {warning.jurisdiction} calendar is known only through {warning.last_covered_date}: "
                     "import next year's official schedule with importCalendarYear"),
        ) if warning else None,
    )


