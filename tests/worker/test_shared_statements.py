"""The sweep's sessions (``open_tenant_session(shared=True)``): the statement text is the same in every tenant (so
asyncpg's prepared statements carry over), and each tenant still reads only its own tables, through the
transaction's ``search_path``; without that path the statement fails rather than read another schema."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TENANT_A, TENANT_B
from sqlalchemy import event, select, text

from services.core.db import PlatformBase, TenantBase, get_engine
from services.core.org.models import OrgUnit
from services.core.tenancy import resolve_tenant, tenant_session


def test_no_tenant_table_has_a_platform_tables_name() -> None:
    platform = {t.name for t in PlatformBase.metadata.sorted_tables}
    tenant = {t.name for t in TenantBase.metadata.sorted_tables}
    assert tenant and platform and not tenant & platform


async def test_two_tenants_one_statement_text_each_its_own_rows(tenants: Any) -> None:
    alpha, beta = await resolve_tenant(TENANT_A), await resolve_tenant(TENANT_B)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "org_units" in statement:
            seen.append(statement)

    query = select(OrgUnit.code).order_by(OrgUnit.code)
    expected, got = {}, {}
    for tenant in (alpha, beta):
        async with tenant_session(tenant) as session, session.begin():
            expected[tenant.slug] = list((await session.scalars(query)).all())
    event.listen(get_engine().sync_engine, "before_cursor_execute", record)
    try:
        for tenant in (alpha, beta, alpha):
            async with tenant_session(tenant, shared=True) as session, session.begin():
                got.setdefault(tenant.slug, []).append(list((await session.scalars(query)).all()))
    finally:
        event.remove(get_engine().sync_engine, "before_cursor_execute", record)
    assert got == {alpha.slug: [expected[alpha.slug]] * 2, beta.slug: [expected[beta.slug]]}
    assert expected[alpha.slug] != expected[beta.slug]  # the templates' units differ: a leak would show
    assert len(seen) == 3 and len(set(seen)) == 1  # one text for both tenants
    assert "tenant_" not in seen[0] and "cd_unqualified" not in seen[0] and '"tenant"' not in seen[0]
    # the same text without a tenant's search_path finds no table (fails closed)
    async with get_engine().connect() as conn:
        with pytest.raises(Exception, match="org_units"):
            await conn.execute(text(seen[0].replace("$1::INTEGER", "1")))
