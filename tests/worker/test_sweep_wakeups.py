"""Which tenants the sweep visits (``public.sweep_wakeups``, kept by triggers), a deadline breached again after
an extension, and a worker killed with SIGKILL in the middle of 1,000 breaches.

The tests commit, so each works in tenants of its own (dropped at the end).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import execute, raw, rows, scalar, start_worker
from lifecycle import EXTEND, RECORD, complaint_input
from sqlalchemy import text

from services.core.clock import FixedClock
from services.core.outbox.sweeper import due_tenants, sweep_all, sweep_tenant
from services.core.tenancy import TenantRef, TenantStatus

RESOLVE = """
mutation ($input: WithdrawComplaintInput!) { withdrawComplaint(input: $input) {
  complaint { status } userErrors { field code message } } }
"""


@pytest.fixture
async def pair(tenants: Any) -> AsyncIterator[tuple[TenantRef, TenantRef]]:
    a = await new_tenant("swa", "bank")
    b = await new_tenant("swb", "bank")
    try:
        yield a, b
    finally:
        await drop_tenant(a)
        await drop_tenant(b)


async def _record(gql: GraphQLClient, tenant: TenantRef) -> str:
    # the customer is called by staff (PHONE): every notice to them is a task for the owner (messages the
    # platform sends itself are tested in tests/api/messages)
    data = await gql(RECORD, {"input": complaint_input(preferredContact={"channel": "PHONE"})}, tenant=tenant.slug)
    assert data["recordComplaint"]["userErrors"] == []
    return base64.b64decode(data["recordComplaint"]["complaint"]["id"]).decode().partition(":")[2]


def _gid(cid: str) -> str:
    return base64.b64encode(f"Complaint:{cid}".encode()).decode()


# the wake-up each source row should have, computed here from the rows (not by the triggers' functions)
EXPECTED = """
SELECT 'deadlines' AS source, id, CASE WHEN met_at IS NULL AND cancelled_at IS NULL THEN LEAST(
         CASE WHEN reminded_at IS NULL AND paused_at IS NULL THEN remind_at END,
         CASE WHEN party = 'COMPANY' AND breached_at IS NULL AND (paused_at IS NULL OR due_at < paused_at)
              THEN due_at END) END AS at FROM "{s}".deadlines
UNION ALL SELECT 'customer_notices', id, CASE WHEN sent_at IS NULL THEN created_at END FROM "{s}".customer_notices
UNION ALL SELECT 'outbox', id, CASE WHEN state = 'pending' THEN next_attempt_at END FROM "{s}".outbox
UNION ALL SELECT 'breach_effects', id, breached_at FROM "{s}".breach_effects
"""


async def _wakeups_match_rows(tenant: TenantRef) -> int:
    """The tenant's wake-ups are exactly its rows with work ahead, at the right times; how many there are."""
    want = {(r.source, r.id): r.at for r in await rows(EXPECTED.format(s=tenant.schema)) if r.at is not None}
    have = {(r.source, r.row_id): r.at for r in await rows(
        "SELECT source, row_id, at FROM public.sweep_wakeups WHERE schema_name = :s", s=tenant.schema)}
    assert have == want
    return len(have)


async def test_only_tenants_with_work_due_are_swept_and_wakeups_follow_the_rows(
        gql: GraphQLClient, pair: tuple[TenantRef, TenantRef]) -> None:
    a, b = pair
    cids = {t.slug: [await _record(gql, t) for _ in range(2)] for t in pair}
    now = datetime.now(UTC)
    await sweep_all(retention=False)  # the recording's own notifications, delivered
    for t in pair:
        assert await _wakeups_match_rows(t) > 0  # the deadlines ahead
    ours = {a.slug, b.slug}
    assert {t.tenant.slug for t in await due_tenants(now + timedelta(seconds=1))} & ours == set()
    # a fixture, not the workflow: one of A's deadlines already past due
    assert await execute(f'UPDATE "{a.schema}".deadlines SET due_at = now() - interval \'1 minute\' '
                         "WHERE complaint_id = :c AND kind = 'DECISION'", c=cids[a.slug][0]) == 1
    await _wakeups_match_rows(a)
    assert [(t.tenant.slug, t.sources) for t in await due_tenants(datetime.now(UTC)) if t.tenant.slug in ours] == [
        (a.slug, frozenset({"deadlines"}))]
    b_outbox = await scalar(f'SELECT count(*) FROM "{b.schema}".outbox')
    b_events = await scalar(f'SELECT count(*) FROM "{b.schema}".audit_events')
    result = await sweep_all(retention=False)
    assert result.errors == 0 and result.breached >= 1 and result.tenants >= 1
    assert await scalar(f'SELECT count(*) FROM "{a.schema}".deadlines WHERE breached_at IS NOT NULL') == 1
    # B had nothing due: not one row of it changed
    assert await scalar(f'SELECT count(*) FROM "{b.schema}".outbox') == b_outbox
    assert await scalar(f'SELECT count(*) FROM "{b.schema}".audit_events') == b_events
    assert await scalar(f'SELECT count(*) FROM "{b.schema}".deadlines WHERE breached_at IS NOT NULL') == 0
    # A's work done: nothing of A is due any more, and its wake-ups still match its rows
    assert {t.tenant.slug for t in await due_tenants(datetime.now(UTC))} & ours == set()
    await _wakeups_match_rows(a)
    # rows ended (a withdrawal meets/cancels the deadlines) and rows deleted take their wake-ups with them
    data = await gql(RESOLVE, {"input": {"complaintId": _gid(cids[b.slug][1]), "reason": "customer withdrew"}},
                     tenant=b.slug)
    assert data["withdrawComplaint"]["userErrors"] == [], data
    await _wakeups_match_rows(b)
    await execute(f'DELETE FROM "{b.schema}".complaints WHERE id = :c', c=cids[b.slug][0])  # cascades to its rows
    await _wakeups_match_rows(b)  # its assertions: the deleted rows' wake-ups are gone
    # a suspended tenant is not swept, whatever is due
    from tenants.provision import set_status

    await execute(f'UPDATE "{a.schema}".deadlines SET due_at = now() - interval \'1 minute\' '
                  "WHERE complaint_id = :c AND kind = 'DECISION'", c=cids[a.slug][1])
    await set_status(a.slug, TenantStatus.SUSPENDED)
    try:
        assert {t.tenant.slug for t in await due_tenants(datetime.now(UTC))} & ours == set()
    finally:
        await set_status(a.slug, TenantStatus.ACTIVE)
    assert {t.tenant.slug for t in await due_tenants(datetime.now(UTC))} & ours == {a.slug}


async def test_deleting_a_tenant_removes_its_wakeups(gql: GraphQLClient, tenants: Any) -> None:
    ref = await new_tenant("swd", "bank")
    await _record(gql, ref)
    assert await scalar("SELECT count(*) FROM public.sweep_wakeups WHERE schema_name = :s", s=ref.schema) > 0
    await drop_tenant(ref)
    assert await scalar("SELECT count(*) FROM public.sweep_wakeups WHERE schema_name = :s", s=ref.schema) == 0


async def test_a_deadline_extended_after_its_breach_is_breached_again_at_its_new_time(
        gql: GraphQLClient, pair: tuple[TenantRef, TenantRef]) -> None:
    bank = pair[0]
    cid = await _record(gql, bank)
    first = (await rows(f'SELECT * FROM "{bank.schema}".deadlines WHERE complaint_id = :c AND kind = \'DECISION\'',
                        c=cid))[0]
    await sweep_tenant(bank, clock=FixedClock(first.due_at + timedelta(seconds=1)))
    breached = (await rows(f'SELECT * FROM "{bank.schema}".deadlines WHERE id = :d', d=first.id))[0]
    assert breached.breached_at == first.due_at + timedelta(seconds=1)
    payload = (await gql(EXTEND, {"input": {"complaintId": _gid(cid), "reason": "Needs the card network's records",
                                            "complex": True}}, tenant=bank.slug,
                         user="desk@test.example"))["extendDeadline"]
    assert payload["userErrors"] == []
    moved = (await rows(f'SELECT * FROM "{bank.schema}".deadlines WHERE id = :d', d=first.id))[0]
    assert moved.due_at > first.due_at and moved.breached_at is None
    await _wakeups_match_rows(bank)
    # not before its new time...
    await sweep_tenant(bank, clock=FixedClock(moved.due_at - timedelta(seconds=1)))
    assert (await rows(f'SELECT breached_at FROM "{bank.schema}".deadlines WHERE id = :d', d=first.id))[0] \
        .breached_at is None
    # ...then once more, under a key of its own: the owner and the manager told again, the audit trail has both
    again = moved.due_at + timedelta(seconds=1)
    await sweep_tenant(bank, clock=FixedClock(again))
    await sweep_tenant(bank, clock=FixedClock(again + timedelta(minutes=1)))
    assert (await rows(f'SELECT breached_at FROM "{bank.schema}".deadlines WHERE id = :d', d=first.id))[0] \
        .breached_at == again
    events = await rows(f'SELECT changes FROM "{bank.schema}".audit_events WHERE action = \'deadline_breached\' '
                        "ORDER BY seq")
    assert [e.changes["dueAt"] for e in events] == [first.due_at.isoformat(), moved.due_at.isoformat()]
    told = await rows(f'SELECT idempotency_key FROM "{bank.schema}".notifications WHERE kind = \'DEADLINE_BREACHED\'')
    stamps = {k.idempotency_key.split(":")[3] for k in told}
    assert stamps == {str(int(first.due_at.timestamp())), str(int(moved.due_at.timestamp()))}
    assert len(told) == 4  # owner and manager, twice
    notices = await scalar(f'SELECT count(*) FROM "{bank.schema}".customer_notices WHERE kind = \'DEADLINE_BREACHED\'')
    assert notices == 2


# ------------------------------------------------------------------ SIGKILL in the middle of 1,000 breaches


LOGS = Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-sweep-kill-{os.getpid()}.log"


def _start_worker(redis_url: str) -> subprocess.Popen[bytes]:
    return start_worker(redis_url, LOGS)


async def _copies(tenant: TenantRef, cid: str, count: int) -> None:
    """BENCHMARK-STYLE FIXTURE: ``count`` copies of a recorded complaint's row (new id and number), each with a
    copy of its DECISION deadline, already past due."""
    s = tenant.schema
    cols = [r.column_name for r in await rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = 'complaints' "
        "ORDER BY ordinal_position", s=s)]
    picked = ", ".join("gen_random_uuid()" if c == "id" else "'K' || lpad(g::text, 9, '0')" if c == "number"
                       else f'c."{c}"' for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    await execute(f'INSERT INTO "{s}".complaints ({names}) SELECT {picked} FROM "{s}".complaints c, '
                  f"generate_series(1, {count}) g WHERE c.id = :c", c=cid)
    dcols = [r.column_name for r in await rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = 'deadlines' "
        "AND column_name NOT IN ('id', 'complaint_id', 'due_at') ORDER BY ordinal_position", s=s)]
    dnames = ", ".join(f'"{c}"' for c in dcols)
    await execute(f'INSERT INTO "{s}".deadlines (complaint_id, due_at, {dnames}) '
                  f"SELECT c.id, now() - interval '1 minute', {', '.join('d.' + chr(34) + c + chr(34) for c in dcols)} "
                  f'FROM "{s}".complaints c, "{s}".deadlines d '
                  "WHERE c.number LIKE 'K%' AND d.complaint_id = :c AND d.kind = 'DECISION'", c=cid)


GATE = (7361, 1)  # an advisory lock of the two-key kind: the product takes one-key (hashtext) locks only
GATED_AT = 300  # breaches committed before the gate closes: three of the sweep's batches of 100


async def _close_gate(schema: str) -> None:
    """TEST FIXTURE, no product code: a statement trigger on the tenant's audit_events that, once ``GATED_AT``
    breaches are committed, makes the next audit append wait for the advisory lock ``GATE`` (held by the test).
    The sweep appends one batch's breach events in one transaction, so the worker stops at a known point: inside
    its fourth batch, with exactly ``GATED_AT`` breaches committed."""
    await execute(f"""
        CREATE FUNCTION "{schema}".test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT count(*) FROM "{schema}".audit_events WHERE action = 'deadline_breached') >= {GATED_AT} THEN
            PERFORM pg_advisory_xact_lock({GATE[0]}, {GATE[1]});
          END IF;
          RETURN NULL;
        END $$""")
    await execute(f'CREATE TRIGGER test_gate BEFORE INSERT ON "{schema}".audit_events '
                  f'FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".test_gate()')


async def _waiting_at_gate() -> list[int]:
    """The backends waiting for the gate."""
    return [r.pid for r in await rows("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :a "
                                      "AND objid = :b AND NOT granted", a=GATE[0], b=GATE[1])]


@pytest.mark.slow
async def test_worker_killed_in_the_middle_of_1000_breaches_handles_each_exactly_once(
        gql: GraphQLClient, pair: tuple[TenantRef, TenantRef], own_redis: str) -> None:
    """Every wait below is on a condition and bounded (60 + 120 s at most, under the 300 s test timeout)."""
    bank, other = pair
    cid = await _record(gql, bank)
    await _record(gql, other)  # the other tenant has a case with deadlines of its own
    await sweep_all(retention=False)  # the recordings' own notifications, delivered
    await execute(f'UPDATE "{bank.schema}".deadlines SET due_at = now() + interval \'30 days\' WHERE complaint_id = :c',
                  c=cid)  # the original stays out of it
    await _copies(bank, cid, 1000)
    s = bank.schema
    assert await scalar(f'SELECT count(*) FROM "{s}".deadlines WHERE due_at < now() AND breached_at IS NULL') == 1000
    other_before = await rows(f'SELECT id, due_at, breached_at FROM "{other.schema}".deadlines ORDER BY id')

    async def breached() -> int:
        return int(await scalar(f'SELECT count(*) FROM "{s}".deadlines WHERE breached_at IS NOT NULL'))

    await _close_gate(s)
    async with raw() as gate:  # the test's own connection holds the gate
        await gate.execute(text("SELECT pg_advisory_lock(:a, :b)"), {"a": GATE[0], "b": GATE[1]})
        worker = _start_worker(own_redis)
        try:
            limit = time.monotonic() + 60
            while time.monotonic() < limit and not await _waiting_at_gate():
                assert worker.poll() is None, LOGS.read_text()[-3000:]
                await asyncio.sleep(0.05)
            stuck = await _waiting_at_gate()
            assert stuck, "the worker never reached the gate"
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
        # its server process would notice the lost client only when it next writes to it: end it as that would
        for pid in stuck:
            await execute("SELECT pg_terminate_backend(:p)", p=pid)
        await gate.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": GATE[0], "b": GATE[1]})
        await gate.commit()
    await execute(f'DROP TRIGGER test_gate ON "{s}".audit_events')
    await execute(f'DROP FUNCTION "{s}".test_gate()')
    # killed inside its fourth batch: three committed, the fourth rolled back whole
    assert await breached() == GATED_AT
    assert await scalar(f"SELECT count(*) FROM \"{s}\".audit_events WHERE action = 'deadline_breached'") == GATED_AT
    worker = _start_worker(own_redis)
    try:
        async def done() -> bool:
            pending = await scalar(f'SELECT count(*) FROM "{s}".outbox WHERE state = \'pending\'')
            unsent = await scalar(f'SELECT count(*) FROM "{s}".customer_notices WHERE sent_at IS NULL')
            return await breached() == 1000 and pending == 0 and unsent == 0

        limit = time.monotonic() + 120
        while time.monotonic() < limit and not await done():
            await asyncio.sleep(0.2)
        assert await done(), LOGS.read_text()[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    # each of the 1,000 breaches exactly once: one audit event, one notice, two people told once each
    events = await rows(f'SELECT changes->>\'deadlineId\' AS d, count(*) AS n FROM "{s}".audit_events '
                        "WHERE action = 'deadline_breached' GROUP BY 1")
    assert len(events) == 1000 and {e.n for e in events} == {1}
    notices = await rows(f'SELECT deadline_id, count(*) AS n FROM "{s}".customer_notices '
                         "WHERE kind = 'DEADLINE_BREACHED' GROUP BY 1")
    assert len(notices) == 1000 and {n.n for n in notices} == {1}
    told = await rows(f'SELECT user_id, kind, count(*) AS n FROM "{s}".notifications '
                      "WHERE kind IN ('DEADLINE_BREACHED', 'CUSTOMER_NOTICE') GROUP BY 1, 2")
    owner = await scalar(f'SELECT owner_id FROM "{s}".complaints WHERE id = :c', c=cid)
    manager = await scalar(f'SELECT id FROM "{s}".users WHERE email = \'manager@test.example\'')
    assert {(r.user_id, r.kind): r.n for r in told} == {
        (owner, "DEADLINE_BREACHED"): 1000, (manager, "DEADLINE_BREACHED"): 1000, (owner, "CUSTOMER_NOTICE"): 1000}
    assert await scalar(f'SELECT count(*) FROM "{s}".outbox WHERE state = \'pending\'') == 0
    assert await _wakeups_match_rows(bank) > 0  # what is left ahead: the original case's deadlines
    # the other tenant: untouched
    assert await rows(f'SELECT id, due_at, breached_at FROM "{other.schema}".deadlines ORDER BY id') == other_before
