"""t0011 on tenants that exist (at t0008): the external-body directory's entries to complete where it was empty
(the same entries a new tenant's template seeds), a tenant's own directory left alone; the receipt-rule column,
null (the jurisdiction's default); and `complaintdesk migrate` computing the open deadlines of tenants upgraded
across it again, by Civil Code art. 201, in the upgrade's transaction, audited."""

from __future__ import annotations

import importlib.util
import uuid
from datetime import UTC, datetime
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest
from helpers import ROOT, rows, run_cli
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import tenant_head, upgrade_tenant_schema
from tenants.templates import TEMPLATES, TO_COMPLETE

pytestmark = pytest.mark.usefixtures("tenants")

SH = ZoneInfo("Asia/Shanghai")


def _t0011() -> ModuleType:
    path = ROOT / "tenants" / "migrations" / "tenant" / "versions" / "t0011_onboarding_receipt_rule.py"
    spec = importlib.util.spec_from_file_location("t0011_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


t0011 = _t0011()


async def old_tenant(conn: AsyncConnection, template: str) -> tuple[str, str]:
    """A tenant created before t0011 (its registry row at t0008), its schema at t0008."""
    slug = f"mig11-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name, "
                            "schema_revision) VALUES (:s, 'Old', 'active', :t, :schema, 't0008')"),
                       {"s": slug, "t": template, "schema": schema})
    await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await upgrade_tenant_schema(conn, schema, target="t0008")
    return slug, schema


async def drop(slug: str, schema: str) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def test_the_frozen_entries_are_the_templates() -> None:
    assert t0011.TO_COMPLETE == TO_COMPLETE
    for name, template in TEMPLATES.items():
        assert t0011.BODIES[name] == [(b.name, b.kind.value, b.escalation_level) for b in template.external_bodies]


@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_an_empty_directory_gets_the_entries_to_complete(template: str) -> None:
    async with get_engine().begin() as conn:
        slug, schema = await old_tenant(conn, template)
        await upgrade_tenant_schema(conn, schema)
    try:
        found = await rows(f'SELECT name, kind, escalation_level, active, webhook_url, handles_text '
                           f'FROM "{schema}".external_bodies ORDER BY name')
        assert [tuple(r) for r in found] == sorted(
            (b.name, b.kind.value, b.escalation_level, False, None, TO_COMPLETE)
            for b in TEMPLATES[template].external_bodies)
        assert await rows(f'SELECT receipt_rule FROM "{schema}".calendar_settings') == [(None,)]
        assert await rows(f'SELECT count(*) FROM "{schema}".password_tokens') == [(0,)]
    finally:
        await drop(slug, schema)


async def test_a_tenants_own_directory_is_left_alone() -> None:
    async with get_engine().begin() as conn:
        slug, schema = await old_tenant(conn, "retail")
        await conn.execute(text(f'INSERT INTO "{schema}".external_bodies (id, name, kind, active, created_at, '
                                "updated_at) VALUES (gen_random_uuid(), 'City consumer council', "
                                "'CONSUMER_ASSOCIATION', true, now(), now())"))
        await upgrade_tenant_schema(conn, schema)
    try:
        assert await rows(f'SELECT name FROM "{schema}".external_bodies') == [("City consumer council",)]
    finally:
        await drop(slug, schema)


async def test_migrate_counts_open_deadlines_by_art_201() -> None:
    # a complaint received on Sat Oct 3 2026 (National Day): its RESOLUTION (15 calendar days) was planned by the
    # old rule (received Thu Oct 8, + 15 = Fri Oct 23); art. 201 counts from Oct 3: Sun Oct 18, a rest day, so
    # Mon Oct 19. The met deadline stays as it was.
    received = datetime(2026, 10, 3, 10, tzinfo=SH)
    old_due = datetime(2026, 10, 23, 23, 59, 59, 999999, tzinfo=SH)
    async with get_engine().begin() as conn:
        slug, schema = await old_tenant(conn, "retail")
        user, person, complaint = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        await conn.execute(text("INSERT INTO users (id, email, display_name, roles) VALUES "
                                "(:id, 'desk@old.example', 'desk', ARRAY['complaint_desk'])"), {"id": user})
        await conn.execute(text("INSERT INTO complainants (id, identity) VALUES (:id, '\\x00')"), {"id": person})
        await conn.execute(text(
            "INSERT INTO complaints (id, number, status, channel, title, description, complainant_id, scope, "
            "owner_id, created_at, updated_at) VALUES (:id, '2610000001', 'INVESTIGATING', 'PHONE', 'Old', "
            "'\\x00', :person, 'DOMESTIC', :user, :at, :at)"), {"id": complaint, "person": person, "user": user,
                                                                 "at": received})
        for kind, met in (("RESOLUTION", None), ("STAGE", received)):
            await conn.execute(text(
                "INSERT INTO deadlines (complaint_id, kind, basis, period_days, pause_in, started_at, due_at, met_at, "
                "created_at) VALUES (:c, :kind, 'CALENDAR', 15, '{}', :at, :due, :met, :at)"),
                {"c": complaint, "kind": kind, "at": received, "due": old_due, "met": met})
    try:
        result = run_cli("migrate", timeout=600)
        assert result.returncode == 0, result.stderr
        moved = f"{slug}: t0008 -> {tenant_head()}; 1 open deadline(s) counted again by the receipt rule"
        assert moved in result.stdout
        due = {r.kind: r.due_at for r in await rows(f'SELECT kind, due_at FROM "{schema}".deadlines')}
        assert due == {"RESOLUTION": datetime(2026, 10, 19, 23, 59, 59, 999999, tzinfo=SH).astimezone(UTC),
                       "STAGE": old_due.astimezone(UTC)}
        events = await rows(f"SELECT actor_label, changes FROM \"{schema}\".audit_events "
                            "WHERE action = 'recompute_deadlines'")
        assert [(e.actor_label, e.changes) for e in events] == [
            ("system", {"reason": "receipt rule (t0011)", "deadlinesMoved": 1})]
        # run again: up to date, nothing recomputed
        again = run_cli("migrate", timeout=600)
        assert again.returncode == 0 and f"{slug}: up to date" in again.stdout
        assert "counted again" not in again.stdout
        assert len(await rows(f"SELECT seq FROM \"{schema}\".audit_events WHERE action = 'recompute_deadlines'")) == 1
    finally:
        await drop(slug, schema)
