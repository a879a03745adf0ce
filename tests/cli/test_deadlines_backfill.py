"""`complaintdesk deadlines backfill`: complaints recorded before deadlines were planned get them from their
audit trail, exactly as live planning made them.

Cases are run through GraphQL with a frozen clock (steps days apart, a pause while the customer is asked);
their deadline rows are kept, then deleted (a fixture: the state of a tenant from before t0005), and the CLI
rebuilds them: the same kinds, due times, pauses and met times. The other tenant is not touched, and a second
run finds nothing to do. `complaintdesk migrate` runs it for tenants upgraded from before t0005.
"""

from __future__ import annotations

from typing import Any

from api.deadlines.test_appraisal import go, record
from conftest import SECOND_USER, GraphQLClient
from deadline_cases import at, schema, tenant_of
from helpers import execute, rows, run_cli

from services.core.clock import FixedClock

COLUMNS = ("kind, stage, party, basis, period_days, started_at, due_at, remind_at, provisional, paused_at, "
           "paused_days, met_at, cancelled_at, created_at")


async def _deadlines(slug: str) -> list[Any]:
    return await rows(f'SELECT c.number, {", ".join("d." + c.strip() for c in COLUMNS.split(","))} '
                      f'FROM "{schema(slug)}".deadlines d JOIN "{schema(slug)}".complaints c ON c.id = d.complaint_id '
                      "ORDER BY c.number, d.kind, d.stage")


async def test_backfill_replays_the_audit_trail_into_the_same_deadlines(gql: GraphQLClient,
                                                                        clock: FixedClock) -> None:
    t = await tenant_of("retail", "backfill")
    other = await tenant_of("bank", "backfill")
    unit = {u["code"]: u["id"] for u in (await gql("query { orgUnits { id code } }", tenant=t))["orgUnits"]
            if u["code"]}
    clock.at = at(2026, 9, 28)  # Monday before China's National Day
    await record(gql, t)  # only recorded
    waiting = await record(gql, t)
    closed = await record(gql, t)
    await record(gql, other)
    clock.at = at(2026, 9, 29)
    for cid in (waiting, closed):
        await go(gql, t, "startInvestigation", cid)
        await go(gql, t, "submitInvestigation", cid, valid=True, findings="The kettle base cracked.")
        await go(gql, t, "assignResponsibleDepartment", cid, departmentId=unit["QA"])
    clock.at = at(2026, 9, 30)
    for cid in (waiting, closed):
        await go(gql, t, "proposeSolution", cid, solution="Replace it.", customerReply="We replace the kettle.")
        await go(gql, t, "approveHandlingForm", cid, user=SECOND_USER)  # four eyes
        await go(gql, t, "sendCustomerMessage", cid)  # AWAITING_CUSTOMER: the resolution clock stops
    clock.at = at(2026, 10, 9)  # after the holiday: one agrees (the clock runs again), the other still waits
    await go(gql, t, "recordCustomerOpinion", closed, agreed=True)
    clock.at = at(2026, 10, 12)
    await go(gql, t, "completeImplementation", closed)
    clock.at = at(2026, 10, 13)
    await go(gql, t, "recordFollowUp", closed, rating="SATISFIED")

    live = await _deadlines(t)
    assert {r.kind for r in live} >= {"CUSTOMER_REPLY", "RESOLUTION", "STAGE", "DEPARTMENT_ANSWER", "FOLLOW_UP"}
    assert any(r.paused_at is not None for r in live) and any(r.paused_days > 0 for r in live)
    assert any(r.met_at is not None for r in live)
    others = await _deadlines(other)
    # a fixture, not the workflow: the tenant as it was before deadlines were planned (no rows at all)
    await execute(f'DELETE FROM "{schema(t)}".deadlines')
    assert await _deadlines(t) == []

    result = run_cli("deadlines", "backfill", "--tenant", t)
    assert result.returncode == 0, result.stderr
    assert f"{t}: 3 complaint(s) without deadlines replayed from their audit trail" in result.stdout
    assert await _deadlines(t) == live  # the same deadlines, to the second
    assert await _deadlines(other) == others
    # nothing left to do the second time
    again = run_cli("deadlines", "backfill", "--tenant", t)
    assert again.returncode == 0 and f"{t}: 0 complaint(s)" in again.stdout
    assert await _deadlines(t) == live
