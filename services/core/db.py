"""Engines, metadata and the two kinds of session: platform and tenant.

Tenant tables are declared once, on ``TenantBase``, in the placeholder schema
``tenant``. That schema never exists: a statement that reaches PostgreSQL without
being bound to a tenant fails ("schema tenant does not exist") instead of reading
some default schema. ``tenant_session`` binds a session to one tenant in two ways,
both scoped to the transaction so nothing survives in the pool:

* ``schema_translate_map`` rewrites ``tenant.<table>`` to ``tenant_<slug>.<table>``
  in every ORM and Core statement;
* ``SET LOCAL search_path`` (through ``set_config(..., true)``) at the start of
  every transaction, for raw SQL with unqualified names. It ends with the
  transaction, so a pooled connection goes back with the default path.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction
from sqlalchemy.util import greenlet_spawn

from services.core import tracing
from services.core.config import get_settings

TENANT_SCHEMA_PLACEHOLDER = "tenant"
PLATFORM_SCHEMA = "public"

_naming = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class PlatformBase(DeclarativeBase):
    metadata = MetaData(schema=PLATFORM_SCHEMA, naming_convention=_naming)


class TenantBase(DeclarativeBase):
    metadata = MetaData(schema=TENANT_SCHEMA_PLACEHOLDER, naming_convention=_naming)


# One engine per event loop: asyncpg connections belong to the loop that opened them,
# and the API, the worker's event-loop thread and the tests each run their own loop.
_engines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncEngine] = weakref.WeakKeyDictionary()
# The pool keeps as many connections as the sessions that may run at once (SESSION_SLOTS) and opens up to four more
# for what does not take a slot. With 10 + 10 the connections past the tenth were closed whenever ten stood idle and
# opened again a moment later: under a fluctuating load (bench/list_vs_bare.py at 64 connections) PostgreSQL saw ~180
# new backends in two minutes, each a fork, a sign-in and every kept statement prepared again (the long tail).
POOL_SIZE = 16
MAX_OVERFLOW = 4
# Sessions that may hold a connection at once through ``session_slot``: the pool's capacity less a few left
# for what does not queue there (the registry look-up, readiness checks, a second session of a request).
SESSION_SLOTS = POOL_SIZE + MAX_OVERFLOW - 4
# Of those, a tenant holding this many takes another only while others stay free for other tenants (``FairSlots``).
TENANT_SLOT_SHARE = SESSION_SLOTS // 2
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FairSlots] = weakref.WeakKeyDictionary()
# Single statements outside a session (a compiled plan's page with its viewer: ``driver_connection``) that may run at
# once, in turn within a tenant and fairly between tenants as sessions are (``statement_slots``; then a session slot
# too). Fewer than the sessions: each is a short burst of PostgreSQL's CPU, and sixteen at once only made PostgreSQL's
# backends take turns with each other and with the server, which answered every request a little later and some much
# later (bench/README.md, branch ``compile2``: at 64 connections the p99 of the compiled list was 2-3x its p50 with
# sixteen, under 2x with four; one tenant alone takes all but two of them, as of the session slots).
STATEMENT_SLOTS = 6
_statement_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FairSlots] = weakref.WeakKeyDictionary()


class SlotWatcher(Protocol):
    """Told when a request begins to wait for a slot (``watch_slots``): the API's deference gate, whose deferential
    requests may hold the slots awaited, then lets them run (``services.api.deference``)."""

    def slot_awaited(self) -> None: ...


_slot_watchers: weakref.WeakSet[SlotWatcher] = weakref.WeakSet()


def watch_slots(watcher: SlotWatcher) -> None:
    """Call ``watcher.slot_awaited()`` whenever a request of any ``FairSlots`` begins to wait (held weakly)."""
    _slot_watchers.add(watcher)


class FairSlots:
    """Connection slots shared fairly between tenants.

    First come, first served within a tenant (the pool itself hands a returned connection to whoever asks next, not
    to whoever waited longest, so under load some requests would wait for seconds while others pass). Between
    tenants: a tenant holding ``share`` slots or more takes another only while more than ``reserve`` are free, so
    another tenant's request always finds one; a slot returned goes to the waiting tenant that holds the fewest (the
    longest waiting among equals). One busy tenant alone still gets all but ``reserve`` of them.
    """

    def __init__(self, capacity: int, share: int, reserve: int) -> None:
        self.capacity, self.share, self.reserve = capacity, max(1, share), max(0, reserve)
        self.free = capacity
        self.held: dict[str, int] = {}
        self._waiting: dict[str, collections.deque[tuple[int, asyncio.Future[None]]]] = {}
        self._order = itertools.count()  # who asked first

    @property
    def contended(self) -> bool:
        """Whether a request is waiting for a slot (one another holds)."""
        return bool(self._waiting)

    def _may_take(self, tenant: str) -> bool:
        return self.free > 0 and (self.held.get(tenant, 0) < self.share or self.free > self.reserve)

    async def acquire(self, tenant: str) -> None:
        if tenant not in self._waiting and self._may_take(tenant):
            self._grant(tenant)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (next(self._order), future)
        self._waiting.setdefault(tenant, collections.deque()).append(entry)
        for watcher in list(_slot_watchers):
            watcher.slot_awaited()
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self.release(tenant)  # granted as it was cancelled: hand it on
            else:
                queue = self._waiting.get(tenant)
                if queue is not None and entry in queue:
                    queue.remove(entry)
                    if not queue:
                        del self._waiting[tenant]
            raise

    def _grant(self, tenant: str) -> None:
        self.free -= 1
        self.held[tenant] = self.held.get(tenant, 0) + 1

    def release(self, tenant: str) -> None:
        self.free += 1
        left = self.held.get(tenant, 0) - 1
        if left > 0:
            self.held[tenant] = left
        else:
            self.held.pop(tenant, None)
        while True:
            candidates = [t for t in self._waiting if self._may_take(t)]
            if not candidates:
                return
            nxt = min(candidates, key=lambda t: (self.held.get(t, 0), self._waiting[t][0][0]))
            queue = self._waiting[nxt]
            _, future = queue.popleft()
            if not queue:
                del self._waiting[nxt]
            if not future.done():  # else cancelled while queued
                self._grant(nxt)
                future.set_result(None)


def session_slots() -> FairSlots:
    """The running loop's connection slots (``FairSlots``): take one before checking out a connection."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = FairSlots(SESSION_SLOTS, TENANT_SLOT_SHARE, reserve=2)
    return slots


def statement_slots() -> FairSlots:
    """The running loop's slots for single statements outside a session (``STATEMENT_SLOTS``): take one before the
    session slot, so that those waiting here hold no connection."""
    loop = asyncio.get_running_loop()
    slots = _statement_slots.get(loop)
    if slots is None:
        slots = _statement_slots[loop] = FairSlots(STATEMENT_SLOTS, STATEMENT_SLOTS // 2, reserve=2)
    return slots


def get_engine() -> AsyncEngine:
    loop = asyncio.get_running_loop()
    engine = _engines.get(loop)
    if engine is None:
        engine = create_async_engine(
            get_settings().database_url,
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            # No ping on each checkout (a round trip per request): a connection the server dropped fails its
            # statement instead, and is then discarded by the pool; connections are renewed after 30 minutes.
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={"timeout": 5, "server_settings": {"application_name": "complaintdesk"}},
        )
        tracing.instrument_engine(engine)  # SQL spans, when tracing is on
        _remember_translations(engine)
        _engines[loop] = engine
    return engine


# A statement's text with ``tenant`` translated to a schema, kept per (text, map): SQLAlchemy keeps the compiled
# statement with a marker per schema-qualified name and rewrites the markers on every execution (a regular
# expression calling back into Python per marker: ~60 markers and ~50 us a list request, its three statements).
# Bounded (cleared when full): with many tenants the texts of the busiest are made again.
TRANSLATIONS_KEPT = 2048


class _RememberedTranslations:
    """Mixed into the dialect's identifier preparer: ``_render_schema_translates`` answered from a dict."""

    _cd_translations: dict[tuple[Any, ...], str]

    def _render_schema_translates(self, statement: str, schema_translate_map: Any) -> str:
        render = super()._render_schema_translates  # type: ignore[misc]
        if None in schema_translate_map or not all(schema_translate_map.values()):
            return render(statement, schema_translate_map)  # type: ignore[no-any-return]  # the default schema's
        key = (statement, *schema_translate_map.items())
        memo = self._cd_translations
        text_ = memo.get(key)
        if text_ is None:
            text_ = render(statement, schema_translate_map)
            if len(memo) >= TRANSLATIONS_KEPT:
                memo.clear()
            memo[key] = text_
        return text_


_preparer_classes: dict[type, type] = {}


def _remember_translations(engine: AsyncEngine) -> None:
    """Every compiled statement's preparer is a copy of the dialect's (class and ``__dict__``), so the mixin and the
    dict set here serve them all."""
    preparer = engine.sync_engine.dialect.identifier_preparer
    cls = type(preparer)
    mixed = _preparer_classes.get(cls)
    if mixed is None:
        mixed = _preparer_classes[cls] = type(cls.__name__, (_RememberedTranslations, cls), {})
    preparer.__class__ = mixed
    preparer._cd_translations = {}  # type: ignore[attr-defined]


_on_dispose: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Callable[[], Awaitable[None]]]] = (
    weakref.WeakKeyDictionary())


def on_dispose(close: Callable[[], Awaitable[None]]) -> None:
    """Have ``dispose_engine`` of the running loop await ``close`` first (what holds connections of its pool: the
    sweep's breach lanes)."""
    _on_dispose.setdefault(asyncio.get_running_loop(), []).append(close)


async def dispose_engine() -> None:
    """Close the running loop's pool (end of a CLI command, a worker, a test run)."""
    loop = asyncio.get_running_loop()
    for close in _on_dispose.pop(loop, []):
        await close()
    engine = _engines.pop(loop, None)
    if engine is not None:
        await engine.dispose()


_SET_SEARCH_PATH = text("SELECT set_config('search_path', :path, true)")


@event.listens_for(Session, "after_begin")
def _bind_search_path(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    schema = session.info.get("tenant_schema")
    if schema is not None:
        connection.execute(_SET_SEARCH_PATH, {"path": f'"{schema}"'})


_tenant_engines: weakref.WeakKeyDictionary[AsyncEngine, dict[str | None, AsyncEngine]] = weakref.WeakKeyDictionary()


# What ``tenant`` becomes in a shared session's statements before it is cut out (SQLAlchemy renders a schema-less
# target as the default schema, ``public``, so the name goes through a marker no schema has).
_UNQUALIFIED = "cd_unqualified_tenant"
_UNQUALIFIED_PREFIX = _UNQUALIFIED + "."


def _unqualify(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> tuple[str, Any]:
    return statement.replace(_UNQUALIFIED_PREFIX, ""), parameters


def tenant_engine(schema: str | None) -> AsyncEngine:
    """The loop's engine with ``tenant`` translated to ``schema`` (same pool, no copy). ``None``: the tenant tables
    named without a schema, found through the transaction's ``search_path`` (``open_tenant_session(shared=True)``)."""
    base = get_engine()
    per_schema = _tenant_engines.setdefault(base, {})
    engine = per_schema.get(schema)
    if engine is None:
        engine = base.execution_options(
            schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: _UNQUALIFIED if schema is None else schema})
        if schema is None:  # this engine's own listener (an option engine's events do not reach its parent)
            event.listen(engine.sync_engine, "before_cursor_execute", _unqualify, retval=True)
        per_schema[schema] = engine
    return engine


@asynccontextmanager
async def open_tenant_session(schema: str, *, shared: bool = False, **kwargs: Any) -> AsyncIterator[AsyncSession]:
    """A session bound to an already validated tenant schema name (see ``tenancy``).

    ``shared``: the statements name the tenant's tables without their schema and find them through the
    ``search_path`` every transaction sets first (``_bind_search_path``), so a statement's text is the same in every
    tenant and the driver's prepared statement (asyncpg's per-connection cache) serves them all: one round trip per
    statement instead of a prepare and an execute whenever the tenant changed. PostgreSQL re-plans a prepared
    statement whose ``search_path`` changed, so each tenant's statement reads its own tables. For code that visits
    many tenants in turn (the sweep). A platform table is always named with its schema (``public``), and no tenant
    table has a platform table's name, so a statement without the path fails rather than reads another schema."""
    session = AsyncSession(bind=tenant_engine(None if shared else schema), expire_on_commit=False, **kwargs)
    session.sync_session.info["tenant_schema"] = schema
    session.sync_session.info["shared_statements"] = shared
    try:
        yield session
    finally:
        await session.close()


@asynccontextmanager
async def driver_connection() -> AsyncIterator[Any]:
    """A pooled connection's driver connection (asyncpg's), outside any session and transaction: each statement on
    it is a transaction of its own (one snapshot). For one statement whose text names every table with its schema
    (the compiled plans, services/api/compiled.py): no ``search_path`` is set here. Back to the pool when the block
    ends; closed instead when the block is left by anything but a database error (a broken or cancelled
    connection is not handed on)."""
    fairy = await greenlet_spawn(get_engine().sync_engine.pool.connect)  # a new connection needs await_only
    driver = fairy.driver_connection
    assert driver is not None
    try:
        yield driver
    except asyncpg.PostgresError:  # the statement failed; the connection is fine unless the server closed it
        await greenlet_spawn(fairy.invalidate if driver.is_closed() else fairy.close)
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(greenlet_spawn(fairy.invalidate))
        raise
    else:
        await greenlet_spawn(fairy.close)


@asynccontextmanager
async def platform_session() -> AsyncIterator[AsyncSession]:
    session = AsyncSession(bind=get_engine(), expire_on_commit=False)
    try:
        yield session
    finally:
        await session.close()
