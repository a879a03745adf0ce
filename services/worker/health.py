"""The worker's small HTTP endpoint for probes and Prometheus (``COMPLAINTDESK_WORKER_HTTP_PORT``; off when unset
or 0; bound to ``COMPLAINTDESK_WORKER_HTTP_HOST``, 127.0.0.1 by default, the chart sets 0.0.0.0):

- ``GET /livez``: 200 while the process's loops are alive: the sweep loop finished a pass (or a failed one) within
  ``LIVENESS_PASSES`` intervals (at least ``LIVENESS_MIN_S``), and the Dramatiq worker threads run. 503 otherwise.
- ``GET /readyz``: 200 while Redis (the broker) and PostgreSQL answer within 2 s each; 503 with which one did not.
- ``GET /metrics``: the Prometheus exposition (``services.core.metrics``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg

from services.core import metrics
from services.core.config import get_settings

logger = logging.getLogger("complaintdesk.worker.health")

PORT_ENV = "COMPLAINTDESK_WORKER_HTTP_PORT"
HOST_ENV = "COMPLAINTDESK_WORKER_HTTP_HOST"
CHECK_TIMEOUT_S = 2.0
LIVENESS_PASSES = 10
LIVENESS_MIN_S = 60.0


class Heartbeat:
    """What /livez reads: the sweep loop beats after each pass; the worker's threads are asked directly."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last_pass: float | None = None
        self.sweep_interval: float | None = None
        self.worker: Any = None  # the dramatiq.Worker, for its threads

    def beat(self) -> None:
        self.last_pass = time.monotonic()

    def alive(self) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        facts: dict[str, Any] = {}
        ok = True
        if self.sweep_interval:
            limit = max(LIVENESS_MIN_S, LIVENESS_PASSES * self.sweep_interval)
            since = now - (self.last_pass if self.last_pass is not None else self.started)
            facts["sweep"] = "ok" if since <= limit else "stalled"
            facts["seconds_since_sweep"] = round(since, 1)
            ok = ok and since <= limit
        if self.worker is not None:
            workers = getattr(self.worker, "workers", [])
            running = sum(1 for w in workers if w.is_alive())
            facts["worker_threads"] = running
            ok = ok and running > 0
        return ok, facts


heartbeat = Heartbeat()


def _check_redis() -> str:
    from services.worker.broker import get_broker

    try:
        client = get_broker().client
        client.ping()
        return "ok"
    except Exception as exc:  # any failure means "not ready"
        logger.warning("readiness: redis unreachable: %s", type(exc).__name__)
        return "unreachable"


def _check_postgres() -> str:
    url = get_settings().database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def ping() -> None:
        conn = await asyncpg.connect(url, timeout=CHECK_TIMEOUT_S)
        try:
            await conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_S)
        finally:
            await conn.close(timeout=CHECK_TIMEOUT_S)

    try:
        asyncio.run(asyncio.wait_for(ping(), CHECK_TIMEOUT_S * 2))
        return "ok"
    except Exception as exc:
        logger.warning("readiness: postgres unreachable: %s", type(exc).__name__)
        return "unreachable"


class _Handler(BaseHTTPRequestHandler):
    server_version = "complaintdesk-worker"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/livez":
            ok, facts = heartbeat.alive()
            self._json(200 if ok else 503, {"status": "ok" if ok else "unavailable", **facts})
        elif path == "/readyz":
            checks = {"redis": _check_redis(), "postgres": _check_postgres()}
            ready = all(v == "ok" for v in checks.values())
            self._json(200 if ready else 503, {"status": "ready" if ready else "unavailable", "checks": checks})
        elif path == "/metrics":
            body, content_type = metrics.render()
            self._send(200, body, content_type)
        else:
            self._json(404, {"status": "not found"})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a line
        return


class HealthServer:
    def __init__(self, host: str, port: int) -> None:
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="complaintdesk-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()
        logger.info("health endpoint on %s:%d (/livez, /readyz, /metrics)", self.httpd.server_address[0], self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def from_environment() -> HealthServer | None:
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw or raw == "0":
        return None
    host = os.environ.get(HOST_ENV, "").strip() or "127.0.0.1"
    return HealthServer(host, int(raw))
