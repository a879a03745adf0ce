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
import sys

from _long_suite import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="examples per operation (the suite: 5)")
    args = parser.parse_args()
    status, took, figures = run("tests/api/test_schemathesis.py", {"COMPLAINTDESK_FUZZ_EXAMPLES": str(args.examples)},
                                "COMPLAINTDESK_FUZZ_STATS")
    stats = json.loads(figures) if figures else {}
    print(f"\nexamples per operation {args.examples}: {stats.get('requests', 0)} requests over "
          f"{stats.get('operations', 0)} operations in {took:.0f} s")
    print(f"answers by status {stats.get('by_status', {})}, with data {stats.get('with_data', 0)}, "
          f"slowest {stats.get('slowest_s', 0)} s; 5xx / INTERNAL_SERVER_ERROR / leaks: "
          f"{'none' if status == 0 else 'see the failure above'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
