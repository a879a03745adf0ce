"""The long crash-injection run: tests/api/test_crash_injection.py with 200 trials (the suite runs 20).

    .venv/bin/python bench/crash_injection.py [--trials 200]

Each trial: two ``recordComplaint`` and a step sent at once to a real API process, SIGKILLed a random moment
later, a new one started; then the invariants of the test (complainant, audit event, status = last audit event,
deadlines planned, a wake-up per open deadline, gap-free numbers, the audit chain verifies, nothing acknowledged
lost). Prints the test's figures: answered and cut-off requests, complaints acknowledged, start-up times.
Exit status: pytest's. Needs PostgreSQL and Redis like the tests.
"""

from __future__ import annotations

import argparse
import sys

from _long_suite import run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    status, took, figures = run("tests/api/test_crash_injection.py",
                                {"COMPLAINTDESK_CRASH_TRIALS": str(args.trials)}, "COMPLAINTDESK_CRASH_STATS")
    print(f"\n{figures or 'no figures (the test failed before the end)'}; invariants: "
          f"{'all hold' if status == 0 else 'see the failure above'} ({took:.0f} s with set-up)")
    return status


if __name__ == "__main__":
    sys.exit(main())
