"""Issue 16 point 5: an improvement action is completed by its owner or a holder of review_plan.manage, with what was
done (sealed), audited; the plan's coverage counts it closed; refusals (another user, another tenant, no note, done
already) change nothing; two tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from accountability import (
    ADD_ACTION,
    CREATE_PLAN,
    DESK,
    PLANS,
    RECEIVER,
    RECORD_FINDING,
    REVIEWER,
    count,
    fresh_audit,
    row_id,
)
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import rows, scalar
from lifecycle import directory, record

SH = ZoneInfo("Asia/Shanghai")
COMPLETE = """mutation ($input: CompleteImprovementActionInput!) { completeImprovementAction(input: $input) {
  reviewPlan { id coverage { improvementActions improvementActionsOpen } }
  improvementAction { id completedAt completionNote completedBy { email } owner { email } }
  userErrors { code field message } } }"""


async def _state(tenant: str) -> tuple[Any, ...]:
    return (await rows(f"SELECT id, completed_at, completed_by, completion_note FROM tenant_{tenant}"
                       ".improvement_actions ORDER BY id"),
            await count(tenant, "audit_events"))


async def _complete(gql: GraphQLClient, tenant: str, user: str, action_id: str, note: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(COMPLETE, {"input": {"actionId": action_id, "note": note}},
                                         tenant=tenant, user=user))["completeImprovementAction"]
    return payload


def _codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def _coverage(gql: GraphQLClient, tenant: str, plan_id: str) -> dict[str, int]:
    plans = (await gql(PLANS, tenant=tenant, user=REVIEWER))["reviewPlans"]
    coverage: dict[str, int] = next(p for p in plans if p["id"] == plan_id)["coverage"]
    return coverage


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_the_owner_or_a_manager_completes_an_improvement_action(gql: GraphQLClient, clock: Any,
                                                                      tenant: str) -> None:
    day = datetime(2031, 8, 11 + (tenant == TENANT_B), 10, tzinfo=SH)
    clock.at = day
    _, users = await directory(gql, tenant)
    audit, _, reviewer = await fresh_audit(gql, tenant)
    await record(gql, tenant, RECEIVER, title="Reviewed case")
    plan = (await gql(CREATE_PLAN, {"input": {
        "name": "August review", "sampleRule": "RANDOM_PERCENT", "samplePercent": 100, "departmentId": audit,
        "periodFrom": day.date().isoformat(), "periodTo": day.date().isoformat()}}, tenant=tenant,
        user=reviewer))["createReviewPlan"]["reviewPlan"]
    case = plan["cases"][0]["id"]
    finding = (await gql(RECORD_FINDING, {"input": {"planId": plan["id"], "complaintId": case,
                                                    "outcome": "NONCONFORMING", "note": "No reason given"}},
                         tenant=tenant, user=reviewer))["recordReviewFinding"]["finding"]
    actions = []
    for owner in (DESK, RECEIVER):
        payload = (await gql(ADD_ACTION, {"input": {
            "planId": plan["id"], "findingId": finding["id"], "description": f"Fix it ({owner})",
            "ownerId": users[owner], "dueDate": "2031-12-31"}}, tenant=tenant, user=reviewer))["addImprovementAction"]
        assert payload["userErrors"] == []
        actions.append(payload["improvementAction"]["id"])
    assert await _coverage(gql, tenant, plan["id"]) == {
        "sampled": 1, "reviewed": 1, "nonconforming": 1, "improvementActions": 2, "improvementActionsOpen": 2}

    # refused: not the owner and no review_plan.manage; the other tenant does not find it; a note is required
    before = await _state(tenant)
    payload = await _complete(gql, tenant, RECEIVER, actions[0], "Done")
    assert (payload["improvementAction"], _codes(payload), payload["userErrors"][0]["field"]) == \
        (None, ["NOT_ALLOWED"], ["actionId"])
    other = TENANT_B if tenant == TENANT_A else TENANT_A
    other_before = await _state(other)
    assert _codes(await _complete(gql, other, REVIEWER, actions[0], "Done")) == ["NOT_FOUND"]
    assert await _state(other) == other_before
    assert _codes(await _complete(gql, tenant, DESK, actions[0], "   ")) == ["REQUIRED"]
    assert await _state(tenant) == before

    # the owner completes theirs: audited, the note sealed, one action open
    payload = await _complete(gql, tenant, DESK, actions[0], "Branch staff trained on delay notices")
    assert payload["userErrors"] == []
    done = payload["improvementAction"]
    assert (done["completedBy"], done["owner"], done["completionNote"]) == \
        ({"email": DESK}, {"email": DESK}, "Branch staff trained on delay notices")
    assert datetime.fromisoformat(done["completedAt"]) == day
    assert payload["reviewPlan"]["coverage"] == {"improvementActions": 2, "improvementActionsOpen": 1}
    assert await _coverage(gql, tenant, plan["id"]) == {
        "sampled": 1, "reviewed": 1, "nonconforming": 1, "improvementActions": 2, "improvementActionsOpen": 1}
    assert await scalar(f"SELECT count(*) FROM tenant_{tenant}.audit_events WHERE action = "
                        "'complete_improvement_action' AND subject_id = :p", p=row_id(plan["id"])) == 1
    note = await scalar(f"SELECT completion_note FROM tenant_{tenant}.improvement_actions WHERE id = :i",
                        i=row_id(actions[0]))
    assert b"trained" not in bytes(note)

    # completed already: refused, nothing changes
    before = await _state(tenant)
    assert _codes(await _complete(gql, tenant, DESK, actions[0], "Again")) == ["ILLEGAL_TRANSITION"]
    assert await _state(tenant) == before

    # a manager of review plans completes another's action
    payload = await _complete(gql, tenant, reviewer, actions[1], "Checked by the audit department")
    assert payload["userErrors"] == []
    assert (payload["improvementAction"]["completedBy"], payload["improvementAction"]["owner"]) == \
        ({"email": reviewer}, {"email": RECEIVER})
    assert await _coverage(gql, tenant, plan["id"]) == {
        "sampled": 1, "reviewed": 1, "nonconforming": 1, "improvementActions": 2, "improvementActionsOpen": 0}
