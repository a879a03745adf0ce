"""The tenant CLI, run as a user runs it: a real `complaintdesk` process against the test database."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from helpers import rows, run_cli, scalar

from services.core.tenancy import schema_for
from tenants.migrate import tenant_head

pytestmark = pytest.mark.usefixtures("tenants")
HEAD = tenant_head()


async def _schema_exists(schema: str) -> bool:
    return bool(await scalar("SELECT count(*) FROM pg_namespace WHERE nspname = :s", s=schema))


async def _registry_count() -> int:
    return int(await scalar("SELECT count(*) FROM public.tenants"))


async def test_create_list_suspend_resume(own_slug: Callable[[str], str]) -> None:
    slug = own_slug("cli-shop")
    schema = schema_for(slug)
    created = run_cli("tenant", "create", slug, "--name", "CLI Shop", "--template", "bank")
    assert created.returncode == 0, created.stderr
    assert f"created tenant {slug} (bank) in schema {schema} at {HEAD}" in created.stdout
    assert await _schema_exists(schema)
    # the template's org units were seeded in the same transaction
    assert await scalar(f"SELECT count(*) FROM {schema}.org_units WHERE code = 'CP'") == 1

    listed = run_cli("tenant", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entry = {t["slug"]: t for t in json.loads(listed.stdout)}[slug]
    assert entry["display_name"] == "CLI Shop"
    assert entry["status"] == "active"
    assert entry["template"] == "bank"
    assert entry["schema_revision"] == HEAD
    assert entry["created_at"]

    table = run_cli("tenant", "list")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split()[:4] == ["SLUG", "STATUS", "TEMPLATE", "REVISION"]

    suspended = run_cli("tenant", "suspend", slug)
    assert suspended.returncode == 0 and "is now suspended" in suspended.stdout
    again = run_cli("tenant", "suspend", slug)
    assert again.returncode == 0 and "was already suspended" in again.stdout
    assert await scalar("SELECT status FROM public.tenants WHERE slug = :s", s=slug) == "suspended"

    resumed = run_cli("tenant", "resume", slug)
    assert resumed.returncode == 0 and "is now active" in resumed.stdout
    assert await scalar("SELECT status FROM public.tenants WHERE slug = :s", s=slug) == "active"


@pytest.mark.parametrize(
    "slug",
    ["Bad", "a", "ab", "9lives", "has_underscore", "trailing-", "double--hyphen", "x" * 33, "public",
     "www", "semi;colon", "tenant\"quote", "ünï", "-lead"],
)
async def test_bad_slug_refused_and_nothing_created(slug: str) -> None:
    before = await _registry_count()
    schemas_before = await scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant%'")
    result = run_cli("tenant", "create", "--", slug)
    assert result.returncode == 1
    assert "[TENANT_INVALID]" in result.stderr
    assert await _registry_count() == before
    assert await scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant%'") == schemas_before


async def test_duplicate_slug_refused_and_nothing_changed() -> None:
    snapshot = await rows("SELECT slug, display_name, template, created_at FROM public.tenants ORDER BY slug")
    result = run_cli("tenant", "create", "alpha", "--name", "Impostor", "--template", "bank")
    assert result.returncode == 1
    assert "tenant 'alpha' already exists [TENANT_EXISTS]" in result.stderr
    assert await rows("SELECT slug, display_name, template, created_at FROM public.tenants ORDER BY slug") == snapshot
    # the existing schema kept its own data: still the retail template's units, none of the bank's
    assert await scalar("SELECT count(*) FROM tenant_alpha.org_units WHERE code = 'CP'") == 0


async def test_unknown_template_refused(own_slug: Callable[[str], str]) -> None:
    slug = own_slug("tmpl")
    before = await _registry_count()
    result = run_cli("tenant", "create", slug, "--template", "hospital")
    assert result.returncode == 1
    assert "[TEMPLATE_UNKNOWN]" in result.stderr
    assert await _registry_count() == before
    assert not await _schema_exists(schema_for(slug))


async def test_suspend_unknown_tenant() -> None:
    result = run_cli("tenant", "suspend", "no-such-tenant")
    assert result.returncode == 1
    assert "unknown tenant 'no-such-tenant' [TENANT_NOT_FOUND]" in result.stderr


async def test_migrate_twice_is_idempotent() -> None:
    first = run_cli("migrate")
    assert first.returncode == 0, first.stderr
    second = run_cli("migrate")
    assert second.returncode == 0, second.stderr
    count = await _registry_count()
    assert f"{count} tenant(s): {count} ok, 0 failed" in second.stdout
    assert f"alpha: up to date ({HEAD})" in second.stdout
    assert f"beta: up to date ({HEAD})" in second.stdout
    assert all(line.startswith(("platform", "[", f"{count} tenant")) for line in second.stdout.splitlines())


async def test_one_failing_tenant_is_rolled_back_and_others_migrate(own_slug: Callable[[str], str]) -> None:
    slug = own_slug("broken")  # dropped when the test ends, broken or repaired
    schema = schema_for(slug)
    created = run_cli("tenant", "create", slug)
    assert created.returncode == 0, created.stderr
    t0001_tables = ["alembic_version", "org_units", "users", "worker_checks"]
    later_tables = [t[0] for t in await rows(
        "SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1", s=schema)
        if t[0] not in t0001_tables]
    assert "audit_events" in later_tables
    # Sabotage: take the schema back to t0001 and leave a table in the way of t0002's last step, so
    # re-running t0002 creates a dozen tables, then fails. The whole tenant must roll back.
    from helpers import raw
    from sqlalchemy import text

    async with raw() as conn:
        await conn.execute(text("DROP TABLE " + ", ".join(f"{schema}.{t}" for t in later_tables)))
        await conn.execute(text(f"ALTER TABLE {schema}.users DROP COLUMN password_hash"))  # t0003's
        await conn.execute(text(f"ALTER TABLE {schema}.users DROP COLUMN notification_preference"))  # t0013b's
        await conn.execute(text(f"ALTER TABLE {schema}.users DROP COLUMN locale"))  # t0015's
        await conn.execute(text(f"UPDATE {schema}.alembic_version SET version_num = 't0001'"))
        await conn.execute(text(f"CREATE TABLE {schema}.audit_events (id int)"))
        await conn.commit()

    result = run_cli("migrate")
    assert result.returncode == 1
    assert f"{slug}: FAILED" in result.stderr
    assert "rolled back" in result.stderr
    assert f"alpha: up to date ({HEAD})" in result.stdout
    assert f"beta: up to date ({HEAD})" in result.stdout
    count = await _registry_count()
    assert f"{count} tenant(s): {count - 1} ok, 1 failed" in result.stdout  # only this one
    # nothing of the failed run stayed behind in that schema
    tables = await rows("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1", s=schema)
    assert [t[0] for t in tables] == sorted([*t0001_tables, "audit_events"])
    assert await scalar(f"SELECT version_num FROM {schema}.alembic_version") == "t0001"

    # repaired, the next migrate completes it
    async with raw() as conn:
        await conn.execute(text(f"DROP TABLE {schema}.audit_events"))
        await conn.commit()
    fixed = run_cli("migrate")
    assert fixed.returncode == 0, fixed.stderr
    assert f"{slug}: t0001 -> {HEAD}" in fixed.stdout
    assert await scalar("SELECT schema_revision FROM public.tenants WHERE slug = :s", s=slug) == HEAD
    tables = await rows("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1", s=schema)
    assert [t[0] for t in tables] == sorted([*t0001_tables, *later_tables])
