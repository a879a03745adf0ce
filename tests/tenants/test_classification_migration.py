"""t0016 on tenants that exist (at t0013b) with complaints: the code lists of their template, each complaint
classified from its category, its facts row backfilled, the default rules added; downgrade takes it all back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from helpers import rows, scalar
from sqlalchemy import text

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")

PREVIOUS = "t0015"  # the revision t0016 follows


async def _old_tenant(template: str, categories: list[tuple[str, str | None, str | None, str | None]]
                      ) -> tuple[str, str, dict[str, uuid.UUID]]:
    """A tenant at t0013b with a user, report_reader's role and one complaint per category (code, parent code,
    cause, dimension); returns slug, schema and the complaint ids by category code."""
    slug = f"mig16-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    made: dict[str, uuid.UUID] = {}
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', :t, :schema)"),
                           {"s": slug, "t": template, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target=PREVIOUS)
        q = f'"{schema}"'
        # t0003 seeds the template's rules from today's policies/<template>.csv: a tenant made before t0016 had
        # none of its rules
        await conn.execute(text(f"DELETE FROM {q}.policy_rules WHERE v2 IN ('statistics.read', "
                                "'classification.manage', 'complaint.classify')"))
        await conn.execute(text(f"INSERT INTO {q}.roles (name, description) VALUES ('report_reader', 'reads')"))
        user = await conn.scalar(text(f"INSERT INTO {q}.users (email, display_name, roles) VALUES "
                                      "('old@test.example', 'old', '{report_reader}') RETURNING id"))
        person = await conn.scalar(text(f"INSERT INTO {q}.complainants (identity) VALUES ('\\x00') RETURNING id"))
        for i, (code, parent, cause, dimension) in enumerate(categories):
            await conn.execute(text(
                f"INSERT INTO {q}.categories (code, name, parent_id, cause, dimension) VALUES (:c, :c, "
                f"(SELECT id FROM {q}.categories WHERE code = :p), :cause, :d)"),
                {"c": code, "p": parent, "cause": cause, "d": dimension})
            made[code] = await conn.scalar(text(
                f"INSERT INTO {q}.complaints (number, status, channel, title, description, complainant_id, "
                f"category_id, scope, owner_id, created_at, updated_at, closed_at) VALUES (:n, :s, 'PHONE', 't', "
                f"'\\x00', :p, (SELECT id FROM {q}.categories WHERE code = :c), 'DOMESTIC', :u, "
                "timestamptz '2026-03-02 10:00+08', timestamptz '2026-03-06 15:00+08', :closed) RETURNING id"),
                {"n": f"260300{i:04d}", "s": "CLOSED" if i == 0 else "RECEIVED", "p": person, "c": code, "u": user,
                 "closed": None if i else datetime.fromisoformat("2026-03-06T15:00+08:00")})
    return slug, schema, made


async def _drop(slug: str, schema: str) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


async def _codes(schema: str, complaint: uuid.UUID) -> dict[str, Any]:
    row = (await rows(f"""
        SELECT b.code AS business_type, k.code AS cause, ch.code AS business_channel, a.code AS area, c.cause AS quality
        FROM "{schema}".complaints c
        LEFT JOIN "{schema}".classification_codes b ON b.id = c.business_type_id
        LEFT JOIN "{schema}".classification_codes k ON k.id = c.cause_code_id
        LEFT JOIN "{schema}".classification_codes ch ON ch.id = c.business_channel_id
        LEFT JOIN "{schema}".classification_codes a ON a.id = c.area_id WHERE c.id = :id""", id=complaint))[0]
    return dict(row._mapping)


async def test_bank_complaints_classified_from_their_categories_and_downgrade() -> None:
    slug, schema, made = await _old_tenant("bank", [
        ("PRODUCT", None, None, "PRODUCT"), ("PRODUCT-CARD", "PRODUCT", None, "PRODUCT"),
        ("CHANNEL-APP", None, None, "CHANNEL"), ("STAFF", None, None, "STAFF_BEHAVIOUR"), ("OWN", None, None, None)])
    try:
        version = await scalar(f'SELECT version FROM "{schema}".policy_state WHERE id = 1')
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0016")
        assert await scalar(f"""SELECT count(*) FROM "{schema}".classification_codes
                                WHERE standard = 'JR/T 0169-2018'""") > 20
        expected = {
            "PRODUCT": {"business_type": None, "cause": None, "business_channel": None, "area": "PRODUCT"},
            "PRODUCT-CARD": {"business_type": "B03", "cause": None, "business_channel": None, "area": "PRODUCT"},
            "CHANNEL-APP": {"business_type": None, "cause": None, "business_channel": "A10303", "area": "CHANNEL"},
            "STAFF": {"business_type": None, "cause": None, "business_channel": None, "area": "STAFF_BEHAVIOUR"},
            "OWN": {"business_type": None, "cause": None, "business_channel": None, "area": None},
        }
        for category, codes in expected.items():
            assert await _codes(schema, made[category]) == {**codes, "quality": None}, category
        facts = {r.complaint_id: r for r in await rows(f'SELECT * FROM "{schema}".complaint_facts')}
        assert set(facts) == set(made.values())
        closed = facts[made["PRODUCT"]]
        # received Monday 2 March, closed Friday 6 March 2026: four working days after the day of receipt
        assert (closed.final_answer, closed.handling_days, closed.status) == (True, 4, "CLOSED")
        assert not facts[made["STAFF"]].final_answer and facts[made["STAFF"]].handling_days is None
        rules = {r.v2 for r in await rows(f"""SELECT v2 FROM "{schema}".policy_rules WHERE v0 = 'report_reader'""")}
        assert "statistics.read" in rules
        assert await scalar(f'SELECT version FROM "{schema}".policy_state WHERE id = 1') == version + 1
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema, PREVIOUS))
        for table in ("complaint_facts", "classification_codes"):
            assert await rows("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = :t",
                              s=schema, t=table) == []
        assert await rows("SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND "
                          "table_name = 'complaints' AND column_name = 'cause_code_id'", s=schema) == []
        assert "statistics.read" not in {r.v2 for r in await rows(f'SELECT v2 FROM "{schema}".policy_rules')}
    finally:
        await _drop(slug, schema)


async def test_retail_causes_come_from_the_categories_quality() -> None:
    slug, schema, made = await _old_tenant("retail", [
        ("QUALITY", None, "QUALITY", None), ("Q-DEFECT", "QUALITY", "QUALITY", None),
        ("MY-NQ", None, "NON_QUALITY", None), ("MY-NQ-CHILD", "MY-NQ", None, None)])
    try:
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0016")
        assert (await _codes(schema, made["Q-DEFECT"]))["cause"] == "Q-DEFECT"
        assert (await _codes(schema, made["QUALITY"]))["cause"] == "QUALITY"
        # the tenant's own categories: the top level of their quality (a child's from its parent)
        assert (await _codes(schema, made["MY-NQ"]))["cause"] == "NON-QUALITY"
        assert (await _codes(schema, made["MY-NQ-CHILD"]))["cause"] == "NON-QUALITY"
        assert {r.code for r in await rows(f"""SELECT code FROM "{schema}".classification_codes
                                               WHERE dimension = 'CAUSE' AND quality = 'QUALITY'""")} == {
            "QUALITY", "Q-DEFECT", "Q-SPEC", "Q-PACK"}
    finally:
        await _drop(slug, schema)


def _downgrade(sync: object, schema: str, target: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), target)  # type: ignore[arg-type]
