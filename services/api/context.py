"""Per-request context: tenant, request id, one lazily opened tenant session.

GraphQL resolves sibling fields concurrently, and an AsyncSession must never be
used by two coroutines at once; every use goes through ``db()`` or
``transaction()``, which take the request's lock. One connection per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as _Info

from services.core.tenancy import TenantRef, tenant_session


@dataclass
class Context:
    request: Request
    response: Response | None
    tenant: TenantRef
    request_id: str
    exit_stack: AsyncExitStack
    after_commit: list[Any] = field(default_factory=list)
    _session: AsyncSession | None = None

    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _session_unlocked(self) -> AsyncSession:
        if self._session is None:
            self._session = await self.exit_stack.enter_async_context(tenant_session(self.tenant))
        return self._session

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request's session for reads (bound to the tenant; closed when the request ends)."""
        async with self._lock:
            yield await self._session_unlocked()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits when the block ends, rolls back on any exception."""
        async with self._lock:
            session = await self._session_unlocked()
            if session.in_transaction():
                await session.commit()  # end the read snapshot so the write sees current data
            async with session.begin():
                yield session


Info = _Info[Context, None]
