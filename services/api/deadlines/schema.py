"""Queries and mutations of deadlines, SLA profiles and the calendar (names fixed by api.md:
``slaProfiles``, ``calendars``, ``upsertSlaProfile``, ``setCalendarDay``; added: ``updateCalendar``,
``extendDeadline``, ``requestDeadlineExtension``, ``approveDeadlineExtension``, ``rejectDeadlineExtension``,
``startExternalAppraisal``, ``endExternalAppraisal``). Business rules live in ``services.core.deadlines``;
refusals are userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, time
from typing import Any

import strawberry
from strawberry import relay

from services.api.authz import require, require_query, subject_of
from services.api.complaints.mutations import ComplaintPayload, _reload, _step
from services.api.complaints.types import ComplaintType
from services.api.context import Info
from services.api.deadlines.types import (
    Deadline,
    DeadlineExtensionRequestType,
    SlaProfile,
    WorkingDayCalendar,
    calendar_type,
)
from services.api.errors import UserError, user_error
from services.api.ids import decode_id, decode_optional
from services.core import authz
from services.core.authz import Action
from services.core.calendars import DayKind, ReceiptRule
from services.core.calendars.schedule import ScheduleFormat, ScheduleRefused
from services.core.complaints.models import ComplaintStatus
from services.core.deadlines import appraisal, extension_requests
from services.core.deadlines import rules as r
from services.core.deadlines import service as svc
from services.core.errors import DomainError, ErrorCode


@strawberry.input
class SlaExtensionInput:
    add_days: int
    requires_complex: bool = False
    requires_approval: bool = False


@strawberry.input(description="One deadline of a profile")
class SlaRuleInput:
    kind: r.DeadlineKind
    basis: r.Basis
    days: int
    starts_on: r.Event
    met_on: list[r.Event] = strawberry.field(default_factory=list)
    pause_in: list[ComplaintStatus] = strawberry.field(default_factory=list,
                                                       description="the statuses that pause the deadline")
    pause_conditions: list[r.PauseCondition] = strawberry.field(
        default_factory=list, description="the other conditions that pause the deadline (EXTERNAL_APPRAISAL)")
    days_foreign: int | None = None
    stage: str | None = None
    party: r.Party = r.Party.COMPANY
    remind_before: int = 1
    only_department_kinds: list[str] = strawberry.field(default_factory=list)
    extensions: list[SlaExtensionInput] = strawberry.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "basis": self.basis.value, "days": self.days, "daysForeign": self.days_foreign,
            "startsOn": self.starts_on.value, "metOn": [e.value for e in self.met_on],
            "pauseIn": [*(s.value for s in self.pause_in), *(c.value for c in self.pause_conditions)],
            "stage": self.stage, "party": self.party.value,
            "remindBefore": self.remind_before, "onlyDepartmentKinds": list(self.only_department_kinds),
            "extensions": [{"addDays": x.add_days, "requiresComplex": x.requires_complex,
                            "requiresApproval": x.requires_approval} for x in self.extensions],
        }


@strawberry.input(description="Create or replace the profile of a category (or, without one, the default)")
class UpsertSlaProfileInput:
    category_id: relay.GlobalID | None = None
    name: str
    rules: list[SlaRuleInput]


@strawberry.type
class SlaProfilePayload:
    sla_profile: SlaProfile | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Override one date; kind null removes the date's override")
class SetCalendarDayInput:
    date: date
    kind: DayKind | None
    name: str | None = None
    cover_year: bool = strawberry.field(
        default=False, description="refused when true: a year becomes known only by importCalendarYear",
        deprecation_reason="a year becomes known only by importing its whole schedule (importCalendarYear)")


@strawberry.input(description="Change the calendar's jurisdiction, end of working hours, receipt rule or declared "
                              "years")
class UpdateCalendarInput:
    jurisdiction: str | None = None
    working_hours_end: time | None = strawberry.field(
        default=None, description="a complaint arriving at or after it counts as arriving the next day")
    receipt_rule: ReceiptRule | None = strawberry.field(
        default=None, description="which day a complaint counts as received on (the jurisdiction's by default)")
    covered_years: list[int] | None = strawberry.field(
        default=None, description="the declared years to keep: a year can be taken away here, never added "
                                  "(importCalendarYear adds one)")


@strawberry.input(description=(
    "Import a year's official schedule: every holiday (HOLIDAY) and make-up working day (WORKDAY, on a weekend "
    "day), one per row, all in that year; all or nothing. The year then counts as known and every open deadline "
    "is computed again"))
class ImportCalendarYearInput:
    year: int
    format: ScheduleFormat
    content: str = strawberry.field(description="the file: JSON [{date, kind, name}] or CSV date,kind,name")
    replace: bool = strawberry.field(
        default=False, description="put it in place of the year's schedule or overrides (else refused: DUPLICATE)")


@strawberry.type
class ImportCalendarYearPayload:
    calendar: WorkingDayCalendar | None = None
    holidays: int = 0
    workdays: int = 0
    deadlines_moved: int = 0
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CalendarPayload:
    calendar: WorkingDayCalendar | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description=(
    "Extend an open deadline at once by its rule's next extension (bank: 15 to 30 days for a complex case). An "
    "extension that needs an approval (bank: a further 30) is refused with APPROVAL_REQUIRED whoever asks: "
    "requestDeadlineExtension, then someone else approves. The customer is told the reason (a notice is stored "
    "for sending)."))
class ExtendDeadlineInput:
    complaint_id: relay.GlobalID
    reason: str
    complex: bool = False
    kind: r.DeadlineKind = r.DeadlineKind.DECISION


@strawberry.type
class ExtendDeadlinePayload:
    complaint: ComplaintType | None = None
    deadline: Deadline | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description=(
    "Ask for the next extension of an open deadline when its rule needs an approval (bank: the second extension "
    "of a decision, +30 days); someone else allowed complaint.approve_deadline_extension approves or rejects it"))
class RequestDeadlineExtensionInput:
    complaint_id: relay.GlobalID
    reason: str = strawberry.field(description="why; the customer is told it if the extension is granted")
    complex: bool = False
    kind: r.DeadlineKind = r.DeadlineKind.DECISION


@strawberry.input(description="Approve a pending extension request (not your own): the extension is granted")
class ApproveDeadlineExtensionInput:
    request_id: relay.GlobalID
    note: str | None = None


@strawberry.input(description="Reject a pending extension request (not your own), saying why")
class RejectDeadlineExtensionInput:
    request_id: relay.GlobalID
    reason: str


@strawberry.type
class DeadlineExtensionRequestPayload:
    extension_request: DeadlineExtensionRequestType | None = None
    complaint: ComplaintType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description=(
    "Put an open case on external appraisal (a third party's appraisal or assessment, 鉴定/评估; in retail a "
    "product inspection): the deadlines whose rules name EXTERNAL_APPRAISAL pause until it ends"))
class StartExternalAppraisalInput:
    complaint_id: relay.GlobalID
    reason: str = strawberry.field(description="why the case waits (kept sealed)")
    appraiser: str | None = strawberry.field(default=None, description="who appraises (kept sealed)")


@strawberry.input(description="Take the case off external appraisal: the deadlines it paused run again, longer by "
                              "the time it took (in their own working or calendar days)")
class EndExternalAppraisalInput:
    complaint_id: relay.GlobalID
    outcome: str | None = strawberry.field(default=None, description="what the appraisal found (kept sealed)")


async def _may(info: Info, session: Any, action: Action) -> bool:
    return (await authz.authorize(session, await subject_of(info.context), action)).allowed is True


async def _decide(info: Info, request_id: relay.GlobalID, decide: Callable[..., Awaitable[extension_requests.Decided]],
                  **form: Any) -> DeadlineExtensionRequestPayload:
    """Authorize complaint.approve_deadline_extension on the request's complaint, then approve or reject it in one
    transaction. A request of a complaint the viewer may not read is "not found", like a missing one."""
    ctx = info.context
    viewer = await ctx.require_viewer()
    try:
        rid = decode_id(request_id, "DeadlineExtensionRequest", "requestId")
        async with ctx.transaction() as session:
            cid = (await extension_requests.get_request(session, rid)).complaint_id
            try:
                await require(ctx, session, Action.APPROVE_DEADLINE_EXTENSION, cid)
            except DomainError as exc:
                if exc.code != ErrorCode.NOT_FOUND:
                    raise
                raise DomainError(ErrorCode.NOT_FOUND, "extension request not found", ["requestId"]) from None
            done = await decide(session, actor=viewer.actor, now=ctx.now(), request_id=rid, **form)
            result = DeadlineExtensionRequestType.from_model(done.request)
    except DomainError as exc:
        return DeadlineExtensionRequestPayload(user_errors=[user_error(exc)])
    return DeadlineExtensionRequestPayload(extension_request=result, complaint=await _reload(ctx, cid))


@strawberry.type
class DeadlineQueries:
    @strawberry.field(description="The tenant's SLA profiles: the default one first, then per category")
    async def sla_profiles(self, info: Info) -> list[SlaProfile]:
        await require_query(info.context, Action.ORG_READ)
        async with info.context.db() as session:
            return [SlaProfile.from_model(p) for p in await svc.list_profiles(session)]

    @strawberry.field(description="The tenant's working-day calendar (one: its jurisdiction plus its overrides)")
    async def calendars(self, info: Info) -> list[WorkingDayCalendar]:
        await require_query(info.context, Action.ORG_READ)
        async with info.context.db() as session:
            admin = await _may(info, session, Action.DEADLINE_CONFIGURE)
        cal = await info.context.loaders.calendar.load("tenant")
        return [calendar_type(cal, info.context.now(), admin=admin)]


@strawberry.type
class DeadlineMutations:
    @strawberry.mutation(description="Create or replace an SLA profile; running deadlines keep their rules")
    async def upsert_sla_profile(self, info: Info, input: UpsertSlaProfileInput) -> SlaProfilePayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.DEADLINE_CONFIGURE)
                profile = await svc.upsert_sla_profile(
                    session, actor=viewer.actor, now=ctx.now(),
                    category_id=decode_optional(input.category_id, "Category", "categoryId"),
                    name=input.name, rules=[x.as_json() for x in input.rules],
                )
                result = SlaProfile.from_model(profile)
        except DomainError as exc:
            return SlaProfilePayload(user_errors=[user_error(exc)])
        return SlaProfilePayload(sla_profile=result)

    @strawberry.mutation(description="Override one date of the calendar (open deadlines are computed again)")
    async def set_calendar_day(self, info: Info, input: SetCalendarDayInput) -> CalendarPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.DEADLINE_CONFIGURE)
                cal = await svc.set_calendar_day(session, actor=viewer.actor, now=ctx.now(), day=input.date,
                                                 kind=input.kind, name=input.name, cover_year=input.cover_year)
        except DomainError as exc:
            return CalendarPayload(user_errors=[user_error(exc)])
        ctx.reset_loaders()
        return CalendarPayload(calendar=calendar_type(cal, ctx.now(), admin=True))

    @strawberry.mutation(description="Change the calendar's settings (open deadlines are computed again)")
    async def update_calendar(self, info: Info, input: UpdateCalendarInput) -> CalendarPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.DEADLINE_CONFIGURE)
                cal = await svc.update_calendar(session, actor=viewer.actor, now=ctx.now(),
                                                jurisdiction=input.jurisdiction,
                                                working_hours_end=input.working_hours_end,
                                                receipt_rule=input.receipt_rule,
                                                covered_years=input.covered_years)
        except DomainError as exc:
            return CalendarPayload(user_errors=[user_error(exc)])
        ctx.reset_loaders()
        return CalendarPayload(calendar=calendar_type(cal, ctx.now(), admin=True))

    @strawberry.mutation(description=(
        "Import a year's official schedule (deadline.configure); refused whole, with every row at fault, when a "
        "row is wrong"))
    async def import_calendar_year(self, info: Info, input: ImportCalendarYearInput) -> ImportCalendarYearPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.DEADLINE_CONFIGURE)
                done = await svc.import_calendar_year(session, actor=viewer.actor, now=ctx.now(), year=input.year,
                                                      fmt=input.format, content=input.content,
                                                      replace=input.replace)
        except ScheduleRefused as exc:
            return ImportCalendarYearPayload(user_errors=[user_error(e) for e in exc.errors])
        except DomainError as exc:
            return ImportCalendarYearPayload(user_errors=[user_error(exc)])
        ctx.reset_loaders()
        return ImportCalendarYearPayload(calendar=calendar_type(done.info, ctx.now(), admin=True),
                                         holidays=done.holidays, workdays=done.workdays,
                                         deadlines_moved=done.deadlines_moved)

    @strawberry.mutation(description=(
        "Extend a deadline as its rule allows, when the extension needs no approval; the customer is told the reason"))
    async def extend_deadline(self, info: Info, input: ExtendDeadlineInput) -> ExtendDeadlinePayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            cid = decode_id(input.complaint_id, "Complaint", "complaintId")
            async with ctx.transaction() as session:
                subject = await subject_of(ctx)
                extend = await authz.decide_on_complaint(session, subject, Action.EXTEND_DEADLINE, cid)
                approve = await authz.decide_on_complaint(session, subject, Action.APPROVE_DEADLINE_EXTENSION, cid)
                if extend is None or approve is None:
                    raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
                if not extend.allowed and not approve.allowed:
                    raise DomainError(ErrorCode.NOT_ALLOWED, "you may not extend deadlines")
                done = await svc.extend_deadline(
                    session, actor=viewer.actor, now=ctx.now(), complaint_id=cid, reason=input.reason,
                    complex_case=input.complex, kind=input.kind, may_extend=extend.allowed,
                )
                deadline = Deadline.from_model(done.deadline)
        except DomainError as exc:
            return ExtendDeadlinePayload(user_errors=[user_error(exc)])
        return ExtendDeadlinePayload(complaint=await _reload(ctx, cid), deadline=deadline)

    @strawberry.mutation(description=(
        "Request an extension that needs an approval (complaint.extend_deadline); refused for one that needs none "
        "(ILLEGAL_TRANSITION: extendDeadline) and while the deadline has a pending request (DUPLICATE)"))
    async def request_deadline_extension(self, info: Info, input: RequestDeadlineExtensionInput
                                         ) -> DeadlineExtensionRequestPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            cid = decode_id(input.complaint_id, "Complaint", "complaintId")
            async with ctx.transaction() as session:
                await require(ctx, session, Action.EXTEND_DEADLINE, cid)
                made = await extension_requests.request_extension(
                    session, actor=viewer.actor, now=ctx.now(), complaint_id=cid, reason=input.reason,
                    complex_case=input.complex, kind=input.kind)
                result = DeadlineExtensionRequestType.from_model(made)
        except DomainError as exc:
            return DeadlineExtensionRequestPayload(user_errors=[user_error(exc)])
        return DeadlineExtensionRequestPayload(extension_request=result, complaint=await _reload(ctx, cid))

    @strawberry.mutation(description=(
        "Approve a pending extension request (complaint.approve_deadline_extension; never your own: "
        "SEPARATION_OF_DUTIES): the extension is granted and the customer told the new date and the reason"))
    async def approve_deadline_extension(self, info: Info, input: ApproveDeadlineExtensionInput
                                         ) -> DeadlineExtensionRequestPayload:
        return await _decide(info, input.request_id, extension_requests.approve_extension, note=input.note)

    @strawberry.mutation(description=(
        "Reject a pending extension request with the reason (complaint.approve_deadline_extension; never your own: "
        "SEPARATION_OF_DUTIES); the requester is notified"))
    async def reject_deadline_extension(self, info: Info, input: RejectDeadlineExtensionInput
                                        ) -> DeadlineExtensionRequestPayload:
        return await _decide(info, input.request_id, extension_requests.reject_extension, reason=input.reason)

    @strawberry.mutation(description=(
        "Put an open case on external appraisal (allowed to those who may extend its deadlines: "
        "complaint.extend_deadline); refused if it is on one already"))
    async def start_external_appraisal(self, info: Info, input: StartExternalAppraisalInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.EXTEND_DEADLINE, appraisal.start_external_appraisal,
                           reason=input.reason, appraiser=input.appraiser)

    @strawberry.mutation(description=(
        "Take an open case off external appraisal (complaint.extend_deadline); its paused deadlines resume"))
    async def end_external_appraisal(self, info: Info, input: EndExternalAppraisalInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.EXTEND_DEADLINE, appraisal.end_external_appraisal,
                           outcome=input.outcome)
