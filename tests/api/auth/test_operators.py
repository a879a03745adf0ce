"""Platform operators: their own accounts and tokens; createTenant, suspendTenant, resumeTenant."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from api.auth.authkit import ADMIN, ME, bearer
from conftest import TENANT_A, GraphQLClient, access_token
from helpers import ROOT, scalar

ClientAt = Callable[..., AbstractAsyncContextManager[GraphQLClient]]
OPERATOR_LOGIN = """
mutation ($name: String!, $password: String!) {
  operatorLogin(input: {name: $name, password: $password}) { accessToken expiresAt userErrors { field message code } }
}
"""
TENANT_FIELDS = "tenant { slug displayName status template schemaRevision createdAt } userErrors { field message code }"
CREATE_TENANT = f"""
mutation ($input: CreateTenantInput!) {{ createTenant(input: $input) {{ {TENANT_FIELDS} }} }}
"""
SUSPEND = f"mutation ($slug: String!) {{ suspendTenant(input: {{slug: $slug}}) {{ {TENANT_FIELDS} }} }}"
RESUME = f"mutation ($slug: String!) {{ resumeTenant(input: {{slug: $slug}}) {{ {TENANT_FIELDS} }} }}"
WRONG = [{"field": None, "message": "name or password is wrong", "code": "INVALID_CREDENTIALS"}]


def operator_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("complaintdesk")
    return subprocess.run([str(exe), "operator", *args], input=stdin, capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ), check=False)


async def _operator(c: GraphQLClient, name: str, password: str) -> dict[str, Any]:
    response = await c.post(OPERATOR_LOGIN, {"name": name, "password": password}, tenant=None, user=None)
    payload: dict[str, Any] = response.json()["data"]["operatorLogin"]
    return payload


async def _tenant_count(slug: str) -> int:
    return int(await scalar("SELECT count(*) FROM public.tenants WHERE slug = :s", s=slug))


async def test_operator_flows(gql: GraphQLClient, client_at: ClientAt) -> None:
    name = f"op-{uuid.uuid4().hex[:8]}"
    password = "operator passphrase 1"
    created = operator_cli("create", name, "--password-stdin", stdin=password + "\n")
    assert created.returncode == 0, created.stderr
    assert f"created operator {name}" in created.stdout
    assert password not in created.stdout + created.stderr
    stored = await scalar("SELECT password_hash FROM public.operators WHERE name = :n", n=name)
    assert stored.startswith("$argon2id$")
    again = operator_cli("create", name, "--password-stdin", stdin=password + "\n")
    assert again.returncode == 1 and f"operator '{name}' exists" in again.stderr
    short = operator_cli("create", "op-short", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr

    async with client_at() as c:
        wrong = (await c.post(OPERATOR_LOGIN, {"name": name, "password": "not the password"}, tenant=None,
                              user=None)).content
        unknown = (await c.post(OPERATOR_LOGIN, {"name": "nobody-op", "password": password}, tenant=None,
                                user=None)).content
        assert wrong == unknown
        assert json.loads(wrong)["data"]["operatorLogin"]["userErrors"] == WRONG
        # a tenant user's credentials are no operator's
        assert (await _operator(c, "admin@test.example", password))["userErrors"] == WRONG
        signed_in = await _operator(c, name, password)
    assert signed_in["userErrors"] == []
    token = signed_in["accessToken"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == f"operator:{name}" and claims["scope"] == "operator"
    assert "tenant" not in claims and claims["iss"] == claims["aud"] == "complaintdesk"

    slug = f"op{uuid.uuid4().hex[:8]}"
    # no token, a tenant admin's token: refused, and nothing is created
    anonymous = (await gql.post(CREATE_TENANT, {"input": {"slug": slug}}, tenant=None, user=None)).json()
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    tenant_admin = await access_token(TENANT_A, ADMIN)
    assert tenant_admin is not None
    for query, variables in ((CREATE_TENANT, {"input": {"slug": slug}}), (SUSPEND, {"slug": TENANT_A})):
        forbidden = (await bearer(gql, tenant_admin, query, variables)).json()
        assert [e["extensions"]["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]
    assert await _tenant_count(slug) == 0
    assert await scalar("SELECT status FROM public.tenants WHERE slug = :s", s=TENANT_A) == "active"
    # an operator's token carries no tenant: naming one is a mismatch
    mismatch = await bearer(gql, token, CREATE_TENANT, {"input": {"slug": slug}}, headers={"x-tenant": TENANT_A})
    assert mismatch.status_code == 400 and mismatch.json()["errors"][0]["extensions"]["code"] == "TENANT_MISMATCH"
    assert await _tenant_count(slug) == 0
    # nor does it reach any tenant's staff operations
    assert (await bearer(gql, token, ME)).json()["data"]["me"] is None

    made = (await bearer(gql, token, CREATE_TENANT,
                         {"input": {"slug": slug, "displayName": "Operator Made", "template": "bank"}})).json()
    tenant = made["data"]["createTenant"]
    assert tenant["userErrors"] == []
    assert tenant["tenant"]["slug"] == slug and tenant["tenant"]["status"] == "ACTIVE"
    assert tenant["tenant"]["template"] == "bank" and tenant["tenant"]["schemaRevision"]
    assert await scalar("SELECT count(*) FROM pg_namespace WHERE nspname = :s", s=f"tenant_{slug}") == 1

    refusals = {
        "duplicate": ({"slug": slug}, [{"field": ["slug"], "message": f"tenant '{slug}' already exists",
                                        "code": "DUPLICATE"}]),
        "bad slug": ({"slug": "Bad Slug"}, "INVALID"),
        "reserved": ({"slug": "admin"}, "INVALID"),
        "template": ({"slug": f"x{slug}", "template": "casino"}, "INVALID"),
    }
    for case, (fields, expected) in refusals.items():
        payload = (await bearer(gql, token, CREATE_TENANT, {"input": fields})).json()["data"]["createTenant"]
        assert payload["tenant"] is None, case
        if isinstance(expected, list):
            assert payload["userErrors"] == expected, case
        else:
            assert [e["code"] for e in payload["userErrors"]] == [expected], case
    assert await _tenant_count(f"x{slug}") == 0

    suspended = (await bearer(gql, token, SUSPEND, {"slug": slug})).json()["data"]["suspendTenant"]
    assert suspended["tenant"]["status"] == "SUSPENDED"
    refused = await gql.post("{ complaintProcedure { summary } }", tenant=slug, user=None)
    assert refused.status_code == 403
    resumed = (await bearer(gql, token, RESUME, {"slug": slug})).json()["data"]["resumeTenant"]
    assert resumed["tenant"]["status"] == "ACTIVE"
    assert (await gql.post("{ complaintProcedure { summary } }", tenant=slug, user=None)).status_code == 200
    registry = await scalar("SELECT array_agg(slug || ':' || status ORDER BY slug) FROM public.tenants")
    missing = (await bearer(gql, token, SUSPEND, {"slug": "no-such-co"})).json()["data"]["suspendTenant"]
    assert [e["code"] for e in missing["userErrors"]] == ["NOT_FOUND"]
    assert await scalar("SELECT array_agg(slug || ':' || status ORDER BY slug) FROM public.tenants") == registry

    # an operator who is no longer active: the token stops working at once
    await _sql("UPDATE public.operators SET active = false WHERE name = :n", n=name)
    gone = (await bearer(gql, token, SUSPEND, {"slug": slug})).json()
    assert [e["extensions"]["code"] for e in gone["errors"]] == ["UNAUTHENTICATED"]
    assert await scalar("SELECT status FROM public.tenants WHERE slug = :s", s=slug) == "active"
    async with client_at() as c:
        assert (await _operator(c, name, password))["userErrors"] == WRONG
    reset = operator_cli("set-password", name, "--password-stdin", stdin="a new operator pass\n")
    assert reset.returncode == 0, reset.stderr
    async with client_at() as c:
        assert (await _operator(c, name, "a new operator pass"))["userErrors"] == []


async def _sql(statement: str, **params: Any) -> None:
    from helpers import raw
    from sqlalchemy import text

    async with raw() as conn:
        await conn.execute(text(statement), params)
        await conn.commit()
