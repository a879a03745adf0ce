"""The tenant is resolved once at the edge and fails closed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import GraphQLClient
from helpers import scalar

from services.core.tenancy import TenantStatus, schema_for
from tenants.provision import create_tenant, set_status

QUERY = "{ orgUnits { id } }"


@pytest.mark.parametrize(
    ("tenant", "status", "code"),
    [
        ("", 400, "TENANT_REQUIRED"),
        ("Alpha", 400, "TENANT_INVALID"),
        ("alpha;drop", 400, "TENANT_INVALID"),
        ("../beta", 400, "TENANT_INVALID"),
        ("public", 400, "TENANT_INVALID"),
        ("gamma-unknown", 404, "TENANT_NOT_FOUND"),
    ],
)
async def test_bad_tenant_is_refused(gql: GraphQLClient, tenant: str | None, status: int, code: str) -> None:
    response = await gql.post(QUERY, tenant=tenant)
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code
    assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]


async def test_naming_no_tenant_reaches_only_what_needs_none(gql: GraphQLClient) -> None:
    """No token, no X-Tenant, no tenant host: the request goes on (sign-in needs no tenant), never to a default one."""
    public = await gql.post("{ complaintProcedure { summary } }", tenant=None, user=None)
    assert public.status_code == 400
    body = public.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["TENANT_REQUIRED"]
    staff = await gql.post(QUERY, tenant=None, user=None)
    assert [e["extensions"]["code"] for e in staff.json()["errors"]] == ["UNAUTHENTICATED"]
    assert staff.json()["data"] is None


async def test_mutation_for_bad_tenant_writes_nothing(gql: GraphQLClient) -> None:
    before = await scalar("SELECT count(*) FROM tenant_alpha.org_units")
    response = await gql.post(
        'mutation { createOrgUnit(input: {name: "x", kind: STORE}) { orgUnit { id } } }', tenant="nosuch"
    )
    assert response.status_code == 404
    assert await scalar("SELECT count(*) FROM tenant_alpha.org_units") == before


async def test_suspended_tenant_gets_a_clear_error_then_resumes(gql: GraphQLClient,
                                                                own_slug: Callable[[str], str]) -> None:
    slug = own_slug("paused")
    await create_tenant(slug, template="retail")
    assert (await gql.post(QUERY, tenant=slug)).status_code == 200
    await set_status(slug, TenantStatus.SUSPENDED)
    for query in (QUERY, 'mutation { createOrgUnit(input: {name: "x", kind: STORE}) { orgUnit { id } } }'):
        response = await gql.post(query, tenant=slug)
        assert response.status_code == 403
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "TENANT_SUSPENDED"
        assert error["message"] == f"tenant '{slug}' is suspended"
    assert await scalar(f"SELECT count(*) FROM {schema_for(slug)}.org_units WHERE name = 'x'") == 0
    await set_status(slug, TenantStatus.ACTIVE)
    assert (await gql.post(QUERY, tenant=slug)).status_code == 200


async def test_a_suspension_made_elsewhere_is_refused_within_the_cache_bound(
    gql: GraphQLClient, own_slug: Callable[[str], str]
) -> None:
    """Active tenants are remembered per process for at most TENANT_CACHE_TTL_S: a suspension written by another
    process (the CLI, another API worker; here a plain UPDATE) is refused once that bound has passed, and a
    resumption (never cached) on the very next request."""
    import asyncio

    from helpers import raw
    from sqlalchemy import text

    from services.core.tenancy import TENANT_CACHE_TTL_S

    assert TENANT_CACHE_TTL_S <= 5
    slug = own_slug("elsewhere")
    await create_tenant(slug, template="retail")
    assert (await gql.post(QUERY, tenant=slug)).status_code == 200  # resolved and remembered

    async def write_status(status: str) -> None:
        async with raw() as conn:
            await conn.execute(text("UPDATE public.tenants SET status = :s WHERE slug = :slug"),
                               {"s": status, "slug": slug})
            await conn.commit()

    await write_status("suspended")
    try:
        await asyncio.sleep(TENANT_CACHE_TTL_S + 0.1)
        for query in (QUERY, 'mutation { createOrgUnit(input: {name: "x", kind: STORE}) { orgUnit { id } } }'):
            response = await gql.post(query, tenant=slug)
            assert response.status_code == 403
            assert response.json()["errors"][0]["extensions"]["code"] == "TENANT_SUSPENDED"
        assert await scalar(f"SELECT count(*) FROM {schema_for(slug)}.org_units WHERE name = 'x'") == 0
    finally:
        await write_status("active")
    assert (await gql.post(QUERY, tenant=slug)).status_code == 200


async def test_request_id_is_echoed_or_made(gql: GraphQLClient) -> None:
    mine = await gql.post(QUERY, headers={"x-request-id": "trace-abc-12345"})
    assert mine.headers["x-request-id"] == "trace-abc-12345"
    junk = await gql.post(QUERY, headers={"x-request-id": "bad id\twith spaces"})
    assert junk.headers["x-request-id"] != "bad id\twith spaces"
    assert len(junk.headers["x-request-id"]) == 32


async def test_tenant_from_the_host_name_when_no_header(client: Any) -> None:
    query = {"query": "{ complaintProcedure { summary } }"}
    by_host = await client.post("/graphql", json=query, headers={"host": "beta.complaints.example.com",
                                                                 "accept-language": "en"})
    assert by_host.status_code == 200
    assert "15 days of receipt" in by_host.json()["data"]["complaintProcedure"]["summary"]  # the bank template
    header_wins = await client.post("/graphql", json=query,
                                    headers={"host": "beta.complaints.example.com", "x-tenant": "alpha",
                                             "accept-language": "en"})
    assert "5 working days" in header_wins.json()["data"]["complaintProcedure"]["summary"]
    # fewer than three labels, or an IP address, names no tenant; else the first label, validated like any slug
    for host, status, code in (("localhost", 400, "TENANT_REQUIRED"), ("example.com", 400, "TENANT_REQUIRED"),
                               ("10.0.0.1", 400, "TENANT_REQUIRED"),
                               ("nosuch.complaints.example.com", 404, "TENANT_NOT_FOUND"),
                               ("Bad_Host.x.y", 400, "TENANT_INVALID")):
        refused = await client.post("/graphql", json=query, headers={"host": host})
        assert (refused.status_code, refused.json()["errors"][0]["extensions"]["code"]) == (status, code), host
