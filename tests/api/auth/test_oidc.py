"""Tokens of a tenant's own OpenID Connect provider, checked against its JWKS served from a real local server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from api.auth.authkit import ADMIN, ME, bearer, create_staff
from conftest import TENANT_A, TENANT_B, GraphQLClient, access_token
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from helpers import raw, scalar
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from sqlalchemy import text

from services.core.auth import oidc

AUDIENCE = "spa-client"
UPSERT = """
mutation ($input: UpsertIdentityProviderInput!) {
  upsertIdentityProvider(input: $input) {
    identityProvider { id issuer audience jwksUri jwks emailClaim active }
    userErrors { field message code }
  }
}
"""
STAFF_QUERY = "{ me { email } complaints(first: 1) { totalCount } }"


class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose key set the test changes; counts the fetches."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps(server.jwks).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The JWKS cache's clock, moved by the test (no sleeping through 30-second and 10-minute windows)."""
    fake = Clock()
    oidc.jwks_cache.clear()
    monkeypatch.setattr(oidc.jwks_cache, "clock", fake)
    yield fake
    oidc.jwks_cache.clear()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str, algorithm: str) -> dict[str, Any]:
    public = key.public_key()
    tool = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[algorithm]
    data: dict[str, Any] = tool.to_jwk(public, as_dict=True)
    return {**data, "kid": kid, "alg": algorithm, "use": "sig"}


def id_token(key: Any, kid: str | None, issuer: str, *, algorithm: str = "RS256", audience: str = AUDIENCE,
             email: str = "x@test.example", expires_in: int = 300, **extra: Any) -> str:
    now = datetime.now(UTC)
    claims = {"iss": issuer, "aud": audience, "sub": uuid.uuid4().hex, "email": email,
              "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=expires_in)).timestamp()), **extra}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


async def provider(gql: GraphQLClient, issuer: str, **fields: Any) -> dict[str, Any]:
    data = await gql(UPSERT, {"input": {"issuer": issuer, "audience": AUDIENCE, **fields}}, user=ADMIN)
    payload: dict[str, Any] = data["upsertIdentityProvider"]
    assert payload["userErrors"] == [], payload
    return payload


async def me(gql: GraphQLClient, token: str, tenant: str | None = TENANT_A) -> Any:
    return await bearer(gql, token, ME, headers={"x-tenant": tenant} if tenant else None)


def issuer_name() -> str:
    return f"https://idp-{uuid.uuid4().hex[:8]}.test.example/"


async def test_tokens_of_the_tenants_provider_sign_in_and_follow_key_rotation(
    gql: GraphQLClient, jwks_server: JwksServer, clock: Clock
) -> None:
    k1, k2 = rsa_key(), rsa_key()
    jwks_server.jwks = {"keys": [jwk(k1, "k1", "RS256")]}
    issuer = issuer_name()
    await provider(gql, issuer, jwksUri=jwks_server.url)
    staff = await create_staff(gql, password=None)
    token = id_token(k1, "k1", issuer, email=staff.email.upper())

    response = await me(gql, token)
    assert response.json()["data"]["me"]["email"] == staff.email
    assert jwks_server.fetches == 1
    assert (await me(gql, token)).status_code == 200
    assert jwks_server.fetches == 1  # cached

    # an external token needs the tenant named; another tenant does not trust this issuer
    no_tenant = await me(gql, token, tenant=None)
    assert no_tenant.status_code == 400
    assert no_tenant.json()["errors"][0]["extensions"]["code"] == "TENANT_REQUIRED"
    assert (await me(gql, token, tenant=TENANT_B)).status_code == 401

    # the provider rotates: k2 replaces k1
    jwks_server.jwks = {"keys": [jwk(k2, "k2", "RS256")]}
    new = id_token(k2, "k2", issuer, email=staff.email)
    assert (await me(gql, new)).status_code == 401  # unknown kid, but the last fetch is under 30 s old
    assert jwks_server.fetches == 1
    clock.now += 31
    assert (await me(gql, new)).json()["data"]["me"]["email"] == staff.email  # refetched
    assert jwks_server.fetches == 2
    old = id_token(k1, "k1", issuer, email=staff.email)
    assert (await me(gql, old)).status_code == 401  # k1 is gone from the cache already
    clock.now += 31
    assert (await me(gql, old)).status_code == 401  # refetched: still gone
    assert jwks_server.fetches == 3
    for _ in range(3):
        assert (await me(gql, new)).status_code == 200
    assert jwks_server.fetches == 3
    clock.now += 601  # the cache lasts 10 minutes
    assert (await me(gql, new)).status_code == 200
    assert jwks_server.fetches == 4


async def test_tokens_that_do_not_fit_are_refused(gql: GraphQLClient, jwks_server: JwksServer, clock: Clock) -> None:
    key, stranger = rsa_key(), rsa_key()
    jwks_server.jwks = {"keys": [jwk(key, "k1", "RS256")]}
    issuer = issuer_name()
    await provider(gql, issuer, jwksUri=jwks_server.url)
    staff = await create_staff(gql, password=None)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    refused = {
        "wrong audience": id_token(key, "k1", issuer, email=staff.email, audience="another-app"),
        "expired": id_token(key, "k1", issuer, email=staff.email, expires_in=-120),
        "unknown issuer": id_token(key, "k1", "https://unknown.test.example/", email=staff.email),
        "signed by another key": id_token(stranger, "k1", issuer, email=staff.email),
        "e-mail not verified": id_token(key, "k1", issuer, email=staff.email, email_verified=False),
        "no e-mail": id_token(key, "k1", issuer, email=""),
        "HS256 with the public key": _hs256(public_pem, issuer, staff.email),
    }
    for case, token in refused.items():
        response = await me(gql, token)
        assert response.status_code == 401, case
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", case
        expected = "the access token has expired" if case == "expired" else "the access token is not valid"
        assert response.json()["errors"][0]["message"] == expected, case

    # a well-made token for an e-mail that is no (active) user of the tenant signs nobody in
    nobody = await me(gql, id_token(key, "k1", issuer, email="nobody-at-all@test.example"))
    assert nobody.status_code == 200 and nobody.json()["data"]["me"] is None
    async with raw() as conn:
        await conn.execute(text("UPDATE tenant_alpha.users SET active = false WHERE email = :e"), {"e": staff.email})
        await conn.commit()
    inactive = await bearer(gql, id_token(key, "k1", issuer, email=staff.email), STAFF_QUERY,
                            headers={"x-tenant": TENANT_A})
    assert [e["extensions"]["code"] for e in inactive.json()["errors"]] == ["UNAUTHENTICATED"]

    # a provider switched off is trusted no more
    await provider(gql, issuer, jwksUri=jwks_server.url, active=False)
    assert (await me(gql, id_token(key, "k1", issuer, email="x@test.example"))).status_code == 401


def _hs256(secret: bytes, issuer: str, email: str) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": issuer, "aud": AUDIENCE, "email": email, "iat": now, "exp": now + 300}
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


async def test_inline_jwks_with_es256_and_eddsa_keys(gql: GraphQLClient) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    issuer = issuer_name()
    await provider(gql, issuer, jwks={"keys": [jwk(ec_key, "ec", "ES256"), jwk(ed_key, "ed", "EdDSA")]},
                   emailClaim="upn")
    staff = await create_staff(gql, password=None)
    for key, kid, algorithm in ((ec_key, "ec", "ES256"), (ed_key, "ed", "EdDSA")):
        token = id_token(key, kid, issuer, algorithm=algorithm, email="ignored@test.example", upn=staff.email)
        assert (await me(gql, token)).json()["data"]["me"]["email"] == staff.email, algorithm
    # the key decides the algorithm: an ES256 key named with another algorithm does not verify
    confused = id_token(ed_key, "ec", issuer, algorithm="EdDSA", upn=staff.email)
    assert (await me(gql, confused)).status_code == 401


async def test_identity_providers_are_for_tenant_admins_and_checked(gql: GraphQLClient) -> None:
    issuer = issuer_name()
    key = rsa_key()
    receiver = "receiver@test.example"
    denied = await gql(UPSERT, {"input": {"issuer": issuer, "audience": AUDIENCE,
                                          "jwks": {"keys": [jwk(key, "k", "RS256")]}}}, user=receiver)
    assert [e["code"] for e in denied["upsertIdentityProvider"]["userErrors"]] == ["NOT_ALLOWED"]
    assert await scalar("SELECT count(*) FROM tenant_alpha.identity_providers WHERE issuer = :i", i=issuer) == 0
    listing = await gql.post("{ identityProviders { issuer } }", user=receiver)
    assert [e["extensions"]["code"] for e in listing.json()["errors"]] == ["FORBIDDEN"]

    private = RSAAlgorithm.to_jwk(key, as_dict=True)
    cases = {
        "private key": ({"jwks": {"keys": [private]}}, ["jwks"], "INVALID"),
        "both": ({"jwks": {"keys": [jwk(key, "k", "RS256")]}, "jwksUri": "https://idp.example/jwks"},
                 ["jwksUri"], "INVALID"),
        "neither": ({}, ["jwksUri"], "INVALID"),
        "plain http elsewhere": ({"jwksUri": "http://idp.example/jwks"}, ["jwksUri"], "INVALID"),
        "not a url": ({"jwksUri": "file:///etc/passwd"}, ["jwksUri"], "INVALID"),
        "no usable key": ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, ["jwks"], "INVALID"),
        "our own issuer": ({"issuer": "complaintdesk", "jwksUri": "https://idp.example/jwks"}, ["issuer"],
                           "INVALID"),
        "blank audience": ({"audience": " ", "jwksUri": "https://idp.example/jwks"}, ["audience"], "REQUIRED"),
        "bad claim": ({"emailClaim": "e mail", "jwksUri": "https://idp.example/jwks"}, ["emailClaim"], "INVALID"),
    }
    for case, (fields, field, code) in cases.items():
        data = await gql(UPSERT, {"input": {"issuer": issuer, "audience": AUDIENCE, **fields}}, user=ADMIN)
        errors = data["upsertIdentityProvider"]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, code)], (case, errors)
    async with raw() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM tenant_alpha.identity_providers WHERE issuer = :i"),
                                  {"i": issuer})
    assert count == 0

    created = await provider(gql, issuer, jwksUri="https://idp.example/jwks")
    updated = await provider(gql, issuer, jwksUri="https://idp.example/jwks2", audience="other")
    assert updated["identityProvider"]["id"] == created["identityProvider"]["id"]
    assert updated["identityProvider"]["audience"] == "other"
    listed = await gql("{ identityProviders { id issuer jwksUri } }", user=ADMIN)
    assert [p for p in listed["identityProviders"] if p["issuer"] == issuer] == [  # one, updated in place
        {"id": created["identityProvider"]["id"], "issuer": issuer, "jwksUri": "https://idp.example/jwks2"}]
    node = "query ($id: ID!) { node(id: $id) { id } }"
    provider_id = created["identityProvider"]["id"]
    assert (await gql(node, {"id": provider_id}, user=ADMIN))["node"] == {"id": provider_id}
    assert (await gql(node, {"id": provider_id}, user=receiver))["node"] is None
    beta_admin = await access_token(TENANT_B, ADMIN)
    assert beta_admin is not None
    assert (await bearer(gql, beta_admin, node, {"id": provider_id})).json()["data"]["node"] is None
