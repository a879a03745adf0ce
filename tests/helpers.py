"""Helpers shared by tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.core.db import get_engine

ROOT = Path(__file__).resolve().parent.parent


def raw_id(global_id: str) -> uuid.UUID:
    """The row id inside a global ID (base64 of ``Type:uuid``)."""
    return uuid.UUID(base64.b64decode(global_id).decode().split(":", 1)[1])


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `complaintdesk` command as a user would (``stdin``: what is typed into it)."""
    exe = Path(sys.executable).with_name("complaintdesk")
    return subprocess.run(
        [str(exe), *args], input=stdin, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env={**os.environ, **(env or {})}, check=False,
    )


@asynccontextmanager
async def raw() -> AsyncIterator[AsyncConnection]:
    """A plain connection (no tenant binding), for checking what is really in the database."""
    async with get_engine().connect() as conn:
        yield conn


async def scalar(sql: str, **params: Any) -> Any:
    async with raw() as conn:
        return await conn.scalar(text(sql), params)


async def execute(sql: str, **params: Any) -> int:
    """Run one statement and commit it (a fixture, or tampering in a test); returns the rows it touched."""
    async with get_engine().begin() as conn:
        return int((await conn.execute(text(sql), params)).rowcount)


async def rows(sql: str, **params: Any) -> list[Any]:
    async with raw() as conn:
        return list((await conn.execute(text(sql), params)).all())


def drain(timeout_ms: int = 15_000) -> None:
    """Wait until the run's queue is empty and a worker has finished what it took."""
    from services.worker.broker import get_broker

    get_broker().join("default", timeout=timeout_ms)


def start_worker(redis_url: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`complaintdesk worker` (one thread, a sweep every 0.1 s) on ``redis_url`` under a queue namespace of its
    own, its output appended to ``log``; ``env``: more variables."""
    exe = Path(sys.executable).with_name("complaintdesk")
    full = {**os.environ, "REDIS_URL": redis_url, "COMPLAINTDESK_QUEUE_NAMESPACE": f"cdw-{uuid.uuid4().hex[:6]}",
            "COMPLAINTDESK_LOG_LEVEL": "WARNING", **env}
    with log.open("ab") as out:
        return subprocess.Popen([str(exe), "worker", "--threads", "1", "--sweep-interval", "0.1"], cwd=ROOT,
                                env=full, stdout=out, stderr=subprocess.STDOUT)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


class Served:
    """`complaintdesk serve` in a process of its own, on ``database_url`` and ``redis_url``; its output kept."""

    def __init__(self, database_url: str, redis_url: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("complaintdesk")
        full = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **env}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=full, stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_http(self.base + "/healthz")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10.0)

    def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        # in English unless the test asks otherwise (no Accept-Language at all: the tenant's default, zh-CN)
        return httpx.post(self.base + "/graphql", json={"query": query, "variables": variables or {}},
                          headers={"accept-language": "en", **headers}, timeout=30.0)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def start_api(log: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    """`complaintdesk serve` on a loopback ``port`` (this run's database, keys and queues unless ``env`` says
    otherwise), its output appended to ``log``. ``wait_ready`` waits for it."""
    exe = Path(sys.executable).with_name("complaintdesk")
    with log.open("ab") as out:
        return subprocess.Popen([str(exe), "serve", "--port", str(port)], cwd=ROOT,
                                env={**os.environ, "COMPLAINTDESK_LOG_LEVEL": "WARNING", **env},
                                stdout=out, stderr=subprocess.STDOUT)


def wait_ready(url: str, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> float:
    """Wait until ``url``/healthz answers 200 (the process ``proc`` must not exit meanwhile); seconds waited."""
    import time

    import httpx

    start = time.monotonic()
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the API process exited with {proc.returncode}")
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{url} not ready in {timeout_s} s")
        time.sleep(0.05)


async def server_pg_dump() -> Path:
    """The ``pg_dump`` of the test server's own major version: the one shipped with the embedded server (pgserver),
    the machine's ``/usr/lib/postgresql/<major>/bin``, or the one on PATH, whichever matches. None matching fails
    the test: a scan that silently skips proves nothing."""
    import re
    import shutil

    import pgserver

    major = int(await scalar("SHOW server_version_num")) // 10000
    candidates = [Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump",
                  Path(f"/usr/lib/postgresql/{major}/bin/pg_dump")]
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path))
    seen = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        version = subprocess.run([str(candidate), "--version"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout
        found = re.search(r"\) (\d+)", version)
        seen.append(f"{candidate}: {version.strip()}")
        if found and int(found.group(1)) == major:
            return candidate
    import pytest

    pytest.fail(f"no pg_dump of the server's major version {major}; found: {seen or 'none'}")
