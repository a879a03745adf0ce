"""/graphql speaks GraphQL over HTTP: media types, Accept negotiation, request encodings and status codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from conftest import STAFF, TENANT_A, GraphQLClient, access_token
from helpers import scalar

from services.core.logs import failures

GRJ = "application/graphql-response+json"
JSON = "application/json"
QUERY = "{ orgUnits { id name } }"
COUNT_UNITS = "SELECT count(*) FROM tenant_alpha.org_units WHERE name = :name"
ADMIN = next(email for email, (roles, _) in STAFF.items() if "tenant_admin" in roles)


async def staff_headers() -> dict[str, str]:
    """Tenant alpha's admin, signed in with an access token, reading English (their errors' messages)."""
    return {"authorization": f"Bearer {await access_token(TENANT_A, ADMIN)}", "accept-language": "en"}


def create_unit(name: str, operation: str = "") -> str:
    return f'mutation {operation} {{ createOrgUnit(input: {{name: "{name}", kind: STORE}}) {{ orgUnit {{ id }} }} }}'


async def post(
    client: httpx.AsyncClient,
    payload: Any = None,
    *,
    content: bytes | None = None,
    accept: str | None = GRJ,
    content_type: str | None = JSON,
) -> httpx.Response:
    """POST /graphql for tenant alpha as its admin; ``accept=None`` sends no Accept header at all."""
    headers = await staff_headers()
    if content_type is not None:
        headers["content-type"] = content_type
    body = content if content is not None else json.dumps(payload).encode()
    request = client.build_request("POST", "/graphql", content=body, headers=headers)
    _set_accept(request, accept)
    return await client.send(request)


async def get(client: httpx.AsyncClient, params: dict[str, str] | list[tuple[str, str]], *,
              accept: str | None = GRJ) -> httpx.Response:
    request = client.build_request("GET", "/graphql?" + urlencode(params), headers=await staff_headers())
    _set_accept(request, accept)
    return await client.send(request)


def _set_accept(request: httpx.Request, accept: str | None) -> None:
    if accept is None:
        del request.headers["accept"]  # httpx sends "Accept: */*" unless told otherwise
    else:
        request.headers["accept"] = accept


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"]


def assert_request_error(response: httpx.Response, status: int, media: str = GRJ) -> dict[str, Any]:
    """A GraphQL request error: the status, the media type, errors and no data entry."""
    assert response.status_code == status, response.text
    assert media_type(response) == f"{media}; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert "data" not in body, body
    assert body["errors"] and all(isinstance(e["message"], str) for e in body["errors"])
    return body


def assert_refused(response: httpx.Response, status: int, code: str, media: str = GRJ) -> str:
    """A request refused at the HTTP level: GraphQL-shaped body with a code and the request id."""
    body = assert_request_error(response, status, media)
    error = body["errors"][0]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    message: str = error["message"]
    return message


# --- Accept ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRJ, GRJ),
        (JSON, JSON),
        (f"{GRJ}; charset=utf-8", GRJ),
        (f"{JSON}; charset=utf-8", JSON),
        ("*/*", GRJ),  # httpx's default, browsers' fallback: our preferred type
        ("application/*", GRJ),
        (None, GRJ),  # no Accept header: graphql-response+json since the 2025-01-01 watershed
        ("", GRJ),
        (f"{GRJ}, {JSON};q=0.9", GRJ),  # what the spec recommends clients send
        (f"{GRJ}; charset=utf-8, {JSON}; charset=utf-8", GRJ),
        (f"{JSON}, {GRJ}", GRJ),  # equal weight: the server's preference
        (f"{JSON}, {GRJ};q=0.5", JSON),
        (f"text/html, {JSON};q=0.9, */*;q=0.1", JSON),
        (f"{GRJ};q=0, */*", JSON),  # explicitly refused
        ("TEXT/HTML, Application/JSON", JSON),  # media types are case-insensitive
    ],
)
async def test_accept_negotiation(client: httpx.AsyncClient, accept: str | None, expected: str) -> None:
    response = await post(client, {"query": QUERY}, accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"{expected}; charset=utf-8"
    assert "accept" in response.headers["vary"].lower()
    assert "errors" not in response.json() and isinstance(response.json()["data"]["orgUnits"], list), response.text


@pytest.mark.parametrize(
    "accept", ["text/plain", "text/html, application/xml", f"{JSON};q=0, {GRJ};q=0", f"{JSON}; charset=latin-1"]
)
async def test_unacceptable_media_type_is_406_and_nothing_runs(client: httpx.AsyncClient, accept: str) -> None:
    response = await post(client, {"query": create_unit("never-406")}, accept=accept)
    message = assert_refused(response, 406, "NOT_ACCEPTABLE", media=JSON)
    assert GRJ in message and JSON in message
    assert await scalar(COUNT_UNITS, name="never-406") == 0


async def test_existing_client_helper_now_gets_the_new_media_type(gql: GraphQLClient) -> None:
    # The conftest helper sends httpx's "Accept: */*".
    response = await gql.post(QUERY)
    assert response.status_code == 200
    assert media_type(response) == f"{GRJ}; charset=utf-8"


# --- Status codes with application/graphql-response+json ----------------------------------------------------------

BAD_DOCUMENTS = {
    "syntax": ("{ orgUnits { id }", "Syntax Error"),
    "empty document": ("", "Syntax Error"),
    "unknown field": ("{ orgUnits { id nope } }", "Cannot query field 'nope'"),
    "depth limit": ("{ orgUnits { " + "parent { " * 14 + "id" + " }" * 14 + " } }", "exceeds maximum operation depth"),
    "alias limit": ("{ " + " ".join(f"a{i}: orgUnits {{ id }}" for i in range(31)) + " }", "alias"),
    "token limit": ("{ orgUnits { " + "id " * 2100 + "} }", "token"),
    "introspection": ("{ __schema { types { name } } }", "introspection"),
    "two anonymous operations": ("{ orgUnits { id } } { users { email } }", "anonymous operation"),
    "subscription": ("subscription { orgUnits { id } }", "subscription"),
    "fragments only": ("fragment F on Query { orgUnits { id } }", "operation"),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
async def test_document_errors_are_400(client: httpx.AsyncClient, case: str) -> None:
    document, message = BAD_DOCUMENTS[case]
    body = assert_request_error(await post(client, {"query": document}), 400)
    assert message.lower() in body["errors"][0]["message"].lower()


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
async def test_document_errors_are_200_with_application_json(client: httpx.AsyncClient, case: str) -> None:
    document, message = BAD_DOCUMENTS[case]
    body = assert_request_error(await post(client, {"query": document}, accept=JSON), 200, media=JSON)
    assert message.lower() in body["errors"][0]["message"].lower()


async def test_syntax_error_keeps_its_location(client: httpx.AsyncClient) -> None:
    body = assert_request_error(await post(client, {"query": "{ orgUnits { id }"}), 400)
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 18}]


CREATE = """
mutation Create($input: CreateOrgUnitInput!) {
  createOrgUnit(input: $input) { orgUnit { id } userErrors { code } }
}
"""
BAD_VARIABLES = {
    "enum value": {"input": {"name": "never-var", "kind": "CASTLE"}},
    "missing field": {"input": {"kind": "STORE"}},
    "missing variable": {},
    "null for non-null": {"input": None},
    "wrong type": {"input": {"name": 7, "kind": "STORE"}},
}


@pytest.mark.parametrize("case", BAD_VARIABLES)
@pytest.mark.parametrize(("accept", "status"), [(GRJ, 400), (JSON, 200)])
async def test_variable_coercion_failure(client: httpx.AsyncClient, case: str, accept: str, status: int) -> None:
    response = await post(client, {"query": CREATE, "variables": BAD_VARIABLES[case]}, accept=accept)
    body = assert_request_error(response, status, media=accept)
    assert body["errors"][0]["message"].startswith("Variable '$input'")
    assert await scalar(COUNT_UNITS, name="never-var") == 0


@pytest.mark.parametrize(("accept", "status"), [(GRJ, 400), (JSON, 200)])
async def test_unknown_operation_name(client: httpx.AsyncClient, accept: str, status: int) -> None:
    response = await post(client, {"query": "query A { orgUnits { id } }", "operationName": "B"}, accept=accept)
    body = assert_request_error(response, status, media=accept)
    assert body["errors"][0]["message"] == 'Unknown operation named "B".'


@pytest.mark.parametrize(("accept", "status"), [(GRJ, 400), (JSON, 200)])
async def test_several_operations_need_an_operation_name_and_none_runs(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    # Strawberry alone would run the first one.
    document = create_unit("never-first", "First") + "\n" + create_unit("never-second", "Second")
    body = assert_request_error(await post(client, {"query": document}, accept=accept), status, media=accept)
    assert body["errors"][0]["message"] == "Must provide operation name if query contains multiple operations."
    assert await scalar(COUNT_UNITS, name="never-first") == 0
    assert await scalar(COUNT_UNITS, name="never-second") == 0


async def test_operation_name_picks_one_of_several(client: httpx.AsyncClient) -> None:
    document = create_unit("picked-first", "First") + "\n" + create_unit("picked-second", "Second")
    response = await post(client, {"query": document, "operationName": "Second"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["createOrgUnit"]["orgUnit"]["id"]
    assert await scalar(COUNT_UNITS, name="picked-first") == 0
    assert await scalar(COUNT_UNITS, name="picked-second") == 1


async def test_success_is_200_with_data(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": QUERY, "variables": None, "operationName": None, "extensions": None})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    assert isinstance(body["data"]["orgUnits"], list)


async def test_user_errors_in_a_payload_are_200(client: httpx.AsyncClient) -> None:
    before = await scalar("SELECT count(*) FROM tenant_alpha.org_units")
    response = await post(client, {"query": CREATE, "variables": {"input": {"name": "  ", "kind": "STORE"}}})
    assert response.status_code == 200
    assert response.json()["data"]["createOrgUnit"]["userErrors"] == [{"code": "REQUIRED"}]
    assert await scalar("SELECT count(*) FROM tenant_alpha.org_units") == before


@pytest.fixture
def failing_worker_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from services.core.diagnostics import service as diagnostics

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("relation tenant_alpha.secret_table does not exist")

    monkeypatch.setattr(diagnostics, "get_worker_check", broken)
    yield


@pytest.mark.usefixtures("failing_worker_checks")
@pytest.mark.parametrize("accept", [GRJ, JSON])
async def test_masked_field_error_with_data_is_200(client: httpx.AsyncClient, accept: str) -> None:
    query = '{ __typename workerCheck(id: "8b0c1f6e-4a57-4a1b-9d1e-2f1f1f1f1f1f") { id } }'
    response = await post(client, {"query": query}, accept=accept)
    assert response.status_code == 200
    assert media_type(response) == f"{accept}; charset=utf-8"
    body = response.json()
    assert body["data"]["workerCheck"] is None
    assert body["data"]["__typename"] == "Query"
    assert body["errors"][0]["message"] == "Internal server error"
    assert body["errors"][0]["path"] == ["workerCheck"]
    assert "secret_table" not in response.text


async def test_field_error_that_nulls_the_root_is_still_200(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.core.org import service as org_service

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom in secret_table")

    monkeypatch.setattr(org_service, "list_org_units", broken)
    response = await post(client, {"query": QUERY})  # orgUnits is non-null: data becomes null
    assert response.status_code == 200
    body = response.json()
    assert "data" in body and body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret_table" not in response.text


@pytest.mark.parametrize(("accept", "status"), [(GRJ, 500), (JSON, 200)])
async def test_unexpected_failure_outside_resolvers_is_masked_and_logged(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    accept: str, status: int,
) -> None:
    from services.api.quiet import Validate

    def broken_on_validate(self: Any) -> Iterator[None]:
        raise RuntimeError("validation cache lost secret_table")
        yield

    monkeypatch.setattr(Validate, "on_validate", broken_on_validate)
    monkeypatch.setattr(failures, "_last", {})  # a traceback once per cause a minute: this test's is the first
    caplog.set_level(logging.ERROR, logger="complaintdesk.api.errors")
    response = await post(client, {"query": "{ users { email } }"}, accept=accept)
    body = assert_request_error(response, status, media=accept)
    assert body["errors"] == [{
        "message": "Internal server error",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": response.headers["x-request-id"]},
    }]
    assert "secret_table" not in response.text
    logged = [r for r in caplog.records if r.name == "complaintdesk.api.errors"]
    assert logged and logged[0].exc_info is not None
    assert getattr(logged[0], "request_id", None) == response.headers["x-request-id"]


async def test_caches_keep_working(client: httpx.AsyncClient) -> None:
    """Same document twice (ParserCache, Validate's cache hits): same answers, errors included."""
    for _ in range(2):
        assert (await post(client, {"query": QUERY})).status_code == 200
        assert_request_error(await post(client, {"query": "{ orgUnits { nope } }"}), 400)


# --- Malformed requests: 400 whatever the media type ---------------------------------------------------------------

MALFORMED = {
    "no query": {"variables": {}},
    "typo in query": {"qeury": QUERY},
    "null query": {"query": None},
    "query not a string": {"query": ["{ orgUnits { id } }"]},
    "variables not an object": {"query": QUERY, "variables": [7]},
    "variables a string": {"query": QUERY, "variables": "{}"},
    "extensions not an object": {"query": QUERY, "extensions": 1},
    "operationName not a string": {"query": QUERY, "operationName": 1},
}


@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("accept", [GRJ, JSON])
async def test_malformed_parameters_are_400(client: httpx.AsyncClient, case: str, accept: str) -> None:
    assert_refused(await post(client, MALFORMED[case], accept=accept), 400, "BAD_REQUEST", media=accept)


BAD_BODIES = {
    "not json": (b"NONSENSE", "not valid JSON"),
    "truncated json": (b'{"query":', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "number": (b"42", "JSON object"),
    "string": (b'"{ orgUnits { id } }"', "JSON object"),
    "null": (b"null", "JSON object"),
    "batch": (json.dumps([{"query": QUERY}, {"query": QUERY}]).encode(), "batched requests"),
    "not utf-8": ('{"query": "{ orgUnits { id } }", "x": "é"}'.encode("latin-1"), "UTF-8"),
    "nested too deeply": (b'{"query": "{ users { email } }", "variables": {"a": ' + b"[" * 100_000 + b"}", "deeply"),
}


@pytest.mark.parametrize("case", BAD_BODIES)
@pytest.mark.parametrize("accept", [GRJ, JSON])
async def test_bad_bodies_are_400(client: httpx.AsyncClient, case: str, accept: str) -> None:
    content, message = BAD_BODIES[case]
    text = assert_refused(await post(client, content=content, accept=accept), 400, "BAD_REQUEST", media=accept)
    assert message.lower() in text.lower()


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/graphql", f"{GRJ}", "application/jsonx", "application/json; charset=latin-1"],
)
async def test_other_content_types_are_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    response = await post(client, {"query": create_unit("never-415")}, content_type=content_type)
    assert_refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert await scalar(COUNT_UNITS, name="never-415") == 0


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"]
)
async def test_json_content_type_with_parameters(client: httpx.AsyncClient, content_type: str) -> None:
    response = await post(client, {"query": QUERY}, content_type=content_type)
    assert response.status_code == 200, response.text


async def test_non_ascii_query_round_trips(client: httpx.AsyncClient) -> None:
    name = "Filiale München 上海"
    response = await post(client, {"query": CREATE, "variables": {"input": {"name": name, "kind": "STORE"}}})
    assert response.status_code == 200, response.text
    assert await scalar(COUNT_UNITS, name=name) == 1


# --- GET -----------------------------------------------------------------------------------------------------------


async def test_query_over_get(client: httpx.AsyncClient) -> None:
    response = await get(client, {"query": QUERY})
    assert response.status_code == 200
    assert media_type(response) == f"{GRJ}; charset=utf-8"
    assert isinstance(response.json()["data"]["orgUnits"], list)


async def test_get_with_variables_operation_name_and_extensions(client: httpx.AsyncClient) -> None:
    params = {
        "query": "query Units($kind: OrgUnitKind) { orgUnits(kind: $kind) { kind } } query Other { users { email } }",
        "variables": json.dumps({"kind": "STORE"}),
        "operationName": "Units",
        "extensions": json.dumps({}),
    }
    response = await get(client, params, accept=JSON)
    assert response.status_code == 200, response.text
    assert media_type(response) == f"{JSON}; charset=utf-8"
    assert {unit["kind"] for unit in response.json()["data"]["orgUnits"]} <= {"STORE"}


async def test_get_empty_operation_name_means_none(client: httpx.AsyncClient) -> None:
    response = await get(client, {"query": QUERY, "operationName": "", "variables": ""})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("accept", [GRJ, JSON])
async def test_mutation_over_get_is_405_and_nothing_runs(client: httpx.AsyncClient, accept: str) -> None:
    response = await get(client, {"query": create_unit("never-get")}, accept=accept)
    message = assert_refused(response, 405, "METHOD_NOT_ALLOWED", media=accept)
    assert "mutations" in message
    assert response.headers["allow"] == "POST"
    assert await scalar(COUNT_UNITS, name="never-get") == 0


async def test_get_selects_the_mutation_by_operation_name(client: httpx.AsyncClient) -> None:
    document = "query Read { orgUnits { id } } " + create_unit("never-get-named", "Write")
    refused = await get(client, {"query": document, "operationName": "Write"})
    assert refused.status_code == 405
    assert refused.headers["allow"] == "POST"
    assert await scalar(COUNT_UNITS, name="never-get-named") == 0
    allowed = await get(client, {"query": document, "operationName": "Read"})
    assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": QUERY, "variables": "{not json"}, "'variables' parameter is not valid JSON"),
        ({"query": QUERY, "variables": "[1]"}, "must be an object"),
        ({"query": QUERY, "extensions": "nope"}, "'extensions' parameter is not valid JSON"),
        ({"variables": "{}"}, "no GraphQL query"),
        ([("query", QUERY), ("query", "{ users { email } }")], "more than once"),
    ],
)
async def test_malformed_get_is_400(
    client: httpx.AsyncClient, params: dict[str, str] | list[tuple[str, str]], message: str
) -> None:
    assert message in assert_refused(await get(client, params), 400, "BAD_REQUEST")


async def test_get_document_errors_follow_the_media_type(client: httpx.AsyncClient) -> None:
    assert_request_error(await get(client, {"query": "{ orgUnits { nope } }"}), 400)
    assert_request_error(await get(client, {"query": "{ orgUnits { nope } }"}, accept=JSON), 200, media=JSON)


async def test_head_is_405(client: httpx.AsyncClient) -> None:
    response = await client.head("/graphql?" + urlencode({"query": QUERY}), headers=await staff_headers())
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


# --- The edge answers first ---------------------------------------------------------------------------------------


async def test_edge_errors_follow_the_negotiation(client: httpx.AsyncClient) -> None:
    """The edge refuses before GraphQL runs; its errors still use the negotiated media type."""
    unknown = {"x-tenant": "nosuch-co"}
    response = await client.post("/graphql", json={"query": QUERY}, headers={"accept": GRJ, **unknown})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/graphql-response+json; charset=utf-8"
    assert response.json()["errors"][0]["extensions"]["code"] == "TENANT_NOT_FOUND"
    legacy = await client.post("/graphql", json={"query": QUERY}, headers={"accept": JSON, **unknown})
    assert legacy.status_code == 404
    assert legacy.headers["content-type"].startswith(JSON)
    unacceptable = await client.post("/graphql", json={"query": QUERY}, headers={"accept": "text/plain", **unknown})
    assert unacceptable.status_code == 404  # the tenant error, in the fallback type
    assert unacceptable.headers["content-type"].startswith(JSON)
    for accept, media in ((GRJ, GRJ), (JSON, JSON), ("text/plain", JSON)):
        bad_token = await client.post("/graphql", json={"query": QUERY},
                                      headers={"accept": accept, "authorization": "Bearer not.a.token"})
        assert bad_token.status_code == 401
        assert bad_token.headers["content-type"].startswith(media)
        assert bad_token.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert bad_token.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
