"""Authorization cost: decisions per second with 10,000 policy lines in a tenant, and the overhead
the authorization filter adds to the complaints list query (ratio with and without, same sitting).

    .venv/bin/python bench/authz.py [--lines 10000] [--seconds 3]

Uses DATABASE_URL (default: the local server) for the list part; creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.core import authz


def decisions(lines: int, seconds: float) -> None:
    actions = [a.value for a in authz.Action]
    roles = [f"role{i}" for i in range(max(lines // len(actions), 1))]
    relations = ["any", "owner", "handler", "responsible_department", "owner&approved", "store"]
    rules = [
        authz.Rule(role, action, relations[(i + j) % len(relations)], "allow")
        for i, role in enumerate(roles) for j, action in enumerate(actions)
    ][:lines]
    rules += [authz.Rule("receiver", "complaint.send_message", "owner&approved", "allow"),
              authz.Rule("reviewer", "complaint.review", "any", "allow"),
              authz.Rule("reviewer", "complaint.review", "handling_department", "deny")]
    users = [str(uuid.uuid4()) for _ in range(1000)]
    grants = [(u, roles[i % len(roles)]) for i, u in enumerate(users)]
    grants += [(users[0], "receiver"), (users[1], "reviewer")]
    started = time.perf_counter()
    enforcer = authz.build_enforcer("bench", rules, grants)
    built_ms = (time.perf_counter() - started) * 1000
    cached = authz._Cached(1, enforcer, __import__("threading").Lock())
    owner_approved = authz.Resource(frozenset({"any", "owner", "approved"}))
    handling = authz.Resource(frozenset({"any", "handling_department"}))
    cases = [
        (authz.Subject(uuid.UUID(users[0]), "bench"), "complaint.send_message", owner_approved, True),
        (authz.Subject(uuid.UUID(users[1]), "bench"), "complaint.review", handling, False),
        (authz.Subject(uuid.UUID(users[2]), "bench"), "complaint.read", owner_approved, None),
    ]
    for subject, action, resource, expected in cases:
        decision = authz._decide(cached, subject, action, resource)
        assert expected is None or decision.allowed is expected, (action, decision)
    samples = []
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for subject, action, resource, _ in cases:
            t = time.perf_counter()
            authz._decide(cached, subject, action, resource)
            samples.append(time.perf_counter() - t)
            count += 1
    per = statistics.median(samples) * 1e6
    print(f"policy lines: {len(rules)}  grants: {len(grants)}  enforcer built in {built_ms:.0f} ms")
    print(f"decisions: {count / seconds:,.0f}/s   median {per:.1f} µs   p99 "
          f"{sorted(samples)[int(len(samples) * 0.99)] * 1e6:.1f} µs")


async def list_overhead(iterations: int) -> None:
    import list_vs_bare as lb  # the list benchmark's fixtures

    server = lb._plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    database = f"cd_bench_authz_{uuid.uuid4().hex[:8]}"
    await lb._admin(server, f'CREATE DATABASE "{database}"')
    os.environ["DATABASE_URL"] = lb._with_database(lb._plain_url(server), database)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    from services.core.config import reset_settings
    from services.core.crypto.master import generate_master_key, reset_master_keys

    # a master key of the sitting's own, as the other benches set (complainants are sealed under it)
    if not os.environ.get("COMPLAINTDESK_MASTER_KEY") and not os.environ.get("COMPLAINTDESK_MASTER_KEY_FILE"):
        os.environ["COMPLAINTDESK_MASTER_KEY"] = generate_master_key()
    reset_master_keys()
    reset_settings()
    try:
        await lb.load_fixtures(200)
        from sqlalchemy import select

        from services.core.complaints.queries import ComplaintFilter, list_complaints
        from services.core.db import dispose_engine
        from services.core.org.models import User
        from services.core.tenancy import resolve_tenant, tenant_session

        tenant = await resolve_tenant(lb.SLUG)
        async with tenant_session(tenant) as session:
            uid = await session.scalar(select(User.id).where(User.email == "receiver@test.example"))
            assert uid is not None
            subject = authz.Subject(uid, tenant.slug)

            async def plain() -> int:
                page = await list_complaints(session, filter=ComplaintFilter(), first=50)
                return len(page.items)

            async def filtered() -> int:
                access = await authz.complaint_access(session, subject)
                page = await list_complaints(session, filter=ComplaintFilter(), first=50, read=access.read,
                                             identity=access.identity)
                return len(page.items)

            async def decide() -> None:
                await authz.authorize(session, subject, authz.Action.COMPLAINT_RECORD)

            async def timed(fn: object, n: int) -> float:
                times = []
                for _ in range(n):
                    t = time.perf_counter()
                    await fn()  # type: ignore[operator]
                    times.append(time.perf_counter() - t)
                return statistics.median(times) * 1000

            for fn in (plain, filtered, decide):
                await timed(fn, 20)
            rows_plain, rows_filtered = await plain(), await filtered()
            a = await timed(plain, iterations)
            b = await timed(filtered, iterations)
            c = await timed(decide, iterations)
        await dispose_engine()
        print(f"list of 50 (receiver sees {rows_filtered} of {rows_plain} rows on the page):")
        print(f"  without authorization {a:.2f} ms   with {b:.2f} ms   ratio {b / a:.2f}")
        print(f"authorize() with its policy-version check (one round trip): {c:.3f} ms")
    finally:
        await lb._admin(server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--no-db", action="store_true", help="only the decision benchmark")
    args = parser.parse_args()
    decisions(args.lines, args.seconds)
    if not args.no_db:
        asyncio.run(list_overhead(args.iterations))


if __name__ == "__main__":
    main()
