"""Onboarding: createTenant (and `tenant create`) make the first admin with a one-time set-password token;
redeemPasswordToken sets the password once (a used, expired, revoked or unknown token: one INVALID_TOKEN answer);
`user create` and `user reset-password` for operators; the templates' external bodies to complete."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from api.auth.authkit import LOGIN, bearer
from conftest import GraphQLClient
from helpers import rows, run_cli, scalar

from services.core.auth.operators import create_operator
from services.core.clock import FixedClock, system_clock
from services.core.tenancy import schema_for
from tenants.templates import BANK, RETAIL, TO_COMPLETE

ClientAt = Callable[..., AbstractAsyncContextManager[GraphQLClient]]
OPERATOR_LOGIN = """
mutation ($name: String!, $password: String!) { operatorLogin(input: {name: $name, password: $password}) {
  accessToken userErrors { code } } }
"""
CREATE_TENANT = """
mutation ($input: CreateTenantInput!) { createTenant(input: $input) {
  tenant { slug } adminSetup { email token link expiresAt } userErrors { field message code } } }
"""
REDEEM = """
mutation ($input: RedeemPasswordTokenInput!) { redeemPasswordToken(input: $input) {
  ok userErrors { field message code } } }
"""
BODIES = "query { externalBodies { name kind escalationLevel active webhookUrl handlesText } }"
PASSWORD = "a first admin's passphrase"
INVALID = {"ok": False, "userErrors": [{"field": ["token"], "message": "the link is not valid or has expired; "
                                        "ask for a new one", "code": "INVALID_TOKEN"}]}


async def operator_token(client_at: ClientAt, clock: FixedClock) -> str:
    """A new operator's access token; the app's clock is set to now (the edge checks tokens against real time)."""
    clock.at = system_clock.now()
    name = f"onb-{uuid.uuid4().hex[:8]}"
    await create_operator(name, "operator passphrase 1")
    async with client_at() as c:
        response = await c.post(OPERATOR_LOGIN, {"name": name, "password": "operator passphrase 1"}, tenant=None,
                                user=None)
    return str(response.json()["data"]["operatorLogin"]["accessToken"])


async def redeem(c: GraphQLClient, tenant: str, token: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await c.post(REDEEM, {"input": {"tenant": tenant, "token": token, "password": password}},
                            tenant=None, user=None)
    payload: dict[str, Any] = response.json()["data"]["redeemPasswordToken"]
    return payload


async def login(c: GraphQLClient, tenant: str, email: str, password: str = PASSWORD) -> list[str]:
    response = await c.post(LOGIN, {"input": {"tenant": tenant, "email": email, "password": password}},
                            tenant=None, user=None)
    return [e["code"] for e in response.json()["data"]["login"]["userErrors"]]


async def tokens_of(slug: str) -> list[Any]:
    return await rows(f'SELECT token_hash, purpose, created_by, created_at, expires_at, used_at, revoked_at '
                      f'FROM "{schema_for(slug)}".password_tokens ORDER BY created_at')


async def test_create_tenant_with_its_first_admin(gql: GraphQLClient, client_at: ClientAt, clock: FixedClock) -> None:
    op = await operator_token(client_at, clock)
    slug = f"onb{uuid.uuid4().hex[:8]}"
    # a bad e-mail is refused and nothing is created
    bad = (await bearer(gql, op, CREATE_TENANT, {"input": {"slug": slug, "adminEmail": "not an e-mail"}})).json()
    assert bad["data"]["createTenant"]["userErrors"] == [
        {"field": ["adminEmail"], "message": "email is not a valid address", "code": "INVALID"}]
    assert await scalar("SELECT count(*) FROM public.tenants WHERE slug = :s", s=slug) == 0
    assert await scalar("SELECT count(*) FROM pg_namespace WHERE nspname = :s", s=schema_for(slug)) == 0

    made = (await bearer(gql, op, CREATE_TENANT, {"input": {"slug": slug, "template": "bank",
                                                            "adminEmail": " Boss@Example.COM ",
                                                            "adminName": "The Boss"}})).json()
    payload = made["data"]["createTenant"]
    assert payload["userErrors"] == [] and payload["tenant"]["slug"] == slug
    setup = payload["adminSetup"]
    assert setup["email"] == "boss@example.com"
    assert setup["expiresAt"] == (clock.at + timedelta(hours=72)).isoformat()
    link = urlsplit(setup["link"])
    assert (link.scheme, link.netloc, link.path) == ("http", "127.0.0.1:8000", "/set-password")
    assert parse_qs(link.query) == {"tenant": [slug], "token": [setup["token"]]}
    assert len(setup["token"]) >= 43  # 32 random bytes, base64url
    users = await rows(f'SELECT email, display_name, roles, password_hash FROM "{schema_for(slug)}".users')
    assert [tuple(u) for u in users] == [("boss@example.com", "The Boss", ["tenant_admin"], None)]
    # only the token's SHA-256 is stored
    stored = await tokens_of(slug)
    assert [(t.token_hash, t.purpose, t.used_at) for t in stored] == [
        (hashlib.sha256(setup["token"].encode()).hexdigest(), "INITIAL", None)]
    assert stored[0].created_by.startswith("operator:onb-")
    # the first admin has no password yet
    async with client_at() as c:
        assert await login(c, slug, "boss@example.com") == ["INVALID_CREDENTIALS"]

        # the password rule first: a short one is refused and the token stays good
        short = await redeem(c, slug, setup["token"], "short")
        assert [(e["field"], e["code"]) for e in short["userErrors"]] == [(["password"], "INVALID")]
        assert (await tokens_of(slug))[0].used_at is None
        # an unknown token, a token of another tenant, an unknown tenant: the same answer
        assert await redeem(c, slug, "x" * 43) == INVALID
        assert await redeem(c, "alpha", setup["token"]) == INVALID
        assert await redeem(c, "no-such-tenant", setup["token"]) == INVALID

        assert await redeem(c, slug, setup["token"]) == {"ok": True, "userErrors": []}
        assert await login(c, slug, "boss@example.com") == []
        # used up: the same answer as an unknown token, and the password stays
        assert await redeem(c, slug, setup["token"], "another passphrase") == INVALID
        assert await login(c, slug, "boss@example.com") == []
    assert (await tokens_of(slug))[0].used_at == clock.at
    events = await rows(f'SELECT action, actor_label, changes FROM "{schema_for(slug)}".audit_events '
                        "WHERE subject_type = 'User' ORDER BY seq")
    assert [(e.action, e.actor_label, e.changes["purpose"]) for e in events] == [
        ("issue_password_token", stored[0].created_by, "INITIAL"),
        ("redeem_password_token", "boss@example.com", "INITIAL")]
    # the template seeded the external bodies to complete (inactive, no webhook)
    bodies = (await gql(BODIES, tenant=slug, user="boss@example.com"))["externalBodies"]
    assert sorted((b["name"], b["kind"], b["escalationLevel"]) for b in bodies) == sorted(
        (b.name, b.kind.value, b.escalation_level) for b in BANK.external_bodies)
    assert {(b["active"], b["webhookUrl"], b["handlesText"]) for b in bodies} == {(False, None, TO_COMPLETE)}


async def test_an_expired_token_is_refused(gql: GraphQLClient, client_at: ClientAt, clock: FixedClock) -> None:
    op = await operator_token(client_at, clock)
    slug = f"onb{uuid.uuid4().hex[:8]}"
    made = (await bearer(gql, op, CREATE_TENANT, {"input": {"slug": slug, "adminEmail": "first@example.com"}})).json()
    token = made["data"]["createTenant"]["adminSetup"]["token"]
    clock.at += timedelta(hours=72)  # the expiry itself: too late
    async with client_at() as c:
        assert await redeem(c, slug, token) == INVALID
        assert await login(c, slug, "first@example.com") == ["INVALID_CREDENTIALS"]
        # each attempt costs an argon2 hash: throttled like sign-in, 5 failures per token
        for _ in range(4):
            assert await redeem(c, slug, token) == INVALID
        limited = await redeem(c, slug, token)
        assert [e["code"] for e in limited["userErrors"]] == ["RATE_LIMITED"] and limited["ok"] is False
    assert [t.used_at for t in await tokens_of(slug)] == [None]
    # retail's directory
    names = await rows(f'SELECT name FROM "{schema_for(slug)}".external_bodies ORDER BY name')
    assert [n.name for n in names] == sorted(b.name for b in RETAIL.external_bodies)


async def test_cli_tenant_and_users(client_at: ClientAt) -> None:
    slug = f"onb{uuid.uuid4().hex[:8]}"
    bare = run_cli("tenant", "create", slug)
    assert bare.returncode == 0, bare.stderr
    assert f"warning: no admin: run complaintdesk user create --tenant {slug} EMAIL --role tenant_admin" in bare.stderr
    assert await scalar(f'SELECT count(*) FROM "{schema_for(slug)}".users') == 0

    with_admin = f"onb{uuid.uuid4().hex[:8]}"
    made = run_cli("tenant", "create", with_admin, "--admin-email", "chief@example.com",
                   env={"COMPLAINTDESK_PUBLIC_URL": "https://complaints.example.com/",
                        "COMPLAINTDESK_PASSWORD_TOKEN_HOURS": "24"})
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[1].startswith("set-password link for chief@example.com (once, until ")
    link = urlsplit(lines[2].strip())
    assert (link.scheme, link.netloc, link.path) == ("https", "complaints.example.com", "/set-password")
    token = parse_qs(link.query)["token"][0]
    assert lines[3].strip() == f"token: {token}"
    (stored,) = await tokens_of(with_admin)
    assert stored.expires_at - stored.created_at == timedelta(hours=24) and stored.created_by == "cli"

    # user create: without a password, a link; with --password-stdin, a password (never printed)
    unknown_role = run_cli("user", "create", "--tenant", slug, "desk@example.com", "--role", "wizard")
    assert unknown_role.returncode == 1 and "unknown role(s): wizard [NOT_FOUND]" in unknown_role.stderr
    assert await scalar(f'SELECT count(*) FROM "{schema_for(slug)}".users') == 0
    linked = run_cli("user", "create", "--tenant", slug, "Admin@Example.com", "--role", "tenant_admin",
                     "--name", "Admin")
    assert linked.returncode == 0, linked.stderr
    assert linked.stdout.splitlines()[0] == f"created user admin@example.com in tenant {slug} with role(s) tenant_admin"
    first = parse_qs(urlsplit(linked.stdout.splitlines()[2].strip()).query)["token"][0]
    with_password = run_cli("user", "create", "--tenant", slug, "desk@example.com", "--role", "receiver",
                            "--role", "complaint_desk", "--password-stdin", stdin=PASSWORD + "\n")
    assert with_password.returncode == 0, with_password.stderr
    assert "set-password" not in with_password.stdout and PASSWORD not in with_password.stdout
    async with client_at() as c:
        assert await login(c, slug, "desk@example.com") == []

        # reset-password: a new link; the earlier unused one stops working
        reset = run_cli("user", "reset-password", "--tenant", slug, "admin@example.com")
        assert reset.returncode == 0, reset.stderr
        second = parse_qs(urlsplit(reset.stdout.splitlines()[1].strip()).query)["token"][0]
        assert await redeem(c, slug, first) == INVALID
        assert await redeem(c, slug, second) == {"ok": True, "userErrors": []}
        assert await login(c, slug, "admin@example.com") == []
    assert [(t.purpose, t.used_at is not None, t.revoked_at is not None) for t in await tokens_of(slug)] == [
        ("INITIAL", False, True), ("RESET", True, False)]
    nobody = run_cli("user", "reset-password", "--tenant", slug, "nobody@example.com")
    assert nobody.returncode == 1 and "no active user with this e-mail [NOT_FOUND]" in nobody.stderr
    events = await rows(f'SELECT action, actor_label FROM "{schema_for(slug)}".audit_events ORDER BY seq')
    assert [(e.action, e.actor_label) for e in events] == [
        ("create_user", "cli"), ("issue_password_token", "cli"), ("create_user", "cli"),
        ("issue_password_token", "cli"), ("redeem_password_token", "admin@example.com")]
