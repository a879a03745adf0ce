"""zh-CN and en for what the API answers outside a payload (issue 14 point 3): top-level GraphQL errors and the
HTTP-level refusals in the request's language (the signed-in user's choice, else Accept-Language, else the tenant's
default), their ``extensions.code`` the same in every language; the policy's refusals and ``canI`` naming the action
in the reader's language; Apollo's ``PersistedQueryNotFound`` the same in every language; the lifecycle's step labels
(``availableActions``) from the catalogs.

Expected texts are written out here (the catalogs' translations as a reader sees them), never taken from the code.
"""

from __future__ import annotations

from typing import Any

import httpx
from api.auth.authkit import create_staff
from conftest import TENANT_A, TENANT_B, GraphQLClient
from lifecycle import record

from services.core.tenancy import resolve_tenant, tenant_session

ORG_UNITS = "{ orgUnits { id } }"
TRACK = 'query { trackComplaint(number: "2611000001", accessCode: "x") { status } }'
POLICIES = "{ policies { version } }"
CAN_I = "query ($action: String!) { canI(action: $action) { allowed reason } }"
PREFER = """mutation ($input: UpdateMyPreferencesInput!) { updateMyPreferences(input: $input) {
  locale userErrors { code } } }"""
ACTIONS = "query ($id: ID!) { complaint(id: $id) { availableActions { mutation label labelZh } } }"
PERSISTED = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}


async def refused(gql: GraphQLClient, query: str, *, tenant: str | None, user: str | None, language: str | None,
                  headers: dict[str, str | None] | None = None) -> tuple[int, list[tuple[str, str]]]:
    """The status and the (code, message) of each top-level error."""
    response = await gql.post(query, tenant=tenant, user=user,
                              headers={"accept-language": language, **(headers or {})})
    body = response.json()
    assert body.get("errors"), body
    return response.status_code, [(e["extensions"]["code"], e["message"]) for e in body["errors"]]


async def test_top_level_errors_read_in_the_requests_language(gql: GraphQLClient) -> None:
    cases: list[tuple[str, dict[str, Any], tuple[int, str], str, str]] = [
        ("no token, a staff operation", {"query": ORG_UNITS, "tenant": TENANT_A, "user": None},
         (200, "UNAUTHENTICATED"), "sign-in required: this operation is for the company's staff",
         "需要登录：此操作仅供本公司员工使用"),
        ("no tenant named", {"query": TRACK, "tenant": None, "user": None}, (400, "TENANT_REQUIRED"),
         "a tenant is required: send an access token, the X-Tenant header or use the tenant's host name",
         "需要指明租户：请发送访问令牌、X-Tenant 请求头，或使用租户的主机名"),
        ("an unknown tenant (the edge)", {"query": TRACK, "tenant": "nosuchtenant", "user": None},
         (404, "TENANT_NOT_FOUND"), "unknown tenant 'nosuchtenant'", "未知租户 'nosuchtenant'"),
        ("a token that is not ours (the edge)",
         {"query": ORG_UNITS, "tenant": None, "user": None, "headers": {"authorization": "Bearer not-a-token"}},
         (401, "UNAUTHENTICATED"), "the access token is not valid", "访问令牌无效"),
    ]
    for what, call, (status, code), en, zh in cases:
        for language, expected in (("en", en), ("zh-CN", zh), ("zh-Hans-CN,en;q=0.5", zh), ("fr, en;q=0.3", en)):
            assert await refused(gql, **call, language=language) == (status, [(code, expected)]), (what, language)
    # no Accept-Language: the platform's default language where nothing else is known (zh-CN)
    assert await refused(gql, TRACK, tenant="nosuchtenant", user=None, language=None) == (
        404, [("TENANT_NOT_FOUND", "未知租户 'nosuchtenant'")])


async def test_http_level_refusals_read_in_the_requests_language(client: httpx.AsyncClient) -> None:
    answers = {}
    for language in ("en", "zh-CN"):
        response = await client.post("/graphql", content=b"[1, 2]", headers={
            "content-type": "application/json", "x-tenant": TENANT_A, "accept-language": language})
        assert response.status_code == 400
        [error] = response.json()["errors"]
        answers[language] = (error["extensions"]["code"], error["message"])
        wrong = await client.post("/graphql", content=b"{}", headers={
            "content-type": "text/plain", "x-tenant": TENANT_A, "accept-language": language})
        assert wrong.status_code == 415
        answers[f"{language} 415"] = (wrong.json()["errors"][0]["extensions"]["code"],
                                      wrong.json()["errors"][0]["message"])
    assert answers == {
        "en": ("BAD_REQUEST", "batched requests (a JSON array) are not supported; send one operation per request"),
        "zh-CN": ("BAD_REQUEST", "不支持批量请求（JSON 数组）；每个请求只发送一个操作"),
        "en 415": ("UNSUPPORTED_MEDIA_TYPE", "unsupported Content-Type 'text/plain'; send application/json"),
        "zh-CN 415": ("UNSUPPORTED_MEDIA_TYPE", "不支持的 Content-Type 'text/plain'；请发送 application/json"),
    }


async def test_persisted_query_not_found_is_apollos_text_in_every_language(client: httpx.AsyncClient) -> None:
    for language in ("en", "zh-CN"):
        response = await client.post("/graphql", json={"extensions": PERSISTED}, headers={
            "x-tenant": TENANT_A, "accept-language": language})
        assert response.status_code == 200
        assert [(e["extensions"]["code"], e["message"]) for e in response.json()["errors"]] == [
            ("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")]


async def test_refusals_name_the_action_in_the_signed_in_users_language(gql: GraphQLClient) -> None:
    """A receiver may not read or change the policies: FORBIDDEN (top level) and canI say so, in the user's own
    language whatever the request accepts, else in what it accepts; the code is the same."""
    chinese = await create_staff(gql, tenant=TENANT_A, roles=("receiver",))
    plain = await create_staff(gql, tenant=TENANT_A, roles=("receiver",))
    chose = await gql(PREFER, {"input": {"locale": "zh-CN"}}, tenant=TENANT_A, user=chinese.email)
    assert chose["updateMyPreferences"] == {"locale": "zh-CN", "userErrors": []}
    assert await refused(gql, POLICIES, tenant=TENANT_A, user=chinese.email, language="en") == (
        200, [("FORBIDDEN", "您无权查看权限策略")])
    assert await refused(gql, POLICIES, tenant=TENANT_A, user=plain.email, language="en") == (
        200, [("FORBIDDEN", "you may not read the policies")])
    assert await refused(gql, POLICIES, tenant=TENANT_A, user=plain.email, language="zh-CN") == (
        200, [("FORBIDDEN", "您无权查看权限策略")])

    async def can_i(user: str, language: str, action: str) -> dict[str, Any]:
        response = await gql.post(CAN_I, {"action": action}, tenant=TENANT_A, user=user,
                                  headers={"accept-language": language})
        result: dict[str, Any] = response.json()["data"]["canI"]
        return result

    assert await can_i(chinese.email, "en", "policy.write") == {"allowed": False, "reason": "您无权修改权限策略"}
    assert await can_i(plain.email, "en", "policy.write") == {"allowed": False,
                                                              "reason": "you may not change the policies"}
    assert await can_i(plain.email, "en", "complaint.record") == {"allowed": True, "reason": "allowed"}
    assert await can_i(chinese.email, "en", "complaint.record") == {"allowed": True, "reason": "允许"}
    assert await can_i(chinese.email, "en", "no.such") == {"allowed": False, "reason": "未知的操作 'no.such'"}


async def test_available_action_labels_come_from_the_catalogs(gql: GraphQLClient) -> None:
    """``label`` is English and ``labelZh`` Chinese whatever the request's language (the contract), both from the
    catalogs; two tenants, the same words."""
    for tenant in (TENANT_A, TENANT_B):
        case = await record(gql, tenant)
        for language in ("en", "zh-CN"):
            response = await gql.post(ACTIONS, {"id": case["id"]}, tenant=tenant, user="receiver@test.example",
                                      headers={"accept-language": language})
            found = {a["mutation"]: (a["label"], a["labelZh"])
                     for a in response.json()["data"]["complaint"]["availableActions"]}
            assert found["resolveOnTheSpot"] == ("Resolve on the spot", "当场解决"), (tenant, language)
            assert found["attachEvidence"] == ("Attach evidence", "上传证据"), (tenant, language)


async def test_the_tenants_default_decides_without_a_user_or_header(gql: GraphQLClient) -> None:
    """No preference and no Accept-Language: the tenant's default (read here, not assumed: tests may change it)."""
    tenant = await resolve_tenant(TENANT_B)
    from services.core.i18n.tenant import tenant_locale

    async with tenant_session(tenant) as session:
        default = await tenant_locale(session)
    expected = {"en": "sign-in required: this operation is for the company's staff",
                "zh-CN": "需要登录：此操作仅供本公司员工使用"}[default]
    assert await refused(gql, ORG_UNITS, tenant=TENANT_B, user=None, language=None) == (
        200, [("UNAUTHENTICATED", expected)])
