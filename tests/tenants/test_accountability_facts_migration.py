"""t0020 on a tenant with accountability records made before it: the facts' new columns are backfilled from the
accountability tables to what the steps keep in step afterwards; downgrade drops them (and the improvement
actions' completion columns)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from accountability import (
    ADMIN,
    DECIDE_RESPONSIBILITY,
    DESK,
    PROPOSE_PENALTY,
    PROPOSE_RESPONSIBILITY,
    RECORD_MAJOR,
    SETTINGS,
    new_user,
    valid_case,
)
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import rows
from lifecycle import complaint_input, directory

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

COLUMNS = ("responsibility_level", "responsibility_cause", "responsible_unit_id", "penalties", "repeat_confirmed",
           "repeat_against_store", "major", "major_reported")


async def _facts(schema: str) -> list[Any]:
    return await rows(f'SELECT complaint_id, {", ".join(COLUMNS)} FROM "{schema}".complaint_facts '
                      "ORDER BY complaint_id")


async def _columns(schema: str) -> list[str]:
    return [r.column_name for r in await rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND "
        "(table_name = 'complaint_facts' AND column_name = ANY(:c) OR table_name = 'improvement_actions' AND "
        "column_name IN ('completed_by', 'completion_note')) ORDER BY column_name", s=schema, c=list(COLUMNS))]


async def test_backfill_matches_what_the_steps_keep_and_downgrade(gql: GraphQLClient, clock: Any,
                                                                  tenants: Any) -> None:
    tenant = await new_tenant("mig20", "retail")
    slug, schema = tenant.slug, schema_for(tenant.slug)
    try:
        clock.at = datetime(2033, 3, 7, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
        units, _ = await directory(gql, slug)
        gm = await new_user(gql, slug, "general_manager")
        cid = await valid_case(gql, slug, units["PROD"], storeId=units["ST-001"])
        for query, user, name, input_ in (
            (PROPOSE_RESPONSIBILITY, DESK, "proposeResponsibility", {
                "complaintId": cid, "level": "PRODUCTION_TEAM", "cause": "PRODUCT", "orgUnitId": units["PROD-T1"],
                "reason": "the team"}),
            (DECIDE_RESPONSIBILITY, gm, "decideResponsibility", {"complaintId": cid, "approve": True}),
            (PROPOSE_PENALTY, DESK, "proposePenalty", {
                "target": "UNIT", "orgUnitId": units["ST-001"], "kind": "WARNING", "serious": False,
                "reason": "late", "complaintId": cid}),
            (SETTINGS, ADMIN, "updateAccountabilitySettings", {"majorAmountAtLeast": "500.00"}),
            (RECORD_MAJOR, DESK, "recordComplaint", complaint_input(amount="800.00")),
        ):
            assert (await gql(query, {"input": input_}, tenant=slug, user=user))[name]["userErrors"] == []
        kept = await _facts(schema)
        # what the test did, written out: one attributed case with its penalty, one major complaint, one without
        assert sorted((r.responsibility_level or "", r.penalties, r.major) for r in kept) == sorted(
            [("PRODUCTION_TEAM", 1, False), ("", 0, True)])

        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await _columns(schema) == []
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0020")
        assert await _columns(schema) == sorted([*COLUMNS, "completed_by", "completion_note"])
        assert await _facts(schema) == kept
    finally:
        await drop_tenant(tenant)


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "t0019")  # type: ignore[arg-type]
