"""Complaint statistics (issue 15 point 2; seed III items 7-8, seed IV 三.4): one SQL statement over
``complaint_facts``, grouped by any of the dimensions, scoped to what the viewer may read.

The measures, per group (``Measures``):

- ``received``: complaints received in the period (``received_at`` in the tenant's time zone);
- ``verified``: of those, found valid by the investigation (投诉成立);
- ``final_answer``: given a final answer: the case reached CLOSED at least once (resolved on the spot, the
  customer satisfied or agreeing with the opinion, a review upheld); it stays counted after a reopen;
- ``referred``: referred to the competent authority (REFERRED); ``litigation``: turned into litigation;
  ``re_complaints``: re-complaints on an earlier case (``repeatOf``); ``escalated``: escalated to an external
  body at least once;
- ``closed_in_time`` / ``breached``: answered finally with no deadline of the company's breached / with a
  deadline of the company's breached (answered or not);
- ``satisfaction``: the latest satisfaction survey's rating, counted per rating;
- ``median_handling_days`` / ``p90_handling_days``: working days (the tenant's calendar) from receipt to the
  first final answer, over the cases answered (``percentile_cont``);
- accountability (issue 16): ``attributed`` (an approved responsibility attribution; ``attributed_product`` /
  ``attributed_non_product`` by its cause), ``penalties`` (EFFECTIVE penalties on the complaints, summed),
  ``repeats_confirmed`` / ``repeats_against_store`` (confirmed repeats; of an unanswered complaint of the store),
  ``major_flagged`` / ``major_reported`` (the regulator notification sent).

What the viewer may see is the complaints list's own predicate (``authz.complaint_access``): a store manager
counts their store only. ``viewer=None`` counts the whole tenant (the worker's scheduled reports).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, ColumnElement, Select, and_, case, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import True_

from services.core import authz
from services.core.classification.models import ClassificationCode
from services.core.complaints.models import Complaint, Satisfaction
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import Category, OrgUnit, TenantSettings, User
from services.core.statistics.models import ComplaintFacts as F


class GroupBy(enum.StrEnum):
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    DEPARTMENT = "DEPARTMENT"
    """the responsible department"""
    STORE = "STORE"
    OWNER = "OWNER"
    CATEGORY = "CATEGORY"
    QUALITY = "QUALITY"
    """quality / non-quality (``Complaint.cause``)"""
    CHANNEL = "CHANNEL"
    """how the complaint arrived (``Complaint.channel``)"""
    BUSINESS_TYPE = "BUSINESS_TYPE"
    CAUSE = "CAUSE"
    BUSINESS_CHANNEL = "BUSINESS_CHANNEL"
    AREA = "AREA"
    RESPONSIBILITY_LEVEL = "RESPONSIBILITY_LEVEL"
    """the approved responsibility attribution's level (``ResponsibleLevel``)"""
    RESPONSIBILITY_CAUSE = "RESPONSIBILITY_CAUSE"
    """its cause: PRODUCT / NON_PRODUCT"""
    RESPONSIBLE_UNIT = "RESPONSIBLE_UNIT"
    """its unit (team, factory, store, or the person's unit)"""


MAX_GROUPS = 3
MAX_PERIOD_DAYS = 3 * 366 + 1

_KEY_COLUMNS: dict[GroupBy, Any] = {
    GroupBy.DEPARTMENT: F.department_id, GroupBy.STORE: F.store_id, GroupBy.OWNER: F.owner_id,
    GroupBy.CATEGORY: F.category_id, GroupBy.QUALITY: F.cause, GroupBy.CHANNEL: F.channel,
    GroupBy.BUSINESS_TYPE: F.business_type_id, GroupBy.CAUSE: F.cause_code_id,
    GroupBy.BUSINESS_CHANNEL: F.business_channel_id, GroupBy.AREA: F.area_id,
    GroupBy.RESPONSIBILITY_LEVEL: F.responsibility_level, GroupBy.RESPONSIBILITY_CAUSE: F.responsibility_cause,
    GroupBy.RESPONSIBLE_UNIT: F.responsible_unit_id,
}
_CODE_GROUPS = frozenset({GroupBy.BUSINESS_TYPE, GroupBy.CAUSE, GroupBy.BUSINESS_CHANNEL, GroupBy.AREA})
_UNIT_GROUPS = frozenset({GroupBy.DEPARTMENT, GroupBy.STORE, GroupBy.RESPONSIBLE_UNIT})
_ENUM_GROUPS = frozenset({GroupBy.MONTH, GroupBy.QUARTER, GroupBy.QUALITY, GroupBy.CHANNEL,
                          GroupBy.RESPONSIBILITY_LEVEL, GroupBy.RESPONSIBILITY_CAUSE})


@dataclass(frozen=True)
class StatisticsFilter:
    """All given conditions must hold."""

    store_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    category_id: uuid.UUID | None = None
    channel: str | None = None
    quality: str | None = None
    code_ids: Sequence[uuid.UUID] = ()
    """classification codes the complaint carries (each of them, whatever its dimension)"""
    litigation: bool | None = None
    repeat: bool | None = None


@dataclass(frozen=True)
class GroupKey:
    group: str
    """a ``GroupBy`` value"""
    value: str | None
    """the id (units, users, categories, codes), the enum value, ``YYYY-MM`` or ``YYYY-Qn``; None: not set"""
    code: str | None = None
    """a classification code's or category's code, a unit's code"""
    label: str | None = None
    """the name to show (zh-CN where the list has both)"""
    label_en: str | None = None


@dataclass(frozen=True)
class Measures:
    received: int
    verified: int
    final_answer: int
    referred: int
    litigation: int
    re_complaints: int
    escalated: int
    closed_in_time: int
    breached: int
    satisfaction: dict[str, int]
    """rating (``Satisfaction`` value) -> complaints whose latest survey gave it; every rating present"""
    median_handling_days: float | None
    p90_handling_days: float | None
    attributed: int = 0
    """with an approved responsibility attribution (issue 16) ..."""
    attributed_product: int = 0
    """... whose cause is PRODUCT"""
    attributed_non_product: int = 0
    """... whose cause is NON_PRODUCT"""
    penalties: int = 0
    """EFFECTIVE penalties on the complaints (a sum: a complaint may carry several)"""
    repeats_confirmed: int = 0
    """confirmed repeat complaints (二次投诉) ..."""
    repeats_against_store: int = 0
    """... of which the earlier complaint was left unanswered: counted against its store"""
    major_flagged: int = 0
    """flagged as major complaints (重大投诉) ..."""
    major_reported: int = 0
    """... whose regulator notification was approved and sent"""


@dataclass(frozen=True)
class Row:
    keys: list[GroupKey]
    measures: Measures


@dataclass(frozen=True)
class Result:
    period_from: date
    period_to: date
    """inclusive, in ``timezone``"""
    timezone: str
    group_by: list[str]
    rows: list[Row] = field(default_factory=list)


_COUNTS: list[tuple[str, Any]] = [
    ("received", None),
    ("verified", F.valid.is_(True)),
    ("final_answer", F.final_answer.is_(True)),
    ("referred", F.referred.is_(True)),
    ("litigation", F.litigation.is_(True)),
    ("re_complaints", F.repeat.is_(True)),
    ("escalated", F.escalated.is_(True)),
    ("closed_in_time", and_(F.final_answer.is_(True), F.breached.is_(False))),
    ("breached", F.breached.is_(True)),
    *[(f"s_{s.value}", F.satisfaction == s.value) for s in Satisfaction],
    ("attributed", F.responsibility_level.is_not(None)),
    ("attributed_product", F.responsibility_cause == "PRODUCT"),
    ("attributed_non_product", F.responsibility_cause == "NON_PRODUCT"),
    ("penalties", F.penalties),
    ("repeats_confirmed", F.repeat_confirmed.is_(True)),
    ("repeats_against_store", F.repeat_against_store.is_(True)),
    ("major_flagged", F.major.is_(True)),
    ("major_reported", F.major_reported.is_(True)),
]
"""The counted measures, in the result's order (then the median and the 90th percentile); ``_SUMS`` are summed
instead of counted."""
_SUMS = frozenset({"penalties"})
PERCENTILES = (0.5, 0.9)
_ACCOUNTABILITY = ("attributed", "attributed_product", "attributed_non_product", "penalties", "repeats_confirmed",
                   "repeats_against_store", "major_flagged", "major_reported")


def _check(period_from: date, period_to: date, group_by: Sequence[str]) -> list[GroupBy]:
    if period_to < period_from:
        raise DomainError(ErrorCode.INVALID, "the period ends before it begins", ["period", "to"])
    if (period_to - period_from).days >= MAX_PERIOD_DAYS or period_from.year < 1970 or period_to.year > 2999:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "a period covers at most three years", ["period", "to"])
    if len(group_by) > MAX_GROUPS:
        raise DomainError(ErrorCode.OUT_OF_RANGE,
                          msg("group by at most {max_groups} dimensions", max_groups=MAX_GROUPS),
                          ["groupBy"])
    groups: list[GroupBy] = []
    for g in group_by:
        try:
            group = GroupBy(g)
        except ValueError:
            raise DomainError(ErrorCode.INVALID, msg("unknown grouping {grouping}", grouping=repr(g)),
                              ["groupBy"]) from None
        if group in groups:
            raise DomainError(ErrorCode.INVALID, msg("{grouping} given twice", grouping=g), ["groupBy"])
        groups.append(group)
    return groups


def _where(query: Select[Any], f: StatisticsFilter) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = []
    for column, value in ((F.store_id, f.store_id), (F.department_id, f.department_id), (F.owner_id, f.owner_id),
                          (F.category_id, f.category_id), (F.channel, f.channel), (F.cause, f.quality)):
        if value is not None:
            conditions.append(column == value)
    for code in f.code_ids:
        conditions.append((F.business_type_id == code) | (F.cause_code_id == code)
                          | (F.business_channel_id == code) | (F.area_id == code))
    if f.litigation is not None:
        conditions.append(F.litigation.is_(f.litigation))
    if f.repeat is not None:
        conditions.append(F.repeat.is_(f.repeat))
    return query.where(and_(*conditions)) if conditions else query


async def timezone_of(session: AsyncSession) -> str:
    return str(await session.scalar(select(TenantSettings.timezone).where(TenantSettings.id == 1))
               or "Asia/Shanghai")


_ON_FACTS = {"id": "complaint_id", "created_at": "received_at", "store_id": "store_id",
             "responsible_department_id": "department_id", "owner_id": "owner_id", "category_id": "category_id",
             "cause": "cause", "channel": "channel", "status": "status", "litigation": "litigation",
             **{c: c for c in ("business_type_id", "cause_code_id", "business_channel_id", "area_id")}}
"""The complaints' columns that ``complaint_facts`` carries (kept in step by every step)."""


def _on_facts(read: ColumnElement[bool]) -> ColumnElement[bool] | None:
    """The viewer's predicate said of the facts row instead of the complaint (so ``complaints`` is not joined and
    the facts' own indexes serve it), or None when it reads a column of the complaint the facts do not carry."""
    complaints = Complaint.__table__
    facts = F.__table__
    missing: list[str] = []

    def replace(element: Any, **_: Any) -> Any:
        if isinstance(element, Column) and element.table is complaints:
            name = _ON_FACTS.get(element.key)
            if name is None:
                missing.append(element.key)
                return None
            return facts.c[name]
        return None

    adapted = visitors.replacement_traverse(read, {}, replace)
    return None if missing else adapted


def _everything(read: ColumnElement[bool]) -> bool:
    """The viewer may read every complaint (an ``any`` rule): then ``complaints`` need not be joined at all."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return isinstance(read, True_) or str(read.compile(dialect=dialect)).strip() == "true"


def statement(
    *, tz: str, period_from: date, period_to: date, groups: Sequence[GroupBy], filter: StatisticsFilter,
    read: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """The one SELECT (also what ``bench/statistics.py`` EXPLAINs): the group keys, ``_COUNTS``, the median and
    the 90th percentile of the handling days.

    One pass over the period's facts, hash-aggregated by the keys and the handling days (whole or half days: a few
    dozen values), so no row is sorted; the counts are summed per group from there, and the percentiles read off
    each group's running count of handling days (window sums), exactly as ``percentile_cont`` interpolates."""
    zone = ZoneInfo(tz)
    start = datetime.combine(period_from, time(0), zone)
    end = datetime.combine(period_to + timedelta(days=1), time(0), zone)
    keys: list[Any] = []
    for i, g in enumerate(groups):
        if g == GroupBy.MONTH:
            keys.append(F.received_month.label(f"k{i}"))
        elif g == GroupBy.QUARTER:
            keys.append(func.date_trunc("quarter", F.received_month).label(f"k{i}"))
        else:
            keys.append(_KEY_COLUMNS[g].label(f"k{i}"))
    counts = [(func.count() if c is None else func.sum(c) if name in _SUMS else func.count().filter(c)).label(name)
              for name, c in _COUNTS]
    inner: Select[Any] = select(*keys, F.handling_days.label("d"), *counts).select_from(F).where(
        F.received_at >= start, F.received_at < end)
    if read is not None and not _everything(read):
        on_facts = _on_facts(read)
        if on_facts is not None:
            inner = inner.where(on_facts)
        else:
            inner = inner.join(Complaint, Complaint.id == F.complaint_id).where(read)
    inner = _where(inner, filter)
    # by position: the same expression again in GROUP BY would bind its parameters (the zone) a second time
    positions: list[Any] = [literal_column(str(i)) for i in range(1, len(keys) + 2)]
    inner = inner.group_by(*positions)
    a = inner.subquery("by_days")
    key_columns = [a.c[f"k{i}"] for i in range(len(keys))]
    answered = case((a.c.d.is_not(None), a.c.received), else_=0)
    ranked = select(
        a, func.sum(answered).over(partition_by=key_columns).label("n"),
        func.sum(answered).over(partition_by=key_columns, order_by=a.c.d).label("cum"),
    ).subquery("ranked")
    r_keys = [ranked.c[f"k{i}"] for i in range(len(keys))]
    bounds = []
    for j, p in enumerate(PERCENTILES):
        position = p * (ranked.c.n - 1)
        for side, rank in (("lo", func.floor(position)), ("hi", func.ceil(position))):
            bounds.append(func.min(ranked.c.d).filter(ranked.c.d.is_not(None), ranked.c.cum > rank)
                          .label(f"{side}{j}"))
    grouped = select(
        *r_keys, *[func.coalesce(func.sum(ranked.c[name]), 0).label(name) for name, _ in _COUNTS],
        func.max(ranked.c.n).label("n"), *bounds,
    ).group_by(*r_keys).subquery("grouped")
    out_keys: list[Any] = []
    for i, g in enumerate(groups):
        column = grouped.c[f"k{i}"]
        if g == GroupBy.MONTH:
            out_keys.append(func.to_char(column, "YYYY-MM").label(g.value))
        elif g == GroupBy.QUARTER:
            out_keys.append(func.to_char(column, 'YYYY-"Q"Q').label(g.value))
        else:
            out_keys.append(column.label(g.value))
    percentiles = []
    for j, p in enumerate(PERCENTILES):
        lo, hi = grouped.c[f"lo{j}"], grouped.c[f"hi{j}"]
        position = p * (grouped.c.n - 1)
        percentiles.append((lo + (hi - lo) * (position - func.floor(position))).label(f"p{int(p * 100)}"))
    query = select(*out_keys, *[grouped.c[name] for name, _ in _COUNTS], *percentiles)
    return query.order_by(*[grouped.c[f"k{i}"].asc().nulls_last() for i in range(len(keys))])


async def _labels(session: AsyncSession, groups: Sequence[GroupBy], rows: Sequence[Any]
                  ) -> dict[tuple[GroupBy, Any], tuple[str | None, str | None, str | None]]:
    """(code, label, label_en) of every id among the rows' keys: one statement per kind of key."""
    wanted: dict[str, set[Any]] = {"code": set(), "unit": set(), "user": set(), "category": set()}
    for i, g in enumerate(groups):
        kind = ("code" if g in _CODE_GROUPS else "unit" if g in _UNIT_GROUPS else "user" if g == GroupBy.OWNER
                else "category" if g == GroupBy.CATEGORY else None)
        if kind is not None:
            wanted[kind] |= {r[i] for r in rows if r[i] is not None}
    found: dict[Any, tuple[str | None, str | None, str | None]] = {}
    if wanted["code"]:
        for ident, code, zh, en in (await session.execute(select(
                ClassificationCode.id, ClassificationCode.code, ClassificationCode.name_zh, ClassificationCode.name_en
        ).where(ClassificationCode.id.in_(wanted["code"])))).all():
            found[ident] = (code, zh, en)
    if wanted["unit"]:
        for ident, unit_code, name in (await session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.name).where(
                OrgUnit.id.in_(wanted["unit"])))).all():
            found[ident] = (unit_code, name, name)
    if wanted["user"]:
        for ident, name in (await session.execute(select(User.id, User.display_name).where(
                User.id.in_(wanted["user"])))).all():
            found[ident] = (None, name, name)
    if wanted["category"]:
        for ident, code, name in (await session.execute(select(Category.id, Category.code, Category.name).where(
                Category.id.in_(wanted["category"])))).all():
            found[ident] = (code, name, name)
    return {(g, r[i]): found.get(r[i], (None, None, None)) for i, g in enumerate(groups) for r in rows}


def _value(v: Any) -> str | None:
    return None if v is None else str(v)


async def compute(
    session: AsyncSession,
    tenant: str,
    viewer: authz.Subject | None,
    *,
    period_from: date,
    period_to: date,
    group_by: Sequence[str] = (),
    filter: StatisticsFilter | None = None,
) -> Result:
    """The statistics of ``tenant`` (the session's tenant) received from ``period_from`` to ``period_to``
    (inclusive, the tenant's time zone), one ``Row`` per group of ``group_by`` (``GroupBy`` values, at most 3;
    none: one row of totals, also when nothing was received), in the groups' order.

    ``viewer``: counts only what they may read (the complaints list's predicate) and needs ``statistics.read``
    (else ``DomainError(NOT_ALLOWED)``); None counts the whole tenant (the system's own reports).
    Refusals: ``INVALID`` (a period ending before it begins, an unknown or repeated grouping), ``OUT_OF_RANGE``
    (more than three years, more than three groupings).
    """
    groups = _check(period_from, period_to, group_by)
    read: ColumnElement[bool] | None = None
    if viewer is not None:
        if viewer.tenant != tenant:
            raise DomainError(ErrorCode.NOT_ALLOWED, "not a user of this tenant")
        await authz.require(session, viewer, authz.Action.STATISTICS_READ)
        read = (await authz.complaint_access(session, viewer)).read
    tz = await timezone_of(session)
    query = statement(tz=tz, period_from=period_from, period_to=period_to, groups=groups,
                      filter=filter or StatisticsFilter(), read=read)
    rows = (await session.execute(query)).all()
    labels = await _labels(session, groups, rows)
    out: list[Row] = []
    n = len(groups)
    for r in rows:
        keys = []
        for i, g in enumerate(groups):
            code, label, label_en = labels.get((g, r[i]), (None, None, None))
            if g in _ENUM_GROUPS:
                label = label_en = r[i]
            keys.append(GroupKey(g.value, _value(r[i]), code, label, label_en))
        m = r[n:]
        ratings = {s.value: int(m[9 + j]) for j, s in enumerate(Satisfaction)}
        median, p90 = r._mapping["p50"], r._mapping["p90"]
        out.append(Row(keys, Measures(
            **{name: int(r._mapping[name]) for name in _ACCOUNTABILITY},
            received=int(m[0]), verified=int(m[1]), final_answer=int(m[2]), referred=int(m[3]),
            litigation=int(m[4]), re_complaints=int(m[5]), escalated=int(m[6]), closed_in_time=int(m[7]),
            breached=int(m[8]), satisfaction=ratings,
            median_handling_days=None if median is None else float(median),
            p90_handling_days=None if p90 is None else float(p90),
        )))
    return Result(period_from=period_from, period_to=period_to, timezone=tz, group_by=[g.value for g in groups],
                  rows=out)
