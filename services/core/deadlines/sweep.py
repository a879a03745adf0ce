"""The deadline sweep: reminders, breaches and the customer notices, turned into outbox items (one tenant).

``sweep_deadlines`` runs one transaction (the outbox sweeper calls it before dispatching, so what it
enqueues goes out in the same pass). Everything is read from PostgreSQL and claimed ``FOR UPDATE SKIP
LOCKED``; every effect is keyed, so two sweepers at once, or one sweep run twice, record each thing once:

- **Reminder**: an open, running (not paused) deadline whose ``remind_at`` has come and ``reminded_at`` is
  empty: the owner gets an in-app notification and an e-mail (key ``deadline:<id>:remind:<remind_at in epoch
  seconds>``: a reminder the planner moved, by an extension or a resume, is sent again), and
  ``reminded_at`` is set. A customer's window (party CUSTOMER) and a deadline already past due are only
  marked, nobody is reminded.
- **Breach**: an open COMPANY deadline overdue as the planner counts it (``overdue_clause``: running and
  past due, or paused after it was already past due; a deadline paused in time is not breached) and not yet
  breached: ``breached_at`` is set, a ``deadline_breached`` audit event written (actor: system), by the tenant
  schema's ``sweep_breaches()`` (t0024: one call records a tenant's breaches, hashing the audit chain in
  PostgreSQL; ``breach_tenants``: one statement for many tenants), which leaves a ``breach_effects`` row per
  breach for what follows here, in Python (``_breach_effects``, in this transaction or a later sweep's): the owner
  and their supervisors notified (key ``deadline:<id>:breach:<due_at in epoch seconds>``: a deadline extended after
  its breach breaches again at its new time; in-app and e-mail). For a deadline the customer
  is waiting on (``CUSTOMER_FACING``: the reply, the decision, the resolution, the review answer) the
  customer must be told why it is late: a ``customer_notices`` row ``DEADLINE_BREACHED`` (dedup key
  the breach's key). A ``REVIEW`` deadline breached (seed III item 12: a review request answered
  out of time) escalates the complaint once (``on_review_overdue``, trigger ref ``deadline:<id>:escalate``).
- **Customer notices** (extensions and breaches) not yet sent: the customer has no account, so the owner
  is tasked to tell them (in-app notification ``CUSTOMER_NOTICE`` and e-mail, key ``notice:<id>``), and the
  notice's ``sent_at`` is set in the same transaction.

Each phase is a few statements for its whole batch (one audit append, one outbox insert, one supervisors
query), not a few per row. Breaches come first and take the tenant's audit lock (as a request's ``_audit``
does) before any row, then claim deadlines and their complaints with ``SKIP LOCKED``: a complaint a request is
changing right now waits for the next pass, and the sweep never waits holding a row a request could want (the
one exception: a REVIEW escalation locks the complaint's other open deadlines, as every lifecycle step does; a
deadlock with a concurrent calendar change is possible there, and PostgreSQL then aborts one of the two).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import uuid
import weakref
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.core import i18n
from services.core.complaints.models import Complaint
from services.core.db import get_engine, on_dispose
from services.core.deadlines import notices
from services.core.deadlines.models import BreachEffect, CustomerNotice, Deadline
from services.core.deadlines.rules import DeadlineKind, Party
from services.core.deadlines.tracking import KIND_LABELS
from services.core.i18n import Both, When, msg
from services.core.i18n.tenant import tenant_zone
from services.core.messages import service as customer_messages
from services.core.outbox.service import Effect, enqueue_many, notification_effects, supervisors_of_many

logger = logging.getLogger("complaintdesk.deadlines.sweep")
# a call of a tenant's sweep_breaches() that records nothing, but compiles it and plans its statements
WARM_CALL = "sweep_breaches_warm()"  # t0025
SCHEMA_NAME = re.compile(r"tenant_[a-z0-9_]{3,32}")  # tenancy.schema_for's names, checked before going into SQL
CUSTOMER_FACING = frozenset({DeadlineKind.CUSTOMER_REPLY.value, DeadlineKind.DECISION.value,
                             DeadlineKind.RESOLUTION.value, DeadlineKind.REVIEW.value})
ESCALATES = frozenset({DeadlineKind.REVIEW.value})


@dataclass
class DeadlineSweep:
    reminded: int = 0
    breached: int = 0
    notices: int = 0
    escalated: int = 0
    enqueued: int = 0  # outbox items written (for the caller: is there anything to dispatch now)
    full: bool = False  # a phase hit the limit: there may be more


def _label(d: Deadline) -> Both:
    """The deadline as a notice names it: its kind (and stage) for an en reader, its label for a zh-CN one."""
    stage = f" ({d.stage})" if d.stage else ""
    return Both(d.kind + stage, i18n.translate(KIND_LABELS.get(d.kind, d.kind), "zh-CN") + stage)


def breach_key(d: Deadline) -> str:
    """The breach's key: the deadline and the due time it passed (an extended deadline can breach again)."""
    return f"deadline:{d.id}:breach:{int(d.due_at.timestamp())}"


def _owner_task(notice: CustomerNotice, owner: uuid.UUID, number: str, tz: ZoneInfo) -> list[Effect]:
    """The owner is told to tell the customer (the customer has no account): in-app and e-mail."""
    if notice.kind == "DEADLINE_EXTENDED" and notice.new_due_at is not None:
        title = msg("Complaint {number}: tell the customer the deadline was extended to {due}", number=number,
                    due=When(notice.new_due_at, tz))
    elif notice.kind == "DEADLINE_BREACHED":
        title = msg("Complaint {number}: tell the customer a deadline was missed", number=number)
    else:
        title = msg("Complaint {number}: tell the customer {what}", number=number, what=notice.kind)
    return notification_effects(
        user_ids=[owner], key=f"notice:{notice.id}", kind="CUSTOMER_NOTICE", title=title,
        body=notices.reason_of(notice, tz),
        complaint_id=notice.complaint_id, email=True)


async def _notice_effects(session: AsyncSession, notice: CustomerNotice, complaint_id: uuid.UUID,
                          owner: uuid.UUID, number: str, now: dt.datetime, tz: ZoneInfo) -> list[Effect]:
    """The customer is told by the platform where ``messages.service.RULES`` names the notice's kind (and they have
    a usable contact); otherwise the owner is tasked to tell them."""
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None:
        return _owner_task(notice, owner, number, tz)
    return await customer_messages.notice_effects(session, notice, complaint, now,
                                                  lambda: _owner_task(notice, owner, number, tz))


async def _remind(session: AsyncSession, now: dt.datetime, limit: int, out: DeadlineSweep,
                  effects: list[Effect]) -> None:
    found = (await session.execute(
        select(Deadline, Complaint.owner_id, Complaint.number).join(Complaint, Complaint.id == Deadline.complaint_id)
        .where(Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None), Deadline.reminded_at.is_(None),
               Deadline.paused_at.is_(None), Deadline.remind_at <= now)
        .order_by(Deadline.remind_at).limit(limit)
        .with_for_update(skip_locked=True, of=Deadline)
    )).all()
    out.full = out.full or len(found) == limit
    if not found:
        return
    tz = await tenant_zone(session)  # the dates in the texts: the tenant's time zone
    for d, owner, number in found:
        d.reminded_at = now
        if d.party != Party.COMPANY or d.due_at <= now or owner is None:
            continue
        stamp = int(d.remind_at.timestamp()) if d.remind_at is not None else 0
        effects += notification_effects(
            user_ids=[owner], key=f"deadline:{d.id}:remind:{stamp}", kind="DEADLINE_REMINDER",
            title=msg("Complaint {number}: the {deadline} deadline is due {due}", number=number, deadline=_label(d),
                      due=When(d.due_at, tz)),
            complaint_id=d.complaint_id, email=True)
        out.reminded += 1


async def _breach(session: AsyncSession, now: dt.datetime, limit: int, out: DeadlineSweep) -> None:
    """The tenant's due breaches, recorded by its schema's ``sweep_breaches()`` (t0024): ``breached_at``, the audit
    events, the statistics facts and one ``breach_effects`` row each, in one call. It waits for the audit chain's
    lock (taken before any row, as a request's ``_audit`` does)."""
    n = int(await session.scalar(text("SELECT sweep_breaches(:now, :limit, true)"),
                                 {"now": now, "limit": limit}) or 0)
    out.breached += n
    out.full = out.full or n == limit


BREACH_CHUNK = 50  # tenants whose breaches one statement records (``breach_tenants``)
BREACH_LANES = 4  # connections of a process (event loop) kept for the breaches' statements, used at once
WARM_CHUNK = 20  # tenants one warming statement prepares (a breach statement on the lane waits at most for it)


class _Lanes:
    """The ``BREACH_LANES`` connections of an event loop that record breaches: each tenant always on the same one
    (by a hash of its schema name), so the first call of a tenant's ``sweep_breaches()`` on a connection (the
    function compiled, its statements and the triggers' planned, the tables' catalog entries loaded: several times
    a warm call) happens once per process and not once per pooled connection; ``warm_breaches`` makes it happen
    before anything falls due. A lane whose statement fails gets a new connection (cold again)."""

    def __init__(self, size: int) -> None:
        self.conns: list[AsyncConnection | None] = [None] * size
        self.warm: list[set[str]] = [set() for _ in range(size)]
        self.locks = [asyncio.Lock() for _ in range(size)]

    def of(self, schema: str) -> int:
        return zlib.crc32(schema.encode()) % len(self.conns)

    async def run(self, lane: int, sql: str, params: dict[str, object]) -> Sequence[object]:
        """One statement in its own transaction on the lane's connection (the caller holds the lane's lock)."""
        conn = self.conns[lane]
        if conn is None:
            conn = self.conns[lane] = await get_engine().connect()
            self.warm[lane] = set()
        try:
            async with conn.begin():
                return (await conn.execute(text(sql), params)).one()
        except BaseException as exc:
            # a statement that failed (rolled back) leaves the connection and what it has prepared; anything else
            # (a lost connection, a cancellation mid-statement) a new one
            if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
                await self.drop(lane)
            raise

    async def drop(self, lane: int) -> None:
        conn, self.conns[lane] = self.conns[lane], None
        self.warm[lane] = set()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        for lane in range(len(self.conns)):
            async with self.locks[lane]:
                conn, self.conns[lane] = self.conns[lane], None
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()


_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lanes] = weakref.WeakKeyDictionary()


def _loop_lanes() -> _Lanes:
    loop = asyncio.get_running_loop()
    lanes = _lanes.get(loop)
    if lanes is None:
        lanes = _lanes[loop] = _Lanes(BREACH_LANES)

        async def close() -> None:
            _lanes.pop(loop, None)
            await lanes.close()

        on_dispose(close)
    return lanes


def _by_lane(lanes: _Lanes, schemas: Sequence[str]) -> dict[int, list[str]]:
    by: dict[int, list[str]] = {}
    for schema in schemas:
        if not SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"not a tenant schema name: {schema!r}")
        by.setdefault(lanes.of(schema), []).append(schema)
    return by


async def breach_tenants(schemas: Sequence[str], *, now: dt.datetime | Callable[[], dt.datetime],
                         limit: int = 100) -> dict[str, int]:
    """Many tenants' due breaches, the breach time ``now`` (a clock's ``now``: read for each statement); how many
    each breached. A statement and a transaction
    per ``BREACH_CHUNK`` tenants (``SELECT "a".sweep_breaches(...), "b".sweep_breaches(...)``), on the tenant's
    lane (``BREACH_LANES`` connections at once, each tenant always on the same one: ``_Lanes``). A tenant whose
    audit chain is locked right now (a request, another sweeper) is left for later (0), never waited for; its
    wake-ups stay due. A statement that fails is logged and its tenants are left out of the answer (their own
    deadline phases record their breaches). ``schemas``: validated tenant schema names (``tenancy.schema_for``)."""
    if not schemas:
        return {}
    lanes = _loop_lanes()
    found: dict[str, int] = {}

    async def lane_of(lane: int, mine: list[str]) -> None:
        async with lanes.locks[lane]:
            for i in range(0, len(mine), BREACH_CHUNK):
                chunk = mine[i:i + BREACH_CHUNK]
                calls = ", ".join(f'"{schema}".sweep_breaches(:now, :limit, false)' for schema in chunk)
                try:
                    at = now() if callable(now) else now
                    row = await lanes.run(lane, f"SELECT {calls}", {"now": at, "limit": limit})
                except Exception:
                    logger.exception("breaches of %d tenants in one statement failed; each tenant on its own next",
                                     len(chunk))
                    continue
                lanes.warm[lane].update(chunk)
                found.update((schema, int(n or 0)) for schema, n in zip(chunk, row, strict=True))  # type: ignore[call-overload]

    await asyncio.gather(*(lane_of(lane, mine) for lane, mine in _by_lane(lanes, schemas).items()))
    return {schema: found[schema] for schema in schemas if schema in found}


async def warm_breaches(schemas: Sequence[str], *, at_most: int | None = None) -> int:
    """Prepare this process's breach lanes for ``schemas`` (each tenant's ``sweep_breaches()`` called once on its
    lane, in its form that records nothing: ``WARM_CALL``), so that a burst falling due later meets them warm;
    ``at_most`` tenants not yet warm (None: all), a statement per ``WARM_CHUNK``, between the breach statements
    of the lane. How many were warmed."""
    lanes = _loop_lanes()
    cold = {lane: [s for s in mine if s not in lanes.warm[lane]]
            for lane, mine in _by_lane(lanes, schemas).items()}
    if at_most is not None:  # a share of the budget per lane
        share = max(1, -(-at_most // max(1, len(cold))))
        cold = {lane: mine[:share] for lane, mine in cold.items()}
    warmed = 0

    async def lane_of(lane: int, mine: list[str]) -> None:
        nonlocal warmed
        for i in range(0, len(mine), WARM_CHUNK):
            chunk = mine[i:i + WARM_CHUNK]
            async with lanes.locks[lane]:  # per chunk: a breach statement waits for one chunk at most
                try:
                    await lanes.run(lane, "SELECT " + ", ".join(f'"{s}".{WARM_CALL}' for s in chunk), {})
                except Exception as exc:  # e.g. a tenant whose migration failed: not tried again on this connection
                    logger.warning("warming the breaches of %d tenants failed (%s); they stay cold", len(chunk),
                                   str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                lanes.warm[lane].update(chunk)
            warmed += len(chunk)

    await asyncio.gather(*(lane_of(lane, mine) for lane, mine in cold.items() if mine))
    return warmed


async def _breach_effects(session: AsyncSession, now: dt.datetime, limit: int, out: DeadlineSweep,
                          effects: list[Effect]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The effects of breaches recorded (``breach_effects`` rows, claimed ``SKIP LOCKED`` and deleted here): the
    owner and their supervisors notified (in-app and e-mail, keyed by the breach), for a deadline the customer
    waits on a ``DEADLINE_BREACHED`` customer notice turned into the owner's task at once; the REVIEW deadlines
    to escalate (returned)."""
    found = (await session.execute(
        select(BreachEffect, Deadline, Complaint.owner_id, Complaint.number)
        .join(Deadline, Deadline.id == BreachEffect.deadline_id)
        .join(Complaint, Complaint.id == BreachEffect.complaint_id)
        .order_by(BreachEffect.breached_at, BreachEffect.due_at).limit(limit)
        .with_for_update(skip_locked=True, of=BreachEffect.__table__)
    )).all()
    out.full = out.full or len(found) == limit
    if not found:
        return []
    tz = await tenant_zone(session)
    escalate: list[tuple[uuid.UUID, uuid.UUID]] = []
    supervisors = await supervisors_of_many(session, {owner for _, _, owner, _ in found if owner is not None})
    for breach, d, owner, number in found:
        users = [owner, *supervisors[owner]] if owner is not None else []
        key = breach.breach_key
        effects += notification_effects(
            user_ids=users, key=key, kind="DEADLINE_BREACHED",
            title=msg("Complaint {number}: the {deadline} deadline passed ({due})", number=number,
                      deadline=_label(d), due=When(breach.due_at, tz)),
            complaint_id=d.complaint_id, email=True)
        if d.kind in CUSTOMER_FACING:
            # the notice and its owner task at once (the notices phase need not find it again)
            notice = CustomerNotice(
                id=uuid.uuid4(), complaint_id=d.complaint_id, deadline_id=d.id, kind="DEADLINE_BREACHED",
                dedup_key=key, created_at=breach.breached_at, sent_at=now if owner is not None else None,
                **notices.keyed(*notices.breached(d.kind, d.stage, breach.due_at), tz),
            )
            session.add(notice)
            if owner is not None:
                effects += await _notice_effects(session, notice, d.complaint_id, owner, number, now, tz)
                out.notices += 1
        if d.kind in ESCALATES:
            escalate.append((d.complaint_id, d.id))
    await session.execute(delete(BreachEffect).where(BreachEffect.id.in_([b.id for b, *_ in found])))
    return escalate


async def _notices(session: AsyncSession, now: dt.datetime, limit: int, out: DeadlineSweep,
                   effects: list[Effect]) -> None:
    found = (await session.execute(
        select(CustomerNotice, Complaint.owner_id, Complaint.number)
        .join(Complaint, Complaint.id == CustomerNotice.complaint_id)
        .where(CustomerNotice.sent_at.is_(None))
        .order_by(CustomerNotice.created_at).limit(limit)
        .with_for_update(skip_locked=True, of=CustomerNotice)
    )).all()
    out.full = out.full or len(found) == limit
    if not found:
        return
    tz = await tenant_zone(session)
    for notice, owner, number in found:
        notice.sent_at = now
        if owner is None:
            continue
        effects += await _notice_effects(session, notice, notice.complaint_id, owner, number, now, tz)
        out.notices += 1


async def sweep_deadlines(session: AsyncSession, *, now: dt.datetime, limit: int = 100, deadlines: bool = True,
                          notices: bool = True, effects: bool | None = None) -> DeadlineSweep:
    """One transaction over the tenant's due breaches and reminders (``deadlines``), the effects of breaches recorded
    (``effects``, by default with ``deadlines``: those just recorded and those an earlier ``breach_tenants`` left)
    and unsent customer notices (``notices``), ``limit`` of each; their outbox items written in one statement at the
    end; commits. ``session`` is a tenant session outside a transaction. ``full``: run again, there may be more."""
    from services.core.escalation.service import on_review_overdue

    out = DeadlineSweep()
    pending: list[Effect] = []
    async with session.begin():
        escalate: list[tuple[uuid.UUID, uuid.UUID]] = []
        if deadlines:
            # breaches first: their audit lock is this transaction's only wait, so it is taken holding no row
            await _breach(session, now, limit, out)
        if deadlines if effects is None else effects:
            escalate = await _breach_effects(session, now, limit, out, pending)
        if deadlines:
            await _remind(session, now, limit, out, pending)
        if notices:
            await _notices(session, now, limit, out, pending)
        await session.flush()
        await enqueue_many(session, pending, now=now)
        out.enqueued = len(pending)
        for complaint_id, deadline_id in escalate:  # last: a refused escalation rolls back its savepoint only
            if await on_review_overdue(session, now=now, complaint_id=complaint_id, deadline_id=deadline_id):
                out.escalated += 1
                out.enqueued += 1
    return out
