"""Deadlines through GraphQL with a frozen clock: a full retail case and a full bank case across China's 2026
Spring Festival and National Day (with their make-up working days), pause and resume, extensions and their
refusals, the overdue and due-within filters, a provisional deadline recomputed by setCalendarDay, isolation
(the receipt rule: test_receipt_rule.py; a year's schedule imported: test_calendar_import.py).

The app takes the time from ``app.state.clock`` (a test hook: ``create_app(clock=...)``, no setting), so each
test freezes the clock where the step happens. Every test works in tenants of its own (calendar changes stay
there).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from conftest import DEFAULT_USER, SECOND_USER, GraphQLClient
from deadline_cases import SH, at, schema, tenant_of
from helpers import rows
from lifecycle import APPROVE_EXTENSION as APPROVE
from lifecycle import EXTEND, RECORD, STEPS, complaint_input
from lifecycle import REQUEST_EXTENSION as REQUEST

from services.core.clock import FixedClock

CLOCK_START = at(2026, 2, 13)
DESK = "desk@test.example"
APPROVER = "approver@test.example"
ADMIN = "admin@test.example"
RECEIVER = "receiver@test.example"

DEADLINES = """
query ($id: ID!) { complaint(id: $id) { status deadlines {
  kind stage basis party dueAt workingDaysLeft paused provisional unknownYears metAt breachedAt cancelledAt
  extensionCount overdue periodDays pausedDays extensions { number reason complex addedDays approvedBy { email } }
} } }
"""
SET_DAY = """
mutation ($input: SetCalendarDayInput!) { setCalendarDay(input: $input) {
  calendar { jurisdiction coveredYears declaredYears overrides { date kind name } coverageWarning { daysLeft } }
  userErrors { field code message } } }
"""
LIST = """
query ($filter: ComplaintFilter) { complaints(filter: $filter, first: 50) { edges { node { id } } } }
"""
UNITS = "query { orgUnits { id code } }"

def due_on(d: dict[str, Any]) -> date:
    moment = datetime.fromisoformat(d["dueAt"]).astimezone(SH)
    assert (moment.hour, moment.minute) == (23, 59)  # the end of the due day, local time
    return moment.date()


def by_kind(deadlines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"] + (f":{d['stage']}" if d["stage"] else ""): d for d in deadlines}


async def deadlines_of(gql: GraphQLClient, tenant: str, cid: str) -> dict[str, dict[str, Any]]:
    data = await gql(DEADLINES, {"id": cid}, tenant=tenant)
    return by_kind(data["complaint"]["deadlines"])


async def record(gql: GraphQLClient, tenant: str, **fields: Any) -> str:
    data = await gql(RECORD, {"input": complaint_input(**fields)}, tenant=tenant)
    assert data["recordComplaint"]["userErrors"] == []
    return str(data["recordComplaint"]["complaint"]["id"])


async def go(gql: GraphQLClient, tenant: str, name: str, cid: str, user: str = DEFAULT_USER, **fields: Any) -> None:
    query = (f"mutation ($input: {STEPS[name]}!) {{ {name}(input: $input) "
             "{ complaint { status } userErrors { field code message } } }")
    data = await gql(query, {"input": {"complaintId": cid, **fields}}, tenant=tenant, user=user)
    assert data[name]["userErrors"] == [], data


async def units(gql: GraphQLClient, tenant: str) -> dict[str, str]:
    return {u["code"]: u["id"] for u in (await gql(UNITS, tenant=tenant))["orgUnits"] if u["code"]}


async def listed(gql: GraphQLClient, tenant: str, **filter_: Any) -> set[str]:
    data = await gql(LIST, {"filter": filter_}, tenant=tenant)
    return {e["node"]["id"] for e in data["complaints"]["edges"]}


# ---------------------------------------------------------------- retail: a full case over the Spring Festival


async def test_retail_full_case_across_spring_festival(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "full")
    unit = await units(gql, t)
    clock.at = at(2026, 2, 13)  # Friday before the Spring Festival (2026-02-15..23; Sat 14 and Sat 28 are worked)
    cid = await record(gql, t)
    d = await deadlines_of(gql, t, cid)
    assert set(d) == {"CUSTOMER_REPLY", "RESOLUTION", "STAGE:branch"}
    # 5 working days after Fri 13: Sat 14 (make-up), Tue 24, Wed 25, Thu 26, Fri 27
    assert due_on(d["CUSTOMER_REPLY"]) == date(2026, 2, 27)
    assert d["CUSTOMER_REPLY"]["basis"] == "WORKING"
    assert d["CUSTOMER_REPLY"]["workingDaysLeft"] == 5.0
    # 15 calendar days: Sat 28, a make-up working day, so the period ends there (Civil Code art. 203)
    assert due_on(d["RESOLUTION"]) == date(2026, 2, 28)
    assert d["RESOLUTION"]["basis"] == "CALENDAR"
    # branch stage 5 days: Wed 18 is a holiday, so it ends on the first working day after: Tue 24
    assert due_on(d["STAGE:branch"]) == date(2026, 2, 24)
    assert not any(x["provisional"] or x["overdue"] or x["paused"] for x in d.values())

    clock.at = at(2026, 2, 14, 9)  # the make-up Saturday
    await go(gql, t, "startInvestigation", cid)
    await go(gql, t, "submitInvestigation", cid, valid=True, findings="Leaks at the seam.")
    await go(gql, t, "assignResponsibleDepartment", cid, departmentId=unit["PROD-T1"])
    d = await deadlines_of(gql, t, cid)
    assert d["STAGE:branch"]["metAt"] is not None
    assert due_on(d["STAGE:marketing"]) == date(2026, 2, 24)  # 7 days: Sat 21 is a holiday -> Tue 24
    # 3 working days after Sat 14: Tue 24, Wed 25, Thu 26
    assert due_on(d["DEPARTMENT_ANSWER"]) == date(2026, 2, 26)
    # the processing unit's 2 days (a production team is responsible): Mon 16 is a holiday -> Tue 24
    assert due_on(d["STAGE:processing_unit"]) == date(2026, 2, 24)

    clock.at = at(2026, 2, 24)
    await go(gql, t, "proposeSolution", cid, solution="Replace the kettle.", customerReply="We replace it.")
    await go(gql, t, "approveHandlingForm", cid, user=SECOND_USER)  # four eyes
    d = await deadlines_of(gql, t, cid)
    for kind in ("DEPARTMENT_ANSWER", "STAGE:processing_unit", "STAGE:marketing"):
        assert d[kind]["metAt"] is not None and not d[kind]["overdue"], kind

    clock.at = at(2026, 2, 25)
    await go(gql, t, "sendCustomerMessage", cid)  # AWAITING_CUSTOMER: the resolution clock stops
    d = await deadlines_of(gql, t, cid)
    assert d["CUSTOMER_REPLY"]["metAt"] is not None
    assert d["RESOLUTION"]["paused"] is True

    clock.at = at(2026, 2, 27)
    d = await deadlines_of(gql, t, cid)
    assert d["RESOLUTION"]["paused"] is True
    assert d["RESOLUTION"]["workingDaysLeft"] == 3.0  # frozen at the pause: Thu 26, Fri 27, Sat 28

    clock.at = at(2026, 3, 2)  # the customer agrees after 5 days: the period grows by 5 calendar days
    await go(gql, t, "recordCustomerOpinion", cid, agreed=True)
    d = await deadlines_of(gql, t, cid)
    assert d["RESOLUTION"]["paused"] is False
    assert d["RESOLUTION"]["pausedDays"] == 5
    assert due_on(d["RESOLUTION"]) == date(2026, 3, 5)

    clock.at = at(2026, 3, 3)
    await go(gql, t, "completeImplementation", cid)
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["FOLLOW_UP"]) == date(2026, 3, 10)  # Wed 4, Thu 5, Fri 6, Mon 9, Tue 10

    clock.at = at(2026, 3, 4)
    await go(gql, t, "recordFollowUp", cid, rating="SATISFIED")
    data = await gql(DEADLINES, {"id": cid}, tenant=t)
    assert data["complaint"]["status"] == "CLOSED"
    assert all(x["metAt"] is not None and not x["overdue"] for x in data["complaint"]["deadlines"])
    assert len(data["complaint"]["deadlines"]) == 7


async def test_national_day_and_the_end_of_working_hours(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "national-day")
    clock.at = at(2026, 9, 30, 16)  # Wednesday before National Day (Oct 1-7; Sat Oct 10 is worked)
    early = await record(gql, t)
    # at the end of working hours: received the next day, Oct 1 (art. 201: a holiday too; it is not counted)
    clock.at = at(2026, 9, 30, 17, 30)
    late = await record(gql, t, scope="FOREIGN")
    e, lt = await deadlines_of(gql, t, early), await deadlines_of(gql, t, late)
    assert due_on(e["CUSTOMER_REPLY"]) == date(2026, 10, 13)  # Oct 8, 9, 10 (make-up), 12, 13
    assert due_on(lt["CUSTOMER_REPLY"]) == date(2026, 10, 13)  # from Oct 1: the same working days
    assert due_on(e["RESOLUTION"]) == date(2026, 10, 15)  # Sep 30 + 15
    assert due_on(lt["RESOLUTION"]) == date(2026, 10, 19)  # foreign: Oct 1 + 18 = Mon 19
    assert e["CUSTOMER_REPLY"]["workingDaysLeft"] == 5.0


# ---------------------------------------------------------------- bank: the 2020 rules, extensions


async def test_bank_full_case_with_extensions(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("bank", "full")
    unit = await units(gql, t)
    clock.at = at(2026, 9, 22)
    cid = await record(gql, t)
    d = await deadlines_of(gql, t, cid)
    assert set(d) == {"DECISION"}
    # 15 days after Sep 22 is Oct 7, inside National Day: the period ends on the next working day, Oct 8
    assert due_on(d["DECISION"]) == date(2026, 10, 8)
    before = await rows(f'SELECT due_at FROM "{schema(t)}".deadlines')

    # refusals change nothing: a first extension needs a complex case and a reason; none without rights
    for fields, code, field in (({"reason": "Needs the card network's records"}, "INVALID", ["complex"]),
                                ({"reason": " ", "complex": True}, "REQUIRED", ["reason"])):
        payload = (await gql(EXTEND, {"input": {"complaintId": cid, **fields}}, tenant=t, user=DESK))["extendDeadline"]
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]
    payload = (await gql(EXTEND, {"input": {"complaintId": cid, "reason": "x", "complex": True}}, tenant=t,
                         user="handler@test.example"))["extendDeadline"]
    # a handler sees a case only once it is assigned to their department: not yet
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert await rows(f'SELECT due_at FROM "{schema(t)}".deadlines') == before
    assert await rows(f'SELECT id FROM "{schema(t)}".deadline_extensions') == []
    assert await rows(f'SELECT id FROM "{schema(t)}".customer_notices') == []

    clock.at = at(2026, 9, 24)
    payload = (await gql(EXTEND, {"input": {"complaintId": cid, "reason": "Needs the card network's records",
                                            "complex": True}}, tenant=t, user=DESK))["extendDeadline"]
    assert payload["userErrors"] == []
    assert payload["deadline"]["extensionCount"] == 1
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["DECISION"]) == date(2026, 10, 22)  # 30 days from Sep 22

    # the second extension (+30) needs an approval: extendDeadline refuses it whoever asks, even the approver;
    # the desk requests it and the approver approves (tests/api/deadlines/test_extension_requests.py: the rest)
    for user in (DESK, APPROVER):
        payload = (await gql(EXTEND, {"input": {"complaintId": cid, "reason": "Awaiting the court"}}, tenant=t,
                             user=user))["extendDeadline"]
        assert [e["code"] for e in payload["userErrors"]] == ["APPROVAL_REQUIRED"]
    request = (await gql(REQUEST, {"input": {"complaintId": cid, "reason": "Awaiting the court"}}, tenant=t,
                         user=DESK))["requestDeadlineExtension"]
    assert request["userErrors"] == []
    payload = (await gql(APPROVE, {"input": {"requestId": request["extensionRequest"]["id"]}}, tenant=t,
                         user=APPROVER))["approveDeadlineExtension"]
    assert payload["userErrors"] == []
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["DECISION"]) == date(2026, 11, 23)  # 60 days: Sat Nov 21 -> Mon Nov 23
    assert [(x["number"], x["complex"], x["addedDays"], (x["approvedBy"] or {}).get("email"))
            for x in d["DECISION"]["extensions"]] == [(1, True, 15, None), (2, False, 30, APPROVER)]
    for query, name in ((EXTEND, "extendDeadline"), (REQUEST, "requestDeadlineExtension")):
        payload = (await gql(query, {"input": {"complaintId": cid, "reason": "Again"}}, tenant=t, user=DESK))[name]
        assert [e["code"] for e in payload["userErrors"]] == ["OUT_OF_RANGE"]
    # the customer must be told each extension and its reason: stored for the outbox
    notices = await rows(f'SELECT kind, reason, sent_at FROM "{schema(t)}".customer_notices ORDER BY created_at')
    assert [(n.kind, n.sent_at) for n in notices] == [("DEADLINE_EXTENDED", None), ("DEADLINE_EXTENDED", None)]
    # the reasons are sealed at rest (AES-GCM under the tenant's data key), readable through the API
    assert all(n.reason[:1] == b"\x01" and b"court" not in n.reason and b"card network" not in n.reason
               for n in notices)
    reasons = [x["reason"] for x in d["DECISION"]["extensions"]]
    assert reasons == ["Needs the card network's records", "Awaiting the court"]

    clock.at = at(2026, 10, 9)
    await go(gql, t, "startInvestigation", cid)
    await go(gql, t, "submitInvestigation", cid, valid=True, findings="Charged twice.")
    await go(gql, t, "assignResponsibleDepartment", cid, departmentId=unit["CARD"])
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["DEPARTMENT_ANSWER"]) == date(2026, 10, 13)  # Sat 10 (make-up), Mon 12, Tue 13
    clock.at = at(2026, 10, 12)
    await go(gql, t, "proposeSolution", cid, solution="Refund.", customerReply="We refund the charge.")
    await go(gql, t, "approveHandlingForm", cid, user=SECOND_USER)  # four eyes
    clock.at = at(2026, 10, 20)
    await go(gql, t, "sendCustomerMessage", cid)  # the decision, told: the customer's 30-day review window opens
    d = await deadlines_of(gql, t, cid)
    assert d["DECISION"]["metAt"] is not None and not d["DECISION"]["overdue"]
    assert d["REVIEW_REQUEST"]["party"] == "CUSTOMER"
    assert due_on(d["REVIEW_REQUEST"]) == date(2026, 11, 19)
    await go(gql, t, "recordCustomerOpinion", cid, agreed=True)
    await go(gql, t, "completeImplementation", cid)
    await go(gql, t, "recordFollowUp", cid, rating="VERY_SATISFIED")
    d = await deadlines_of(gql, t, cid)
    assert d["REVIEW_REQUEST"]["metAt"] is None  # closing ends the company's deadlines, not the customer's window

    clock.at = at(2026, 11, 2)  # the customer asks for a review: answered within 30 days
    await go(gql, t, "requestReview", cid, reason="The customer asks for a review of the decision.")
    d = await deadlines_of(gql, t, cid)
    assert d["REVIEW_REQUEST"]["metAt"] is not None
    assert due_on(d["REVIEW"]) == date(2026, 12, 2)


# ---------------------------------------------------------------- filters


async def test_overdue_and_due_within_filters(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "filters")
    other = await tenant_of("retail", "filters-other")
    clock.at = at(2026, 11, 2)
    old = await record(gql, t, title="Old one")  # customer reply due Mon Nov 9, resolution Tue Nov 17
    clock.at = at(2026, 11, 23)
    fresh = await record(gql, t, title="Fresh one")  # customer reply due Mon Nov 30
    look_alike = await record(gql, other, title="Old one")
    clock.at = at(2026, 11, 26)  # Thursday
    paused = await record(gql, t, title="Paused")
    assert await listed(gql, t, overdue=True) == {old}
    assert await listed(gql, t, overdue=False) == {fresh, paused}
    # working days left on Thu Nov 26: fresh's reply is due Mon Nov 30 (Fri 27, Mon 30: 2); paused's Thu Dec 3 (5)
    assert await listed(gql, t, dueWithinWorkingDays=1) == set()
    assert await listed(gql, t, dueWithinWorkingDays=2) == {fresh}
    assert await listed(gql, t, dueWithinWorkingDays=5) == {fresh, paused}
    d = await deadlines_of(gql, t, old)
    assert d["CUSTOMER_REPLY"]["overdue"] and d["CUSTOMER_REPLY"]["workingDaysLeft"] == -13.0
    assert d["CUSTOMER_REPLY"]["breachedAt"] is None  # the sweeper records breaches
    # the other tenant's look-alike is not there, and its own list does not see this tenant's
    assert look_alike not in await listed(gql, t, overdue=True)
    assert await listed(gql, other, overdue=False) == {look_alike}

    bad = await gql.post(LIST, {"filter": {"dueWithinWorkingDays": -1}}, tenant=t)
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_withdrawal_cancels_open_deadlines(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "withdraw")
    clock.at = at(2026, 11, 2)
    cid = await record(gql, t)
    clock.at = at(2026, 11, 27)
    await go(gql, t, "withdrawComplaint", cid, reason="Settled privately.")
    d = await deadlines_of(gql, t, cid)
    assert all(x["cancelledAt"] is not None and not x["overdue"] for x in d.values())
    assert cid not in await listed(gql, t, overdue=True)


# ---------------------------------------------------------------- the calendar: provisional, setCalendarDay


async def test_provisional_deadline_recomputed_by_set_calendar_day(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "calendar")
    clock.at = at(2026, 11, 29)  # today: 2027's schedule is not yet known for CN
    cal = (await gql("query { calendars { jurisdiction coveredYears coverageWarning { daysLeft lastCoveredDate } } }",
                     tenant=t, user=ADMIN))["calendars"]
    assert cal[0]["jurisdiction"] == "CN"
    assert 2026 in cal[0]["coveredYears"] and 2027 not in cal[0]["coveredYears"]
    assert cal[0]["coverageWarning"] == {"daysLeft": 32, "lastCoveredDate": "2026-12-31"}
    staff = (await gql("query { calendars { coverageWarning { daysLeft } } }", tenant=t, user=RECEIVER))["calendars"]
    assert staff[0]["coverageWarning"] is None  # the warning is for those who configure deadlines

    clock.at = at(2026, 12, 22)  # Tuesday
    cid = await record(gql, t)
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["CUSTOMER_REPLY"]) == date(2026, 12, 29) and not d["CUSTOMER_REPLY"]["provisional"]
    assert due_on(d["RESOLUTION"]) == date(2027, 1, 6)  # on weekends alone: provisional
    assert d["RESOLUTION"]["provisional"] is True and d["RESOLUTION"]["unknownYears"] == [2027]

    # refused inputs change nothing
    for input_, code in (({"date": "1999-01-01", "kind": "HOLIDAY"}, "OUT_OF_RANGE"),
                         ({"date": "2027-02-01", "kind": None}, "NOT_FOUND")):
        payload = (await gql(SET_DAY, {"input": input_}, tenant=t, user=ADMIN))["setCalendarDay"]
        assert [e["code"] for e in payload["userErrors"]] == [code]
    refused = (await gql(SET_DAY, {"input": {"date": "2027-01-06", "kind": "HOLIDAY"}}, tenant=t,
                         user=RECEIVER))["setCalendarDay"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_ALLOWED"]
    assert await rows(f'SELECT day FROM "{schema(t)}".calendar_days') == []
    assert due_on((await deadlines_of(gql, t, cid))["RESOLUTION"]) == date(2027, 1, 6)

    # one holiday entered on the due day: the deadline moves, and stays provisional (only a whole schedule makes
    # 2027 known: test_calendar_import.py)
    payload = (await gql(SET_DAY, {"input": {"date": "2027-01-06", "kind": "HOLIDAY", "name": "test holiday"}},
                         tenant=t, user=ADMIN))["setCalendarDay"]
    assert payload["userErrors"] == []
    assert payload["calendar"]["declaredYears"] == []
    assert payload["calendar"]["overrides"] == [{"date": "2027-01-06", "kind": "HOLIDAY", "name": "test holiday"}]
    d = await deadlines_of(gql, t, cid)
    assert due_on(d["RESOLUTION"]) == date(2027, 1, 7)
    assert d["RESOLUTION"]["provisional"] is True and d["RESOLUTION"]["unknownYears"] == [2027]
    # the other tenants' calendars are untouched
    other = await tenant_of("retail", "full")
    other_cal = (await gql("query { calendars { overrides { date } declaredYears } }", tenant=other,
                           user=ADMIN))["calendars"][0]
    assert other_cal == {"overrides": [], "declaredYears": []}


# ---------------------------------------------------------------- SLA profiles


UPSERT = """
mutation ($input: UpsertSlaProfileInput!) { upsertSlaProfile(input: $input) {
  slaProfile { name categoryId rules { kind basis days startsOn metOn pauseIn } } userErrors { field code } } }
"""


async def test_category_profile_wins_over_the_default(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "profiles")
    profiles = (await gql("query { slaProfiles { name categoryId rules { kind } } }", tenant=t))["slaProfiles"]
    assert len(profiles) == 1 and profiles[0]["categoryId"] is None
    assert {r["kind"] for r in profiles[0]["rules"]} == {"CUSTOMER_REPLY", "DEPARTMENT_ANSWER", "FOLLOW_UP",
                                                          "RESOLUTION", "STAGE"}
    categories = {c["code"]: c["id"] for c in (await gql("query { categories { id code } }", tenant=t))["categories"]}
    rule = {"kind": "CUSTOMER_REPLY", "basis": "WORKING", "days": 2, "startsOn": "RECORDED",
            "metOn": ["CUSTOMER_TOLD"]}
    # refusals: bad numbers, a rule met by its own start, a non-admin
    for bad, field in (({**rule, "days": 400}, ["rules", "0", "days"]),
                       ({**rule, "metOn": ["RECORDED"]}, ["rules", "0", "metOn"])):
        payload = (await gql(UPSERT, {"input": {"categoryId": categories["QUALITY"], "name": "Quality",
                                                "rules": [bad]}}, tenant=t, user=ADMIN))["upsertSlaProfile"]
        assert [e["field"] for e in payload["userErrors"]] == [field]
    payload = (await gql(UPSERT, {"input": {"name": "x", "rules": [rule]}}, tenant=t,
                         user=RECEIVER))["upsertSlaProfile"]
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_ALLOWED"]
    assert len(await rows(f'SELECT id FROM "{schema(t)}".sla_profiles')) == 1

    payload = (await gql(UPSERT, {"input": {"categoryId": categories["QUALITY"], "name": "Quality",
                                            "rules": [rule]}}, tenant=t, user=ADMIN))["upsertSlaProfile"]
    assert payload["userErrors"] == []
    clock.at = at(2026, 2, 13)
    # a child category of QUALITY uses its parent's profile; an unrelated one the default
    child = await record(gql, t, categoryId=categories["Q-DEFECT"])
    plain = await record(gql, t, categoryId=categories["NQ-PRICE"])
    assert set(await deadlines_of(gql, t, child)) == {"CUSTOMER_REPLY"}
    assert due_on((await deadlines_of(gql, t, child))["CUSTOMER_REPLY"]) == date(2026, 2, 24)  # Sat 14, Tue 24
    assert set(await deadlines_of(gql, t, plain)) == {"CUSTOMER_REPLY", "RESOLUTION", "STAGE:branch"}
