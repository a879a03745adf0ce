"""t0018 on a tenant that exists (at t0017) without the accountability rules: its roles get the template's
default rules of the new actions (only for roles it has, only where missing), the tables appear; downgrade drops
them and the rules."""

from __future__ import annotations

import uuid

import pytest
from helpers import rows, scalar
from sqlalchemy import text

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")

NEW_ACTIONS = ("complaint.propose_responsibility", "complaint.decide_responsibility", "penalty.read",
               "penalty.propose", "penalty.decide", "review_plan.manage", "review_plan.read",
               "review_plan.record_finding", "complaint.confirm_repeat", "complaint.flag_major",
               "complaint.approve_major_report", "opinion_book.record", "opinion_book.read",
               "accountability.configure")
TABLES = ["accountability_settings", "complaint_attention", "improvement_actions", "major_complaints",
          "opinion_book_entries", "penalties", "repeat_proposals", "responsibilities", "review_findings",
          "review_plan_cases", "review_plans"]


async def test_rules_added_for_existing_roles_and_downgrade_removes_everything() -> None:
    slug = f"mig18-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'bank', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0017")
        # a tenant of before: none of the new actions' rules; two of the template's roles
        await conn.execute(text(f'DELETE FROM "{schema}".policy_rules WHERE v2 = ANY(:a)'), {"a": list(NEW_ACTIONS)})
        for role in ("complaint_desk", "general_manager"):
            await conn.execute(text(f'INSERT INTO "{schema}".roles (name, description) VALUES (:r, :r)'), {"r": role})
    try:
        version = await scalar(f'SELECT version FROM "{schema}".policy_state WHERE id = 1')
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0018")
        added = sorted((r.v0, r.v2) for r in await rows(
            f'SELECT v0, v2 FROM "{schema}".policy_rules WHERE v2 = ANY(:a)', a=list(NEW_ACTIONS)))
        # what policies/bank.csv gives those two roles (written out here, not read from the migration)
        assert added == sorted([
            ("complaint_desk", "complaint.propose_responsibility"), ("complaint_desk", "penalty.read"),
            ("complaint_desk", "penalty.propose"), ("complaint_desk", "complaint.confirm_repeat"),
            ("complaint_desk", "complaint.flag_major"), ("complaint_desk", "opinion_book.record"),
            ("complaint_desk", "opinion_book.read"),
            ("general_manager", "complaint.decide_responsibility"), ("general_manager", "penalty.read"),
            ("general_manager", "penalty.decide"), ("general_manager", "review_plan.manage"),
            ("general_manager", "review_plan.read"), ("general_manager", "opinion_book.read")])
        assert await scalar(f'SELECT version FROM "{schema}".policy_state WHERE id = 1') == version + 1
        assert [r.table_name for r in await rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_name = ANY(:t) "
            "ORDER BY table_name", s=schema, t=TABLES)] == TABLES
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await rows("SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND "
                          "table_name = ANY(:t)", s=schema, t=TABLES) == []
        assert await scalar(f'SELECT count(*) FROM "{schema}".policy_rules WHERE v2 = ANY(:a)',
                            a=list(NEW_ACTIONS)) == 0
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "-1")  # type: ignore[arg-type]
