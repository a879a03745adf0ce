"""The deadline sweep at scale: N tenants x M open complaints with deadlines, K of them due.

    .venv/bin/python bench/sweeper.py [--tenants 20] [--complaints 500] [--due 500] [--latency 200]
    .venv/bin/python bench/sweeper.py --tenants 1000 --complaints 1000 --due 5000   # the issue's size

1. **Loader** (a benchmark fixture, not the workflow): N bank tenants through ``create_tenant`` (each schema
   migrated: this is what is slow at 1,000 tenants, and it is timed), an owner and a manager in one unit, one
   complaint recorded through ``record_complaint``, then M-1 copies of its row by ``INSERT ... SELECT
   generate_series`` (new id and number; the sealed columns are copied as they are, so those copies cannot
   be decrypted: the sweep never reads them) and one DECISION deadline per complaint by ``INSERT ... SELECT``,
   due in 30 days, already reminded.
2. **One pass**: K deadlines (spread evenly over the tenants) moved into the past, then one ``sweep_all``
   (no retention, no digests) timed: breaches recorded, audit events, owner + supervisor notifications, the customer
   notices turned into owner tasks, and the outbox dispatched, all in that pass. Printed: the whole pass, its
   breaches' stage (where the code has one), and each breach's ``breached_at`` after the pass began (p50 / p99 /
   max: when the breaches were recorded, whatever the code).
3. **Latency**: ``complaintdesk worker --sweep-interval 2`` running as a child process; L more deadlines set
   to fall due over the next ``--spread`` seconds (0: a burst); the delay ``breached_at - due_at`` of each,
   p50 / p99 / max.

``--baseline REF`` (with ``--database``): the same passes with the code of git ``REF`` (``main``: today's path),
checked out in a temporary worktree and run by this file in a process of its own, on the same database, after this
tree's (``--baseline-first``: before); the tenants are loaded by this tree (its migrations) first.

Creates its own database (dropped at the end); needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if "--code" in sys.argv:  # the tree whose code is measured (``--baseline``: another commit's, in a worktree)
    ROOT = Path(sys.argv[sys.argv.index("--code") + 1]).resolve()
for path in (BENCH, ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import list_vs_bare as lvb  # noqa: E402

RUN_ID = uuid.uuid4().hex[:10]
DB_NAME = f"cd_bench_sweep_{RUN_ID}"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def load(tenants: int, complaints: int, first: int = 0, quiet: bool = False) -> list[str]:
    """Tenants ``first`` .. ``first + tenants - 1``, each with M complaints and one open DECISION deadline per
    complaint. Returns the schemas."""
    from sqlalchemy import select, text

    from services.core.audit.service import Actor
    from services.core.complaints.models import Channel
    from services.core.complaints.service import ComplainantInput, ComplaintInput, record_complaint
    from services.core.db import get_engine
    from services.core.org.models import OrgUnit
    from services.core.org.service import create_user
    from services.core.tenancy import resolve_tenant, tenant_session
    from tenants.provision import create_tenant, migrate_platform

    await migrate_platform()
    schemas: list[str] = []
    t_schema = t_rows = 0.0
    future = datetime.now(UTC) + timedelta(days=30)
    for n in range(first, first + tenants):
        t0 = time.perf_counter()
        await create_tenant(f"sw{n:04d}", template="bank")
        tenant = await resolve_tenant(f"sw{n:04d}")
        t1 = time.perf_counter()
        t_schema += t1 - t0
        async with tenant_session(tenant) as session, session.begin():
            unit = await session.scalar(select(OrgUnit.id).order_by(OrgUnit.code).limit(1))
            owner = await create_user(session, email="owner@bench.example", display_name="owner",
                                      roles=("receiver",), org_unit_id=unit)
            await create_user(session, email="manager@bench.example", display_name="manager", roles=("manager",),
                              org_unit_id=unit)
            await record_complaint(
                session, actor=Actor(user_id=owner.id, label="owner"), now=datetime.now(UTC), owner_id=owner.id,
                data=ComplaintInput(complainant=ComplainantInput(name="顾客", phone="13800138000"),
                                    title="Card charged twice", description="Charged twice.",
                                    channel=Channel.PHONE))
        schema = tenant.schema
        async with get_engine().begin() as conn:
            # BENCHMARK FIXTURE: copies of the one real complaint, straight into the table
            cols = [r[0] for r in (await conn.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
                "AND table_name = 'complaints' ORDER BY ordinal_position"), {"s": schema})).all()]
            picked = ", ".join("gen_random_uuid()" if c == "id" else "'B' || lpad(g::text, 9, '0')"
                               if c == "number" else f'c."{c}"' for c in cols)
            await conn.execute(text(
                f'INSERT INTO "{schema}".complaints ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                f'SELECT {picked} FROM (SELECT * FROM "{schema}".complaints LIMIT 1) c, '
                f"generate_series(1, {complaints - 1}) g"))
            await conn.execute(text(f'DELETE FROM "{schema}".deadlines'))
            # BENCHMARK FIXTURE: one open DECISION deadline per complaint, due in 30 days, already reminded
            await conn.execute(text(
                f'INSERT INTO "{schema}".deadlines (complaint_id, kind, party, basis, period_days, met_on, '
                "started_at, due_at, remind_at, reminded_at, created_at) "
                "SELECT id, 'DECISION', 'COMPANY', 'CALENDAR', 15, '{CUSTOMER_TOLD,UNFOUNDED}', now(), :due, "
                f'now(), now(), now() FROM "{schema}".complaints'), {"due": future})
            await conn.execute(text(f'ANALYZE "{schema}".deadlines'))
            await conn.execute(text(f'ANALYZE "{schema}".complaints'))
        t_rows += time.perf_counter() - t1
        schemas.append(schema)
        done = n + 1 - first
        if done % max(1, tenants // 10) == 0:
            print(f"  loaded {done}/{tenants} tenants from {first} ({t_schema:.1f} s schemas, {t_rows:.1f} s rows)",
                  flush=True)
    if not quiet:
        print(f"loader: {tenants} tenants x {complaints} complaints: {t_schema + t_rows:.1f} s "
              f"(tenant schemas {t_schema:.1f} s = {t_schema / tenants * 1000:.0f} ms each; "
              f"complaints + deadlines {t_rows:.1f} s)")
    return schemas


def _load_slice(first: int, count: int, complaints: int) -> None:
    """A loader process (``--jobs``): its own event loop and engine."""
    from services.core.db import dispose_engine

    async def run() -> None:
        await load(count, complaints, first=first, quiet=True)
        await dispose_engine()

    asyncio.run(run())


async def existing_schemas() -> list[str]:
    """The bench tenants already in the database (``--database`` reused), with their deadlines reset: none
    breached, all due in 30 days again."""
    from sqlalchemy import text

    from services.core.db import get_engine

    async with get_engine().begin() as conn:
        if await conn.scalar(text("SELECT to_regclass('public.tenants')")) is None:
            return []
        schemas = [r[0] for r in (await conn.execute(text(
            "SELECT schema_name FROM public.tenants WHERE slug LIKE 'sw%' ORDER BY slug"))).all()]
        for schema in schemas:
            await conn.execute(text(
                f'UPDATE "{schema}".deadlines SET due_at = now() + interval \'30 days\', breached_at = NULL '
                "WHERE breached_at IS NOT NULL OR due_at < now() + interval '1 day'"))
    return schemas


async def load_parallel(tenants: int, complaints: int, jobs: int) -> None:
    from services.core.db import dispose_engine
    from tenants.provision import migrate_platform

    t0 = time.perf_counter()
    await migrate_platform()
    await dispose_engine()
    await asyncio.to_thread(_run_loaders, tenants, complaints, jobs)
    print(f"loader: {tenants} tenants x {complaints} complaints in {jobs} processes: "
          f"{time.perf_counter() - t0:.1f} s ({(time.perf_counter() - t0) / tenants * 1000:.0f} ms per tenant)")


def _run_loaders(tenants: int, complaints: int, jobs: int) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    per, extra = divmod(tenants, jobs)
    procs, first = [], 0
    for j in range(jobs):
        count = per + (j < extra)
        if count:
            procs.append(ctx.Process(target=_load_slice, args=(first, count, complaints)))
            first += count
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a loader process failed (exit code {proc.exitcode})")


async def make_due(schemas: list[str], count: int, start: datetime, spread: float) -> None:
    """``count`` deadlines (spread evenly over the tenants) due from ``start`` over ``spread`` seconds."""
    from sqlalchemy import text

    from services.core.db import get_engine

    per, extra = divmod(count, len(schemas))
    async with get_engine().begin() as conn:
        for i, schema in enumerate(schemas):
            k = per + (i < extra)
            if k:
                await conn.execute(text(
                    f'UPDATE "{schema}".deadlines d SET due_at = CAST(:start AS timestamptz) '
                    "+ make_interval(secs => CAST(:spread AS float8) * random()) "
                    f'WHERE d.id IN (SELECT id FROM "{schema}".deadlines WHERE breached_at IS NULL '
                    "AND due_at > now() + interval '1 day' LIMIT :k)"), {"start": start, "spread": spread, "k": k})


async def one_pass(schemas: list[str], due: int, profile: int = 0) -> None:
    from sqlalchemy import text

    from services.core.db import get_engine
    from services.core.outbox.sweeper import sweep_all

    await sweep_all(retention=False, digests=False)  # untimed: what an earlier sitting left due (its worker stopped)
    await make_due(schemas, due, datetime.now(UTC) - timedelta(minutes=10), 0)
    from sqlalchemy import event

    statements: Counter[str] = Counter()

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements[re.sub(r"tenant_\w+", "tenant_*", " ".join(statement.split()))[:100]] += 1

    engine = get_engine().sync_engine
    event.listen(engine, "before_cursor_execute", count)
    profiler = cProfile.Profile() if profile else None
    began = datetime.now(UTC)
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    result = await sweep_all(retention=False, digests=False)  # the deadlines' own work
    if profiler is not None:
        profiler.disable()
    spent, cpu = time.perf_counter() - t0, time.process_time() - c0
    event.remove(engine, "before_cursor_execute", count)
    recorded: list[float] = []  # each breach: its breached_at (the sweep's time) after the pass began
    async with get_engine().connect() as conn:
        for s in schemas:
            recorded += [float(r[0]) for r in (await conn.execute(text(
                f'SELECT extract(epoch FROM breached_at - :began) FROM "{s}".deadlines '
                "WHERE breached_at >= :began"), {"began": began})).all()]
    print(f"one sweep_all pass, {len(schemas)} tenants, {due} deadlines due: {spent:.2f} s "
          f"({result.tenants} tenants visited, {result.breached} breaches recorded ({len(recorded)} in all), "
          f"{result.sent} outbox items sent, {result.skipped} e-mails skipped, {result.errors} tenant errors)")
    stage = getattr(result, "breach_seconds", None)  # this tree's first stage (not in a tree before it)
    if stage is not None:
        print(f"  the breaches' stage (every due tenant's breaches and audit events recorded): {stage:.2f} s; "
              f"the rest of the pass (their notifications, notices, outboxes): {spent - stage:.2f} s")
    if recorded:
        print(f"  each breach's time (breached_at) after the pass began: p50 {statistics.median(recorded):.2f} s, "
              f"p99 {pct(recorded, 99):.2f} s, max {max(recorded):.2f} s")
    total = sum(statements.values())
    print(f"  {total} statements through SQLAlchemy, {total / max(1, result.tenants):.1f} per tenant visited; "
          f"CPU of this process {cpu:.2f} s ({cpu / max(1, result.tenants) * 1000:.1f} ms per tenant visited: what "
          "a shared machine inflates least)")
    if profile:
        for text_, n in statements.most_common(profile):
            print(f"  {n:6d}  {text_}")
    if profiler is not None:
        print(f"cProfile of that pass (profiling slows it down), top {profile} by cumulative, then by own time:")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(profile)
        stats.sort_stats("tottime").print_stats(profile)
    t0 = time.perf_counter()
    await sweep_all(retention=False, digests=False)
    print(f"an idle pass (nothing due) over {len(schemas)} tenants: {time.perf_counter() - t0:.2f} s")


async def latency(schemas: list[str], count: int, env: dict[str, str], spread: float = 20.0) -> None:
    from sqlalchemy import text

    from services.core.db import get_engine

    exe = Path(sys.executable).with_name("complaintdesk")
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-bench-sweeper-{RUN_ID}.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([str(exe), "worker", "--threads", "1", "--sweep-interval", "2"], cwd=ROOT,
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        await asyncio.sleep(5)  # started, first passes done
        start = datetime.now(UTC) + timedelta(seconds=2)
        await make_due(schemas, count, start, spread)
        delays: list[float] = []
        limit = time.monotonic() + 120
        while time.monotonic() < limit and worker.poll() is None:
            await asyncio.sleep(2)
            delays = []
            async with get_engine().connect() as conn:
                for s in schemas:
                    delays += [r[0] for r in (await conn.execute(text(
                        f'SELECT extract(epoch FROM breached_at - due_at) FROM "{s}".deadlines '
                        "WHERE due_at >= :start AND breached_at IS NOT NULL"), {"start": start})).all()]
            if len(delays) >= count:
                break
        d = [float(x) for x in delays]
        if not d:
            print(f"latency: no breach recorded within 120 s; the worker's log:\n{log.read_text()[-3000:]}")
            return
        print(f"latency with the worker's sweeper loop (every 2 s), {len(d)}/{count} deadlines falling due over "
              f"{spread:g} s: p50 {statistics.median(d):.2f} s, p99 {pct(d, 99):.2f} s, max {max(d):.2f} s")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:  # still in a long pass: what it leaves is in PostgreSQL, done next time
            worker.kill()
            worker.wait(10)


async def sitting(args: argparse.Namespace, env: dict[str, str]) -> None:
    from services.core.db import dispose_engine

    schemas = await existing_schemas()
    if len(schemas) != args.tenants:
        if schemas:
            raise SystemExit(f"the database holds {len(schemas)} bench tenants, not {args.tenants}")
        if args.jobs > 1:
            await load_parallel(args.tenants, args.complaints, args.jobs)
            schemas = await existing_schemas()
        else:
            schemas = await load(args.tenants, args.complaints)
    else:
        print(f"reusing the {len(schemas)} tenants of database {DB_NAME}")
    for due in args.due:
        await one_pass(schemas, due, args.profile)
    if args.latency:
        await latency(schemas, args.latency, env, args.spread)
    await dispose_engine()


async def _database_exists(server_url: str) -> bool:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(lvb._plain_url(server_url))
    conn = await asyncpg.connect(user=u.username, password=u.password, database=u.database or "postgres",
                                 host=u.query.get("host") or u.host, port=u.port)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME))
    finally:
        await conn.close()


def _tree(ref: str) -> tuple[Path, str]:
    """A detached worktree of ``ref`` (removed by the caller) and its commit."""
    import tempfile

    tree = Path(tempfile.mkdtemp(prefix="cd-bench-sweeper-")) / "tree"
    subprocess.run(["git", "-C", str(BENCH.parent), "worktree", "add", "--detach", str(tree), ref], check=True,
                   capture_output=True)
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    return tree, commit


def with_baseline(args: argparse.Namespace, argv: list[str]) -> int:
    """This tree's passes and the baseline's (``--baseline REF``), one after the other, each a process of its own
    running this bench file with that tree's code; the tenants are loaded (if they are not yet) by this tree."""
    own = [a for i, a in enumerate(argv) if a not in ("--baseline", "--baseline-first")
           and not (i > 0 and argv[i - 1] == "--baseline")]
    tree, commit = _tree(args.baseline)
    here = subprocess.run(["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    runs = [(f"this tree ({here}{' + changes' if _dirty() else ''})", own),
            (f"baseline: {args.baseline} at {commit} (today's path)", [*own, "--code", str(tree)])]
    if args.baseline_first:
        # the tenants first, by this tree (its migrations), without a timed pass
        subprocess.run([sys.executable, __file__, "--tenants", str(args.tenants), "--complaints", str(args.complaints),
                        "--jobs", str(args.jobs), "--database", args.database, "--due", "--latency", "0"], check=True)
        runs.reverse()
    try:
        for label, run in runs:
            print(f"=== {label}", flush=True)
            done = subprocess.run([sys.executable, __file__, *run], check=False)
            if done.returncode != 0:
                return done.returncode
    finally:
        subprocess.run(["git", "-C", str(BENCH.parent), "worktree", "remove", "--force", str(tree)], check=False,
                       capture_output=True)
    return 0


def _dirty() -> bool:
    return bool(subprocess.run(["git", "-C", str(BENCH.parent), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--complaints", type=int, default=500, help="open complaints (one deadline each) per tenant")
    parser.add_argument("--due", type=int, nargs="*", default=[500],
                        help="deadlines due for a timed pass (several: one pass each)")
    parser.add_argument("--latency", type=int, default=200, help="deadlines falling due with the worker running")
    parser.add_argument("--profile", type=int, default=0, metavar="LINES",
                        help="print a cProfile of each timed pass, this many functions per listing")
    parser.add_argument("--spread", type=float, default=20.0,
                        help="seconds over which the --latency deadlines fall due (0: all at the same moment)")
    parser.add_argument("--jobs", type=int, default=1, help="loader processes")
    parser.add_argument("--database", help="keep the database under this name, and reuse it when it exists "
                        "(the master key is kept beside it in $TMPDIR)")
    parser.add_argument("--baseline", metavar="REF", help="also run the same passes with the code of git REF (e.g. "
                        "main: today's path), checked out in a worktree, in the same sitting on the same database "
                        "(needs --database; the tenants are loaded by this tree first)")
    parser.add_argument("--baseline-first", action="store_true", help="the baseline's passes before this tree's")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # the tree whose code runs (set by --baseline)
    args = parser.parse_args(argv)
    if args.baseline:
        if not args.database:
            parser.error("--baseline needs --database (both trees' passes run on the same kept database)")
        return with_baseline(args, [a for a in (argv if argv is not None else sys.argv[1:])])
    global DB_NAME
    if args.database:
        DB_NAME = args.database
    server_url = lvb._plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    from services.core.auth.tokens import generate_private_key_pem, reset_keyring
    from services.core.crypto.master import generate_master_key, reset_master_keys

    os.environ.pop("COMPLAINTDESK_MASTER_KEY_FILE", None)
    os.environ.pop("COMPLAINTDESK_SMTP_URL", None)
    master = generate_master_key()
    if args.database:
        key_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"{DB_NAME}.master-key"
        if key_file.exists():
            master = key_file.read_text().strip()
        else:
            key_file.write_text(master)
            key_file.chmod(0o600)
    os.environ.update(DATABASE_URL=lvb._with_database(server_url, DB_NAME), REDIS_URL=redis_url,
                      COMPLAINTDESK_QUEUE_NAMESPACE=f"cdbench-{RUN_ID}", COMPLAINTDESK_MASTER_KEY=master,
                      COMPLAINTDESK_LOG_LEVEL="WARNING",
                      COMPLAINTDESK_JWT_SIGNING_KEY=generate_private_key_pem().decode())
    reset_keyring()
    reset_master_keys()
    from services.core.config import reset_settings

    reset_settings()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)  # a timeout or a kill: still drop the database
    keep = bool(args.database)
    if not keep or not asyncio.run(_database_exists(server_url)):
        asyncio.run(lvb._admin(server_url, f'CREATE DATABASE "{DB_NAME}"'))
    try:
        asyncio.run(sitting(args, env))
    except KeyboardInterrupt:
        print("\ninterrupted" + ("" if keep else ": dropping the database"), file=sys.stderr)
        return 130
    finally:
        if not keep:
            asyncio.run(lvb._admin(server_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        with contextlib.suppress(Exception):
            asyncio.run(lvb._cleanup_redis(redis_url, f"cdbench-{RUN_ID}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
