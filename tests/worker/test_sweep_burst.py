"""The sweep's burst: many tenants falling due at once, their breaches recorded a statement per batch of tenants
(``sweep_breaches()`` in each tenant schema, t0024), their effects after (``breach_effects``).

Two real workers sweep 30 tenants with one deadline due in each: every breach once, with its audit event (the chain,
hashed in PostgreSQL, verifies with `complaintdesk audit verify`), its notifications and its customer notice. And a
breach recorded by a sweeper that stops before its effects (the first stage only) still gets them from the next
sweep. The tests commit, so they work in tenants of their own (dropped at the end).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import execute, rows, run_cli, scalar, start_worker
from lifecycle import RECORD, complaint_input

from services.core.clock import FixedClock
from services.core.deadlines.sweep import breach_tenants, warm_breaches
from services.core.outbox.sweeper import due_tenants, sweep_all, warm_breach_lanes
from services.core.tenancy import TenantRef

BURST = 30
LOG = Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-sweep-burst-{os.getpid()}.log"


async def _record(gql: GraphQLClient, tenant: TenantRef) -> str:
    # the customer is called by staff (PHONE): the breach's notice to them is a task for the owner
    data = await gql(RECORD, {"input": complaint_input(preferredContact={"channel": "PHONE"})}, tenant=tenant.slug)
    assert data["recordComplaint"]["userErrors"] == []
    return base64.b64decode(data["recordComplaint"]["complaint"]["id"]).decode().partition(":")[2]


@pytest.fixture
async def many(tenants: Any) -> AsyncIterator[list[TenantRef]]:
    made: list[TenantRef] = []
    try:
        for _ in range(BURST):
            made.append(await new_tenant("bu", "bank"))
        yield made
    finally:
        for t in made:
            await drop_tenant(t)


async def _audit_verifies(tenants: list[TenantRef]) -> None:
    verified = run_cli("audit", "verify", *[a for t in tenants for a in ("--tenant", t.slug)], timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count(": ok (") == len(tenants)


async def _breached_once(tenant: TenantRef, cid: str) -> None:
    """The complaint's DECISION deadline breached once: one audit event at the breach time, the owner and the
    manager told once each (in-app and e-mail), one customer notice turned into one owner task; nothing left."""
    s = tenant.schema
    (d,) = await rows(f'SELECT id, due_at, breached_at FROM "{s}".deadlines WHERE complaint_id = :c '
                      "AND kind = 'DECISION'", c=cid)
    assert d.breached_at is not None
    events = await rows(f'SELECT occurred_at, actor_label, subject_id, changes FROM "{s}".audit_events '
                        "WHERE action = 'deadline_breached'")
    assert [(e.occurred_at, e.actor_label, str(e.subject_id), e.changes["deadlineId"], e.changes["kind"],
             e.changes["dueAt"]) for e in events] == [
        (d.breached_at, "system", cid, str(d.id), "DECISION", d.due_at.isoformat())]
    owner = await scalar(f'SELECT owner_id FROM "{s}".complaints WHERE id = :c', c=cid)
    manager = await scalar(f"SELECT id FROM \"{s}\".users WHERE email = 'manager@test.example'")
    key = f"deadline:{d.id}:breach:{int(d.due_at.timestamp())}"
    keys = [r.idempotency_key for r in await rows(
        f'SELECT idempotency_key FROM "{s}".outbox WHERE idempotency_key LIKE :k', k=f"deadline:{d.id}:breach:%")]
    assert sorted(keys) == sorted(f"{key}:{ch}:{u}" for u in (owner, manager) for ch in ("notify", "email"))
    notices = await rows(f'SELECT id, dedup_key, sent_at FROM "{s}".customer_notices '
                         "WHERE kind = 'DEADLINE_BREACHED'")
    assert [(n.dedup_key, n.sent_at is not None) for n in notices] == [(key, True)]
    told = await rows(f'SELECT user_id, kind FROM "{s}".notifications '
                      "WHERE kind IN ('DEADLINE_BREACHED', 'CUSTOMER_NOTICE') ORDER BY kind, user_id")
    assert sorted((r.user_id, r.kind) for r in told) == sorted(
        [(owner, "DEADLINE_BREACHED"), (manager, "DEADLINE_BREACHED"), (owner, "CUSTOMER_NOTICE")])
    assert await scalar(f'SELECT count(*) FROM "{s}".breach_effects') == 0
    assert await scalar("SELECT count(*) FROM public.sweep_wakeups WHERE schema_name = :s "
                        "AND source = 'breach_effects'", s=s) == 0


async def _due_now(tenant: TenantRef, cid: str) -> None:
    """A fixture, not the workflow: the complaint's DECISION deadline past due (its reminder already sent)."""
    assert await execute(f'UPDATE "{tenant.schema}".deadlines SET due_at = now() - interval \'1 minute\', '
                         "reminded_at = now() WHERE complaint_id = :c AND kind = 'DECISION'", c=cid) == 1


@pytest.mark.slow
async def test_burst_over_30_tenants_two_workers_each_breach_once_and_the_chains_verify(
        gql: GraphQLClient, many: list[TenantRef], own_redis: str) -> None:
    cids = {t.slug: await _record(gql, t) for t in many}
    await sweep_all(retention=False)  # the recordings' own notifications, delivered
    for t in many:
        await _due_now(t, cids[t.slug])
    workers = [start_worker(own_redis, LOG), start_worker(own_redis, LOG)]

    async def told() -> int:
        n = 0
        for t in many:
            n += int(await scalar(f'SELECT count(*) FROM "{t.schema}".notifications '
                                  "WHERE kind IN ('DEADLINE_BREACHED', 'CUSTOMER_NOTICE')"))
        return n

    try:
        limit = time.monotonic() + 180
        while time.monotonic() < limit and await told() < 3 * BURST:
            for w in workers:
                assert w.poll() is None, LOG.read_text()[-3000:]
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)  # a duplicate, if there were one, would have come by now too
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)
    assert await told() == 3 * BURST, LOG.read_text()[-3000:]
    for t in many:
        await _breached_once(t, cids[t.slug])
    await _audit_verifies(many)


@pytest.fixture
async def three(tenants: Any) -> AsyncIterator[list[TenantRef]]:
    made: list[TenantRef] = []
    try:
        for template in ("bank", "bank", "retail"):
            made.append(await new_tenant("bv", template))
        yield made
    finally:
        for t in made:
            await drop_tenant(t)


async def test_breaches_recorded_by_a_sweeper_that_stopped_get_their_effects_from_the_next(
        gql: GraphQLClient, three: list[TenantRef]) -> None:
    bank, other, retail = three
    cids = {t.slug: await _record(gql, t) for t in three}
    await sweep_all(retention=False)  # the recordings' own notifications, delivered
    await _due_now(bank, cids[bank.slug])
    await _due_now(other, cids[other.slug])
    # the retail case: its reply (customer-facing) and the branch's stage (internal, a stage in the audit event),
    # the stage paused after it was already past due (``"paused": true`` in the event)
    await execute(f'UPDATE "{retail.schema}".deadlines SET due_at = now() - interval \'2 minutes\' '
                  "WHERE kind IN ('CUSTOMER_REPLY', 'STAGE')")
    await execute(f'UPDATE "{retail.schema}".deadlines SET paused_at = now() - interval \'1 minute\' '
                  "WHERE kind = 'STAGE'")
    now = datetime.now(UTC)
    # the first stage only (as a worker killed right after it would leave things): breaches and audit events
    # recorded, a tenant whose chain is locked is left as it is
    got = await breach_tenants([t.schema for t in three], now=now)
    assert got == {bank.schema: 1, other.schema: 1, retail.schema: 2}
    assert await breach_tenants([t.schema for t in three], now=now) == {t.schema: 0 for t in three}
    for t in three:
        assert await scalar(f'SELECT count(*) FROM "{t.schema}".outbox WHERE idempotency_key LIKE \'%:breach:%\'') == 0
    due = {d.tenant.slug: d.sources for d in await due_tenants(now)}
    assert all("breach_effects" in due[t.slug] for t in three)
    # the next pass: the effects, once
    later = FixedClock(now + timedelta(seconds=1))
    result = await sweep_all(clock=later, retention=False)
    assert result.errors == 0
    # its timings, stage by stage (bench/sweeper.py prints them), and the outboxes it dispatched (each of the
    # three has its effects' items; other tests' tenants may have some too)
    assert 0 <= result.breach_seconds <= result.effects_seconds and result.dispatched >= 3
    await sweep_all(clock=FixedClock(now + timedelta(seconds=2)), retention=False)
    for t in (bank, other):
        await _breached_once(t, cids[t.slug])
        assert await scalar(f'SELECT breached_at FROM "{t.schema}".deadlines WHERE kind = \'DECISION\'') == now
    events = await rows(f'SELECT changes FROM "{retail.schema}".audit_events WHERE action = \'deadline_breached\' '
                        "ORDER BY seq")
    assert sorted((e.changes["kind"], e.changes["stage"], e.changes["paused"]) for e in events) == [
        ("CUSTOMER_REPLY", None, False), ("STAGE", "branch", True)]
    notices = await rows(f'SELECT kind FROM "{retail.schema}".customer_notices')
    assert [n.kind for n in notices] == ["DEADLINE_BREACHED"]  # the reply only: the stage is internal
    assert await scalar(f'SELECT count(*) FROM "{retail.schema}".breach_effects') == 0
    await _audit_verifies(three)


async def _state(tenant: TenantRef) -> tuple[Any, ...]:
    s = tenant.schema
    return (await scalar(f'SELECT count(*) FROM "{s}".audit_events'),
            await scalar(f'SELECT count(*) FROM "{s}".deadlines WHERE breached_at IS NOT NULL'),
            await scalar(f'SELECT count(*) FROM "{s}".breach_effects'),
            await scalar(f'SELECT count(*) FROM "{s}".complaint_facts WHERE breached'),
            [tuple(r) for r in await rows("SELECT source, row_id, at FROM public.sweep_wakeups WHERE schema_name = :s "
                                          "ORDER BY source, row_id", s=s)])


async def test_warming_the_breach_lanes_records_nothing_and_a_pass_without_the_first_stage_still_breaches(
        gql: GraphQLClient, three: list[TenantRef]) -> None:
    bank, other, retail = three
    cids = {t.slug: await _record(gql, t) for t in three}
    await sweep_all(retention=False)
    await _due_now(bank, cids[bank.slug])
    before = {t.slug: await _state(t) for t in three}
    # a tenant without the warming function (as if its migration to t0025 had failed) stays cold, the others warm
    await execute(f'DROP FUNCTION "{retail.schema}".sweep_breaches_warm()')
    # every statement of each tenant's sweep_breaches() run once and undone (t0025): nothing recorded, even in the
    # tenant with a deadline due; each tenant once per process
    assert await warm_breaches([t.schema for t in three]) == 3
    assert await warm_breaches([t.schema for t in three]) == 0
    assert await warm_breach_lanes() >= 0  # every active tenant of the database, those above already warm
    assert {t.slug: await _state(t) for t in three} == before
    assert "deadlines" in {d.tenant.slug: d.sources for d in await due_tenants(datetime.now(UTC))}[bank.slug]
    # a pass without the first stage still records the breach (in the tenant's deadline phase), with its effects,
    # once
    result = await sweep_all(retention=False, breaches=False)
    assert (result.errors, result.breached) == (0, 1)
    await sweep_all(retention=False)
    await _breached_once(bank, cids[bank.slug])
    assert [await _state(t) for t in (other, retail)] == [before[other.slug], before[retail.slug]]
    await _audit_verifies(three)
