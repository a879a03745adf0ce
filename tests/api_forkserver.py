"""A fork server of API processes, for tests that kill the API many times (tests/api/test_crash_injection.py).

`complaintdesk serve` spends seconds importing and checking before it listens; killed and restarted 200 times,
that is most of a test's time. This process does that part once (the same checks as `serve`: settings, signing
key, master key; then the same collector tuning), then forks one API process per line it reads on stdin (a port):
each child runs what `serve` runs, ``uvicorn.run("services.cli.app:create_app", factory=True, ...)`` on
127.0.0.1:<port>, a real process of its own that a test may SIGKILL. The child's pid is written to stdout. No
connection or event loop exists before the fork (the master-key check disposes of its engine).
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    import uvicorn

    import services.cli.app  # noqa: F401  (imported once, before the forks)
    from services.cli import main as cli

    cli._setup_logging()
    cli._require_settings()
    cli._require_signing_key()
    cli._require_master_key()
    cli._tune_gc()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped by the kernel
    for line in sys.stdin:
        port = int(line)
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            uvicorn.run("services.cli.app:create_app", factory=True, host="127.0.0.1", port=port, log_config=None,
                        proxy_headers=True, server_header=False, loop="uvloop", http="httptools")
            os._exit(0)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
