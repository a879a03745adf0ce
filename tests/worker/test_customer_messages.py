"""Messages to the customer survive a worker killed mid-batch: a real `complaintdesk worker` process sends the
acknowledgements of two tenants' cases by SMS to a real HTTP receiver that holds the requests after the 4th; the
worker is SIGKILLed while they wait, a new one finishes, and the receiver has each message once (it drops a
repeated Idempotency-Key, as a provider does), each message's attempts counting the killed one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import raw_id, rows, start_worker
from lifecycle import record
from receiver import WebhookReceiver, verify

SECRET = "sms-shared-secret-0002"
LOGS = Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-messages-worker-{os.getpid()}.log"
PER_TENANT = 8


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _worker(redis_url: str, url: str) -> subprocess.Popen[bytes]:
    return start_worker(redis_url, LOGS, COMPLAINTDESK_OUTBOX_RETRY_SECONDS="0.5", COMPLAINTDESK_SMS_URL=url,
                        COMPLAINTDESK_SMS_SECRET=SECRET)


@pytest.mark.slow
async def test_sms_after_a_worker_sigkill_mid_batch_reach_the_customer_once(gql: GraphQLClient, own_redis: str
                                                                           ) -> None:
    retail = await new_tenant("msgk", "retail")
    bank = await new_tenant("msgk", "bank")
    try:
        with WebhookReceiver(hold_after=4) as sms:
            numbers: dict[str, list[str]] = {}
            for t in (retail, bank):
                numbers[t.schema] = []
                for i in range(PER_TENANT):
                    case = await record(gql, t.slug, user="receiver@test.example", complainant={
                        "name": "李四", "phone": f"1380013{i:04d}"}, preferredContact={"channel": "SMS"})
                    numbers[t.schema].append(f'{case["number"]}|{raw_id(case["id"])}|{case["accessCode"]}')

            async def states() -> dict[str, int]:
                out: dict[str, int] = {}
                for t in (retail, bank):
                    for r in await rows(f'SELECT state, count(*) AS n FROM "{t.schema}".outgoing_messages GROUP BY 1'):
                        out[r.state] = out.get(r.state, 0) + r.n
                return out

            assert await states() == {"PENDING": 2 * PER_TENANT}
            worker = _worker(own_redis, sms.url)
            try:
                async def held() -> bool:
                    return sms.holding() > 0 and sms.count() == 4

                await _wait(held, 60, "the worker to wait on held SMS requests")
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(10)
            finally:
                if worker.poll() is None:
                    worker.kill()
            assert await states() == {"PENDING": 2 * PER_TENANT}  # the killed batch committed nothing
            sms.release()
            worker = _worker(own_redis, sms.url)
            try:
                async def all_sent() -> bool:
                    return await states() == {"SENT": 2 * PER_TENANT}

                await _wait(all_sent, 90, "the restarted worker to send every message")
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(20)
        # each message once at the receiver, for the right case, to the right number, signed
        assert len(sms.accepted) == 2 * PER_TENANT
        texts = [json.loads(body) for body in sms.accepted.values()]
        for t in (retail, bank):
            for i, ref in enumerate(numbers[t.schema]):
                number, complaint_id, code = ref.split("|")
                mine = [m for m in texts if m["idempotencyKey"].startswith(f"message:{complaint_id}:")]
                assert len(mine) == 1, (number, mine)
                assert mine[0]["to"] == f"1380013{i:04d}" and number in mine[0]["text"] and code in mine[0]["text"]
        for r in sms.requests:
            assert verify(SECRET, r.body, r.signature)
        # the killed attempt counts: every message shows two attempts (the batch was resent as a whole)
        for t in (retail, bank):
            found = await rows(f'SELECT kind, attempts, sent_at FROM "{t.schema}".outgoing_messages')
            assert [(r.kind, r.attempts) for r in found] == [("ACKNOWLEDGEMENT", 2)] * PER_TENANT
        assert {r.key for r in sms.requests} == set(sms.accepted)
    finally:
        await drop_tenant(retail)
        await drop_tenant(bank)
