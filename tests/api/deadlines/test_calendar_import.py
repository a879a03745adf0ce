"""A year's official schedule imported whole (importCalendarYear and `complaintdesk calendar import`): validated row
by row, all or nothing, in one transaction with the open deadlines computed again; only an import makes a year
known (setCalendarDay and updateCalendar no longer do); other tenants untouched.

The 2027 schedules here are test data, not the State Council's: New Year's Day Fri Jan 1; a test holiday on Wed
Jan 6; Sat Jan 9 worked; Spring Festival Sat Feb 6 - Sun Feb 14 (its weekend days listed too, as official notices
list a holiday's whole run), Sat Feb 20 worked.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from api.deadlines.test_deadlines import ADMIN, RECEIVER, SET_DAY, deadlines_of, due_on, record
from conftest import GraphQLClient
from deadline_cases import at, schema, tenant_of
from helpers import rows, run_cli, scalar

from services.core.clock import FixedClock

CLOCK_START = at(2026, 12, 22)
IMPORT = """
mutation ($input: ImportCalendarYearInput!) { importCalendarYear(input: $input) {
  calendar { declaredYears coveredYears overrides { date kind name } coverageWarning { daysLeft } }
  holidays workdays deadlinesMoved userErrors { field code message } } }
"""
UPDATE = """
mutation ($input: UpdateCalendarInput!) { updateCalendar(input: $input) { userErrors { field code } } }
"""
CALENDAR = "query { calendars { declaredYears overrides { date kind name } coverageWarning { daysLeft } } }"
CSV_2027 = """date,kind,name
2027-01-01,HOLIDAY,元旦 New Year's Day
2027-01-06,holiday,test holiday
2027-01-09,WORKDAY,test make-up day
"""
JSON_2027 = [
    {"date": "2027-01-01", "kind": "HOLIDAY", "name": "元旦 New Year's Day"},
    *({"date": f"2027-02-{day:02d}", "kind": "HOLIDAY", "name": "春节 Spring Festival"} for day in range(6, 15)),
    {"date": "2027-02-20", "kind": "WORKDAY", "name": "春节调休 make-up day"},
]


async def state(t: str) -> tuple[list[object], list[object], int]:
    """What an import may change: the overrides, the declared years and the audit trail's length."""
    return (await rows(f'SELECT day, kind, name FROM "{schema(t)}".calendar_days ORDER BY day'),
            await rows(f'SELECT covered_years FROM "{schema(t)}".calendar_settings'),
            int(await scalar(f'SELECT count(*) FROM "{schema(t)}".audit_events')))


async def test_an_imported_year_is_known_and_deadlines_follow(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "import")
    other = await tenant_of("retail", "import-other")
    # Tue Dec 22: CUSTOMER_REPLY Dec 29; RESOLUTION Dec 22 + 15 = Wed Jan 6 2027, counted on weekends alone
    cid = await record(gql, t)
    theirs = await record(gql, other)
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["RESOLUTION"]) == date(2027, 1, 6)
    assert d["RESOLUTION"]["provisional"] is True and d["RESOLUTION"]["unknownYears"] == [2027]
    assert (await gql(CALENDAR, tenant=t, user=ADMIN))["calendars"][0]["coverageWarning"] == {"daysLeft": 9}
    before = await state(t)

    # one date never makes a year known, nor does updateCalendar
    one = (await gql(SET_DAY, {"input": {"date": "2027-01-06", "kind": "HOLIDAY", "coverYear": True}}, tenant=t,
                     user=ADMIN))["setCalendarDay"]
    assert [(e["field"], e["code"]) for e in one["userErrors"]] == [(["coverYear"], "INVALID")]
    declared = (await gql(UPDATE, {"input": {"coveredYears": [2027]}}, tenant=t, user=ADMIN))["updateCalendar"]
    assert [(e["field"], e["code"]) for e in declared["userErrors"]] == [(["coveredYears"], "INVALID")]
    assert await state(t) == before

    # a bad file: every row at fault named, nothing changed
    bad = ("2027-01-01,HOLIDAY,New Year\n2026-12-31,HOLIDAY,last year\n2027-01-01,HOLIDAY,again\n"
           "2027-01-06,WORKDAY,a Wednesday\n2027-13-01,HOLIDAY,no such day\n2027-01-08,RESTDAY,unknown kind\n")
    refused = (await gql(IMPORT, {"input": {"year": 2027, "format": "CSV", "content": bad}}, tenant=t,
                         user=ADMIN))["importCalendarYear"]
    assert refused["calendar"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["content", "2", "date"], "OUT_OF_RANGE"), (["content", "3", "date"], "DUPLICATE"),
        (["content", "4", "kind"], "INVALID"), (["content", "5", "date"], "INVALID"),
        (["content", "6", "kind"], "INVALID")]
    assert refused["userErrors"][2]["message"] == ("row 4: 2027-01-06 is a Wednesday: a make-up WORKDAY falls on a "
                                                   "weekend day")
    for input_, code in (({"year": 2027, "format": "JSON", "content": "{not json"}, "INVALID"),
                         ({"year": 2027, "format": "JSON", "content": "[]"}, "REQUIRED"),
                         ({"year": 2026, "format": "CSV", "content": "2026-10-01,HOLIDAY,x"}, "INVALID"),
                         ({"year": 1999, "format": "CSV", "content": "1999-10-01,HOLIDAY,x"}, "OUT_OF_RANGE")):
        payload = (await gql(IMPORT, {"input": input_}, tenant=t, user=ADMIN))["importCalendarYear"]
        assert [e["code"] for e in payload["userErrors"]] == [code], input_
    staff = (await gql(IMPORT, {"input": {"year": 2027, "format": "CSV", "content": CSV_2027}}, tenant=t,
                       user=RECEIVER))["importCalendarYear"]
    assert [e["code"] for e in staff["userErrors"]] == ["NOT_ALLOWED"]
    assert await state(t) == before
    assert (await deadlines_of(gql, t, cid))["RESOLUTION"]["provisional"] is True

    # the CSV: Jan 6 is a holiday now, so RESOLUTION ends Thu Jan 7, final
    done = (await gql(IMPORT, {"input": {"year": 2027, "format": "CSV", "content": CSV_2027}}, tenant=t,
                      user=ADMIN))["importCalendarYear"]
    assert done["userErrors"] == []
    assert (done["holidays"], done["workdays"], done["deadlinesMoved"]) == (2, 1, 1)
    assert done["calendar"]["declaredYears"] == [2027] and 2027 in done["calendar"]["coveredYears"]
    assert done["calendar"]["coverageWarning"] is None
    assert done["calendar"]["overrides"] == [
        {"date": "2027-01-01", "kind": "HOLIDAY", "name": "元旦 New Year's Day"},
        {"date": "2027-01-06", "kind": "HOLIDAY", "name": "test holiday"},
        {"date": "2027-01-09", "kind": "WORKDAY", "name": "test make-up day"}]
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["RESOLUTION"]) == date(2027, 1, 7)
    assert d["RESOLUTION"]["provisional"] is False and d["RESOLUTION"]["unknownYears"] == []
    events = await rows(f"SELECT actor_label, changes FROM \"{schema(t)}\".audit_events "
                        "WHERE action = 'import_calendar_year'")
    assert [(e.actor_label, e.changes) for e in events] == [(ADMIN, {
        "year": 2027, "format": "CSV", "holidays": 2, "workdays": 1, "replaced": 0, "deadlinesMoved": 1})]

    # a second import is refused unless it replaces the first: the JSON has no Jan 6 holiday, so Wed Jan 6 again
    again = (await gql(IMPORT, {"input": {"year": 2027, "format": "JSON", "content": json.dumps(JSON_2027)}},
                       tenant=t, user=ADMIN))["importCalendarYear"]
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["year"], "DUPLICATE")]
    replaced = (await gql(IMPORT, {"input": {"year": 2027, "format": "JSON", "replace": True,
                                             "content": json.dumps({"days": JSON_2027})}},
                          tenant=t, user=ADMIN))["importCalendarYear"]
    assert replaced["userErrors"] == []
    assert (replaced["holidays"], replaced["workdays"], replaced["deadlinesMoved"]) == (10, 1, 1)
    assert [o["date"] for o in replaced["calendar"]["overrides"]] == [
        "2027-01-01", *(f"2027-02-{day:02d}" for day in range(6, 15)), "2027-02-20"]
    d = await deadlines_of(gql, t, cid)
    assert (due_on(d["RESOLUTION"]), d["RESOLUTION"]["provisional"]) == (date(2027, 1, 6), False)

    # the other tenant: no overrides, no declared year, its deadline still provisional
    assert (await gql(CALENDAR, tenant=other, user=ADMIN))["calendars"][0] == {
        "declaredYears": [], "overrides": [], "coverageWarning": {"daysLeft": 9}}
    assert (await deadlines_of(gql, other, theirs))["RESOLUTION"]["provisional"] is True


async def test_the_cli_imports_a_file_all_or_nothing(gql: GraphQLClient, clock: FixedClock, tmp_path: Path) -> None:
    t = await tenant_of("bank", "import-cli")
    # bank: DECISION within 15 calendar days: Tue Dec 22 + 15 = Wed Jan 6 2027, provisional
    cid = await record(gql, t)
    assert (await deadlines_of(gql, t, cid))["DECISION"]["provisional"] is True
    before = await state(t)
    bad = tmp_path / "2027-bad.csv"
    bad.write_text("2027-01-06,HOLIDAY,ok\n2027-01-07,WORKDAY,a Thursday\n", encoding="utf-8")
    result = run_cli("calendar", "import", "--tenant", t, "--year", "2027", str(bad))
    assert result.returncode == 1
    assert "row 2: 2027-01-07 is a Thursday: a make-up WORKDAY falls on a weekend day [INVALID]" in result.stderr
    assert "2027-bad.csv refused: nothing imported" in result.stderr
    assert await state(t) == before

    good = tmp_path / "2027.json"
    good.write_text(json.dumps([*JSON_2027, {"date": "2027-01-06", "kind": "HOLIDAY", "name": "test holiday"}]),
                    encoding="utf-8")
    result = run_cli("calendar", "import", "--tenant", t, "--year", "2027", str(good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"imported 2027 for tenant {t}: 11 holiday(s), 1 make-up working day(s); "
                                     "0 earlier override(s) replaced; 1 open deadline(s) moved")
    d = (await deadlines_of(gql, t, cid))["DECISION"]
    assert (due_on(d), d["provisional"]) == (date(2027, 1, 7), False)
    assert await rows(f'SELECT covered_years FROM "{schema(t)}".calendar_settings') == [([2027],)]
    events = await rows(f"SELECT actor_label FROM \"{schema(t)}\".audit_events WHERE action = 'import_calendar_year'")
    assert [e.actor_label for e in events] == ["cli"]
