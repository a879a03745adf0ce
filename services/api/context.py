"""Per-request context: tenant, viewer, request id, loaders, and one lazily opened tenant session.

GraphQL resolves sibling fields concurrently, and an AsyncSession must never be
used by two coroutines at once; every use goes through ``db()`` or
``transaction()``, which take the request's lock. One connection per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as _Info

from services.api.errors import RequestError
from services.api.loaders import Loaders
from services.core.audit.service import Actor
from services.core.clock import Clock, system_clock
from services.core.org import service as org_service
from services.core.tenancy import TenantRef, tenant_session

USER_HEADER = "x-user"


@dataclass(frozen=True)
class Viewer:
    """The signed-in tenant user. Until authentication lands it is named by the X-User header."""

    id: Any
    email: str
    roles: tuple[str, ...]

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.id, label=self.email)


@dataclass
class Context:
    request: Request
    response: Response | None
    tenant: TenantRef
    request_id: str
    exit_stack: AsyncExitStack
    clock: Clock = system_clock
    redis: Any = None
    _session: AsyncSession | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _viewer: Viewer | None = None
    _viewer_resolved: bool = False
    _viewer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def client_ip(self) -> str:
        return self.request.client.host if self.request.client else "unknown"

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self.db)

    def reset_loaders(self) -> None:
        """Forget cached loads (after a mutation changed what they hold)."""
        self.__dict__.pop("loaders", None)

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

    async def viewer(self) -> Viewer | None:
        async with self._viewer_lock:  # sibling fields ask at once; look the user up once
            if not self._viewer_resolved:
                email = self.request.headers.get(USER_HEADER)
                if email:
                    async with self.db() as session:
                        user = await org_service.get_user_by_email(session, email[:254])
                    if user is not None and user.active:
                        self._viewer = Viewer(id=user.id, email=user.email, roles=tuple(user.roles))
                self._viewer_resolved = True
        return self._viewer

    async def require_viewer(self) -> Viewer:
        viewer = await self.viewer()
        if viewer is None:
            raise RequestError("sign-in required: this operation is for the company's staff", "UNAUTHENTICATED")
        return viewer


Info = _Info[Context, None]
