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
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction

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
POOL_SIZE = 10
MAX_OVERFLOW = 10
# Sessions that may hold a connection at once through ``session_slot``: the pool's capacity less a few left
# for what does not queue there (the registry look-up, readiness checks, a second session of a request).
SESSION_SLOTS = POOL_SIZE + MAX_OVERFLOW - 4
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def session_slot() -> asyncio.Semaphore:
    """The running loop's first-come-first-served queue for connections.

    The pool hands a returned connection to whoever asks next, not to whoever waited longest (an asyncio.Queue
    woken waiter that finds the connection taken goes to the back of the line), so under load some requests
    wait for seconds while others pass. Taking a slot here first (asyncio.Semaphore serves waiters in order)
    before checking out keeps the pool itself uncontended.
    """
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(SESSION_SLOTS)
    return slot


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
        _engines[loop] = engine
    return engine


async def dispose_engine() -> None:
    """Close the running loop's pool (end of a CLI command, a worker, a test run)."""
    loop = asyncio.get_running_loop()
    engine = _engines.pop(loop, None)
    if engine is not None:
        await engine.dispose()


_SET_SEARCH_PATH = text("SELECT set_config('search_path', :path, true)")


@event.listens_for(Session, "after_begin")
def _bind_search_path(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    schema = session.info.get("tenant_schema")
    if schema is not None:
        connection.execute(_SET_SEARCH_PATH, {"path": f'"{schema}"'})


_tenant_engines: weakref.WeakKeyDictionary[AsyncEngine, dict[str, AsyncEngine]] = weakref.WeakKeyDictionary()


def tenant_engine(schema: str) -> AsyncEngine:
    """The loop's engine with ``tenant`` translated to ``schema`` (same pool, no copy)."""
    base = get_engine()
    per_schema = _tenant_engines.setdefault(base, {})
    engine = per_schema.get(schema)
    if engine is None:
        engine = base.execution_options(schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: schema})
        per_schema[schema] = engine
    return engine


@asynccontextmanager
async def open_tenant_session(schema: str, **kwargs: Any) -> AsyncIterator[AsyncSession]:
    """A session bound to an already validated tenant schema name (see ``tenancy``)."""
    session = AsyncSession(bind=tenant_engine(schema), expire_on_commit=False, **kwargs)
    session.sync_session.info["tenant_schema"] = schema
    try:
        yield session
    finally:
        await session.close()


@asynccontextmanager
async def platform_session() -> AsyncIterator[AsyncSession]:
    session = AsyncSession(bind=get_engine(), expire_on_commit=False)
    try:
        yield session
    finally:
        await session.close()
