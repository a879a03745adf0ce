"""`complaintdesk up`: embedded servers, migrations, the demo tenant, the API and a worker (production mode
unless `--dev`).

On its first start it makes a JWT signing key and the demo credentials (one password for
every demo user, one for the demo operator) in its data folder, and reuses them afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import click

from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from services.core.config import get_settings, reset_settings

logger = logging.getLogger("complaintdesk.up")

KEY_FILE = "jwt-signing-key.pem"
MASTER_KEY_FILE = "master-key"
CREDENTIALS_FILE = "demo-credentials.json"


def _signing_key(data_dir: Path) -> None:
    """The environment's key if it names one; else the data folder's, made on the first start."""
    from services.core.auth import tokens

    if tokens.signing_key_configured():
        click.echo("JWT signing key: from the environment")
    else:
        path = data_dir / KEY_FILE
        created = tokens.ensure_key_file(path)
        os.environ[tokens.ENV_KEY_FILE] = str(path)
        click.echo(f"JWT signing key: {'created' if created else 'reused'} {path}")
    tokens.reset_keyring()


def _master_key(data_dir: Path) -> None:
    """The environment's master key if it names one; else the data folder's, made on the first start."""
    from services.core.crypto import master

    if any(os.environ.get(v, "").strip() for v in (master.ENV_KEY, master.ENV_KEY_FILE, master.ENV_PROVIDER)):
        click.echo("master key: from the environment")
    else:
        path = data_dir / MASTER_KEY_FILE
        created = master.ensure_key_file(path)
        os.environ[master.ENV_KEY_FILE] = str(path)
        click.echo(f"master key: {'created' if created else 'reused'} {path} (keep it: without it nothing "
                   f"encrypted can be read)")
    master.reset_master_keys()


def _demo_credentials(data_dir: Path) -> tuple[dict[str, str], bool]:
    """The demo passwords kept in the data folder (made on the first start); returns (them, just made)."""
    path = data_dir / CREDENTIALS_FILE
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(kept, dict) and all(isinstance(kept.get(k), str) for k in ("staff", "operator")):
            return {"staff": kept["staff"], "operator": kept["operator"]}, False
    except (OSError, ValueError):
        pass
    made = {"staff": secrets.token_urlsafe(12), "operator": secrets.token_urlsafe(12)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(made, out)
    return made, True


async def _prepare(credentials: dict[str, str], new_credentials: bool) -> tuple[Any, bool]:
    from services.core.db import dispose_engine
    from tenants.demo import ensure_demo_operator, ensure_demo_tenant, set_demo_passwords
    from tenants.provision import migrate_all

    def progress(index: int, total: int, result: Any) -> None:
        state = "FAILED " + result.error if result.error else (result.after or "?")
        click.echo(f"  migrate [{index}/{total}] {result.slug}: {state}")

    try:
        from services.core.crypto.keys import verify_master_key

        await migrate_all(on_progress=progress)
        await verify_master_key()
        demo, created = await ensure_demo_tenant(credentials["staff"])
        if not created and new_credentials:  # the data folder lost its credentials; the database kept the tenant
            await set_demo_passwords(credentials["staff"])
        await ensure_demo_operator(credentials["operator"], reset=new_credentials)
        return demo, created
    finally:
        await dispose_engine()


def run_up(*, host: str, port: int, data_dir: Path, threads: int, started: float) -> None:
    import uvicorn

    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    worker: Any = None
    try:
        if not os.environ.get("DATABASE_URL") and not os.environ.get("DATABASE_URL_FILE"):
            postgres = EmbeddedPostgres(data_dir / "postgres")
            click.echo(f"starting embedded PostgreSQL in {postgres.data_dir}")
            os.environ["DATABASE_URL"] = postgres.start()
        if not os.environ.get("REDIS_URL") and not os.environ.get("REDIS_URL_FILE"):
            redis = EmbeddedRedis(data_dir / "redis")
            click.echo(f"starting embedded Redis in {redis.data_dir}")
            os.environ["REDIS_URL"] = redis.start()
        reset_settings()
        _signing_key(data_dir)
        _master_key(data_dir)
        credentials, new_credentials = _demo_credentials(data_dir)
        demo, created = asyncio.run(_prepare(credentials, new_credentials))

        from services.cli.app import create_app
        from services.worker.runner import WorkerProcess
        from tenants.demo import DEMO_OPERATOR, DEMO_USERS

        worker = WorkerProcess(threads=threads, sweep_interval=2.0)
        worker.start()
        server = uvicorn.Server(
            uvicorn.Config(create_app(), host=host, port=port, log_config=None, server_header=False,
                           loop="uvloop", http="httptools",
                           proxy_headers=False)  # the app decides whom to believe (COMPLAINTDESK_TRUSTED_PROXIES)
        )
        url = f"http://{host}:{port}/graphql"
        development = get_settings().development
        lines = [
            "",
            f"complaintdesk is up in {time.monotonic() - started:.1f}s"
            + (" (demo tenant created)" if created else " (existing data reused)"),
            "  mode:     " + ("development (GraphiQL, introspection and suggestions on)" if development else
                              f"{get_settings().environment} (use --dev for GraphiQL and introspection)"),
            f"  console:  http://{host}:{port}/   (sign in: tenant {demo.slug}, a demo user below; customers: "
            f"http://{host}:{port}/p/{demo.slug})",
            f"  GraphQL:  {url}" + ("   (GraphiQL in a browser)" if development else ""),
            f"  sign in:  mutation {{ login(input: {{tenant: \"{demo.slug}\", email: \"<e-mail>\", "
            f"password: \"<password>\"}}) {{ accessToken refreshToken }} }}",
            "            then send  Authorization: Bearer <accessToken>  (the token names the tenant)",
            f"  public:   operations without sign-in send  X-Tenant: {demo.slug}",
            f"  staff:    every demo user's password is  {credentials['staff']}",
            *[f"    {u.email:<28} {', '.join(u.roles)}" for u in DEMO_USERS],
            f"  operator: {DEMO_OPERATOR} / {credentials['operator']}   (operatorLogin; createTenant, suspendTenant, "
            "resumeTenant)",
            f"  the passwords are kept in {data_dir / CREDENTIALS_FILE}",
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
