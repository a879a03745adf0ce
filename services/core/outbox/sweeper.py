"""The sweep: the due deadlines and outbox items of every active tenant that has any, rebuilt from PostgreSQL
each time (Redis holds nothing that matters). Safe to run in many processes at once: each batch claims its
rows ``FOR UPDATE SKIP LOCKED``.

Which tenants have work due is one query on ``public.sweep_wakeups``, which the tenant schemas' triggers keep
in the same transaction as the rows themselves (platform revision p0004, tenant t0007): a pass over 1,000
tenants with nothing due is that one query, not 1,000 visits. A tenant whose due rows could not all be handled
(a row a request held, a failing tenant) keeps its wake-ups due and is visited again on the next pass.

A pass goes in stages, so that when many tenants fall due at once a breach waits for nothing but the statement
that records it: every due tenant's breaches first (``breach_tenants``: breached_at and the audit events, a
statement per ``BREACH_CHUNK`` tenants, each a call of the tenant schema's ``sweep_breaches()``), then every due
tenant's deadline phases (the breaches' effects, reminders, customer notices: one transaction per batch), then the
housekeeping slice (retention, digests), then every outbox with an item due (those just enqueued included). The
breach statements go over the process's ``BREACH_LANES`` connections, each tenant always on the same one, so its
function is compiled and its statements planned once per process (``deadlines.sweep._Lanes``). The worker runs the
first stage alone every second (``breach_due``) beside its passes, and while nothing is due prepares its lanes for
every tenant (``warm_breach_lanes``). The tenant sessions are
``shared`` (``db.open_tenant_session``): a statement's text is the same in every tenant, so a connection's prepared
statements serve the next tenant too."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import exists, or_, select

from services.core.clock import Clock, system_clock
from services.core.complaints.erasure import erase_expired_in
from services.core.db import platform_session
from services.core.deadlines.sweep import DeadlineSweep, breach_tenants, sweep_deadlines, warm_breaches
from services.core.outbox.digest import send_digests
from services.core.outbox.models import SweepWakeup
from services.core.outbox.service import DispatchResult, dispatch_due
from services.core.tenancy import Tenant, TenantRef, TenantStatus, schema_for, tenant_session

logger = logging.getLogger("complaintdesk.outbox.sweep")


DIGEST_EVERY_S = 3600.0  # each tenant's daily digests are looked for once an hour per process (sent within the hour)
DIGEST_SLICE = 25  # tenants whose digests a pass looks for (round robin)
RETENTION_EVERY_S = 600.0  # every tenant's retention is checked once in this period per process
RETENTION_SLICE = 25  # tenants whose retention a pass checks (round robin), so no pass waits on all of them
CONCURRENCY = 4  # tenants swept at once (each on its own connection)


@dataclass
class SweepResult:
    tenants: int = 0  # visited: the active tenants with work due
    reminded: int = 0
    breached: int = 0
    notices: int = 0  # customer notices turned into owner tasks
    escalated: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    erased: int = 0
    digests: int = 0  # daily digest e-mails enqueued
    breach_seconds: float = 0.0  # the first stage: every due tenant's breaches recorded (``breach_tenants``)
    effects_seconds: float = 0.0  # from the start to the end of the deadline phases: every effect recorded
    dispatched: int = 0  # tenants whose outbox the pass dispatched


async def active_tenants() -> list[TenantRef]:
    async with platform_session() as session:
        rows = (await session.execute(
            select(Tenant.slug, Tenant.template).where(Tenant.status == TenantStatus.ACTIVE.value)
            .order_by(Tenant.slug))).all()
    return [TenantRef(slug=r.slug, schema=schema_for(r.slug), template=r.template) for r in rows]


class DueTenant(NamedTuple):
    tenant: TenantRef
    sources: frozenset[str]  # which of its tables have a row due: deadlines, customer_notices, outbox


SOURCES = ("deadlines", "customer_notices", "outbox", "breach_effects")
DEADLINE_SOURCES = frozenset(("deadlines", "customer_notices", "breach_effects"))  # the deadline phases' work


async def due_tenants(now: datetime) -> list[DueTenant]:
    """The active tenants with a sweep wake-up due at ``now``, and where (one statement: an index probe per
    tenant and source)."""
    flags = [exists().where(SweepWakeup.schema_name == Tenant.schema_name, SweepWakeup.source == source,
                            SweepWakeup.at <= now).label(source) for source in SOURCES]
    inner = select(Tenant.slug, Tenant.template, *flags).where(Tenant.status == TenantStatus.ACTIVE.value).subquery()
    async with platform_session() as session:
        rows = (await session.execute(
            select(inner).where(or_(*(inner.c[source] for source in SOURCES))).order_by(inner.c.slug))).all()
    return [DueTenant(TenantRef(slug=r.slug, schema=schema_for(r.slug), template=r.template),
                      frozenset(source for source in SOURCES if r._mapping[source]))
            for r in rows]


async def sweep_tenant(tenant: TenantRef, *, clock: Clock = system_clock, batch: int = 100,
                       max_batches: int = 20, deadlines: DeadlineSweep | None = None,
                       sources: frozenset[str] | None = None) -> DispatchResult:
    """The tenant's due deadlines first (breaches and their effects, reminders, customer notices:
    ``sweep_deadlines``), then its
    due outbox items (those just enqueued included), batch after batch, until none is left (or ``max_batches``).
    ``deadlines``: where to add up what the deadline phases did. ``sources``: the tables known to have rows
    due (``due_tenants``); the phases with nothing due are skipped (None: run every phase)."""
    due = frozenset(SOURCES) if sources is None else sources
    enqueued = await sweep_tenant_deadlines(tenant, clock=clock, batch=batch, max_batches=max_batches,
                                            deadlines=deadlines, sources=due)
    if "outbox" in due or enqueued:
        return await dispatch_tenant(tenant, clock=clock, batch=batch, max_batches=max_batches)
    return DispatchResult()


async def sweep_tenant_deadlines(tenant: TenantRef, *, clock: Clock = system_clock, batch: int = 100,
                                 max_batches: int = 20, deadlines: DeadlineSweep | None = None,
                                 sources: frozenset[str] = frozenset(SOURCES)) -> int:
    """The deadline phases of ``sweep_tenant`` (one transaction per batch); how many outbox items they wrote."""
    counted = deadlines if deadlines is not None else DeadlineSweep()
    enqueued = 0
    if not DEADLINE_SOURCES & sources:
        return 0
    async with tenant_session(tenant, shared=True) as session:
        for _ in range(max_batches):
            swept: DeadlineSweep = await sweep_deadlines(
                session, now=clock.now(), limit=batch, deadlines="deadlines" in sources,
                notices="customer_notices" in sources, effects=bool({"deadlines", "breach_effects"} & sources))
            counted.reminded += swept.reminded
            counted.breached += swept.breached
            counted.notices += swept.notices
            counted.escalated += swept.escalated
            enqueued += swept.enqueued
            if not swept.full:
                break
    return enqueued


async def dispatch_tenant(tenant: TenantRef, *, clock: Clock = system_clock, batch: int = 100,
                          max_batches: int = 20) -> DispatchResult:
    """The outbox phase of ``sweep_tenant``: the tenant's due outbox items, batch after batch."""
    total = DispatchResult()
    async with tenant_session(tenant, shared=True) as session:
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


class RoundRobin:
    """Every active tenant once per ``every_s`` in a process, ``slice_`` of them per pass (so no pass waits on all
    of them: a pass's deadlines come first). The sweep's retention and digests, and the report schedule
    (``reporting.service.sweep_all_jobs``), each keep one."""

    def __init__(self, every_s: float, slice_: int) -> None:
        self.every_s, self.slice = every_s, slice_
        self.ran_at: float | None = None
        self.queue: deque[TenantRef] = deque()

    async def next(self, everyone: bool | None) -> list[TenantRef]:
        """True: every active tenant now; None: the next slice; False: none."""
        if everyone is False:
            return []
        if everyone:
            self.queue.clear()
            self.ran_at = time.monotonic()
            return await active_tenants()
        if not self.queue and (self.ran_at is None or time.monotonic() - self.ran_at >= self.every_s):
            self.ran_at = time.monotonic()
            self.queue.extend(await active_tenants())
        return [self.queue.popleft() for _ in range(min(self.slice, len(self.queue)))]


_retention = RoundRobin(RETENTION_EVERY_S, RETENTION_SLICE)
_digests = RoundRobin(DIGEST_EVERY_S, DIGEST_SLICE)


async def _breach_stage(schemas: list[str], clock: Clock, batch: int) -> int:
    """Record the due breaches of ``schemas`` (``breach_tenants``: a statement per ``BREACH_CHUNK`` tenants on the
    process's breach lanes); a failed statement leaves its tenants to their own deadline phases."""
    if not schemas:
        return 0
    return sum((await breach_tenants(schemas, now=clock.now, limit=batch)).values())


async def breach_due(*, clock: Clock = system_clock, batch: int = 100) -> int:
    """The first stage alone: every active tenant with a deadline due has its due breaches recorded
    (``breach_tenants``, a statement per ``BREACH_CHUNK`` tenants), their effects left to the next pass (their
    ``breach_effects`` rows keep the tenants due). The worker runs it every second in a thread of its own, beside
    its passes, so a breach is recorded within about a second of its due time whatever else a pass is doing. How
    many it recorded."""
    return await _breach_stage([t.tenant.schema for t in await due_tenants(clock.now()) if "deadlines" in t.sources],
                               clock, batch)


async def warm_breach_lanes(*, at_most: int | None = None) -> int:
    """Prepare this process's breach lanes for the active tenants not yet prepared (``warm_breaches``), ``at_most``
    of them; how many. The worker's breaches' loop does it while nothing is due."""
    return await warm_breaches([t.schema for t in await active_tenants()], at_most=at_most)


async def sweep_all(*, clock: Clock = system_clock, batch: int = 100, retention: bool | None = None,
                    concurrency: int = CONCURRENCY, digests: bool | None = None, breaches: bool = True) -> SweepResult:
    """One pass: every active tenant with work due (``due_tenants``), ``concurrency`` at a time; a failing
    tenant is logged and the others go on.

    ``digests``: the daily digest e-mails (``outbox.digest``): True: every active tenant now; None (the worker):
    a slice of the tenants per pass, round robin, each tenant once per ``DIGEST_EVERY_S``; False: not at all.
    ``retention``: True: erase complainants past their tenant's retention period in every active tenant now;
    None (the worker): a slice of the tenants per pass, round robin, each tenant once per ``RETENTION_EVERY_S``;
    False: not at all.
    ``breaches``: False: no first stage; the deadline phases still record each due tenant's breaches (in its own
    transaction, waiting for its audit chain's lock).
    """
    out = SweepResult()
    due = await due_tenants(clock.now())
    visited = {t.tenant.slug for t in due}
    gate = asyncio.Semaphore(max(1, concurrency))
    swept = DeadlineSweep()
    dispatch: list[TenantRef] = []
    started = time.perf_counter()
    breaching = [t.tenant.schema for t in due if "deadlines" in t.sources] if breaches else []
    if breaching:
        swept.breached += await _breach_stage(breaching, clock, batch)
        # what is left: the breaches' effects, reminders, customer notices, outboxes (and a tenant whose breaches
        # were not all recorded: a locked chain, a failed statement, more than ``batch``)
        due = await due_tenants(clock.now())
        visited |= {t.tenant.slug for t in due}
    out.breach_seconds = time.perf_counter() - started
    out.tenants = len(visited)

    # Then every due tenant's deadline phases (the breaches' effects enqueued, reminders, notices), then the
    # outboxes. When many tenants fall due at once, a breach is recorded in the first stage, a statement per
    # BREACH_CHUNK tenants, and its effects after the deadline phases of the tenants before it.
    async def deadline_phases(t: DueTenant) -> None:
        async with gate:
            try:
                enqueued = await sweep_tenant_deadlines(t.tenant, clock=clock, batch=batch, deadlines=swept,
                                                        sources=t.sources)
            except Exception:
                out.errors += 1
                logger.exception("sweep of tenant %s failed", t.tenant.slug)
                return
        if "outbox" in t.sources or enqueued:
            dispatch.append(t.tenant)

    async def outbox_phase(tenant: TenantRef) -> None:
        async with gate:
            try:
                result = await dispatch_tenant(tenant, clock=clock, batch=batch)
            except Exception:
                out.errors += 1
                logger.exception("sweep of tenant %s failed", tenant.slug)
                return
        out.sent += result.sent
        out.retried += result.retried
        out.failed += result.failed
        out.skipped += result.skipped

    await asyncio.gather(*(deadline_phases(t) for t in due))
    out.effects_seconds = time.perf_counter() - started
    # then the housekeeping (after the deadlines, so a pass's breaches never wait for it), then every outbox with
    # an item due: the deadlines' and the digests' e-mails go out in this pass
    housekept = False  # retention or digests ran in some tenant: their outbox items are looked for
    for tenant in await _retention.next(retention):
        housekept = True
        try:
            out.erased += await erase_expired_in(tenant, now=clock.now())
        except Exception:
            out.errors += 1
            logger.exception("retention in tenant %s failed", tenant.slug)
    for tenant in await _digests.next(digests):
        housekept = True
        try:
            async with tenant_session(tenant, shared=True) as session:
                out.digests += await send_digests(session, now=clock.now())
        except Exception:
            out.errors += 1
            logger.exception("digests of tenant %s failed", tenant.slug)
    if housekept:
        seen = {t.slug for t in dispatch}
        dispatch += [t.tenant for t in await due_tenants(clock.now())
                     if "outbox" in t.sources and t.tenant.slug not in seen]
    await asyncio.gather(*(outbox_phase(t) for t in dispatch))
    out.dispatched = len(dispatch)
    out.reminded, out.breached, out.notices, out.escalated = (
        swept.reminded, swept.breached, swept.notices, swept.escalated)
    return out
