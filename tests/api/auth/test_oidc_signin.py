"""Sign-in with a tenant's identity provider (authorization code with PKCE), against a real local OIDC provider:
discovery, the authorization redirect, the token endpoint's PKCE and single-use codes, RS256 ID tokens with a nonce.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from api.auth.authkit import ADMIN, ME, bearer, create_staff
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import execute, scalar
from oidc_provider import OidcProvider, s256

from services.core.auth import oidc, oidc_signin

REDIRECT = "http://console.test.example/oidc/callback"
UPSERT = """
mutation ($input: UpsertIdentityProviderInput!) {
  upsertIdentityProvider(input: $input) {
    identityProvider { id issuer audience displayName hasClientSecret active }
    userErrors { field message code }
  }
}
"""
PROVIDERS = "{ signInProviders { id displayName authorizationEndpoint clientId scope } }"
SIGN_IN = """
mutation ($input: SignInWithOidcInput!) {
  signInWithOidc(input: $input) {
    accessToken refreshToken expiresAt user { email }
    userErrors { field message code }
  }
}
"""


async def retire(provider: OidcProvider) -> None:
    """The provider is stopped: the shared tenants no longer offer it (their sign-in screens stay short)."""
    provider.stop()
    for tenant in (TENANT_A, TENANT_B):
        await execute(f"UPDATE tenant_{tenant}.identity_providers SET active = false WHERE issuer = :i",
                      i=provider.issuer)
    oidc_signin.discovery_cache.clear()


@pytest.fixture
async def idp() -> AsyncIterator[OidcProvider]:
    provider = OidcProvider(client_id=f"console-{uuid.uuid4().hex[:6]}").start()
    oidc.jwks_cache.clear()
    oidc_signin.discovery_cache.clear()
    try:
        yield provider
    finally:
        await retire(provider)


async def register(gql: GraphQLClient, idp: OidcProvider, *, tenant: str = TENANT_A, **fields: Any) -> dict[str, Any]:
    data = await gql(UPSERT, {"input": {"issuer": idp.issuer, "audience": idp.client_id,
                                        "jwksUri": f"{idp.base}/jwks.json", "displayName": "Test IdP", **fields}},
                     tenant=tenant, user=ADMIN)
    payload: dict[str, Any] = data["upsertIdentityProvider"]
    assert payload["userErrors"] == [], payload
    return payload["identityProvider"]


async def offered(gql: GraphQLClient, tenant: str = TENANT_A) -> list[dict[str, Any]]:
    data = await gql(PROVIDERS, tenant=tenant, user=None)
    return list(data["signInProviders"])


class Flow:
    """What the console keeps in the tab: state, nonce and PKCE verifier; and the IdP's redirect back."""

    def __init__(self) -> None:
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)

    async def authorize(self, offer: dict[str, Any], email: str) -> str:
        """The browser's part: the authorization request, the user signs in on the IdP's page, the redirect's code."""
        params = {"response_type": "code", "client_id": offer["clientId"], "redirect_uri": REDIRECT,
                  "scope": offer["scope"], "state": self.state, "nonce": self.nonce,
                  "code_challenge": s256(self.verifier), "code_challenge_method": "S256"}
        async with httpx.AsyncClient() as browser:
            page = await browser.get(offer["authorizationEndpoint"] + "?" + urlencode(params))
            assert page.status_code == 200 and "<form" in page.text
            answer = await browser.post(offer["authorizationEndpoint"], data={**params, "login": email})
        assert answer.status_code == 302
        location = urlsplit(answer.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
        query = parse_qs(location.query)
        assert query["state"] == [self.state]
        return query["code"][0]


async def sign_in(gql: GraphQLClient, provider_id: str, code: str, flow: Flow, *, tenant: str = TENANT_A,
                  **overrides: Any) -> dict[str, Any]:
    variables = {"input": {"tenant": tenant, "providerId": provider_id, "code": code, "codeVerifier": flow.verifier,
                           "redirectUri": REDIRECT, "nonce": flow.nonce, **overrides}}
    response = await gql.post(SIGN_IN, variables, tenant=None, user=None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["signInWithOidc"]
    return payload


async def refresh_tokens(email: str, tenant: str = TENANT_A) -> int:
    return int(await scalar(f"SELECT count(*) FROM tenant_{tenant}.refresh_tokens r JOIN tenant_{tenant}.users u "
                            "ON u.id = r.user_id WHERE u.email = :e", e=email))


def refused(payload: dict[str, Any], code: str, field: list[str] | None = None) -> None:
    assert payload["accessToken"] is None and payload["refreshToken"] is None and payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)], payload


@pytest.fixture
def fresh(client_at: Callable[..., AbstractAsyncContextManager[GraphQLClient]]) -> Callable[
        ..., AbstractAsyncContextManager[GraphQLClient]]:
    return client_at  # each test signs in from a client address of its own (the sign-in throttle counts per address)


async def test_the_provider_is_offered_and_its_code_signs_the_user_in(
    gql: GraphQLClient, idp: OidcProvider, fresh: Any
) -> None:
    provider = await register(gql, idp)
    assert provider["displayName"] == "Test IdP" and provider["hasClientSecret"] is False
    offers = [o for o in await offered(gql) if o["id"] == provider["id"]]
    assert offers == [{"id": provider["id"], "displayName": "Test IdP",
                       "authorizationEndpoint": f"{idp.base}/authorize", "clientId": idp.client_id,
                       "scope": "openid email"}]
    assert all(o["id"] != provider["id"] for o in await offered(gql, TENANT_B))  # the other tenant does not offer it
    staff = await create_staff(gql, password=None)
    flow = Flow()
    code = await flow.authorize(offers[0], staff.email.upper())

    async with fresh() as c:
        payload = await sign_in(c, provider["id"], code, flow)
        assert payload["userErrors"] == [] and payload["user"] == {"email": staff.email}
        me = await bearer(c, payload["accessToken"], ME)
        assert me.json()["data"]["me"]["email"] == staff.email
        refreshed = await c.post("mutation ($t: String!) { refreshToken(input: {refreshToken: $t}) { accessToken } }",
                                 {"t": payload["refreshToken"]}, tenant=None, user=None)
        assert refreshed.json()["data"]["refreshToken"]["accessToken"]  # a session like login's
    assert await refresh_tokens(staff.email) == 2


async def test_a_wrong_verifier_a_replayed_code_and_a_wrong_nonce_are_refused(
    gql: GraphQLClient, idp: OidcProvider, fresh: Any
) -> None:
    provider = await register(gql, idp)
    offer = next(o for o in await offered(gql) if o["id"] == provider["id"])
    staff = await create_staff(gql, password=None)

    async with fresh() as c:
        flow = Flow()
        code = await flow.authorize(offer, staff.email)
        refused(await sign_in(c, provider["id"], code, flow, codeVerifier=secrets.token_urlsafe(48)),
                "INVALID_CREDENTIALS")
        assert await refresh_tokens(staff.email) == 0

        flow = Flow()
        code = await flow.authorize(offer, staff.email)
        first = await sign_in(c, provider["id"], code, flow)
        assert first["userErrors"] == []
        refused(await sign_in(c, provider["id"], code, flow), "INVALID_CREDENTIALS")  # the code again
        assert await refresh_tokens(staff.email) == 1

        flow = Flow()
        code = await flow.authorize(offer, staff.email)
        refused(await sign_in(c, provider["id"], code, flow, nonce=secrets.token_urlsafe(16)), "INVALID_CREDENTIALS")
        idp.nonce_override = "not-the-nonce-the-console-sent"  # an ID token with another nonce than asked for
        flow = Flow()
        code = await flow.authorize(offer, staff.email)
        refused(await sign_in(c, provider["id"], code, flow), "INVALID_CREDENTIALS")
        assert await refresh_tokens(staff.email) == 1


async def test_unknown_and_inactive_users_are_refused(gql: GraphQLClient, idp: OidcProvider, fresh: Any) -> None:
    provider = await register(gql, idp)
    offer = next(o for o in await offered(gql) if o["id"] == provider["id"])
    inactive = await create_staff(gql, password=None)
    await execute("UPDATE tenant_alpha.users SET active = false WHERE email = :e", e=inactive.email)
    async with fresh() as c:
        for email in (f"nobody-{uuid.uuid4().hex[:8]}@test.example", inactive.email):
            flow = Flow()
            code = await flow.authorize(offer, email)
            refused(await sign_in(c, provider["id"], code, flow), "INVALID_CREDENTIALS")
    assert await refresh_tokens(inactive.email) == 0


async def test_another_tenants_provider_an_inactive_one_and_a_made_up_id_answer_alike(
    gql: GraphQLClient, idp: OidcProvider, fresh: Any
) -> None:
    theirs = await register(gql, idp, tenant=TENANT_B)
    ours = await register(gql, idp)
    staff = await create_staff(gql, password=None)
    flow = Flow()
    offer = next(o for o in await offered(gql, TENANT_B) if o["id"] == theirs["id"])
    code = await flow.authorize(offer, staff.email)
    made_up = base64.b64encode(f"IdentityProvider:{uuid.uuid4()}".encode()).decode()
    requests_before = idp.token_requests
    async with fresh() as c:
        answers = [await sign_in(c, provider_id, code, flow) for provider_id in (theirs["id"], made_up)]
        for payload in answers:
            refused(payload, "NOT_FOUND", ["providerId"])
        assert answers[0] == answers[1]
        await register(gql, idp, active=False)
        assert all(o["id"] != ours["id"] for o in await offered(gql))
        inactive = await sign_in(c, ours["id"], code, flow)
        assert inactive == answers[0]
    assert idp.token_requests == requests_before  # the code was never sent anywhere
    assert await refresh_tokens(staff.email) == 0


async def test_a_confidential_clients_secret_is_sealed_used_and_never_returned(
    gql: GraphQLClient, fresh: Any
) -> None:
    secret = secrets.token_urlsafe(24)
    idp = OidcProvider(client_id=f"console-{uuid.uuid4().hex[:6]}", client_secret=secret).start()
    try:
        provider = await register(gql, idp, clientSecret=secret)
        assert provider["hasClientSecret"] is True
        stored = await scalar("SELECT client_secret FROM tenant_alpha.identity_providers WHERE issuer = :i",
                              i=idp.issuer)
        assert stored and secret.encode() not in bytes(stored)
        listing = await gql("{ identityProviders { issuer hasClientSecret } }", user=ADMIN)
        assert secret not in str(listing)
        offer = next(o for o in await offered(gql) if o["id"] == provider["id"])
        assert secret not in str(offer)
        staff = await create_staff(gql, password=None)
        async with fresh() as c:
            flow = Flow()
            code = await flow.authorize(offer, staff.email)
            assert (await sign_in(c, provider["id"], code, flow))["userErrors"] == []
            # an upsert without clientSecret keeps it; clearClientSecret removes it, and the IdP then refuses
            assert (await register(gql, idp))["hasClientSecret"] is True
            assert (await register(gql, idp, clearClientSecret=True))["hasClientSecret"] is False
            flow = Flow()
            code = await flow.authorize(offer, staff.email)
            refused(await sign_in(c, provider["id"], code, flow), "INVALID_CREDENTIALS")
    finally:
        await retire(idp)


async def test_input_is_checked_before_any_call(gql: GraphQLClient, idp: OidcProvider, fresh: Any) -> None:
    provider = await register(gql, idp)
    flow = Flow()
    async with fresh() as c:
        refused(await sign_in(c, provider["id"], "x", flow, codeVerifier="short"), "INVALID", ["codeVerifier"])
        refused(await sign_in(c, provider["id"], "x", flow, redirectUri="http://evil.example/elsewhere"),
                "INVALID", ["redirectUri"])
        mismatch = await c.post(SIGN_IN, {"input": {"tenant": TENANT_A, "providerId": provider["id"], "code": "x",
                                                    "codeVerifier": flow.verifier, "redirectUri": REDIRECT,
                                                    "nonce": flow.nonce}}, tenant=TENANT_B, user=None)
        refused(mismatch.json()["data"]["signInWithOidc"], "TENANT_MISMATCH", ["tenant"])
    assert idp.token_requests == 0


async def test_the_public_tenant_info_names_the_time_zone(gql: GraphQLClient) -> None:
    data = await gql("{ tenantInfo { name timeZone locale } }", user=None)
    info = data["tenantInfo"]
    zone = await scalar("SELECT timezone FROM tenant_alpha.tenant_settings WHERE id = 1")
    name = await scalar("SELECT display_name FROM public.tenants WHERE slug = 'alpha'")
    locale = await scalar("SELECT locale FROM tenant_alpha.tenant_settings WHERE id = 1")
    assert info == {"name": name, "timeZone": zone, "locale": locale or "zh-CN"}
    missing = await gql.post("{ tenantInfo { name } }", tenant=None, user=None)
    assert missing.json()["errors"][0]["extensions"]["code"] == "TENANT_REQUIRED"
