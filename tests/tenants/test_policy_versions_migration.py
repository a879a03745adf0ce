"""t0012 on a tenant that exists (at t0008) with rules of its own: they become its policy version 1 (SEED), so
the set in force before the upgrade can be restored later; downgrade drops the versions, the rules stay."""

from __future__ import annotations

import uuid

import pytest
from helpers import rows
from sqlalchemy import text

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")


async def test_existing_rules_become_version_one() -> None:
    slug = f"mig12-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'bank', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0008")
        # the tenant changed its rules before versions existed: the template's, minus one, plus one of its own
        await conn.execute(text(f"DELETE FROM \"{schema}\".policy_rules WHERE v0 = 'receiver' "
                                "AND v2 = 'complaint.route'"))
        await conn.execute(text(f"INSERT INTO \"{schema}\".policy_rules (ptype, v0, v1, v2, v3, v4) "
                                "VALUES ('p', 'receiver', '*', 'complaint.read', 'any', 'allow')"))
    try:
        kept = [[r.v0, r.v2, r.v3, r.v4] for r in await rows(
            f'SELECT v0, v2, v3, v4 FROM "{schema}".policy_rules ORDER BY id')]
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0012")
        versions = await rows(f'SELECT version, rules, source, created_by FROM "{schema}".policy_versions')
        assert [(v.version, v.rules, v.source, v.created_by) for v in versions] == [(1, kept, "seed", None)]
        assert ["receiver", "complaint.read", "any", "allow"] in kept
        assert ["receiver", "complaint.route", "owner", "allow"] not in kept
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await rows(f"SELECT 1 FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'policy_versions'") \
            == []
        assert [[r.v0, r.v2, r.v3, r.v4] for r in await rows(
            f'SELECT v0, v2, v3, v4 FROM "{schema}".policy_rules ORDER BY id')] == kept
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "-1")  # type: ignore[arg-type]
