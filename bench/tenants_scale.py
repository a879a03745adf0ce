"""What each tenant costs on one PostgreSQL: 10 -> 2,000 tenants (docs/scaling.md quotes the figures).

    .venv/bin/python bench/tenants_scale.py                                   # 10, 25, 50 tenants: a few minutes
    .venv/bin/python bench/tenants_scale.py --sizes 10,100,500,1000,2000      # the full run (about an hour)

At each size (tenants are added to reach it; bank template, each with its first admin):

- **provision**: mean seconds to create one tenant at that size (``provision_tenant``: schema, every tenant
  migration, seed rules, keys, admin; one transaction);
- **catalog**: rows of ``pg_class`` and ``pg_attribute`` and their size on disk with indexes, and the database size
  (every tenant schema is ~100 relations: the catalog grows linearly, and so does every tool that reads it);
- **migrate**: seconds of ``complaintdesk migrate`` with nothing to do (it visits every tenant: the floor of any
  upgrade's downtime-free window), and per tenant;
- **idle sweep**: median seconds of one ``sweep_all`` pass with nothing due (one query on ``sweep_wakeups``,
  whatever the tenant count), and of the old per-tenant visit it replaced (``active_tenants``: the registry read);
- **API memory**: RSS of a ``complaintdesk serve`` process after one signed-in request in each tenant, less its RSS
  after one request (per-tenant caches: Casbin enforcers, keyrings, schema-translated engines), per tenant.

Creates its own database (dropped at the end); needs PostgreSQL and Redis (``DATABASE_URL``, ``REDIS_URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import list_vs_bare as lvb  # noqa: E402

RUN_ID = uuid.uuid4().hex[:10]
DB_NAME = f"cd_bench_scale_{RUN_ID}"
ADMIN = "admin@scale.example"


async def provision(first: int, last: int) -> float:
    """Tenants ``first`` .. ``last - 1``; mean seconds per tenant."""
    from tenants.provision import AdminSpec, provision_tenant

    started = time.perf_counter()
    for n in range(first, last):
        await provision_tenant(f"sc{n:05d}", template="bank", admin=AdminSpec(ADMIN))
    return (time.perf_counter() - started) / max(1, last - first)


async def catalog() -> dict[str, float]:
    from sqlalchemy import text

    from services.core.db import get_engine

    async with get_engine().connect() as conn:
        row = (await conn.execute(text(
            "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute), "
            "pg_total_relation_size('pg_catalog.pg_class') + pg_total_relation_size('pg_catalog.pg_attribute') "
            "+ pg_total_relation_size('pg_catalog.pg_depend') + pg_total_relation_size('pg_catalog.pg_index'), "
            "pg_database_size(current_database())"))).one()
    return {"pg_class": row[0], "pg_attribute": row[1], "catalog_mb": row[2] / 2**20, "db_mb": row[3] / 2**20}


async def migrate_idle() -> float:
    from tenants.provision import migrate_all

    started = time.perf_counter()
    results = await migrate_all()
    assert all(r.error is None and r.before == r.after for r in results), "migrate found work to do"
    return time.perf_counter() - started


async def sweep_idle(passes: int = 5) -> tuple[float, float]:
    from services.core.outbox.sweeper import active_tenants, sweep_all

    sweeps, registry = [], []
    for _ in range(passes):
        started = time.perf_counter()
        result = await sweep_all(retention=False)
        sweeps.append(time.perf_counter() - started)
        assert result.tenants == 0, "work was due"
        started = time.perf_counter()
        await active_tenants()
        registry.append(time.perf_counter() - started)
    return statistics.median(sweeps), statistics.median(registry)


async def tokens(count: int) -> list[tuple[str, str]]:
    from sqlalchemy import text

    from services.core.auth.tokens import issue_access_token
    from services.core.clock import system_clock
    from services.core.db import get_engine

    out = []
    async with get_engine().connect() as conn:
        for n in range(count):
            slug = f"sc{n:05d}"
            row = (await conn.execute(text(f'SELECT id, roles FROM "tenant_{slug}".users WHERE email = :e'),
                                      {"e": ADMIN})).one()
            out.append((slug, issue_access_token(user_id=row.id, tenant=slug, roles=list(row.roles),
                                                 now=system_clock.now()).token))
    return out


def api_memory(count: int, env: dict[str, str]) -> tuple[float, float]:
    """(RSS MiB after one request, KiB per tenant after one request in each of ``count`` tenants)."""
    import httpx
    import psutil

    port = lvb._free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("complaintdesk")), "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        signed = asyncio.run(tokens(count))
        query = {"query": "{ me { email } complaints(first: 1) { totalCount } }"}

        def ask(token: str) -> None:
            r = httpx.post(base + "/graphql", json=query, headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]

        with httpx.Client():
            ask(signed[0][1])
            ask(signed[0][1])
            one = psutil.Process(proc.pid).memory_info().rss
            for _, token in signed[1:]:
                ask(token)
            every = psutil.Process(proc.pid).memory_info().rss
        return one / 2**20, (every - one) / 1024 / max(1, count - 1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,25,50", help="tenant counts, ascending (default: 10,25,50)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    assert sizes == sorted(sizes) and sizes[0] > 1
    server_url = lvb._plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    from services.core.auth.tokens import generate_private_key_pem, reset_keyring
    from services.core.crypto.master import generate_master_key, reset_master_keys

    for key in ("COMPLAINTDESK_MASTER_KEY_FILE", "COMPLAINTDESK_JWT_SIGNING_KEY_FILE", "COMPLAINTDESK_SMTP_URL"):
        os.environ.pop(key, None)
    os.environ.update(DATABASE_URL=lvb._with_database(server_url, DB_NAME), REDIS_URL=redis_url,
                      COMPLAINTDESK_QUEUE_NAMESPACE=f"cdbench-{RUN_ID}", COMPLAINTDESK_MASTER_KEY=generate_master_key(),
                      COMPLAINTDESK_LOG_LEVEL="WARNING", COMPLAINTDESK_ENV="test",
                      COMPLAINTDESK_JWT_SIGNING_KEY=generate_private_key_pem().decode())
    reset_keyring()
    reset_master_keys()
    from services.core.config import reset_settings

    reset_settings()
    env = {**os.environ}
    asyncio.run(lvb._admin(server_url, f'CREATE DATABASE "{DB_NAME}"'))
    rows = []
    try:
        async def measure(have: int, size: int) -> dict[str, float]:
            from services.core.db import dispose_engine
            from tenants.provision import migrate_platform

            await migrate_platform()
            figures: dict[str, float] = {"tenants": size}
            figures["provision_s"] = await provision(have, size)
            figures.update(await catalog())
            figures["migrate_s"] = await migrate_idle()
            figures["sweep_ms"], figures["registry_ms"] = (x * 1000 for x in await sweep_idle())
            await dispose_engine()
            return figures

        have = 0
        for size in sizes:
            figures = asyncio.run(measure(have, size))
            have = size
            figures["rss_mb"], figures["kib_per_tenant"] = api_memory(size, env)
            rows.append(figures)
            print(f"... {size} tenants measured", file=sys.stderr, flush=True)
    finally:
        asyncio.run(lvb._admin(server_url, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    header = ("tenants", "provision s/tenant", "pg_class rows", "pg_attribute rows", "catalog MiB", "database MiB",
              "migrate (idle) s", "migrate ms/tenant", "idle sweep ms", "registry read ms", "API RSS MiB",
              "API KiB/tenant")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for f in rows:
        print(f"| {f['tenants']:.0f} | {f['provision_s']:.2f} | {f['pg_class']:.0f} | {f['pg_attribute']:.0f} | "
              f"{f['catalog_mb']:.1f} | {f['db_mb']:.0f} | {f['migrate_s']:.1f} | "
              f"{f['migrate_s'] * 1000 / f['tenants']:.1f} | {f['sweep_ms']:.1f} | {f['registry_ms']:.1f} | "
              f"{f['rss_mb']:.0f} | {f['kib_per_tenant']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
