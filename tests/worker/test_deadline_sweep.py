"""The deadline sweep: reminders, breaches, customer notices and the REVIEW escalation, each exactly once.

Complaints are recorded through GraphQL at the real time; the sweep is then called with a ``now`` past the
deadline (two sweeps at once on separate sessions, and again). The tests commit, so each works in tenants
of its own (dropped at the end). The last one runs `complaintdesk worker` on a Redis of its own, flushed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import execute, rows, scalar, start_worker
from lifecycle import EXTEND, RECORD, complaint_input

from services.core.clock import FixedClock
from services.core.deadlines.sweep import DeadlineSweep, sweep_deadlines
from services.core.outbox.sweeper import sweep_tenant
from services.core.tenancy import TenantRef, tenant_session

MANAGER = "manager@test.example"




@pytest.fixture
async def bank(tenants: Any) -> AsyncIterator[TenantRef]:
    ref = await new_tenant("dsb", "bank")
    try:
        yield ref
    finally:
        await drop_tenant(ref)


@pytest.fixture
async def retail(tenants: Any) -> AsyncIterator[TenantRef]:
    ref = await new_tenant("dsr", "retail")
    try:
        yield ref
    finally:
        await drop_tenant(ref)


async def _record(gql: GraphQLClient, tenant: TenantRef) -> str:
    # the customer is called by staff (PHONE): every notice to them is a task for the owner (messages the
    # platform sends itself are tested in tests/api/messages)
    data = await gql(RECORD, {"input": complaint_input(preferredContact={"channel": "PHONE"})}, tenant=tenant.slug)
    assert data["recordComplaint"]["userErrors"] == []
    kind, _, raw = base64.b64decode(data["recordComplaint"]["complaint"]["id"]).decode().partition(":")
    assert kind == "Complaint"
    return raw  # the row's id (the API's global id is base64 of "Complaint:<id>")


def _gid(cid: str) -> str:
    return base64.b64encode(f"Complaint:{cid}".encode()).decode()


async def _deadline(tenant: TenantRef, cid: str, kind: str) -> Any:
    found = await rows(f'SELECT * FROM "{tenant.schema}".deadlines WHERE complaint_id = :c AND kind = :k',
                       c=cid, k=kind)
    assert len(found) == 1
    return found[0]


async def _sweep(tenant: TenantRef, now: datetime) -> DeadlineSweep:
    async with tenant_session(tenant) as session:
        return await sweep_deadlines(session, now=now)


async def _twice_at_once(tenant: TenantRef, now: datetime) -> list[DeadlineSweep]:
    results = list(await asyncio.gather(_sweep(tenant, now), _sweep(tenant, now)))
    results.append(await _sweep(tenant, now + timedelta(minutes=1)))
    return results


async def _keys(tenant: TenantRef, like: str) -> list[str]:
    return [r.idempotency_key for r in await rows(
        f'SELECT idempotency_key FROM "{tenant.schema}".outbox WHERE idempotency_key LIKE :k ORDER BY 1', k=like)]


async def _user(tenant: TenantRef, email: str) -> uuid.UUID:
    found: uuid.UUID = await scalar(f'SELECT id FROM "{tenant.schema}".users WHERE email = :e', e=email)
    return found


async def test_breach_recorded_once_owner_and_supervisor_told_once(gql: GraphQLClient, bank: TenantRef) -> None:
    cid = await _record(gql, bank)
    d = await _deadline(bank, cid, "DECISION")
    owner = await scalar(f'SELECT owner_id FROM "{bank.schema}".complaints WHERE id = :c', c=cid)
    manager = await _user(bank, MANAGER)
    now = d.due_at + timedelta(seconds=1)
    assert (await _sweep(bank, d.due_at - timedelta(seconds=1))).breached == 0  # not yet: remind only
    results = await _twice_at_once(bank, now)
    assert sum(r.breached for r in results) == 1
    d = await _deadline(bank, cid, "DECISION")
    assert d.breached_at == now
    events = await rows(f'SELECT actor_label, changes FROM "{bank.schema}".audit_events '
                        "WHERE action = 'deadline_breached'")
    assert [(e.actor_label, e.changes["kind"]) for e in events] == [("system", "DECISION")]
    breach = await _keys(bank, f"deadline:{d.id}:breach:%")
    stamp = int(d.due_at.timestamp())
    assert sorted(breach) == sorted(f"deadline:{d.id}:breach:{stamp}:{ch}:{u}" for u in (owner, manager)
                                    for ch in ("notify", "email"))
    # the customer waits on the decision: a notice (why it is late), turned into one task for the owner
    notices = await rows(f'SELECT id, kind, dedup_key, sent_at FROM "{bank.schema}".customer_notices')
    assert [(n.kind, n.dedup_key, n.sent_at) for n in notices] == [("DEADLINE_BREACHED",
                                                                     f"deadline:{d.id}:breach:{stamp}", now)]
    assert await _keys(bank, f"notice:{notices[0].id}:%") == [f"notice:{notices[0].id}:{ch}:{owner}"
                                                             for ch in ("email", "notify")]
    # the pass that dispatches: every in-app notification delivered once
    await sweep_tenant(bank, clock=FixedClock(now + timedelta(minutes=2)))
    await sweep_tenant(bank, clock=FixedClock(now + timedelta(minutes=3)))
    got = await rows(f'SELECT user_id, kind FROM "{bank.schema}".notifications ORDER BY kind, user_id')
    assert sorted((r.user_id, r.kind) for r in got) == sorted(
        [(owner, "DEADLINE_REMINDER"), (owner, "DEADLINE_BREACHED"), (manager, "DEADLINE_BREACHED"),
         (owner, "CUSTOMER_NOTICE")])


async def test_reminder_once(gql: GraphQLClient, bank: TenantRef) -> None:
    cid = await _record(gql, bank)
    d = await _deadline(bank, cid, "DECISION")
    assert d.remind_at < d.due_at
    assert (await _sweep(bank, d.remind_at - timedelta(seconds=1))).reminded == 0
    now = d.remind_at + timedelta(seconds=1)
    results = await _twice_at_once(bank, now)
    assert sum(r.reminded for r in results) == 1 and sum(r.breached for r in results) == 0
    assert (await _deadline(bank, cid, "DECISION")).reminded_at == now
    owner = await scalar(f'SELECT owner_id FROM "{bank.schema}".complaints WHERE id = :c', c=cid)
    stamp = int(d.remind_at.timestamp())
    assert await _keys(bank, f"deadline:{d.id}:remind:%") == [f"deadline:{d.id}:remind:{stamp}:{ch}:{owner}"
                                                             for ch in ("email", "notify")]


async def test_paused_deadline_not_breached_internal_ones_without_notice(gql: GraphQLClient,
                                                                         retail: TenantRef) -> None:
    cid = await _record(gql, retail)
    res = await _deadline(retail, cid, "RESOLUTION")
    # waiting on the customer since before it was due: the clock stopped in time (the planner's rule)
    await execute(f'UPDATE "{retail.schema}".deadlines SET paused_at = started_at + interval \'1 day\' '
                  "WHERE id = :i", i=res.id)
    now = res.due_at + timedelta(days=1)
    results = await _twice_at_once(retail, now)
    breached = {r.kind + (f":{r.stage}" if r.stage else ""): r.breached_at for r in await rows(
        f'SELECT kind, stage, breached_at FROM "{retail.schema}".deadlines')}
    assert breached == {"RESOLUTION": None, "CUSTOMER_REPLY": now, "STAGE:branch": now}
    assert sum(r.breached for r in results) == 2
    # the reply is customer-facing (a notice); the branch's stage is internal (none)
    notices = await rows(f'SELECT kind, dedup_key FROM "{retail.schema}".customer_notices')
    reply = await _deadline(retail, cid, "CUSTOMER_REPLY")
    assert [(n.kind, n.dedup_key) for n in notices] == [("DEADLINE_BREACHED",
                                                        f"deadline:{reply.id}:breach:{int(reply.due_at.timestamp())}")]
    # paused after it was already past due: that one is a breach
    await execute(f'UPDATE "{retail.schema}".deadlines SET paused_at = due_at + interval \'1 hour\' '
                  "WHERE id = :i", i=res.id)
    assert (await _sweep(retail, now + timedelta(days=30))).breached == 1


async def test_extension_notice_becomes_one_owner_task(gql: GraphQLClient, bank: TenantRef) -> None:
    cid = await _record(gql, bank)
    payload = (await gql(EXTEND, {"input": {"complaintId": _gid(cid), "reason": "Needs the card network's records",
                                            "complex": True}}, tenant=bank.slug,
                         user="desk@test.example"))["extendDeadline"]
    assert payload["userErrors"] == []
    notice = (await rows(f'SELECT id FROM "{bank.schema}".customer_notices'))[0]
    now = datetime.now(UTC)
    results = await _twice_at_once(bank, now)
    assert sum(r.notices for r in results) == 1
    assert await scalar(f'SELECT sent_at FROM "{bank.schema}".customer_notices') == now
    owner = await scalar(f'SELECT owner_id FROM "{bank.schema}".complaints WHERE id = :c', c=cid)
    assert await _keys(bank, "notice:%") == [f"notice:{notice.id}:{ch}:{owner}" for ch in ("email", "notify")]
    await sweep_tenant(bank, clock=FixedClock(now + timedelta(seconds=5)))
    got = await rows(f'SELECT user_id, kind, title FROM "{bank.schema}".notifications')
    assert [(r.user_id, r.kind) for r in got] == [(owner, "CUSTOMER_NOTICE")]
    assert "期限已延长至" in got[0].title  # in the owner's language: the tenant's default, zh-CN


async def test_review_breach_escalates_once(gql: GraphQLClient, bank: TenantRef) -> None:
    from services.core.escalation.models import ExternalBodyKind
    from services.core.escalation.service import ExternalBodyInput, upsert_external_body

    async with tenant_session(bank) as session, session.begin():
        await upsert_external_body(session, now=datetime.now(UTC), data=ExternalBodyInput(
            name="Banking Association", kind=ExternalBodyKind.INDUSTRY_ASSOCIATION,
            webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret-for-the-receiver-0001",
            escalation_level=1))
    cid = await _record(gql, bank)
    # a review request under way (the bank case's REVIEW deadline, as reopening starts it)
    t0 = datetime.now(UTC)
    await execute(f'UPDATE "{bank.schema}".complaints SET status = \'REOPENED\' WHERE id = :c', c=cid)
    await execute(f'UPDATE "{bank.schema}".deadlines SET met_at = :t WHERE complaint_id = :c', t=t0, c=cid)
    await execute(
        f'INSERT INTO "{bank.schema}".deadlines (complaint_id, kind, party, basis, period_days, started_at, '
        "due_at, remind_at, created_at, met_on) VALUES (:c, 'REVIEW', 'COMPANY', 'CALENDAR', 30, :s, :d, :r, :s, "
        "'{CUSTOMER_TOLD,UNFOUNDED}')",
        c=cid, s=t0 - timedelta(days=31), d=t0 - timedelta(hours=1), r=t0 - timedelta(days=3))
    review = await _deadline(bank, cid, "REVIEW")
    results = await _twice_at_once(bank, t0)
    assert sum(r.escalated for r in results) == 1 and sum(r.breached for r in results) == 1
    found = await rows(f'SELECT step, trigger, trigger_ref FROM "{bank.schema}".escalations')
    assert [(e.step, e.trigger, e.trigger_ref) for e in found] == [
        (1, "REVIEW_OVERDUE", f"deadline:{review.id}:escalate")]
    assert await scalar(f'SELECT status FROM "{bank.schema}".complaints WHERE id = :c', c=cid) == "ESCALATED"
    assert len(await _keys(bank, "escalation:%")) >= 1


async def test_two_tenants_isolated(gql: GraphQLClient, bank: TenantRef, retail: TenantRef) -> None:
    a, b = await _record(gql, bank), await _record(gql, retail)
    da, db = await _deadline(bank, a, "DECISION"), await _deadline(retail, b, "CUSTOMER_REPLY")
    now = max(da.due_at, db.due_at) + timedelta(seconds=1)
    await sweep_tenant(bank, clock=FixedClock(now))
    assert (await _deadline(bank, a, "DECISION")).breached_at == now
    assert (await _deadline(retail, b, "CUSTOMER_REPLY")).breached_at is None
    assert await scalar(f'SELECT count(*) FROM "{retail.schema}".outbox') == 0
    assert await scalar(f'SELECT count(*) FROM "{retail.schema}".notifications') == 0
    users_a = {r.id for r in await rows(f'SELECT id FROM "{bank.schema}".users')}
    got = {r.user_id for r in await rows(f'SELECT user_id FROM "{bank.schema}".notifications')}
    assert got and got <= users_a


# ------------------------------------------------------------------ a real worker, Redis flushed


async def test_redis_flushed_while_deadlines_pending_all_still_fire(gql: GraphQLClient, bank: TenantRef,
                                                                    own_redis: str) -> None:
    import redis

    cids = [await _record(gql, bank) for _ in range(3)]
    await execute(f'UPDATE "{bank.schema}".deadlines SET due_at = now() - interval \'1 minute\', '
                  "remind_at = now() - interval '2 minutes'")
    client = redis.Redis.from_url(own_redis)
    client.set("something", "that is about to be lost")
    client.flushdb()
    assert client.dbsize() == 0
    client.close()
    worker = start_worker(own_redis, Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-deadline-worker-{os.getpid()}.log")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = await scalar(f'SELECT count(*) FROM "{bank.schema}".notifications '
                                "WHERE kind = 'DEADLINE_BREACHED'")
            if done == 3 * 2:  # owner and manager, per complaint
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("timed out waiting for the sweeper to record the breaches")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    breached = await rows(f'SELECT breached_at FROM "{bank.schema}".deadlines WHERE complaint_id = ANY(:c)',
                          c=[uuid.UUID(c) for c in cids])
    assert len(breached) == 3 and all(r.breached_at is not None for r in breached)
    assert await scalar(f'SELECT count(*) FROM "{bank.schema}".audit_events WHERE action = \'deadline_breached\'') == 3


async def test_extension_moves_the_reminder_and_it_is_sent_again(gql: GraphQLClient, bank: TenantRef) -> None:
    cid = await _record(gql, bank)
    d = await _deadline(bank, cid, "DECISION")
    assert (await _sweep(bank, d.remind_at + timedelta(seconds=1))).reminded == 1
    payload = (await gql(EXTEND, {"input": {"complaintId": _gid(cid), "reason": "Needs the card network's records",
                                            "complex": True}}, tenant=bank.slug,
                         user="desk@test.example"))["extendDeadline"]
    assert payload["userErrors"] == []
    moved = await _deadline(bank, cid, "DECISION")
    assert moved.remind_at > d.remind_at and moved.reminded_at is None
    assert (await _sweep(bank, moved.remind_at + timedelta(seconds=1))).reminded == 1
    assert len(await _keys(bank, f"deadline:{d.id}:remind:%:notify:%")) == 2
