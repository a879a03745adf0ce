"""A tenant's working-day calendar and the deadline arithmetic on it (rules: see ``services.core.calendars``)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from zoneinfo import ZoneInfo

from services.core.calendars.sources import Source, source_for

DEFAULT_WORKING_HOURS_END = dt.time(17, 30)
MAX_PERIOD_DAYS = 3660
"""Longest period accepted, in days of either kind (ten years: far beyond any complaint deadline)."""

_DAY = dt.timedelta(days=1)


class DayKind(enum.StrEnum):
    WORKDAY = "WORKDAY"
    HOLIDAY = "HOLIDAY"


class ReceiptRule(enum.StrEnum):
    """Which day a complaint counts as received on (the period is counted from the day after it)."""

    CIVIL_CODE_201 = "CIVIL_CODE_201"
    """PRC Civil Code art. 201: the day of arrival, whatever kind of day it is (after working hours: the next
    calendar day); it is not counted, so the first working day after it is day 1."""
    NEXT_BUSINESS_DAY = "NEXT_BUSINESS_DAY"
    """UK style: arriving on a non-business day or after close of business counts as received on the next
    business day; counting starts the day after that."""


DEFAULT_RECEIPT_RULES: Mapping[str, ReceiptRule] = MappingProxyType({"CN": ReceiptRule.CIVIL_CODE_201})
"""The receipt rule of a jurisdiction whose tenant chose none; any other jurisdiction: ``NEXT_BUSINESS_DAY``."""


def default_receipt_rule(jurisdiction: str) -> ReceiptRule:
    return DEFAULT_RECEIPT_RULES.get(jurisdiction.strip().upper(), ReceiptRule.NEXT_BUSINESS_DAY)


@dataclass(frozen=True)
class DayOverride:
    """A tenant's word on one date; it wins over the package data and makes that date known."""

    kind: DayKind
    name: str | None = None


@dataclass(frozen=True)
class Day:
    """One date as the calendar sees it. ``known`` is False for a guess on weekends alone."""

    date: dt.date
    working: bool
    known: bool
    name: str | None = None


@dataclass(frozen=True)
class Deadline:
    """``received_on`` is the day of receipt (not counted); ``due_at`` is the end of ``due_date`` in the tenant's
    time zone. ``unknown_years``: years whose days were guessed on weekends alone (then ``provisional``)."""

    received_on: dt.date
    due_date: dt.date
    due_at: dt.datetime
    unknown_years: tuple[int, ...] = ()

    @property
    def provisional(self) -> bool:
        return bool(self.unknown_years)


@dataclass(frozen=True)
class WorkingDayCount:
    days: int
    unknown_years: tuple[int, ...] = ()

    @property
    def provisional(self) -> bool:
        return bool(self.unknown_years)


@dataclass(frozen=True)
class CoverageWarning:
    """The calendar is known through ``last_covered_date``, ``days_left`` days after today; when today itself is
    already unknown, ``last_covered_date`` is yesterday and ``days_left`` is -1."""

    jurisdiction: str
    last_covered_date: dt.date
    days_left: int


@dataclass(frozen=True)
class WorkingCalendar:
    """A jurisdiction's days plus a tenant's overrides and declared years, in the tenant's time zone.

    Build it with ``calendar_for``; it is immutable, so after a tenant changes an override or declares a
    year, build a new one and compute the deadline again.
    """

    source: Source
    tz: ZoneInfo
    working_hours_end: dt.time = DEFAULT_WORKING_HOURS_END
    overrides: Mapping[dt.date, DayOverride] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    covered_years: frozenset[int] = frozenset()
    """Years a tenant declared known, on top of the source's own."""
    receipt_rule: ReceiptRule = ReceiptRule.NEXT_BUSINESS_DAY

    @property
    def jurisdiction(self) -> str:
        return self.source.code

    def covers(self, year: int) -> bool:
        return year in self.source.known_years or year in self.covered_years

    def day(self, date: dt.date) -> Day:
        override = self.overrides.get(date)
        if override is not None:
            return Day(date, override.kind is DayKind.WORKDAY, True, override.name)
        if not self.covers(date.year):
            return Day(date, date.weekday() not in self.source.weekend, False)
        table = self.source.table(date.year)
        if table is None:
            return Day(date, date.weekday() not in self.source.weekend, True)
        return Day(date, date not in table.rest_days, True, table.names.get(date))

    def add_working_days(self, received_at: dt.datetime, n: int) -> Deadline:
        """The ``n``-th working day after the day of receipt."""
        _check_period(n)
        unknown: set[int] = set()
        received_on = due = self._day_of_receipt(received_at, unknown)
        for _ in range(n):
            due = self._next_working_day(due, unknown)
        if n == 0 and not self._working(due, unknown):  # received on a rest day (art. 201), due at once
            due = self._next_working_day(due, unknown)
        return self._deadline(received_on, due, unknown)

    def add_calendar_days(self, received_at: dt.datetime, n: int) -> Deadline:
        """``n`` days after the day of receipt, moved to the next working day if that is a rest day (art. 203)."""
        _check_period(n)
        unknown: set[int] = set()
        received_on = self._day_of_receipt(received_at, unknown)
        due = received_on + dt.timedelta(days=n)
        if not self._working(due, unknown):
            due = self._next_working_day(due, unknown)
        return self._deadline(received_on, due, unknown)

    def count_working_days(self, start: dt.datetime, end: dt.datetime) -> WorkingDayCount:
        """Working days after ``start``'s local date up to and including ``end``'s; negative when ``end`` is earlier.

        ``count_working_days(now, deadline.due_at)`` is the working days left: 0 on the due day, -1 one working
        day after it.
        """
        first = _aware(start, "start").astimezone(self.tz).date()
        last = _aware(end, "end").astimezone(self.tz).date()
        sign = 1
        if last < first:
            first, last, sign = last, first, -1
        unknown: set[int] = set()
        days = sum(self._working(first + dt.timedelta(days=i), unknown) for i in range(1, (last - first).days + 1))
        return WorkingDayCount(sign * days, tuple(sorted(unknown)))

    def coverage_warning(self, today: dt.date, horizon_days: int = 60) -> CoverageWarning | None:
        """A warning when the run of known years from ``today`` ends less than ``horizon_days`` days ahead."""
        if not self.covers(today.year):
            return CoverageWarning(self.jurisdiction, today - _DAY, -1)
        year = today.year
        while True:
            last = dt.date(year, 12, 31)
            if (last - today).days >= horizon_days:
                return None
            if year == dt.MAXYEAR or not self.covers(year + 1):
                return CoverageWarning(self.jurisdiction, last, (last - today).days)
            year += 1

    def _working(self, date: dt.date, unknown: set[int]) -> bool:
        day = self.day(date)
        if not day.known:
            unknown.add(date.year)
        return day.working

    def _next_working_day(self, date: dt.date, unknown: set[int]) -> dt.date:
        date += _DAY
        while not self._working(date, unknown):
            date += _DAY
        return date

    def _day_of_receipt(self, received_at: dt.datetime, unknown: set[int]) -> dt.date:
        local = _aware(received_at, "received_at").astimezone(self.tz)
        in_hours = local.time() < self.working_hours_end
        if self.receipt_rule is ReceiptRule.CIVIL_CODE_201:
            return local.date() if in_hours else local.date() + _DAY
        if in_hours and self._working(local.date(), unknown):
            return local.date()
        return self._next_working_day(local.date(), unknown)

    def _deadline(self, received_on: dt.date, due: dt.date, unknown: set[int]) -> Deadline:
        return Deadline(received_on, due, dt.datetime.combine(due, dt.time.max, tzinfo=self.tz), tuple(sorted(unknown)))


def calendar_for(
    jurisdiction: str,
    *,
    tz: ZoneInfo | str,
    working_hours_end: dt.time = DEFAULT_WORKING_HOURS_END,
    overrides: Mapping[dt.date, DayOverride] | None = None,
    covered_years: Iterable[int] = (),
    receipt_rule: ReceiptRule | None = None,
) -> WorkingCalendar:
    """The working-day calendar of ``jurisdiction`` (``CN``, ``NONE``, ``DE``, ``DE-BY`` ...) for one tenant.

    ``receipt_rule`` None: the jurisdiction's (``default_receipt_rule``). ``UnknownJurisdiction`` (a
    ``ValueError``) for a code no calendar exists for.
    """
    if working_hours_end.tzinfo is not None:
        raise ValueError("working_hours_end is a local wall-clock time, without tzinfo")
    return WorkingCalendar(
        source=source_for(jurisdiction),
        tz=tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz),
        working_hours_end=working_hours_end,
        overrides=MappingProxyType(dict(overrides or {})),
        covered_years=frozenset(covered_years),
        receipt_rule=receipt_rule or default_receipt_rule(jurisdiction),
    )


def _aware(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return moment


def _check_period(n: int) -> None:
    if not 0 <= n <= MAX_PERIOD_DAYS:
        raise ValueError(f"a period is 0 to {MAX_PERIOD_DAYS} days, not {n}")
