"""The receipt rule through GraphQL, around China's 2026 Mid-Autumn Festival and National Day: CN tenants count by
Civil Code art. 201 (the day of arrival, a rest day too, is not counted), and a tenant may choose the UK-style
NEXT_BUSINESS_DAY rule; changing it recomputes the open deadlines in the same transaction and is audited.

The 2026 days (State Council schedule): Sun Sep 20 worked; Fri Sep 25 - Sun Sep 27 off (Mid-Autumn); Mon Sep 28 -
Wed Sep 30 worked; Thu Oct 1 - Wed Oct 7 off (National Day); Thu Oct 8, Fri Oct 9 and Sat Oct 10 worked; Sun Oct 11
off. Every due date below is counted by hand on those days (retail: CUSTOMER_REPLY 5 working days, RESOLUTION 15
calendar days, a last day on a rest day moving to the next working day).
"""

from __future__ import annotations

from datetime import date, time

from api.deadlines.test_deadlines import ADMIN, RECEIVER, deadlines_of, due_on, record
from conftest import GraphQLClient
from deadline_cases import at, schema, tenant_of
from helpers import rows

from services.core.clock import FixedClock

CLOCK_START = at(2026, 9, 22)
UPDATE = """
mutation ($input: UpdateCalendarInput!) { updateCalendar(input: $input) {
  calendar { jurisdiction receiptRule receiptRuleIsDefault workingHoursEnd } userErrors { field code message } } }
"""
CALENDAR = "query { calendars { jurisdiction receiptRule receiptRuleIsDefault workingHoursEnd } }"

# (received, by art. 201: (CUSTOMER_REPLY, RESOLUTION), by next business day: (CUSTOMER_REPLY, RESOLUTION))
CASES = [
    # Fri Sep 25, the Mid-Autumn holiday.
    # art. 201: day of receipt Sep 25; Mon 28 (1), Tue 29 (2), Wed 30 (3), Thu Oct 8 (4), Fri Oct 9 (5);
    #   Sep 25 + 15 = Sat Oct 10, a make-up working day.
    # next business day: received Mon Sep 28; Sep 29, 30, Oct 8, 9, Sat Oct 10 (5); Sep 28 + 15 = Tue Oct 13.
    (at(2026, 9, 25), (date(2026, 10, 9), date(2026, 10, 10)), (date(2026, 10, 10), date(2026, 10, 13))),
    # Tue Sep 29 in hours, a working day: both rules agree. Sep 30, Oct 8, 9, 10, Mon Oct 12; Sep 29 + 15 = Oct 14.
    (at(2026, 9, 29), (date(2026, 10, 12), date(2026, 10, 14)), (date(2026, 10, 12), date(2026, 10, 14))),
    # Wed Sep 30 18:00, after working hours (17:30).
    # art. 201: received the next day, Thu Oct 1 (a holiday); Oct 8, 9, 10, 12, Tue Oct 13; Oct 1 + 15 = Fri Oct 16.
    # next business day: received Thu Oct 8; Oct 9, 10, 12, 13, Wed Oct 14; Oct 8 + 15 = Fri Oct 23.
    (at(2026, 9, 30, 18), (date(2026, 10, 13), date(2026, 10, 16)), (date(2026, 10, 14), date(2026, 10, 23))),
    # Sat Oct 3, National Day.
    # art. 201: Oct 8, 9, 10, 12, Tue Oct 13; Oct 3 + 15 = Sun Oct 18, a rest day: Mon Oct 19.
    # next business day: received Oct 8: Wed Oct 14; Oct 8 + 15 = Fri Oct 23.
    (at(2026, 10, 3), (date(2026, 10, 13), date(2026, 10, 19)), (date(2026, 10, 14), date(2026, 10, 23))),
]


def dues(d: dict[str, dict[str, object]]) -> tuple[date, date]:
    return due_on(d["CUSTOMER_REPLY"]), due_on(d["RESOLUTION"])  # type: ignore[arg-type]


async def test_cn_counts_by_art_201_and_a_tenant_may_choose_next_business_day(gql: GraphQLClient,
                                                                             clock: FixedClock) -> None:
    t = await tenant_of("retail", "receipt-rule")
    cal = (await gql(CALENDAR, tenant=t, user=ADMIN))["calendars"][0]
    assert cal == {"jurisdiction": "CN", "receiptRule": "CIVIL_CODE_201", "receiptRuleIsDefault": True,
                   "workingHoursEnd": "17:30:00"}
    ids = []
    for received, by_201, _ in CASES:
        clock.at = received
        cid = await record(gql, t)
        ids.append(cid)
        assert dues(await deadlines_of(gql, t, cid)) == by_201, received

    # refused: not an admin, and an unknown rule (GraphQL refuses the enum value); nothing changes
    clock.at = at(2026, 10, 5)
    refused = (await gql(UPDATE, {"input": {"receiptRule": "NEXT_BUSINESS_DAY"}}, tenant=t,
                         user=RECEIVER))["updateCalendar"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_ALLOWED"]
    bad = await gql.post(UPDATE, {"input": {"receiptRule": "WHENEVER"}}, tenant=t, user=ADMIN)
    assert bad.status_code == 400
    assert await rows(f'SELECT receipt_rule FROM "{schema(t)}".calendar_settings') == [(None,)]
    for cid, (_, by_201, _) in zip(ids, CASES, strict=True):
        assert dues(await deadlines_of(gql, t, cid)) == by_201

    # the tenant chooses the UK-style rule: every open deadline is counted again in the same transaction
    chosen = (await gql(UPDATE, {"input": {"receiptRule": "NEXT_BUSINESS_DAY"}}, tenant=t,
                        user=ADMIN))["updateCalendar"]
    assert chosen["userErrors"] == []
    assert chosen["calendar"]["receiptRule"] == "NEXT_BUSINESS_DAY"
    assert chosen["calendar"]["receiptRuleIsDefault"] is False
    for cid, (received, _, by_next) in zip(ids, CASES, strict=True):
        assert dues(await deadlines_of(gql, t, cid)) == by_next, received
    # the three deadlines (CUSTOMER_REPLY, RESOLUTION, STAGE:branch) of the three cases received on a rest day or
    # after hours moved (not Sep 29's)
    events = await rows(f"SELECT actor_label, changes FROM \"{schema(t)}\".audit_events "
                        "WHERE action = 'update_calendar' ORDER BY seq")
    assert [(e.actor_label, e.changes) for e in events] == [
        (ADMIN, {"receiptRule": "NEXT_BUSINESS_DAY", "deadlinesMoved": 9})]

    # the after-hours cut-off stays the tenant's setting: at 19:00 Wed Sep 30 is in hours, so both rules receive it
    # that day (Sep 30: Oct 8, 9, 10, 12, Tue Oct 13; Sep 30 + 15 = Thu Oct 15)
    later = (await gql(UPDATE, {"input": {"workingHoursEnd": "19:00:00", "receiptRule": "CIVIL_CODE_201"}},
                       tenant=t, user=ADMIN))["updateCalendar"]
    assert later["userErrors"] == []
    assert later["calendar"]["workingHoursEnd"] == "19:00:00"
    assert dues(await deadlines_of(gql, t, ids[2])) == (date(2026, 10, 13), date(2026, 10, 15))
    assert await rows(f'SELECT receipt_rule, working_hours_end FROM "{schema(t)}".calendar_settings') == [
        ("CIVIL_CODE_201", time(19, 0))]

    # another tenant's calendar and deadlines are its own
    other = await tenant_of("retail", "receipt-rule-other")
    assert (await gql(CALENDAR, tenant=other, user=ADMIN))["calendars"][0]["receiptRule"] == "CIVIL_CODE_201"
