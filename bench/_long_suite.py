"""Run one of the suite's reliability tests in its long version (more examples, more trials) and return its figures.

The test reads its size from an environment variable and writes its figures to the file named by another; this
runs pytest on it in a child process (its own test database and tenant, like the suite) and hands both back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(test: str, env: dict[str, str], stats_variable: str) -> tuple[int, float, str]:
    """(pytest's exit status, seconds taken, the figures the test wrote or '')."""
    with tempfile.TemporaryDirectory() as folder:
        stats_file = Path(folder) / "stats"
        full = {**os.environ, **env, stats_variable: str(stats_file)}
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
                               test], cwd=ROOT, env=full, check=False)
        took = time.monotonic() - start
        return done.returncode, took, stats_file.read_text() if stats_file.exists() else ""
