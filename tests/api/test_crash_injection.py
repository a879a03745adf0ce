"""Crash injection: the API process killed (SIGKILL) at random moments of ``recordComplaint`` and the steps.

Real API processes (what `complaintdesk serve` runs, forked from tests/api_forkserver.py so a restart costs a
fraction of a second) on loopback ports, a tenant of its own (retail). Each trial sends a few requests at once (two
``recordComplaint`` and a step on a complaint recorded before: ``startInvestigation``, ``resolveOnTheSpot`` or
``withdrawComplaint``), kills the process a random moment later (2 ms to 1.5 times what a request takes, measured
first), starts another and waits until it answers. Then, in the database: every complaint has its complainant, its
``record_complaint`` audit event, its status equal to its last audit event's (a step is all or nothing), the
deadlines its profile starts on ``RECORDED`` (and on ``INVESTIGATION_STARTED`` once started), a wake-up for each
open deadline, a closed or withdrawn one no open company deadline; numbers gap-free; the audit chain verifies
(`complaintdesk audit verify`); and every answer the client got (a number, a new status) is in the database.

``COMPLAINTDESK_CRASH_TRIALS`` trials (20 in the suite; ``bench/crash_injection.py`` runs 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from conftest import access_token, drop_tenant, new_tenant
from helpers import ROOT, free_port, rows, run_cli, wait_ready
from lifecycle import RECORD, complaint_input, step_mutation

from services.core.tenancy import TenantRef

TRIALS = int(os.environ.get("COMPLAINTDESK_CRASH_TRIALS", "20"))
STATS = os.environ.get("COMPLAINTDESK_CRASH_STATS")
USER = "all@test.example"
STEPS = {  # step -> (its input type, the statuses it may start from, its form)
    "startInvestigation": ("StartInvestigationInput", {"RECORDED"}, {}),
    "resolveOnTheSpot": ("ResolveOnTheSpotInput", {"RECORDED"}, {"resolution": "Replaced on the spot"}),
    "withdrawComplaint": ("WithdrawComplaintInput", {"RECORDED", "INVESTIGATING"}, {"reason": "Sorted out"}),
}
OPEN_ON_RECORD = {("CUSTOMER_REPLY", None), ("RESOLUTION", None), ("STAGE", "branch")}


@pytest.fixture(scope="module")
async def crash_tenant(tenants: Any) -> AsyncIterator[TenantRef]:
    tenant = await new_tenant("crash")
    try:
        yield tenant
    finally:
        await drop_tenant(tenant)


class Api:
    """API processes forked from tests/api_forkserver.py (a real uvicorn process each, killed with SIGKILL and
    replaced by a new one; the fork saves the seconds of start-up that `complaintdesk serve` spends importing)."""

    def __init__(self, log: Path, token: str) -> None:
        self.log, self.token = log, token
        with log.open("ab") as out:
            self.server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "api_forkserver.py")], cwd=ROOT,
                                           env={**os.environ, "COMPLAINTDESK_LOG_LEVEL": "WARNING"},
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out)
        self.startups: list[float] = []
        self.warmed: list[str] = []  # numbers recorded by the warm-ups (acknowledged too)
        self.pid = 0
        self.url = ""
        self.start()

    def start(self) -> None:
        """A new API process, ready and warmed up (the tenant, its keys and its policies loaded)."""
        assert self.server.stdin is not None and self.server.stdout is not None
        began = time.monotonic()
        port = free_port()
        self.server.stdin.write(f"{port}\n".encode())
        self.server.stdin.flush()
        self.pid = int(self.server.stdout.readline())
        self.url = f"http://127.0.0.1:{port}"
        wait_ready(self.url, proc=self.server)
        # warm: the first recording of a process loads the tenant, its keys, policies, profile and calendar
        warm = httpx.post(f"{self.url}/graphql", json={"query": RECORD, "variables": {
            "input": complaint_input(title="Crash warm-up")}}, headers={"authorization": f"Bearer {self.token}"},
            timeout=30)
        assert warm.status_code == 200 and not warm.json()["data"]["recordComplaint"]["userErrors"], warm.text
        self.warmed.append(warm.json()["data"]["recordComplaint"]["complaint"]["number"])
        self.startups.append(time.monotonic() - began)

    def kill_and_restart(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while psutil.pid_exists(self.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.close()  # the fork server's loop ends
        self.server.wait(timeout=15)
        self.server.stdout.close()


async def _send(http: httpx.AsyncClient, url: str, token: str, name: str, variables: dict[str, Any]
                ) -> dict[str, Any] | None:
    """The answer's payload, or None when the process died first."""
    query = RECORD if name == "recordComplaint" else step_mutation(name, STEPS[name][0])
    try:
        response = await http.post(f"{url}/graphql", json={"query": query, "variables": variables},
                                   headers={"authorization": f"Bearer {token}"})
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"][name]
    return payload


async def test_killed_mid_request_leaves_nothing_half_written(crash_tenant: TenantRef) -> None:
    tenant = crash_tenant
    token = await access_token(tenant.slug, USER)
    assert token is not None
    rng = random.Random(20261206)
    acknowledged_numbers: set[str] = set()
    acknowledged_steps: list[tuple[str, str]] = []  # (complaint id, status the answer reported)
    known: dict[str, str] = {}  # global id -> last status we were told
    answered = died = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        api = Api(Path(folder) / "api.log", token)
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                # how long a request takes here and now: the kills fall from 2 ms to 1.5 times that
                took_each = []
                for i in range(3):
                    began = time.monotonic()
                    calls_done = await asyncio.gather(*(_send(http, api.url, token, "recordComplaint", {
                        "input": complaint_input(title=f"Crash calibration {i} {j}")}) for j in range(2)))
                    took_each.append(time.monotonic() - began)
                    for done in calls_done:
                        assert done is not None and done["userErrors"] == [], done
                        known[done["complaint"]["id"]] = done["complaint"]["status"]
                        acknowledged_numbers.add(done["complaint"]["number"])
                latest = 1.5 * sorted(took_each)[1]
                for trial in range(TRIALS):
                    calls: list[tuple[str, dict[str, Any]]] = [
                        ("recordComplaint", {"input": complaint_input(title=f"Crash trial {trial} {i}")})
                        for i in range(2)]
                    candidates = [(cid, st) for cid, st in known.items() if st in ("RECORDED", "INVESTIGATING")]
                    if candidates:
                        cid, status = rng.choice(candidates)
                        name = rng.choice([n for n, (_, starts, _) in STEPS.items() if status in starts])
                        calls.append((name, {"input": {"complaintId": cid, **STEPS[name][2]}}))
                    tasks = [asyncio.create_task(_send(http, api.url, token, n, v)) for n, v in calls]
                    await asyncio.sleep(rng.uniform(0.002, latest))
                    api.kill_and_restart()
                    for (name, _), result in zip(calls, await asyncio.gather(*tasks), strict=True):
                        if result is None:
                            died += 1
                            continue
                        answered += 1
                        if result["userErrors"]:
                            assert result["userErrors"][0]["code"] == "ILLEGAL_TRANSITION", result
                            continue
                        complaint = result["complaint"]
                        known[complaint["id"]] = complaint["status"]
                        if name == "recordComplaint":
                            acknowledged_numbers.add(complaint["number"])
                        else:
                            acknowledged_steps.append((complaint["id"], complaint["status"]))
        finally:
            api.stop()
    took = time.monotonic() - started
    figures = (f"{TRIALS} trials in {took:.0f} s (kills 2-{latest * 1000:.0f} ms after sending): {answered} answered, "
               f"{died} cut off by the kill, {len(known)} complaints acknowledged; "
               f"start-up median {sorted(api.startups)[len(api.startups) // 2]:.2f} s, max {max(api.startups):.2f} s")
    print(figures)
    assert died > 0, "no request was ever cut off: the kills came too late to test anything"
    assert answered > 0, "no request was ever answered: the kills came too early to test anything"
    in_db = await _check_invariants(tenant, acknowledged_numbers | set(api.warmed), acknowledged_steps)
    if STATS:
        Path(STATS).write_text(f"{figures}; {in_db} complaints in the database, of which "
                               f"{in_db - len(acknowledged_numbers) - len(api.warmed)} committed unanswered")


async def _check_invariants(tenant: TenantRef, numbers: set[str], steps: list[tuple[str, str]]) -> int:
    """Assert the invariants; returns how many complaints the database holds."""
    import base64

    s = tenant.schema
    complaints = {r.id: r for r in await rows(f"""
        SELECT c.id, c.number, c.status, p.id AS complainant,
               (SELECT count(*) FROM "{s}".audit_events a WHERE a.subject_id = c.id
                  AND a.action = 'record_complaint') AS recorded,
               (SELECT a.to_status FROM "{s}".audit_events a WHERE a.subject_id = c.id AND a.to_status IS NOT NULL
                  ORDER BY a.seq DESC LIMIT 1) AS last_status,
               (SELECT count(*) FROM "{s}".audit_events a WHERE a.subject_id = c.id
                  AND a.action = 'start_investigation') AS started
        FROM "{s}".complaints c LEFT JOIN "{s}".complainants p ON p.id = c.complainant_id""")}
    assert complaints, "nothing was recorded at all"
    for c in complaints.values():
        assert c.complainant is not None, c
        assert c.recorded == 1, c
        assert c.last_status == c.status, f"status and audit trail disagree: {c}"

    deadlines = await rows(f"""SELECT d.id, d.complaint_id, d.kind, d.stage, d.party, d.met_at, d.cancelled_at,
                                      d.breached_at, w.row_id AS wakeup
                               FROM "{s}".deadlines d LEFT JOIN public.sweep_wakeups w
                                 ON w.schema_name = :s AND w.source = 'deadlines' AND w.row_id = d.id""", s=s)
    by_complaint: dict[Any, set[tuple[str, str | None]]] = {}
    for d in deadlines:
        by_complaint.setdefault(d.complaint_id, set()).add((d.kind, d.stage))
        if d.met_at is None and d.cancelled_at is None and d.breached_at is None:
            assert d.wakeup is not None, f"an open deadline without its wake-up: {d}"
            if d.party == "COMPANY":
                assert complaints[d.complaint_id].status not in ("CLOSED", "WITHDRAWN"), d
    for cid, c in complaints.items():
        planned = by_complaint.get(cid, set())
        assert planned >= OPEN_ON_RECORD, f"{c.number} lacks deadlines planned on RECORDED: {planned}"
        if c.started:
            assert ("STAGE", "marketing") in planned, f"{c.number} started without its marketing stage"

    serials: dict[str, list[int]] = {}
    for c in complaints.values():
        serials.setdefault(c.number[:4], []).append(int(c.number[4:]))
    for month, taken in serials.items():
        assert sorted(taken) == list(range(1, len(taken) + 1)), f"numbers of {month} not gap-free"

    recorded_numbers = {c.number for c in complaints.values()}
    assert numbers <= recorded_numbers, f"acknowledged but lost: {numbers - recorded_numbers}"
    events = await rows(f'SELECT subject_id, to_status FROM "{s}".audit_events WHERE to_status IS NOT NULL')
    trail = {(e.subject_id, e.to_status) for e in events}
    for gid, status in steps:
        cid = base64.b64decode(gid).decode().split(":", 1)[1]
        assert any(str(k) == cid and st == status for k, st in trail), f"acknowledged step lost: {cid} {status}"

    verified = run_cli("audit", "verify", "--tenant", tenant.slug)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return len(complaints)
