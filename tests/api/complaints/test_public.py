"""The public side (X-Tenant only): submit, track, procedure, the customer's opinion and survey, limits."""

from __future__ import annotations

import hashlib
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import DEFAULT_USER, SECOND_USER, TENANT_A, TENANT_B, GraphQLClient
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, build_schema
from helpers import ROOT, execute, rows, scalar
from lifecycle import EXTEND
from sqlalchemy.exc import SADeprecationWarning

from services.core.clock import FixedClock

SHANGHAI = ZoneInfo("Asia/Shanghai")

# services/core/complaints/service.py intake_owner() filters with `User.roles.any("receiver")`, deprecated in

SUBMIT = """
mutation Submit($input: SubmitComplaintInput!) {
  submitComplaint(input: $input) { number accessCode userErrors { field message code } }
}
"""

TRACK = """
query Track($number: String!, $accessCode: String!) {
  trackComplaint(number: $number, accessCode: $accessCode) {
    number status nextStep receivedAt closedAt
    expectedDates { label dueOn provisional }
    messages { body sentAt }
    canGiveOpinion canRateSatisfaction
  }
}
"""

# the same selection for every tracking request whose answer must not tell a wrong code from no complaint
TRACK_MIN = """
query Track($number: String!, $accessCode: String!) {
  trackComplaint(number: $number, accessCode: $accessCode) { number status }
}
"""

PROCEDURE = """
query { complaintProcedure { summary channels steps { key name description expectedTime } } }
"""

OPINION = """
mutation Opinion($input: SubmitCustomerOpinionInput!) {
  submitCustomerOpinion(input: $input) { status userErrors { field message code } }
}
"""

SURVEY = """
mutation Survey($input: SubmitSatisfactionSurveyInput!) {
  submitSatisfactionSurvey(input: $input) { status userErrors { field message code } }
}
"""

BY_NUMBER = """
query Get($number: String!) { complaintByNumber(number: $number) { id status createdAt owner { email roles } } }
"""

STAFF_STEPS = {
    "startInvestigation": ("StartInvestigationInput", DEFAULT_USER),
    "submitInvestigation": ("SubmitInvestigationInput", DEFAULT_USER),
    "assignResponsibleDepartment": ("AssignResponsibleDepartmentInput", DEFAULT_USER),
    "proposeSolution": ("ProposeSolutionInput", DEFAULT_USER),
    "approveHandlingForm": ("DecideHandlingFormInput", SECOND_USER),  # four eyes: not the proposer
    "sendCustomerMessage": ("SendCustomerMessageInput", DEFAULT_USER),
    "recordCustomerOpinion": ("RecordCustomerOpinionInput", DEFAULT_USER),
    "completeImplementation": ("CompleteImplementationInput", DEFAULT_USER),
}

REPLY = "We replace the kettle free of charge within 3 days."


# ---------------------------------------------------------------- clients with their own address


def fresh_address() -> str:
    """A client address no other test uses, so rate-limit budgets are never shared."""
    r = uuid.uuid4().int
    return f"10.{(r >> 16) & 255}.{(r >> 8) & 255}.{max(r & 255, 1)}"


@pytest.fixture
def public(app: Any) -> Callable[..., AbstractAsyncContextManager[GraphQLClient]]:
    """``async with public() as p``: a GraphQL client calling from an address of its own."""

    @asynccontextmanager
    async def make(address: str | None = None) -> AsyncIterator[GraphQLClient]:
        transport = httpx.ASGITransport(app=app, client=(address or fresh_address(), 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)

    return make


def complaint_input(**fields: Any) -> dict[str, Any]:
    return {
        "complainant": {"name": "Chen Jing", "phone": "+86 135 1111 2222", "email": "chen.jing@example.com"},
        "title": "Kettle leaks after two days",
        "description": "The kettle I bought last week leaks from the bottom.",
        **fields,
    }


async def submit(p: GraphQLClient, tenant: str = TENANT_A, **fields: Any) -> dict[str, Any]:
    data = await p(SUBMIT, {"input": complaint_input(**fields)}, tenant=tenant, user=None)
    return data["submitComplaint"]  # type: ignore[no-any-return]


async def submitted(p: GraphQLClient, tenant: str = TENANT_A, **fields: Any) -> tuple[str, str]:
    result = await submit(p, tenant, **fields)
    assert result["userErrors"] == [], result
    return result["number"], result["accessCode"]


async def track(p: GraphQLClient, number: str, code: str, tenant: str = TENANT_A) -> dict[str, Any] | None:
    data = await p(TRACK, {"number": number, "accessCode": code}, tenant=tenant, user=None)
    return data["trackComplaint"]  # type: ignore[no-any-return]


async def staff_step(gql: GraphQLClient, name: str, complaint_id: str, tenant: str = TENANT_A,
                     **fields: Any) -> str:
    input_type, user = STAFF_STEPS[name]
    query = (f"mutation Step($input: {input_type}!) {{ {name}(input: $input) "
             "{ complaint { status } userErrors { field message code } } }")
    data = await gql(query, {"input": {"complaintId": complaint_id, **fields}}, tenant=tenant, user=user)
    assert data[name]["userErrors"] == [], data
    return data[name]["complaint"]["status"]  # type: ignore[no-any-return]


async def complaint_id(gql: GraphQLClient, number: str, tenant: str = TENANT_A) -> str:
    found = (await gql(BY_NUMBER, {"number": number}, tenant=tenant))["complaintByNumber"]
    assert found is not None
    return found["id"]  # type: ignore[no-any-return]


async def department(gql: GraphQLClient, tenant: str = TENANT_A) -> str:
    units = (await gql("query { orgUnits(kind: DEPARTMENT) { id } }", tenant=tenant))["orgUnits"]
    return units[0]["id"]  # type: ignore[no-any-return]


async def to_awaiting_customer(gql: GraphQLClient, cid: str, tenant: str = TENANT_A) -> None:
    """record -> investigate (valid) -> department -> solution -> written approval -> told the customer."""
    assert await staff_step(gql, "startInvestigation", cid, tenant) == "INVESTIGATING"
    assert await staff_step(gql, "submitInvestigation", cid, tenant, valid=True,
                            findings="The seal is faulty.") == "INVESTIGATING"
    assert await staff_step(gql, "assignResponsibleDepartment", cid, tenant,
                            departmentId=await department(gql, tenant)) == "ASSIGNED"
    assert await staff_step(gql, "proposeSolution", cid, tenant, solution="Replace the kettle.",
                            customerReply=REPLY) == "SOLUTION_PROPOSED"
    assert await staff_step(gql, "approveHandlingForm", cid, tenant) == "APPROVED"
    assert await staff_step(gql, "sendCustomerMessage", cid, tenant) == "AWAITING_CUSTOMER"


def schema_of(tenant: str) -> str:
    return "tenant_" + tenant.replace("-", "_")


async def snapshot(number: str, tenant: str = TENANT_A) -> dict[str, Any]:
    """What a refused answer must leave unchanged."""
    s = schema_of(tenant)
    row = (await rows(f'SELECT id, status, updated_at FROM "{s}".complaints WHERE number = :n', n=number))[0]
    return {
        "status": row.status,
        "updated_at": row.updated_at,
        "opinions": await scalar(f'SELECT count(*) FROM "{s}".customer_opinions WHERE complaint_id = :i', i=row.id),
        "surveys": await scalar(f'SELECT count(*) FROM "{s}".satisfaction_surveys WHERE complaint_id = :i',
                                i=row.id),
        "events": await scalar(f'SELECT count(*) FROM "{s}".audit_events WHERE subject_id = :i', i=row.id),
    }


async def answer(p: GraphQLClient, query: str, tenant: str = TENANT_A, **fields: Any) -> dict[str, Any]:
    data = await p(query, {"input": fields}, tenant=tenant, user=None)
    return next(iter(data.values()))  # type: ignore[no-any-return]


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


# ---------------------------------------------------------------- submit


async def test_submit_returns_a_number_and_an_access_code_stored_only_as_a_hash(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], gql: GraphQLClient, clock: FixedClock,
) -> None:
    clock.at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # already 1 December in Shanghai
    async with public() as p:
        result = await submit(p)
    assert result["userErrors"] == []
    number, code = result["number"], result["accessCode"]
    assert re.fullmatch(r"[0-9]{10}", number), number
    assert number[:4] == "2612"  # YYMM in Asia/Shanghai
    assert re.fullmatch(r"[A-Z0-9]{12}", code), code
    assert not set(code) & set("0O1I")  # read out over the phone without confusion

    s = schema_of(TENANT_A)
    (row,) = await rows(f'SELECT * FROM "{s}".complaints WHERE number = :n', n=number)
    stored = row._mapping["access_code_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert stored == hashlib.sha256(code.encode()).hexdigest()
    for column, value in row._mapping.items():
        assert code.lower() not in str(value).lower(), f"the plain access code is in complaints.{column}"
    # nor in the complainant row or the audit trail
    (person,) = await rows(f'SELECT * FROM "{s}".complainants WHERE id = :i', i=row.complainant_id)
    events = await rows(f'SELECT * FROM "{s}".audit_events WHERE subject_id = :i', i=row.id)
    assert len(events) == 1
    for r in (person, *events):
        assert all(code.lower() not in str(v).lower() for v in r._mapping.values())

    # a staff view: received through the web, owned by a receiver (the staff here were all created at once)
    found = (await gql(BY_NUMBER, {"number": number}))["complaintByNumber"]
    assert found["status"] == "RECEIVED"
    assert "receiver" in found["owner"]["roles"]
    assert row.channel == "WEB"
    assert events[0]._mapping["actor_label"] == "customer"


async def test_submit_uses_no_deprecated_sqlalchemy_api(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]],
) -> None:
    before = await counts()
    async with public() as p:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SADeprecationWarning)
            response = await p.post(SUBMIT, {"input": complaint_input()}, user=None)
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["submitComplaint"]["userErrors"] == []
    assert (await counts())[0] == before[0] + 1


# ---------------------------------------------------------------- track


def _add_weekdays(start: date, days: int) -> date:
    current = start
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


async def test_track_shows_status_next_step_and_expected_dates(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], gql: GraphQLClient, clock: FixedClock,
) -> None:
    """Received on Tuesday 22 September 2026 at 10:00 in Shanghai (the clock fixture). The dates below are counted
    by hand on the State Council's 2026 schedule, not by the planner: Mid-Autumn 25-27 September and National Day
    1-7 October are rest days, Saturday 10 October a working day; the day of receipt does not count, and a period
    in days ending on a rest day moves to the next working day."""
    assert clock.now() == datetime(2026, 9, 22, 10, tzinfo=SHANGHAI)
    async with public() as p:
        number, code = await submitted(p)
        tracked = await track(p, number, code)
        assert tracked is not None
        created = datetime.fromisoformat((await gql(BY_NUMBER, {"number": number}))["complaintByNumber"]["createdAt"])
        assert created == clock.now()
        assert tracked["number"] == number
        assert tracked["status"] == "RECEIVED"
        assert tracked["nextStep"]
        assert datetime.fromisoformat(tracked["receivedAt"]) == created
        assert tracked["closedAt"] is None
        assert tracked["messages"] == []
        assert tracked["canGiveOpinion"] is False
        assert tracked["canRateSatisfaction"] is False
        # retail: a first answer in 5 working days (23, 24, 28, 29, 30 September), resolved in 15 days
        # (7 October, a holiday: the 8th)
        assert tracked["expectedDates"] == [
            {"label": "first answer", "dueOn": "2026-09-30", "provisional": False},
            {"label": "resolution", "dueOn": "2026-10-08", "provisional": False},
        ]
        # spaces around the code as typed are forgiven
        assert await track(p, f" {number} ", f" {code} ") == tracked

        # the bank template: a decision within 15 days (the 8th again), no separate first-answer date
        b_number, b_code = await submitted(p, TENANT_B)
        b_tracked = await track(p, b_number, b_code, TENANT_B)
        assert b_tracked is not None
        assert b_tracked["expectedDates"] == [{"label": "decision", "dueOn": "2026-10-08", "provisional": False}]
        # an extension to 30 days moves the date the customer sees: 22 October, a Thursday
        b_id = (await gql(BY_NUMBER, {"number": b_number}, tenant=TENANT_B))["complaintByNumber"]["id"]
        extended = await gql(EXTEND, {"input": {"complaintId": b_id, "reason": "Waiting on the card network",
                                                "complex": True}}, tenant=TENANT_B, user="desk@test.example")
        assert extended["extendDeadline"]["userErrors"] == []
        assert (await track(p, b_number, b_code, TENANT_B))["expectedDates"] == [
            {"label": "decision", "dueOn": "2026-10-22", "provisional": False}
        ]
        assert datetime.fromisoformat(extended["extendDeadline"]["deadline"]["dueAt"]).astimezone(SHANGHAI).date() \
            == date(2026, 10, 22)


async def test_a_case_without_deadline_rows_shows_the_procedures_estimate(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], gql: GraphQLClient,
) -> None:
    async with public() as p:
        number, code = await submitted(p)
        # a fixture, not the workflow: a case recorded before deadlines were planned (tenant migration t0005)
        schema = schema_of(TENANT_A)
        await execute(f'DELETE FROM "{schema}".deadlines WHERE complaint_id = '
                      f'(SELECT id FROM "{schema}".complaints WHERE number = :n)', n=number)
        tracked = await track(p, number, code)
        assert tracked is not None
        received = datetime.fromisoformat(tracked["receivedAt"]).astimezone(SHANGHAI).date()
        assert tracked["expectedDates"] == [
            {"label": "first answer", "dueOn": _add_weekdays(received, 5).isoformat(), "provisional": True},
            {"label": "resolution", "dueOn": (received + timedelta(days=15)).isoformat(), "provisional": True},
        ]


async def test_wrong_code_and_unknown_number_answer_exactly_alike(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]],
) -> None:
    async with public() as p:
        number, code = await submitted(p)
        wrong = ("B" if code[0] != "B" else "C") + code[1:]
        other_code = (await submit(p))["accessCode"]  # a real code, of another complaint
        unknown = "9912" + uuid.uuid4().hex[:6].translate(str.maketrans("abcdef", "012345"))

        async def raw(n: str, c: str, tenant: str = TENANT_A) -> bytes:
            response = await p.post(TRACK_MIN, {"number": n, "accessCode": c}, tenant=tenant, user=None)
            assert response.status_code == 200
            return response.content

        right = await raw(number, code)
        assert number.encode() in right
        answers = {
            "wrong code": await raw(number, wrong),
            "another complaint's code": await raw(number, other_code),
            "empty code": await raw(number, ""),
            "unknown number": await raw(unknown, code),
            "empty number": await raw("", code),
            "right code, other tenant": await raw(number, code, TENANT_B),
        }
    for name, body in answers.items():
        assert body == b'{"data":{"trackComplaint":null}}', name


async def test_tracking_shows_nothing_internal(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], gql: GraphQLClient,
) -> None:
    # in the contract: no field of ComplaintTracking leads to internal forms, opinions or the complainant
    schema = build_schema((ROOT / "frontend-schema" / "schema.graphql").read_text())
    tracking = schema.get_type("ComplaintTracking")
    assert isinstance(tracking, GraphQLObjectType)
    fields = set(tracking.fields)
    for name in ("handlingForm", "customerOpinions", "investigation", "complainant", "transferSlip",
                 "owner", "description", "history", "evidence", "solution", "findings", "causeAnalysis"):
        assert name not in fields, name
    reachable: set[str] = set()
    todo = [tracking]
    while todo:
        t = todo.pop()
        reachable.add(t.name)
        for f in t.fields.values():
            inner = f.type
            while isinstance(inner, (GraphQLNonNull, GraphQLList)):
                inner = inner.of_type
            if isinstance(inner, GraphQLObjectType) and inner.name not in reachable:
                todo.append(inner)
    internal = {"HandlingForm", "CustomerOpinion", "Investigation", "Complainant", "Complaint", "User",
                "TransferSlip", "AuditEvent", "EvidenceFile", "SatisfactionSurvey", "OrgUnit"}
    assert not reachable & internal, reachable & internal

    # and in the running API
    async with public() as p:
        number, code = await submitted(p, complainant={"name": "Secret Name", "phone": "13512345678",
                                                       "idNumber": "440301199001019999"},
                                       description="A very private description.")
        cid = await complaint_id(gql, number)
        await to_awaiting_customer(gql, cid)
        response = await p.post(TRACK, {"number": number, "accessCode": code}, user=None)
        body = response.json()
        assert set(body["data"]["trackComplaint"]) == {
            "number", "status", "nextStep", "receivedAt", "closedAt", "expectedDates", "messages",
            "canGiveOpinion", "canRateSatisfaction"}
        assert body["data"]["trackComplaint"]["messages"][0]["body"] == REPLY  # only what was approved and sent
        text = response.text
        for secret in ("Secret Name", "13512345678", "440301199001019999", "A very private description",
                       "Replace the kettle.", "The seal is faulty.", "@test.example"):
            assert secret not in text, secret
        for field in ("handlingForm { solution }", "complainant { name }", "customerOpinions { agreed }",
                      "investigation { findings }"):
            query = "query T($n: String!, $c: String!) { trackComplaint(number: $n, accessCode: $c) { " + field + " } }"
            refused = await p.post(query, {"n": number, "c": code}, user=None)
            errors = refused.json()["errors"]
            assert "data" not in refused.json()
            assert "Cannot query field" in errors[0]["message"], errors


# ---------------------------------------------------------------- procedure


async def test_procedure_differs_between_retail_and_bank(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]],
) -> None:
    async with public() as p:
        retail = (await p(PROCEDURE, tenant=TENANT_A, user=None))["complaintProcedure"]
        bank = (await p(PROCEDURE, tenant=TENANT_B, user=None))["complaintProcedure"]
        no_tenant = await p.post(PROCEDURE, tenant=None, user=None)
    assert no_tenant.status_code == 400

    retail_keys = [s["key"] for s in retail["steps"]]
    bank_keys = [s["key"] for s in bank["steps"]]
    assert retail_keys != bank_keys
    assert retail_keys[0] == bank_keys[0] == "RECEIVE"
    assert {"CONSULT", "IMPLEMENT"} <= set(retail_keys) - set(bank_keys)  # the customer's opinion, then implement
    assert {"DECIDE", "ESCALATE"} <= set(bank_keys) - set(retail_keys)  # a decision; banking association, regulator
    for step in (*retail["steps"], *bank["steps"]):
        assert all(step[k].strip() for k in ("key", "name", "description", "expectedTime")), step

    assert "OPINION_BOOK" in retail["channels"] and "OPINION_BOOK" not in bank["channels"]
    assert "REGULATOR_TRANSFER" in bank["channels"] and "REGULATOR_TRANSFER" not in retail["channels"]
    assert {"WEB", "APP"} <= set(retail["channels"]) & set(bank["channels"])

    assert retail["summary"] != bank["summary"]
    assert "5 working days" in retail["summary"]
    assert "15 days" in bank["summary"] and "30" in bank["summary"]


# ---------------------------------------------------------------- the customer's answers


async def test_customer_agrees_then_rates_and_the_case_closes(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], gql: GraphQLClient,
) -> None:
    s = schema_of(TENANT_A)
    async with public() as p:
        number, code = await submitted(p)
        cid = await complaint_id(gql, number)

        # too early: nothing to answer yet
        before = await snapshot(number)
        refused = await answer(p, OPINION, number=number, accessCode=code, agreed=True)
        assert codes(refused) == ["ILLEGAL_TRANSITION"] and refused["status"] is None
        refused = await answer(p, SURVEY, number=number, accessCode=code, rating="SATISFIED")
        assert codes(refused) == ["ILLEGAL_TRANSITION"] and refused["status"] is None
        assert await snapshot(number) == before

        await to_awaiting_customer(gql, cid)
        tracked = await track(p, number, code)
        assert tracked is not None
        assert tracked["status"] == "AWAITING_CUSTOMER"
        assert tracked["canGiveOpinion"] is True
        assert [m["body"] for m in tracked["messages"]] == [REPLY]

        # a wrong code opens nothing; a survey is not due yet
        before = await snapshot(number)
        wrong = ("X" if code[0] != "X" else "Y") + code[1:]
        refused = await answer(p, OPINION, number=number, accessCode=wrong, agreed=True)
        assert refused["userErrors"][0]["code"] == "NOT_FOUND"
        assert refused["userErrors"][0]["field"] == ["number"]
        assert refused["status"] is None
        refused = await answer(p, SURVEY, number=number, accessCode=code, rating="VERY_SATISFIED")
        assert codes(refused) == ["ILLEGAL_TRANSITION"]
        assert await snapshot(number) == before
        assert before["status"] == "AWAITING_CUSTOMER" and before["opinions"] == 0

    async with public() as p:  # a fresh address: the answers above spent this one's budget
        agreed = await answer(p, OPINION, number=number, accessCode=code, agreed=True, comment="Fine by me.")
        assert agreed == {"status": "IMPLEMENTING", "userErrors": []}
        after = await snapshot(number)
        assert after["status"] == "IMPLEMENTING"
        assert after["opinions"] == 1
        assert after["events"] == before["events"] + 1
        (opinion,) = await rows(
            f'SELECT o.agreed, o.comment, o.source, o.recorded_by FROM "{s}".customer_opinions o '
            f'JOIN "{s}".complaints c ON c.id = o.complaint_id WHERE c.number = :n', n=number)
        assert (opinion.agreed, opinion.source, opinion.recorded_by) == (True, "CUSTOMER", None)
        assert b"Fine by me." not in opinion.comment  # sealed at rest
        shown = await gql("query($id: ID!) { complaint(id: $id) { customerOpinions { comment } } }", {"id": cid})
        assert shown["complaint"]["customerOpinions"] == [{"comment": "Fine by me."}]

        # twice is once too many
        again = await answer(p, OPINION, number=number, accessCode=code, agreed=False)
        assert codes(again) == ["ILLEGAL_TRANSITION"]
        assert await snapshot(number) == after

        assert await staff_step(gql, "completeImplementation", cid) == "FOLLOW_UP"
        tracked = await track(p, number, code)
        assert tracked is not None and tracked["canRateSatisfaction"] is True and tracked["canGiveOpinion"] is False
        implementing = await snapshot(number)
        late = await answer(p, OPINION, number=number, accessCode=code, agreed=True)
        assert codes(late) == ["ILLEGAL_TRANSITION"]
        assert await snapshot(number) == implementing

    async with public() as p:
        rated = await answer(p, SURVEY, number=number, accessCode=code.lower(), rating="VERY_SATISFIED",
                             comment="Quick and kind.")
        assert rated == {"status": "CLOSED", "userErrors": []}
        closed = await snapshot(number)
        assert closed["surveys"] == 1 and closed["opinions"] == 1
        (survey,) = await rows(
            f'SELECT s.rating, s.source FROM "{s}".satisfaction_surveys s '
            f'JOIN "{s}".complaints c ON c.id = s.complaint_id WHERE c.number = :n', n=number)
        assert tuple(survey) == ("VERY_SATISFIED", "CUSTOMER")
        tracked = await track(p, number, code)
        assert tracked is not None
        assert tracked["status"] == "CLOSED" and tracked["closedAt"] is not None
        assert tracked["canRateSatisfaction"] is False

        again = await answer(p, SURVEY, number=number, accessCode=code, rating="DISSATISFIED")
        assert codes(again) == ["ILLEGAL_TRANSITION"]
        assert await snapshot(number) == closed


async def test_customer_disagrees_or_is_dissatisfied(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], gql: GraphQLClient,
) -> None:
    # a complaint recorded by staff: its access code was given to the customer at the desk
    record = """
    mutation R($input: RecordComplaintInput!) {
      recordComplaint(input: $input) { complaint { id number } accessCode userErrors { code } }
    }"""
    recorded = (await gql(record, {"input": complaint_input(channel="STORE")}))["recordComplaint"]
    assert recorded["userErrors"] == []
    cid, number, code = recorded["complaint"]["id"], recorded["complaint"]["number"], recorded["accessCode"]
    await to_awaiting_customer(gql, cid)

    async with public() as p:
        disagreed = await answer(p, OPINION, number=number, accessCode=code, agreed=False, comment="Not enough.")
        assert disagreed == {"status": "ASSIGNED", "userErrors": []}  # back to the responsible department
        assert (await snapshot(number))["opinions"] == 1

        # the department tries again; this time the customer agrees through the desk
        assert await staff_step(gql, "proposeSolution", cid, solution="Replace it and refund the delivery.",
                                customerReply=REPLY + " We also refund the delivery.") == "SOLUTION_PROPOSED"
        assert await staff_step(gql, "approveHandlingForm", cid) == "APPROVED"
        assert await staff_step(gql, "sendCustomerMessage", cid) == "AWAITING_CUSTOMER"
        assert await staff_step(gql, "recordCustomerOpinion", cid, agreed=True) == "IMPLEMENTING"
        assert await staff_step(gql, "completeImplementation", cid) == "FOLLOW_UP"

        rated = await answer(p, SURVEY, number=number, accessCode=code, rating="DISSATISFIED")
        assert rated == {"status": "REOPENED", "userErrors": []}  # not satisfied: handled again
        final = await snapshot(number)
        assert final["status"] == "REOPENED" and final["opinions"] == 2 and final["surveys"] == 1


# ---------------------------------------------------------------- validation


async def counts(tenant: str = TENANT_A) -> tuple[int, int, int]:
    s = schema_of(tenant)
    return (
        await scalar(f'SELECT count(*) FROM "{s}".complaints'),
        await scalar(f'SELECT count(*) FROM "{s}".complainants'),
        await scalar(f'SELECT count(*) FROM "{s}".audit_events'),
    )


INVALID_SUBMISSIONS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("no phone and no e-mail", {"complainant": {"name": "Chen Jing"}}, "REQUIRED", ["complainant", "phone"]),
    ("null phone and e-mail", {"complainant": {"name": "Chen Jing", "phone": None, "email": None}}, "REQUIRED",
     ["complainant", "phone"]),
    ("empty phone and e-mail", {"complainant": {"name": "Chen Jing", "phone": "", "email": ""}}, "REQUIRED",
     ["complainant", "phone"]),
    ("a staff-only channel", {"channel": "PHONE"}, "INVALID", ["channel"]),
    ("the regulator's channel", {"channel": "REGULATOR_TRANSFER"}, "INVALID", ["channel"]),
    ("a bad e-mail", {"complainant": {"name": "Chen Jing", "email": "chen.jing(at)example"}}, "INVALID",
     ["complainant.email"]),
    ("a bad e-mail beside a phone", {"complainant": {"name": "Chen Jing", "phone": "13511112222",
                                                     "email": "two@@example.com"}}, "INVALID", ["complainant.email"]),
    ("a bad phone", {"complainant": {"name": "Chen Jing", "phone": "call me"}}, "INVALID", ["complainant.phone"]),
    ("no name", {"complainant": {"name": " ", "phone": "13511112222"}}, "REQUIRED", ["complainant.name"]),
    ("no title", {"title": "   "}, "REQUIRED", ["title"]),
    ("a title too long", {"title": "x" * 201}, "TOO_LONG", ["title"]),
    ("a negative amount", {"amount": "-1"}, "OUT_OF_RANGE", ["amount"]),
]


@pytest.mark.parametrize(("name", "fields", "code", "field"), INVALID_SUBMISSIONS,
                         ids=[i[0] for i in INVALID_SUBMISSIONS])
async def test_invalid_submission_writes_nothing(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], name: str, fields: dict[str, Any],
    code: str, field: list[str],
) -> None:
    before = await counts()
    async with public() as p:
        result = await submit(p, **fields)
    assert result["number"] is None and result["accessCode"] is None, name
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)], result
    assert await counts() == before


@pytest.mark.parametrize("blank", ["   ", "\t"])
async def test_blank_phone_without_email_is_required(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]], blank: str,
) -> None:
    before = await counts()
    async with public() as p:
        result = await submit(p, complainant={"name": "Chen Jing", "phone": blank, "email": "  "})
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("REQUIRED", ["complainant", "phone"])]
    assert await counts() == before


# ---------------------------------------------------------------- rate limit


async def test_sixth_submission_from_one_address_is_rate_limited(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]],
) -> None:
    address = fresh_address()
    async with public(address) as p:
        accepted = [await submitted(p, title=f"Flood {i}") for i in range(5)]
        assert len({n for n, _ in accepted}) == 5
        before = await counts()
        sixth = await submit(p, title="Flood 6")
        assert sixth["number"] is None and sixth["accessCode"] is None
        assert [(e["code"], e["field"]) for e in sixth["userErrors"]] == [("RATE_LIMITED", None)]
        assert "try again" in sixth["userErrors"][0]["message"]
        assert await counts() == before
        # still refused, still nothing written; the answer says when to try again
        seventh = await p.post(SUBMIT, {"input": complaint_input(title="Flood 7")}, user=None)
        assert codes(seventh.json()["data"]["submitComplaint"]) == ["RATE_LIMITED"]
        assert 0 < int(seventh.headers["retry-after"]) <= 600
        assert await counts() == before
        # the budget is per tenant: the same address may still submit to another tenant
        assert (await submit(p, TENANT_B, title="Flood elsewhere"))["userErrors"] == []
        # tracking has a budget of its own
        assert (await track(p, *accepted[0])) is not None

    async with public() as other:  # another address is not affected
        result = await submit(other, title="Not a flood")
        assert result["userErrors"] == [] and result["number"]
    assert (await counts())[0] == before[0] + 1


# ---------------------------------------------------------------- what cannot be stored


async def test_number_with_a_nul_is_just_not_found(
    public: Callable[..., AbstractAsyncContextManager[GraphQLClient]],
) -> None:
    before = (await counts(), await scalar(f'SELECT count(*) FROM "{schema_of(TENANT_A)}".customer_opinions'))
    async with public() as p:
        response = await p.post(TRACK_MIN, {"number": "2501\x00", "accessCode": "ABCDEFGHJKLM"}, user=None)
        assert response.content == b'{"data":{"trackComplaint":null}}'
        refused = await answer(p, OPINION, number="2501\x00", accessCode="ABCDEFGHJKLM", agreed=True)
        assert codes(refused) == ["NOT_FOUND"]
    assert (await counts(), await scalar(f'SELECT count(*) FROM "{schema_of(TENANT_A)}".customer_opinions')) == before
