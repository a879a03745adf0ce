"""Access tokens at the edge, refresh token rotation and reuse detection, sign-out."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from api.auth.authkit import LOGOUT, ME, PASSWORD, REFRESH, bearer, create_staff, login
from conftest import TENANT_A, TENANT_B, GraphQLClient, access_token, add_staff
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import raw, rows, scalar
from sqlalchemy import text

from services.core.auth import tokens
from services.core.tenancy import TenantStatus, schema_for
from tenants.provision import create_tenant, set_status

ClientAt = Callable[..., AbstractAsyncContextManager[GraphQLClient]]
STAFF_QUERY = "{ me { email } complaints(first: 1) { totalCount } }"
CHALLENGE = 'Bearer error="invalid_token"'


def assert_401(response: Any, message: str = "the access token is not valid") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == CHALLENGE
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == message
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _user_uuid(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":", 1)[1])


# ---- refresh tokens ---------------------------------------------------------------------------------------------


async def _refresh(c: GraphQLClient, token: str) -> dict[str, Any]:
    response = await c.post(REFRESH, {"token": token}, tenant=None, user=None)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["refreshToken"]
    return payload


REFRESH_REFUSED = [{"field": None, "message": "the refresh token is not valid; sign in again",
                    "code": "INVALID_CREDENTIALS"}]


async def test_refresh_rotates_and_reuse_revokes_the_family(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        first = await login(c, TENANT_A, staff.email, PASSWORD)
        second = await _refresh(c, first["refreshToken"])
        assert second["userErrors"] == []
        assert second["refreshToken"] != first["refreshToken"]
        assert second["accessToken"] != first["accessToken"]
        assert second["user"] == {"email": staff.email}
        assert (await bearer(c, second["accessToken"], ME)).json()["data"]["me"]["email"] == staff.email
        third = await _refresh(c, second["refreshToken"])
        assert third["userErrors"] == []

        family = await rows("SELECT token_hash, used_at, revoked_at, family_id FROM tenant_alpha.refresh_tokens "
                            "WHERE user_id = :u ORDER BY issued_at", u=_user_uuid(staff.id))
        assert len(family) == 3 and len({r.family_id for r in family}) == 1
        assert [r.used_at is not None for r in family] == [True, True, False]
        assert all(r.revoked_at is None for r in family)

        # the first token again: someone kept a copy. Refused, and the whole sign-in is revoked
        replay = await _refresh(c, first["refreshToken"])
        assert replay["userErrors"] == REFRESH_REFUSED
        assert replay["accessToken"] is None and replay["refreshToken"] is None
        assert await scalar("SELECT count(*) FROM tenant_alpha.refresh_tokens WHERE family_id = :f "
                            "AND revoked_at IS NULL", f=family[0].family_id) == 0
        assert (await _refresh(c, third["refreshToken"]))["userErrors"] == REFRESH_REFUSED

        # another sign-in of the same user is another family, untouched
        other = await login(c, TENANT_A, staff.email, PASSWORD)
        assert (await _refresh(c, other["refreshToken"]))["userErrors"] == []


async def test_logout_revokes_the_sign_in(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        session = await login(c, TENANT_A, staff.email, PASSWORD)
        rotated = await _refresh(c, session["refreshToken"])
        response = await c.post(LOGOUT, {"token": rotated["refreshToken"]}, tenant=None, user=None)
        assert response.json()["data"]["logout"] == {"ok": True, "userErrors": []}
        assert (await _refresh(c, rotated["refreshToken"]))["userErrors"] == REFRESH_REFUSED
        tokens_before = await rows("SELECT id, used_at, revoked_at FROM tenant_alpha.refresh_tokens ORDER BY id")
        again = await c.post(LOGOUT, {"token": f"{TENANT_A}.{'x' * 43}"}, tenant=None, user=None)
        assert [e["code"] for e in again.json()["data"]["logout"]["userErrors"]] == ["INVALID_CREDENTIALS"]
        assert await rows("SELECT id, used_at, revoked_at FROM tenant_alpha.refresh_tokens ORDER BY id") == (
            tokens_before)


async def test_bad_refresh_tokens_are_refused(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        session = await login(c, TENANT_A, staff.email, PASSWORD)
        good = session["refreshToken"]
        secret = good.split(".", 1)[1]
        # one character changed (never to itself: a 32-byte secret's last base64 character is "A" one time in 16)
        edited = f"{TENANT_A}.{secret[:-1]}{'B' if secret.endswith('A') else 'A'}"
        for bad in ("", "garbage", f"{TENANT_B}.{secret}", edited, f"nosuch-co.{secret}", good + "x"):
            assert (await _refresh(c, bad))["userErrors"] == REFRESH_REFUSED, bad
        # a request that names another tenant cannot use it either
        response = await c.post(REFRESH, {"token": good}, tenant=TENANT_B, user=None)
        assert response.json()["data"]["refreshToken"]["userErrors"] == REFRESH_REFUSED
        # none of that spent the token
        assert (await _refresh(c, good))["userErrors"] == []


async def test_refresh_refused_for_an_expired_token_an_inactive_user_or_a_suspended_tenant(
    gql: GraphQLClient, client_at: ClientAt, own_slug: Callable[[str], str]
) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        expired = await login(c, TENANT_A, staff.email, PASSWORD)
        await _sql("UPDATE tenant_alpha.refresh_tokens SET expires_at = now() - interval '1 second' "
                   "WHERE user_id = :u", u=_user_uuid(staff.id))
        assert (await _refresh(c, expired["refreshToken"]))["userErrors"] == REFRESH_REFUSED

        session = await login(c, TENANT_A, staff.email, PASSWORD)
        await _sql("UPDATE tenant_alpha.users SET active = false WHERE id = :u", u=_user_uuid(staff.id))
        try:
            assert (await _refresh(c, session["refreshToken"]))["userErrors"] == REFRESH_REFUSED
        finally:
            await _sql("UPDATE tenant_alpha.users SET active = true WHERE id = :u", u=_user_uuid(staff.id))
        # refused for an inactive user, the sign-in stays revoked
        assert (await _refresh(c, session["refreshToken"]))["userErrors"] == REFRESH_REFUSED

    slug = own_slug("auth-refresh")
    await create_tenant(slug, template="retail")
    await add_staff(slug)
    member = await create_staff(gql, tenant=slug, roles=("tenant_admin",))
    async with client_at() as c:
        session = await login(c, slug, member.email, PASSWORD)
        await set_status(slug, TenantStatus.SUSPENDED)
        assert (await _refresh(c, session["refreshToken"]))["userErrors"] == REFRESH_REFUSED
        assert (await login(c, slug, member.email, PASSWORD))["userErrors"][0]["code"] == (
            "INVALID_CREDENTIALS")
        await set_status(slug, TenantStatus.ACTIVE)
        assert (await _refresh(c, session["refreshToken"]))["userErrors"] == []


# ---- access tokens at the edge ----------------------------------------------------------------------------------


def _sign(claims: dict[str, Any], key: Ed25519PrivateKey | None = None, kid: str | None = None,
          algorithm: str = "EdDSA") -> str:
    ring = tokens.get_keyring()
    signing = key or ring.signing_key
    return jwt.encode(claims, signing, algorithm=algorithm,
                      headers={"kid": kid or tokens.thumbprint(signing.public_key())})


def _claims(user_id: uuid.UUID, tenant: str = TENANT_A, **overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": "complaintdesk", "aud": "complaintdesk", "sub": str(user_id), "tenant": tenant,
              "roles": ["receiver"], "iat": now, "nbf": now, "exp": now + 900, "jti": uuid.uuid4().hex,
              "typ": "access"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


async def _receiver_id() -> uuid.UUID:
    value = await scalar("SELECT id FROM tenant_alpha.users WHERE email = 'receiver@test.example'")
    return uuid.UUID(str(value))


async def test_a_well_made_token_is_accepted(gql: GraphQLClient) -> None:
    response = await bearer(gql, _sign(_claims(await _receiver_id())), STAFF_QUERY)
    assert response.status_code == 200
    assert response.json()["data"]["me"] == {"email": "receiver@test.example"}


async def test_expired_token_is_401(gql: GraphQLClient) -> None:
    user = await _receiver_id()
    issued = tokens.issue_access_token(user_id=user, tenant=TENANT_A, roles=["receiver"],
                                       now=datetime.now(UTC) - timedelta(minutes=16))
    assert_401(await bearer(gql, issued.token, STAFF_QUERY), "the access token has expired")
    assert_401(await bearer(gql, _sign(_claims(user, nbf=int(datetime.now(UTC).timestamp()) + 120)), STAFF_QUERY))


async def test_a_token_verified_before_still_expires_and_still_needs_its_key(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified tokens are remembered per process: expiry is checked again on every use, and a token whose key
    has left the key ring is refused. The remembered check reads ``time.time()`` of the tokens module: the test
    moves that clock instead of sleeping, so no two requests have to fit in a window of wall time."""
    user = await _receiver_id()
    issued = tokens.issue_access_token(user_id=user, tenant=TENANT_A, roles=["receiver"], now=datetime.now(UTC))
    expires = jwt.decode(issued.token, options={"verify_signature": False})["exp"]
    assert (await bearer(gql, issued.token, STAFF_QUERY)).status_code == 200
    assert issued.token in tokens._verified  # remembered: the next use does not verify the signature again

    class Clock:
        now = float(expires + tokens.LEEWAY_S - 1)

        def time(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(tokens, "time", clock)
    assert (await bearer(gql, issued.token, STAFF_QUERY)).status_code == 200  # within the leeway: still good
    clock.now = float(expires + tokens.LEEWAY_S)
    assert_401(await bearer(gql, issued.token, STAFF_QUERY), "the access token has expired")
    monkeypatch.undo()

    fresh = _sign(_claims(user))
    assert (await bearer(gql, fresh, STAFF_QUERY)).status_code == 200
    new_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with _env(**{tokens.ENV_KEY: new_key, tokens.ENV_KEY_FILE: "", tokens.ENV_PREVIOUS_KEYS_FILE: ""}):
        assert_401(await bearer(gql, fresh, STAFF_QUERY))


@pytest.mark.parametrize(
    "case",
    ["payload edited", "signature edited", "other key", "alg none", "hs256 with the public key", "wrong audience",
     "wrong issuer", "no jti", "no exp", "refresh type", "operator scope with a tenant", "sub not a uuid",
     "malformed tenant", "not a jwt", "too long"],
)
async def test_tampered_or_foreign_tokens_are_401(gql: GraphQLClient, case: str) -> None:
    user = await _receiver_id()
    good = _sign(_claims(user))
    header, payload, signature = good.split(".")
    if case == "payload edited":
        claims = _claims(user, roles=["tenant_admin"])
        token = f"{header}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{signature}"
    elif case == "signature edited":
        token = f"{header}.{payload}.{signature[:-4]}AAAA"
    elif case == "other key":
        token = _sign(_claims(user), key=Ed25519PrivateKey.generate())
    elif case == "alg none":
        token = jwt.encode(_claims(user), None, algorithm="none")
    elif case == "hs256 with the public key":
        pem = tokens.get_keyring().signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = _hs256(_claims(user), pem, tokens.get_keyring().kid)
    elif case == "wrong audience":
        token = _sign(_claims(user, aud="someone-else"))
    elif case == "wrong issuer":  # another issuer is a tenant's identity provider: alpha trusts none by that name
        token = _sign(_claims(user, iss="https://idp.elsewhere.example"))
    elif case == "no jti":
        token = _sign(_claims(user, jti=None))
    elif case == "no exp":
        token = _sign(_claims(user, exp=None))
    elif case == "refresh type":
        token = _sign(_claims(user, typ="refresh"))
    elif case == "operator scope with a tenant":
        token = _sign(_claims(user, sub="operator:operator", scope="operator"))
    elif case == "sub not a uuid":
        token = _sign(_claims(user, sub="receiver@test.example"))
    elif case == "malformed tenant":
        token = _sign(_claims(user, tenant="../beta"))
    elif case == "not a jwt":
        token = "definitely-not-a-jwt"
    else:
        token = _sign(_claims(user, pad="x" * 9000))
    before = await scalar("SELECT count(*) FROM tenant_alpha.org_units")
    for query in (STAFF_QUERY, 'mutation { createOrgUnit(input: {name: "tampered", kind: STORE}) { orgUnit { id } } }'):
        response = await bearer(gql, token, query, headers={"x-tenant": TENANT_A})
        assert response.status_code == 401, (case, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"] == CHALLENGE
    assert await scalar("SELECT count(*) FROM tenant_alpha.org_units") == before


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


async def test_authorization_header_must_be_bearer(gql: GraphQLClient) -> None:
    for value in ("Basic cmVjZWl2ZXI6cGFzcw==", "Bearer", "Bearer a b", "token"):
        response = await gql.post(ME, tenant=TENANT_A, user=None, headers={"authorization": value})
        assert response.status_code == 401, value
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_previous_keys_still_verify(gql: GraphQLClient, tmp_path: Path) -> None:
    old = Ed25519PrivateKey.generate()
    token = _sign(_claims(await _receiver_id()), key=old)
    assert_401(await bearer(gql, token, ME))
    bundle = tmp_path / "previous.pem"
    other = Ed25519PrivateKey.generate()
    bundle.write_bytes(b"".join(
        k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        for k in (other, old)))
    with _env(**{tokens.ENV_PREVIOUS_KEYS_FILE: str(bundle)}):
        assert set(tokens.get_keyring().verification_keys) == {
            tokens.get_keyring().kid, tokens.thumbprint(old.public_key()), tokens.thumbprint(other.public_key())}
        response = await bearer(gql, token, ME)
        assert response.json()["data"]["me"] == {"id": response.json()["data"]["me"]["id"],
                                                 "email": "receiver@test.example", "roles": ["receiver"]}
        # the previous keys verify; they never sign
        assert jwt.get_unverified_header(
            tokens.issue_access_token(user_id=uuid.uuid4(), tenant=TENANT_A, roles=[],
                                      now=datetime.now(UTC)).token)["kid"] == tokens.get_keyring().kid
    assert_401(await bearer(gql, token, ME))


class _env:
    """Set environment variables for the block and reload the key ring before and after."""

    def __init__(self, **values: str) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        import os

        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value
        tokens.reset_keyring()

    def __exit__(self, *_: object) -> None:
        import os

        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tokens.reset_keyring()


def test_key_configuration_errors_are_clear(tmp_path: Path) -> None:
    from services.core.config import ConfigError

    with pytest.raises(ConfigError, match="no JWT signing key: set COMPLAINTDESK_JWT_SIGNING_KEY_FILE"):
        tokens.load_keyring({})
    assert tokens.load_keyring({}, allow_ephemeral=True).ephemeral
    with pytest.raises(ConfigError, match="cannot be read"):
        tokens.load_keyring({tokens.ENV_KEY_FILE: str(tmp_path / "missing.pem")})
    rsa_pem = tmp_path / "rsa.pem"
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_pem.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ConfigError, match="must be an Ed25519 private key"):
        tokens.load_keyring({tokens.ENV_KEY_FILE: str(rsa_pem)})
    key_file = tmp_path / "jwt.pem"
    assert tokens.ensure_key_file(key_file) and not tokens.ensure_key_file(key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    ring = tokens.load_keyring({tokens.ENV_KEY_FILE: str(key_file)})
    assert ring.kid == tokens.load_keyring({tokens.ENV_KEY: key_file.read_text()}).kid
    with pytest.raises(ConfigError, match="not both"):
        tokens.load_keyring({tokens.ENV_KEY_FILE: str(key_file), tokens.ENV_KEY: key_file.read_text()})


def test_serve_refuses_to_start_in_production_without_a_key(tmp_path: Path) -> None:
    from helpers import run_cli

    env = {"COMPLAINTDESK_ENV": "production", tokens.ENV_KEY: "", tokens.ENV_KEY_FILE: ""}
    for command in (("serve", "--port", "1"), ("worker",)):
        result = run_cli(*command, env=env, timeout=60)
        assert result.returncode == 1, result
        assert "no JWT signing key: set COMPLAINTDESK_JWT_SIGNING_KEY_FILE" in result.stderr
    broken = tmp_path / "broken.pem"
    broken.write_text("not a key")
    result = run_cli("serve", "--port", "1", env={**env, tokens.ENV_KEY_FILE: str(broken)}, timeout=60)
    assert result.returncode == 1 and "does not hold an unencrypted PEM private key" in result.stderr


# ---- the token's tenant -----------------------------------------------------------------------------------------


async def test_the_token_names_the_tenant_and_nothing_may_contradict_it(gql: GraphQLClient, client: Any) -> None:
    token = await access_token(TENANT_A, "receiver@test.example")
    assert token is not None
    same = await bearer(gql, token, ME, headers={"x-tenant": TENANT_A})
    assert same.json()["data"]["me"]["email"] == "receiver@test.example"
    before = await scalar("SELECT count(*) FROM tenant_beta.org_units")
    for headers in ({"x-tenant": TENANT_B}, {"host": "beta.complaints.example.com"}, {"x-tenant": ""}):
        for query in (ME, 'mutation { createOrgUnit(input: {name: "x", kind: STORE}) { orgUnit { id } } }'):
            response = await bearer(gql, token, query, headers=headers)
            assert response.status_code == 400, headers
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "TENANT_MISMATCH"
            assert "beta" not in error["message"]
    assert await scalar("SELECT count(*) FROM tenant_beta.org_units") == before
    # a host of the token's own tenant is fine
    on_host = await client.post("/graphql", json={"query": ME},
                                headers={"authorization": f"Bearer {token}", "host": "alpha.complaints.example.com"})
    assert on_host.json()["data"]["me"]["email"] == "receiver@test.example"


async def test_an_inactive_users_token_is_refused(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        token = (await login(c, TENANT_A, staff.email, PASSWORD))["accessToken"]
    assert (await bearer(gql, token, ME)).json()["data"]["me"]["email"] == staff.email
    await _sql("UPDATE tenant_alpha.users SET active = false WHERE id = :u", u=_user_uuid(staff.id))
    me = (await bearer(gql, token, ME)).json()
    assert me["data"]["me"] is None
    before = await scalar("SELECT count(*) FROM tenant_alpha.complaints")
    from lifecycle import RECORD, complaint_input

    refused = (await bearer(gql, token, RECORD, {"input": complaint_input()})).json()
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["UNAUTHENTICATED"]
    assert await scalar("SELECT count(*) FROM tenant_alpha.complaints") == before
    # a token naming a user that does not exist at all is no better
    ghost = tokens.issue_access_token(user_id=uuid.uuid4(), tenant=TENANT_A, roles=["tenant_admin"],
                                      now=datetime.now(UTC)).token
    assert (await bearer(gql, ghost, ME)).json()["data"]["me"] is None


async def test_roles_come_from_the_database_not_the_token(gql: GraphQLClient) -> None:
    forged_roles = tokens.issue_access_token(user_id=await _receiver_id(), tenant=TENANT_A, roles=["tenant_admin"],
                                             now=datetime.now(UTC)).token
    body = (await bearer(gql, forged_roles, "{ me { roles } }")).json()
    assert body["data"]["me"]["roles"] == ["receiver"]
    providers = (await bearer(gql, forged_roles, "{ identityProviders { issuer } }")).json()
    assert [e["extensions"]["code"] for e in providers["errors"]] == ["FORBIDDEN"]


async def test_a_suspended_tenants_token_is_403(gql: GraphQLClient, own_slug: Callable[[str], str]) -> None:
    slug = own_slug("auth-paused")
    await create_tenant(slug, template="retail")
    token = tokens.issue_access_token(user_id=uuid.uuid4(), tenant=slug, roles=[], now=datetime.now(UTC)).token
    assert (await bearer(gql, token, ME)).status_code == 200
    await set_status(slug, TenantStatus.SUSPENDED)
    try:
        for query in (ME, 'mutation { createOrgUnit(input: {name: "x", kind: STORE}) { orgUnit { id } } }'):
            response = await bearer(gql, token, query)
            assert response.status_code == 403
            assert response.json()["errors"][0]["extensions"]["code"] == "TENANT_SUSPENDED"
        assert await scalar(f"SELECT count(*) FROM {schema_for(slug)}.org_units WHERE name = 'x'") == 0
    finally:
        await set_status(slug, TenantStatus.ACTIVE)
    # a token for a tenant that does not exist
    unknown = tokens.issue_access_token(user_id=uuid.uuid4(), tenant="gone-co", roles=[], now=datetime.now(UTC))
    response = await bearer(gql, unknown.token, ME)
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "TENANT_NOT_FOUND"


async def _sql(statement: str, **params: Any) -> None:
    async with raw() as conn:
        await conn.execute(text(statement), params)
        await conn.commit()


@pytest.fixture(autouse=True)
def _fresh_keyring() -> Iterator[None]:
    yield
    tokens.reset_keyring()
