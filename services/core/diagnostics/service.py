from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.diagnostics.models import WorkerCheck


async def request_worker_check(session: AsyncSession) -> WorkerCheck:
    check = WorkerCheck()
    session.add(check)
    await session.flush()
    await session.refresh(check)
    return check


async def get_worker_check(session: AsyncSession, check_id: uuid.UUID) -> WorkerCheck | None:
    return await session.get(WorkerCheck, check_id)


async def complete_worker_check(session: AsyncSession, check_id: uuid.UUID) -> bool:
    """Mark the check done (idempotent: a redelivered message changes nothing)."""
    check = await session.get(WorkerCheck, check_id, with_for_update=True)
    if check is None:
        return False
    if check.processed_at is None:
        # current_schema() is the head of the transaction's search_path: where raw SQL would land.
        check.processed_in_schema = await session.scalar(select(func.current_schema()))
        check.processed_at = await session.scalar(select(func.now()))
    return True
