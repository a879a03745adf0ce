"""A year's official schedule as a file (JSON or CSV: date, kind, name), read and checked row by row.

Pure: no database. ``parse_schedule`` returns the rows or raises ``ScheduleRefused`` naming every row at fault
(each a ``DomainError`` with ``field`` ``["content", "<row>", "<column>"]``, rows counted from 1 without a CSV
header). The rules:

- every date is in the year imported (``OUT_OF_RANGE``), written ``YYYY-MM-DD`` (``INVALID``);
- each date once (``DUPLICATE``, on its second row);
- ``kind`` is ``HOLIDAY`` (a rest day) or ``WORKDAY`` (a make-up working day, 调休上班), upper or lower case;
- a ``WORKDAY`` falls on the jurisdiction's weekend (``INVALID``: a weekday is a working day already);
- a ``HOLIDAY`` on a weekend is accepted and kept (official schedules list a holiday's whole run, weekend
  days included, and the name then shows on those days too); it changes nothing about the day being off;
- ``name`` is optional, at most 200 characters.

JSON is a list of ``{"date", "kind", "name"}`` objects, or an object holding that list under ``"days"``.
CSV has the columns ``date,kind,name`` (a first line ``date,kind,name`` is a header and skipped).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from services.core.calendars.calendar import DayKind
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg

MAX_CONTENT_CHARS = 100_000
MAX_ROWS = 366
MAX_ERRORS = 20


class ScheduleFormat(enum.StrEnum):
    JSON = "JSON"
    CSV = "CSV"


@dataclass(frozen=True)
class ScheduleDay:
    date: dt.date
    kind: DayKind
    name: str | None


class ScheduleRefused(DomainError):
    """The file is refused; ``errors`` names each row at fault (at most ``MAX_ERRORS``), the first as this
    error's own code, field and message."""

    def __init__(self, errors: list[DomainError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = errors


def _refused(code: ErrorCode, message: str, *field: str) -> ScheduleRefused:
    return ScheduleRefused([DomainError(code, message, ["content", *field])])


def _json_rows(content: str) -> list[tuple[Any, Any, Any]]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise _refused(
            ErrorCode.INVALID, msg("not JSON: {error} (line {line})", error=exc.msg, line=exc.lineno)) from None
    if isinstance(data, dict):
        data = data.get("days")
    if not isinstance(data, list):
        raise _refused(ErrorCode.INVALID, 'JSON must be a list of {"date", "kind", "name"} (or {"days": [...]})')
    rows: list[tuple[Any, Any, Any]] = []
    for item in data:
        if isinstance(item, dict):
            rows.append((item.get("date"), item.get("kind"), item.get("name")))
        else:
            rows.append((None, None, None))  # refused below as a row without a date
    return rows


def _csv_rows(content: str) -> list[tuple[Any, Any, Any]]:
    lines = [r for r in csv.reader(io.StringIO(content)) if any(c.strip() for c in r)]
    if lines and lines[0] and lines[0][0].strip().lower() == "date":
        lines = lines[1:]
    return [(r[0] if r else None, r[1] if len(r) > 1 else None, r[2] if len(r) > 2 else None) for r in lines]


def parse_schedule(content: str, fmt: ScheduleFormat, *, year: int, weekend: Iterable[int]) -> list[ScheduleDay]:
    """The days of ``content``, checked for ``year`` on a calendar whose weekend is ``weekend`` (Monday = 0)."""
    if len(content) > MAX_CONTENT_CHARS:
        raise _refused(ErrorCode.TOO_LONG, msg("the file is longer than {max_chars} characters",
                                                max_chars=MAX_CONTENT_CHARS))
    raw = _json_rows(content) if fmt is ScheduleFormat.JSON else _csv_rows(content)
    if not raw:
        raise _refused(ErrorCode.REQUIRED, "the schedule has no days")
    if len(raw) > MAX_ROWS:
        raise _refused(ErrorCode.OUT_OF_RANGE, msg("a year's schedule has at most {max_rows} days",
                                                    max_rows=MAX_ROWS))
    off = frozenset(weekend)
    errors: list[DomainError] = []
    days: list[ScheduleDay] = []
    seen: dict[dt.date, int] = {}

    def fail(code: ErrorCode, row: int, column: str, message: str) -> None:
        errors.append(DomainError(code, msg("row {row}: {message}", row=row, message=message),
                                  ["content", str(row), column]))

    for row, (date_value, kind_value, name_value) in enumerate(raw, start=1):
        try:
            day = dt.date.fromisoformat(str(date_value).strip()) if date_value not in (None, "") else None
        except ValueError:
            day = None
        if day is None:
            fail(ErrorCode.INVALID, row, "date", msg("{value} is not a date (YYYY-MM-DD)",
                                                    value=repr(str(date_value or "")[:20])))
            continue
        try:
            kind = DayKind(str(kind_value or "").strip().upper())
        except ValueError:
            fail(ErrorCode.INVALID, row, "kind", msg("kind must be HOLIDAY or WORKDAY, not {value}",
                                                    value=repr(str(kind_value)[:20])))
            continue
        name = str(name_value).strip() if name_value not in (None, "") else None
        if day.year != year:
            fail(ErrorCode.OUT_OF_RANGE, row, "date", msg("{day} is not in {year}", day=day.isoformat(), year=year))
        elif day in seen:
            fail(ErrorCode.DUPLICATE, row, "date", msg("{day} is on row {row} already", day=day.isoformat(),
                                                    row=seen[day]))
        elif kind is DayKind.WORKDAY and day.weekday() not in off:
            fail(ErrorCode.INVALID, row, "kind",
                 msg("{day} is a {weekday}: a make-up WORKDAY falls on a weekend day", day=day.isoformat(),
                     weekday=day.strftime("%A")))
        elif name is not None and len(name) > 200:
            fail(ErrorCode.TOO_LONG, row, "name", "the name is longer than 200 characters")
        else:
            seen[day] = row
            days.append(ScheduleDay(day, kind, name))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ScheduleRefused(errors)
    return sorted(days, key=lambda d: d.date)
