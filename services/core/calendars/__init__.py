"""Working-day calendars per jurisdiction and deadline arithmetic in the tenant's time zone.

Pure functions of their inputs: no database, no clock (pass moments in), no state beyond a cache of
package data. ``calendar_for("CN", tz="Asia/Shanghai")`` gives a ``WorkingCalendar``; its methods compute.

Days
    A date is a working day or a rest day. Precedence: a tenant override (``DayOverride``: WORKDAY or
    HOLIDAY, optional name) > the package data of a known year (public holidays, weekends, and the official
    make-up working days, 调休上班, e.g. Saturday 2026-02-14 in China) > the weekend alone.
    Sources: ``CN`` from ``chinese-calendar``, other countries from ``holidays``, ``NONE`` weekends only
    (see ``sources``).

Coverage (never guess silently)
    A calendar knows the years of its package data (``Source.known_years``) plus the years the tenant
    declares (``covered_years``); a date with an override is known too. A day outside them is guessed on
    the jurisdiction's weekend alone (Saturday and Sunday for CN, NONE and most countries) and every result
    that looked at such a day is ``provisional`` and lists ``unknown_years``. To make a new year known
    (say the State Council published next year's schedule before the package did): enter its holidays and
    make-up working days as overrides and add the year to ``covered_years``; deadlines computed again
    (call again with the new calendar) are then final. ``coverage_warning(today, horizon_days=60)`` warns
    while the known years run out less than 60 days ahead, so someone enters next year in time.

Day of receipt (``ReceiptRule``, a property of the jurisdiction a tenant may change)
    Moments are aware datetimes, converted to the tenant's time zone (``zoneinfo``; DST is just the
    conversion). A complaint arriving at or after the end of working hours (``working_hours_end``, default
    17:30 local; 17:29:59 is in time, 17:30:00 is not) counts as arriving the next day. There are no opening
    hours: a working day's early morning is that day. Then:
    - ``CIVIL_CODE_201`` (CN's default, Civil Code art. 201): the day of receipt is that date, a rest day
      too; it is not counted, so for a working-day period day 1 is the first working day after it (received
      Saturday: Monday is day 1; received Monday: Tuesday).
    - ``NEXT_BUSINESS_DAY`` (every other jurisdiction's default; UK style): a complaint arriving on a rest day
      or after hours counts as received on the next working day, and counting starts the day after that.

Periods (Civil Code of the PRC)
    Art. 201: the day of receipt is not counted; counting starts the next day.
    - ``add_working_days(received_at, n)``: the due date is the n-th working day after the day of receipt.
    - ``add_calendar_days(received_at, n)``: the due date is the day of receipt plus n days; art. 203: if
      that last day is a rest day (statutory holiday or weekend), the period ends on the next working day
      (a make-up working day counts as a working day). For working-day periods art. 203 is inherent.
    The ``Deadline`` has the due date and ``due_at``, the end of that day in the tenant's time zone
    (23:59:59.999999 local), ``received_on`` (the day of receipt) and ``provisional``/``unknown_years``.
    Both take n from 0 (due on the day of receipt, or the next working day when that is a rest day) to
    ``MAX_PERIOD_DAYS``.

Counting
    ``count_working_days(start, end)``: the working days after start's local date up to and including end's,
    negative when end is before start: ``count_working_days(now, deadline.due_at)`` is the working days left,
    0 on the due day, -1 on the first working day after it. Provisional like deadlines.
"""

from services.core.calendars.calendar import (
    DEFAULT_WORKING_HOURS_END,
    MAX_PERIOD_DAYS,
    CoverageWarning,
    Day,
    DayKind,
    DayOverride,
    Deadline,
    ReceiptRule,
    WorkingCalendar,
    WorkingDayCount,
    calendar_for,
    default_receipt_rule,
)
from services.core.calendars.sources import HOLIDAYS_KNOWN_THROUGH, UnknownJurisdiction

__all__ = [
    "DEFAULT_WORKING_HOURS_END",
    "HOLIDAYS_KNOWN_THROUGH",
    "MAX_PERIOD_DAYS",
    "CoverageWarning",
    "Day",
    "DayKind",
    "DayOverride",
    "Deadline",
    "ReceiptRule",
    "UnknownJurisdiction",
    "WorkingCalendar",
    "WorkingDayCount",
    "calendar_for",
    "default_receipt_rule",
]
