"""A noisy tenant against a quiet one: is the noisy one throttled, and how far does the quiet one's p99 move?

    .venv/bin/python bench/noisy_tenant.py [--duration 15] [--quiet-clients 2] [--quiet-rate 100]
        [--noisy-times 10] [--noisy-clients 128] [--rounds 2] [--noisy-budget 10/20] [--ramp 2] [--settle 3]
        [--flood-nice 0]

One API process (`complaintdesk serve`'s app under uvicorn, one worker), two retail tenants in a database of the
sitting's own: ``quiet`` (100 complaints; a signed-in user lists 20 of them, ``--quiet-rate`` requests a second
over ``--quiet-clients`` connections, each timed from when it was due: an open loop, as a tenant's users are; with
``--quiet-rate 0`` as fast as answered instead, which saturates the process with the quiet tenant alone, so any
other work at all moves its p99) and ``noisy`` (budget ``--noisy-budget``, set as an operator would with
``tenant budget``; the quiet tenant's is far above what it asks). Phases of ``--duration`` seconds, in the same
sitting, repeated ``--rounds`` times in turn so that the machine's noise weighs on all alike (and each round begins
one phase later than the last, ``--order rotate``: a phase's place in a round weighs on every phase alike); each
phase begins
with ``--ramp`` seconds in which the quiet tenant's requests go on untimed (a flood's first burst is a transient:
what is measured is the flood going on), and phases are ``--settle`` seconds apart:

- **alone**: the quiet tenant's list, nobody else;
- **at its budget**: meanwhile the noisy tenant's signed-in user lists its complaints at its budget's rate (its
  fair use: what the operator allowed it);
- **public flood**: the noisy tenant's ``submitComplaint`` (public, per tenant and client address:
  ``COMPLAINTDESK_LIMIT_SUBMIT``, 5 per 10 minutes);
- **signed-in flood**: the noisy tenant's signed-in user listing its complaints, refused at the edge with 429
  beyond its budget;
- **unbudgeted flood** (for contrast, in the same sitting): the same with the noisy tenant's budget lifted, which
  is what every tenant got before the edge budgets;
- **alone again** (a control): the quiet tenant alone once more, last in each round; its p99 against "alone" is the
  sitting's own noise, the yardstick for the other ratios.

The floods ask ``--noisy-times`` times the noisy tenant's budget rate in an open loop (each request sent on time
whatever the answers, over as many connections as it takes: a refused request holds its connection while it waits
for its refusal); with ``--noisy-times 0`` they come from ``--noisy-clients`` connections each sending again as
soon as answered (a closed loop, whose rate the server's pauses set).

Prints, per phase, the quiet tenant's requests, p50 and p99 (ms), p99 against "alone" (the goal: under +10% for
the budgeted phases; with a 90% interval, the rounds resampled: a sitting's p99 moves by several percent between
rounds, so take the interval with the figure, and "alone again" for the sitting's own noise), the median of the
rounds' own ratios and against "at its budget" (what the flood beyond the budget costs), the CPU used, the
server's garbage-collector pauses while the quiet tenant was timed (how many, and their milliseconds in all: every
request in flight waits out each one), and the noisy tenant's answers and how many times its budget it asked for.
Needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``); drops its database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import list_vs_bare as lvb  # noqa: E402
import orjson  # noqa: E402

RUN_ID = uuid.uuid4().hex[:10]
DB_NAME = f"cd_bench_noisy_{RUN_ID}"
lvb.DB_NAME = DB_NAME  # its CPU snapshot counts this database's PostgreSQL backends
QUIET, NOISY = "quiet", "noisy"
PHASES = ("alone", "at its budget", "public flood", "signed-in flood", "unbudgeted flood", "alone again")
UNBUDGETED = "5000/10000"
LIST = "query { complaints(first: 20) { edges { node { id number status title owner { displayName } } } } }"
SUBMIT = """mutation ($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
  number userErrors { code } } }"""


async def load_fixtures(count: int) -> dict[str, str]:
    """Both tenants, a receiver in each, ``count`` complaints in the quiet one; a token per tenant."""
    from services.core.audit.service import Actor
    from services.core.auth.tokens import issue_access_token
    from services.core.complaints.models import Channel
    from services.core.complaints.service import ComplainantInput, ComplaintInput, record_complaint
    from services.core.db import dispose_engine
    from services.core.org.service import create_user
    from services.core.tenancy import resolve_tenant, tenant_session
    from tenants.provision import create_tenant, migrate_platform

    await migrate_platform()
    tokens = {}
    for slug in (QUIET, NOISY):
        await create_tenant(slug, template="retail")
        tenant = await resolve_tenant(slug)
        async with tenant_session(tenant) as session, session.begin():
            user = await create_user(session, email="receiver@test.example", display_name="receiver",
                                     roles=["receiver"])
            actor = Actor(user_id=user.id, label="receiver@test.example")
            start = datetime.now(UTC) - timedelta(hours=1)
            for i in range(count if slug == QUIET else 20):
                await record_complaint(session, actor=actor, now=start + timedelta(seconds=7 * i), owner_id=user.id,
                                       data=ComplaintInput(
                                           complainant=ComplainantInput(name=f"顾客 {i}", phone="13800138000"),
                                           title=f"Kettle leaks #{i}", description="It leaks from the base.",
                                           channel=Channel.PHONE))
        tokens[slug] = issue_access_token(user_id=user.id, tenant=slug, roles=["receiver"], now=datetime.now(UTC),
                                          ttl=timedelta(hours=2)).token
    await dispose_engine()
    return tokens


def request_bytes(port: int, query: str, variables: dict[str, Any] | None, **headers: str) -> bytes:
    """One keep-alive HTTP/1.1 request, built once and sent again and again (a light client: on two cores the
    load client must not be what the tenants compete for)."""
    body = orjson.dumps({"query": query, "variables": variables or {}})
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body


async def connection(port: int, request: bytes, done: Callable[[], bool], answer: Callable[[int, bytes, float], None]
                     ) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not done():
            t0 = time.perf_counter()
            writer.write(request)
            status, body = await lvb._read_response(reader)
            answer(status, body, time.perf_counter() - t0)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def paced_connection(port: int, request: bytes, interval: float, first: float, until: float,
                           answer: Callable[[int, bytes, float], None]) -> None:
    """Open loop: a request every ``interval`` seconds from ``first``, each timed from when it was due (not when it
    went out), so a stall counts for every request it held back (no coordinated omission)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        due = first
        while due < until:
            pause = due - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            writer.write(request)
            status, body = await lvb._read_response(reader)
            answer(status, body, time.perf_counter() - due)
            due += interval
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def quiet_load(port: int, token: str, clients: int, until: float, rate: float = 0.0) -> list[float]:
    """The quiet tenant's lists over ``clients`` connections: ``rate`` requests a second in all (open loop), or,
    with ``rate`` 0, each connection's next request as soon as the last is answered (closed loop: the process
    saturated by the quiet tenant alone)."""
    latencies: list[float] = []
    request = request_bytes(port, LIST, None, Authorization=f"Bearer {token}")

    def answer(status: int, body: bytes, took: float) -> None:
        assert status == 200 and b'"errors"' not in body, body[:300]
        latencies.append(took)

    if rate > 0:
        interval, start = clients / rate, time.perf_counter()
        await asyncio.gather(*(paced_connection(port, request, interval, start + i / rate, until, answer)
                               for i in range(clients)))
    else:
        await asyncio.gather(*(connection(port, request, lambda: time.perf_counter() >= until, answer)
                               for _ in range(clients)))
    return latencies


async def open_flood(port: int, request: bytes, rate: float, stop: asyncio.Event,
                     answer: Callable[[int, bytes, float], None], sent: dict[str, int]) -> None:
    """Open loop: a request every 1/``rate`` seconds whatever the answers, each on an idle connection of a pool that
    grows as needed (a request held for its refusal holds its connection), until ``stop``; what is still waiting
    then is dropped."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        sent["requests"] += 1
        for attempt in range(2):
            reused = bool(idle)
            if reused:
                reader, writer = idle.pop()
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                opened.append(writer)
            t0 = time.perf_counter()
            try:
                writer.write(request)
                status, body = await lvb._read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                if reused and attempt == 0:
                    continue  # an idle connection the server closed (its keep-alive timeout): another one
                answer(0, b"", time.perf_counter() - t0)
                return
            answer(status, body, time.perf_counter() - t0)
            idle.append((reader, writer))
            return

    due = time.perf_counter()
    try:
        while not stop.is_set():
            pause = due - time.perf_counter()
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
                if stop.is_set():
                    break
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            due += 1.0 / rate
    finally:
        for task in list(pending):
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for writer in opened:
            writer.close()


async def noisy_load(port: int, kind: str, token: str, clients: int, stop: asyncio.Event, rate: float = 0.0
                     ) -> dict[str, int]:
    """The noisy tenant's requests: at ``rate`` a second (open loop), or, with ``rate`` 0, from ``clients``
    connections each sending again as soon as answered."""
    counts: dict[str, int] = {}
    if kind in ("signed-in", "unbudgeted", "at"):
        request = request_bytes(port, LIST, None, Authorization=f"Bearer {token}")
    else:
        request = request_bytes(port, SUBMIT, {"i": {"complainant": {"name": "噪音", "phone": "13900139000"},
                                                     "title": "Flood", "description": "Again and again"}},
                                **{"X-Tenant": NOISY})

    def answer(status: int, body: bytes, took: float) -> None:
        if status == 0:
            counts["connection lost"] = counts.get("connection lost", 0) + 1
            return
        data = orjson.loads(body) if body else {}
        if kind in ("signed-in", "unbudgeted", "at"):
            key = "ok" if status == 200 and "errors" not in data else f"HTTP {status}"
        else:
            payload = (data.get("data") or {}).get("submitComplaint") or {}
            codes = [e["code"] for e in payload.get("userErrors") or []] or \
                [e.get("extensions", {}).get("code", "?") for e in data.get("errors") or []]
            key = "accepted" if payload.get("number") else (codes[0] if codes else "?")
            key = f"{key} (HTTP {status})" if status != 200 else key  # 429: refused at the edge
        counts[key] = counts.get(key, 0) + 1

    if rate > 0:
        sent = {"requests": 0}
        await open_flood(port, request, rate, stop, answer, sent)
        counts["sent"] = sent["requests"]
        counts["unanswered"] = sent["requests"] - sum(n for k, n in counts.items() if k != "sent")
    else:
        await asyncio.gather(*(connection(port, request, stop.is_set, answer) for _ in range(clients)))
    return counts


def _flood_process(port: int, kind: str, token: str, clients: int, rate: float, conn: Any, nice: int = 0) -> None:
    """The noisy tenant's load in a process of its own (``--flood-client process``): its connections, its timers
    and its parsing of the answers then never delay the quiet tenant's client, which times from its own event loop.
    ``nice``: its CPU priority lowered by that much (``--flood-nice``). Says ``ready``, floods until the parent says
    ``stop``, then sends back its counts."""
    if nice:
        os.nice(nice)

    async def run() -> dict[str, int]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def stopped() -> None:  # once: the reader stays readable until the message is read, after the flood
            loop.remove_reader(conn.fileno())
            stop.set()

        loop.add_reader(conn.fileno(), stopped)
        conn.send("ready")
        return await noisy_load(port, kind, token, clients, stop, rate)

    counts = asyncio.run(run())
    conn.recv()  # the parent's stop
    conn.send(counts)


class Flood:
    """The noisy tenant's load of one phase, in this process (``inline``) or in a child process (``process``)."""

    def __init__(self, where: str, port: int, kind: str, token: str, clients: int, rate: float, nice: int = 0
                 ) -> None:
        self.where, self.args, self.nice = where, (port, kind, token, clients, rate), nice
        self.task: asyncio.Task[dict[str, int]] | None = None
        self.process: Any = None
        self.conn: Any = None
        self.stop = asyncio.Event()

    async def start(self) -> None:
        if self.where == "inline":
            port, kind, token, clients, rate = self.args
            self.task = asyncio.create_task(noisy_load(port, kind, token, clients, self.stop, rate))
            return
        ctx = multiprocessing.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.process = ctx.Process(target=_flood_process, args=(*self.args, theirs, self.nice), daemon=True)
        self.process.start()
        theirs.close()
        ready = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        assert ready == "ready", ready

    def cpu_seconds(self) -> float:
        """The flood client's CPU so far when it is a process of its own (inline, it is the bench's)."""
        if self.process is None or lvb.psutil is None:
            return 0.0
        with contextlib.suppress(lvb.psutil.Error):
            t = lvb.psutil.Process(self.process.pid).cpu_times()
            return float(t.user + t.system)
        return 0.0

    async def finish(self) -> dict[str, int]:
        if self.task is not None:
            self.stop.set()
            return await self.task
        self.conn.send("stop")
        counts: dict[str, int] = await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)
        await asyncio.get_running_loop().run_in_executor(None, self.process.join, 30)
        self.conn.close()
        return counts


async def gc_pauses(port: int) -> tuple[float, float]:
    """The server's garbage-collector pauses so far (``complaintdesk_gc_pause_seconds`` of its /metrics): how many,
    and their seconds in all."""
    import urllib.request

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            return str(answer.read().decode())

    count = seconds = 0.0
    for line in (await asyncio.get_running_loop().run_in_executor(None, scrape)).splitlines():
        if line.startswith("complaintdesk_gc_pause_seconds_count{"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith("complaintdesk_gc_pause_seconds_sum{"):
            seconds += float(line.rsplit(" ", 1)[1])
    return count, seconds


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000


BOOTSTRAP = 500  # resamples for a ratio's interval


def interval(phase: list[list[float]], alone: list[list[float]], seed: int = 20261207) -> tuple[float, float]:
    """A 90% interval of the p99 ratio ``phase`` / ``alone`` over all rounds: the rounds (the independent units of a
    sitting: a round's phases run one after the other, so what drifts in the machine weighs on them together)
    resampled with replacement, the same rounds for both, ``BOOTSTRAP`` times. With one round: nan."""
    n = len(phase)
    if n < 2:
        return float("nan"), float("nan")
    rng = random.Random(seed)  # a figure, not a secret; the same interval for the same latencies
    ratios = []
    for _ in range(BOOTSTRAP):
        picks = [rng.randrange(n) for _ in range(n)]
        ratios.append(pct([x for i in picks for x in phase[i]], 0.99) / pct([x for i in picks for x in alone[i]], 0.99))
    ratios.sort()
    return ratios[int(0.05 * BOOTSTRAP)], ratios[int(0.95 * BOOTSTRAP) - 1]


async def set_budgets(noisy: str) -> None:
    from services.core.db import dispose_engine
    from tenants.provision import set_request_budget

    await set_request_budget(QUIET, UNBUDGETED)
    await set_request_budget(NOISY, noisy)
    await dispose_engine()


async def sitting(args: argparse.Namespace, env: dict[str, str], logdir: Path) -> None:
    from services.core.tenancy import TENANT_CACHE_TTL_S

    tokens = await load_fixtures(100)
    await set_budgets(args.noisy_budget)
    servers: list[lvb.Server] = []
    try:
        server = lvb.start_server("api", "services.api.app:create_app", env, logdir, servers)
        await lvb.wait_ready(server)
        port = server.port
        await quiet_load(port, tokens[QUIET], args.quiet_clients, time.perf_counter() + 3)  # warm-up
        results: dict[str, list[float]] = {}
        budget_rate = float(args.noisy_budget.split("/")[0])
        current = args.noisy_budget
        noisy: dict[str, dict[str, int]] = {}
        usage: dict[str, dict[str, list[float]]] = {}
        elapsed: dict[str, float] = {}
        collections: dict[str, list[float]] = {}  # phase -> the server's collector pauses while timed: count, s
        per_round: dict[str, list[list[float]]] = {}  # phase -> its latencies in each round
        for round_ in range(args.rounds):
            # rotated each round (``--order rotate``): a phase's place in the round (after which phase, how long
            # into the sitting) weighs on every phase alike over len(phases) rounds
            shift = round_ % len(args.phases) if args.order == "rotate" else 0
            for phase in args.phases[shift:] + args.phases[:shift]:
                wanted = UNBUDGETED if phase == "unbudgeted flood" else args.noisy_budget
                if wanted != current:  # the server sees it within the cache's TTL
                    await set_budgets(wanted)
                    current = wanted
                    await asyncio.sleep(TENANT_CACHE_TTL_S + 0.5)
                rate = budget_rate if phase == "at its budget" else args.noisy_times * budget_rate
                flood = None if phase.startswith("alone") else Flood(args.flood_client, port, phase.split()[0],
                                                            tokens[NOISY], args.noisy_clients, rate, args.flood_nice)
                if flood is not None:
                    await flood.start()
                flood_began = time.perf_counter()
                # the quiet tenant's requests go on meanwhile, untimed: the flood's first burst (all its connections
                # at once) is a transient; what is measured is the flood going on
                await quiet_load(port, tokens[QUIET], args.quiet_clients, time.perf_counter() + args.ramp,
                                 args.quiet_rate)
                gc_before = await gc_pauses(port)
                before = lvb._cpu_snapshot(server)
                flood_before = flood.cpu_seconds() if flood is not None else 0.0
                began = time.perf_counter()
                latencies = await quiet_load(port, tokens[QUIET], args.quiet_clients, began + args.duration,
                                             args.quiet_rate)
                took = time.perf_counter() - began
                cpu = lvb._cpu_percent(before, lvb._cpu_snapshot(server), took)
                gc_after = await gc_pauses(port)
                collected = collections.setdefault(phase, [0.0, 0.0])
                collected[0] += gc_after[0] - gc_before[0]
                collected[1] += gc_after[1] - gc_before[1]
                flood_cpu = ((flood.cpu_seconds() - flood_before) / took * 100) if flood is not None else 0.0
                if "other" in cpu:  # the flood client's process is not "other" work on the machine
                    cpu["other"] = max(0.0, cpu["other"] - flood_cpu)
                cpu["client"] += flood_cpu
                for key, value in cpu.items():
                    usage.setdefault(phase, {}).setdefault(key, []).append(value)
                elapsed[phase] = elapsed.get(phase, 0.0) + time.perf_counter() - flood_began
                if flood is not None:
                    for key, n in (await flood.finish()).items():
                        noisy.setdefault(phase, {})[key] = noisy.setdefault(phase, {}).get(key, 0) + n
                results.setdefault(phase, []).extend(latencies)
                per_round.setdefault(phase, []).append(latencies)
                await asyncio.sleep(args.settle)  # the process settles before the next phase (a flood's backlog)
        base, fair = pct(results["alone"], 0.99), pct(results["at its budget"], 0.99)
        pace = f"{args.quiet_rate:g} a second (open loop)" if args.quiet_rate > 0 else \
            "each as soon as the last is answered (closed loop: the process saturated by the quiet tenant alone)"
        flood = (f"open loop at {args.noisy_times:g}x its budget ({args.noisy_times * budget_rate:g} a second)"
                 if args.noisy_times > 0 else f"{args.noisy_clients} connections, each as fast as answered")
        print(f"\nquiet tenant: {args.quiet_clients} connections listing 20 complaints, {pace}; noisy tenant's "
              f"floods: {flood}; budget {args.noisy_budget}; {args.rounds} x {args.duration:.0f} s per phase")
        order = "rotated each round" if args.order == "rotate" else "in this order every round"
        print(f"phases {order}; p99/alone: the phase's p99 over all its rounds against alone's (90% intvl: of that "
              f"ratio, the rounds resampled in pairs, {BOOTSTRAP} times); per round: the median over the rounds of "
              f"the phase's p99 against alone's in the same round")
        print(f"{'phase':18} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/alone':>9} {'90% intvl':>9} "
              f"{'per round':>9} "
              f"{'/at budget':>10} {'cpu% server/pg/client/other':>28} {'gc n/ms':>9}  noisy tenant's answers")
        for phase in args.phases:
            latencies = results[phase]
            gc_figure = f"{collections[phase][0]:.0f}/{collections[phase][1] * 1000:.0f}"
            ratio, over_fair = pct(latencies, 0.99) / base, pct(latencies, 0.99) / fair
            paired = statistics.median(pct(p, 0.99) / pct(a, 0.99)
                                       for p, a in zip(per_round[phase], per_round["alone"], strict=True))
            low, high = interval(per_round[phase], per_round["alone"])
            spread = f"{low:.2f}-{high:.2f}"
            cpu = "/".join(f"{sum(v) / len(v):.0f}" for k, v in usage[phase].items() if k != "client") + \
                f" (client {sum(usage[phase]['client']) / len(usage[phase]['client']):.0f})"
            print(f"{phase:18} {len(latencies):8d} {pct(latencies, 0.5):8.1f} {pct(latencies, 0.99):8.1f} "
                  f"{ratio:9.2f} {spread:>9} {paired:9.2f} {over_fair:10.2f} {cpu:>28} {gc_figure:>9}  "
                  f"{noisy.get(phase, {})}")
        budget = os.environ.get("COMPLAINTDESK_LIMIT_SUBMIT", "5/600")
        def asked(counts: dict[str, int]) -> int:
            return counts["sent"] if "sent" in counts else sum(counts.values())

        public = noisy.get("public flood", {})
        sent = asked(public)
        if public:
            print(f"public flood: {sent} submissions against a budget of {budget} per tenant and address "
                  f"({sent / max(1, int(budget.split('/')[0])):.0f}x); accepted {public.get('accepted', 0)}")
        rate = budget_rate
        at = noisy.get("at its budget", {})
        print(f"at its budget: {asked(at) / max(elapsed.get('at its budget', 1.0), 1e-9):.1f} requests a "
              f"second; served {at.get('ok', 0)}, refused {at.get('HTTP 429', 0)} (429)")
        signed = noisy.get("signed-in flood", {})
        per_second = asked(signed) / max(elapsed.get("signed-in flood", 1.0), 1e-9)
        if signed:
            print(f"signed-in flood: {per_second:.0f} requests a second asked against a budget of "
                  f"{args.noisy_budget} ({per_second / rate:.0f}x); served {signed.get('ok', 0)}, refused "
                  f"{signed.get('HTTP 429', 0)} (429)")
    finally:
        for s in servers:
            s.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase and round")
    parser.add_argument("--quiet-clients", type=int, default=2)
    parser.add_argument("--quiet-rate", type=float, default=100.0,
                        help="the quiet tenant's requests a second in all (open loop); 0: closed loop, as fast as "
                             "answered (the process saturated by the quiet tenant alone)")
    parser.add_argument("--ramp", type=float, default=2.0,
                        help="seconds of each phase before the quiet tenant is timed (the flood's first burst)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between phases")
    parser.add_argument("--noisy-times", type=float, default=10.0,
                        help="the floods ask this many times the noisy tenant's budget rate, in an open loop (each "
                             "request sent on time whatever the answers); 0: closed loop over --noisy-clients")
    parser.add_argument("--noisy-clients", type=int, default=128,
                        help="with --noisy-times 0, the noisy tenant's connections, each sending again as soon as "
                             "answered (a refusal is held longer the more wait: they ask about twice the budget)")
    parser.add_argument("--flood-client", choices=("process", "inline"), default="process",
                        help="where the noisy tenant's client runs: a process of its own (as on another machine: "
                             "its work never delays the quiet tenant's client) or inline, in the quiet client's "
                             "event loop (as before 2026-12-07: the flood's client-side work then counts in the "
                             "quiet tenant's latencies)")
    parser.add_argument("--flood-nice", type=int, default=0, metavar="N",
                        help="with --flood-client process, the flood's client at a CPU priority lowered by N (nice): "
                             "on a machine of few cores the load generator otherwise takes CPU from the server, which "
                             "a flood from another machine would not (0: as the other processes)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--order", choices=("rotate", "fixed"), default="rotate",
                        help="rotate: each round starts one phase later than the last (over as many rounds as "
                             "phases every phase takes every place once, so what drifts in a sitting weighs on all "
                             "alike); fixed: the phases in the same order every round")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="which phases, comma-separated, in this order (\"alone\" is always first: the "
                             "ratios are against it; \"at its budget\" too when a flood is run)")
    parser.add_argument("--noisy-budget", default="10/20",
                        help="the noisy tenant's request budget, RATE/BURST (as `complaintdesk tenant budget`)")
    args = parser.parse_args(argv)
    wanted = [p.strip() for p in args.phases.split(",") if p.strip()]
    if unknown := [p for p in wanted if p not in PHASES]:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; the phases: {', '.join(PHASES)}")
    args.phases = [p for p in PHASES if p in {"alone", "at its budget"} or p in wanted]
    server_url = lvb._plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    from services.core.auth.tokens import generate_private_key_pem, reset_keyring
    from services.core.config import reset_settings
    from services.core.crypto.master import generate_master_key, reset_master_keys

    os.environ.pop("COMPLAINTDESK_MASTER_KEY_FILE", None)
    os.environ.update(DATABASE_URL=lvb._with_database(server_url, DB_NAME), REDIS_URL=redis_url,
                      COMPLAINTDESK_QUEUE_NAMESPACE=f"cdbench-{RUN_ID}", COMPLAINTDESK_MASTER_KEY=generate_master_key(),
                      COMPLAINTDESK_LOG_LEVEL="WARNING", COMPLAINTDESK_ENV="production",
                      COMPLAINTDESK_JWT_SIGNING_KEY=generate_private_key_pem().decode())
    reset_keyring()
    reset_master_keys()
    reset_settings()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    asyncio.run(lvb._admin(server_url, f'CREATE DATABASE "{DB_NAME}"'))
    try:
        with tempfile.TemporaryDirectory() as logdir:
            asyncio.run(sitting(args, env, Path(logdir)))
    except KeyboardInterrupt:
        print("\ninterrupted: dropping the database", file=sys.stderr)
        return 130
    finally:
        asyncio.run(lvb._admin(server_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        with contextlib.suppress(Exception):
            asyncio.run(lvb._cleanup_redis(redis_url, f"cdbench-{RUN_ID}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
