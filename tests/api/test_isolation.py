"""Two tenants, look-alike data, hundreds of interleaved requests: each sees only its own rows."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import raw, rows
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

CREATE = """
mutation Create($input: CreateOrgUnitInput!) {
  createOrgUnit(input: $input) { orgUnit { id name code kind } userErrors { field message code } }
}
"""
LIST = "query { orgUnits { id name code kind parent { id } } }"


async def _ids(tenant: str) -> set[str]:
    schema = "tenant_" + tenant.replace("-", "_")
    return {str(r[0]) for r in await rows(f'SELECT id FROM "{schema}".org_units')}


async def test_interleaved_requests_see_only_their_tenant(gql: GraphQLClient) -> None:
    # Look-alike data: the same names in both tenants, so only the ids can tell them apart.
    for tenant in (TENANT_A, TENANT_B):
        for i in range(3):
            data = await gql(CREATE, {"input": {"name": f"Twin Store {i}", "kind": "STORE"}}, tenant=tenant)
            assert data["createOrgUnit"]["userErrors"] == []

    own = {TENANT_A: await _ids(TENANT_A), TENANT_B: await _ids(TENANT_B)}
    assert own[TENANT_A].isdisjoint(own[TENANT_B])

    async def one(i: int, tenant: str) -> tuple[str, str, Any]:
        if i % 5 == 0:  # a write among the reads
            name = f"Concurrent {tenant} {i}"
            data = await gql(CREATE, {"input": {"name": name, "kind": "DEPARTMENT"}}, tenant=tenant)
            return tenant, "create", data["createOrgUnit"]["orgUnit"]
        data = await gql(LIST, tenant=tenant)
        return tenant, "list", data["orgUnits"]

    plan = [(i, random.choice((TENANT_A, TENANT_B))) for i in range(240)]
    results = await asyncio.gather(*(one(i, t) for i, t in plan))
    assert len(results) == 240
    assert {t for t, _, _ in results} == {TENANT_A, TENANT_B}

    final = {TENANT_A: await _ids(TENANT_A), TENANT_B: await _ids(TENANT_B)}
    for tenant, kind, payload in results:
        other = TENANT_B if tenant == TENANT_A else TENANT_A
        if kind == "create":
            node_id = payload["id"]
            assert node_id in _global_ids(final[tenant])
            assert node_id not in _global_ids(final[other])
            assert tenant in payload["name"]
        else:
            seen = {u["id"] for u in payload}
            assert seen <= _global_ids(final[tenant]), "a tenant saw a row it does not own"
            assert seen >= _global_ids(own[tenant]), "a tenant missed its own rows"
            assert not any(other in u["name"] for u in payload)


def _global_ids(ids: set[str]) -> set[str]:
    import base64

    return {base64.b64encode(f"OrgUnit:{i}".encode()).decode() for i in ids}


async def test_pooled_connections_carry_no_tenant_binding(gql: GraphQLClient) -> None:
    await asyncio.gather(*(gql(LIST, tenant=t) for t in (TENANT_A, TENANT_B) * 10))
    # Every pooled connection went back with the default search_path: unqualified names find no tenant table.
    async with raw() as conn:
        assert await conn.scalar(text("SHOW search_path")) == '"$user", public'
        try:
            await conn.execute(text("SELECT count(*) FROM org_units"))
        except ProgrammingError as exc:
            assert "org_units" in str(exc)
        else:
            raise AssertionError("an unqualified tenant table was reachable outside a tenant transaction")


async def test_sibling_fields_share_the_request_safely(gql: GraphQLClient) -> None:
    """Top-level fields resolve concurrently; they must not trip over the request's one session."""
    query = """
    query {
      a: orgUnits { id name parent { id name } }
      b: users { email }
      c: orgUnits(kind: STORE) { id }
      d: workerCheck(id: "8b0c1f6e-4a57-4a1b-9d1e-2f1f1f1f1f1f") { id }
    }
    """
    for tenant in (TENANT_A, TENANT_B):
        data = await gql(query, tenant=tenant)
        assert len(data["a"]) >= len(data["c"]) > 0
        assert data["d"] is None
