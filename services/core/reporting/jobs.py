"""The rows are the jobs: a report or a data transfer is a row in PENDING, RUNNING, COMPLETED or FAILED.

``claim`` moves a row to RUNNING under a lease (one statement: a row PENDING, or RUNNING with its lease run
out); whoever claimed it holds the ``attempt`` number, and only that attempt may record progress or the result
(``attempt`` = ``attempts`` in the row: a worker that lost its lease to another writes nothing). The actor claims
the row its message names; the sweeper (``sweep_jobs``) claims rows PENDING for longer than ``STALE_PENDING``
(their message was lost) and rows whose lease ran out (their worker died), so losing Redis or a worker loses
no report.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.reporting.models import DataTransfer, JobState, Report

LEASE = timedelta(minutes=10)
STALE_PENDING = timedelta(seconds=30)
MAX_ATTEMPTS = 5

JobModel = type[Report] | type[DataTransfer]


async def claim(session: AsyncSession, model: JobModel, job_id: uuid.UUID, *, now: datetime) -> int | None:
    """Claim the row for this process (committed by the caller); the attempt number, or None when the row is
    done, failed, or running under another worker's lease."""
    claimable = or_(model.state == JobState.PENDING.value,
                    and_(model.state == JobState.RUNNING.value, model.lease_until < now))
    attempt = await session.scalar(
        update(model).where(model.id == job_id, claimable)
        .values(state=JobState.RUNNING.value, attempts=model.attempts + 1, lease_until=now + LEASE)
        .returning(model.attempts))
    return int(attempt) if attempt is not None else None


def held(model: JobModel, job_id: uuid.UUID, attempt: int) -> object:
    """The WHERE of a write by the attempt that holds the row."""
    return and_(model.id == job_id, model.state == JobState.RUNNING.value, model.attempts == attempt)


async def set_progress(session: AsyncSession, model: JobModel, job_id: uuid.UUID, attempt: int, progress: int,
                       *, now: datetime, **values: object) -> bool:
    """Record progress (0-100) and renew the lease; False when the attempt no longer holds the row."""
    done = await session.execute(
        update(model).where(held(model, job_id, attempt))  # type: ignore[arg-type]
        .values(progress=max(0, min(100, progress)), lease_until=now + LEASE, **values))
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def fail(session: AsyncSession, model: JobModel, job_id: uuid.UUID, attempt: int, error: str, *,
               now: datetime) -> None:
    await session.execute(
        update(model).where(held(model, job_id, attempt))  # type: ignore[arg-type]
        .values(state=JobState.FAILED.value, error=error[:500], lease_until=None, completed_at=now))


async def stale(session: AsyncSession, model: JobModel, *, now: datetime, limit: int = 20) -> list[uuid.UUID]:
    """Rows the sweeper should carry on: PENDING for longer than ``STALE_PENDING`` (a lost message) or RUNNING
    with their lease run out (a dead worker); those past ``MAX_ATTEMPTS`` are failed here."""
    await session.execute(
        update(model).where(model.state == JobState.RUNNING.value, model.lease_until < now,
                            model.attempts >= MAX_ATTEMPTS)
        .values(state=JobState.FAILED.value, error="gave up after repeated failed attempts", lease_until=None,
                completed_at=now))
    rows = await session.scalars(
        select(model.id).where(or_(
            and_(model.state == JobState.PENDING.value, model.created_at < now - STALE_PENDING),
            and_(model.state == JobState.RUNNING.value, model.lease_until < now)))
        .order_by(model.created_at).limit(limit))
    return list(rows)
