"""Standard GraphQL errors for bad requests; internal errors masked and logged with the request id."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from conftest import GraphQLClient
from helpers import raw
from sqlalchemy import text

from services.core.logs import failures
from services.core.tenancy import schema_for
from tenants.provision import create_tenant

CREATE = """
mutation Create($input: CreateOrgUnitInput!) {
  createOrgUnit(input: $input) { orgUnit { id } userErrors { field message code } }
}
"""


async def test_syntax_error(gql: GraphQLClient) -> None:
    response = await gql.post("{ orgUnits { id }")  # Accept: */*, so application/graphql-response+json: a 400
    body = response.json()
    assert response.status_code == 400
    assert body["errors"][0]["message"].startswith("Syntax Error")
    assert "locations" in body["errors"][0]


async def test_unknown_field_is_a_validation_error_not_masked(gql: GraphQLClient) -> None:
    body = (await gql.post("{ orgUnits { id nope } }")).json()
    assert body["errors"][0]["message"] == "Cannot query field 'nope' on type 'OrgUnit'."
    assert "data" not in body or body["data"] is None


async def test_no_field_suggestions_outside_development(gql: GraphQLClient) -> None:
    body = (await gql.post("{ orgUnit { id } }")).json()
    assert "Did you mean" not in body["errors"][0]["message"]


async def test_bad_variables(gql: GraphQLClient) -> None:
    body = (await gql.post(CREATE, {"input": {"name": "x", "kind": "CASTLE"}})).json()
    assert "errors" in body
    message = body["errors"][0]["message"]
    assert "CASTLE" in message and "OrgUnitKind" in message
    missing = (await gql.post(CREATE, {"input": {"kind": "STORE"}})).json()
    assert "name" in missing["errors"][0]["message"]


async def test_user_error_names_the_field_and_changes_nothing(gql: GraphQLClient) -> None:
    from helpers import scalar

    before = await scalar("SELECT count(*) FROM tenant_alpha.org_units")
    data = await gql(CREATE, {"input": {"name": "   ", "kind": "STORE"}})
    assert data["createOrgUnit"] == {
        "orgUnit": None,
        "userErrors": [{"field": ["name"], "message": "name is required", "code": "REQUIRED"}],
    }
    bad_parent = await gql(CREATE, {"input": {"name": "Child", "kind": "STORE", "parentId": "T3JnVW5pdDp4"}})
    assert bad_parent["createOrgUnit"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert bad_parent["createOrgUnit"]["userErrors"][0]["field"] == ["parentId"]
    assert await scalar("SELECT count(*) FROM tenant_alpha.org_units") == before


async def test_introspection_is_off_outside_development(gql: GraphQLClient) -> None:
    body = (await gql.post("{ __schema { types { name } } }")).json()
    assert body.get("data") is None
    assert "introspection" in body["errors"][0]["message"].lower()


async def test_depth_limit(gql: GraphQLClient) -> None:
    deep = "{ orgUnits { " + "parent { " * 14 + "id" + " }" * 14 + " } }"
    body = (await gql.post(deep)).json()
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_body_too_large(gql: GraphQLClient) -> None:
    response = await gql.post("{ orgUnits { id } }", {"pad": "x" * 1_100_000})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_internal_errors_are_masked_and_logged(gql: GraphQLClient, caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     own_slug: Callable[[str], str]) -> None:
    # A real fault: a tenant whose table went missing (a broken manual change, say); own_slug drops it after
    slug = own_slug("faulty")
    schema = schema_for(slug)
    await create_tenant(slug, template="retail")
    async with raw() as conn:
        await conn.execute(text(f"DROP TABLE {schema}.categories CASCADE"))
        await conn.commit()
    monkeypatch.setattr(failures, "_last", {})  # a traceback once per cause a minute: this test's is the first
    caplog.set_level(logging.ERROR, logger="complaintdesk.api.errors")
    response = await gql.post("{ categories { code } }", tenant=slug, user=None)
    body = response.json()
    assert response.status_code == 200
    error = body["errors"][0]
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = response.headers["x-request-id"]
    assert error["extensions"]["requestId"] == request_id
    raw_body = response.text.lower()
    for leak in (schema, "does not exist", "select", "relation", "traceback", "sqlalchemy", "asyncpg"):
        assert leak not in raw_body, leak
    logged = [r for r in caplog.records if r.name == "complaintdesk.api.errors"]
    assert logged, "the internal error was not logged"
    assert getattr(logged[0], "request_id", None) == request_id
    assert logged[0].exc_info is not None


async def test_malformed_global_ids_are_client_errors(gql: GraphQLClient) -> None:
    # the ID is refused as a value of its type, said plainly: no internal error, no node
    for bad in ("5", "not-base64!", "T3JnVW5pdA=="):
        response = await gql.post("query ($id: ID!) { node(id: $id) { id } }", {"id": bad})
        assert response.status_code == 200
        assert response.json() == {"data": {"node": None}, "errors": [{
            "message": f'Value cannot represent a GlobalID: "{bad}".', "locations": [{"line": 1, "column": 20}],
            "path": ["node"]}]}


# ---- production answers name nothing they were not asked about (issue 13, point 3)


@pytest.fixture(scope="module")
async def apps(tenants: tuple[str, str]) -> AsyncIterator[dict[str, Any]]:
    """The app as `serve` builds it in production, and in development."""
    from dataclasses import replace

    from services.api.app import create_app
    from services.core.config import get_settings

    made: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        for environment in ("production", "development"):
            application = create_app(replace(get_settings(), environment=environment))
            await stack.enter_async_context(application.router.lifespan_context(application))
            transport = httpx.ASGITransport(app=application)
            made[environment] = GraphQLClient(
                await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://testserver")))
        yield made


# (what is probed, the query, its variables, the message production answers)
PROBES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("unknown argument", "{ orgUnits(kindd: STORE) { id } }", None,
     "Unknown argument 'kindd' on field 'Query.orgUnits'."),
    ("unknown enum value", "{ orgUnits(kind: STOR) { id } }", None,
     "Value 'STOR' does not exist in 'OrgUnitKind' enum."),
    ("unknown enum value in a variable", "query ($k: OrgUnitKind) { orgUnits(kind: $k) { id } }", {"k": "STOR"},
     "Variable '$k' has invalid value: Value 'STOR' does not exist in 'OrgUnitKind' enum."),
    ("unknown type in a variable definition", "query ($k: OrgUnitKnd) { orgUnits(kind: $k) { id } }", None,
     "Unknown type 'OrgUnitKnd'."),
    ("unknown type in a fragment", "query { ...F } fragment F on Querry { me { id } }", None,
     "Unknown type 'Querry'."),
    ("unknown input field", "mutation ($i: CreateOrgUnitInput!) { createOrgUnit(input: $i) { orgUnit { id } } }",
     {"i": {"name": "x", "kind": "STORE", "cod": "X"}},
     "Variable '$i' has invalid value: Expected value of type 'CreateOrgUnitInput' not to include unknown field "
     "'cod', found: {'name': 'x', 'kind': 'STORE', 'cod': 'X'}."),
    ("unknown field", "{ orgUnits { idd } }", None, "Cannot query field 'idd' on type 'OrgUnit'."),
]


@pytest.mark.parametrize(("what", "query", "variables", "message"), PROBES, ids=[p[0] for p in PROBES])
async def test_production_suggests_no_names(apps: dict[str, GraphQLClient], what: str, query: str,
                                            variables: dict[str, Any] | None, message: str) -> None:
    production = (await apps["production"].post(query, variables)).json()
    assert [e["message"] for e in production["errors"]] == [message], what
    development = (await apps["development"].post(query, variables)).json()
    assert "Did you mean" in development["errors"][0]["message"], what  # the names are there to leave out


# a Date, a DateTime and a Decimal the parsers refuse, and the fixed message each gets
RECORD = "mutation ($i: RecordComplaintInput!) { recordComplaint(input: $i) { userErrors { code } } }"
COMPLAINT_INPUT = {"title": "t", "description": "d", "channel": "PHONE", "complainant": {"name": "张三"}}
SCALAR_PROBES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("Date", RECORD, {"i": {**COMPLAINT_INPUT, "deliveryDate": "2026-13-45"}},
     "Variable '$i' has invalid value at .deliveryDate: Expected a value of type Date (YYYY-MM-DD)"),
    ("Decimal", RECORD, {"i": {**COMPLAINT_INPUT, "amount": "12,50"}},
     "Variable '$i' has invalid value at .amount: Expected a value of type Decimal (a decimal number, e.g. 12.50)"),
    ("DateTime literal", '{ complaints(first: 1, filter: {createdFrom: "yesterday"}) { totalCount } }', None,
     "Expected a value of type DateTime (ISO 8601, e.g. 2026-09-22T10:00:00+08:00)"),
    ("DateTime variable", "query ($d: DateTime) { complaints(first: 1, filter: {createdFrom: $d}) { totalCount } }",
     {"d": "2026-01-01Tab"},
     "Variable '$d' has invalid value: Expected a value of type DateTime (ISO 8601, e.g. 2026-09-22T10:00:00+08:00)"),
    ("ID", "query ($id: ID!) { node(id: $id) { id } }", {"id": 5.5}, "Variable '$id' has invalid value: ID cannot "
     "represent value: 5.5"),
]


@pytest.mark.parametrize(("what", "query", "variables", "message"), SCALAR_PROBES, ids=[p[0] for p in SCALAR_PROBES])
async def test_scalar_errors_carry_a_fixed_message(apps: dict[str, GraphQLClient], what: str, query: str,
                                                   variables: dict[str, Any] | None, message: str) -> None:
    response = await apps["production"].post(query, variables)
    body = response.json()
    assert response.status_code == 400, body  # a request error: nothing ran
    assert [e["message"] for e in body["errors"]] == [message], what
    assert "literal" not in response.text and "Invalid isoformat" not in response.text
