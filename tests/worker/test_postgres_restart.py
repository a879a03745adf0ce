"""PostgreSQL restarted under load, with the API and a worker running (real processes).

A PostgreSQL of this module's own (embedded, in a temporary folder: the test may stop it; the machine's shared one
is never touched), a tenant in it, `complaintdesk serve` and `complaintdesk worker` against it. Four clients
record complaints in a loop; a deadline of one of them is set to fall due in 1.5 s; PostgreSQL is stopped,
kept down 2 s and started again on the same socket; the load goes on 8 s more. Then:

- while it was down, every answer is a clean refusal: no 5xx but 503, never ``INTERNAL_SERVER_ERROR``;
- the API records complaints again within 5 s of PostgreSQL being back, and from then on every request succeeds;
- every complaint whose number a client got is in the database;
- the deadline that fell due during the outage is breached by the worker's sweep after it.

About 30-40 s, most of it setting up (the server, the migrations) and the 10 s of load.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from helpers import ROOT, free_port, run_cli, start_api, start_worker, wait_ready
from lifecycle import RECORD, complaint_input
from sqlalchemy.engine import make_url

from services.cli.embedded import EmbeddedPostgres

CLIENTS = 4
DOWN_S = 2.0
BACK_WITHIN_S = 5.0
LOAD_AFTER_S = 8.0

CREATE_USER = """
import asyncio, sys
from services.core.org.service import create_user
from services.core.tenancy import resolve_tenant, tenant_session

async def main():
    tenant = await resolve_tenant(sys.argv[1])
    async with tenant_session(tenant) as session, session.begin():
        user = await create_user(session, email="receiver@test.example", display_name="receiver", roles=["receiver"])
    print(user.id)

asyncio.run(main())
"""


@dataclass
class Answer:
    sent: float
    done: float
    status: int  # 0: no HTTP answer (connection refused or dropped)
    number: str | None = None
    codes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    answers: list[Answer]
    down_at: float
    up_at: float
    numbers_in_db: set[str]
    canary: dict[str, Any]
    worker_alive: bool
    down_wall: datetime
    up_wall: datetime


async def _connect(uri: str) -> asyncpg.Connection:
    u = make_url(uri)
    return await asyncpg.connect(user=u.username, database=u.database, host=u.query.get("host") or u.host)


async def _client(http: httpx.AsyncClient, url: str, token: str, stop: asyncio.Event, out: list[Answer]) -> None:
    while not stop.is_set():
        sent = time.monotonic()
        try:
            response = await http.post(f"{url}/graphql", json={"query": RECORD, "variables": {
                "input": complaint_input(title="Under load")}}, headers={"authorization": f"Bearer {token}"})
        except httpx.TransportError:
            out.append(Answer(sent, time.monotonic(), 0))
            await asyncio.sleep(0.05)
            continue
        answer = Answer(sent, time.monotonic(), response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = {}
        answer.codes = [e.get("extensions", {}).get("code", "") for e in body.get("errors") or []]
        payload = (body.get("data") or {}).get("recordComplaint") or {}
        if payload.get("complaint"):
            answer.number = payload["complaint"]["number"]
        answer.codes += [e["code"] for e in payload.get("userErrors") or []]
        out.append(answer)
        if answer.number is None:
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def outcome(tenants: Any, servers: dict[str, str]) -> AsyncIterator[Outcome]:
    from services.core.auth.tokens import issue_access_token
    from services.core.clock import system_clock

    folder = Path(tempfile.mkdtemp(prefix="cd-pg-restart-"))
    pg = EmbeddedPostgres(folder / "pg")
    uri = pg.start()
    namespace = f"cdpgr-{uuid.uuid4().hex[:6]}"
    env = {"DATABASE_URL": uri, "COMPLAINTDESK_QUEUE_NAMESPACE": namespace}
    api = worker = None
    try:
        slug = f"pgr-{uuid.uuid4().hex[:6]}"
        created = run_cli("tenant", "create", slug, "--template", "retail", env=env)
        assert created.returncode == 0, created.stdout + created.stderr
        made = subprocess.run([sys.executable, "-c", CREATE_USER, slug], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=60, check=False)
        assert made.returncode == 0, made.stderr
        token = issue_access_token(user_id=uuid.UUID(made.stdout.strip()), tenant=slug, roles=["receiver"],
                                   now=system_clock.now()).token
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        api = start_api(folder / "api.log", port, **env)
        worker = start_worker(servers["redis_url"], folder / "worker.log", **env)
        wait_ready(url, proc=api)

        answers: list[Answer] = []
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=10) as http:
            clients = [asyncio.create_task(_client(http, url, token, stop, answers)) for _ in range(CLIENTS)]
            await asyncio.sleep(2.0)
            canary_number = next(a.number for a in answers if a.number)
            conn = await _connect(uri)
            try:
                schema = f"tenant_{slug.replace('-', '_')}"
                canary = dict(await conn.fetchrow(f"""
                    UPDATE "{schema}".deadlines d SET due_at = now() + interval '1.5 seconds', remind_at = NULL
                    FROM "{schema}".complaints c
                    WHERE c.id = d.complaint_id AND c.number = $1 AND d.kind = 'CUSTOMER_REPLY'
                    RETURNING d.id, d.due_at""", canary_number))
            finally:
                await conn.close()
            down_at, down_wall = time.monotonic(), datetime.now(UTC)
            await asyncio.to_thread(pg.stop)
            await asyncio.sleep(DOWN_S)
            pg = EmbeddedPostgres(folder / "pg")
            assert await asyncio.to_thread(pg.start) == uri
            up_at, up_wall = time.monotonic(), datetime.now(UTC)
            await asyncio.sleep(LOAD_AFTER_S)
            stop.set()
            await asyncio.gather(*clients)

        conn = await _connect(uri)
        try:
            for _ in range(100):  # the sweep runs every 0.1 s: give it 10 s
                row = await conn.fetchrow(f'SELECT due_at, breached_at FROM "{schema}".deadlines WHERE id = $1',
                                          canary["id"])
                if row["breached_at"] is not None:
                    break
                await asyncio.sleep(0.1)
            numbers = {r["number"] for r in await conn.fetch(f'SELECT number FROM "{schema}".complaints')}
        finally:
            await conn.close()
        yield Outcome(answers, down_at, up_at, numbers, {**canary, **dict(row)}, worker.poll() is None,
                      down_wall, up_wall)
    finally:
        for proc in (api, worker):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=15)
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_there_was_load_before_during_and_after(outcome: Outcome) -> None:
    before = [a for a in outcome.answers if a.done < outcome.down_at and a.number]
    during = [a for a in outcome.answers if outcome.down_at + 0.5 < a.sent < outcome.up_at]
    after = [a for a in outcome.answers if a.sent > outcome.up_at + BACK_WITHIN_S and a.number]
    assert before and during and after, (len(before), len(during), len(after))


def test_while_postgres_is_down_answers_are_clean_refusals(outcome: Outcome) -> None:
    during = [a for a in outcome.answers if outcome.down_at <= a.done and a.sent <= outcome.up_at]
    unclean = [a for a in during if (a.status >= 500 and a.status != 503) or "INTERNAL_SERVER_ERROR" in a.codes]
    assert unclean == [], unclean[:5]
    refused = [a for a in during if a.number is None and a.status != 0]
    assert all(a.status == 503 and "SERVICE_UNAVAILABLE" in a.codes for a in refused), refused[:5]


def test_service_is_back_within_5_s_of_postgres(outcome: Outcome) -> None:
    first = min((a.done for a in outcome.answers if a.number and a.sent >= outcome.up_at), default=None)
    assert first is not None and first - outcome.up_at <= BACK_WITHIN_S, first and first - outcome.up_at
    late_failures = [a for a in outcome.answers if a.sent > outcome.up_at + BACK_WITHIN_S and a.number is None]
    assert late_failures == [], late_failures[:5]
    assert outcome.worker_alive, "the worker exited during the outage"


def test_no_acknowledged_write_is_lost(outcome: Outcome) -> None:
    acknowledged = {a.number for a in outcome.answers if a.number}
    assert acknowledged and acknowledged <= outcome.numbers_in_db, acknowledged - outcome.numbers_in_db


def test_the_sweep_catches_up_with_a_deadline_due_during_the_outage(outcome: Outcome) -> None:
    assert outcome.down_wall < outcome.canary["due_at"] < outcome.up_wall, "the deadline did not fall due meanwhile"
    assert outcome.canary["breached_at"] is not None, outcome.canary
    assert outcome.canary["breached_at"] >= outcome.canary["due_at"]
