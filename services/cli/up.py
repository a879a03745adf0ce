"""`complaintdesk up`: embedded servers, migrations, the demo tenant, the API and a worker."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import click

from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from services.core.config import reset_settings

logger = logging.getLogger("complaintdesk.up")


async def _prepare() -> tuple[Any, bool]:
    from services.core.db import dispose_engine
    from tenants.demo import ensure_demo_tenant
    from tenants.provision import migrate_all

    def progress(index: int, total: int, result: Any) -> None:
        state = "FAILED " + result.error if result.error else (result.after or "?")
        click.echo(f"  migrate [{index}/{total}] {result.slug}: {state}")

    try:
        await migrate_all(on_progress=progress)
        return await ensure_demo_tenant()
    finally:
        await dispose_engine()


def run_up(*, host: str, port: int, data_dir: Path, threads: int, started: float) -> None:
    import uvicorn

    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    worker: Any = None
    try:
        if not os.environ.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(data_dir / "postgres")
            click.echo(f"starting embedded PostgreSQL in {postgres.data_dir}")
            os.environ["DATABASE_URL"] = postgres.start()
        if not os.environ.get("REDIS_URL"):
            redis = EmbeddedRedis(data_dir / "redis")
            click.echo(f"starting embedded Redis in {redis.data_dir}")
            os.environ["REDIS_URL"] = redis.start()
        reset_settings()
        demo, created = asyncio.run(_prepare())

        from services.api.app import create_app
        from services.worker.runner import WorkerProcess
        from tenants.demo import DEMO_USERS

        worker = WorkerProcess(threads=threads)
        worker.start()
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host=host, port=port, log_config=None, server_header=False)
        )
        url = f"http://{host}:{port}/graphql"
        lines = [
            "",
            f"complaintdesk is up in {time.monotonic() - started:.1f}s"
            + (" (demo tenant created)" if created else " (existing data reused)"),
            f"  GraphQL:  {url}   (GraphiQL in a browser)",
            f"  tenant:   send the header  X-Tenant: {demo.slug}",
            "  staff:    send the header  X-User: <e-mail> (until token sign-in lands); demo users:",
            *[f"    {u.email:<28} {', '.join(u.roles)}" for u in DEMO_USERS],
            f"  health:   http://{host}:{port}/healthz   readiness: http://{host}:{port}/readyz",
            "  Ctrl-C stops everything.",
            "",
        ]
        click.echo("\n".join(lines))
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("stopping")
        if worker is not None:
            worker.stop()
        from services.worker.broker import close_broker

        close_broker()
        if redis is not None:
            redis.stop()
            logger.info("embedded Redis stopped")
        if postgres is not None:
            postgres.stop()
            logger.info("embedded PostgreSQL stopped")
        click.echo("stopped")
