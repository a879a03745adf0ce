from __future__ import annotations

import uuid

import dramatiq

from services.core.diagnostics.service import complete_worker_check
from services.core.tenancy import tenant_session
from services.worker.broker import get_broker


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=5)
async def run_worker_check(check_id: str) -> None:
    """Complete a worker check in the tenant bound by the middleware."""
    async with tenant_session() as session, session.begin():
        await complete_worker_check(session, uuid.UUID(check_id))
