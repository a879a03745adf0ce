"""t0017 on a bank tenant that exists (at t0016) with its roles: the report and data-transfer rules are added where
missing (a rule the tenant had already stays single), the policy version moves, the cadence defaults to QUARTERLY;
downgrade takes the tables, the column and the rules away."""

from __future__ import annotations

import uuid

import pytest
from helpers import rows, scalar
from sqlalchemy import text

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")

ROLES = ("tenant_admin", "manager", "regulator_liaison", "report_reader")
# what t0017 grants these roles in the bank template (policies/bank.csv), written out here independently
EXPECTED = {
    ("tenant_admin", "report.read"), ("tenant_admin", "report.generate"), ("tenant_admin", "data.export"),
    ("tenant_admin", "data.import"), ("manager", "report.read"), ("manager", "report.generate"),
    ("manager", "data.export"), ("regulator_liaison", "report.read"), ("regulator_liaison", "report.generate"),
    ("report_reader", "report.read"),
}
ACTIONS = "('report.read', 'report.generate', 'data.export', 'data.import')"


async def test_existing_bank_tenant_gets_the_report_rules_and_downgrade_takes_them() -> None:
    slug = f"mig17-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'bank', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0016")
        # t0003 seeds today's template rules: take the new ones out, as a tenant made before t0017 has none
        await conn.execute(text(f'DELETE FROM "{schema}".policy_rules WHERE v2 IN {ACTIONS}'))
        for role in ROLES:
            await conn.execute(text(f'INSERT INTO "{schema}".roles (name, description) VALUES (:r, :r)'), {"r": role})
        await conn.execute(text(f"""INSERT INTO "{schema}".policy_rules (ptype, v0, v1, v2, v3, v4)
                                    VALUES ('p', 'manager', '*', 'report.read', 'any', 'allow')"""))
    version = await scalar(f'SELECT version FROM "{schema}".policy_state')
    try:
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0017")
        found = await rows(f"""SELECT v0, v2, v3, v4 FROM "{schema}".policy_rules WHERE v2 IN {ACTIONS}""")
        assert sorted((r.v0, r.v2) for r in found) == sorted(EXPECTED)
        assert {(r.v3, r.v4) for r in found} == {("any", "allow")}
        assert await scalar(f'SELECT version FROM "{schema}".policy_state') == version + 1
        assert await scalar(f'SELECT management_report_cadence FROM "{schema}".tenant_settings') == "QUARTERLY"
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await rows(f"""SELECT 1 FROM "{schema}".policy_rules WHERE v2 IN {ACTIONS}""") == []
        assert await rows("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name IN "
                          "('reports', 'report_files', 'data_transfers')", s=schema) == []
        assert await rows("SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND "
                          "table_name = 'tenant_settings' AND column_name = 'management_report_cadence'",
                          s=schema) == []
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "-1")  # type: ignore[arg-type]
