"""定期检查回顾 (issue 16 point 5): a review plan is refused for a complaint-handling department and accepted for the
audit department; its sample is drawn by the rule; a member of that department records findings, which are
counted with the improvement actions; two tenants."""

from __future__ import annotations

import math
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
    REVIEWER_PROD,
    count,
    fresh_audit,
    row_id,
)
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import scalar
from lifecycle import directory, record

SH = ZoneInfo("Asia/Shanghai")
CLOCK_START = datetime(2031, 3, 10, 10, tzinfo=SH)  # a day no other test records complaints on
HANDLING = {TENANT_A: "PROD", TENANT_B: "CARD"}


async def _plans_state(tenant: str) -> tuple[int, ...]:
    return (await count(tenant, "review_plans"), await count(tenant, "review_plan_cases"),
            await count(tenant, "review_findings"), await count(tenant, "improvement_actions"),
            await count(tenant, "audit_events"))


def _errors(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_a_plan_for_the_audit_department_with_findings_counted(gql: GraphQLClient, clock: Any,
                                                                     tenant: str) -> None:
    day = datetime(2031, 3, 10 + (tenant == TENANT_B), 10, tzinfo=SH)
    clock.at = day
    units, users = await directory(gql, tenant)
    audit, audit_code, reviewer = await fresh_audit(gql, tenant)
    recorded = [(await record(gql, tenant, RECEIVER, title=f"Case {i}"))["id"] for i in range(4)]
    period = {"periodFrom": day.date().isoformat(), "periodTo": day.date().isoformat()}
    in_period = await scalar(f"SELECT count(*) FROM tenant_{tenant}.complaints WHERE created_at >= :a "
                             "AND created_at < :b", a=day.replace(hour=0), b=day.replace(hour=23, minute=59))
    assert in_period == 4  # the day's complaints are this test's

    # a department that handles complaints may not review them
    before = await _plans_state(tenant)
    plan_input = {"name": "2031 Q1 review", "sampleRule": "RANDOM_PERCENT", "samplePercent": 50, **period}
    payload = (await gql(CREATE_PLAN, {"input": {**plan_input, "departmentId": units[HANDLING[tenant]]}},
                         tenant=tenant, user=reviewer))["createReviewPlan"]
    assert (payload["reviewPlan"], _errors(payload), payload["userErrors"][0]["field"]) == \
        (None, ["SEPARATION_OF_DUTIES"], ["departmentId"])
    # nor may the desk plan one (no right), nor a random sample go without its percentage
    payload = (await gql(CREATE_PLAN, {"input": {**plan_input, "departmentId": audit}},
                         tenant=tenant, user=DESK))["createReviewPlan"]
    assert _errors(payload) == ["NOT_ALLOWED"]
    payload = (await gql(CREATE_PLAN, {"input": {**plan_input, "samplePercent": None, "departmentId": audit}},
                         tenant=tenant, user=reviewer))["createReviewPlan"]
    assert _errors(payload) == ["OUT_OF_RANGE"]
    assert await _plans_state(tenant) == before

    # the audit department: accepted; half of the day's four complaints sampled
    payload = (await gql(CREATE_PLAN, {"input": {**plan_input, "departmentId": audit}},
                         tenant=tenant, user=reviewer))["createReviewPlan"]
    assert payload["userErrors"] == []
    plan = payload["reviewPlan"]
    assert (plan["department"], plan["sampleRule"], plan["samplePercent"]) == \
        ({"code": audit_code}, "RANDOM_PERCENT", 50)
    sampled = [c["id"] for c in plan["cases"]]
    assert len(sampled) == math.ceil(4 * 50 / 100) and set(sampled) <= set(recorded)
    assert plan["coverage"] == {"sampled": 2, "reviewed": 0, "nonconforming": 0, "improvementActions": 0,
                                "improvementActionsOpen": 0}

    # findings: a reviewer of another department may not record them; a case outside the sample is not found
    before = await _plans_state(tenant)
    finding = {"planId": plan["id"], "complaintId": sampled[0], "outcome": "NONCONFORMING",
               "note": "Customer not told the reason for the delay"}
    payload = (await gql(RECORD_FINDING, {"input": finding}, tenant=tenant, user=REVIEWER_PROD))["recordReviewFinding"]
    assert _errors(payload) == ["NOT_ALLOWED"]
    outside = next(c for c in recorded if c not in sampled)
    payload = (await gql(RECORD_FINDING, {"input": {**finding, "complaintId": outside}}, tenant=tenant,
                         user=reviewer))["recordReviewFinding"]
    assert _errors(payload) == ["NOT_FOUND"]
    assert await _plans_state(tenant) == before

    payload = (await gql(RECORD_FINDING, {"input": finding}, tenant=tenant, user=reviewer))["recordReviewFinding"]
    assert payload["userErrors"] == []
    first = payload["finding"]
    payload = (await gql(RECORD_FINDING, {"input": finding}, tenant=tenant, user=reviewer))["recordReviewFinding"]
    assert _errors(payload) == ["DUPLICATE"]
    payload = (await gql(RECORD_FINDING, {"input": {**finding, "complaintId": sampled[1], "outcome": "CONFORMING",
                                                    "note": "Handled within the deadlines"}},
                         tenant=tenant, user=reviewer))["recordReviewFinding"]
    assert payload["userErrors"] == []

    # an improvement action with its owner and due date
    action = {"planId": plan["id"], "findingId": first["id"], "description": "Train branch staff on delay notices",
              "ownerId": users[DESK], "dueDate": "2031-06-30"}
    payload = (await gql(ADD_ACTION, {"input": {**action, "dueDate": "2031-03-01"}}, tenant=tenant,
                         user=reviewer))["addImprovementAction"]
    assert _errors(payload) == ["OUT_OF_RANGE"]
    payload = (await gql(ADD_ACTION, {"input": action}, tenant=tenant, user=reviewer))["addImprovementAction"]
    assert payload["userErrors"] == []
    assert payload["improvementAction"]["owner"] == {"email": DESK}

    # counted: coverage 2 of 2, one nonconforming, one open action; listed to the reviewers, not another tenant's
    listed = (await gql(PLANS, tenant=tenant, user=reviewer))["reviewPlans"]
    shown = next(p for p in listed if p["id"] == plan["id"])
    assert shown["coverage"] == {"sampled": 2, "reviewed": 2, "nonconforming": 1, "improvementActions": 1,
                                 "improvementActionsOpen": 1}
    assert sorted((f["complaintId"], f["outcome"], f["reviewer"]["email"]) for f in shown["findings"]) == sorted(
        [(sampled[0], "NONCONFORMING", reviewer), (sampled[1], "CONFORMING", reviewer)])
    assert [(a["description"], a["dueDate"], a["findingId"]) for a in shown["improvementActions"]] == [
        (action["description"], "2031-06-30", first["id"])]
    other = TENANT_B if tenant == TENANT_A else TENANT_A
    assert plan["id"] not in [p["id"] for p in (await gql(PLANS, tenant=other, user=REVIEWER))["reviewPlans"]]
    other_before = await _plans_state(other)
    payload = (await gql(RECORD_FINDING, {"input": {**finding, "complaintId": sampled[1]}}, tenant=other,
                         user=REVIEWER))["recordReviewFinding"]
    assert _errors(payload) == ["NOT_FOUND"]
    assert await _plans_state(other) == other_before
    # the finding's note is sealed at rest
    note = await scalar(f"SELECT note FROM tenant_{tenant}.review_findings WHERE id = :i", i=row_id(first["id"]))
    assert b"delay" not in bytes(note)


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_all_escalated_samples_only_escalated_cases(gql: GraphQLClient, clock: Any, tenant: str) -> None:
    day = datetime(2031, 4, 14 + (tenant == TENANT_B), 10, tzinfo=SH)
    clock.at = day
    audit, _, reviewer = await fresh_audit(gql, tenant)
    await record(gql, tenant, RECEIVER, title="Not escalated")
    payload = (await gql(CREATE_PLAN, {"input": {
        "name": "Escalated cases", "sampleRule": "ALL_ESCALATED", "departmentId": audit,
        "periodFrom": day.date().isoformat(), "periodTo": day.date().isoformat()}}, tenant=tenant,
        user=reviewer))["createReviewPlan"]
    assert payload["userErrors"] == []
    assert payload["reviewPlan"]["coverage"]["sampled"] == 0


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_all_breached_samples_the_cases_with_a_breached_deadline(gql: GraphQLClient, clock: Any,
                                                                       tenant: str) -> None:
    from helpers import execute

    day = datetime(2031, 5, 19 + (tenant == TENANT_B), 10, tzinfo=SH)
    clock.at = day
    audit, _, reviewer = await fresh_audit(gql, tenant)
    late = (await record(gql, tenant, RECEIVER, title="Late"))["id"]
    await record(gql, tenant, RECEIVER, title="On time")
    # the sweeper's record of a breach (tests/worker covers the sweeper itself), on one deadline of the late case
    assert await execute(f"UPDATE tenant_{tenant}.deadlines SET breached_at = :at WHERE id = (SELECT id FROM "
                         f"tenant_{tenant}.deadlines WHERE complaint_id = :c LIMIT 1)", at=day, c=row_id(late)) == 1
    payload = (await gql(CREATE_PLAN, {"input": {
        "name": "Breaches", "sampleRule": "ALL_BREACHED", "departmentId": audit,
        "periodFrom": day.date().isoformat(), "periodTo": day.date().isoformat()}}, tenant=tenant,
        user=reviewer))["createReviewPlan"]
    assert payload["userErrors"] == []
    assert [c["id"] for c in payload["reviewPlan"]["cases"]] == [late]
