"""The sweep: every active tenant's due outbox items, rebuilt from PostgreSQL each time (Redis holds nothing
that matters). Safe to run in many processes at once: each batch claims its rows ``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select

from services.core.clock import Clock, system_clock
from services.core.db import platform_session
from services.core.outbox.service import DispatchResult, dispatch_due
from services.core.tenancy import Tenant, TenantRef, TenantStatus, schema_for, tenant_session

logger = logging.getLogger("complaintdesk.outbox.sweep")


@dataclass
class SweepResult:
    tenants: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0


async def active_tenants() -> list[TenantRef]:
    async with platform_session() as session:
        rows = (await session.execute(
            select(Tenant.slug, Tenant.template).where(Tenant.status == TenantStatus.ACTIVE.value)
            .order_by(Tenant.slug))).all()
    return [TenantRef(slug=r.slug, schema=schema_for(r.slug), template=r.template) for r in rows]


async def sweep_tenant(tenant: TenantRef, *, clock: Clock = system_clock, batch: int = 100,
                       max_batches: int = 20) -> DispatchResult:
    """Dispatch the tenant's due items, batch after batch, until none is left (or ``max_batches``)."""
    total = DispatchResult()
    async with tenant_session(tenant) as session:
        for _ in range(max_batches):
            result = await dispatch_due(session, now=clock.now(), limit=batch)
            total.claimed += result.claimed
            total.sent += result.sent
            total.retried += result.retried
            total.failed += result.failed
            total.skipped += result.skipped
            if result.claimed < batch:
                break
    return total


async def sweep_all(*, clock: Clock = system_clock, batch: int = 100) -> SweepResult:
    """One pass over every active tenant; a failing tenant is logged and the others go on."""
    out = SweepResult()
    for tenant in await active_tenants():
        out.tenants += 1
        try:
            result = await sweep_tenant(tenant, clock=clock, batch=batch)
        except Exception:
            out.errors += 1
            logger.exception("sweep of tenant %s failed", tenant.slug)
            continue
        out.sent += result.sent
        out.retried += result.retried
        out.failed += result.failed
        out.skipped += result.skipped
    return out
