"""t0005 on a tenant that exists (at t0004): the template's SLA profile, the calendar settings and the new
actions' policy rules are added; running it for a new tenant (after t0003 seeded every rule) adds no duplicate."""

from __future__ import annotations

import uuid

import pytest
from helpers import rows
from sqlalchemy import text

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema


@pytest.mark.usefixtures("tenants")
@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_existing_tenant_gets_profiles_calendar_and_rules(template: str) -> None:
    slug = f"mig-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', :t, :schema)"),
                           {"s": slug, "t": template, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0004")
        await conn.execute(text(f'DELETE FROM "{schema}".policy_rules WHERE v2 LIKE \'%deadline%\''))
        version = (await conn.execute(text(f'SELECT version FROM "{schema}".policy_state'))).scalar_one()
        await upgrade_tenant_schema(conn, schema)
    profiles = await rows(f'SELECT category_id, rules FROM "{schema}".sla_profiles')
    assert len(profiles) == 1 and profiles[0].category_id is None
    kinds = {r["kind"] for r in profiles[0].rules}
    assert kinds == ({"DECISION", "REVIEW_REQUEST", "REVIEW", "DEPARTMENT_ANSWER"} if template == "bank" else
                     {"CUSTOMER_REPLY", "DEPARTMENT_ANSWER", "FOLLOW_UP", "RESOLUTION", "STAGE"})
    settings = await rows(f'SELECT jurisdiction, working_hours_end, covered_years FROM "{schema}".calendar_settings')
    assert [(s.jurisdiction, s.working_hours_end.isoformat(), s.covered_years) for s in settings] == [
        ("CN", "17:30:00", [])]
    added = await rows(f'SELECT v0, v2 FROM "{schema}".policy_rules WHERE v2 LIKE \'%deadline%\' ORDER BY v0, v2')
    assert {(r.v0, r.v2) for r in added} == {
        ("tenant_admin", "deadline.configure"), ("complaint_desk", "complaint.extend_deadline"),
        ("receiver", "complaint.extend_deadline"), ("approver", "complaint.approve_deadline_extension"),
        ("manager", "complaint.approve_deadline_extension"),
        *([("store_manager", "complaint.extend_deadline")] if template == "retail" else [])}  # (t0009's owner rules)
    assert (await rows(f'SELECT version FROM "{schema}".policy_state'))[0].version == version + 1
    async with get_engine().begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


@pytest.mark.usefixtures("tenants")
async def test_new_tenant_has_each_rule_once() -> None:
    dupes = await rows('SELECT v0, v2, count(*) FROM "tenant_alpha".policy_rules GROUP BY v0, v1, v2, v3, v4 '
                       'HAVING count(*) > 1')
    assert dupes == []
