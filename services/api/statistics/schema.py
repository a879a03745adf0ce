"""``statistics(period, groupBy, filter)`` (issue 15 point 2): a thin resolver over ``core.statistics``."""

from __future__ import annotations

import uuid
from datetime import date

import strawberry
from strawberry import relay

from services.api.authz import subject_of
from services.api.context import Info
from services.api.errors import RequestError
from services.api.ids import decode_id, decode_optional
from services.api.nodes import global_id
from services.core.complaints.models import Channel, Satisfaction
from services.core.errors import DomainError, ErrorCode
from services.core.org.models import CategoryCause
from services.core.statistics import service as stats

GroupBy = strawberry.enum(stats.GroupBy, name="StatisticsGroupBy", description=(
    "MONTH and QUARTER of receipt (the tenant's time zone), the responsible DEPARTMENT, the STORE, the OWNER, "
    "the CATEGORY, QUALITY (quality / non-quality), the intake CHANNEL, the classification's dimensions, and the "
    "approved responsibility attribution's RESPONSIBILITY_LEVEL, RESPONSIBILITY_CAUSE (PRODUCT / NON_PRODUCT) and "
    "RESPONSIBLE_UNIT"))

_NODE_OF = {stats.GroupBy.DEPARTMENT: "OrgUnit", stats.GroupBy.STORE: "OrgUnit", stats.GroupBy.OWNER: "User",
            stats.GroupBy.CATEGORY: "Category", stats.GroupBy.BUSINESS_TYPE: "ClassificationCode",
            stats.GroupBy.CAUSE: "ClassificationCode", stats.GroupBy.BUSINESS_CHANNEL: "ClassificationCode",
            stats.GroupBy.AREA: "ClassificationCode", stats.GroupBy.RESPONSIBLE_UNIT: "OrgUnit"}


@strawberry.input(description="Days of receipt, both included, in the tenant's time zone (at most three years)")
class StatisticsPeriod:
    from_: date = strawberry.field(name="from")
    to: date


@strawberry.input(description="All given conditions must hold")
class StatisticsFilter:
    store_id: relay.GlobalID | None = None
    department_id: relay.GlobalID | None = None
    owner_id: relay.GlobalID | None = None
    category_id: relay.GlobalID | None = None
    channel: Channel | None = None
    quality: CategoryCause | None = None
    code_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None, description="classification codes the complaints carry (all of them)")
    litigation: bool | None = None
    repeat: bool | None = None


@strawberry.type(description="One group's value of one grouping")
class StatisticsKey:
    group_by: GroupBy  # type: ignore[valid-type]
    value: str | None = strawberry.field(
        description="YYYY-MM, YYYY-Qn, an enum value, or the global ID of the unit, user, category or code; "
                    "null: not set on those complaints")
    code: str | None
    label: str | None = strawberry.field(description="the name to show (zh-CN where the list has both)")
    label_en: str | None


@strawberry.type
class SatisfactionCount:
    rating: Satisfaction
    count: int


@strawberry.type(description="The figures of one group (or of everything, without groupBy)")
class StatisticsRow:
    keys: list[StatisticsKey]
    received: int
    verified: int = strawberry.field(description="found valid by the investigation (投诉成立)")
    final_answer: int = strawberry.field(description="given a final answer (closed at least once)")
    referred: int
    litigation: int
    re_complaints: int
    escalated: int = strawberry.field(description="escalated to an external body at least once")
    closed_within_deadline: int = strawberry.field(description="answered finally with no company deadline breached")
    breached: int = strawberry.field(description="with a company deadline breached")
    satisfaction: list[SatisfactionCount] = strawberry.field(description="the latest survey's rating, per rating")
    median_handling_days: float | None = strawberry.field(
        description="working days from receipt to the first final answer (the tenant's calendar), median")
    p90_handling_days: float | None
    attributed: int = strawberry.field(description="with an approved responsibility attribution (责任归属)")
    attributed_product: int = strawberry.field(description="of those, the cause PRODUCT")
    attributed_non_product: int = strawberry.field(description="of those, the cause NON_PRODUCT")
    penalties: int = strawberry.field(description="effective penalties on these complaints (a complaint may carry "
                                      "several)")
    repeats_confirmed: int = strawberry.field(description="confirmed repeat complaints (二次投诉)")
    repeats_against_store: int = strawberry.field(
        description="confirmed repeats of a complaint the store left unanswered: counted against that store")
    major_flagged: int = strawberry.field(description="flagged as major complaints (重大投诉)")
    major_reported: int = strawberry.field(description="major complaints whose regulator notification was sent")


@strawberry.type
class Statistics:
    period_from: date
    period_to: date
    timezone: str
    group_by: list[GroupBy]  # type: ignore[valid-type]
    rows: list[StatisticsRow]


def _filter(f: StatisticsFilter | None) -> stats.StatisticsFilter | None:
    """None: an ID that cannot be this tenant's (it matches nothing, like the complaints list's filters)."""
    if f is None:
        return stats.StatisticsFilter()
    try:
        return stats.StatisticsFilter(
            store_id=decode_optional(f.store_id, "OrgUnit", "storeId"),
            department_id=decode_optional(f.department_id, "OrgUnit", "departmentId"),
            owner_id=decode_optional(f.owner_id, "User", "ownerId"),
            category_id=decode_optional(f.category_id, "Category", "categoryId"),
            channel=f.channel.value if f.channel else None,
            quality=f.quality.value if f.quality else None,
            code_ids=[decode_id(c, "ClassificationCode", "codeIds") for c in f.code_ids or []],
            litigation=f.litigation,
            repeat=f.repeat,
        )
    except DomainError:
        return None


def _value(group: stats.GroupBy, value: str | None) -> str | None:
    node = _NODE_OF.get(group)
    return global_id(node, value) if node is not None and value is not None else value


def _row(r: stats.Row) -> StatisticsRow:
    m = r.measures
    return StatisticsRow(
        keys=[StatisticsKey(group_by=stats.GroupBy(k.group), value=_value(stats.GroupBy(k.group), k.value),
                            code=k.code, label=k.label, label_en=k.label_en) for k in r.keys],
        received=m.received, verified=m.verified, final_answer=m.final_answer, referred=m.referred,
        litigation=m.litigation, re_complaints=m.re_complaints, escalated=m.escalated,
        closed_within_deadline=m.closed_in_time, breached=m.breached,
        satisfaction=[SatisfactionCount(rating=Satisfaction(k), count=v) for k, v in m.satisfaction.items()],
        median_handling_days=m.median_handling_days, p90_handling_days=m.p90_handling_days,
        attributed=m.attributed, attributed_product=m.attributed_product,
        attributed_non_product=m.attributed_non_product, penalties=m.penalties,
        repeats_confirmed=m.repeats_confirmed, repeats_against_store=m.repeats_against_store,
        major_flagged=m.major_flagged, major_reported=m.major_reported,
    )


@strawberry.type
class StatisticsQueries:
    @strawberry.field(description="Complaint figures received in the period, grouped by up to three dimensions, "
                      "over the complaints you may see (statistics.read)")
    async def statistics(self, info: Info, period: StatisticsPeriod,
                         group_by: list[GroupBy] | None = None,  # type: ignore[valid-type]
                         filter: StatisticsFilter | None = None) -> Statistics:
        ctx = info.context
        subject = await subject_of(ctx)
        core_filter = _filter(filter)
        try:
            async with ctx.db() as session:
                result = await stats.compute(
                    session, ctx.tenant.slug, subject, period_from=period.from_, period_to=period.to,
                    group_by=[stats.GroupBy(g).value for g in group_by or []],
                    filter=core_filter or stats.StatisticsFilter(code_ids=[uuid.UUID(int=0)]))
        except DomainError as exc:
            if exc.code == ErrorCode.NOT_ALLOWED:
                raise RequestError(exc.message, "FORBIDDEN") from None
            raise RequestError(exc.message, "BAD_USER_INPUT") from None
        return Statistics(period_from=result.period_from, period_to=result.period_to, timezone=result.timezone,
                          group_by=[stats.GroupBy(g) for g in result.group_by], rows=[_row(r) for r in result.rows])



