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
from typing import Any

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


TEMPLATE_SLUG = "cltemplate"  # the clone source: migrated once, dumped, dropped (never an "sw" tenant)
TEMPLATE_SCHEMA = "tenant_" + TEMPLATE_SLUG
SCHEMA_MARK = "@@SCHEMA@@"
_IN_LIST = re.compile(r"\(\((\w+)\)::text = ANY \(\(ARRAY\[((?:'[^']*'::character varying(?:, )?)+)\]\)::text\[\]\)\)")


async def template_sql() -> str:
    """A tenant schema as the migrations leave it, as SQL that makes it again under another name (``SCHEMA_MARK``):
    a registry row and a schema for ``TEMPLATE_SLUG`` (bank), migrated by ``upgrade_tenant_schema`` as
    ``create_tenant`` does (the migrations read the template from the registry), committed, dumped by ``pg_dump
    --schema --inserts`` (tables, sequences, functions with their ``SET search_path``, triggers, indexes, and the
    rows the migrations wrote: the alembic version, SLA profiles, policies, settings), its schema name replaced,
    plus the ``public.sweep_wakeups`` rows its triggers wrote; then dropped again."""
    from sqlalchemy import delete, insert, text

    from services.core.crypto.keys import destroy_tenant_keys_sync
    from services.core.db import get_engine
    from services.core.outbox.models import SweepWakeup
    from services.core.tenancy import Tenant, TenantStatus
    from tenants.migrate import upgrade_tenant_schema

    async def drop() -> None:
        async with get_engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{TEMPLATE_SCHEMA}" CASCADE'))
            await conn.execute(delete(SweepWakeup).where(SweepWakeup.schema_name == TEMPLATE_SCHEMA))
            await conn.execute(delete(Tenant).where(Tenant.slug == TEMPLATE_SLUG))
            await conn.run_sync(destroy_tenant_keys_sync, TEMPLATE_SLUG)

    await drop()
    async with get_engine().begin() as conn:
        await conn.execute(insert(Tenant).values(slug=TEMPLATE_SLUG, display_name=TEMPLATE_SLUG, template="bank",
                                                 schema_name=TEMPLATE_SCHEMA, status=TenantStatus.SUSPENDED.value))
        await conn.execute(text(f'CREATE SCHEMA "{TEMPLATE_SCHEMA}"'))
        await upgrade_tenant_schema(conn, TEMPLATE_SCHEMA)
    try:
        dump = subprocess.run(
            ["pg_dump", "--schema", TEMPLATE_SCHEMA, "--inserts", "--no-owner", "--no-privileges",
             "--dbname", lvb._plain_url(os.environ["DATABASE_URL"])], check=True, capture_output=True,
            text=True).stdout
        async with get_engine().connect() as conn:
            wakeups = (await conn.execute(text(
                "SELECT source, row_id::text, at::text FROM public.sweep_wakeups WHERE schema_name = :s"),
                {"s": TEMPLATE_SCHEMA})).all()
    finally:
        await drop()
    # the session settings of the dump's header become the transaction's own (SET LOCAL), its psql commands go
    kept = [line for line in dump.splitlines() if not line.startswith(("\\", "SET ", "SELECT pg_catalog.set_config"))]
    sql = "\n".join(["SET LOCAL search_path = '';", "SET LOCAL check_function_bodies = false;",
                     "SET LOCAL client_min_messages = warning;", *kept])
    sql += "".join(f"\nINSERT INTO public.sweep_wakeups (schema_name, source, row_id, at) VALUES "
                   f"('{TEMPLATE_SCHEMA}', '{source}', '{row_id}', '{at}');" for source, row_id, at in wakeups)
    if os.environ.get("SWEEPER_KEEP_TEMPLATE_SQL"):
        Path(os.environ["SWEEPER_KEEP_TEMPLATE_SQL"]).write_text(sql)
    # pg_dump prints "col IN ('A', 'B')" on a varchar column as "(col)::text = ANY ((ARRAY['A'::character varying,
    # ...])::text[])", which PostgreSQL parses back into another expression (each element cast to text): the text
    # the migrations wrote gives the catalog they made (``check_clone`` compares)
    sql = _IN_LIST.sub(lambda m: f"({m[1]} IN ({m[2].replace('::character varying', '')}))", sql)
    if SCHEMA_MARK in sql:
        raise SystemExit(f"the template's dump holds {SCHEMA_MARK!r}")
    return sql.replace(TEMPLATE_SCHEMA, SCHEMA_MARK)


async def clone_tenant(slug: str, sql: str, template: str = "bank") -> None:
    """BENCHMARK FIXTURE: ``create_tenant(slug, template=template)`` with the schema made by replaying the template's
    dump (``template_sql``) instead of running every migration: the same transaction (registry row, schema,
    ``schema_revision``, the template's seed through ``tenants.templates.seed``), the same catalog (``--check-clone``
    compares it with a migrated tenant's)."""
    from sqlalchemy import insert, text, update
    from sqlalchemy.ext.asyncio import AsyncSession

    from services.core.crypto.keys import create_tenant_keys_sync
    from services.core.db import TENANT_SCHEMA_PLACEHOLDER, get_engine
    from services.core.tenancy import Tenant, TenantStatus, schema_for
    from tenants.templates import TEMPLATES, seed

    schema = schema_for(slug)
    async with get_engine().connect() as conn, conn.begin():
        await conn.execute(insert(Tenant).values(slug=slug, display_name=slug, template=template, schema_name=schema,
                                                 status=TenantStatus.ACTIVE.value))
        await conn.run_sync(create_tenant_keys_sync, slug)  # as tenant revision t0004 does
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(sql.replace(SCHEMA_MARK, schema))  # type: ignore[union-attr]
        # as after upgrade_tenant_schema: the transaction's search_path is the tenant's
        await conn.execute(text("SELECT set_config('search_path', :path, true)"), {"path": f'"{schema}"'})
        # the template's revision (as upgrade_tenant_schema returns it), not this tree's head: a migration added
        # while a load goes on must not be taken as applied
        revision = await conn.scalar(text(f'SELECT version_num FROM "{schema}".alembic_version'))
        await conn.execute(update(Tenant).where(Tenant.slug == slug).values(schema_revision=revision))
        bound = await conn.execution_options(schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: schema})
        session = AsyncSession(bind=bound, join_transaction_mode="create_savepoint")
        await seed(session, TEMPLATES[template])
        await session.commit()
        await session.close()
        # committed below; then a new backend for the next tenant: one that made hundreds of schemas keeps every
        # relation it created in its caches, and the other loader's invalidations make it rebuild them (the loader
        # went from 0.6 s to 3 s a tenant past 600 tenants)
        await conn.commit()
        await conn.invalidate()


def catalog(schema: str) -> str:
    """``pg_dump --schema-only`` of a schema with its name replaced: what a tenant is made of."""
    out = subprocess.run(["pg_dump", "--schema", schema, "--schema-only", "--no-owner", "--no-privileges",
                          "--dbname", lvb._plain_url(os.environ["DATABASE_URL"])], check=True, capture_output=True,
                         text=True).stdout
    lines = [line for line in out.splitlines() if not line.startswith("\\")]  # \restrict's random key
    return "\n".join(lines).replace(schema, "tenant_*")


async def check_clone(migrated: str, cloned: str) -> None:
    """A cloned tenant is one the code cannot tell from a migrated one: the same catalog (functions, their
    ``search_path`` included), the same rows in every table but those with generated ids, the same wake-ups."""
    from sqlalchemy import text

    from services.core.db import get_engine

    a, b = catalog(migrated), catalog(cloned)
    if a != b:
        import difflib

        diff = "\n".join(list(difflib.unified_diff(a.splitlines(), b.splitlines(), migrated, cloned, lineterm=""))[:60])
        raise SystemExit(f"the cloned tenant's catalog differs from the migrated one's:\n{diff}")
    counts = []
    async with get_engine().connect() as conn:
        tables = [r[0] for r in (await conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"), {"s": migrated})).all()]
        for schema in (migrated, cloned):
            counts.append([await conn.scalar(text(f'SELECT count(*) FROM "{schema}"."{t}"')) for t in tables]
                          + [await conn.scalar(text(
                              "SELECT count(*) FROM public.sweep_wakeups WHERE schema_name = :s"), {"s": schema})])
            counts[-1].append(await conn.scalar(text(f'SELECT version_num FROM "{schema}".alembic_version')))
    if counts[0] != counts[1]:
        raise SystemExit(f"the cloned tenant's rows differ from the migrated one's: {counts}")
    print(f"clone check: {cloned} (cloned) and {migrated} (migrated): the same catalog ({len(a.splitlines())} lines of "
          f"pg_dump -s), the same row counts in {len(tables)} tables, wake-ups and alembic version {counts[0][-1]}",
          flush=True)


async def load(tenants: int, complaints: int, first: int = 0, quiet: bool = False,
               clone: str | None = None, numbers: list[int] | None = None) -> list[str]:
    """Tenants ``first`` .. ``first + tenants - 1``, each with M complaints and one open DECISION deadline per
    complaint. Returns the schemas. ``clone``: the template's SQL (``template_sql``): each tenant cloned from it
    (``clone_tenant``) instead of migrated, but tenant 0 (migrated: ``check_clone`` compares the next with it)."""
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
    for i, n in enumerate(numbers if numbers is not None else range(first, first + tenants)):
        t0 = time.perf_counter()
        if clone is not None and n > 0:
            await clone_tenant(f"sw{n:04d}", clone)
        else:
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
        done = i + 1
        if done % max(1, tenants // 10) == 0:
            print(f"  loaded {done}/{tenants} tenants from {first} ({t_schema:.1f} s schemas, {t_rows:.1f} s rows)",
                  flush=True)
    if not quiet:
        print(f"loader: {tenants} tenants x {complaints} complaints: {t_schema + t_rows:.1f} s "
              f"(tenant schemas {t_schema:.1f} s = {t_schema / tenants * 1000:.0f} ms each; "
              f"complaints + deadlines {t_rows:.1f} s)")
    return schemas


def _load_slice(first: int, count: int, complaints: int, clone: str | None, numbers: list[int] | None = None) -> None:
    """A loader process (``--jobs``): its own event loop and engine."""
    from services.core.db import dispose_engine

    async def run() -> None:
        await load(count, complaints, first=first, quiet=True, clone=clone, numbers=numbers)
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


async def load_parallel(tenants: int, complaints: int, jobs: int, migrate_each: bool = False) -> None:
    """The tenants in ``jobs`` processes. Unless ``migrate_each``: tenant 0 made by ``create_tenant`` (migrated),
    the template dumped once (``template_sql``), every other tenant cloned from it, and the first clone's catalog
    checked against tenant 0's (``check_clone``)."""
    from services.core.db import dispose_engine
    from tenants.provision import migrate_platform

    t0 = time.perf_counter()
    await migrate_platform()
    clone, first = None, 0
    if not migrate_each and tenants > 1:
        clone = await template_sql()
        print(f"  template schema migrated and dumped: {time.perf_counter() - t0:.1f} s "
              f"({len(clone) // 1024} KiB of SQL)", flush=True)
        await load(2, complaints, quiet=True, clone=clone)  # tenant 0 migrated, tenant 1 cloned
        await check_clone("tenant_sw0000", "tenant_sw0001")
        first = 2
    await dispose_engine()
    await asyncio.to_thread(_run_loaders, first, tenants - first, complaints, jobs, clone)
    print(f"loader: {tenants} tenants x {complaints} complaints in {jobs} processes "
          f"({'each migrated' if clone is None else 'cloned from a template'}): "
          f"{time.perf_counter() - t0:.1f} s ({(time.perf_counter() - t0) / tenants * 1000:.0f} ms per tenant)")


async def resume_load(tenants: int, complaints: int, jobs: int) -> None:
    """A load that was stopped: its unfinished tenants (fewer deadlines than complaints) dropped, the missing ones
    cloned (``--jobs`` processes)."""
    from sqlalchemy import text

    from services.core.crypto.keys import destroy_tenant_keys_sync
    from services.core.db import dispose_engine, get_engine

    t0 = time.perf_counter()
    async with get_engine().begin() as conn:
        slugs = [r[0] for r in (await conn.execute(text(
            "SELECT slug FROM public.tenants WHERE slug LIKE 'sw%' ORDER BY slug"))).all()]
        done = set()
        for slug in slugs:
            if await conn.scalar(text(f'SELECT count(*) FROM "tenant_{slug}".deadlines')) == complaints:
                done.add(int(slug[2:]))
                continue
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "tenant_{slug}" CASCADE'))
            await conn.execute(text("DELETE FROM public.sweep_wakeups WHERE schema_name = :s"), {"s": f"tenant_{slug}"})
            await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})
            await conn.run_sync(destroy_tenant_keys_sync, slug)
    missing = [n for n in range(tenants) if n not in done]
    print(f"resuming a stopped load: {len(slugs) - len(done)} unfinished tenants dropped, {len(missing)} to load",
          flush=True)
    clone = await template_sql()
    await dispose_engine()
    await asyncio.to_thread(_run_loaders, 0, 0, complaints, jobs, clone, missing)
    print(f"loader (resumed): {len(missing)} tenants x {complaints} complaints in {jobs} processes (cloned): "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


def _run_loaders(first: int, tenants: int, complaints: int, jobs: int, clone: str | None,
                 numbers: list[int] | None = None) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    per, extra = divmod(tenants, jobs)
    procs = []
    if numbers is not None:
        procs = [ctx.Process(target=_load_slice, args=(0, 0, complaints, clone, numbers[j::jobs]))
                 for j in range(jobs) if numbers[j::jobs]]
    for j in range(jobs if numbers is None else 0):
        count = per + (j < extra)
        if count:
            procs.append(ctx.Process(target=_load_slice, args=(first, count, complaints, clone)))
            first += count
    _run_all(procs, "a loader process")


async def migrate_reused(jobs: int) -> None:
    """A kept database loaded by an older tree: its tenants upgraded to this tree's head (``migrate_all``, in
    ``jobs`` processes), timed. A tree whose head is older (``--baseline``) leaves them as they are."""
    from sqlalchemy import text

    from services.core.db import dispose_engine, get_engine
    from tenants.migrate import tenant_head

    head = tenant_head()
    async with get_engine().connect() as conn:
        behind = [r[0] for r in (await conn.execute(text(
            "SELECT slug FROM public.tenants WHERE slug LIKE 'sw%' AND schema_revision < :head ORDER BY slug"),
            {"head": head})).all()]
    if not behind:
        return
    await dispose_engine()
    t0 = time.perf_counter()
    await asyncio.to_thread(_run_migrators, behind, jobs)
    print(f"migrated {len(behind)} tenants to {head} in {jobs} processes: {time.perf_counter() - t0:.1f} s", flush=True)


def _migrate_slice(slugs: list[str]) -> None:
    from services.core.db import dispose_engine
    from tenants.provision import migrate_all

    async def run() -> None:
        failed = [r for r in await migrate_all(only=slugs) if r.error]
        await dispose_engine()
        if failed:
            raise SystemExit(f"{len(failed)} tenants failed to migrate, first: {failed[0].slug}: {failed[0].error}")

    asyncio.run(run())


def _run_migrators(slugs: list[str], jobs: int) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    _run_all([ctx.Process(target=_migrate_slice, args=(slugs[j::jobs],)) for j in range(jobs) if slugs[j::jobs]],
             "a migrating process")


def _run_all(procs: list[Any], what: str) -> None:
    """Start the processes, wait for all of them; stop with ``what`` when one failed."""
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"{what} failed (exit code {proc.exitcode})")


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
    effects = getattr(result, "effects_seconds", None)  # and its deadline phases' end (not before 2026-12-08)
    if stage is not None and effects is not None:
        print(f"  the breaches' stage (every due tenant's breaches and audit events recorded): {stage:.2f} s; "
              f"the deadline phases (every effect recorded: notifications, notices, messages enqueued): "
              f"{effects - stage:.2f} s; the outbox phase ({result.dispatched} tenants' items delivered): "
              f"{spent - effects:.2f} s")
    elif stage is not None:
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
    after = await sweep_all(retention=False, digests=False)
    # what the timed pass's deliveries enqueued in turn (a customer message that failed: its owner told) is due
    # in the next pass
    print(f"the next pass over {len(schemas)} tenants: {time.perf_counter() - t0:.2f} s ({after.tenants} tenants "
          f"visited, {after.sent} outbox items sent, {after.skipped} skipped: what the timed pass's deliveries "
          "enqueued)")
    t0 = time.perf_counter()
    await sweep_all(retention=False, digests=False)
    print(f"an idle pass (nothing due) over {len(schemas)} tenants: {time.perf_counter() - t0:.2f} s")


async def latency(schemas: list[str], count: int, env: dict[str, str], spread: float = 20.0,
                  settle: float = 5.0) -> None:
    from sqlalchemy import text

    from services.core.db import get_engine

    exe = Path(sys.executable).with_name("complaintdesk")
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cd-bench-sweeper-{RUN_ID}.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([str(exe), "worker", "--threads", "1", "--sweep-interval", "2"], cwd=ROOT,
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        await asyncio.sleep(settle)  # started, first passes done (and, where the code does it, the tenants warmed)
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
        if schemas and (len(schemas) > args.tenants or args.migrate_each):
            raise SystemExit(f"the database holds {len(schemas)} bench tenants, not {args.tenants}")
        if schemas:
            await resume_load(args.tenants, args.complaints, args.jobs)
        else:
            await load_parallel(args.tenants, args.complaints, args.jobs, args.migrate_each)
        schemas = await existing_schemas()
    else:
        print(f"reusing the {len(schemas)} tenants of database {DB_NAME}")
        await migrate_reused(args.jobs)
    for due in args.due:
        await one_pass(schemas, due, args.profile)
    if args.latency:
        await latency(schemas, args.latency, env, args.spread, args.settle)
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
    parser.add_argument("--settle", type=float, default=5.0, help="seconds the worker runs before the --latency "
                        "deadlines are set to fall due")
    parser.add_argument("--jobs", type=int, default=1, help="loader (and migrating) processes")
    parser.add_argument("--migrate-each", action="store_true", help="the loader migrates every tenant's schema "
                        "(create_tenant) instead of cloning a migrated template (checked against a migrated tenant)")
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
