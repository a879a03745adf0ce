"""Package data behind the calendars: which days of a year are not working days, and which years are known.

- ``CN``: the PyPI package ``chinese-calendar`` (State Council schedules, with the make-up working days, 调休).
  It knows the years from the first to the last year of its ``chinese_calendar.holidays`` table: the same
  bound the package itself checks before it answers (``chinese_calendar.utils._validate_date``), so
  coverage grows by itself when the pin is bumped to a release with next year's schedule.
- Any other ISO 3166-1 alpha-2 code the PyPI package ``holidays`` supports (``DE``, ``HK``, ``US``, ``GB`` ...),
  optionally with one of its subdivisions (``DE-BY``, ``GB-SCT``): public holidays, observed days, the
  country's own weekend and its weekend working days. ``holidays`` computes years from rules (fixed dates,
  Easter, lunar tables) up to 2100, but one-off holidays are only in releases made after they were announced;
  so a holidays-based calendar is trusted from the country's first year in the package through
  ``HOLIDAYS_KNOWN_THROUGH`` (two years past the pinned release's year). Raise it when bumping the pin.
- ``NONE``: Saturday and Sunday off, no holidays; it knows every year.

Tables are read once per jurisdiction and year (``lru_cache``); nothing else here keeps state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import chinese_calendar
import holidays

from services.core.errors import DomainError, ErrorCode

HOLIDAYS_KNOWN_THROUGH = 2028
"""Last year a ``holidays``-based calendar is trusted (holidays 0.109 is a 2026 release)."""

SAT_SUN: frozenset[int] = frozenset({5, 6})


class UnknownJurisdiction(DomainError, ValueError):
    """A jurisdiction code no calendar exists for (a ``DomainError`` for the API, a ``ValueError`` for Python)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(ErrorCode.INVALID, f"no working-day calendar for jurisdiction {code!r}: {reason}",
                         ["jurisdiction"])


@dataclass(frozen=True)
class YearTable:
    """One year of package data: its non-working days (weekends included) and the names of special days."""

    rest_days: frozenset[dt.date]
    names: Mapping[dt.date, str]


@dataclass(frozen=True)
class Source:
    """Where a jurisdiction's days come from.

    ``known_years``: the years the package data is trusted for. ``weekend``: the days off (Monday = 0)
    used for a day outside them. ``table(year)`` returns the package's data for a year it has any (even
    beyond ``known_years``, for a tenant that declares such a year known), else ``None``.
    """

    code: str
    known_years: range
    weekend: frozenset[int]

    def table(self, year: int) -> YearTable | None:
        if self.code == "NONE":
            return None
        if self.code == "CN":
            return _chinese_calendar_table(year) if year in _chinese_calendar_years() else None
        country, _, subdiv = self.code.partition("-")
        return _holidays_table(country, subdiv or None, year)


def source_for(jurisdiction: str) -> Source:
    """The data source for a jurisdiction code; ``UnknownJurisdiction`` when there is none."""
    code = jurisdiction.strip().upper()
    if code == "NONE":
        return Source(code, range(dt.MINYEAR, dt.MAXYEAR + 1), SAT_SUN)
    if code == "CN":
        return Source(code, _chinese_calendar_years(), SAT_SUN)
    country, sep, subdiv = code.partition("-")
    if country == "CN":
        raise UnknownJurisdiction(jurisdiction, "the CN calendar has no subdivisions")
    supported = holidays.list_supported_countries(include_aliases=False)
    if len(country) != 2 or country not in supported:
        raise UnknownJurisdiction(jurisdiction, "not CN, NONE nor a country code the holidays package supports")
    if sep and subdiv not in supported[country]:
        raise UnknownJurisdiction(jurisdiction, f"{country} has no subdivision {subdiv!r} in the holidays package")
    base = holidays.country_holidays(country)
    last = min(base.end_year, HOLIDAYS_KNOWN_THROUGH)
    return Source(code, range(base.start_year, last + 1), frozenset(base.weekend))


@lru_cache(maxsize=1)
def _chinese_calendar_years() -> range:
    years = [day.year for day in chinese_calendar.holidays]
    return range(min(years), max(years) + 1)


def _days_of(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((dt.date(year, 12, 31) - first).days + 1)]


@lru_cache(maxsize=64)
def _chinese_calendar_table(year: int) -> YearTable:
    rest: set[dt.date] = set()
    names: dict[dt.date, str] = {}
    for day in _days_of(year):
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if on_holiday:
            rest.add(day)
        if name is not None:
            label = f"{chinese_calendar.Holiday(name).chinese} {name}"
            names[day] = label if on_holiday else f"{label} (调休 make-up working day)"
    return YearTable(frozenset(rest), MappingProxyType(names))


@lru_cache(maxsize=256)
def _holidays_table(country: str, subdiv: str | None, year: int) -> YearTable | None:
    base = holidays.country_holidays(country, subdiv=subdiv)
    if not base.start_year <= year <= base.end_year:
        return None
    # Neighbouring years too: a weekend working day can be declared in the next or previous year's data.
    data = holidays.country_holidays(country, subdiv=subdiv, years=range(year - 1, year + 2), language="en_US")
    rest: set[dt.date] = set()
    names: dict[dt.date, str] = {}
    for day in _days_of(year):
        if not data.is_working_day(day):
            rest.add(day)
        if (name := data.get(day)) is not None:
            names[day] = str(name)
        elif day in data.weekend_workdays:
            names[day] = "make-up working day"
    return YearTable(frozenset(rest), MappingProxyType(names))
