"""The long schemathesis run: tests/api/test_schemathesis.py with more examples per operation.

    .venv/bin/python bench/fuzz_graphql.py [--examples 100]

Runs the suite's test (its own test database and tenant, a real `complaintdesk serve`, ``setPolicies`` left out)
with ``COMPLAINTDESK_FUZZ_EXAMPLES`` examples per operation and prints the figures: requests, operations,
answers by status, answers carrying data, the slowest answer, the time taken. Exit status: pytest's (1 when
a case got a 5xx, an internal error or a leak; the failing document is in pytest's output).
Needs PostgreSQL and Redis like the tests (``DATABASE_URL`` / ``REDIS_URL``, else embedded servers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="examples per operation (the suite: 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stats_file = Path(folder) / "stats.json"
        env = {**os.environ, "COMPLAINTDESK_FUZZ_EXAMPLES": str(args.examples),
               "COMPLAINTDESK_FUZZ_STATS": str(stats_file)}
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
                               "tests/api/test_schemathesis.py"], cwd=ROOT, env=env, check=False)
        took = time.monotonic() - start
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    print(f"\nexamples per operation {args.examples}: {stats.get('requests', 0)} requests over "
          f"{stats.get('operations', 0)} operations in {took:.0f} s")
    print(f"answers by status {stats.get('by_status', {})}, with data {stats.get('with_data', 0)}, "
          f"slowest {stats.get('slowest_s', 0)} s; 5xx / INTERNAL_SERVER_ERROR / leaks: "
          f"{'none' if done.returncode == 0 else 'see the failure above'}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
