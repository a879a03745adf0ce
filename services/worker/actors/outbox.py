"""Outbox actors: thin wrappers over ``services.core.outbox``. The sweeper loop (``services.worker.sweeper``)
is the record; these are the fast path and a way to ask for a sweep by message."""

from __future__ import annotations

import dramatiq

from services.core.clock import SystemClock
from services.core.outbox.service import dispatch_due
from services.core.outbox.sweeper import sweep_all
from services.core.tenancy import tenant_session
from services.worker.broker import get_broker


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=3, tenant_scoped=False)
async def sweep() -> None:
    """One sweep over every active tenant's due outbox items."""
    await sweep_all()


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=3)
async def dispatch_outbox() -> None:
    """Fast path after a commit: deliver the bound tenant's due items now instead of at the next sweep."""
    async with tenant_session() as session:
        while (await dispatch_due(session, now=SystemClock().now(), limit=100)).claimed == 100:
            pass
