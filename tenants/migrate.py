"""Alembic, run programmatically: the platform tree and the per-tenant tree."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

_HERE = Path(__file__).parent / "migrations"
PLATFORM_TREE = _HERE / "platform"
TENANT_TREE = _HERE / "tenant"


def _config(tree: Path, connection: Connection, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(tree))
    cfg.attributes["connection"] = connection
    if schema is not None:
        cfg.attributes["schema"] = schema
    return cfg


def head(tree: Path) -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(tree))
    rev = ScriptDirectory.from_config(cfg).get_current_head()
    assert rev is not None
    return rev


def tenant_head() -> str:
    return head(TENANT_TREE)


def _platform_current(sync: Connection) -> str | None:
    ctx = MigrationContext.configure(sync, opts={"version_table_schema": "public"})
    return ctx.get_current_revision()


async def upgrade_platform(conn: AsyncConnection) -> tuple[str | None, str | None]:
    """Upgrade the platform schema inside the caller's transaction; returns (before, after)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('complaintdesk:migrate:platform'))"))
    before = await conn.run_sync(_platform_current)
    await conn.run_sync(lambda sync: command.upgrade(_config(PLATFORM_TREE, sync), "head"))
    return before, await conn.run_sync(_platform_current)


def _tenant_current(sync: Connection, schema: str) -> str | None:
    ctx = MigrationContext.configure(sync, opts={"version_table_schema": schema})
    return ctx.get_current_revision()


async def upgrade_tenant_schema(conn: AsyncConnection, schema: str, target: str = "head") -> tuple[str | None, str]:
    """Upgrade one tenant schema (to ``target``) inside the caller's transaction; returns (before, after).

    ``schema`` must already be validated (``tenancy.schema_for``).
    """
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('complaintdesk:migrate:' || :schema))"), {"schema": schema}
    )
    before = await conn.run_sync(_tenant_current, schema)
    await conn.run_sync(lambda sync: command.upgrade(_config(TENANT_TREE, sync, schema), target))
    after = await conn.run_sync(_tenant_current, schema)
    assert after is not None
    return before, after
