"""Per-request context: tenant, viewer, request id, loaders, and one lazily opened tenant session.

The edge has verified the bearer token (``principal``) and resolved the tenant. The viewer
is loaded once per request from the principal alone: the user named by the token, in the
token's tenant, existing and active, with the roles the database holds (never the token's).

GraphQL resolves sibling fields concurrently, and an AsyncSession must never be
used by two coroutines at once; every use goes through ``db()`` or
``transaction()``, which take the request's lock. One connection per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as _Info

from services.api.auth.principal import ExternalPrincipal, OperatorPrincipal, Principal, StaffPrincipal
from services.api.errors import RequestError
from services.api.loaders import Loaders
from services.api.ratelimit import retry_after
from services.core import i18n
from services.core.audit.service import Actor
from services.core.auth import operators as operator_service
from services.core.auth import service as auth_service
from services.core.authz import ComplaintAccess
from services.core.clock import Clock, system_clock
from services.core.db import session_slots
from services.core.errors import DomainError, ErrorCode
from services.core.faults import unstorable_text
from services.core.i18n import N_
from services.core.i18n.tenant import tenant_locale
from services.core.idempotency import service as idempotency_service
from services.core.tenancy import TenantRef, tenant_session

UNSTORABLE_MESSAGE = N_("a value contains a character that cannot be stored (U+0000)")


def _alive(ref: weakref.ReferenceType[Context]) -> Context:
    context = ref()
    if context is None:  # a loader used after its request ended
        raise RuntimeError("the request's context is gone")
    return context


@dataclass(frozen=True)
class Viewer:
    """The signed-in tenant user, as the verified token names them."""

    id: Any
    email: str
    roles: tuple[str, ...]
    org_unit_id: Any = None
    locale: str | None = None  # their own choice (updateMyPreferences), if any

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.id, label=self.email)


@dataclass
class Context:
    request: Request
    response: Response | None
    request_id: str
    exit_stack: AsyncExitStack
    tenant_ref: TenantRef | None = None  # None: the request named no tenant (sign-in, operator operations)
    principal: Principal | None = None
    clock: Clock = system_clock
    redis: Any = None
    _session: AsyncSession | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _viewer: Viewer | None = None
    _viewer_resolved: bool = False
    _viewer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the tenant's policy version, read with the viewer in this request's transaction (None: read it again)
    policy_version: int | None = None
    _operator: OperatorPrincipal | None = None
    _operator_resolved: bool = False
    # the request's Idempotency-Key reservation (services/api/idempotency.py): marked in every write transaction
    idempotency_reservation: uuid.UUID | None = None
    connection_params: dict[str, Any] | None = None  # a WebSocket's connection_init payload
    _locale: str | None = None

    @property
    def tenant(self) -> TenantRef:
        """The request's tenant; a ``TENANT_REQUIRED`` error (400) when the request named none."""
        if self.tenant_ref is None:
            if self.response is not None:
                self.response.status_code = 400
            raise RequestError(
                N_("a tenant is required: send an access token, the X-Tenant header or use the tenant's host name"),
                "TENANT_REQUIRED",
            )
        return self.tenant_ref

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def client_ip(self) -> str:
        """The client's address: the connection's peer, or what a trusted proxy forwarded (the app's proxy-headers
        middleware, only for COMPLAINTDESK_TRUSTED_PROXIES). Throttles keep only a keyed hash of it."""
        return self.request.client.host if self.request.client else "unknown"

    def throttled(self, retry_after_s: int | None) -> None:
        """A throttle refused the request: tell the client when to try again (``Retry-After``), whatever the status
        (a payload's RATE_LIMITED userError still answers 200)."""
        if retry_after_s is not None and self.response is not None:
            self.response.headers["Retry-After"] = str(retry_after(retry_after_s))

    @cached_property
    def loaders(self) -> Loaders:
        from services.api.authz import complaint_access

        # The loaders reach this context weakly: the context holds them, so a strong reference back would make a
        # cycle, and the request's loads, session and results would wait for the garbage collector to be freed.
        me = weakref.ref(self)

        def db() -> AbstractAsyncContextManager[AsyncSession]:
            return _alive(me).db()

        def access() -> Awaitable[ComplaintAccess]:
            return complaint_access(_alive(me))

        return Loaders(db, access)

    def forget_session(self) -> None:
        """A WebSocket's context outlives its sessions: the next read opens a new one (on the current stack)."""
        self._session = None
        self.reset_loaders()

    def reset_loaders(self) -> None:
        """Forget cached loads and access filters (after a mutation changed what they hold)."""
        self.__dict__.pop("loaders", None)
        self.__dict__.pop("_complaint_access", None)
        self.policy_version = None  # a write may have changed the policies or the viewer's unit

    async def _session_unlocked(self) -> AsyncSession:
        if self._session is None:
            tenant = self.tenant
            slots = session_slots()  # in turn within a tenant, fairly between tenants
            await slots.acquire(tenant.slug)
            self.exit_stack.callback(slots.release, tenant.slug)  # after the session closes (the stack unwinds)
            self._session = await self.exit_stack.enter_async_context(tenant_session(tenant))
        return self._session

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The request's session for reads (bound to the tenant; closed when the request ends)."""
        async with self._lock:
            yield await self._session_unlocked()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits when the block ends, rolls back on any exception."""
        await self.viewer()  # resolved before the lock: authorization inside the block needs it
        async with self._lock:
            session = await self._session_unlocked()
            if session.in_transaction():
                await session.commit()  # end the read snapshot so the write sees current data
            try:
                async with session.begin():
                    yield session
                    if self.idempotency_reservation is not None:  # committed with the effect, or not at all
                        await idempotency_service.mark_committed(session, self.idempotency_reservation)
            except DBAPIError as exc:
                if unstorable_text(exc):  # rolled back; any field of any mutation, one rule
                    raise DomainError(ErrorCode.INVALID, UNSTORABLE_MESSAGE) from exc
                raise

    async def viewer(self) -> Viewer | None:
        """The signed-in staff member, or None (no token, an operator's token, or no such active user)."""
        async with self._viewer_lock:  # sibling fields ask at once; look the user up once
            if not self._viewer_resolved:
                principal = self.principal
                if self.tenant_ref is not None and isinstance(principal, StaffPrincipal | ExternalPrincipal):
                    async with self.db() as session:
                        if isinstance(principal, StaffPrincipal):
                            user = await auth_service.active_user(session, user_id=principal.user_id)
                        else:
                            user = await auth_service.active_user(session, email=principal.email)
                    if user is not None:
                        self._viewer = Viewer(id=user.id, email=user.email, roles=user.roles,
                                              org_unit_id=user.org_unit_id, locale=user.locale)
                        self.policy_version = user.policy_version
                self._viewer_resolved = True
        return self._viewer

    async def locale(self) -> str:
        """The language this request's texts are in: the signed-in user's preference, else the request's
        ``Accept-Language``, else the tenant's default (zh-CN unless the tenant chose otherwise)."""
        if self._locale is None:
            viewer = await self.viewer() if self.tenant_ref is not None else None
            preference = viewer.locale if viewer is not None else None
            accept = self.request.headers.get("accept-language") if self.request is not None else None
            tenant_default = None
            if i18n.normalize(preference) is None and i18n.from_accept_language(accept) is None \
                    and self.tenant_ref is not None:
                async with self.db() as session:
                    tenant_default = await tenant_locale(session)
            self._locale = i18n.choose(preference, accept, tenant_default)
        return self._locale

    async def error_locale(self, *, outage: bool) -> str:
        """The language of this request's top-level errors: ``locale()``, unless a dependency is down (then, and
        when looking the viewer or the tenant's default up fails, what ``Accept-Language`` asks for, else zh-CN:
        an error is never made worse by its own translation)."""
        accept = self.request.headers.get("accept-language") if self.request is not None else None
        if self._locale is not None or not outage:
            with contextlib.suppress(Exception):  # the database failing here is the error being answered
                return await self.locale()
        return i18n.from_accept_language(accept) or i18n.DEFAULT_LOCALE

    def forget_locale(self) -> None:
        """The viewer changed their language: read it again."""
        self._locale = None
        self._viewer_resolved = False

    async def translate(self, text: str) -> str:
        """A marked text (a message id or ``msg(...)``) in this request's language."""
        return i18n.translate(text, await self.locale())

    async def require_viewer(self) -> Viewer:
        viewer = await self.viewer()
        if viewer is None:
            raise RequestError(N_("sign-in required: this operation is for the company's staff"), "UNAUTHENTICATED")
        return viewer

    async def operator(self) -> OperatorPrincipal | None:
        """The platform operator the token names, if they still exist and are active."""
        async with self._viewer_lock:
            if not self._operator_resolved:
                principal = self.principal
                if isinstance(principal, OperatorPrincipal):
                    found = await operator_service.get_active_operator(principal.name)
                    self._operator = principal if found is not None else None
                self._operator_resolved = True
        return self._operator

    async def require_operator(self) -> OperatorPrincipal:
        if isinstance(self.principal, StaffPrincipal | ExternalPrincipal):
            raise RequestError(N_("this operation is for platform operators"), "FORBIDDEN")
        operator = await self.operator()
        if operator is None:
            raise RequestError(N_("sign-in required: this operation is for platform operators"), "UNAUTHENTICATED")
        return operator


Info = _Info[Context, None]
