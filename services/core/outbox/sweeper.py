"""The sweep: every active tenant's due outbox items, rebuilt from PostgreSQL each time (Redis holds nothing
that matters). Safe to run in many processes at once: each batch claims its rows ``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select

from services.core.clock import Clock, system_clock
from services.core.complaints.erasure import erase_expired_in
from services.core.db import platform_session
from services.core.deadlines.sweep import DeadlineSweep, sweep_deadlines
from services.core.outbox.service import DispatchResult, dispatch_due
from services.core.tenancy import Tenant, TenantRef, TenantStatus, schema_for, tenant_session

logger = logging.getLogger("complaintdesk.outbox.sweep")


RETENTION_EVERY_S = 600.0  # erasing complainants past the retention period: at most this often per process
_retention_ran_at: float | None = None


@dataclass
class SweepResult:
    tenants: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    erased: int = 0


async def active_tenants() -> list[TenantRef]:
    async with platform_session() as session:
        rows = (await session.execute(
            select(Tenant.slug, Tenant.template).where(Tenant.status == TenantStatus.ACTIVE.value)
            .order_by(Tenant.slug))).all()
    return [TenantRef(slug=r.slug, schema=schema_for(r.slug), template=r.template) for r in rows]


async def sweep_tenant(tenant: TenantRef, *, clock: Clock = system_clock, batch: int = 100,
                       max_batches: int = 20) -> DispatchResult:
    """The tenant's due deadlines first (reminders, breaches, customer notices: ``sweep_deadlines``), then its
    due outbox items (those just enqueued included), batch after batch, until none is left (or ``max_batches``)."""
    total = DispatchResult()
    async with tenant_session(tenant) as session:
        for _ in range(max_batches):
            swept: DeadlineSweep = await sweep_deadlines(session, now=clock.now(), limit=batch)
            if not swept.full:
                break
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


async def sweep_all(*, clock: Clock = system_clock, batch: int = 100, retention: bool | None = None) -> SweepResult:
    """One pass over every active tenant; a failing tenant is logged and the others go on.

    ``retention``: also erase complainants past their tenant's retention period (None: when the last time
    this process did is ``RETENTION_EVERY_S`` ago).
    """
    global _retention_ran_at
    if retention is None:
        retention = _retention_ran_at is None or time.monotonic() - _retention_ran_at >= RETENTION_EVERY_S
    if retention:
        _retention_ran_at = time.monotonic()
    out = SweepResult()
    for tenant in await active_tenants():
        out.tenants += 1
        try:
            if retention:
                out.erased += await erase_expired_in(tenant, now=clock.now())
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
