"""External appraisal (鉴定/评估) through GraphQL with a frozen clock: the deadlines whose rules name
EXTERNAL_APPRAISAL stop while a case is on appraisal and run again longer by exactly that time, in their own
basis (calendar days for the bank's DECISION, working days for a WORKING rule), across China's 2026 National
Day; a deadline paused by a status and an appraisal resumes only when neither holds; one started meanwhile
starts paused. Refusals (twice, not on appraisal, a closed or withdrawn case, no right, another tenant's
complaint) give exact codes and change nothing.

Expected due dates are counted by hand on the State Council's 2026 schedule (each worked out in a comment), not
with the calendar module the planner itself uses.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from conftest import DEFAULT_USER, SECOND_USER, GraphQLClient
from deadline_cases import SH, at, schema, tenant_of
from helpers import rows
from lifecycle import STEPS, complaint_input

from services.core.clock import FixedClock

DESK = "desk@test.example"  # complaint_desk: complaint.extend_deadline on any case (policies/*.csv)
INVESTIGATOR = "investigator@test.example"  # reads every case, may not extend deadlines
RECEIVER2 = "receiver2@test.example"  # reads only the cases it owns or its store's: not these
ADMIN = "admin@test.example"

FIELDS = """
  status externalAppraisal { startedAt reason appraiser startedBy { email } }
  deadlines { kind stage basis dueAt paused pausedDays periodDays metAt cancelledAt workingDaysLeft pauseIn
              pauseConditions }
  latestEvents: history(last: 3) { edges { node { action changes note } } }
"""
COMPLAINT = f"query ($id: ID!) {{ complaint(id: $id) {{ {FIELDS} }} }}"
START = f"""
mutation ($input: StartExternalAppraisalInput!) {{ startExternalAppraisal(input: $input) {{
  complaint {{ {FIELDS} }} userErrors {{ field code message }} }} }}
"""
END = f"""
mutation ($input: EndExternalAppraisalInput!) {{ endExternalAppraisal(input: $input) {{
  complaint {{ {FIELDS} }} userErrors {{ field code message }} }} }}
"""
RECORD = """
mutation ($input: RecordComplaintInput!) { recordComplaint(input: $input) {
  complaint { id } userErrors { field code message } } }
"""
UPSERT = """
mutation ($input: UpsertSlaProfileInput!) { upsertSlaProfile(input: $input) {
  slaProfile { rules { kind stage pauseIn pauseConditions } } userErrors { field code message } } }
"""

def due_on(d: dict[str, Any]) -> date:
    return datetime.fromisoformat(d["dueAt"]).astimezone(SH).date()


def by_kind(complaint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["kind"] + (f":{d['stage']}" if d["stage"] else ""): d for d in complaint["deadlines"]}


async def record(gql: GraphQLClient, tenant: str, **fields: Any) -> str:
    data = await gql(RECORD, {"input": complaint_input(**fields)}, tenant=tenant)
    assert data["recordComplaint"]["userErrors"] == []
    return str(data["recordComplaint"]["complaint"]["id"])


async def go(gql: GraphQLClient, tenant: str, name: str, cid: str, user: str = DEFAULT_USER, **fields: Any
             ) -> None:
    query = (f"mutation ($input: {STEPS[name]}!) {{ {name}(input: $input) "
             "{ complaint { status } userErrors { field code message } } }")
    data = await gql(query, {"input": {"complaintId": cid, **fields}}, tenant=tenant, user=user)
    assert data[name]["userErrors"] == [], data


async def complaint(gql: GraphQLClient, tenant: str, cid: str, user: str = DEFAULT_USER) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(COMPLAINT, {"id": cid}, tenant=tenant, user=user))["complaint"]
    return found


async def start(gql: GraphQLClient, tenant: str, cid: str, user: str = DESK, **fields: Any) -> dict[str, Any]:
    fields.setdefault("reason", "The card network's forensic assessment of the disputed charge")
    payload: dict[str, Any] = (await gql(START, {"input": {"complaintId": cid, **fields}}, tenant=tenant,
                                         user=user))["startExternalAppraisal"]
    return payload


async def end(gql: GraphQLClient, tenant: str, cid: str, user: str = DESK, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(END, {"input": {"complaintId": cid, **fields}}, tenant=tenant,
                                         user=user))["endExternalAppraisal"]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def snapshot(tenant: str) -> tuple[list[Any], ...]:
    """Everything an appraisal mutation could change in the tenant: complaints, deadlines, appraisals, the
    audit trail and the outbox."""
    s = schema(tenant)
    return (
        await rows(f'SELECT id, status, updated_at, appraisal_started_at FROM "{s}".complaints ORDER BY id'),
        await rows(f'SELECT * FROM "{s}".deadlines ORDER BY id'),
        await rows(f'SELECT * FROM "{s}".appraisals ORDER BY id'),
        await rows(f'SELECT seq, hash FROM "{s}".audit_events ORDER BY seq'),
        await rows(f'SELECT id FROM "{s}".outbox ORDER BY id'),
    )


# ---------------------------------------------------------------- the bank's DECISION (calendar days)


async def test_bank_decision_moves_by_the_appraisal_days(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("bank", "decision")
    clock.at = at(2026, 9, 22)  # Tuesday
    cid = await record(gql, t)
    c = await complaint(gql, t, cid)
    decision = by_kind(c)["DECISION"]
    assert c["externalAppraisal"] is None
    assert decision["pauseIn"] == [] and decision["pauseConditions"] == ["EXTERNAL_APPRAISAL"]
    assert due_on(decision) == date(2026, 10, 8)  # Sep 22 + 15 = Oct 7, in National Day -> Thu Oct 8

    clock.at = at(2026, 9, 28)  # Monday: the case goes to an outside appraiser
    payload = await start(gql, t, cid, appraiser="某司法鉴定中心 Forensic Appraisal Centre")
    assert payload["userErrors"] == []
    c = payload["complaint"]
    assert datetime.fromisoformat(c["externalAppraisal"].pop("startedAt")) == at(2026, 9, 28)
    assert c["externalAppraisal"] == {
        "appraiser": "某司法鉴定中心 Forensic Appraisal Centre",
        "reason": "The card network's forensic assessment of the disputed charge", "startedBy": {"email": DESK}}
    assert c["status"] == "RECEIVED"  # the status does not change: appraisal is a condition beside it
    assert by_kind(c)["DECISION"]["paused"] is True
    event = c["latestEvents"]["edges"][-1]["node"]
    assert event["action"] == "start_external_appraisal" and event["changes"]["paused"] == ["DECISION"]
    assert event["note"] == "The card network's forensic assessment of the disputed charge"

    clock.at = at(2026, 10, 9, 9)  # the old due day has passed while paused: not overdue, the clock stands still
    c = await complaint(gql, t, cid)
    assert by_kind(c)["DECISION"]["paused"] is True and due_on(by_kind(c)["DECISION"]) == date(2026, 10, 8)
    assert await listed_overdue(gql, t) == set()

    clock.at = at(2026, 10, 9)  # Friday 10:00: the appraisal report arrives
    payload = await end(gql, t, cid, outcome="The charge was made with the card's chip and PIN.")
    assert payload["userErrors"] == []
    c = payload["complaint"]
    assert c["externalAppraisal"] is None
    decision = by_kind(c)["DECISION"]
    assert decision["paused"] is False and decision["periodDays"] == 15
    # paused Sep 28 to Oct 9: 11 calendar days (the basis of DECISION), so the period is 15 + 11 = 26 days
    assert decision["pausedDays"] == (date(2026, 10, 9) - date(2026, 9, 28)).days == 11
    # by hand: Sep 22 + 26 days = Sun Oct 18, a rest day (art. 203) -> Mon Oct 19 (Sat Oct 10 was the make-up day)
    assert due_on(decision) == date(2026, 10, 19)
    event = c["latestEvents"]["edges"][-1]["node"]
    assert event["action"] == "end_external_appraisal" and event["changes"]["resumed"] == ["DECISION"]

    # reason, appraiser and outcome are sealed at rest (tenant data key), readable through the API only
    stored = await rows(f'SELECT reason, appraiser, outcome, started_at, ended_at FROM "{schema(t)}".appraisals')
    assert len(stored) == 1 and stored[0].ended_at == at(2026, 10, 9)
    for blob, plain in ((stored[0].reason, b"forensic"), (stored[0].appraiser, "鉴定".encode()),
                        (stored[0].outcome, b"chip and PIN")):
        assert blob[:1] == b"\x01" and plain not in blob

    # a second appraisal later adds its own days to the first
    clock.at = at(2026, 10, 12)
    assert (await start(gql, t, cid, reason="A second opinion"))["userErrors"] == []
    clock.at = at(2026, 10, 15)
    decision = by_kind((await end(gql, t, cid))["complaint"])["DECISION"]
    assert decision["pausedDays"] == 11 + 3
    assert due_on(decision) == date(2026, 10, 21)  # by hand: Sep 22 + 29 days = Wed Oct 21, a working day


async def listed_overdue(gql: GraphQLClient, tenant: str) -> set[str]:
    data = await gql("query { complaints(filter: {overdue: true}, first: 50) { edges { node { id } } } }",
                     tenant=tenant)
    return {e["node"]["id"] for e in data["complaints"]["edges"]}


# ---------------------------------------------------------------- a WORKING rule, and one started meanwhile


async def test_working_days_rule_and_a_deadline_started_on_appraisal(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("bank", "working")
    rules = [
        {"kind": "DECISION", "basis": "WORKING", "days": 10, "startsOn": "RECORDED", "metOn": ["CUSTOMER_TOLD"],
         "pauseConditions": ["EXTERNAL_APPRAISAL"]},
        {"kind": "STAGE", "stage": "investigation", "basis": "CALENDAR", "days": 7,
         "startsOn": "INVESTIGATION_STARTED", "metOn": ["APPROVED"], "pauseIn": ["AWAITING_CUSTOMER"],
         "pauseConditions": ["EXTERNAL_APPRAISAL"]},
        {"kind": "CUSTOMER_REPLY", "basis": "WORKING", "days": 5, "startsOn": "RECORDED",
         "metOn": ["CUSTOMER_TOLD"]},  # pauses for nothing: runs through the appraisal
    ]
    payload = (await gql(UPSERT, {"input": {"name": "Working", "rules": rules}}, tenant=t,
                         user=ADMIN))["upsertSlaProfile"]
    assert payload["userErrors"] == []
    assert payload["slaProfile"]["rules"][1] == {"kind": "STAGE", "stage": "investigation",
                                                 "pauseIn": ["AWAITING_CUSTOMER"],
                                                 "pauseConditions": ["EXTERNAL_APPRAISAL"]}
    for bad in ({**rules[0], "pauseIn": ["EXTERNAL_APPRAISAL"]},
                {**rules[0], "pauseConditions": ["AWAITING_CUSTOMER"]}):
        refused = await gql.post(UPSERT, {"input": {"name": "x", "rules": [bad]}}, tenant=t, user=ADMIN)
        assert "data" not in refused.json() and refused.json()["errors"]  # each list takes its own enum

    clock.at = at(2026, 9, 30)  # Wednesday before National Day
    cid = await record(gql, t)
    before = by_kind(await complaint(gql, t, cid))
    # 10 working days after Sep 30: Oct 8, 9, 10 (make-up Saturday), 12, 13, 14, 15, 16, 19, 20
    assert due_on(before["DECISION"]) == date(2026, 10, 20)

    clock.at = at(2026, 10, 9)  # Friday
    assert (await start(gql, t, cid))["userErrors"] == []
    clock.at = at(2026, 10, 12)  # Monday, still on appraisal: the investigation starts, its stage starts paused
    await go(gql, t, "startInvestigation", cid)
    d = by_kind(await complaint(gql, t, cid))
    assert d["STAGE:investigation"]["paused"] is True
    assert d["DECISION"]["paused"] is True and d["CUSTOMER_REPLY"]["paused"] is False

    clock.at = at(2026, 10, 14)  # Wednesday: the appraisal ends
    d = by_kind((await end(gql, t, cid))["complaint"])
    # DECISION: paused Oct 9 to Oct 14, the working days after Oct 9 up to Oct 14: Sat 10 (make-up), 12, 13, 14
    assert d["DECISION"]["pausedDays"] == 4
    assert due_on(d["DECISION"]) == date(2026, 10, 26)  # 4 working days after Oct 20: 21, 22, 23, 26
    # the stage started paused on Oct 12: 2 calendar days to Oct 14; 7 + 2 days after Oct 12 = Wed Oct 21
    assert d["STAGE:investigation"]["paused"] is False and d["STAGE:investigation"]["pausedDays"] == 2
    assert due_on(d["STAGE:investigation"]) == date(2026, 10, 21)
    # the rule that does not pause for appraisal ran through it
    assert d["CUSTOMER_REPLY"]["pausedDays"] == 0 and d["CUSTOMER_REPLY"]["dueAt"] == before["CUSTOMER_REPLY"]["dueAt"]


# ---------------------------------------------------------------- a status and an appraisal (retail)


async def test_paused_by_status_and_appraisal_resumes_when_neither_holds(gql: GraphQLClient,
                                                                        clock: FixedClock) -> None:
    t = await tenant_of("retail", "both")
    unit = {u["code"]: u["id"] for u in (await gql("query { orgUnits { id code } }", tenant=t))["orgUnits"]
            if u["code"]}
    clock.at = at(2026, 3, 2)  # Monday
    cid = await record(gql, t)
    clock.at = at(2026, 3, 3)
    await go(gql, t, "startInvestigation", cid)
    # the retail template: the marketing stage pauses for an inspection, the branch stage (met now) would not
    d = by_kind(await complaint(gql, t, cid))
    assert d["STAGE:marketing"]["pauseConditions"] == ["EXTERNAL_APPRAISAL"]
    assert d["RESOLUTION"]["pauseIn"] == ["AWAITING_CUSTOMER"]
    assert d["RESOLUTION"]["pauseConditions"] == ["EXTERNAL_APPRAISAL"]
    assert d["CUSTOMER_REPLY"]["pauseConditions"] == []
    await go(gql, t, "submitInvestigation", cid, valid=True, findings="The kettle base cracked.")
    await go(gql, t, "assignResponsibleDepartment", cid, departmentId=unit["QA"])
    await go(gql, t, "proposeSolution", cid, solution="Replace it.", customerReply="We replace the kettle.")
    await go(gql, t, "approveHandlingForm", cid, user=SECOND_USER)  # four eyes
    clock.at = at(2026, 3, 4)
    await go(gql, t, "sendCustomerMessage", cid)  # AWAITING_CUSTOMER: the resolution clock stops (Mar 4)
    assert by_kind(await complaint(gql, t, cid))["RESOLUTION"]["paused"] is True

    clock.at = at(2026, 3, 5)  # the customer sends the kettle to a test lab: on appraisal as well
    assert (await start(gql, t, cid, reason="Quality inspection of the kettle base",
                        appraiser="Test lab"))["userErrors"] == []
    clock.at = at(2026, 3, 9)  # the customer agrees: the status no longer pauses it, the appraisal still does
    await go(gql, t, "recordCustomerOpinion", cid, agreed=True)
    d = by_kind(await complaint(gql, t, cid))
    assert d["RESOLUTION"]["paused"] is True and d["RESOLUTION"]["pausedDays"] == 0

    clock.at = at(2026, 3, 12)  # the lab reports: neither holds any more, one pause from Mar 4 to Mar 12
    d = by_kind((await end(gql, t, cid, outcome="A manufacturing defect"))["complaint"])
    assert d["RESOLUTION"]["paused"] is False and d["RESOLUTION"]["pausedDays"] == 8
    assert due_on(d["RESOLUTION"]) == date(2026, 3, 25)  # Mar 2 + 23 days: Wednesday


# ---------------------------------------------------------------- refusals change nothing


async def test_refusals_have_exact_codes_and_change_nothing(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("bank", "refusals")
    clock.at = at(2026, 11, 2)
    cid = await record(gql, t)
    clock.at = at(2026, 11, 3)

    async def refused(payload: dict[str, Any], expected: list[tuple[str, list[str] | None]]) -> None:
        assert codes(payload) == expected, payload
        assert payload["complaint"] is None
        assert await snapshot(t) == unchanged

    unchanged = await snapshot(t)
    await refused(await end(gql, t, cid), [("ILLEGAL_TRANSITION", None)])  # not on appraisal
    await refused(await start(gql, t, cid, reason="  "), [("REQUIRED", ["reason"])])
    await refused(await start(gql, t, cid, appraiser="x" * 201), [("TOO_LONG", ["appraiser"])])
    # no complaint.extend_deadline: refused, whether the user can read the case (NOT_ALLOWED) or not (NOT_FOUND)
    await refused(await start(gql, t, cid, user=INVESTIGATOR), [("NOT_ALLOWED", None)])
    await refused(await start(gql, t, cid, user=RECEIVER2), [("NOT_FOUND", ["complaintId"])])

    assert (await start(gql, t, cid))["userErrors"] == []
    unchanged = await snapshot(t)
    await refused(await start(gql, t, cid, reason="Again"), [("ILLEGAL_TRANSITION", None)])  # twice
    await refused(await end(gql, t, cid, user=INVESTIGATOR), [("NOT_ALLOWED", None)])
    await refused(await end(gql, t, cid, user=RECEIVER2), [("NOT_FOUND", ["complaintId"])])
    assert (await complaint(gql, t, cid))["externalAppraisal"]["reason"].startswith("The card network")

    # withdrawing the case ends its appraisal with it; then neither mutation applies
    clock.at = at(2026, 11, 4)
    await go(gql, t, "withdrawComplaint", cid, reason="Settled with the merchant.")
    c = await complaint(gql, t, cid)
    assert c["status"] == "WITHDRAWN" and c["externalAppraisal"] is None
    assert all(d["cancelledAt"] is not None for d in c["deadlines"])
    assert [e["node"]["action"] for e in c["latestEvents"]["edges"][-2:]] == ["withdraw_complaint",
                                                                             "end_external_appraisal"]
    ended = await rows(f'SELECT ended_at FROM "{schema(t)}".appraisals')
    assert [r.ended_at for r in ended] == [at(2026, 11, 4)]
    unchanged = await snapshot(t)
    await refused(await start(gql, t, cid), [("ILLEGAL_TRANSITION", None)])
    await refused(await end(gql, t, cid), [("ILLEGAL_TRANSITION", None)])

    # a closed case likewise
    closed = await record(gql, t)
    await go(gql, t, "resolveOnTheSpot", closed, resolution="Refunded at the counter.")
    unchanged = await snapshot(t)
    await refused(await start(gql, t, closed), [("ILLEGAL_TRANSITION", None)])
    await refused(await end(gql, t, closed), [("ILLEGAL_TRANSITION", None)])


# ---------------------------------------------------------------- two tenants


async def test_another_tenants_complaint_is_not_found(gql: GraphQLClient, clock: FixedClock) -> None:
    a, b = await tenant_of("bank", "iso-a"), await tenant_of("bank", "iso-b")
    clock.at = at(2026, 11, 2)
    mine, theirs = await record(gql, a), await record(gql, b)  # look-alikes: same title, same complainant
    unchanged = await snapshot(b)
    for user in (DEFAULT_USER, DESK):  # A's users, with every right in A
        payload = await start(gql, a, theirs, user=user)
        assert codes(payload) == [("NOT_FOUND", ["complaintId"])] and payload["complaint"] is None
        payload = await end(gql, a, theirs, user=user)
        assert codes(payload) == [("NOT_FOUND", ["complaintId"])]
    assert await snapshot(b) == unchanged
    assert (await complaint(gql, b, theirs))["externalAppraisal"] is None
    # and A's own look-alike works as usual
    assert (await start(gql, a, mine))["userErrors"] == []
    assert await snapshot(b) == unchanged
