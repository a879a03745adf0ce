"""Tenant lifecycle: create, list, suspend, resume, migrate all.

Creating a tenant is one PostgreSQL transaction: the registry row, the schema,
its migrations, the template's seed data and, when an e-mail is given, its first
admin (role ``tenant_admin``, no password, a one-time set-password token) commit
together or not at all, so a refused or failed creation leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import Actor
from services.core.auth.password_tokens import IssuedPasswordToken, issue_password_token
from services.core.clock import system_clock
from services.core.crypto.keys import destroy_tenant_keys_sync
from services.core.db import TENANT_SCHEMA_PLACEHOLDER, get_engine
from services.core.errors import DomainError
from services.core.org.service import create_user
from services.core.outbox.models import SweepWakeup
from services.core.tenancy import (
    Tenant,
    TenantError,
    TenantExists,
    TenantNotFound,
    TenantStatus,
    forget_tenant,
    schema_for,
    validate_slug,
)
from tenants.migrate import upgrade_platform, upgrade_tenant_schema
from tenants.templates import TEMPLATES, seed


class UnknownTemplate(TenantError):
    code = "TEMPLATE_UNKNOWN"


class InvalidDisplayName(TenantError):
    code = "TENANT_NAME_INVALID"


@dataclass(frozen=True)
class TenantInfo:
    slug: str
    display_name: str
    status: str
    template: str
    schema_name: str
    schema_revision: str | None
    created_at: str
    request_budget: str | None = None  # "RATE/BURST"; None: the platform's default
    registered_documents_only: bool = False


def _info(row: Any) -> TenantInfo:
    """From a ``Tenant`` object or a row of its columns."""
    return TenantInfo(
        slug=row.slug,
        display_name=row.display_name,
        status=row.status,
        template=row.template,
        schema_name=row.schema_name,
        schema_revision=row.schema_revision,
        created_at=row.created_at.isoformat(timespec="seconds"),
        request_budget=row.request_budget,
        registered_documents_only=row.registered_documents_only,
    )


async def migrate_platform() -> tuple[str | None, str | None]:
    """Upgrade the platform schema; (before, after) revisions (equal: nothing to do)."""
    async with get_engine().begin() as conn:
        return await upgrade_platform(conn)


FIRST_ADMIN_ROLE = "tenant_admin"


@dataclass(frozen=True)
class AdminSpec:
    """The new tenant's first admin: an e-mail, and a display name (default: the e-mail's local part)."""

    email: str
    display_name: str | None = None


@dataclass(frozen=True)
class ProvisionedTenant:
    info: TenantInfo
    admin: IssuedPasswordToken | None
    """The first admin's one-time set-password token and link (None: no admin was asked for)."""


async def create_tenant(slug: str, *, display_name: str | None = None, template: str = "retail") -> TenantInfo:
    """A new tenant without users (``provision_tenant`` makes its first admin too)."""
    return (await provision_tenant(slug, display_name=display_name, template=template)).info


async def provision_tenant(
    slug: str, *, display_name: str | None = None, template: str = "retail", admin: AdminSpec | None = None,
    actor: Actor | None = None, now: datetime | None = None,
) -> ProvisionedTenant:
    """Create tenant ``slug`` and, with ``admin``, its first ``tenant_admin`` and their set-password token, in one
    transaction. A bad admin e-mail raises the core's ``DomainError`` (``INVALID``, field ``email``) and nothing is
    created. ``actor`` (e.g. the operator) is who the audit trail says issued the token, at ``now`` (default: the
    system clock)."""
    validate_slug(slug)
    if template not in TEMPLATES:
        raise UnknownTemplate(f"unknown template {template!r} (choose from {', '.join(sorted(TEMPLATES))})")
    name = (display_name or slug).strip()
    if not name or len(name) > 200:
        raise InvalidDisplayName("display name must be 1-200 characters")
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        exists = await conn.scalar(select(Tenant.slug).where(Tenant.slug == slug))
        if exists is not None:
            raise TenantExists(f"tenant {slug!r} already exists")
        orphan = await conn.scalar(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
        )
        if orphan is not None:
            raise TenantExists(f"schema {schema!r} already exists without a registry entry; refusing to reuse it")
        try:
            await conn.execute(
                insert(Tenant).values(
                    slug=slug, display_name=name, template=template, schema_name=schema,
                    status=TenantStatus.ACTIVE.value,
                )
            )
        except IntegrityError as exc:  # a concurrent create of the same slug
            raise TenantExists(f"tenant {slug!r} already exists") from exc
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        _, revision = await upgrade_tenant_schema(conn, schema)
        await conn.execute(update(Tenant).where(Tenant.slug == slug).values(schema_revision=revision))
        bound = await conn.execution_options(schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: schema})
        session = AsyncSession(bind=bound, join_transaction_mode="create_savepoint")
        await seed(session, TEMPLATES[template])
        issued = None
        if admin is not None:
            issued = await _first_admin(session, slug, admin, actor or Actor(user_id=None, label="provisioning"),
                                        now or system_clock.now())
        await session.commit()  # releases the session's savepoint; the outer transaction commits below
        await session.close()
        row = (await conn.execute(select(Tenant).where(Tenant.slug == slug))).one()
    return ProvisionedTenant(_info(row), issued)


async def _first_admin(session: AsyncSession, slug: str, admin: AdminSpec, actor: Actor,
                       now: datetime) -> IssuedPasswordToken:
    email = admin.email.strip().lower()
    name = (admin.display_name or "").strip() or email.partition("@")[0] or email
    try:
        user = await create_user(session, email=email, display_name=name, roles=[FIRST_ADMIN_ROLE])
    except DomainError as exc:
        if exc.field == ["email"]:
            exc.field = ["adminEmail"]
        elif exc.field == ["displayName"]:
            exc.field = ["adminName"]
        raise
    return await issue_password_token(session, tenant=slug, user=user, actor=actor, now=now)


async def list_tenants() -> list[TenantInfo]:
    async with AsyncSession(get_engine()) as session:
        rows = (await session.scalars(select(Tenant).order_by(Tenant.slug))).all()
        return [_info(r) for r in rows]


async def get_tenant(slug: str) -> TenantInfo:
    validate_slug(slug)
    async with AsyncSession(get_engine()) as session:
        row = await session.get(Tenant, slug)
        if row is None:
            raise TenantNotFound(f"unknown tenant {slug!r}")
        return _info(row)


async def set_status(slug: str, status: TenantStatus) -> tuple[TenantInfo, bool]:
    """Returns the tenant and whether anything changed."""
    validate_slug(slug)
    async with AsyncSession(get_engine()) as session, session.begin():
        row = await session.get(Tenant, slug, with_for_update=True)
        if row is None:
            raise TenantNotFound(f"unknown tenant {slug!r}")
        changed = row.status != status.value
        row.status = status.value
        await session.flush()
        await session.refresh(row)
        info = _info(row)
    forget_tenant(slug)  # committed: this process's next request reads the registry again
    return info, changed


class InvalidRequestBudget(TenantError):
    code = "INVALID_BUDGET"


async def set_request_budget(slug: str, budget: str | None) -> TenantInfo:
    """Set the tenant's request budget (``RATE/BURST``: requests a second per API process, at once), or with
    ``None`` return it to the platform's default. Every API process applies it within ``TENANT_CACHE_TTL_S``."""
    from services.core.ratelimit import InvalidBudget, parse_budget

    validate_slug(slug)
    normalized = None
    if budget is not None:
        try:
            normalized = str(parse_budget(budget))
        except InvalidBudget as exc:
            raise InvalidRequestBudget(str(exc)) from None
    async with AsyncSession(get_engine()) as session, session.begin():
        row = await session.get(Tenant, slug, with_for_update=True)
        if row is None:
            raise TenantNotFound(f"unknown tenant {slug!r}")
        row.request_budget = normalized
        await session.flush()
        await session.refresh(row)
        info = _info(row)
    forget_tenant(slug)
    return info


async def set_registered_documents_only(slug: str, only: bool) -> TenantInfo:
    """Accept only the registered documents (trusted documents) for the tenant, or any document again."""
    validate_slug(slug)
    async with AsyncSession(get_engine()) as session, session.begin():
        row = await session.get(Tenant, slug, with_for_update=True)
        if row is None:
            raise TenantNotFound(f"unknown tenant {slug!r}")
        row.registered_documents_only = only
        await session.flush()
        await session.refresh(row)
        info = _info(row)
    forget_tenant(slug)
    return info


class TenantNotSuspended(TenantError):
    code = "TENANT_NOT_SUSPENDED"


async def delete_tenant(slug: str) -> int:
    """Drop a suspended tenant's schema and destroy its keys, in one transaction; returns the keys destroyed.

    Without its keys nothing of the tenant can be read again, backups of its schema included.
    """
    validate_slug(slug)
    async with get_engine().begin() as conn:
        row = (await conn.execute(select(Tenant.status).where(Tenant.slug == slug).with_for_update())).first()
        if row is None:
            raise TenantNotFound(f"unknown tenant {slug!r}")
        if row.status != TenantStatus.SUSPENDED.value:
            raise TenantNotSuspended(f"suspend tenant {slug!r} before deleting it")
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_for(slug)}" CASCADE'))
        await conn.execute(delete(SweepWakeup).where(SweepWakeup.schema_name == schema_for(slug)))
        destroyed = await conn.run_sync(destroy_tenant_keys_sync, slug)
        await conn.execute(delete(Tenant).where(Tenant.slug == slug))
    return destroyed


@dataclass(frozen=True)
class MigrationResult:
    slug: str
    before: str | None
    after: str | None
    error: str | None
    deadlines_moved: int = 0
    """Open deadlines computed again after an upgrade across ``RECEIPT_RULE_REVISION`` that moved."""


RECEIPT_RULE_REVISION = "t0011"
"""The tenant revision that made the receipt rule the jurisdiction's (CN: Civil Code art. 201)."""


async def _recount_deadlines(conn: Any, schema: str) -> int:
    """Compute the tenant's open deadlines again, by its calendar as it counts now (in the migration's
    transaction; audited when any moved)."""
    from services.core.deadlines.service import recompute_tenant_deadlines

    bound = await conn.execution_options(schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: schema})
    await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    session = AsyncSession(bind=bound, join_transaction_mode="create_savepoint")
    try:
        moved = await recompute_tenant_deadlines(session, actor=Actor.system(), now=system_clock.now(),
                                                 reason=f"receipt rule ({RECEIPT_RULE_REVISION})")
        await session.commit()  # releases the savepoint; the migration's transaction commits it
    finally:
        await session.close()
    return moved


async def migrate_all(
    *,
    on_progress: Callable[[int, int, MigrationResult], None] | None = None,
    only: Sequence[str] | None = None,
    on_platform: Callable[[str | None, str | None], None] | None = None,
) -> list[MigrationResult]:
    """Upgrade the platform schema, then each tenant schema in its own transaction.

    A tenant whose migration fails is rolled back whole and reported; the others go on. A tenant upgraded across
    ``RECEIPT_RULE_REVISION`` has its open deadlines computed again in the same transaction.
    """
    before, after = await migrate_platform()
    if on_platform is not None:
        on_platform(before, after)
    async with AsyncSession(get_engine()) as session:
        query = select(Tenant.slug, Tenant.schema_name).order_by(Tenant.slug)
        if only:
            query = query.where(Tenant.slug.in_(list(only)))
        tenants = (await session.execute(query)).all()
    results: list[MigrationResult] = []
    for index, (slug, schema_name) in enumerate(tenants, start=1):
        try:
            schema = schema_for(slug)
            if schema != schema_name:
                raise TenantError(f"registry names schema {schema_name!r}, expected {schema!r}")
            moved = 0
            async with get_engine().begin() as conn:
                before, after = await upgrade_tenant_schema(conn, schema)
                await conn.execute(update(Tenant).where(Tenant.slug == slug).values(schema_revision=after))
                if before is not None and before < RECEIPT_RULE_REVISION <= (after or ""):
                    moved = await _recount_deadlines(conn, schema)
            result = MigrationResult(slug, before, after, None, moved)
        except Exception as exc:  # reported per tenant; the others still migrate
            result = MigrationResult(slug, None, None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        results.append(result)
        if on_progress is not None:
            on_progress(index, len(tenants), result)
    return results
