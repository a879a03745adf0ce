"""Policy changes cannot lock a tenant out; every accepted rule set is a version that can be restored; an operator
can put the template's defaults back from outside the API (issue 13, point 1).

The module has a retail tenant of its own (with the STAFF users): ``admin@`` holds ``tenant_admin`` and ``all@``
the tests' ``test_all`` role, both allowed ``policy.write`` and ``org.manage``. The rule: a change of rules or
roles is refused with ``POLICY_LOCKOUT`` when some active user could change policies (or manage users) before it
and none could after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import SECOND_USER, TENANT_B, GraphQLClient, drop_tenant, new_tenant
from helpers import execute, rows, run_cli, scalar
from lifecycle import directory

POLICIES = "{ policies { version rules { role action relation effect } } }"
SET = """mutation ($i: SetPoliciesInput!) { setPolicies(input: $i) {
  policies { version rules { role action relation effect } } userErrors { field message code } } }"""
RESTORE = """mutation ($i: RestorePoliciesInput!) { restorePolicies(input: $i) {
  policies { version rules { role action relation effect } } userErrors { field message code } } }"""
VERSIONS = """query ($first: Int, $after: String) { policyVersions(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { version source restoredFrom createdBy { email } rules { role action relation effect } } }
} }"""
ASSIGN = """mutation ($i: AssignRoleInput!) { assignRole(input: $i) { user { roles } userErrors { field code } } }"""
ADMIN = "admin@test.example"
ALL = "all@test.example"
ALL_ROLE_USERS = (ALL, SECOND_USER)  # the STAFF users holding test_all
LOCKOUT_POLICIES = ("refused: after this change no active user could change policies; keep policy.write (change "
                    "policies) for at least one active user's role")


@pytest.fixture(scope="module")
async def slug(tenants: tuple[str, str]) -> AsyncIterator[str]:
    tenant = await new_tenant("pv")
    yield tenant.slug
    await drop_tenant(tenant)


@pytest.fixture
async def beta_versions(tenants: tuple[str, str]) -> AsyncIterator[None]:
    """The other tenant's versions stay exactly as they were, whatever this tenant does."""
    query = f"SELECT version, rules, source, created_at FROM tenant_{TENANT_B}.policy_versions ORDER BY version"
    before = await rows(query)
    assert before, "beta has its seed version"
    yield
    assert await rows(query) == before


def _schema(slug: str) -> str:
    return "tenant_" + slug.replace("-", "_")


async def _state(gql: GraphQLClient, slug: str) -> tuple[Any, int, int]:
    """What a refusal must leave alone: the rules in force (and their version), the audit trail, the versions."""
    policies = (await gql(POLICIES, tenant=slug, user=ADMIN))["policies"]
    trail = int(await scalar(f'SELECT count(*) FROM "{_schema(slug)}".audit_events'))
    versions = (await gql(VERSIONS, tenant=slug, user=ADMIN))["policyVersions"]["totalCount"]
    return policies, trail, versions


async def _set(gql: GraphQLClient, slug: str, rules: list[dict[str, str]], user: str = ADMIN) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(SET, {"i": {"rules": rules}}, tenant=slug, user=user))["setPolicies"]
    return payload


def _without(rules: list[dict[str, str]], **match: str) -> list[dict[str, str]]:
    return [r for r in rules if not all(r[k] == v for k, v in match.items())]


async def _set_active(slug: str, email: str, active: bool) -> None:
    """As another process (or a later deactivation feature) would: straight in the table, bumping the version."""
    await execute(f'UPDATE "{_schema(slug)}".users SET active = :a WHERE email = :e', a=active, e=email)
    await execute(f'UPDATE "{_schema(slug)}".policy_state SET version = version + 1')


@pytest.mark.usefixtures("beta_versions")
async def test_an_empty_rule_set_is_refused_and_nothing_changes(gql: GraphQLClient, slug: str) -> None:
    before = await _state(gql, slug)
    refused = await _set(gql, slug, [])
    assert refused == {"policies": None, "userErrors": [{
        "field": ["rules"], "code": "POLICY_LOCKOUT",
        "message": "refused: after this change no active user could change policies or manage users; keep "
                   "policy.write (change policies) or org.manage (manage users) for at least one active user's role"}]}
    assert await _state(gql, slug) == before
    # policy.write still works: the same rules again are accepted
    rules = before[0]["rules"]
    assert (await _set(gql, slug, rules))["userErrors"] == []


@pytest.mark.usefixtures("beta_versions")
async def test_taking_policy_write_from_every_active_user_is_refused(gql: GraphQLClient, slug: str) -> None:
    rules = (await gql(POLICIES, tenant=slug, user=ADMIN))["policies"]["rules"]
    before = await _state(gql, slug)
    refused = await _set(gql, slug, _without(rules, action="policy.write"))
    assert refused["userErrors"] == [{"field": ["rules"], "code": "POLICY_LOCKOUT", "message": LOCKOUT_POLICIES}]
    manage = await _set(gql, slug, _without(rules, action="org.manage"))
    assert [e["code"] for e in manage["userErrors"]] == ["POLICY_LOCKOUT"]
    assert "could manage users" in manage["userErrors"][0]["message"]
    assert await _state(gql, slug) == before

    # only the admin's policy.write: all@ (test_all) still has it, so the tenant is not locked out ...
    _, users = await directory(gql, slug)
    for everything in ALL_ROLE_USERS:  # ... until all@ (and all2@) are no longer active users
        await _set_active(slug, everything, False)
    try:
        before = await _state(gql, slug)
        only_admin = _without(rules, role="tenant_admin", action="policy.write")
        refused = await _set(gql, slug, only_admin)
        assert refused["userErrors"] == [{"field": ["rules"], "code": "POLICY_LOCKOUT", "message": LOCKOUT_POLICIES}]
        # a deny wins over the allow: the same lock-out
        denied = [*rules, {"role": "tenant_admin", "action": "policy.write", "relation": "any", "effect": "deny"}]
        assert [e["code"] for e in (await _set(gql, slug, denied))["userErrors"]] == ["POLICY_LOCKOUT"]
        # nor can the last admin give up the role (the user path)
        assigned = (await gql(ASSIGN, {"i": {"userId": users[ADMIN], "roles": ["receiver"]}}, tenant=slug,
                              user=ADMIN))["assignRole"]
        assert assigned == {"user": None, "userErrors": [{"field": ["roles"], "code": "POLICY_LOCKOUT"}]}
        roles = await scalar(f'SELECT roles FROM "{_schema(slug)}".users WHERE email = :e', e=ADMIN)
        assert roles == ["tenant_admin"]
        assert await _state(gql, slug) == before
    finally:
        for everything in ALL_ROLE_USERS:
            await _set_active(slug, everything, True)
    accepted = await _set(gql, slug, only_admin)  # all@ active again: it still could change policies
    assert accepted["userErrors"] == []
    assert (await _set(gql, slug, rules))["userErrors"] == [{"field": None, "code": "NOT_ALLOWED",
                                                             "message": "you may not change the policies"}]
    assert (await _set(gql, slug, rules, user=ALL))["userErrors"] == []  # all@ gives it back


@pytest.mark.usefixtures("beta_versions")
async def test_versions_are_kept_and_an_earlier_one_restores(gql: GraphQLClient, slug: str) -> None:
    rules = (await gql(POLICIES, tenant=slug, user=ADMIN))["policies"]["rules"]
    listed = (await gql(VERSIONS, tenant=slug, user=ADMIN))["policyVersions"]
    original = listed["edges"][0]["node"]
    assert original["rules"] == rules  # the newest version is the set in force
    assert (await gql(VERSIONS, {"first": 100}, tenant=slug, user=ADMIN))["policyVersions"]["edges"][-1]["node"][
        "source"] == "SEED"

    widened = [*rules, {"role": "receiver", "action": "complaint.read", "relation": "any", "effect": "allow"}]
    assert (await _set(gql, slug, widened))["userErrors"] == []
    after = (await gql(VERSIONS, {"first": 1}, tenant=slug, user=ADMIN))["policyVersions"]
    assert after["totalCount"] == listed["totalCount"] + 1
    assert after["pageInfo"]["hasNextPage"] is True
    newest = after["edges"][0]["node"]
    assert newest == {"version": original["version"] + 1, "source": "SET", "restoredFrom": None,
                      "createdBy": {"email": ADMIN}, "rules": widened}
    following = (await gql(VERSIONS, {"first": 1, "after": after["pageInfo"]["endCursor"]}, tenant=slug,
                           user=ADMIN))["policyVersions"]
    assert following["edges"][0]["node"]["version"] == original["version"]

    restored = (await gql(RESTORE, {"i": {"version": original["version"]}}, tenant=slug,
                          user=ADMIN))["restorePolicies"]
    assert restored["userErrors"] == [] and restored["policies"]["rules"] == rules
    assert (await gql(POLICIES, tenant=slug, user=ADMIN))["policies"]["rules"] == rules
    newest = (await gql(VERSIONS, {"first": 1}, tenant=slug, user=ADMIN))["policyVersions"]["edges"][0]["node"]
    assert newest == {"version": original["version"] + 2, "source": "RESTORE", "restoredFrom": original["version"],
                      "createdBy": {"email": ADMIN}, "rules": rules}
    event = (await rows(f'SELECT action, actor_label, changes FROM "{_schema(slug)}".audit_events '
                        "ORDER BY seq DESC LIMIT 1"))[0]
    assert (event.action, event.actor_label) == ("restore_policies", ADMIN)
    assert event.changes["restoredFrom"] == original["version"]
    assert event.changes["removed"] == [["receiver", "complaint.read", "any", "allow"]]


@pytest.mark.usefixtures("beta_versions")
async def test_restore_refuses_what_set_would_refuse(gql: GraphQLClient, slug: str) -> None:
    missing = (await gql(RESTORE, {"i": {"version": 9999}}, tenant=slug, user=ADMIN))["restorePolicies"]
    assert missing["userErrors"] == [{"field": ["version"], "code": "NOT_FOUND",
                                      "message": "there is no policy version 9999"}]
    # a version with no rules at all (written here: the API never stores one)
    number = int(await scalar(f'SELECT max(version) + 1 FROM "{_schema(slug)}".policy_versions'))
    await execute(f"INSERT INTO \"{_schema(slug)}\".policy_versions (version, rules, source, created_at) "
                  "VALUES (:v, '[]', 'set', now())", v=number)
    try:
        before = await _state(gql, slug)
        refused = (await gql(RESTORE, {"i": {"version": number}}, tenant=slug, user=ADMIN))["restorePolicies"]
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("POLICY_LOCKOUT", ["version"])]
        assert await _state(gql, slug) == before
    finally:  # the newest version is the set in force again, as the other tests of this tenant expect
        await execute(f'DELETE FROM "{_schema(slug)}".policy_versions WHERE version = :v', v=number)
    others = await gql.post(RESTORE, {"i": {"version": 1}}, tenant=slug, user="receiver@test.example")
    assert [e["code"] for e in others.json()["data"]["restorePolicies"]["userErrors"]] == ["NOT_ALLOWED"]
    listing = (await gql.post(VERSIONS, tenant=slug, user="receiver@test.example")).json()
    assert listing["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.usefixtures("beta_versions")
async def test_operator_reset_lets_a_locked_out_tenant_in_again(gql: GraphQLClient, slug: str) -> None:
    schema = _schema(slug)
    rules = (await gql(POLICIES, tenant=slug, user=ADMIN))["policies"]["rules"]
    # locked out the way the API refuses: every rule gone, written straight to the table
    await execute(f'DELETE FROM "{schema}".policy_rules')
    await execute(f'UPDATE "{schema}".policy_state SET version = version + 1')
    assert [e["code"] for e in (await _set(gql, slug, rules))["userErrors"]] == ["NOT_ALLOWED"]
    trail = int(await scalar(f'SELECT count(*) FROM "{schema}".audit_events'))

    done = run_cli("policies", "reset", "--tenant", slug, "--reason", "locked out by an empty rule set", "--yes")
    assert done.returncode == 0, done.stderr
    version = int(await scalar(f'SELECT max(version) FROM "{schema}".policy_versions'))
    assert f"the retail template's rules are in force as policy version {version}" in done.stdout
    assert "  + tenant_admin, policy.write, any, allow" in done.stdout

    newest = (await rows(f'SELECT source, created_by FROM "{schema}".policy_versions WHERE version = :v',
                         v=version))[0]
    assert (newest.source, newest.created_by) == ("reset", None)
    event = (await rows(f'SELECT action, actor_label, actor_id FROM "{schema}".audit_events '
                        "ORDER BY seq DESC LIMIT 1"))[0]
    assert tuple(event) == ("reset_policies", "operator", None)
    assert int(await scalar(f'SELECT count(*) FROM "{schema}".audit_events')) == trail + 1
    verified = run_cli("audit", "verify", "--tenant", slug)  # the sealed reason is on the chain
    assert verified.returncode == 0, verified.stderr

    # the admin is in again: the template's rules, and the tests' own rules set back through the API
    accepted = await _set(gql, slug, rules)
    assert accepted["userErrors"] == [] and accepted["policies"]["rules"] == rules


def test_reset_needs_a_reason_and_a_known_tenant() -> None:
    no_reason = run_cli("policies", "reset", "--tenant", "alpha", "--yes")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    unknown = run_cli("policies", "reset", "--tenant", "nosuch-tenant", "--reason", "x", "--yes")
    assert unknown.returncode == 1 and "TENANT_NOT_FOUND" in unknown.stderr
