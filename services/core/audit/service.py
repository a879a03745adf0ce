"""The audit trail: every change writes one event in the same transaction, hash-chained per tenant.

Each event stores the hash of the one before it and the hash of its own content,
so editing, deleting or reordering any event breaks the chain from that point on.
Events name fields and carry non-personal values only, never complainant data.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.models import AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a tenant user, a customer through a public channel, or the system."""

    user_id: uuid.UUID | None
    label: str

    @classmethod
    def customer(cls) -> Actor:
        return cls(user_id=None, label="customer")

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None, label="system")


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, bool, float)):
        return value
    return str(value)


def content_hash(event: AuditEvent) -> str:
    body = {
        "seq": event.seq,
        "occurred_at": _canonical(event.occurred_at),
        "actor_id": _canonical(event.actor_id),
        "actor_label": event.actor_label,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": _canonical(event.subject_id),
        "from_status": event.from_status,
        "to_status": event.to_status,
        "changes": _canonical(event.changes),
        "note": event.note,
        "prev_hash": event.prev_hash,
    }
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One event for ``record_events``."""

    actor: Actor
    action: str
    subject_type: str
    subject_id: uuid.UUID | None
    from_status: str | None = None
    to_status: str | None = None
    changes: Mapping[str, Any] | None = None
    note: str | None = None


async def record_event(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: uuid.UUID | None,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    changes: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> AuditEvent:
    return (await record_events(session, [PendingEvent(actor, action, subject_type, subject_id, from_status,
                                                       to_status, changes, note)], now=now))[0]


async def record_events(session: AsyncSession, events: Sequence[PendingEvent], *, now: datetime,
                        locked: bool = False) -> list[AuditEvent]:
    """Append ``events`` to the tenant's chain, in order, in one flush. ``locked``: the caller's transaction
    holds the chain's lock already."""
    # One writer at a time per tenant extends the chain; the lock ends with the transaction.
    if not locked:
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || :suffix))"), {"suffix": "/audit"}
        )
    last = (
        await session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    ).one_or_none()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    out: list[AuditEvent] = []
    for e in events:
        seq += 1
        event = AuditEvent(
            seq=seq,
            occurred_at=now.astimezone(UTC),
            actor_id=e.actor.user_id,
            actor_label=e.actor.label,
            action=e.action,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            from_status=e.from_status,
            to_status=e.to_status,
            changes=_canonical(dict(e.changes or {})),
            note=e.note,
            prev_hash=prev,
        )
        event.hash = prev = content_hash(event)
        out.append(event)
    session.add_all(out)
    await session.flush()
    return out


@dataclass(frozen=True, slots=True)
class ChainVerification:
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str | None


async def verify_chain(session: AsyncSession, *, batch: int = 1000) -> ChainVerification:
    """Walk the chain in order and report the first event whose link or content does not hold."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    after = 0
    while True:
        events: Sequence[AuditEvent] = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
            )
        ).all()
        if not events:
            return ChainVerification(ok=True, checked=checked, first_broken_seq=None, reason=None)
        for event in events:
            if event.seq != expected_seq:
                return ChainVerification(False, checked, expected_seq, "event missing (sequence gap)")
            if event.prev_hash != expected_prev:
                return ChainVerification(False, checked, event.seq, "link to the previous event is broken")
            if content_hash(event) != event.hash:
                return ChainVerification(False, checked, event.seq, "event content does not match its hash")
            expected_prev = event.hash
            expected_seq += 1
            checked += 1
        after = events[-1].seq
        session.expunge_all()


async def events_for(
    session: AsyncSession, subject_id: uuid.UUID, *, limit: int, after_seq: int | None = None
) -> Sequence[AuditEvent]:
    """A subject's events, oldest first, after a cursor."""
    query = select(AuditEvent).where(AuditEvent.subject_id == subject_id)
    if after_seq is not None:
        query = query.where(AuditEvent.seq > after_seq)
    return (await session.scalars(query.order_by(AuditEvent.seq).limit(limit))).all()


async def events_page_for(
    session: AsyncSession, subject_ids: Sequence[uuid.UUID], *, per_subject: int, newest_first: bool
) -> dict[uuid.UUID, list[AuditEvent]]:
    """The first (or last) ``per_subject`` events of each subject, in chain order: one statement for any number."""
    order = AuditEvent.seq.desc() if newest_first else AuditEvent.seq.asc()
    ranked = (
        select(AuditEvent.seq, func.row_number().over(partition_by=AuditEvent.subject_id, order_by=order).label("rank"))
        .where(AuditEvent.subject_id.in_(list(subject_ids)))
        .subquery()
    )
    events = (
        await session.scalars(
            select(AuditEvent)
            .join(ranked, ranked.c.seq == AuditEvent.seq)
            .where(ranked.c.rank <= per_subject)
            .order_by(AuditEvent.seq)
        )
    ).all()
    grouped: dict[uuid.UUID, list[AuditEvent]] = {sid: [] for sid in subject_ids}
    for event in events:
        assert event.subject_id is not None
        grouped[event.subject_id].append(event)
    return grouped


async def count_events_for(session: AsyncSession, subject_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = (
        await session.execute(
            select(AuditEvent.subject_id, func.count())
            .where(AuditEvent.subject_id.in_(list(subject_ids)))
            .group_by(AuditEvent.subject_id)
        )
    ).all()
    counts = {sid: 0 for sid in subject_ids}
    for subject_id, count in rows:
        if subject_id is not None:
            counts[subject_id] = int(count)
    return counts
