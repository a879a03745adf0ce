"""Working-day calendars and deadline arithmetic (services.core.calendars): pure unit tests, no database.

Expected dates are written out by hand from the State Council's 2026 schedule:
《国务院办公厅关于2026年部分节假日安排的通知》 (General Office of the State Council, 4 November 2025,
published by Xinhua and on gov.cn, zhengce/content/202511/content_7047090):
  元旦 Jan 1 (Thu) - Jan 3 (Sat) off, Sunday Jan 4 worked;
  春节 Feb 15 (Sun) - Feb 23 (Mon) off, Saturday Feb 14 and Saturday Feb 28 worked;
  清明 Apr 4 - Apr 6 off; 劳动节 May 1 - May 5 off, Saturday May 9 worked; 端午 Jun 19 - Jun 21 off;
  中秋 Sep 25 (Fri) - Sep 27 (Sun) off; 国庆 Oct 1 (Thu) - Oct 7 (Wed) off, Sunday Sep 20 and Saturday Oct 10 worked.
test_cn_2026_matches_the_state_council_schedule checks chinese-calendar 1.11.0 carries exactly these.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from services.core.calendars import (
    CoverageWarning,
    DayKind,
    DayOverride,
    ReceiptRule,
    UnknownJurisdiction,
    WorkingCalendar,
    calendar_for,
)
from services.core.errors import DomainError, ErrorCode

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def cn() -> WorkingCalendar:
    """China's calendar with its own receipt rule, Civil Code art. 201."""
    return calendar_for("CN", tz="Asia/Shanghai")


@pytest.fixture(scope="module")
def cn_next() -> WorkingCalendar:
    """China's days with the UK-style receipt rule a tenant may choose (what every CN tenant had before)."""
    return calendar_for("CN", tz="Asia/Shanghai", receipt_rule=ReceiptRule.NEXT_BUSINESS_DAY)


def test_the_receipt_rule_is_the_jurisdictions_unless_chosen(cn: WorkingCalendar) -> None:
    assert cn.receipt_rule is ReceiptRule.CIVIL_CODE_201
    assert calendar_for("cn", tz=SHANGHAI).receipt_rule is ReceiptRule.CIVIL_CODE_201
    assert calendar_for("GB", tz="Europe/London").receipt_rule is ReceiptRule.NEXT_BUSINESS_DAY
    assert calendar_for("NONE", tz="UTC").receipt_rule is ReceiptRule.NEXT_BUSINESS_DAY
    chosen = calendar_for("GB", tz="Europe/London", receipt_rule=ReceiptRule.CIVIL_CODE_201)
    assert chosen.receipt_rule is ReceiptRule.CIVIL_CODE_201


def at(day: str, clock: str = "10:00", tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=tz)


def d(day: str) -> date:
    return date.fromisoformat(day)


def test_importing_the_calendar_packages_warns_nothing() -> None:
    code = "import chinese_calendar, holidays; holidays.country_holidays('DE', subdiv='BY', years=2026)"
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_cn_coverage_is_the_range_chinese_calendar_answers_for(cn: WorkingCalendar) -> None:
    assert cn.source.known_years == range(2004, 2027)  # chinese-calendar 1.11.0: 2004 through 2026
    chinese_calendar.is_workday(date(2004, 1, 1))
    chinese_calendar.is_workday(date(2026, 12, 31))
    for outside in (date(2003, 12, 31), date(2027, 1, 1)):
        with pytest.raises(NotImplementedError):
            chinese_calendar.is_workday(outside)
    assert cn.covers(2026)
    assert not cn.covers(2027)


def test_cn_2026_matches_the_state_council_schedule(cn: WorkingCalendar) -> None:
    rest = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-04-04", "2026-04-05", "2026-04-06",
            "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",
            "2026-06-19", "2026-06-20", "2026-06-21", "2026-09-25", "2026-09-26", "2026-09-27"]
    rest += [f"2026-02-{day}" for day in range(15, 24)] + [f"2026-10-0{day}" for day in range(1, 8)]
    makeup = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]
    for day in rest:
        assert not cn.day(d(day)).working, day
    for day in makeup:
        assert cn.day(d(day)).working, day
    # Every other date of 2026 follows the week: the package carries nothing beyond the notice.
    special = {d(day) for day in rest + makeup}
    for i in range(365):
        day = date(2026, 1, 1) + timedelta(days=i)
        if day not in special:
            assert cn.day(day).working == (day.weekday() < 5), day
    assert cn.day(d("2026-02-14")).name == "春节 Spring Festival (调休 make-up working day)"
    assert cn.day(d("2026-10-07")).name == "国庆节 National Day"
    assert cn.day(d("2026-10-07")).known


@pytest.mark.parametrize(
    ("received", "n", "received_on", "due"),
    [
        # Thu before the holiday: Fri 13, Sat 14 (make-up), Tue 24, Wed 25, Thu 26.
        (("2026-02-12", "10:00"), 5, "2026-02-12", "2026-02-26"),
        # On the make-up Saturday, in hours: Tue 24 ... Fri 27, Sat 28 (make-up).
        (("2026-02-14", "10:00"), 5, "2026-02-14", "2026-02-28"),
        # After hours on the make-up Saturday, the last working day before the holiday: received Tue 24.
        (("2026-02-14", "18:00"), 5, "2026-02-24", "2026-03-02"),
        # Friday 17:29:59 is in time; 17:30:00 is after hours and counts as received on Sat 14 (make-up).
        (("2026-02-13", "17:29:59"), 5, "2026-02-13", "2026-02-27"),
        (("2026-02-13", "17:30"), 5, "2026-02-14", "2026-02-28"),
        # During the holiday: received on the first working day after it.
        (("2026-02-18", "10:00"), 5, "2026-02-24", "2026-03-02"),
        # National Day: Wed Sep 30 in hours: Thu Oct 8, Fri 9, Sat 10 (make-up), Mon 12, Tue 13.
        (("2026-09-30", "10:00"), 5, "2026-09-30", "2026-10-13"),
        (("2026-09-30", "18:00"), 5, "2026-10-08", "2026-10-14"),
        # On the make-up Sunday Sep 20: Mon 21 ... Thu 24, then Mid-Autumn Sep 25-27, Mon 28.
        (("2026-09-20", "09:00"), 5, "2026-09-20", "2026-09-28"),
        (("2026-10-03", "10:00"), 1, "2026-10-08", "2026-10-09"),
        # Zero working days: due on the day of receipt.
        (("2026-10-03", "10:00"), 0, "2026-10-08", "2026-10-08"),
    ],
)
def test_working_days_around_cn_2026_holidays_next_business_day(
    cn_next: WorkingCalendar, received: tuple[str, str], n: int, received_on: str, due: str
) -> None:
    deadline = cn_next.add_working_days(at(*received), n)
    assert deadline.received_on == d(received_on)
    assert deadline.due_date == d(due)
    assert deadline.due_at == datetime.combine(d(due), time(23, 59, 59, 999999), tzinfo=SHANGHAI)
    assert not deadline.provisional
    assert deadline.unknown_years == ()


@pytest.mark.parametrize(
    ("received", "n", "received_on", "due"),
    [
        # Art. 201: the day of receipt is the day of arrival, a rest day too, and is not counted.
        # Fri Sep 25 (Mid-Autumn): Mon 28 (1), Tue 29 (2), Wed 30 (3), Thu Oct 8 (4), Fri Oct 9 (5).
        (("2026-09-25", "10:00"), 5, "2026-09-25", "2026-10-09"),
        # Sat Oct 3 (National Day): Thu 8, Fri 9, Sat 10 (make-up), Mon 12, Tue 13.
        (("2026-10-03", "10:00"), 5, "2026-10-03", "2026-10-13"),
        (("2026-10-03", "10:00"), 1, "2026-10-03", "2026-10-08"),
        # A working Monday: Tuesday is day 1. Mon Sep 28: Tue 29 (1), Wed 30 (2), Thu Oct 8 (3).
        (("2026-09-28", "10:00"), 3, "2026-09-28", "2026-10-08"),
        # After hours counts from the next calendar day: Wed Sep 30 18:00 is received Thu Oct 1 (a holiday),
        # so Thu Oct 8 is day 1, like a receipt in hours: Oct 8, 9, 10 (make-up), 12, 13.
        (("2026-09-30", "18:00"), 5, "2026-10-01", "2026-10-13"),
        (("2026-09-30", "10:00"), 5, "2026-09-30", "2026-10-13"),
        # Fri Sep 18 17:30 is received Sat Sep 19: Sun 20 (make-up) is day 1, Mon 21 ... Thu 24 days 2-5.
        (("2026-09-18", "17:30"), 5, "2026-09-19", "2026-09-24"),
        # Spring Festival: received Wed Feb 18 (holiday): Tue 24 (1) ... Fri 27 (4), Sat 28 (make-up, 5).
        (("2026-02-18", "10:00"), 5, "2026-02-18", "2026-02-28"),
        # Zero working days on a rest day: due on the next working day.
        (("2026-10-03", "10:00"), 0, "2026-10-03", "2026-10-08"),
    ],
)
def test_working_days_around_cn_2026_holidays_civil_code_201(
    cn: WorkingCalendar, received: tuple[str, str], n: int, received_on: str, due: str
) -> None:
    deadline = cn.add_working_days(at(*received), n)
    assert deadline.received_on == d(received_on)
    assert deadline.due_date == d(due)
    assert not deadline.provisional


def test_calendar_days_on_a_rest_day_by_receipt_rule(cn: WorkingCalendar, cn_next: WorkingCalendar) -> None:
    # Received Fri Sep 25 (Mid-Autumn): art. 201 counts from Sat 26, the 15th day is Sat Oct 10 (make-up, worked);
    # the next-business-day rule receives it Mon Sep 28, + 15 = Tue Oct 13.
    assert cn.add_calendar_days(at("2026-09-25"), 15).due_date == d("2026-10-10")
    assert cn_next.add_calendar_days(at("2026-09-25"), 15).due_date == d("2026-10-13")
    # Sat Oct 3: + 15 = Sun Oct 18, a rest day: Mon Oct 19 (art. 203); next business day: Oct 8 + 15 = Fri Oct 23.
    assert cn.add_calendar_days(at("2026-10-03"), 15).due_date == d("2026-10-19")
    assert cn_next.add_calendar_days(at("2026-10-03"), 15).due_date == d("2026-10-23")


@pytest.mark.parametrize(
    ("received", "n", "due"),
    [
        # Art. 203: the 15th day, Wed Oct 7, is in the National Day holiday: the period ends Thu Oct 8.
        ("2026-09-22", 15, "2026-10-08"),
        # The 10th day is the make-up Saturday Oct 10, a working day: the period ends there.
        ("2026-09-30", 10, "2026-10-10"),
        # The 15th day is Fri Jun 19, Dragon Boat Festival (Jun 19-21): ends Mon Jun 22.
        ("2026-06-04", 15, "2026-06-22"),
        # The 12th day is an ordinary Sunday, Jun 14: ends Mon Jun 15.
        ("2026-06-02", 12, "2026-06-15"),
        # No rest day at the end: Mon Jun 1 + 15 = Tue Jun 16.
        ("2026-06-01", 15, "2026-06-16"),
    ],
)
def test_calendar_days_end_on_a_working_day(cn: WorkingCalendar, received: str, n: int, due: str) -> None:
    deadline = cn.add_calendar_days(at(received), n)
    assert deadline.received_on == d(received)
    assert deadline.due_date == d(due)
    assert not deadline.provisional


def test_calendar_days_count_from_the_day_of_receipt_after_hours(cn: WorkingCalendar,
                                                                cn_next: WorkingCalendar) -> None:
    # Received Wed Sep 30 after hours: next business day: day of receipt Thu Oct 8; + 15 = Fri Oct 23.
    assert cn_next.add_calendar_days(at("2026-09-30", "19:00"), 15).due_date == d("2026-10-23")
    # Art. 201: day of receipt Thu Oct 1; + 15 = Fri Oct 16.
    assert cn.add_calendar_days(at("2026-09-30", "19:00"), 15).due_date == d("2026-10-16")


def test_due_at_is_the_end_of_the_local_day(cn: WorkingCalendar) -> None:
    deadline = cn.add_working_days(at("2026-02-12"), 5)
    assert deadline.due_at == datetime(2026, 2, 26, 15, 59, 59, 999999, tzinfo=UTC)
    # The same moment given in UTC gives the same deadline.
    assert cn.add_working_days(at("2026-02-12").astimezone(UTC), 5) == deadline


def test_working_hours_end_is_configurable() -> None:
    late = calendar_for("CN", tz=SHANGHAI, working_hours_end=time(20, 0))
    assert late.add_working_days(at("2026-02-13", "18:00"), 5).received_on == d("2026-02-13")
    assert late.add_working_days(at("2026-02-13", "20:00"), 5).received_on == d("2026-02-14")


def test_a_deadline_into_an_unknown_year_is_provisional_until_the_year_is_known(cn_next: WorkingCalendar) -> None:
    # Sun Dec 20 2026: received Mon Dec 21 (next business day). Dec 22-25 (4), Dec 28-31 (8), then 2027 on
    # weekends alone: Fri Jan 1 (9), Jan 4-8 (14), Mon Jan 11 (15).
    received = at("2026-12-20")
    guess = cn_next.add_working_days(received, 15)
    assert (guess.received_on, guess.due_date) == (d("2026-12-21"), d("2027-01-11"))
    assert guess.provisional
    assert guess.unknown_years == (2027,)

    # An override alone makes its own date known, not the year.
    new_year = {d("2027-01-01"): DayOverride(DayKind.HOLIDAY, "元旦 New Year's Day")}
    rule = ReceiptRule.NEXT_BUSINESS_DAY
    partly = calendar_for("CN", tz=SHANGHAI, overrides=new_year, receipt_rule=rule)
    assert partly.day(d("2027-01-01")).known
    assert partly.add_working_days(received, 15).unknown_years == (2027,)

    # The tenant enters 2027's New Year's Day and declares 2027 known: Jan 4-8 (13), Jan 11 (14), Tue Jan 12 (15).
    known = calendar_for("CN", tz=SHANGHAI, overrides=new_year, covered_years=[2027], receipt_rule=rule)
    final = known.add_working_days(received, 15)
    assert final.due_date == d("2027-01-12")
    assert not final.provisional
    assert final.unknown_years == ()


def test_only_the_days_looked_at_make_a_deadline_provisional(cn: WorkingCalendar) -> None:
    # A calendar-day period looks at its last day only: Sat Jan 9 2027 -> Mon Jan 11, guessed.
    assert cn.add_calendar_days(at("2026-12-25"), 15).unknown_years == (2027,)
    # Crossing an unknown year without looking at it: Wed Dec 30 2026 + 400 days = Thu Feb 3 2028, declared known.
    across = calendar_for("CN", tz=SHANGHAI, covered_years=[2028]).add_calendar_days(at("2026-12-30"), 400)
    assert (across.due_date, across.provisional) == (d("2028-02-03"), False)
    # Received after hours on Thu Dec 31: the day of receipt is guessed (Fri Jan 1 2027 on weekends alone).
    deadline = cn.add_working_days(at("2026-12-31", "18:00"), 0)
    assert (deadline.due_date, deadline.unknown_years) == (d("2027-01-01"), (2027,))
    # Within 2026: not provisional.
    assert not cn.add_calendar_days(at("2026-12-01"), 15).provisional


def test_overrides_win_over_the_package(cn: WorkingCalendar) -> None:
    overrides = {d("2026-02-16"): DayOverride(DayKind.WORKDAY, "branch open")}
    tenant = calendar_for("CN", tz=SHANGHAI, overrides=overrides)
    # Fri 13, Sat 14, Mon 16 (override), Tue 24, Wed 25.
    assert tenant.add_working_days(at("2026-02-12"), 5).due_date == d("2026-02-25")
    assert tenant.day(d("2026-02-16")).name == "branch open"
    overrides[d("2026-02-17")] = DayOverride(DayKind.WORKDAY)  # the calendar keeps its own copy
    assert not tenant.day(d("2026-02-17")).working
    assert cn.add_working_days(at("2026-02-12"), 5).due_date == d("2026-02-26")


def test_count_working_days(cn: WorkingCalendar) -> None:
    due_at = cn.add_working_days(at("2026-02-12"), 5).due_at  # Thu Feb 26 23:59:59.999999
    assert cn.count_working_days(at("2026-02-12"), due_at).days == 5
    assert cn.count_working_days(at("2026-02-26", "09:00"), due_at).days == 0  # due today
    assert cn.count_working_days(at("2026-02-27", "09:00"), due_at).days == -1  # one working day late
    # Fri Feb 27, Sat Feb 28 (make-up), Sun Mar 1 (rest), Mon Mar 2: three working days late.
    assert cn.count_working_days(at("2026-03-02", "09:00"), due_at).days == -3
    assert cn.count_working_days(due_at, at("2026-02-12")).days == -5
    # Across the year end: Thu Dec 31, Fri Jan 1 and Mon-Tue Jan 4-5 2027 on weekends alone.
    count = cn.count_working_days(at("2026-12-30"), at("2027-01-05"))
    assert (count.days, count.provisional, count.unknown_years) == (4, True, (2027,))


def test_coverage_warning(cn: WorkingCalendar) -> None:
    assert cn.coverage_warning(d("2026-11-29")) == CoverageWarning("CN", d("2026-12-31"), 32)
    assert cn.coverage_warning(d("2026-06-01")) is None
    # Less than 60 days before the first unknown day (Jan 1 2027): Nov 2 warns, Nov 1 not yet.
    assert cn.coverage_warning(d("2026-11-02")) == CoverageWarning("CN", d("2026-12-31"), 59)
    assert cn.coverage_warning(d("2026-11-01")) is None
    assert cn.coverage_warning(d("2026-11-29"), horizon_days=20) is None
    # Already past the known years.
    assert cn.coverage_warning(d("2027-03-01")) == CoverageWarning("CN", d("2027-02-28"), -1)
    # A tenant that declared 2027 known is warned at the end of 2027 instead.
    declared = calendar_for("CN", tz=SHANGHAI, covered_years=[2027])
    assert declared.coverage_warning(d("2026-11-29")) is None
    assert declared.coverage_warning(d("2027-12-01")) == CoverageWarning("CN", d("2027-12-31"), 30)


def test_germany_easter_and_a_state_holiday() -> None:
    de = calendar_for("DE", tz=BERLIN)
    # Good Friday Apr 3, Easter Monday Apr 6 2026: Thu Apr 2 + 2 working days = Tue 7, Wed 8.
    deadline = de.add_working_days(at("2026-04-02", tz=BERLIN), 2)
    assert deadline.due_date == d("2026-04-08")
    assert not deadline.provisional
    assert de.day(d("2026-04-03")).name == "Good Friday"
    # Epiphany (Jan 6) is a holiday in Bavaria only.
    assert de.day(d("2026-01-06")).working
    assert not calendar_for("de-by", tz=BERLIN).day(d("2026-01-06")).working
    assert de.coverage_warning(d("2026-11-29")) is None


def test_hong_kong_follows_its_own_weekend() -> None:
    hk = calendar_for("HK", tz="Asia/Hong_Kong")
    # Lunar New Year Feb 17-19 2026; the holidays package's HK weekend is Sunday only, so Sat Feb 21 works.
    assert hk.add_working_days(at("2026-02-16", tz=ZoneInfo("Asia/Hong_Kong")), 2).due_date == d("2026-02-21")
    assert not hk.day(d("2026-02-22")).working


def test_the_weekend_only_calendar_knows_every_year() -> None:
    none = calendar_for("NONE", tz="UTC")
    assert none.day(d("2026-01-01")).working
    assert none.day(d("2099-01-01")).known
    assert none.coverage_warning(d("2026-11-29")) is None
    # Fri Dec 25 2026 + 3 working days: Mon 28, Tue 29, Wed 30; nothing provisional.
    deadline = none.add_working_days(datetime(2026, 12, 25, 9, tzinfo=UTC), 3)
    assert (deadline.due_date, deadline.provisional) == (d("2026-12-30"), False)


@pytest.mark.parametrize("code", ["XX", "CN-GD", "DE-ZZ", "GER", ""])
def test_an_unknown_jurisdiction_is_refused(code: str) -> None:
    with pytest.raises(UnknownJurisdiction) as refused:
        calendar_for(code, tz="UTC")
    assert isinstance(refused.value, ValueError)
    assert isinstance(refused.value, DomainError)
    assert refused.value.code is ErrorCode.INVALID


def test_berlin_across_the_start_of_summer_time() -> None:
    de = calendar_for("DE", tz=BERLIN)
    # Fri Mar 27 2026, CET (UTC+1): 16:15Z is 17:15 local, in time; 16:45Z is 17:45 local, after hours.
    in_time = de.add_working_days(datetime(2026, 3, 27, 16, 15, tzinfo=UTC), 1)
    assert (in_time.received_on, in_time.due_date) == (d("2026-03-27"), d("2026-03-30"))
    # Clocks go forward on Sun Mar 29: the due moment on Mon Mar 30 is in CEST (UTC+2).
    assert in_time.due_at == datetime(2026, 3, 30, 21, 59, 59, 999999, tzinfo=UTC)
    assert in_time.due_at.utcoffset() == timedelta(hours=2)
    late = de.add_working_days(datetime(2026, 3, 27, 16, 45, tzinfo=UTC), 1)
    assert (late.received_on, late.due_date) == (d("2026-03-30"), d("2026-03-31"))
    # Mon Mar 30, CEST: 15:20Z is 17:20 local (in time), 15:40Z is 17:40 local (after hours);
    # with the winter offset both would have been in time.
    assert de.add_working_days(datetime(2026, 3, 30, 15, 20, tzinfo=UTC), 0).received_on == d("2026-03-30")
    assert de.add_working_days(datetime(2026, 3, 30, 15, 40, tzinfo=UTC), 0).received_on == d("2026-03-31")
    # Sun Mar 29 00:30Z is 01:30 CET, Sunday, a rest day: received Monday.
    assert de.add_working_days(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), 0).received_on == d("2026-03-30")
    # Sat Mar 28 23:30Z is already Sunday 00:30 local.
    assert de.count_working_days(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), in_time.due_at).days == 1


def test_bad_input_is_refused(cn: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="aware"):
        cn.add_working_days(datetime(2026, 2, 12, 10), 5)
    with pytest.raises(ValueError, match="period"):
        cn.add_calendar_days(at("2026-02-12"), -1)
    with pytest.raises(ValueError, match="tzinfo"):
        calendar_for("CN", tz=SHANGHAI, working_hours_end=time(17, 30, tzinfo=UTC))


def test_a_schedule_file_is_read_and_checked_row_by_row() -> None:
    from services.core.calendars.schedule import ScheduleFormat, ScheduleRefused, parse_schedule

    weekend = {5, 6}
    # a header, blank lines, lower-case kinds, a holiday on a Saturday (kept), a name left out
    days = parse_schedule("date,kind,name\n\n2027-10-02,holiday,国庆节\n2027-01-01,HOLIDAY\n2027-09-26,workday,\n",
                          ScheduleFormat.CSV, year=2027, weekend=weekend)
    assert [(x.date, x.kind, x.name) for x in days] == [
        (d("2027-01-01"), DayKind.HOLIDAY, None), (d("2027-09-26"), DayKind.WORKDAY, None),
        (d("2027-10-02"), DayKind.HOLIDAY, "国庆节")]
    # Hong Kong-like weekend (Sunday only): a Saturday make-up day is refused
    with pytest.raises(ScheduleRefused) as refused:
        parse_schedule('{"days": [{"date": "2027-01-02", "kind": "WORKDAY"}]}', ScheduleFormat.JSON, year=2027,
                       weekend={6})
    assert [(e.code, e.field) for e in refused.value.errors] == [(ErrorCode.INVALID, ["content", "1", "kind"])]
    long_name = f'[{{"date": "2027-01-01", "kind": "HOLIDAY", "name": "{"x" * 201}"}}]'
    for content, code in (('{"year": 2027}', ErrorCode.INVALID), ("[1, 2]", ErrorCode.INVALID),
                          (long_name, ErrorCode.TOO_LONG)):
        with pytest.raises(ScheduleRefused) as refused:
            parse_schedule(content, ScheduleFormat.JSON, year=2027, weekend=weekend)
        assert refused.value.code is code, content
    # at most 20 rows at fault are named
    many = "".join(f"2026-01-{day:02d},HOLIDAY,x\n" for day in range(1, 31))
    with pytest.raises(ScheduleRefused) as refused:
        parse_schedule(many, ScheduleFormat.CSV, year=2027, weekend=weekend)
    assert len(refused.value.errors) == 20 and refused.value.errors[0].message == "row 1: 2026-01-01 is not in 2027"
