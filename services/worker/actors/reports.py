"""Report and data-transfer actors: thin wrappers over ``services.core.reporting`` (the row is the job; a message
only says which row to carry on, and a lost one is picked up by the sweeper)."""

from __future__ import annotations

import uuid

import dramatiq

from services.core.clock import system_clock
from services.core.reporting.service import run_report
from services.core.reporting.transfers import run_transfer
from services.core.tenancy import current_tenant
from services.worker.broker import get_broker


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=3, time_limit=30 * 60 * 1000)
async def generate_report(report_id: str) -> None:
    """Generate a report of the tenant bound by the middleware (nothing when it is done or held elsewhere)."""
    await run_report(current_tenant(), uuid.UUID(report_id), now=system_clock.now)


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=3, time_limit=30 * 60 * 1000)
async def run_data_transfer(transfer_id: str) -> None:
    """Run an export or an import of the tenant bound by the middleware."""
    await run_transfer(current_tenant(), uuid.UUID(transfer_id), now=system_clock.now)


def dispatch(kind: str, tenant: str, job_id: uuid.UUID) -> None:
    """The sweeper's way to the queue: the message carries its tenant (no tenant need be bound here)."""
    actor = generate_report if kind == "report" else run_data_transfer
    actor.send_with_options(args=(str(job_id),), tenant=tenant)
