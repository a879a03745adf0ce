"""Extensions that need an approval, through GraphQL with a frozen clock, in the bank tenant (beta): the first
extension (complex) by the desk at once; the second requested by the desk and decided by someone else: never by
the requester, whatever their roles (SEPARATION_OF_DUTIES), approved (the date moves, the extension names both,
the customer notice and trackComplaint carry the reason) or rejected (the requester is told). Every refusal is
checked by re-reading the rows: deadline, requests, extensions, notices, audit events and outbox items.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime
from typing import Any

from conftest import TENANT_A, TENANT_B, GraphQLClient
from deadline_cases import SH, at, schema, tenant_of
from helpers import raw_id, rows, scalar
from lifecycle import APPROVE_EXTENSION as APPROVE
from lifecycle import EXTEND, record, step
from lifecycle import REJECT_EXTENSION as REJECT
from lifecycle import REQUEST_EXTENSION as REQUEST
from sqlalchemy import select

from services.api.nodes import global_id
from services.core.clock import FixedClock
from services.core.deadlines.models import CustomerNotice
from services.core.tenancy import resolve_tenant, tenant_session

CLOCK_START = at(2026, 9, 22)
DESK = "desk@test.example"
APPROVER = "approver@test.example"
MANAGER = "manager@test.example"
RECEIVER = "receiver@test.example"  # records the cases: their owner (complaint.extend_deadline where owner)
HANDLER = "handler@test.example"  # reads only the cases of its department: none of these
ALL = "all@test.example"  # a role a tenant admin defined with setPolicies: every action allowed on every case
DESK_APPROVER = "desk-approver@test.example"  # made in the test: complaint_desk and approver at once
BEYOND = "the card network must send the disputed records, which takes more than 30 days"

DEADLINE = """
query ($id: ID!) { complaint(id: $id) {
  deadlines { kind dueAt extensionCount
    extensions { number reason complex addedDays newDueAt requestedBy { email } approvedBy { email } } }
  extensionRequests { id state extensionNumber reason requestedBy { email } decidedBy { email } decisionNote }
} }
"""
TRACK = """
query ($number: String!, $accessCode: String!) { trackComplaint(number: $number, accessCode: $accessCode) {
  expectedDates { label dueOn provisional extensions { newDueOn addedDays reason } } } }
"""
CREATE_USER = """
mutation ($input: CreateUserInput!) { createUser(input: $input) { user { id roles } userErrors { code } } }
"""
NAMES = {"requestDeadlineExtension": REQUEST, "approveDeadlineExtension": APPROVE,
         "rejectDeadlineExtension": REJECT, "extendDeadline": EXTEND}


def due_on(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(SH).date()


async def call(gql: GraphQLClient, name: str, user: str, tenant: str = TENANT_B, **input_: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(NAMES[name], {"input": input_}, tenant=tenant, user=user))[name]
    return payload


async def ok(gql: GraphQLClient, name: str, user: str, tenant: str = TENANT_B, **input_: Any) -> dict[str, Any]:
    payload = await call(gql, name, user, tenant=tenant, **input_)
    assert payload["userErrors"] == [], payload
    return payload


async def state(cid: str, tenant: str = TENANT_B) -> tuple[Any, ...]:
    """Everything a deadline decision could change for the case, read from the database."""
    s, c = schema(tenant), raw_id(cid)
    return (
        await rows(f'SELECT id, due_at, period_days, extension_count, breached_at FROM "{s}".deadlines '
                   "WHERE complaint_id = :c ORDER BY id", c=c),
        await rows(f'SELECT id, state, decided_by, decided_at, decision_note, extension_id FROM "{s}".'
                   "deadline_extension_requests WHERE complaint_id = :c ORDER BY id", c=c),
        await rows(f'SELECT e.id FROM "{s}".deadline_extensions e JOIN "{s}".deadlines d ON d.id = e.deadline_id '
                   "WHERE d.complaint_id = :c ORDER BY e.id", c=c),
        await rows(f'SELECT id FROM "{s}".customer_notices WHERE complaint_id = :c ORDER BY id', c=c),
        await scalar(f'SELECT count(*) FROM "{s}".audit_events WHERE subject_id = :c', c=c),
        await scalar(f'SELECT count(*) FROM "{s}".outbox WHERE complaint_id = :c', c=c),
    )


async def refused(gql: GraphQLClient, name: str, user: str, code: str, cid: str, tenant: str = TENANT_B,
                  via: str | None = None, **input_: Any) -> str:
    """The call (made in ``via``, by default the case's ``tenant``) is refused with exactly ``code`` and nothing of
    the case changes; returns the message."""
    before = await state(cid, tenant)
    payload = await call(gql, name, user, tenant=via or tenant, **input_)
    assert [e["code"] for e in payload["userErrors"]] == [code], payload
    assert payload.get("extensionRequest") is None
    assert await state(cid, tenant) == before
    message: str = payload["userErrors"][0]["message"]
    return message


async def decision_deadline(gql: GraphQLClient, cid: str, tenant: str = TENANT_B) -> dict[str, Any]:
    data = (await gql(DEADLINE, {"id": cid}, tenant=tenant, user=ALL))["complaint"]
    (decision,) = [d for d in data["deadlines"] if d["kind"] == "DECISION"]
    decision["requests"] = data["extensionRequests"]
    return decision


async def first_extension(gql: GraphQLClient, tenant: str = TENANT_B) -> dict[str, Any]:
    """A bank case recorded on Tue Sep 22 (decision due Oct 8), extended at once by the desk to Oct 22 (30 days:
    a complex case). Returns the complaint (id, number, accessCode)."""
    complaint = await record(gql, tenant, user=RECEIVER)
    cid = complaint["id"]
    # the first extension needs no approval: it is not requested, it is done
    message = await refused(gql, "requestDeadlineExtension", DESK, "ILLEGAL_TRANSITION", cid, tenant,
                            complaintId=cid, reason="A complex case", complex=True)
    assert "extendDeadline" in message
    await ok(gql, "extendDeadline", DESK, tenant, complaintId=cid, reason="A complex case: several accounts",
             complex=True)
    assert due_on((await decision_deadline(gql, cid, tenant))["dueAt"]) == date(2026, 10, 22)
    return complaint


async def desk_approver(gql: GraphQLClient) -> str:
    """A user of beta who holds complaint_desk and approver, made through the admin API once."""
    found = await scalar(f'SELECT count(*) FROM "{schema(TENANT_B)}".users WHERE email = :e', e=DESK_APPROVER)
    if not found:
        made = (await gql(CREATE_USER, {"input": {"email": DESK_APPROVER, "displayName": "Desk and approver",
                                                  "roles": ["complaint_desk", "approver"]}},
                          tenant=TENANT_B, user="admin@test.example"))["createUser"]
        assert made["userErrors"] == [] and sorted(made["user"]["roles"]) == ["approver", "complaint_desk"]
    return DESK_APPROVER


async def outbox_keys(cid: str, pattern: str) -> list[str]:
    return [r.idempotency_key for r in await rows(
        f'SELECT idempotency_key FROM "{schema(TENANT_B)}".outbox WHERE complaint_id = :c AND idempotency_key LIKE :p '
        "ORDER BY idempotency_key", c=raw_id(cid), p=pattern)]


async def user_id(email: str) -> uuid.UUID:
    found: uuid.UUID = await scalar(f'SELECT id FROM "{schema(TENANT_B)}".users WHERE email = :e', e=email)
    return found


async def test_requested_by_the_desk_approved_by_someone_else(gql: GraphQLClient, clock: FixedClock) -> None:
    clock.at = at(2026, 9, 22)
    complaint = await first_extension(gql)
    cid = complaint["id"]
    requester = await desk_approver(gql)

    clock.at = at(2026, 10, 12)
    # extendDeadline no longer grants an extension that needs an approval, whoever asks (the approver too)
    for user in (requester, APPROVER):
        message = await refused(gql, "extendDeadline", user, "APPROVAL_REQUIRED", cid, complaintId=cid, reason=BEYOND)
        assert "requestDeadlineExtension" in message
    # requesting: a reason is required; who may not extend deadlines cannot request (exact codes)
    await refused(gql, "requestDeadlineExtension", requester, "REQUIRED", cid, complaintId=cid, reason="  ")
    await refused(gql, "requestDeadlineExtension", APPROVER, "NOT_ALLOWED", cid, complaintId=cid, reason=BEYOND)
    await refused(gql, "requestDeadlineExtension", HANDLER, "NOT_FOUND", cid, complaintId=cid, reason=BEYOND)

    before_audit = (await state(cid))[4]
    made = (await ok(gql, "requestDeadlineExtension", requester, complaintId=cid, reason=BEYOND))["extensionRequest"]
    assert {k: made[k] for k in ("kind", "extensionNumber", "addDays", "reason", "complex", "state", "decidedAt",
                                 "decidedBy", "decisionNote")} == {
        "kind": "DECISION", "extensionNumber": 2, "addDays": 30, "reason": BEYOND, "complex": False,
        "state": "PENDING", "decidedAt": None, "decidedBy": None, "decisionNote": None}
    assert made["requestedBy"] == {"email": requester}
    assert datetime.fromisoformat(made["requestedAt"]) == clock.at
    rid = made["id"]
    # stored: one pending row, its reason sealed at rest, one audit event; the deadline has not moved
    (row,) = await rows(f'SELECT state, reason, requested_by FROM "{schema(TENANT_B)}".deadline_extension_requests '
                        "WHERE id = :r", r=raw_id(rid))
    assert (row.state, row.requested_by) == ("PENDING", await user_id(requester))
    assert b"card network" not in row.reason
    assert (await state(cid))[4] == before_audit + 1
    assert due_on((await decision_deadline(gql, cid))["dueAt"]) == date(2026, 10, 22)

    # one pending request per deadline
    await refused(gql, "requestDeadlineExtension", DESK, "DUPLICATE", cid, complaintId=cid, reason="Once more")

    # four eyes on the person: the requester holds approver, yet neither approves nor rejects their own request
    for name, extra in (("approveDeadlineExtension", {}), ("rejectDeadlineExtension", {"reason": "Not needed"})):
        message = await refused(gql, name, requester, "SEPARATION_OF_DUTIES", cid, requestId=rid, **extra)
        assert "four eyes" in message
    # who may not approve: the owner may read the case (NOT_ALLOWED), the handler may not even see it (NOT_FOUND)
    await refused(gql, "approveDeadlineExtension", RECEIVER, "NOT_ALLOWED", cid, requestId=rid)
    await refused(gql, "approveDeadlineExtension", HANDLER, "NOT_FOUND", cid, requestId=rid)
    # unknown ids, an id of another type, and this request from the other tenant (whose approver may approve there)
    unknown = global_id("DeadlineExtensionRequest", uuid.uuid4())
    for bad in (unknown, cid):
        await refused(gql, "approveDeadlineExtension", APPROVER, "NOT_FOUND", cid, requestId=bad)
    alpha_case = await record(gql, TENANT_A, user=RECEIVER)
    alpha_before = await state(alpha_case["id"], TENANT_A)
    await refused(gql, "approveDeadlineExtension", APPROVER, "NOT_FOUND", cid, via=TENANT_A, requestId=rid)
    await refused(gql, "rejectDeadlineExtension", APPROVER, "NOT_FOUND", cid, via=TENANT_A, requestId=rid,
                  reason="Not yours")
    assert await state(alpha_case["id"], TENANT_A) == alpha_before

    clock.at = at(2026, 10, 13)
    payload = await ok(gql, "approveDeadlineExtension", APPROVER, requestId=rid, note="The records were asked for")
    decided = payload["extensionRequest"]
    assert (decided["id"], decided["state"], decided["decidedBy"], decided["decisionNote"]) == (
        rid, "APPROVED", {"email": APPROVER}, "The records were asked for")
    assert datetime.fromisoformat(decided["decidedAt"]) == clock.at
    assert payload["complaint"] == {"id": cid}
    # the extension is granted by the rule (60 days from Sep 22: Sat Nov 21 -> Mon Nov 23), naming both people
    decision = await decision_deadline(gql, cid)
    assert due_on(decision["dueAt"]) == date(2026, 11, 23) and decision["extensionCount"] == 2
    assert [(x["number"], x["complex"], x["addedDays"], x["reason"], x["requestedBy"], x["approvedBy"])
            for x in decision["extensions"]] == [
        (1, True, 15, "A complex case: several accounts", {"email": DESK}, None),
        (2, False, 30, BEYOND, {"email": requester}, {"email": APPROVER})]
    assert [(r["id"], r["state"]) for r in decision["requests"]] == [(rid, "APPROVED")]
    # the customer is told the new date and the reason (a notice for the sweeper), the requester the decision
    tenant = await resolve_tenant(TENANT_B)
    async with tenant_session(tenant) as session:
        told = (await session.scalars(select(CustomerNotice).where(CustomerNotice.complaint_id == raw_id(cid))
                                      .order_by(CustomerNotice.created_at))).all()
        assert [(n.kind, n.reason, n.new_due_at.astimezone(SH).date() if n.new_due_at else None) for n in told] == [
            ("DEADLINE_EXTENDED", "A complex case: several accounts", date(2026, 10, 22)),
            ("DEADLINE_EXTENDED", BEYOND, date(2026, 11, 23))]
    requester_id = await user_id(requester)
    assert await outbox_keys(cid, "handoff:extension-request:%") == [
        f"handoff:extension-request:{raw_id(rid)}:decided:notify:{requester_id}"]
    # the audit trail: the request and the approval, each by its own actor
    events = await rows(f'SELECT action, actor_id FROM "{schema(TENANT_B)}".audit_events WHERE subject_id = :c '
                        "AND action LIKE '%deadline_extension' ORDER BY seq", c=raw_id(cid))
    assert [(e.action, e.actor_id) for e in events] == [
        ("request_deadline_extension", requester_id), ("approve_deadline_extension", await user_id(APPROVER))]

    # the customer's tracking page shows the new date and each extension's reason, and nobody's name
    tracked = (await gql(TRACK, {"number": complaint["number"], "accessCode": complaint["accessCode"]},
                         tenant=TENANT_B, user=None))["trackComplaint"]
    assert tracked["expectedDates"] == [{
        "label": "decision", "dueOn": "2026-11-23", "provisional": False,
        "extensions": [{"newDueOn": "2026-10-22", "addedDays": 15, "reason": "A complex case: several accounts"},
                       {"newDueOn": "2026-11-23", "addedDays": 30, "reason": BEYOND}]}]
    who = await gql.post(TRACK.replace("reason }", "reason approvedBy { email } }"),
                         {"number": complaint["number"], "accessCode": complaint["accessCode"]}, tenant=TENANT_B,
                         user=None)
    assert who.status_code == 400 and "approvedBy" in who.json()["errors"][0]["message"]

    # the request is a node for those who may read the case; null for the others
    node = "query ($id: ID!) { node(id: $id) { ... on DeadlineExtensionRequest { id state reason } } }"
    assert (await gql(node, {"id": rid}, tenant=TENANT_B, user=MANAGER))["node"] == {
        "id": rid, "state": "APPROVED", "reason": BEYOND}
    assert (await gql(node, {"id": rid}, tenant=TENANT_B, user=HANDLER))["node"] is None
    assert (await gql(node, {"id": rid}, tenant=TENANT_A, user=MANAGER))["node"] is None

    # deciding twice, either way; and no further extension exists to request
    for name, extra in (("approveDeadlineExtension", {}), ("rejectDeadlineExtension", {"reason": "Too late"})):
        await refused(gql, name, MANAGER, "ILLEGAL_TRANSITION", cid, requestId=rid, **extra)
    await refused(gql, "requestDeadlineExtension", DESK, "OUT_OF_RANGE", cid, complaintId=cid, reason="Again")


async def test_a_rejected_request_leaves_the_deadline_and_may_be_asked_again(
    gql: GraphQLClient, clock: FixedClock,
) -> None:
    clock.at = at(2026, 9, 22)
    complaint = await first_extension(gql)
    cid = complaint["id"]
    clock.at = at(2026, 10, 12)
    rid = (await ok(gql, "requestDeadlineExtension", DESK, complaintId=cid, reason=BEYOND))["extensionRequest"]["id"]
    await refused(gql, "rejectDeadlineExtension", APPROVER, "REQUIRED", cid, requestId=rid, reason=" ")
    before = await state(cid)

    clock.at = at(2026, 10, 13)
    payload = await ok(gql, "rejectDeadlineExtension", APPROVER, requestId=rid, reason="Decide on what we have")
    assert {k: payload["extensionRequest"][k] for k in ("state", "decidedBy", "decisionNote")} == {
        "state": "REJECTED", "decidedBy": {"email": APPROVER}, "decisionNote": "Decide on what we have"}
    after = await state(cid)
    assert after[0] == before[0]  # the deadline did not move
    assert (after[2], after[3]) == (before[2], before[3])  # no extension, no customer notice
    assert after[4] == before[4] + 1  # one audit event
    (event,) = await rows(f'SELECT action, actor_id, changes FROM "{schema(TENANT_B)}".audit_events '
                          "WHERE subject_id = :c ORDER BY seq DESC LIMIT 1", c=raw_id(cid))
    assert (event.action, event.actor_id) == ("reject_deadline_extension", await user_id(APPROVER))
    assert event.changes["requestId"] == str(raw_id(rid)) and event.changes["extension"] == 2
    # the requester is told, in-app
    assert await outbox_keys(cid, "handoff:extension-request:%") == [
        f"handoff:extension-request:{raw_id(rid)}:decided:notify:{await user_id(DESK)}"]
    decision = await decision_deadline(gql, cid)
    assert due_on(decision["dueAt"]) == date(2026, 10, 22) and decision["extensionCount"] == 1

    # a rejected request is no pending request: it cannot be approved, nor rejected again
    await refused(gql, "approveDeadlineExtension", MANAGER, "ILLEGAL_TRANSITION", cid, requestId=rid)
    await refused(gql, "rejectDeadlineExtension", MANAGER, "ILLEGAL_TRANSITION", cid, requestId=rid, reason="x")

    # it may be asked again; a policy that allows everything does not lift four eyes (all@ holds every action)
    again = (await ok(gql, "requestDeadlineExtension", ALL, complaintId=cid, reason="The court asked for it",
                      complex=True))["extensionRequest"]
    assert (again["state"], again["extensionNumber"], again["complex"]) == ("PENDING", 2, True)
    await refused(gql, "approveDeadlineExtension", ALL, "SEPARATION_OF_DUTIES", cid, requestId=again["id"])
    assert [(r["id"], r["state"]) for r in (await decision_deadline(gql, cid))["requests"]] == [
        (rid, "REJECTED"), (again["id"], "PENDING")]



async def test_a_request_outlived_by_its_case_can_only_be_rejected(gql: GraphQLClient, clock: FixedClock) -> None:
    # a bank tenant of its own: a case ended in the past would be due for retention erasure in beta
    t = await tenant_of("bank", "extension-requests")
    clock.at = at(2026, 9, 22)
    cid = (await first_extension(gql, t))["id"]
    clock.at = at(2026, 10, 12)
    rid = (await ok(gql, "requestDeadlineExtension", DESK, t, complaintId=cid, reason=BEYOND))["extensionRequest"]["id"]
    assert (await step(gql, "withdrawComplaint", t, RECEIVER, complaintId=cid,
                       reason="Settled with the customer"))["userErrors"] == []
    # the case was withdrawn: its deadline is cancelled, the extension can no longer be granted nor requested
    message = await refused(gql, "approveDeadlineExtension", MANAGER, "ILLEGAL_TRANSITION", cid, t, requestId=rid)
    assert "WITHDRAWN" in message
    await refused(gql, "requestDeadlineExtension", DESK, "ILLEGAL_TRANSITION", cid, t, complaintId=cid,
                  reason=BEYOND)
    payload = await ok(gql, "rejectDeadlineExtension", MANAGER, t, requestId=rid, reason="Withdrawn")
    assert (payload["extensionRequest"]["state"], payload["extensionRequest"]["decidedBy"]) == (
        "REJECTED", {"email": MANAGER})


async def test_at_the_same_time_one_request_and_one_decision(gql: GraphQLClient, clock: FixedClock) -> None:
    clock.at = at(2026, 9, 22)
    cid = (await first_extension(gql))["id"]
    clock.at = at(2026, 10, 12)
    asked = await asyncio.gather(*(call(gql, "requestDeadlineExtension", user, complaintId=cid, reason=BEYOND)
                                   for user in (DESK, RECEIVER)))
    assert sorted(tuple(e["code"] for e in p["userErrors"]) for p in asked) == [(), ("DUPLICATE",)]
    (rid,) = [p["extensionRequest"]["id"] for p in asked if p["extensionRequest"] is not None]
    decided = await asyncio.gather(*(call(gql, "approveDeadlineExtension", user, requestId=rid)
                                     for user in (APPROVER, MANAGER)))
    assert sorted(tuple(e["code"] for e in p["userErrors"]) for p in decided) == [(), ("ILLEGAL_TRANSITION",)]
    decision = await decision_deadline(gql, cid)
    assert decision["extensionCount"] == 2 and due_on(decision["dueAt"]) == date(2026, 11, 23)
    assert len(decision["extensions"]) == 2 and [r["state"] for r in decision["requests"]] == ["APPROVED"]
