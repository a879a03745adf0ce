"""/healthz and /readyz, against a real `complaintdesk serve` process and a PostgreSQL we stop and start."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from helpers import free_port

from services.cli.embedded import EmbeddedPostgres


def test_readyz_follows_postgres_down_and_back(servers: dict[str, str], served: Any,
                                               private_dir: Path) -> None:
    pg = EmbeddedPostgres(private_dir / "pg")
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
    closed = free_port()  # nothing listens there
    api = served(servers["database_url"], f"redis://127.0.0.1:{closed}/0")
    down = api.get("/readyz")
    assert down.status_code == 503
    assert down.json() == {"status": "unavailable", "checks": {"postgres": "ok", "redis": "unreachable"}}
