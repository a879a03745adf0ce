"""t0008 on tenants that exist (at t0007) with open deadlines: the default SLA profile still as the template
seeded it gains EXTERNAL_APPRAISAL where the template now has it (the same rules a new tenant gets), and so do
the open deadlines that profile planned; a profile the tenant changed, the deadlines of a category's own
profile, met deadlines and other kinds stay as they were. The appraisal column and table are there after."""

from __future__ import annotations

import importlib.util
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import ROOT, rows
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.core.db import get_engine
from services.core.deadlines.rules import template_profile
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")

T0008 = ROOT / "tenants" / "migrations" / "tenant" / "versions" / "t0008_external_appraisal.py"


def revision(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("t0008_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


t0008 = revision(T0008)

# (kind, stage, pause_in at t0007, met) of the open and met deadlines each tenant holds before the upgrade
DEADLINES: dict[str, list[tuple[str, str | None, list[str], bool]]] = {
    "bank": [("DECISION", None, [], False), ("REVIEW", None, [], False), ("DECISION", None, [], True),
             ("DEPARTMENT_ANSWER", None, [], False), ("REVIEW_REQUEST", None, [], False)],
    "retail": [("RESOLUTION", None, ["AWAITING_CUSTOMER"], False), ("STAGE", "marketing", [], False),
               ("STAGE", "branch", [], False), ("CUSTOMER_REPLY", None, [], False),
               ("RESOLUTION", None, ["AWAITING_CUSTOMER"], True)],
}
GAINS = {"bank": {"DECISION", "REVIEW"}, "retail": {"RESOLUTION", "STAGE:marketing"}}


async def old_tenant(conn: AsyncConnection, template: str, *, profile: list[dict[str, Any]]) -> tuple[str, str]:
    """A tenant at t0007 whose default profile is ``profile``, with a complaint holding ``DEADLINES``, and a
    second complaint holding the same, in a category under one with its own profile."""
    slug = f"mig8-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                            "VALUES (:s, 'Old', 'active', :t, :schema)"), {"s": slug, "t": template, "schema": schema})
    await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await upgrade_tenant_schema(conn, schema, target="t0007")
    await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    # t0005 seeded today's template; a tenant created before this revision holds the one of t0007
    await conn.execute(text("UPDATE sla_profiles SET rules = CAST(:rules AS jsonb) WHERE category_id IS NULL"),
                       {"rules": json.dumps(profile)})
    user, person, now = uuid.uuid4(), uuid.uuid4(), datetime(2026, 11, 30, 2, tzinfo=UTC)
    await conn.execute(text("INSERT INTO users (id, email, display_name, roles) VALUES "
                            "(:id, 'desk@old.example', 'desk', ARRAY['complaint_desk'])"), {"id": user})
    await conn.execute(text("INSERT INTO complainants (id, identity) VALUES (:id, '\\x00')"), {"id": person})
    # the category's parent has its own profile: it, not the default, planned that complaint's deadlines
    parent, category = uuid.uuid4(), uuid.uuid4()
    await conn.execute(text("INSERT INTO categories (id, code, name, parent_id) VALUES (:p, 'P', 'Parent', NULL), "
                            "(:c, 'P-CHILD', 'Child', :p)"), {"p": parent, "c": category})
    await conn.execute(text("INSERT INTO sla_profiles (category_id, name, rules) VALUES (:c, 'Own', '[]')"),
                       {"c": parent})
    for number, category_id in (("2611000001", None), ("2611000002", category)):
        complaint = uuid.uuid4()
        await conn.execute(text(
            "INSERT INTO complaints (id, number, status, channel, title, description, complainant_id, scope, "
            "owner_id, category_id, created_at, updated_at) VALUES (:id, :number, 'INVESTIGATING', 'PHONE', "
            "'Old title', '\\x00', :person, 'DOMESTIC', :user, :category, :now, :now)"),
            {"id": complaint, "number": number, "person": person, "user": user, "category": category_id, "now": now})
        for kind, stage, pause_in, met in DEADLINES[template]:
            await conn.execute(text(
                "INSERT INTO deadlines (complaint_id, kind, stage, basis, period_days, pause_in, started_at, due_at, "
                "met_at, created_at) VALUES (:c, :kind, :stage, 'CALENDAR', 15, :pause_in, :now, :now, :met, :now)"),
                {"c": complaint, "kind": kind, "stage": stage, "pause_in": pause_in, "now": now,
                 "met": now if met else None})
    return slug, schema


async def drop(slug: str, schema: str) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def key(r: Any) -> str:
    return r.kind + (f":{r.stage}" if r.stage else "")


@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_template_profile_and_open_deadlines_gain_the_condition(template: str) -> None:
    old = t0008.OLD_RULES[template]
    async with get_engine().begin() as conn:
        slug, schema = await old_tenant(conn, template, profile=old)
        await upgrade_tenant_schema(conn, schema)
    try:
        profile = await rows(f'SELECT rules FROM "{schema}".sla_profiles WHERE category_id IS NULL')
        assert profile[0].rules == template_profile(template)[1]  # exactly what a new tenant gets
        assert profile[0].rules != old
        found = await rows(f'SELECT d.kind, d.stage, d.pause_in, d.met_at, c.category_id FROM "{schema}".deadlines d '
                           f'JOIN "{schema}".complaints c ON c.id = d.complaint_id')
        assert len(found) == 2 * len(DEADLINES[template])
        for r in found:
            before = next(p for k, s, p, met in DEADLINES[template]
                          if (k, s) == (r.kind, r.stage) and met == (r.met_at is not None))
            gains = key(r) in GAINS[template] and r.met_at is None and r.category_id is None
            assert r.pause_in == ([*before, "EXTERNAL_APPRAISAL"] if gains else before), r
        assert sum("EXTERNAL_APPRAISAL" in r.pause_in for r in found) == len(GAINS[template])
        columns = await rows("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :s "
                             "AND (column_name = 'appraisal_started_at' OR table_name = 'appraisals')", s=schema)
        assert ("complaints", "appraisal_started_at") in {(c.table_name, c.column_name) for c in columns}
        assert {c.column_name for c in columns if c.table_name == "appraisals"} >= {"reason", "appraiser", "outcome",
                                                                                   "started_at", "ended_at"}
    finally:
        await drop(slug, schema)


async def test_a_changed_profile_and_its_deadlines_stay_as_they_are() -> None:
    changed = [dict(r) for r in t0008.OLD_RULES["bank"]]
    changed[0] = {**changed[0], "days": 10}
    async with get_engine().begin() as conn:
        slug, schema = await old_tenant(conn, "bank", profile=changed)
        await upgrade_tenant_schema(conn, schema)
    try:
        profile = await rows(f'SELECT rules FROM "{schema}".sla_profiles WHERE category_id IS NULL')
        assert profile[0].rules == changed
        assert await rows(f'SELECT id FROM "{schema}".deadlines WHERE \'EXTERNAL_APPRAISAL\' = ANY(pause_in)') == []
    finally:
        await drop(slug, schema)
