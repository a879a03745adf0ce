from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry import relay

from services.api.authz import complaint_access, require_query
from services.api.complaints.types import (
    ComplaintConnection,
    ComplaintEdge,
    ComplaintType,
    CustomerMessage,
    PageInfo,
)
from services.api.context import Context, Info
from services.api.errors import RequestError
from services.api.ids import decode_optional
from services.api.ratelimit import TRACK, RateLimited, hit
from services.core import i18n
from services.core.audit import service as audit
from services.core.authz import Action
from services.core.complaints import models
from services.core.complaints import procedure as proc
from services.core.complaints import queries as q
from services.core.complaints.public import public_case
from services.core.complaints.service import complaint_by_access, tenant_timezone
from services.core.deadlines import service as deadlines
from services.core.deadlines import tracking as deadline_tracking
from services.core.errors import DomainError
from services.core.escalation.models import ExternalBodyKind
from services.core.escalation.service import recomplaint_bodies


@strawberry.input(description="Filters; all given conditions must hold")
class ComplaintFilter:
    status: list[models.ComplaintStatus] | None = None
    owner_id: relay.GlobalID | None = None
    department_id: relay.GlobalID | None = None
    store_id: relay.GlobalID | None = None
    category_id: relay.GlobalID | None = None
    channel: models.Channel | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = strawberry.field(default=None, description="number prefix or words of the title")
    complainant_phone: str | None = None
    complainant_id_number: str | None = None
    complainant_email: str | None = None
    litigation: bool | None = None
    repeat: bool | None = strawberry.field(default=None, description="only re-complaints (true) or first ones")
    overdue: bool | None = strawberry.field(
        default=None, description="with an open deadline of the company past due (false: without one)")
    due_within_working_days: int | None = strawberry.field(
        default=None, description="with an open, running deadline of the company due within this many working days "
        "(0: today or the rest days after it), not yet overdue")


def _core_filter(f: ComplaintFilter | None, now: datetime | None = None,
                 due_before: datetime | None = None) -> q.ComplaintFilter:
    if f is None:
        return q.ComplaintFilter()
    try:
        return q.ComplaintFilter(
            statuses=[s.value for s in f.status] if f.status else None,
            owner_id=decode_optional(f.owner_id, "User", "ownerId"),
            department_id=decode_optional(f.department_id, "OrgUnit", "departmentId"),
            store_id=decode_optional(f.store_id, "OrgUnit", "storeId"),
            category_id=decode_optional(f.category_id, "Category", "categoryId"),
            channel=f.channel.value if f.channel else None,
            created_from=f.created_from,
            created_to=f.created_to,
            text=f.text,
            complainant_phone=f.complainant_phone,
            complainant_id_number=f.complainant_id_number,
            complainant_email=f.complainant_email,
            litigation=f.litigation,
            repeat=f.repeat,
            overdue=f.overdue,
            due_before=due_before,
            now=now,
        )
    except DomainError:
        # a filter on an ID that cannot exist here matches nothing
        return q.ComplaintFilter(statuses=["__none__"])


async def list_filter(ctx: Context, filter: ComplaintFilter | None) -> q.ComplaintFilter:
    """The list's filter as the core reads it (the resolver and the compiled plans, services/api/compiled.py);
    raises ``DomainError`` for a value out of bounds."""
    now = ctx.now()
    due_before = None
    if filter is not None and filter.due_within_working_days is not None:
        cal = await ctx.loaders.calendar.load("tenant")
        due_before = deadlines.due_within_cutoff(cal.calendar, now, filter.due_within_working_days)
    return _core_filter(filter, now, due_before)


@strawberry.type(description="A step of the complaint procedure, for customers")
class ProcedureStep:
    key: str
    name: str
    description: str
    expected_time: str


@strawberry.type(description="A way to complain, and how to reach it (in the reader's locale)")
class ProcedureChannel:
    channel: models.Channel
    contact: str | None


@strawberry.type(description="A time the customer may expect (in the reader's locale)")
class ProcedureExpectedTime:
    key: str
    label: str
    time: str


@strawberry.type(description="How complaints are handled here: steps, channels and expected times, in the reader's "
                             "locale (zh-CN or en); the tenant edits it (updateComplaintProcedure)")
class ComplaintProcedure:
    locale: str = strawberry.field(description="the language of the texts (zh-CN or en)")
    summary: str
    steps: list[ProcedureStep]
    channels: list[models.Channel]
    channel_contacts: list[ProcedureChannel] = strawberry.field(
        description="each channel with how to reach it")
    hotline: str | None
    address: str | None
    web: str | None
    expected_times: list[ProcedureExpectedTime]
    further_complaint_text: str = strawberry.field(description="what the customer is told about re-complaining")
    further_complaint: list[PublicBody] = strawberry.field(
        description="where a customer not satisfied may complain further (the association, the regulator): the "
        "tenant's external bodies with an escalation level, in order")


def procedure_view(p: proc.Procedure, bodies: list[Any]) -> ComplaintProcedure:
    return ComplaintProcedure(
        locale=p.locale, summary=p.summary,
        steps=[ProcedureStep(key=s.key, name=s.name, description=s.description, expected_time=s.expected_time)
               for s in p.steps],
        channels=[c.channel for c in p.channels],
        channel_contacts=[ProcedureChannel(channel=c.channel, contact=c.contact) for c in p.channels],
        hotline=p.hotline, address=p.address, web=p.web,
        expected_times=[ProcedureExpectedTime(key=t.key, label=t.label, time=t.time) for t in p.expected_times],
        further_complaint_text=p.further_complaint,
        further_complaint=[_public_body(b) for b in bodies],
    )


@strawberry.type(description="An extension of an expected date: the new date and why (never who decided)")
class ExpectedDateExtension:
    new_due_on: date
    added_days: int
    reason: str


@strawberry.type
class ExpectedDate:
    label: str = strawberry.field(description="in the reader's locale")
    due_on: date
    due_on_text: str = strawberry.field(description="the date as a person reads it, in the reader's locale")
    provisional: bool = strawberry.field(
        description="the date reaches into a year the tenant's holiday calendar does not cover yet (counted on "
        "weekends alone until it does), or, for a case recorded before deadlines were planned, an estimate"
    )
    extensions: list[ExpectedDateExtension] = strawberry.field(
        description="the extensions that moved this date, oldest first: each one's new date and reason")


@strawberry.type(description="What a customer may see of their complaint: never internal opinions or forms")
class ComplaintTracking:
    number: str
    status: models.ComplaintStatus
    status_label: str = strawberry.field(description="the status in the reader's locale")
    next_step: str = strawberry.field(description="what happens next, in the reader's locale")
    received_at: datetime
    received_at_text: str = strawberry.field(
        description="when it was received, in the tenant's time zone and the reader's locale")
    closed_at: datetime | None
    expected_dates: list[ExpectedDate] = strawberry.field(
        description="the open deadlines the customer waits on (first answer, decision, resolution, review "
        "answer), from the case's own deadlines: holidays, pauses and extensions included"
    )
    messages: list[CustomerMessage] = strawberry.field(
        description="what the customer was told: the approved answer, or an unfounded complaint's approved opinion")
    can_give_opinion: bool = strawberry.field(
        description="you may agree or disagree now (submitCustomerOpinion): with the proposed solution, or with "
        "the investigation's opinion (disagreeing has it investigated again)")
    can_rate_satisfaction: bool
    can_request_review: bool = strawberry.field(
        description="you may ask for a review of the decision now (requestReview with your number and access code)")
    review_requestable_until: datetime | None
    review: PublicReview | None
    referred_to: PublicBody | None = strawberry.field(
        description="a REFERRED complaint: the authority it belongs to, and how to reach it")
    further_complaint: list[PublicBody] = strawberry.field(
        description="where you may complain further (the association, the regulator), once we told you")


@strawberry.type(description="An authority or association, as the public sees it")
class PublicBody:
    name: str
    kind: ExternalBodyKind
    contact: str | None


@strawberry.type(description="Your review request and, once given, its answer")
class PublicReview:
    state: models.ReviewState
    requested_at: datetime
    outcome: models.ReviewOutcome | None
    answer: str | None
    answered_at: datetime | None


def _public_body(b: Any) -> PublicBody:
    return PublicBody(name=b.name, kind=ExternalBodyKind(b.kind), contact=b.contact)


@strawberry.type
class AuditVerification:
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str | None


@strawberry.type
class ComplaintQueries:
    @strawberry.field(description="A complaint by its global ID, or null")
    async def complaint(self, info: Info, id: relay.GlobalID) -> ComplaintType | None:
        await info.context.require_viewer()
        if id.type_name != "Complaint":
            return None
        nodes = await ComplaintType.resolve_nodes(info=info, node_ids=[id.node_id])
        return nodes[0]

    @strawberry.field(description="A complaint by its number (YYMM + serial), or null")
    async def complaint_by_number(self, info: Info, number: str) -> ComplaintType | None:
        access = await complaint_access(info.context)
        async with info.context.db() as session:
            view = await q.get_complaint_by_number(session, number[:32], read=access.read, identity=access.identity)
        return ComplaintType.from_view(view) if view else None

    @strawberry.field(description="Complaints, newest first unless orderBy says otherwise; 1 to 100 per page")
    async def complaints(
        self,
        info: Info,
        filter: ComplaintFilter | None = None,
        order_by: q.ComplaintOrder = q.ComplaintOrder.CREATED_AT_DESC,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ComplaintConnection:
        access = await complaint_access(info.context)
        try:
            core_filter = await list_filter(info.context, filter)
            async with info.context.db() as session:
                page = await q.list_complaints(session, filter=core_filter, order=order_by, first=first,
                                               after=after, last=last, before=before, read=access.read,
                                               identity=access.identity, statements=access.statements)
        except DomainError as exc:
            raise RequestError(exc.message, "BAD_USER_INPUT") from None

        async def count() -> int:
            async with info.context.db() as session:
                return await q.count_complaints(session, filter=core_filter, read=access.read)

        items = page.items
        refs: dict[Any, Any] = {}
        edges = [ComplaintEdge.of(ComplaintType.from_view(v, refs), page, v) for v in items]
        return ComplaintConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, has_previous_page=page.has_previous,
                start_cursor=page.cursor(items[0]) if items else None,
                end_cursor=page.cursor(items[-1]) if items else None,
            ),
            count=count,
        )

    @strawberry.field(description="Check the tenant's audit hash chain; reports the first broken link")
    async def audit_verification(self, info: Info) -> AuditVerification:
        await require_query(info.context, Action.AUDIT_VERIFY)
        async with info.context.db() as session:
            result = await audit.verify_chain(session)
        return AuditVerification(ok=result.ok, checked=result.checked, first_broken_seq=result.first_broken_seq,
                                 reason=result.reason)

    @strawberry.field(description="Public: a complaint's status by number and access code (null if either is wrong)")
    async def track_complaint(self, info: Info, number: str, access_code: str) -> ComplaintTracking | None:
        ctx = info.context
        try:
            await hit(ctx.redis, TRACK, tenant=ctx.tenant.slug, client=ctx.client_ip)
        except RateLimited as exc:
            ctx.throttled(exc.retry_after_s)
            raise RequestError(exc.message, exc.code) from None
        async with ctx.db() as session:
            complaint = await complaint_by_access(session, number[:32], access_code[:64])
            if complaint is None:
                return None
            tz = await tenant_timezone(session)
            expected = await deadline_tracking.expected_dates(
                session, complaint_id=complaint.id, template=ctx.tenant.template, received_at=complaint.created_at,
                tz=tz, foreign=complaint.scope == models.Scope.FOREIGN)
            case = await public_case(session, complaint, ctx.now())
            review = case.review
            public_review = None if review is None else PublicReview(
                state=models.ReviewState(review.state), requested_at=review.requested_at,
                outcome=models.ReviewOutcome(review.outcome) if review.outcome else None,
                answer=review.answer if review.state == models.ReviewState.ANSWERED else None,
                answered_at=review.answered_at)
        messages = await ctx.loaders.messages_by_complaint_id.load(complaint.id)
        status = models.ComplaintStatus(complaint.status)
        locale = await ctx.locale()
        return ComplaintTracking(
            number=complaint.number,
            status=status,
            status_label=i18n.translate(proc.status_label(status), locale),
            next_step=i18n.translate(proc.next_step(status), locale),
            received_at=complaint.created_at,
            received_at_text=i18n.format_datetime(complaint.created_at, locale, tz),
            closed_at=complaint.closed_at,
            expected_dates=[ExpectedDate(label=i18n.translate(d.label, locale), due_on=d.due_on,
                                         due_on_text=i18n.format_date(d.due_on, locale), provisional=d.provisional,
                                         extensions=[ExpectedDateExtension(new_due_on=e.new_due_on,
                                                                           added_days=e.added_days, reason=e.reason)
                                                     for e in d.extensions])
                            for d in expected],
            messages=[CustomerMessage(body=m.body, sent_at=m.sent_at) for m in messages],
            can_give_opinion=case.can_give_opinion,
            can_rate_satisfaction=status == models.ComplaintStatus.FOLLOW_UP,
            can_request_review=case.can_request_review,
            review_requestable_until=case.review_requestable_until,
            review=public_review,
            referred_to=_public_body(case.referred_to) if case.referred_to else None,
            further_complaint=[_public_body(b) for b in case.further_complaint],
        )

    @strawberry.field(description="Public: the procedure, channels and contacts, expected times and where to "
                                  "re-complain, in the reader's locale (Accept-Language, else the tenant's default)")
    async def complaint_procedure(self, info: Info) -> ComplaintProcedure:
        ctx = info.context
        locale = await ctx.locale()
        async with ctx.db() as session:
            content = await proc.content_of(session, ctx.tenant.template)
            bodies = await recomplaint_bodies(session)
        return procedure_view(proc.render(content, locale), bodies)
