"""The role rules, table-driven, for both templates: role x action x relationship, through GraphQL.

Each tenant is fresh and keeps its template's default policies. The table asks ``canI``
(the decision and the rule that decided); the tests after it make the real calls and
check that refusals change nothing.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import DEFAULT_USER, GraphQLClient, add_staff
from helpers import scalar
from lifecycle import directory, ok, record, step

from tenants.provision import create_tenant

RESPONSIBLE = {"retail": "PROD", "bank": "CARD"}
CAN_I = """query ($action: String!, $id: ID) { canI(action: $action, complaintId: $id) {
  allowed reason rule { role action relation effect } } }"""


@dataclass
class World:
    slug: str
    template: str
    pending: str  # SOLUTION_PROPOSED: handling form not approved yet
    approved: str  # APPROVED
    units: dict[str, str]


# a department of neither handler@ nor handler2@, for a case the module's other tests must not see changing
ELSEWHERE = {"retail": "MKT", "bank": "OPS"}


async def _case(gql: GraphQLClient, w: World, *, approve: bool, department: str | None = None) -> str:
    """A complaint owned by receiver@, investigated by investigator@, at the responsible department (or
    ``department``)."""
    c = await record(gql, w.slug, user="receiver@test.example")
    cid = c["id"]
    await ok(gql, "startInvestigation", w.slug, "investigator@test.example", complaintId=cid)
    await ok(gql, "submitInvestigation", w.slug, "investigator@test.example", complaintId=cid, valid=True,
             findings="confirmed")
    await ok(gql, "assignResponsibleDepartment", w.slug, "desk@test.example", complaintId=cid,
             departmentId=w.units[department or RESPONSIBLE[w.template]])
    await ok(gql, "proposeSolution", w.slug, "desk@test.example" if department else "handler@test.example",
             complaintId=cid, solution="Refund", customerReply="We refund you.")
    if approve:
        await ok(gql, "approveHandlingForm", w.slug, "approver@test.example", complaintId=cid)
    return cid


@pytest.fixture(scope="module")
async def gql_module(app: Any) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield GraphQLClient(client)


@pytest.fixture(scope="module", params=["retail", "bank"])
async def world(request: pytest.FixtureRequest, gql_module: GraphQLClient) -> World:
    template = request.param
    slug = f"authz-{template}-{uuid.uuid4().hex[:6]}"
    await create_tenant(slug, template=template)
    await add_staff(slug)
    units, _ = await directory(gql_module, slug)
    w = World(slug, template, "", "", units)
    w.pending = await _case(gql_module, w, approve=False)
    w.approved = await _case(gql_module, w, approve=True)
    return w


# (user, action, which complaint, allowed, why)
TABLE: list[tuple[str, str, str | None, bool, str]] = [
    # first-receiver ownership, and no promise without written approval
    ("receiver", "complaint.send_message", "approved", True, "owner, approved"),
    ("receiver", "complaint.send_message", "pending", False, "owner, not approved"),
    ("receiver2", "complaint.send_message", "approved", False, "not the owner (cannot even see it)"),
    ("desk", "complaint.send_message", "approved", False, "not the owner"),
    ("manager", "complaint.send_message", "approved", False, "a manager transfers ownership instead"),
    ("receiver", "complaint.record_opinion", "approved", True, "owner"),
    ("receiver2", "complaint.record_opinion", "approved", False, "not the owner"),
    ("manager", "complaint.transfer_ownership", "pending", True, "manager"),
    ("receiver", "complaint.transfer_ownership", "pending", False, "not a manager"),
    # the responsible department
    ("handler", "complaint.propose_solution", "pending", True, "same department"),
    ("handler2", "complaint.propose_solution", "pending", False, "another department"),
    ("handler", "complaint.complete_implementation", "approved", True, "same department"),
    ("handler2", "complaint.complete_implementation", "approved", False, "another department"),
    # investigation: the investigator who handles it
    ("investigator", "complaint.submit_investigation", "pending", True, "handler of the case"),
    ("investigator", "complaint.start_investigation", "pending", True, "investigators start"),
    ("receiver", "complaint.start_investigation", "pending", False, "not an investigator"),
    # approval
    ("approver", "complaint.approve", "pending", True, "approver"),
    ("desk", "complaint.approve", "pending", False, "the desk proposes, it does not approve"),
    ("handler", "complaint.approve", "pending", False, "the department does not approve itself"),
    # independent review
    ("reviewer", "complaint.review", "approved", True, "audit department, never handled it"),
    ("reviewer-prod", "complaint.review", "approved", False, "belongs to the responsible department"),
    ("investigator", "complaint.review", "approved", False, "not a reviewer"),
    # confidentiality
    ("receiver", "complaint.read_identity", "pending", True, "owner"),
    ("approver", "complaint.read_identity", "pending", True, "approver needs it"),
    ("reviewer", "complaint.read_identity", "pending", False, "reviewers see it masked"),
    ("handler", "complaint.read_identity", "pending", False, "the department sees it masked"),
    # administration
    ("admin", "policy.write", None, True, "tenant admin"),
    ("receiver", "policy.write", None, False, "not an admin"),
    ("admin", "org.manage", None, True, "tenant admin"),
    ("approver", "org.manage", None, False, "not an admin"),
]


@pytest.mark.parametrize(("user", "action", "which", "allowed", "why"), TABLE,
                         ids=[f"{u}-{a}-{w}" for u, a, w, _, _ in TABLE])
async def test_rule_table(gql: GraphQLClient, world: World, user: str, action: str, which: str | None,
                          allowed: bool, why: str) -> None:
    complaint = getattr(world, which) if which else None
    result = (await gql(CAN_I, {"action": action, "id": complaint}, tenant=world.slug,
                        user=f"{user}@test.example"))["canI"]
    assert result["allowed"] is allowed, (why, result)
    if allowed:
        assert result["rule"]["action"] == action and result["rule"]["effect"] == "allow"
    if user == "reviewer-prod":
        assert result["rule"] == {"role": "reviewer", "action": "complaint.review",
                                  "relation": "handling_department", "effect": "deny"}


async def _trail(slug: str) -> int:
    return int(await scalar(f'SELECT count(*) FROM "tenant_{slug.replace("-", "_")}".audit_events'))


async def _statuses(w: World) -> list[str]:
    schema = "tenant_" + w.slug.replace("-", "_")
    return [await scalar(f'SELECT status FROM "{schema}".complaints WHERE id = :i',
                         i=base64.b64decode(cid).decode().split(":", 1)[1]) for cid in (w.pending, w.approved)]


async def test_refused_calls_change_nothing(gql: GraphQLClient, world: World) -> None:
    before = await _trail(world.slug)
    statuses = await _statuses(world)
    assert statuses == ["SOLUTION_PROPOSED", "APPROVED"]
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("receiver2", "sendCustomerMessage", {"complaintId": world.approved}, "NOT_FOUND"),
        ("handler2", "proposeSolution", {"complaintId": world.pending, "solution": "x", "customerReply": "y"},
         "NOT_FOUND"),
        ("desk", "approveHandlingForm", {"complaintId": world.pending}, "NOT_ALLOWED"),
        ("receiver", "transferOwnership", {"complaintId": world.pending, "newOwnerId": world.pending,
                                           "reason": "x"}, "NOT_ALLOWED"),
    ]
    for user, name, input_, code in cases:
        payload = await step(gql, name, world.slug, f"{user}@test.example", **input_)
        assert [e["code"] for e in payload["userErrors"]] == [code], (user, name, payload)
        assert payload["complaint"] is None
    review = await gql(
        "mutation ($input: ReviewComplaintInput!) { reviewComplaint(input: $input) { userErrors { code message } } }",
        {"input": {"complaintId": world.approved, "findings": "all fine"}}, tenant=world.slug,
        user="reviewer-prod@test.example",
    )
    assert review["reviewComplaint"]["userErrors"] == [
        {"code": "NOT_ALLOWED", "message": "you may not review: a rule denies it where handling_department"}]
    assert await _trail(world.slug) == before
    assert await _statuses(world) == statuses


async def test_allowed_calls_go_through(gql: GraphQLClient, world: World) -> None:
    # a case of its own, in a department the other tests do not look at: the shared ones stay as they are
    approved = await _case(gql, world, approve=True, department=ELSEWHERE[world.template])
    review = await gql(
        "mutation ($input: ReviewComplaintInput!) { reviewComplaint(input: $input) { complaint { status } "
        "userErrors { code } } }",
        {"input": {"complaintId": approved, "findings": "handled by the book"}}, tenant=world.slug,
        user="reviewer@test.example",
    )
    assert review["reviewComplaint"] == {"complaint": {"status": "APPROVED"}, "userErrors": []}
    sent = await ok(gql, "sendCustomerMessage", world.slug, "receiver@test.example", complaintId=approved)
    assert sent["status"] == "AWAITING_CUSTOMER"


COMPLAINANT = "query ($id: ID!) { complaint(id: $id) { complainant { name phone email masked } } }"


async def test_identity_is_masked_for_roles_that_do_not_need_it(gql: GraphQLClient, world: World) -> None:
    full = (await gql(COMPLAINANT, {"id": world.pending}, tenant=world.slug, user="approver@test.example"))
    assert full["complaint"]["complainant"] == {"name": "张三", "phone": "13800138000",
                                               "email": "zhang@example.com", "masked": False}
    masked = (await gql(COMPLAINANT, {"id": world.pending}, tenant=world.slug, user="reviewer@test.example"))
    assert masked["complaint"]["complainant"] == {"name": "张*", "phone": "138****8000",
                                                 "email": "z***@example.com", "masked": True}
    hidden = (await gql(COMPLAINANT, {"id": world.pending}, tenant=world.slug, user="receiver2@test.example"))
    assert hidden["complaint"] is None  # not even visible: "not found", like a missing object


LIST = "{ complaints(first: 100) { totalCount edges { node { id complainant { masked } } } } }"


async def test_lists_are_filtered_by_the_same_rules(gql: GraphQLClient, world: World) -> None:
    async def ids(user: str) -> tuple[set[str], int, set[bool]]:
        data = (await gql(LIST, tenant=world.slug, user=f"{user}@test.example"))["complaints"]
        nodes = [e["node"] for e in data["edges"]]
        return {n["id"] for n in nodes}, data["totalCount"], {n["complainant"]["masked"] for n in nodes}

    both = {world.pending, world.approved}
    seen, total, masked = await ids("receiver")
    assert both <= seen and total == len(seen) and masked == {False}
    seen, total, _ = await ids("receiver2")
    assert seen.isdisjoint(both) and total == len(seen)
    seen, total, masked = await ids("handler")
    assert seen == both and total == 2 and masked == {True}
    seen, total, _ = await ids("handler2")
    assert seen == set() and total == 0
    seen, total, masked = await ids("reviewer")
    assert both <= seen and masked == {True}


async def test_set_policies_validates_applies_and_audits(gql: GraphQLClient, world: World) -> None:
    admin = "admin@test.example"
    policies = (await gql("{ policies { version rules { role action relation effect } } }", tenant=world.slug,
                          user=admin))["policies"]
    rules = policies["rules"]
    set_policies = """mutation ($input: SetPoliciesInput!) { setPolicies(input: $input) {
      policies { version rules { role } } userErrors { field message code } } }"""
    trail = await _trail(world.slug)
    for bad, field in (({"role": "receiver", "action": "complaint.fly", "relation": "any"}, "action"),
                       ({"role": "wizard", "action": "complaint.read", "relation": "any"}, "role"),
                       ({"role": "receiver", "action": "complaint.read", "relation": "owner|store"}, "relation"),
                       ({"role": "receiver", "action": "complaint.read", "relation": "any", "effect": "maybe"},
                        "effect")):
        refused = (await gql(set_policies, {"input": {"rules": [*rules, bad]}}, tenant=world.slug,
                             user=admin))["setPolicies"]
        assert refused["policies"] is None
        assert refused["userErrors"][0]["code"] == "INVALID"
        assert refused["userErrors"][0]["field"] == ["rules", str(len(rules)), field]
    after = (await gql("{ policies { version } }", tenant=world.slug, user=admin))["policies"]
    assert after["version"] == policies["version"]  # the old set stays in force
    assert await _trail(world.slug) == trail

    before = (await gql(CAN_I, {"action": "complaint.read", "id": world.pending}, tenant=world.slug,
                        user="receiver2@test.example"))["canI"]
    assert before["allowed"] is False
    widened = [*rules, {"role": "receiver", "action": "complaint.read", "relation": "any", "effect": "allow"}]
    done = (await gql(set_policies, {"input": {"rules": widened}}, tenant=world.slug, user=admin))["setPolicies"]
    try:
        assert done["userErrors"] == [] and done["policies"]["version"] > policies["version"]
        now = (await gql(CAN_I, {"action": "complaint.read", "id": world.pending}, tenant=world.slug,
                         user="receiver2@test.example"))["canI"]
        assert now["allowed"] is True
        assert now["rule"] == {"role": "receiver", "action": "complaint.read", "relation": "any", "effect": "allow"}
        assert await _trail(world.slug) == trail + 1
        assert await scalar(f'SELECT action FROM "tenant_{world.slug.replace("-", "_")}".audit_events '
                            "ORDER BY seq DESC LIMIT 1") == "set_policies"
    finally:  # put the defaults back for the other tests of this module, whatever happened
        restored = (await gql(set_policies, {"input": {"rules": rules}}, tenant=world.slug,
                              user=admin))["setPolicies"]
    assert restored["userErrors"] == []
    denied = (await gql.post("{ policies { version } }", tenant=world.slug, user="receiver@test.example")).json()
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_default_user_is_not_special(gql: GraphQLClient, world: World) -> None:
    """The tests' all-rights user exists only through a policy line, like any tenant-defined role."""
    result = (await gql(CAN_I, {"action": "policy.write"}, tenant=world.slug, user=DEFAULT_USER))["canI"]
    assert result["rule"]["role"] == "test_all"


async def test_a_policy_change_filters_the_very_next_list(gql: GraphQLClient, world: World) -> None:
    """The list's filter follows the policy version read with the viewer on each request: no request after a
    change is decided by the old rules (the enforcer and the filters are cached per version)."""
    admin = "admin@test.example"
    rules = (await gql("{ policies { rules { role action relation effect } } }", tenant=world.slug,
                       user=admin))["policies"]["rules"]
    set_policies = "mutation ($i: SetPoliciesInput!) { setPolicies(input: $i) { userErrors { code } } }"

    async def listed(user: str) -> set[str]:
        data = (await gql(LIST, tenant=world.slug, user=f"{user}@test.example"))["complaints"]
        return {e["node"]["id"] for e in data["edges"]}

    both = {world.pending, world.approved}
    assert (await listed("receiver2")).isdisjoint(both)
    assert (await listed("receiver2")).isdisjoint(both)  # twice: the filter for this version is cached now
    widened = [*rules, {"role": "receiver", "action": "complaint.read", "relation": "any", "effect": "allow"}]
    done = await gql(set_policies, {"i": {"rules": widened}}, tenant=world.slug, user=admin)
    assert done["setPolicies"]["userErrors"] == []
    try:
        assert both <= await listed("receiver2")
    finally:
        restored = await gql(set_policies, {"i": {"rules": rules}}, tenant=world.slug, user=admin)
        assert restored["setPolicies"]["userErrors"] == []
    assert (await listed("receiver2")).isdisjoint(both)


async def test_a_role_or_unit_change_filters_the_very_next_list(gql: GraphQLClient, world: World) -> None:
    """The list's filters are kept per (policy version, user, unit): a role change bumps the version, and a
    change of unit (here written straight to the table, as another process would) changes the key."""
    import base64

    from helpers import raw
    from sqlalchemy import text

    _, users = await directory(gql, world.slug)
    both = {world.pending, world.approved}
    schema = f'"tenant_{world.slug.replace("-", "_")}"'

    async def listed(user: str) -> set[str]:
        data = (await gql(LIST, tenant=world.slug, user=f"{user}@test.example"))["complaints"]
        return {e["node"]["id"] for e in data["edges"]}

    assign = """mutation ($i: AssignRoleInput!) { assignRole(input: $i) { userErrors { code } } }"""
    receiver2 = users["receiver2@test.example"]
    assert (await listed("receiver2")).isdisjoint(both)
    done = await gql(assign, {"i": {"userId": receiver2, "roles": ["complaint_desk"]}}, tenant=world.slug,
                     user="admin@test.example")
    assert done["assignRole"]["userErrors"] == []
    try:
        assert both <= await listed("receiver2")
    finally:
        await gql(assign, {"i": {"userId": receiver2, "roles": ["receiver"]}}, tenant=world.slug,
                  user="admin@test.example")
    assert (await listed("receiver2")).isdisjoint(both)

    handler2 = base64.b64decode(users["handler2@test.example"]).decode().split(":", 1)[1]
    responsible = base64.b64decode(world.units[RESPONSIBLE[world.template]]).decode().split(":", 1)[1]
    before = await scalar(f"SELECT org_unit_id FROM {schema}.users WHERE id = :id", id=handler2)
    assert await listed("handler2") == set()

    async def move(unit: object) -> None:
        async with raw() as conn:
            await conn.execute(text(f"UPDATE {schema}.users SET org_unit_id = :u WHERE id = :id"),
                               {"u": unit, "id": handler2})
            await conn.commit()

    await move(responsible)
    try:
        assert await listed("handler2") == both
    finally:
        await move(before)
    assert await listed("handler2") == set()
