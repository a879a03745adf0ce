"""/healthz and /readyz, against a real `complaintdesk serve` process and a PostgreSQL we stop and start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ROOT

from services.cli.embedded import EmbeddedPostgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


class Served:
    def __init__(self, database_url: str, redis_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("complaintdesk")
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        _wait_http(self.base + "/healthz")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10.0)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Any]:
    started: list[Served] = []

    def start(database_url: str, redis_url: str) -> Served:
        s = Served(database_url, redis_url)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def test_readyz_follows_postgres_down_and_back(servers: dict[str, str], served: Any,
                                               tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    try:
        api = served(url, servers["redis_url"])
        assert api.get("/healthz").json() == {"status": "ok"}
        ready = api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}

        pg.stop()
        down = api.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable", "checks": {"postgres": "unreachable", "redis": "ok"}}
        assert api.get("/healthz").status_code == 200  # the process itself is fine

        assert pg.start() == url
        deadline = time.monotonic() + 20
        while (back := api.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert back.status_code == 200
        assert back.json()["checks"] == {"postgres": "ok", "redis": "ok"}
    finally:
        pg.stop()


def test_readyz_names_redis_when_it_is_unreachable(servers: dict[str, str], served: Any) -> None:
    closed = _free_port()  # nothing listens there
    api = served(servers["database_url"], f"redis://127.0.0.1:{closed}/0")
    down = api.get("/readyz")
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable", "checks": {"postgres": "ok", "redis": "unreachable"}}
