"""Idempotency keys (the IETF draft "The Idempotency-Key HTTP Header Field"): reserve, mark, record, replay.

A keyed request is reserved in a transaction of its own before it runs (``in_progress``). The request's write
transactions mark the row ``committed`` in the same transaction as their effect. Its answer is recorded once it
is built (``done``, sealed). So:

* a retry of a finished request gets the first answer (``Replay``);
* a retry while the first still runs gets ``InProgress`` (HTTP 409);
* the same key with another request gets ``Mismatch`` (HTTP 422);
* a request that failed before anything committed (a dependency down, say) is released: its retry runs;
* a request that died after its write committed but before its answer was recorded (a killed process) stays
  reserved: its retries get ``InProgress`` with ``lost=True`` and never run it a second time; after
  ``LEASE`` without the commit mark the reservation is taken over (the first request died before writing).

Rows live ``TTL`` (24 h); expired ones are deleted lazily, 100 at a time, when keys are reserved.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.idempotency.models import IdempotencyKey, IdempotencyState

TTL = timedelta(hours=24)
LEASE = timedelta(minutes=2)  # longer than any request may run
MAX_KEY_LENGTH = 255
SWEEP_BATCH = 100


def principal_digest(principal: str) -> str:
    return hashlib.sha256(principal.encode()).hexdigest()


def valid_key(key: str) -> bool:
    """1-255 visible ASCII characters (the draft's keys are sf-strings; clients send UUIDs)."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


@dataclass(frozen=True)
class Reserved:
    id: uuid.UUID


@dataclass(frozen=True)
class Replay:
    status: int
    media_type: str
    body: bytes


@dataclass(frozen=True)
class InProgress:
    lost: bool  # the first request's write committed, its answer was never recorded


@dataclass(frozen=True)
class Mismatch:
    pass


async def reserve(session: AsyncSession, *, principal: str, key: str, fingerprint: str, now: datetime
                  ) -> Reserved | Replay | InProgress | Mismatch:
    """In the caller's transaction (commit it before running the request)."""
    expired = select(IdempotencyKey.id).where(IdempotencyKey.created_at < now - TTL).limit(SWEEP_BATCH)
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(expired.scalar_subquery())))
    new_id = uuid.uuid4()
    inserted = await session.scalar(
        insert(IdempotencyKey)
        .values(id=new_id, principal=principal, key=key, fingerprint=fingerprint,
                state=IdempotencyState.IN_PROGRESS, committed=False, created_at=now)
        .on_conflict_do_nothing(index_elements=["principal", "key"])
        .returning(IdempotencyKey.id))
    if inserted is not None:
        return Reserved(inserted)
    row = (await session.scalars(select(IdempotencyKey).where(IdempotencyKey.principal == principal,
                                                               IdempotencyKey.key == key).with_for_update())).one()
    expired_row = row.created_at < now - TTL
    abandoned = row.state == IdempotencyState.IN_PROGRESS and not row.committed and row.created_at < now - LEASE
    if expired_row or abandoned:  # a new request under an old key, or the first died before writing: run it
        row.fingerprint, row.state, row.committed, row.created_at = fingerprint, IdempotencyState.IN_PROGRESS, \
            False, now
        row.status = row.media_type = None
        row.response = None
        return Reserved(row.id)
    if row.fingerprint != fingerprint:
        return Mismatch()
    if row.state == IdempotencyState.DONE and row.status is not None and row.media_type is not None:
        return Replay(row.status, row.media_type, row.response or b"")
    return InProgress(lost=row.committed)


async def mark_committed(session: AsyncSession, reservation: uuid.UUID) -> None:
    """In the request's write transaction: its effect and this mark commit together."""
    await session.execute(update(IdempotencyKey).where(IdempotencyKey.id == reservation).values(committed=True))


async def record(session: AsyncSession, reservation: uuid.UUID, *, status: int, media_type: str, body: bytes
                 ) -> None:
    row = await session.get(IdempotencyKey, reservation, with_for_update=True)
    if row is None:
        return
    row.state, row.status, row.media_type = IdempotencyState.DONE, status, media_type
    row.response = body


async def is_committed(session: AsyncSession, reservation: uuid.UUID) -> bool:
    return bool(await session.scalar(select(IdempotencyKey.committed).where(IdempotencyKey.id == reservation)))


async def release(session: AsyncSession, reservation: uuid.UUID) -> None:
    """Forget a reservation whose request changed nothing (a retry runs it afresh)."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == reservation,
                                                       IdempotencyKey.committed.is_(False)))
