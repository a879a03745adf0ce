"""Hand-off notifications (issue 14 point 1): a retail case and a bank case walked through GraphQL by the templates'
real roles; after the outbox's dispatch, each hand-off's notification lands with exactly the people the rule
table (services/core/outbox/handoffs.py) names, never the actor, and nobody in the other tenant (the same staff
e-mails there) hears of it. The EMAIL preference adds an outbox e-mail for that user; IN_APP does not.
"""

from __future__ import annotations

from typing import Any

from api.complaints.test_procedure import (
    APPROVER,
    DESK,
    HANDLER,
    INVESTIGATOR,
    MANAGER,
    OPINION,
    RECEIVER,
    REVIEW_PUBLIC,
    REVIEWER,
    investigate,
)
from conftest import GraphQLClient
from deadline_cases import SH, at, schema, tenant_of
from helpers import rows
from lifecycle import APPROVE_EXTENSION, EXTEND, REQUEST_EXTENSION, directory, ok, record

from services.core.clock import FixedClock
from services.core.outbox.service import dispatch_due
from services.core.tenancy import resolve_tenant, tenant_session

CLOCK_START = at(2026, 11, 2)
assert CLOCK_START.tzinfo is SH

ALL, ALL2 = "all@test.example", "all2@test.example"
RECEIVER2, REVIEWER_PROD = "receiver2@test.example", "reviewer-prod@test.example"
PROD = {HANDLER, REVIEWER_PROD}  # the retail production unit (and the bank's card unit): STAFF in conftest

NOTES = """
query ($unread: Boolean!) { notifications(unreadOnly: $unread, first: 50) {
  unreadCount edges { node { kind title link { route id path } complaint { id number } } } } }
"""
ME = "query { me { email notificationPreference } users { email notificationPreference } }"
PREFER = """
mutation ($input: UpdateMyPreferencesInput!) { updateMyPreferences(input: $input) {
  notificationPreference userErrors { field code } } }
"""


class Inbox:
    """What the outbox delivered in one tenant since the last look: {(e-mail, kind)} of the new in-app
    notifications, after a real dispatch (the sweeper's function)."""

    def __init__(self, slug: str, clock: FixedClock) -> None:
        self.slug, self.clock, self.seen = slug, clock, set[Any]()

    async def all(self) -> list[Any]:
        return await rows(f'SELECT n.id, u.email, n.kind, n.title FROM "{schema(self.slug)}".notifications n '
                          f'JOIN "{schema(self.slug)}".users u ON u.id = n.user_id')

    async def new(self) -> set[tuple[str, str]]:
        async with tenant_session(await resolve_tenant(self.slug)) as session:
            await dispatch_due(session, now=self.clock.now())
        # hand-offs only: the tasks to tell the customer (CUSTOMER_NOTICE: messages the platform could not send
        # here, no mail server being configured) are tests/api/messages' subject
        found = [r for r in await self.all() if r.id not in self.seen and r.kind != "CUSTOMER_NOTICE"]
        self.seen |= {r.id for r in found}
        for r in found:  # the text names the complaint number and the step, no personal data
            assert r.title.startswith("投诉") and "张三" not in r.title and "138" not in r.title
        return {(r.email, r.kind) for r in found}


async def unread(gql: GraphQLClient, slug: str, email: str) -> int:
    count: int = (await gql(NOTES, {"unread": True}, tenant=slug, user=email))["notifications"]["unreadCount"]
    return count


def told(emails: set[str], kind: str) -> set[tuple[str, str]]:
    return {(e, kind) for e in emails}


async def emails_to(slug: str) -> set[tuple[str, str]]:
    """(recipient, state) of the e-mails the outbox holds."""
    found = await rows(f'SELECT u.email, o.state FROM "{schema(slug)}".outbox o JOIN "{schema(slug)}".users u '
                       "ON o.target = 'user:' || u.id WHERE o.kind = 'email' "
                       "AND o.idempotency_key NOT LIKE 'message:%'")  # hand-offs (the customer's messages aside)
    return {(r.email, r.state) for r in found}


async def test_retail_hand_offs_land_with_exactly_the_people_the_table_names(gql: GraphQLClient,
                                                                             clock: FixedClock) -> None:
    t, other = await tenant_of("retail", "handoff"), await tenant_of("bank", "handoff")
    units, users = await directory(gql, t)
    inbox, elsewhere = Inbox(t, clock), Inbox(other, clock)
    await elsewhere.new()
    handler_elsewhere = await unread(gql, other, HANDLER)
    # the handler asks for e-mails too; their preference is theirs only
    chosen = (await gql(PREFER, {"input": {"notifications": "EMAIL"}}, tenant=t, user=HANDLER))["updateMyPreferences"]
    assert chosen == {"notificationPreference": "EMAIL", "userErrors": []}
    me = (await gql(ME, tenant=t, user=HANDLER))
    assert me["me"] == {"email": HANDLER, "notificationPreference": "EMAIL"}
    assert {u["notificationPreference"] for u in me["users"] if u["email"] != HANDLER} == {None}
    assert (await gql(ME, tenant=other, user=HANDLER))["me"]["notificationPreference"] == "IN_APP"

    c = await record(gql, t, RECEIVER)
    cid, number, code = c["id"], c["number"], c["accessCode"]
    await investigate(gql, t, cid, valid=True)
    assert await inbox.new() == set()  # recording and investigating hand nothing to anyone
    await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=cid, departmentId=units["PROD"])
    assert await inbox.new() == told(PROD, "TRANSFER_SLIP")
    await ok(gql, "transferOwnership", t, MANAGER, complaintId=cid, newOwnerId=users[RECEIVER2], reason="Holiday")
    assert await inbox.new() == {(RECEIVER2, "OWNERSHIP_TRANSFERRED")}
    await ok(gql, "proposeSolution", t, HANDLER, complaintId=cid, solution="Refund.", customerReply="We refund.")
    assert await inbox.new() == told({APPROVER, ALL, ALL2}, "APPROVAL_REQUESTED")  # never the proposer
    await ok(gql, "rejectHandlingForm", t, APPROVER, complaintId=cid, note="Say when the refund arrives.")
    assert await inbox.new() == {(RECEIVER2, "FORM_REJECTED")}
    await ok(gql, "proposeSolution", t, HANDLER, complaintId=cid, solution="Refund.",
             customerReply="We refund within 3 days.")
    assert await inbox.new() == told({APPROVER, ALL, ALL2}, "APPROVAL_REQUESTED")
    await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)
    assert await inbox.new() == {(RECEIVER2, "FORM_APPROVED")}
    await ok(gql, "sendCustomerMessage", t, RECEIVER2, complaintId=cid)
    assert await inbox.new() == set()
    # the customer answers online: disagreeing sends the slip back to the department
    answer = await gql(OPINION, {"input": {"number": number, "accessCode": code, "agreed": False}}, tenant=t,
                       user=None)
    assert answer["submitCustomerOpinion"]["userErrors"] == []
    assert await inbox.new() == {(RECEIVER2, "CUSTOMER_ANSWERED")} | told(PROD, "TRANSFER_SLIP")
    await ok(gql, "proposeSolution", t, HANDLER, complaintId=cid, solution="Replace.", customerReply="A new kettle.")
    await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)
    await ok(gql, "sendCustomerMessage", t, RECEIVER2, complaintId=cid)
    await inbox.new()
    # the owner records the answer themselves: nobody else is told (the actor never is)
    await ok(gql, "recordCustomerOpinion", t, RECEIVER2, complaintId=cid, agreed=True)
    assert await inbox.new() == set()
    await ok(gql, "completeImplementation", t, HANDLER, complaintId=cid)
    assert await inbox.new() == set()
    await ok(gql, "recordFollowUp", t, RECEIVER2, complaintId=cid, rating="SATISFIED")
    assert await inbox.new() == told(PROD, "SURVEY_RETURNED")

    # the handler's EMAIL preference: an outbox e-mail for each of their notifications (skipped: no mail server
    # in tests), nobody else's
    mails = await emails_to(t)
    assert mails == {(HANDLER, "skipped")}
    handler_notes = [r for r in await inbox.all() if r.email == HANDLER]
    assert len(handler_notes) == 3  # two slips and the survey
    assert len(await rows(f'SELECT id FROM "{schema(t)}".outbox WHERE kind = \'email\' '
                          "AND idempotency_key NOT LIKE 'message:%'")) == 3  # (the customer's messages aside)

    # read through GraphQL: the link an SPA routes to, the complaint, an exact unread count
    notes = (await gql(NOTES, {"unread": True}, tenant=t, user=REVIEWER_PROD))["notifications"]
    assert notes["unreadCount"] == 3 == len(notes["edges"])
    assert {e["node"]["kind"] for e in notes["edges"]} == {"TRANSFER_SLIP", "SURVEY_RETURNED"}
    for edge in notes["edges"]:
        assert edge["node"]["link"] == {"route": "complaint", "id": cid, "path": f"/complaints/{cid}"}
        assert edge["node"]["title"].startswith(f"投诉{number}:")  # the tenant's default language, zh-CN
    assert (await gql(NOTES, {"unread": False}, tenant=t, user=INVESTIGATOR))["notifications"]["unreadCount"] == 0
    # the other tenant, with the same staff e-mails: nothing at all
    assert await elsewhere.new() == set()
    assert await unread(gql, other, HANDLER) == handler_elsewhere


async def test_bank_hand_offs_extension_approval_review_and_reviewer(gql: GraphQLClient, clock: FixedClock) -> None:
    t, other = await tenant_of("bank", "handoff"), await tenant_of("retail", "handoff")
    _, users = await directory(gql, t)
    inbox, elsewhere = Inbox(t, clock), Inbox(other, clock)
    await inbox.new()
    await elsewhere.new()
    before = {who: await unread(gql, other, who) for who in (RECEIVER, DESK, APPROVER, REVIEWER)}
    c = await record(gql, t, RECEIVER)
    cid, number, code = c["id"], c["number"], c["accessCode"]
    first = (await gql(EXTEND, {"input": {"complaintId": cid, "reason": "Needs the card network's records",
                                          "complex": True}}, tenant=t, user=DESK))["extendDeadline"]
    assert first["userErrors"] == []
    assert await inbox.new() == set()  # a direct extension hands nothing on
    asked = (await gql(REQUEST_EXTENSION, {"input": {"complaintId": cid, "reason": "Awaiting the court",
                                                     "complex": True}}, tenant=t,
                       user=DESK))["requestDeadlineExtension"]
    assert asked["userErrors"] == []
    # whoever the bank's policy lets approve an extension (not the requester)
    assert await inbox.new() == told({APPROVER, MANAGER, ALL, ALL2}, "EXTENSION_APPROVAL_REQUESTED")
    approved = (await gql(APPROVE_EXTENSION, {"input": {"requestId": asked["extensionRequest"]["id"]}}, tenant=t,
                          user=APPROVER))["approveDeadlineExtension"]
    assert approved["userErrors"] == []
    assert await inbox.new() == {(DESK, "DEADLINE_EXTENSION_APPROVED")}
    await investigate(gql, t, cid, valid=True)
    units, _ = await directory(gql, t)
    await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=cid, departmentId=units["CARD"])
    assert await inbox.new() == told(PROD, "TRANSFER_SLIP")
    await ok(gql, "proposeSolution", t, HANDLER, complaintId=cid, solution="Refund the fee.",
             customerReply="We refund the fee.")
    assert await inbox.new() == told({APPROVER, ALL, ALL2}, "APPROVAL_REQUESTED")
    await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)
    assert await inbox.new() == {(RECEIVER, "FORM_APPROVED")}
    clock.at = at(2026, 11, 4)
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=cid)
    clock.at = at(2026, 11, 10)
    asked = (await gql(REVIEW_PUBLIC, {"input": {"number": number, "accessCode": code,
                                                 "reason": "The fee was not explained to me."}},
                       tenant=t, user=None))["requestReview"]
    assert asked == {"status": "UNDER_REVIEW", "userErrors": []}
    assert await inbox.new() == {(RECEIVER, "REVIEW_REQUESTED")}
    await ok(gql, "assignReviewer", t, DESK, complaintId=cid, reviewerId=users[REVIEWER])
    assert await inbox.new() == {(REVIEWER, "REVIEW_ASSIGNED")}
    notes = (await gql(NOTES, {"unread": True}, tenant=t, user=REVIEWER))["notifications"]
    assert [(e["node"]["kind"], e["node"]["complaint"]["id"], e["node"]["link"]["id"]) for e in notes["edges"]] == [
        ("REVIEW_ASSIGNED", cid, cid)]
    assert notes["unreadCount"] == 1
    assert await emails_to(t) == set()  # everyone is IN_APP here
    assert await elsewhere.new() == set()
    assert {who: await unread(gql, other, who) for who in before} == before
