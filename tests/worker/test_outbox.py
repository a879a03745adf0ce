"""The outbox: idempotent enqueue, delivery with retries, two dispatchers, a SIGKILLed worker, Redis lost.

These tests commit for real, so they run in tenants of their own (dropped at the end), and the crash tests
run `complaintdesk worker` as a child process on a Redis server of their own (flushed, never the shared one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import drop_tenant, new_tenant
from helpers import scalar, start_worker
from receiver import WebhookReceiver, verify

from services.core.outbox.models import OutboxKind
from services.core.outbox.service import dispatch_due, enqueue, notify
from services.core.tenancy import TenantRef, tenant_session

SECRET = "s3cret-for-the-receiver-0001"




@pytest.fixture
async def tenant(tenants: Any) -> AsyncIterator[TenantRef]:
    ref = await new_tenant("ob")
    try:
        yield ref
    finally:
        await drop_tenant(ref)


async def _user(tenant: TenantRef, email: str = "receiver@test.example") -> uuid.UUID:
    found: uuid.UUID = await scalar(f'SELECT id FROM "{tenant.schema}".users WHERE email = :e', e=email)
    return found


async def _body(tenant: TenantRef, url: str, name: str = "Webhook receiver") -> uuid.UUID:
    from services.core.escalation.models import ExternalBodyKind
    from services.core.escalation.service import ExternalBodyInput, upsert_external_body

    async with tenant_session(tenant) as session, session.begin():
        body = await upsert_external_body(session, now=datetime.now(UTC), data=ExternalBodyInput(
            name=name, kind=ExternalBodyKind.INDUSTRY_ASSOCIATION, webhook_url=url, webhook_secret=SECRET,
            escalation_level=1))
        return body.id


async def _fill(tenant: TenantRef, *, notifications: int, webhooks: int, body_id: uuid.UUID | None,
                now: datetime) -> None:
    user = await _user(tenant)
    async with tenant_session(tenant) as session, session.begin():
        for i in range(notifications):
            await notify(session, user_ids=[user], key=f"test:{i}", kind="TEST", title=f"note {i}", now=now)
        for i in range(webhooks):
            await enqueue(session, OutboxKind.WEBHOOK, f"hook:{i}", {"n": i}, target=f"external_body:{body_id}",
                          now=now)


async def _states(tenant: TenantRef) -> dict[str, int]:
    from helpers import rows

    return {r.state: r.n for r in await rows(f'SELECT state, count(*) AS n FROM "{tenant.schema}".outbox GROUP BY 1')}


async def test_enqueue_is_idempotent_and_notifications_are_sealed(tenant: TenantRef) -> None:
    now = datetime.now(UTC)
    user = await _user(tenant)
    async with tenant_session(tenant) as session, session.begin():
        first = await notify(session, user_ids=[user], key="dup", kind="TEST", title="Hello", body="秘密 body", now=now)
        again = await notify(session, user_ids=[user], key="dup", kind="TEST", title="Hello", body="秘密 body", now=now)
    assert (first, again) == (1, 0)
    assert await scalar(f'SELECT count(*) FROM "{tenant.schema}".outbox') == 1
    async with tenant_session(tenant) as session:
        result = await dispatch_due(session, now=now)
        assert (result.sent, result.claimed) == (1, 1)
        assert (await dispatch_due(session, now=now)).claimed == 0
    assert await scalar(f'SELECT count(*) FROM "{tenant.schema}".notifications WHERE user_id = :u', u=user) == 1
    dump = str(await scalar(f'SELECT string_agg(t::text, \'\') FROM "{tenant.schema}".notifications t'))
    dump += str(await scalar(f'SELECT string_agg(t::text, \'\') FROM "{tenant.schema}".outbox t'))
    assert "秘密" not in dump and "秘密".encode().hex() not in dump


async def test_webhook_failing_twice_then_succeeding_is_one_delivery(tenant: TenantRef) -> None:
    t0 = datetime.now(UTC)
    with WebhookReceiver(fail_times=2) as receiver:
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=0, webhooks=1, body_id=body_id, now=t0)
        async with tenant_session(tenant) as session:
            first = await dispatch_due(session, now=t0, retry_seconds=10)
            assert (first.retried, first.sent) == (1, 0)
            # backing off: not due again before 10 s, then 20 s after the second failure
            assert (await dispatch_due(session, now=t0 + timedelta(seconds=9), retry_seconds=10)).claimed == 0
            assert (await dispatch_due(session, now=t0 + timedelta(seconds=10), retry_seconds=10)).retried == 1
            assert (await dispatch_due(session, now=t0 + timedelta(seconds=29), retry_seconds=10)).claimed == 0
            third = await dispatch_due(session, now=t0 + timedelta(seconds=30), retry_seconds=10)
            assert third.sent == 1
            assert (await dispatch_due(session, now=t0 + timedelta(hours=1))).claimed == 0
    assert [r.status for r in receiver.requests] == [503, 503, 200]
    assert {r.key for r in receiver.requests} == {"hook:0"}  # the same Idempotency-Key on every attempt
    assert len({r.body for r in receiver.requests}) == 1
    assert all(verify(SECRET, r.body, r.signature) for r in receiver.requests)
    assert not verify("another-secret-000000", receiver.requests[0].body, receiver.requests[0].signature)
    row = (await _rows(tenant, "SELECT state, attempts, receipt, last_error FROM {s}.outbox"))[0]
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert row.receipt["status"] == 200 and row.receipt["receiverId"].startswith("rcpt-")


async def _rows(tenant: TenantRef, sql: str) -> list[Any]:
    from helpers import rows

    return await rows(sql.format(s=f'"{tenant.schema}"'))


async def test_webhook_gives_up_after_max_attempts_and_email_is_skipped_without_smtp(tenant: TenantRef) -> None:
    t0 = datetime.now(UTC)
    with WebhookReceiver(fail_times=100) as receiver:
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=0, webhooks=1, body_id=body_id, now=t0)
        user = await _user(tenant)
        async with tenant_session(tenant) as session, session.begin():
            await notify(session, user_ids=[user], key="mail", kind="TEST", title="t", now=t0, email=True)
        async with tenant_session(tenant) as session:
            for i in range(3):
                await dispatch_due(session, now=t0 + timedelta(hours=i), retry_seconds=1, attempts_max=3)
    assert len(receiver.requests) == 3
    by_kind = {r.kind: r for r in await _rows(tenant, "SELECT kind, state, attempts, last_error FROM {s}.outbox")}
    assert (by_kind["webhook"].state, by_kind["webhook"].attempts) == ("failed", 3)
    assert by_kind["webhook"].last_error == "HTTP 503"
    assert os.environ.get("COMPLAINTDESK_SMTP_URL") is None
    assert by_kind["email"].state == "skipped" and "COMPLAINTDESK_SMTP_URL" in by_kind["email"].last_error
    assert by_kind["notification"].state == "sent"


async def test_two_dispatchers_at_once_never_double(tenant: TenantRef) -> None:
    now = datetime.now(UTC)
    with WebhookReceiver(delay=0.002) as receiver:
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=300, webhooks=100, body_id=body_id, now=now)

        async def run() -> int:
            claimed = 0
            async with tenant_session(tenant) as session:
                while (result := await dispatch_due(session, now=now, limit=25)).claimed:
                    claimed += result.claimed
            return claimed

        counts = await asyncio.gather(run(), run(), run())
    assert sum(counts) == 400 and all(counts), counts  # everyone took a share, nothing twice
    assert await _states(tenant) == {"sent": 400}
    assert await scalar(f'SELECT count(*) FROM "{tenant.schema}".notifications') == 300
    assert len(receiver.requests) == 100 and len(receiver.accepted) == 100


# ------------------------------------------------------------------ real worker processes


LOGS = Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-outbox-worker-{os.getpid()}.log"


def _start_worker(redis_url: str) -> subprocess.Popen[bytes]:
    return start_worker(redis_url, LOGS, COMPLAINTDESK_OUTBOX_RETRY_SECONDS="0.5")


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
async def test_worker_killed_mid_batch_then_restarted_handles_every_item_once(
    tenant: TenantRef, own_redis: str
) -> None:
    """The receiver holds every webhook request after the 130th unanswered: the worker is killed while it waits on
    them, mid-batch, however fast the machine. Every wait is on a condition and bounded (60 + 90 s)."""
    now = datetime.now(UTC)
    with WebhookReceiver(hold_after=130) as receiver:
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=500, webhooks=500, body_id=body_id, now=now)
        started = time.monotonic()
        worker = _start_worker(own_redis)
        try:
            async def held() -> bool:
                # two batches of 100 (about half webhooks) in, the first 130 requests answered, the next waiting
                return receiver.holding() > 0 and receiver.count() == 130

            await _wait(held, 60, "the first worker to wait on a held request")
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
            killed_at = time.monotonic() - started
            sent_at_kill = (await _states(tenant)).get("sent", 0)
            requests_at_kill = receiver.count()
            assert requests_at_kill == 130  # answered: the first 130, no more
            assert sent_at_kill < 1000
        finally:
            if worker.poll() is None:
                worker.kill()
        receiver.release()
        worker = _start_worker(own_redis)
        try:
            async def all_sent() -> bool:
                return (await _states(tenant)).get("sent", 0) == 1000

            await _wait(all_sent, 90, "the restarted worker to send everything")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)
        elapsed = time.monotonic() - started
    assert await _states(tenant) == {"sent": 1000}
    assert await scalar(f'SELECT count(*) FROM "{tenant.schema}".notifications') == 500
    assert await scalar(f'SELECT count(DISTINCT idempotency_key) FROM "{tenant.schema}".notifications') == 500
    assert set(receiver.accepted) == {f"hook:{i}" for i in range(500)}  # every webhook, deduped by key
    redelivered = len(receiver.requests) - len(receiver.accepted)
    print(f"\nSIGKILL after {killed_at:.2f} s: {sent_at_kill} items committed sent, {requests_at_kill} webhook "
          f"requests seen; after restart all 1000 sent in {elapsed:.2f} s total; {redelivered} webhook "
          f"redeliveries (dropped by key at the receiver); 500/500 notifications, no duplicate")


async def test_sent_at_is_when_the_receiver_answered(tenant: TenantRef) -> None:
    with WebhookReceiver(delay=0.8) as receiver:
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=0, webhooks=1, body_id=body_id, now=datetime.now(UTC))
        async with tenant_session(tenant) as session:
            claimed_at = datetime.now(UTC)
            assert (await dispatch_due(session, now=claimed_at)).sent == 1
    row = (await _rows(tenant, "SELECT state, attempts, sent_at FROM {s}.outbox"))[0]
    answered = datetime.fromtimestamp(receiver.requests[0].answered_at, UTC)
    assert (row.state, row.attempts) == ("sent", 1)
    assert row.sent_at >= claimed_at + timedelta(seconds=0.8)  # not the claim: the answer, after the delay
    assert abs(row.sent_at - answered) < timedelta(milliseconds=100)  # the receiver's own clock agrees


@pytest.mark.slow
async def test_a_webhook_redelivered_after_a_killed_worker_counts_two_attempts(tenant: TenantRef,
                                                                              own_redis: str) -> None:
    with WebhookReceiver(delay=30) as receiver:  # the first POST hangs there while its worker is killed
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=0, webhooks=1, body_id=body_id, now=datetime.now(UTC))
        worker = _start_worker(own_redis)
        try:
            async def posted() -> bool:
                return receiver.arrivals >= 1

            await _wait(posted, 60, "the worker to post the webhook")
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
        # the claim died with the worker: the item is pending again, its attempt on record all the same
        row = (await _rows(tenant, "SELECT state, attempts FROM {s}.outbox"))[0]
        assert (row.state, row.attempts) == ("pending", 0)
        assert await scalar(f'SELECT tries FROM "{tenant.schema}".outbox_inflight') == 1
        receiver.delay = 0
        async with tenant_session(tenant) as session:
            assert (await dispatch_due(session, now=datetime.now(UTC))).sent == 1
        assert receiver.arrivals == 2
    row = (await _rows(tenant, "SELECT state, attempts FROM {s}.outbox"))[0]
    assert (row.state, row.attempts) == ("sent", 2)
    assert await scalar(f'SELECT count(*) FROM "{tenant.schema}".outbox_inflight') == 0


async def test_redis_flushed_while_items_pending_all_still_go_out(tenant: TenantRef, own_redis: str) -> None:
    import redis

    from services.core.config import get_settings

    now = datetime.now(UTC)
    with WebhookReceiver() as receiver:
        body_id = await _body(tenant, receiver.url)
        await _fill(tenant, notifications=50, webhooks=20, body_id=body_id, now=now)
        # the fast path: messages (one delayed) in the worker's Redis ... then Redis loses everything
        client = redis.Redis.from_url(own_redis)
        client.rpush(f"{get_settings().queue_namespace}:default", b"a message that is about to be lost")
        client.zadd(f"{get_settings().queue_namespace}:default.DQ", {b"a delayed message": time.time() + 60})
        assert client.dbsize() > 0
        client.flushdb()
        assert client.dbsize() == 0
        client.close()
        worker = _start_worker(own_redis)
        try:
            async def all_sent() -> bool:
                return (await _states(tenant)).get("sent", 0) == 70

            await _wait(all_sent, 60, "the sweeper to send everything from PostgreSQL")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)
    assert await scalar(f'SELECT count(*) FROM "{tenant.schema}".notifications') == 50
    assert len(receiver.accepted) == 20


async def test_sweep_actor_and_tenant_isolation(tenants: Any, worker: Any) -> None:
    """The `sweep` actor (by message) delivers each tenant's items into that tenant only."""
    from helpers import drain

    from services.worker.actors.outbox import sweep

    a, b = await new_tenant("oba"), await new_tenant("obb", "bank")
    try:
        now = datetime.now(UTC)
        await _fill(a, notifications=3, webhooks=0, body_id=None, now=now)
        await _fill(b, notifications=5, webhooks=0, body_id=None, now=now)
        sweep.send()
        drain()
        ua, ub = await _user(a), await _user(b)
        assert await scalar(f'SELECT count(*) FROM "{a.schema}".notifications WHERE user_id = :u', u=ua) == 3
        assert await scalar(f'SELECT count(*) FROM "{b.schema}".notifications WHERE user_id = :u', u=ub) == 5
        assert await _states(a) == {"sent": 3} and await _states(b) == {"sent": 5}
    finally:
        await drop_tenant(a)
        await drop_tenant(b)

