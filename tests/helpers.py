"""Helpers shared by tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.core.db import get_engine

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `complaintdesk` command as a user would."""
    exe = Path(sys.executable).with_name("complaintdesk")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
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
