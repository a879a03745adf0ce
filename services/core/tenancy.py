"""Tenants: the registry, slug rules, the current-tenant context and tenant sessions.

The tenant is resolved once at the edge (the API's middleware, the worker's
message middleware) and fails closed: there is no default tenant anywhere.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import re
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.keys import get_keyring
from services.core.db import PlatformBase, open_tenant_session, platform_session
from services.core.i18n import N_, msg

# 3 to 32 characters: lower-case letters, digits and single inner hyphens, starting with a
# letter. Hyphens become underscores in the schema name, so the mapping is one-to-one
# (underscores are not allowed in slugs) and a slug is also a valid host label.
SLUG_PATTERN = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){2,31}$")
RESERVED_SLUGS = frozenset({"admin", "api", "app", "platform", "public", "root", "static", "system", "www"})
SCHEMA_PREFIX = "tenant_"


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class TenantError(Exception):
    """A tenant problem the caller is told about; ``code`` is stable, ``message`` is for people."""

    code = "TENANT_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TenantRequired(TenantError):
    code = "TENANT_REQUIRED"


class InvalidTenantSlug(TenantError):
    code = "TENANT_INVALID"


class TenantNotFound(TenantError):
    code = "TENANT_NOT_FOUND"


class TenantSuspended(TenantError):
    code = "TENANT_SUSPENDED"


class TenantExists(TenantError):
    code = "TENANT_EXISTS"


class Tenant(PlatformBase):
    """The tenant registry, in the platform schema."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE.value)
    template: Mapped[str] = mapped_column(String(32))
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    schema_revision: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # requests a second one API process serves it, "RATE/BURST"; null: COMPLAINTDESK_TENANT_BUDGET (p0005)
    request_budget: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # only the registered documents (the SPAs' operations, by hash) are accepted for it (p0006)
    registered_documents_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_PATTERN.fullmatch(slug):
        raise InvalidTenantSlug(N_(
            "tenant slug must be 3-32 characters: lower-case letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen"
        ))
    if slug in RESERVED_SLUGS:
        raise InvalidTenantSlug(msg("tenant slug {slug!r} is reserved", slug=slug))
    return slug


def schema_for(slug: str) -> str:
    return SCHEMA_PREFIX + validate_slug(slug).replace("-", "_")


@dataclass(frozen=True, slots=True)
class TenantRef:
    """What a request or a message knows about its tenant once it has been resolved."""

    slug: str
    schema: str
    template: str
    request_budget: str | None = None  # "RATE/BURST" set by an operator; None: the platform's default
    registered_documents_only: bool = False  # trusted documents only (services/api/documents.py)


_current: contextvars.ContextVar[TenantRef | None] = contextvars.ContextVar("complaintdesk_tenant", default=None)


def current_tenant() -> TenantRef:
    tenant = _current.get()
    if tenant is None:
        raise TenantRequired("no tenant is bound to this request or message")
    return tenant


def current_tenant_or_none() -> TenantRef | None:
    return _current.get()


def bind_tenant_token(tenant: TenantRef | None) -> contextvars.Token[TenantRef | None]:
    """Bind ``tenant`` (or none); ``unbind_tenant_token`` restores what was bound before."""
    return _current.set(tenant)


def unbind_tenant_token(token: contextvars.Token[TenantRef | None]) -> None:
    _current.reset(token)


# Active tenants resolved in the last few seconds, by slug: the registry row changes only when an operator creates,
# suspends or resumes a tenant. ``set_status`` forgets the slug in its own process at once; any other process
# (another API worker, the CLI) is seen within TENANT_CACHE_TTL_S. Unknown and suspended tenants are never
# cached, so resuming or creating a tenant takes effect on the next request everywhere.
TENANT_CACHE_TTL_S = 2.0
_resolved: dict[str, tuple[TenantRef, float]] = {}
_lookups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def forget_tenant(slug: str | None = None) -> None:
    """Drop ``slug`` (or every tenant) from this process's cache of resolved tenants."""
    if slug is None:
        _resolved.clear()
    else:
        _resolved.pop(slug, None)


async def resolve_tenant(slug: str | None) -> TenantRef:
    """Slug -> active tenant, or a ``TenantError``. Never a default.

    An active tenant is remembered for at most ``TENANT_CACHE_TTL_S`` seconds: a suspension made in another
    process is refused within that bound (in this process, ``set_status`` forgets it at once).
    """
    if slug is None or slug == "":
        raise TenantRequired(N_("a tenant is required"))
    cached = _resolved.get(slug)
    if cached is not None and time.monotonic() < cached[1]:
        return cached[0]
    validate_slug(slug)
    # one look-up per slug at a time in this loop: when an entry expires, the requests arriving meanwhile wait
    # for it instead of each reading the registry
    locks = _lookups.get(asyncio.get_running_loop())
    if locks is None:
        locks = _lookups[asyncio.get_running_loop()] = {}
    lock = locks.setdefault(slug, asyncio.Lock())
    try:
        async with lock:
            cached = _resolved.get(slug)
            if cached is not None and time.monotonic() < cached[1]:
                return cached[0]
            return await _read_registry(slug)
    finally:
        if not lock.locked() and locks.get(slug) is lock:
            del locks[slug]  # no lock kept per slug ever asked for (unknown ones included)


async def _read_registry(slug: str) -> TenantRef:
    _resolved.pop(slug, None)
    async with platform_session() as session:
        row = (
            await session.execute(
                select(Tenant.slug, Tenant.schema_name, Tenant.status, Tenant.template, Tenant.request_budget,
                       Tenant.registered_documents_only).where(
                    Tenant.slug == slug
                )
            )
        ).one_or_none()
    if row is None:
        raise TenantNotFound(msg("unknown tenant {slug!r}", slug=slug))
    if row.status != TenantStatus.ACTIVE.value:
        raise TenantSuspended(msg("tenant {slug!r} is suspended", slug=slug))
    if row.schema_name != schema_for(row.slug):
        # The registry was edited by hand; refuse rather than follow it somewhere else.
        raise TenantNotFound(msg("unknown tenant {slug!r}", slug=slug))
    tenant = TenantRef(slug=row.slug, schema=row.schema_name, template=row.template,
                       request_budget=row.request_budget,
                       registered_documents_only=row.registered_documents_only)
    _resolved[slug] = (tenant, time.monotonic() + TENANT_CACHE_TTL_S)
    return tenant


@asynccontextmanager
async def tenant_session(tenant: TenantRef | None = None, *, shared: bool = False) -> AsyncIterator[AsyncSession]:
    """A session bound to ``tenant`` (default: the tenant bound to this context). ``shared``: statements whose text
    is the same in every tenant (``db.open_tenant_session``)."""
    bound = tenant if tenant is not None else current_tenant()
    keyring = await get_keyring(bound.slug)
    async with open_tenant_session(schema_for(bound.slug), shared=shared) as session:
        session.sync_session.info["keyring"] = keyring
        yield session
