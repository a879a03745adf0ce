"""Child of bench/encryption.py: time list queries through the app of one source tree, print JSON.

    python bench/_list_timing.py --root TREE --iterations N --rows R [--also-rows 1] --query NAME=FIELDS ...

Imports ``services`` and ``bench/list_vs_bare.py`` from TREE (so the code before a change can be timed against
the code after it, on the same machine in the same sitting), creates its own database with that tree's
migrations and fixtures (200 complaints), times each query (median CPU ms over N alternating requests through
the ASGI app), drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--query", action="append", default=[])
    parser.add_argument("--also-rows", type=int, default=0,
                        help="also time each query at this page size (as NAME@N): the cost per row is the slope")
    parser.add_argument("--wait-for-go", action="store_true", help="print READY, then time after a line on stdin")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path[:0] = [str(root), str(root / "bench")]
    import list_vs_bare as lvb
    import orjson

    assert Path(lvb.__file__).resolve().is_relative_to(root), lvb.__file__
    server_url = lvb._plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    os.environ.update(DATABASE_URL=lvb._with_database(server_url, lvb.DB_NAME))
    from services.core.config import reset_settings

    reset_settings()
    queries = dict(q.split("=", 1) for q in args.query)

    async def run() -> dict[str, Any]:
        from services.api.app import create_app
        from services.core.db import dispose_engine

        await lvb.load_fixtures(200)
        await lvb.mint_token()
        app = create_app()
        template = "query L($n:Int!){{ complaints(first:$n){{ edges {{ node {{ {} }} }} }} }}"
        bodies = {name: orjson.dumps({"query": template.format(f), "variables": {"n": args.rows}})
                  for name, f in queries.items()}
        if args.also_rows:
            bodies.update({f"{name}@{args.also_rows}": orjson.dumps(
                {"query": template.format(f), "variables": {"n": args.also_rows}}) for name, f in queries.items()})
        times: dict[str, list[float]] = {name: [] for name in bodies}
        async with app.router.lifespan_context(app):
            for _ in range(20):
                for b in bodies.values():
                    await lvb.asgi_post(app, b)
            # the garbage collector as `complaintdesk serve` sets it (start-up objects frozen, fewer collections):
            # without it, every module the tree imports makes each collection of a request slower
            from services.cli.main import _tune_gc

            _tune_gc()
            if args.wait_for_go:  # fixtures and warm-up done: time only when the other tree is ready too
                print("READY", flush=True)
                sys.stdin.readline()
            for _ in range(args.iterations):
                for name, b in bodies.items():
                    t0 = time.process_time()
                    status, out = await lvb.asgi_post(app, b)
                    times[name].append((time.process_time() - t0) * 1000)
                    if status != 200 or b'"errors"' in out:
                        raise RuntimeError(f"{name}: {status} {out[:300]!r}")
        await dispose_engine()
        return {name: statistics.median(v) for name, v in times.items()}

    asyncio.run(lvb._admin(server_url, f'CREATE DATABASE "{lvb.DB_NAME}"'))
    try:
        print(json.dumps(asyncio.run(run())))
    finally:
        asyncio.run(lvb._admin(server_url, f'DROP DATABASE IF EXISTS "{lvb.DB_NAME}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
