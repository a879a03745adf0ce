"""Staff sign-in: passwords, one answer for every failure, throttling, access token claims."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from api.auth.authkit import ADMIN, CREATE_USER, LOGIN, ME, PASSWORD, Staff, bearer, create_staff, login
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import rows, scalar

from services.core.auth import passwords, tokens
from services.core.auth import service as auth_service

ClientAt = Callable[..., AbstractAsyncContextManager[GraphQLClient]]
WRONG = {"field": None, "message": "e-mail or password is wrong", "code": "INVALID_CREDENTIALS"}


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return header, payload


async def test_login_returns_a_signed_token_pair(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql, roles=("receiver",))
    async with client_at() as c:
        payload = await login(c, TENANT_A, staff.email.upper(), PASSWORD)  # e-mails are case-insensitive
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == staff.email
    header, claims = _claims(payload["accessToken"])
    ring = tokens.get_keyring()
    assert header == {"alg": "EdDSA", "kid": ring.kid, "typ": "JWT"}
    assert ring.kid == tokens.thumbprint(ring.signing_key.public_key())
    user_id = str(uuid.UUID(base64.b64decode(staff.id).decode().split(":", 1)[1]))
    assert claims["iss"] == claims["aud"] == "complaintdesk"
    assert claims["sub"] == user_id
    assert claims["tenant"] == TENANT_A
    assert claims["roles"] == ["receiver"]
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) == 32
    expires_at = datetime.fromisoformat(payload["expiresAt"])
    assert timedelta(minutes=14) < expires_at - datetime.now(UTC) <= timedelta(minutes=15)
    refresh_expires = datetime.fromisoformat(payload["refreshTokenExpiresAt"])
    assert timedelta(days=29) < refresh_expires - datetime.now(UTC) <= timedelta(days=30)

    # the token alone signs the request in and names the tenant
    me = await bearer(gql, payload["accessToken"], ME)
    assert me.json()["data"]["me"] == {"id": staff.id, "email": staff.email, "roles": ["receiver"]}

    # the refresh token is stored only as its SHA-256
    refresh = payload["refreshToken"]
    assert refresh.startswith(f"{TENANT_A}.")
    stored = await rows("SELECT token_hash FROM tenant_alpha.refresh_tokens WHERE user_id = :u", u=user_id)
    assert [r.token_hash for r in stored] == [hashlib.sha256(refresh.encode()).hexdigest()]
    assert await scalar("SELECT count(*) FROM tenant_alpha.refresh_tokens WHERE token_hash = :t", t=refresh) == 0
    password_hash = await scalar("SELECT password_hash FROM tenant_alpha.users WHERE email = :e", e=staff.email)
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash


async def test_every_failure_gets_the_same_answer(
    gql: GraphQLClient, client_at: ClientAt, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff = await create_staff(gql)
    inactive = await create_staff(gql)
    no_password = await create_staff(gql, password=None)
    await _set_active(inactive, False)
    checked: list[str | None] = []
    original = auth_service.verify_password_async

    async def spy(stored_hash: str | None, password: str) -> passwords.Verification:
        checked.append(stored_hash)
        return await original(stored_hash, password)

    monkeypatch.setattr(auth_service, "verify_password_async", spy)
    attempts = {
        "wrong password": (TENANT_A, staff.email, "not the password at all"),
        "unknown e-mail": (TENANT_A, "nobody-here@test.example", PASSWORD),
        "inactive user": (TENANT_A, inactive.email, PASSWORD),
        "no password set": (TENANT_A, no_password.email, PASSWORD),
        "other tenant's user": (TENANT_B, staff.email, PASSWORD),
        "unknown tenant": ("no-such-tenant", staff.email, PASSWORD),
        "malformed tenant": ("Not A Slug!", staff.email, PASSWORD),
    }
    bodies = {}
    for case, (tenant, email, password) in attempts.items():
        async with client_at() as c:
            response = await c.post(LOGIN, {"input": {"tenant": tenant, "email": email, "password": password}},
                                    tenant=None, user=None)
        assert response.status_code == 200, case
        bodies[case] = response.content
        assert response.json()["data"]["login"]["userErrors"] == [WRONG], case
    assert len(set(bodies.values())) == 1, bodies
    # every attempt spent an argon2 verification (a dummy hash when there is no account), so timing tells nothing
    assert len(checked) == len(attempts)
    assert checked.count(None) == 5  # no such account: unknown e-mail, no password, other tenant, bad tenants
    assert await scalar("SELECT count(*) FROM tenant_alpha.refresh_tokens r JOIN tenant_alpha.users u "
                        "ON u.id = r.user_id WHERE u.email IN (:a, :b)", a=staff.email, b=inactive.email) == 0


async def test_login_needs_no_tenant_header_and_ignores_x_user(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        # the retired X-User header signs nobody in
        response = await c.post("{ me { email } complaints(first: 1) { totalCount } }",
                                headers={"x-user": ADMIN}, user=None)
        assert response.json()["data"] is None
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]
        assert (await login(c, TENANT_A, staff.email, PASSWORD))["accessToken"]


async def test_passwords_have_at_least_ten_characters(gql: GraphQLClient) -> None:
    email = f"short-{uuid.uuid4().hex[:8]}@test.example"
    data = await gql(CREATE_USER, {"input": {"email": email, "displayName": "Short", "password": "123456789"}},
                     user=ADMIN)
    assert data["createUser"] == {"user": None, "userErrors": [
        {"field": ["password"], "message": "the password must have at least 10 characters", "code": "INVALID"}]}
    assert await scalar("SELECT count(*) FROM tenant_alpha.users WHERE email = :e", e=email) == 0


async def test_throttle_per_account(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        for _ in range(4):
            assert (await login(c, TENANT_A, staff.email, "wrong password!"))["userErrors"] == [WRONG]
        # a success forgives the account's failures
        assert (await login(c, TENANT_A, staff.email, PASSWORD))["userErrors"] == []
        for _ in range(5):
            assert (await login(c, TENANT_A, staff.email, "wrong password!"))["userErrors"] == [WRONG]
    # the sixth attempt is refused before the password is looked at, from any address, even the right password
    async with client_at() as other:
        refused = await login(other, TENANT_A, staff.email, PASSWORD)
    assert refused["accessToken"] is None
    [error] = refused["userErrors"]
    assert error["code"] == "RATE_LIMITED"
    retry = int(error["message"].split("try again in ")[1].split(" seconds")[0])
    assert 800 < retry <= 900
    # the same e-mail in the other tenant is another account
    twin = await create_staff(gql, tenant=TENANT_B, email=staff.email)
    async with client_at() as c:
        assert (await login(c, TENANT_B, twin.email, PASSWORD))["userErrors"] == []


async def test_throttle_per_client_address(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    async with client_at() as c:
        for i in range(20):  # 20 failures on 20 accounts: no account reaches its own limit
            payload = await login(c, TENANT_A, f"guess-{i}@test.example", "wrong password!")
            assert payload["userErrors"] == [WRONG]
        response = await c.post(LOGIN, {"input": {"tenant": TENANT_A, "email": staff.email, "password": PASSWORD}},
                                tenant=None, user=None)
        refused = response.json()["data"]["login"]
        assert [e["code"] for e in refused["userErrors"]] == ["RATE_LIMITED"]
        assert refused["accessToken"] is None
        assert response.status_code == 200 and 800 < int(response.headers["retry-after"]) <= 900
        assert await scalar("SELECT count(*) FROM tenant_alpha.refresh_tokens t JOIN tenant_alpha.users u "
                            "ON u.id = t.user_id WHERE u.email = :e", e=staff.email) == 0  # no sign-in began
        # tenants are counted apart
        twin = await create_staff(gql, tenant=TENANT_B)
        assert (await login(c, TENANT_B, twin.email, PASSWORD))["userErrors"] == []
    async with client_at() as elsewhere:
        assert (await login(elsewhere, TENANT_A, staff.email, PASSWORD))["userErrors"] == []


async def test_outdated_hashes_are_upgraded_on_login(gql: GraphQLClient, client_at: ClientAt) -> None:
    from argon2 import PasswordHasher

    staff = await create_staff(gql, password=None)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await _sql("UPDATE tenant_alpha.users SET password_hash = :h WHERE email = :e", h=weak, e=staff.email)
    async with client_at() as c:
        assert (await login(c, TENANT_A, staff.email, PASSWORD))["userErrors"] == []
    upgraded = await scalar("SELECT password_hash FROM tenant_alpha.users WHERE email = :e", e=staff.email)
    assert upgraded != weak and "m=65536,t=3,p=4" in upgraded


SET_PASSWORD = """
mutation ($input: SetPasswordInput!) {
  setPassword(input: $input) { user { email } userErrors { field message code } }
}
"""


async def test_set_password(gql: GraphQLClient, client_at: ClientAt) -> None:
    staff = await create_staff(gql)
    other = await create_staff(gql)
    before = await _hash(other)
    async with client_at() as c:
        session = await login(c, TENANT_A, staff.email, PASSWORD)
        token = session["accessToken"]

        # not a tenant admin: only your own password, and only with the current one
        denied = await bearer(c, token, SET_PASSWORD, {"input": {"userId": other.id, "password": "x" * 12}})
        assert denied.json()["data"]["setPassword"]["userErrors"] == [
            {"field": None, "message": "you may not manage the organisation and its users", "code": "NOT_ALLOWED"}]
        assert await _hash(other) == before
        own = await _hash(staff)
        no_current = await bearer(c, token, SET_PASSWORD, {"input": {"userId": staff.id, "password": "new pass 123"}})
        assert [e["code"] for e in no_current.json()["data"]["setPassword"]["userErrors"]] == ["REQUIRED"]
        wrong = await bearer(c, token, SET_PASSWORD, {"input": {"userId": staff.id, "password": "new pass 123",
                                                                "currentPassword": "not it at all"}})
        assert [e["code"] for e in wrong.json()["data"]["setPassword"]["userErrors"]] == ["INVALID_CREDENTIALS"]
        assert await _hash(staff) == own  # neither refusal changed it
        changed = await bearer(c, token, SET_PASSWORD, {"input": {"userId": staff.id, "password": "new pass 123",
                                                                  "currentPassword": PASSWORD}})
        assert changed.json()["data"]["setPassword"] == {"user": {"email": staff.email}, "userErrors": []}
        # the old password no longer works, the new one does; the earlier sign-in's refresh token is revoked
        assert (await login(c, TENANT_A, staff.email, PASSWORD))["userErrors"] == [WRONG]
        assert (await login(c, TENANT_A, staff.email, "new pass 123"))["userErrors"] == []
        refreshed = await c.post("mutation ($t: String!) { refreshToken(input: {refreshToken: $t}) "
                                 "{ userErrors { code } } }", {"t": session["refreshToken"]}, tenant=None, user=None)
        assert refreshed.json()["data"]["refreshToken"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]

    # a tenant admin sets anyone's password
    data = await gql(SET_PASSWORD, {"input": {"userId": other.id, "password": "admin set it"}}, user=ADMIN)
    assert data["setPassword"]["userErrors"] == []
    async with client_at() as c:
        assert (await login(c, TENANT_A, other.email, "admin set it"))["userErrors"] == []


async def _sql(statement: str, **params: Any) -> None:
    from helpers import raw
    from sqlalchemy import text

    async with raw() as conn:
        await conn.execute(text(statement), params)
        await conn.commit()


async def _set_active(staff: Staff, active: bool) -> None:
    schema = "tenant_" + staff.tenant.replace("-", "_")
    await _sql(f'UPDATE "{schema}".users SET active = :a WHERE email = :e', a=active, e=staff.email)


async def _hash(staff: Staff) -> str | None:
    schema = "tenant_" + staff.tenant.replace("-", "_")
    value: str | None = await scalar(f'SELECT password_hash FROM "{schema}".users WHERE email = :e', e=staff.email)
    return value


async def test_the_sign_in_screens_operation_reads_the_user_in_their_tenant(gql: GraphQLClient,
                                                                             client_at: ClientAt) -> None:
    """frontend-schema's Login asks for the user's org unit: answered from the tenant signed in to (the request
    named none), and refused before anything when the request names another tenant."""
    from helpers import ROOT

    manifest = json.loads((ROOT / "frontend-schema" / "persisted-documents.json").read_text(encoding="utf-8"))
    [document] = [d for d in manifest.values() if d.startswith("mutation Login(")]  # as the console sends it
    units = await gql("query { orgUnits { id code name } }", tenant=TENANT_A, user=ADMIN)
    unit = next(u for u in units["orgUnits"] if u["code"])
    email = f"u-{uuid.uuid4().hex[:12]}@test.example"
    created = await gql(CREATE_USER, {"input": {"email": email, "displayName": "unit member", "roles": ["receiver"],
                                                "password": PASSWORD, "orgUnitId": unit["id"]}},
                        tenant=TENANT_A, user=ADMIN)
    assert created["createUser"]["userErrors"] == []
    user_id = str(uuid.UUID(base64.b64decode(created["createUser"]["user"]["id"]).decode().split(":", 1)[1]))
    async with client_at() as c:
        response = await c.post(document, {"input": {"tenant": TENANT_A, "email": email, "password": PASSWORD}},
                                tenant=None, user=None)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        payload = response.json()["data"]["login"]
        assert payload["userErrors"] == [] and payload["user"]["email"] == email
        assert payload["user"]["orgUnit"]["id"] == unit["id"]

        before = await scalar("SELECT count(*) FROM tenant_alpha.refresh_tokens WHERE user_id = :u", u=user_id)
        mismatch = await c.post(document, {"input": {"tenant": TENANT_A, "email": email, "password": PASSWORD}},
                                tenant=TENANT_B, user=None)
        refused = mismatch.json()["data"]["login"]
        assert refused["accessToken"] is None
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("TENANT_MISMATCH", ["tenant"])]
        assert await scalar("SELECT count(*) FROM tenant_alpha.refresh_tokens WHERE user_id = :u",
                            u=user_id) == before
