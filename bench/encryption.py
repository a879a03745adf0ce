"""Encryption at rest: what sealed fields cost the list query, and how fast a data-key rotation re-encrypts.

    .venv/bin/python bench/encryption.py [--rows 50] [--complaints 2000] [--iterations 200]

One sitting, in one process (ratios, not absolute figures, are what to compare on a noisy machine):

1. The complaints list through the real app (ASGI, no sockets), ``--rows`` rows, signed in as the complaint
   desk (who sees identities unmasked): the same page with the sealed fields (description and the five
   complainant fields: seven decryptions and one subject-key unwrap per row) against the page with as many
   plain fields instead, alternating the two, median CPU ms of ``--iterations`` each. Also the issue-3 list
   (no sealed field selected: nothing is decrypted, the ciphertexts ride along unread) and one decryption.
2. A data-key rotation of a tenant with ``--complaints`` complaints (each: complaint, complainant, audit
   event, so about three rows each), batches of 500: rows re-encrypted per second, alone, then again while
   a reader loads the list in a loop (its latency during the rotation against before).

Creates its own database (dropped at the end) like bench/list_vs_bare.py, whose set-up it reuses.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import list_vs_bare as lvb  # noqa: E402
import orjson  # noqa: E402

BASE = ("id number status title createdAt owner { id displayName } responsibleDepartment { id name } "
        "category { id name }")
SEALED = f"{BASE} description complainant {{ name phone email idNumber address }}"
PLAIN = f"{BASE} orderNumber materialNumber channel scope litigation updatedAt"


def body(fields: str, rows: int) -> bytes:
    query = f"query L($n:Int!){{ complaints(first:$n){{ edges {{ node {{ {fields} }} }} }} }}"
    return orjson.dumps({"query": query, "variables": {"n": rows}})


async def cpu_ms(app: Any, payload: bytes) -> float:
    t0 = time.process_time()
    status, out = await lvb.asgi_post(app, payload)
    spent = (time.process_time() - t0) * 1000
    if status != 200 or b'"errors"' in out:
        raise RuntimeError(f"the list query failed: {status} {out[:300]!r}")
    return spent


async def list_overhead(rows: int, iterations: int) -> list[str]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from services.api.app import create_app
    from services.cli.main import _tune_gc
    from services.core.crypto.fields import aad, open_sealed, seal
    from services.core.crypto.keys import get_keyring
    from services.core.db import dispose_engine

    app = create_app()
    out = []
    _tune_gc()  # as `complaintdesk serve` does
    async with app.router.lifespan_context(app):
        sealed, plain, bare = body(SEALED, rows), body(PLAIN, rows), body(BASE, rows)
        for payload in (sealed, plain, bare):  # warm the caches
            for _ in range(20):
                await cpu_ms(app, payload)
        times: dict[str, list[float]] = {"sealed": [], "plain": [], "base": []}
        for _ in range(iterations):
            times["sealed"].append(await cpu_ms(app, sealed))
            times["plain"].append(await cpu_ms(app, plain))
            times["base"].append(await cpu_ms(app, bare))
        med = {k: statistics.median(v) for k, v in times.items()}
        ring = await get_keyring(lvb.SLUG)
        value = ("The kettle bought last week leaks from the base. " * 4).encode()
        blob = seal(ring, value, aad(ring.tenant, "complaints", "description", "x"))
        n = 20_000
        t0 = time.perf_counter()
        for _ in range(n):
            open_sealed(ring, blob, aad(ring.tenant, "complaints", "description", "x"))
        one = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for _ in range(n):
            AESGCM(b"k" * 32)
        construct = (time.perf_counter() - t0) / n * 1e6
    await dispose_engine()
    ratio = med["sealed"] / med["plain"]
    out.append(f"list of {rows} rows, median CPU ms per request over {iterations} alternating requests each:")
    out.append(f"  with sealed fields (description + complainant x5): {med['sealed']:7.2f}")
    out.append(f"  with as many plain fields instead:                 {med['plain']:7.2f}")
    out.append(f"  ratio sealed / plain: {ratio:.3f}  (overhead {100 * (ratio - 1):+.1f}%, goal under +10%), "
               f"{(med['sealed'] - med['plain']) / rows * 1000:.1f} us per row")
    out.append(f"  the issue-3 list (no sealed field selected):       {med['base']:7.2f}")
    out.append(f"  one decryption (200-byte value, AES-256-GCM + AAD): {one:.1f} us; "
               f"building an AESGCM key object (per subject key): {construct:.1f} us")
    return out


async def rotation(readers: bool) -> list[str]:
    from services.api.app import create_app
    from services.core.crypto.keys import forget_keyring
    from services.core.crypto.rotation import run_data_rotation, start_data_rotation
    from services.core.db import dispose_engine

    app = create_app()
    latencies: list[float] = []
    stop = asyncio.Event()
    payload = body(SEALED, 50)

    async def reader() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            status, out = await lvb.asgi_post(app, payload)
            if status != 200 or b'"errors"' in out:
                raise RuntimeError(f"a read failed during the rotation: {out[:300]!r}")
            latencies.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0)

    async with app.router.lifespan_context(app):
        baseline: list[float] = []
        if readers:
            for _ in range(30):
                t0 = time.perf_counter()
                await lvb.asgi_post(app, payload)
                baseline.append((time.perf_counter() - t0) * 1000)
        forget_keyring()
        info, _ = await start_data_rotation(lvb.SLUG, started_by="bench")
        task = asyncio.create_task(reader()) if readers else None
        t0 = time.perf_counter()
        done = await run_data_rotation(info.id, batch=500)
        seconds = time.perf_counter() - t0
        stop.set()
        if task is not None:
            await task
    await dispose_engine()
    assert done is not None and done.state == "done"
    line = (f"rotation v{done.from_version} -> v{done.to_version}: {done.rows_done} rows in {seconds:.2f} s = "
            f"{done.rows_done / seconds:,.0f} rows/s")
    if readers:
        line += (f" while a reader ran ({len(latencies)} list requests of 50 sealed rows, p50 "
                 f"{statistics.median(latencies):.1f} ms during vs {statistics.median(baseline):.1f} ms before)")
    else:
        line += " (nothing else running)"
    return [line]


def before_and_after(ref: str, rounds: int, iterations: int, rows: int, server_url: str) -> list[str]:
    """The same list queries on the tree at ``ref`` (before encryption at rest) and on this tree, alternately."""
    import json
    import subprocess
    import tempfile

    queries = {"sealed": SEALED, "list": BASE}
    args = [f"--iterations={iterations}", f"--rows={rows}", "--also-rows=1",
            *(f"--query={k}={v}" for k, v in queries.items())]
    names = [*queries, *(f"{k}@1" for k in queries)]
    results: dict[str, dict[str, list[float]]] = {"before": {k: [] for k in names}, "after": {k: [] for k in names}}
    with tempfile.TemporaryDirectory(prefix="cd-bench-ref-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref], check=True,
                       capture_output=True)
        try:
            for _ in range(rounds):
                # both trees at the same time, so that whatever else the machine does weighs on both alike
                children = {
                    label: subprocess.Popen(
                        [sys.executable, str(ROOT / "bench" / "_list_timing.py"), f"--root={root}", "--wait-for-go",
                         *args],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        env={**os.environ, "DATABASE_URL": server_url})
                    for label, root in (("before", tree), ("after", ROOT))
                }
                # both build their fixtures, then time at the same moment: what else the machine does (and
                # the other child) weighs on both alike
                for label, child in children.items():
                    assert child.stdout is not None
                    line = child.stdout.readline()
                    if line.strip() != "READY":
                        detail = child.stderr.read() if child.stderr else ""
                        raise RuntimeError(f"{label} timing failed: {line}{detail}")
                for child in children.values():
                    assert child.stdin is not None
                    child.stdin.write("go\n")
                    child.stdin.flush()
                for label, child in children.items():
                    out, err = child.communicate()
                    if child.returncode != 0:
                        raise RuntimeError(f"{label} timing failed: {err[-2000:]}")
                    for name, ms in json.loads(out.strip().splitlines()[-1]).items():
                        results[label][name].append(ms)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False,
                           capture_output=True)
    med = {label: {k: statistics.median(v) for k, v in r.items()} for label, r in results.items()}
    what = ", plaintext columns" if ref == BEFORE_ENCRYPTION else ""
    out = [f"before ({ref}{what}) and after (this tree), side by side, {rounds} rounds of "
           f"{iterations} requests, {rows} rows, median CPU ms per request (median of the rounds):"]
    for name, label in (("sealed", "description + complainant x5"), ("list", "the issue-3 list")):
        ratio = med["after"][name] / med["before"][name]
        out.append(f"  {label:30s} before {med['before'][name]:6.2f}  after {med['after'][name]:6.2f}  "
                   f"ratio {ratio:.3f} ({100 * (ratio - 1):+.1f}%, goal under +10%), "
                   f"{(med['after'][name] - med['before'][name]) / rows * 1000:+.1f} us a row")
    # the resolver path's cost per row in each tree: the slope between a 1-row and a ``rows``-row page
    slope = {label: {k: (med[label][k] - med[label][f"{k}@1"]) / max(rows - 1, 1) * 1000 for k in queries}
             for label in med}
    out.append(f"  per row (the {rows}-row page less the 1-row page, / {rows - 1}): sealed list before "
               f"{slope['before']['sealed']:.1f} us, after {slope['after']['sealed']:.1f} us; issue-3 list before "
               f"{slope['before']['list']:.1f} us, after {slope['after']['list']:.1f} us; fixed (1-row page) sealed "
               f"{med['before']['sealed@1']:.2f} / {med['after']['sealed@1']:.2f} ms")
    # what the six fields cost a row in each tree (the sealed page less the issue-3 page of the same tree), and so
    # what sealing adds to a row, apart from whatever else the tree gained since ``ref`` (seen on the issue-3 list)
    per_row = {label: (med[label]["sealed"] - med[label]["list"]) / rows * 1000 for label in med}
    added = per_row["after"] - per_row["before"]
    out.append(f"  per row, description + complainant x5 over the issue-3 list: before {per_row['before']:.1f} us, "
               f"after {per_row['after']:.1f} us: sealing adds {added:.1f} us a row "
               f"({100 * added * rows / 1000 / med['before']['sealed']:+.1f}% of the plaintext page); the rest of "
               f"the ratio is the issue-3 list's own {100 * (med['after']['list'] / med['before']['list'] - 1):+.1f}%")
    return out


async def sitting(args: argparse.Namespace) -> int:
    started = time.monotonic()
    await lvb.load_fixtures(args.complaints)
    await lvb.mint_token()
    print(f"fixtures: tenant {lvb.SLUG}, {args.complaints} complaints ({time.monotonic() - started:.1f} s)")
    for line in await list_overhead(args.rows, args.iterations):
        print(line)
    # from here on: the fresh tenant may rotate at once (production waits for the key cache period, 30 s,
    # between rotations); every list timing above ran with the production cache period
    os.environ["COMPLAINTDESK_KEY_CACHE_SECONDS"] = "0"
    for readers in (False, True):
        for line in await rotation(readers):
            print(line)
    return 0


BEFORE_ENCRYPTION = "693fc59"  # the list fast path (branch perf), before encryption at rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--baseline-ref", default=BEFORE_ENCRYPTION, help="git ref of the tree before encryption")
    parser.add_argument("--rounds", type=int, default=3, help="alternating before/after rounds")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the before/after comparison")
    args = parser.parse_args(argv)
    server_url = lvb._plain_url(os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
    from services.core.auth.tokens import generate_private_key_pem, reset_keyring
    from services.core.config import reset_settings
    from services.core.crypto.master import generate_master_key, reset_master_keys

    os.environ.pop("COMPLAINTDESK_MASTER_KEY_FILE", None)
    os.environ.update(DATABASE_URL=lvb._with_database(server_url, lvb.DB_NAME),
                      REDIS_URL=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
                      COMPLAINTDESK_QUEUE_NAMESPACE=f"cdbench-{lvb.RUN_ID}", COMPLAINTDESK_ENV="production",
                      COMPLAINTDESK_JWT_SIGNING_KEY=generate_private_key_pem().decode(),
                      COMPLAINTDESK_MASTER_KEY=generate_master_key())
    reset_keyring()
    reset_master_keys()
    reset_settings()
    if not args.skip_baseline:
        for line in before_and_after(args.baseline_ref, args.rounds, args.iterations, args.rows, server_url):
            print(line, flush=True)
    asyncio.run(lvb._admin(server_url, f'CREATE DATABASE "{lvb.DB_NAME}"'))
    try:
        return asyncio.run(sitting(args))
    finally:
        asyncio.run(lvb._admin(server_url, f'DROP DATABASE IF EXISTS "{lvb.DB_NAME}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main())
