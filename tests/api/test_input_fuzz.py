"""Every mutation's every string and number argument, sent the classic bad values: never an internal error.

The schema is walked in-process (every mutation, every input field of a fuzzed scalar type, nested inputs too),
so a new mutation or field is fuzzed without anyone listing it here. Each request sets one leaf to one bad value,
the other arguments to minimal valid ones (real IDs of the test's own tenant where an ID is needed), as the
all-rights user and anonymously. Each answer must be a payload (data, userErrors or not) or GraphQL errors with a
non-internal code, below HTTP 500. The test's own tenant takes whatever the mutations that succeed do.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from api.auth.authkit import new_address
from conftest import DEFAULT_USER, access_token, drop_tenant, new_tenant
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from helpers import rows
from lifecycle import record

from services.api.http import MAX_STRING_CHARS
from services.api.schema import build_schema

STRINGS: list[Any] = ["\ud800", "a\x00b", "bell \x07", "", "   ", "\u202e\ufeff", "x" * (MAX_STRING_CHARS + 1)]
BAD: dict[str, list[Any]] = {
    "String": STRINGS,
    "ID": [*STRINGS, "Q29tcGxhaW50Og==", "not base64 !"],
    "Decimal": ["NaN", "sNaN", "Infinity", "-Infinity", "-0", "1e999999", "1" + "0" * 40, "1e-40", "abc", "",
                1e308, "\ud800"],
    "Int": [2**31, -(2**31) - 1, 2**63, -1, 0, "1", 1.5],
    "Float": ["NaN", 1e308, -1, "x"],
    "Date": ["2026-13-45", "0000-01-01", "9999-12-31", "", "2026-02-30", "\ud800"],
    "DateTime": ["2026-13-45T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "", "now"],
}
INTERNAL_CODES = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}


def _named(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def _leaves(t: GraphQLInputType, path: tuple[str, ...], depth: int = 0) -> Iterator[tuple[tuple[str, ...], str]]:
    named = _named(t)
    if isinstance(named, GraphQLScalarType) and named.name in BAD:
        yield path, named.name
    elif isinstance(named, GraphQLInputObjectType) and depth < 4:
        for name, field in named.fields.items():
            yield from _leaves(field.type, (*path, name), depth + 1)


class Minimal:
    """Minimal valid values, by type and (for strings and IDs) by the field's name."""

    def __init__(self, tenant: str, ids: dict[str, str]) -> None:
        self.tenant, self.ids = tenant, ids

    def string(self, name: str) -> str:
        lowered = name.lower()
        for hint, value in (("email", "fuzz@test.example"), ("phone", "13800138000"), ("password", "Fuzz-Pass-9xq"),
                            ("url", "https://hooks.example.com/in"), ("uri", "https://idp.example.com/jwks"),
                            ("tenant", self.tenant), ("slug", self.tenant), ("secret", "s" * 24),
                            ("accesscode", "ABCDEFGHJKLM"), ("number", "2609000001"), ("issuer", "https://idp.example.com")):
            if hint in lowered:
                return value
        return "Fuzz text"

    def global_id(self, name: str) -> str:
        lowered = name.lower()
        for hint, kind in (("user", "User"), ("owner", "User"), ("recipient", "User"), ("store", "OrgUnit"),
                           ("department", "OrgUnit"), ("unit", "OrgUnit"), ("parent", "OrgUnit"),
                           ("category", "Category"), ("body", "ExternalBody"), ("provider", "IdentityProvider")):
            if hint in lowered:
                return self.ids.get(kind) or base64.b64encode(f"{kind}:{uuid.uuid4()}".encode()).decode()
        return self.ids["Complaint"]

    def value(self, t: GraphQLInputType, name: str, depth: int = 0) -> Any:
        if isinstance(t, GraphQLNonNull):
            return self.value(t.of_type, name, depth)
        if isinstance(t, GraphQLList):
            return [self.value(t.of_type, name, depth)]
        if isinstance(t, GraphQLEnumType):
            return next(iter(t.values))
        if isinstance(t, GraphQLInputObjectType):
            return {n: self.value(f.type, n, depth + 1) for n, f in t.fields.items()
                    if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
        assert isinstance(t, GraphQLScalarType)
        return {"String": lambda: self.string(name), "ID": lambda: self.global_id(name), "Int": lambda: 1,
                "Float": lambda: 1.0, "Boolean": lambda: True, "Decimal": lambda: "1.00", "Date": lambda: "2026-09-01",
                "DateTime": lambda: "2026-09-22T10:00:00+08:00", "JSON": lambda: {}}[t.name]()


def _with(args: dict[str, Any], arg_types: dict[str, Any], path: tuple[str, ...], bad: Any,
          minimal: Minimal) -> dict[str, Any]:
    """``args`` with the leaf at ``path`` set to ``bad`` (the inputs on the way made if they were left out)."""
    out = json.loads(json.dumps(args))
    node: Any = out
    t: Any = arg_types[path[0]]
    for depth, key in enumerate(path[:-1]):
        nested = _named(t)
        if node.get(key) is None:
            node[key] = minimal.value(_named(t), key)
        node = node[key]
        if isinstance(node, list):
            node = node[0]
        t = (nested.fields[path[depth + 1]].type if isinstance(nested, GraphQLInputObjectType) else t)
    last = path[-1]
    node[last] = [bad] if isinstance(_unwrap_non_null(t), GraphQLList) else bad
    return out


def _unwrap_non_null(t: Any) -> Any:
    return t.of_type if isinstance(t, GraphQLNonNull) else t


def _document(name: str, field: Any) -> str:
    variables = ", ".join(f"${a}: {arg.type}" for a, arg in field.args.items())
    passed = ", ".join(f"{a}: ${a}" for a in field.args)
    payload = _named(field.type)
    selection = ""
    if isinstance(payload, GraphQLObjectType):
        selection = "{ __typename userErrors { field code } }" if "userErrors" in payload.fields else "{ __typename }"
    return f"mutation Fuzz({variables}) {{ {name}({passed}) {selection} }}"


@pytest.fixture
async def fuzz_tenant(tenants: Any, gql: Any) -> AsyncIterator[tuple[str, dict[str, str]]]:
    tenant = await new_tenant("fuzz")
    complaint = await record(gql, tenant.slug, user=DEFAULT_USER)
    schema_name = tenant.schema
    ids = {"Complaint": complaint["id"]}
    for kind, sql in (("User", f"SELECT id FROM \"{schema_name}\".users WHERE email = 'all@test.example'"),
                      ("OrgUnit", f"SELECT id FROM \"{schema_name}\".org_units WHERE kind = 'STORE' LIMIT 1"),
                      ("Category", f"SELECT id FROM \"{schema_name}\".categories LIMIT 1")):
        found = await rows(sql)
        if found:
            ids[kind] = base64.b64encode(f"{kind}:{found[0].id}".encode()).decode()
    try:
        yield tenant.slug, ids
    finally:
        await drop_tenant(tenant)


async def test_no_bad_input_reaches_an_internal_error(app: Any, fuzz_tenant: tuple[str, dict[str, str]]) -> None:
    slug, ids = fuzz_tenant
    minimal = Minimal(slug, ids)
    mutations = build_schema(development=True)._schema.mutation_type
    assert mutations is not None
    token = await access_token(slug, DEFAULT_USER)
    who = {"all-rights user": {"authorization": f"Bearer {token}"}, "anonymous": {"x-tenant": slug}}
    failures: list[str] = []
    sent = 0
    for name, field in mutations.fields.items():
        document = _document(name, field)
        arg_types = {a: arg.type for a, arg in field.args.items()}
        base = {a: minimal.value(arg.type, a) for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)}
        cases = [(path, kind) for a, arg in field.args.items() for path, kind in _leaves(arg.type, (a,))]
        # one client address per mutation: the public rate limits and the sign-in throttle count per address
        transport = httpx.ASGITransport(app=app, client=(new_address(), 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            # anonymously, only what an anonymous client can reach (public submissions, sign-in): the rest is
            # refused before its resolver reads an argument, and the arguments' coercion is the same for both
            probe = await http.post("/graphql", json={"query": document, "variables": base}, headers=who["anonymous"])
            asking = dict(who) if _reachable(probe) else {"all-rights user": who["all-rights user"]}
            for path, kind in cases:
                for bad in BAD[kind]:
                    variables = _with(base, arg_types, path, bad, minimal)
                    # ensure_ascii: a lone surrogate travels as the JSON escape "\ud800", as a client would send it
                    body = json.dumps({"query": document, "variables": variables})
                    for label, headers in asking.items():
                        response = await http.post("/graphql", content=body, headers={
                            "content-type": "application/json", **headers})
                        sent += 1
                        problem = _problem(response) or _stored(name, bad, response)
                        if problem:
                            failures.append(f"{name} {'.'.join(path)}={str(bad)[:24]!r} as {label}: {problem}")
    assert sent > 1000, sent  # the walk found the schema's mutations
    assert failures == [], f"{len(failures)} of {sent}:\n" + "\n".join(failures[:40])


CONTROL = "bell \x07"
NOT_STORED = {"setPassword", "requestWorkerCheck"}  # a current password checked, a client's echo: never stored


def _stored(mutation: str, bad: Any, response: httpx.Response) -> str | None:
    """A control character that a mutation took without a userError: the shared rule was skipped."""
    if bad != CONTROL or mutation in NOT_STORED:
        return None
    body = response.json()
    payload = (body.get("data") or {}).get(mutation)
    if isinstance(payload, dict) and payload.get("userErrors") == [] and not body.get("errors"):
        return "a control character was accepted"
    return None


def _reachable(response: httpx.Response) -> bool:
    codes = {(e.get("extensions") or {}).get("code") for e in response.json().get("errors") or ()}
    return not codes & {"UNAUTHENTICATED", "FORBIDDEN"}


def _problem(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code} {response.text[:200]}"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]}"
    errors = body.get("errors") or []
    codes = [(e.get("extensions") or {}).get("code") for e in errors]
    if any(code in INTERNAL_CODES for code in codes) or "Internal server error" in response.text:
        return f"internal: {response.text[:200]}"
    if not errors and not isinstance(body.get("data"), dict):
        return f"neither data nor errors: {response.text[:200]}"
    return None


# ---------------------------------------------------------------- what the edge answers, exactly

RECORD_AMOUNT = """
mutation ($input: RecordComplaintInput!) { recordComplaint(input: $input) { complaint { amount }
  userErrors { field code } } }
"""


async def _post_raw(client: httpx.AsyncClient, body: str, token: str) -> httpx.Response:
    return await client.post("/graphql", content=body, headers={
        "content-type": "application/json", "authorization": f"Bearer {token}", "accept-language": "en"})


async def test_bad_numbers_and_strings_are_request_errors(client: httpx.AsyncClient, tenants: Any) -> None:
    from lifecycle import complaint_input

    token = await access_token(tenants[0], DEFAULT_USER)
    assert token is not None
    before = await rows("SELECT count(*) AS n FROM tenant_alpha.complaints")

    async def send(variables: Any, query: str = RECORD_AMOUNT) -> httpx.Response:
        return await _post_raw(client, json.dumps({"query": query, "variables": variables}), token)

    for amount in ("NaN", "sNaN", "-Infinity", "1e999999", "1" + "0" * 31):
        refused = await send({"input": complaint_input(amount=amount)})
        assert refused.status_code == 400, (amount, refused.text)
        assert "data" not in refused.json()
        message = refused.json()["errors"][0]["message"]  # a coercion error of the variable, at input.amount
        assert message.startswith("Variable '$input' has invalid value at .amount: "), message
    inline = RECORD_AMOUNT.replace("$input: RecordComplaintInput!", "").replace(
        "input: $input", 'input: {title: "t", description: "d", channel: PHONE, amount: "Infinity", '
                         'complainant: {name: "A", phone: "13800138000"}}').replace("mutation ()", "mutation")
    assert (await send({}, inline)).status_code == 400
    # scale is the domain's rule, not the edge's: 12.341 passes the edge and the domain rounds it to money
    kept = await send({"input": complaint_input(amount="12.341")})
    assert kept.json()["data"]["recordComplaint"]["complaint"]["amount"] == "12.34"

    lone = await send({"input": complaint_input(title="\ud800")})
    assert lone.status_code == 400
    assert lone.json()["errors"][0] == {
        "message": "variables.input.title is not valid Unicode (it contains a lone surrogate)",
        "extensions": {"code": "BAD_REQUEST", "requestId": lone.headers["x-request-id"]}}
    nan = await _post_raw(client, '{"query": "mutation { logout(input: {refreshToken: \\"x\\"}) { ok } }", '
                                  '"variables": {"n": NaN}}', token)
    assert nan.status_code == 400 and "NaN is not a JSON number" in nan.json()["errors"][0]["message"]
    assert await rows("SELECT count(*) AS n FROM tenant_alpha.complaints") == [(before[0].n + 1,)]
    # a NUL, which PostgreSQL cannot store, in a name the core checked only for length before: its userError
    units = await rows("SELECT count(*) AS n FROM tenant_alpha.org_units")
    nul = await send({"input": {"name": "Store \x00 one", "kind": "STORE"}},
                     "mutation ($input: CreateOrgUnitInput!) { createOrgUnit(input: $input) { orgUnit { id } "
                     "userErrors { field code message } } }")
    assert nul.json()["data"]["createOrgUnit"] == {"orgUnit": None, "userErrors": [
        {"field": ["name"], "code": "INVALID", "message": "name contains control characters"}]}
    assert await rows("SELECT count(*) AS n FROM tenant_alpha.org_units") == units
