"""t0021 on a tenant with customer notices worded in English before it: each kind the platform worded gets its key
and values from the rows its text was made of (the deadline, the referral's body, the re-complaint bodies); a
notice a person worded keeps none; the backfilled notices then read in zh-CN and en; downgrade drops the columns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import rows
from lifecycle import directory, record
from sqlalchemy import select, text

from services.core.db import get_engine
from services.core.deadlines import notices
from services.core.deadlines.models import CustomerNotice
from services.core.tenancy import schema_for, tenant_session
from tenants.migrate import upgrade_tenant_schema

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2033, 3, 7, 10, tzinfo=SH)
DUE = datetime(2033, 3, 9, 10, tzinfo=SH)


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "t0020")  # type: ignore[arg-type]


async def _columns(schema: str) -> list[str]:
    return [r.column_name for r in await rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = "
        "'customer_notices' AND column_name LIKE 'reason%' ORDER BY column_name", s=schema)]


async def test_backfill_keys_the_platforms_notices_and_downgrade(gql: GraphQLClient, tenants: Any) -> None:
    tenant = await new_tenant("mig21", "retail")
    slug, schema = tenant.slug, schema_for(tenant.slug)
    try:
        await directory(gql, slug)
        case = await record(gql, slug)
        complaint_id = (await rows(f'SELECT id FROM "{schema}".complaints WHERE number = :n',
                                   n=case["number"]))[0].id
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await _columns(schema) == ["reason"]
        ids = {k: uuid.uuid4() for k in ("breach", "referral", "guidance", "extension", "routing", "assoc", "reg")}
        async with get_engine().begin() as conn:
            await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            await conn.execute(text("UPDATE external_bodies SET active = false"))  # the template's: not these
            for key, name, level, contact in (("assoc", "消费者协会", 1, "12315"), ("reg", "市场监管局", 2, None)):
                await conn.execute(text(
                    "INSERT INTO external_bodies (id, name, kind, contact, escalation_level, active, created_at, "
                    "updated_at) VALUES (:id, :name, 'ASSOCIATION', :contact, :level, true, :now, :now)"),
                    {"id": ids[key], "name": name, "contact": contact, "level": level, "now": NOW})
            await conn.execute(text(
                "INSERT INTO routings (id, complaint_id, external_body_id, mode, created_at) "
                "VALUES (:id, :c, :b, 'REFERRED', :now)"), {"id": ids["routing"], "c": complaint_id,
                                                              "b": ids["assoc"], "now": NOW})
            deadline = (await conn.execute(text(
                "UPDATE deadlines SET due_at = :due, stage = NULL WHERE id = (SELECT id FROM deadlines WHERE "
                "complaint_id = :c AND kind = 'CUSTOMER_REPLY' LIMIT 1) RETURNING id"),
                {"due": DUE, "c": complaint_id})).scalar_one()
            for key, kind, dedup, deadline_id in (
                    ("breach", "DEADLINE_BREACHED", "b", deadline), ("referral", "REFERRED",
                                                                      f"referral:{ids['routing']}", None),
                    ("guidance", "RECOMPLAINT_GUIDANCE", "g", None), ("extension", "DEADLINE_EXTENDED", "e", deadline)):
                await conn.execute(text(
                    "INSERT INTO customer_notices (id, complaint_id, deadline_id, kind, dedup_key, reason, created_at) "
                    "VALUES (:id, :c, :d, :kind, :dedup, :reason, :now)"),
                    {"id": ids[key], "c": complaint_id, "d": deadline_id, "kind": kind, "dedup": dedup,
                     "reason": b"sealed before t0021", "now": NOW})
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0021")
        assert await _columns(schema) == ["reason", "reason_key", "reason_params"]
        found = {r.id: (r.reason_key, r.reason_params) for r in await rows(
            f'SELECT id, reason_key, reason_params FROM "{schema}".customer_notices WHERE id = ANY(:ids)',
            ids=[ids[k] for k in ("breach", "referral", "guidance", "extension")])}
        assert found == {
            ids["breach"]: ("DEADLINE_BREACHED", {"kind": "CUSTOMER_REPLY", "stage": None,
                                                  "due": "2033-03-09T02:00:00.000000+00:00"}),
            ids["referral"]: ("REFERRED", {"body": "消费者协会 (12315)"}),
            ids["guidance"]: ("RECOMPLAINT_GUIDANCE", {"where": ["消费者协会 (12315)", "市场监管局"]}),
            ids["extension"]: (None, None),  # a person's words: kept as written
        }
        async with tenant_session(tenant) as session:
            loaded = {n.id: n for n in (await session.scalars(select(CustomerNotice).where(
                CustomerNotice.id.in_([ids["breach"], ids["referral"], ids["guidance"]])))).all()}
            read = {key: tuple(notices.reason_in(loaded[ids[key]], locale, SH) for locale in ("en", "zh-CN"))
                    for key in ("breach", "referral", "guidance")}
        assert read == {
            "breach": ("The CUSTOMER_REPLY deadline (due Mar 9, 2033, 10:00:00\u202fAM) has passed: tell the "
                       "customer the reason for the delay and when to expect an answer.",
                       "首次答复客户期限（截止 2033年3月9日 10:00:00）已过：请告知客户延误原因以及预计何时答复。"),
            "referral": ("This matter is for 消费者协会 (12315): please contact them; your complaint with us is "
                         "closed.", "此事项由消费者协会 (12315)负责：请与其联系；您在本公司的投诉已办结。"),
            "guidance": ("If you are not satisfied, you may complain further to: 消费者协会 (12315); 市场监管局.",
                         "如您对处理结果不满意，可向以下机构继续投诉：消费者协会 (12315); 市场监管局。"),
        }
    finally:
        await drop_tenant(tenant)
