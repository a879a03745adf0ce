"""t0013b on a tenant that exists (at t0012) with users: each gets the IN_APP preference, nothing else is allowed;
downgrade drops the column."""

from __future__ import annotations

import uuid

import pytest
from helpers import rows
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")


async def test_existing_users_get_in_app_and_downgrade_drops_it() -> None:
    slug = f"mig13b-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'retail', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0012")
        await conn.execute(text(f'INSERT INTO "{schema}".users (id, email, display_name, roles) VALUES '
                                "(gen_random_uuid(), 'old@test.example', 'old', '{receiver}')"))
    try:
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0013b")
        assert [(r.email, r.notification_preference) for r in await rows(
            f'SELECT email, notification_preference FROM "{schema}".users')] == [("old@test.example", "IN_APP")]
        with pytest.raises(IntegrityError):
            async with get_engine().begin() as conn:
                await conn.execute(text(f"UPDATE \"{schema}\".users SET notification_preference = 'LOUD'"))
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await rows("SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND table_name = 'users' "
                          "AND column_name = 'notification_preference'", s=schema) == []
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "-1")  # type: ignore[arg-type]
