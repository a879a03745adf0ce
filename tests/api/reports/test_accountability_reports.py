"""The reports carry the accountability figures (issue 16): the semi-annual summary, the periodic management report
and the annual mechanism report, over a fixture with known attributions, penalties, a major complaint, a review plan
with findings and improvement actions, in two tenants of this module's own (a retail and a bank one, the bank with
one more penalty); the figures JSON and the CSV, XLSX and PDF files (zh-CN and en) say the same, exactly."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
import pytest
from accountability import (
    ADD_ACTION,
    ADMIN,
    CREATE_PLAN,
    DECIDE_PENALTY,
    DECIDE_RESPONSIBILITY,
    DESK,
    PROPOSE_PENALTY,
    PROPOSE_RESPONSIBILITY,
    RECORD_FINDING,
    SETTINGS,
    fresh_audit,
    new_user,
    valid_case,
)
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import drain
from lifecycle import directory
from openpyxl import load_workbook

SH = ZoneInfo("Asia/Shanghai")
CLOCK_START = datetime(2026, 3, 10, 10, tzinfo=SH)
DAY = CLOCK_START.date()
MANAGER = "manager@test.example"
DEPARTMENT = {"retail": "PROD", "bank": "CARD"}
STORE = {"retail": "ST-001", "bank": "BR-SH-01"}
PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
REPORT = "id kind state figures files { format url }"
GENERATE = f"""mutation ($input: GenerateReportInput!) {{ generateReport(input: $input) {{ report {{ {REPORT} }}
  userErrors {{ field code message }} }} }}"""
GET = f"query ($id: ID!) {{ report(id: $id) {{ {REPORT} }} }}"
COMPLETE = """mutation ($input: CompleteImprovementActionInput!) { completeImprovementAction(input: $input) {
  userErrors { code } } }"""


def _penalties(extra_warning: int) -> list[dict[str, Any]]:
    """Every kind and state, with what the fixture proposed."""
    given = {("WARNING", "EFFECTIVE"): (1 + extra_warning, "0.00"), ("FINE", "EFFECTIVE"): (1, "200.00"),
             ("FINE", "REJECTED"): (1, "50.00"), ("FINE", "PROPOSED"): (1, "30.00")}
    return [{"kind": k, "state": s, "count": given.get((k, s), (0, "0.00"))[0],
             "amount": given.get((k, s), (0, "0.00"))[1]}
            for k in ("WARNING", "CRITICISM", "FINE", "DEMERIT") for s in ("PROPOSED", "EFFECTIVE", "REJECTED")]


EXPECTED_TOTALS = {"attributed": 2, "attributed_product": 1, "attributed_non_product": 1, "penalties": 2,  # retail
                   "repeats_confirmed": 0, "repeats_against_store": 0, "major_flagged": 1, "major_reported": 0}
EXPECTED_REVIEW = {"plans": 1, "sampled": 4, "reviewed": 2, "coverage": "0.5000", "conforming": 1,
                   "nonconforming": 1, "actions_open": 2, "actions_completed": 1, "actions_overdue": 1}
EXTRA_WARNING = {"retail": 0, "bank": 1}


async def _ok(gql: GraphQLClient, query: str, field: str, tenant: str, user: str, **input_: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(query, {"input": input_}, tenant=tenant, user=user))[field]
    assert payload["userErrors"] == [], (field, payload)
    return payload


async def _fixture(gql: GraphQLClient, clock: Any, tenant: str, template: str) -> None:
    """On DAY: four complaints (two attributed and approved: a store for a non-product cause, an outside party for
    a product one; one proposal pending; one major by its amount), penalties of each state, a review plan over the
    day sampling all four, two findings, three improvement actions (one overdue, one open, one completed)."""
    clock.at = CLOCK_START
    units, users = await directory(gql, tenant)
    gm = await new_user(gql, tenant, "general_manager")
    await _ok(gql, SETTINGS, "updateAccountabilitySettings", tenant, ADMIN, majorAmountAtLeast="10000.00")
    department, store = units[DEPARTMENT[template]], units[STORE[template]]
    cases = [await valid_case(gql, tenant, department) for _ in range(3)]
    cases.append(await valid_case(gql, tenant, department, amount="10000.00"))
    for cid, attribution in ((cases[0], {"level": "STORE", "cause": "NON_PRODUCT", "orgUnitId": store}),
                             (cases[1], {"level": "OUTSIDE_PARTY", "cause": "PRODUCT",
                                         "outsideParty": "Supplier of the seals"})):
        await _ok(gql, PROPOSE_RESPONSIBILITY, "proposeResponsibility", tenant, DESK, complaintId=cid,
                  reason="Found by the investigation", **attribution)
        await _ok(gql, DECIDE_RESPONSIBILITY, "decideResponsibility", tenant, gm, complaintId=cid, approve=True)
    await _ok(gql, PROPOSE_RESPONSIBILITY, "proposeResponsibility", tenant, DESK, complaintId=cases[2],
              level="STORE", cause="NON_PRODUCT", orgUnitId=store, reason="Pending the GM")

    async def penalty(**input_: Any) -> str:
        made = await _ok(gql, PROPOSE_PENALTY, "proposePenalty", tenant, DESK, target="UNIT", orgUnitId=store,
                         reason="Accountability", **input_)
        return str(made["penalty"]["id"])

    for _ in range(1 + EXTRA_WARNING[template]):
        await penalty(kind="WARNING", complaintId=cases[0])
    approved = await penalty(kind="FINE", amount="200.00", serious=True, complaintId=cases[0])
    await _ok(gql, DECIDE_PENALTY, "decidePenalty", tenant, gm, penaltyId=approved, approve=True)
    rejected = await penalty(kind="FINE", amount="50.00", serious=True)
    await _ok(gql, DECIDE_PENALTY, "decidePenalty", tenant, gm, penaltyId=rejected, approve=False,
              note="Not proven")
    await penalty(kind="FINE", amount="30.00", serious=True)

    audit, _, reviewer = await fresh_audit(gql, tenant)
    plan = (await _ok(gql, CREATE_PLAN, "createReviewPlan", tenant, reviewer, name="Q1 review",
                      periodFrom=DAY.isoformat(), periodTo=DAY.isoformat(), sampleRule="RANDOM_PERCENT",
                      samplePercent=100, departmentId=audit))["reviewPlan"]
    assert sorted(c["id"] for c in plan["cases"]) == sorted(cases)  # the day's complaints are this fixture's
    finding = (await _ok(gql, RECORD_FINDING, "recordReviewFinding", tenant, reviewer, planId=plan["id"],
                         complaintId=cases[0], outcome="NONCONFORMING", note="Late answer"))["finding"]
    await _ok(gql, RECORD_FINDING, "recordReviewFinding", tenant, reviewer, planId=plan["id"],
              complaintId=cases[1], outcome="CONFORMING", note="Fine")
    today = datetime.now(SH).date()  # the worker makes the report on today's date
    actions = []
    for due in (DAY + timedelta(days=10), today + timedelta(days=365), DAY + timedelta(days=20)):
        made = await _ok(gql, ADD_ACTION, "addImprovementAction", tenant, reviewer, planId=plan["id"],
                         findingId=finding["id"], description="Answer in time", ownerId=users[DESK],
                         dueDate=due.isoformat())
        actions.append(made["improvementAction"]["id"])
    await _ok(gql, COMPLETE, "completeImprovementAction", tenant, DESK, actionId=actions[2], note="Trained")


@pytest.fixture(scope="module")
async def pair(tenants: Any) -> AsyncIterator[dict[str, str]]:
    made = {"retail": await new_tenant("accr", "retail"), "bank": await new_tenant("accb", "bank")}
    yield {k: t.slug for k, t in made.items()}
    for t in made.values():
        await drop_tenant(t)


_BUILT: set[str] = set()


def _csv_block(content: bytes, header: list[str]) -> list[list[str]]:
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    start = lines.index(header)
    out = []
    for row in lines[start + 1:]:
        if not row:
            break
        out.append(row)
    return out


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_reports_carry_the_accountability_figures(gql: GraphQLClient, client: Any, clock: Any,
                                                        pair: dict[str, str], template: str) -> None:
    for t, slug in pair.items():  # both tenants hold their fixture, whichever test runs first
        if slug not in _BUILT:
            await _fixture(gql, clock, slug, t)
            _BUILT.add(slug)
    tenant = pair[template]
    clock.at = datetime(2026, 8, 15, 10, tzinfo=SH)
    penalties = _penalties(EXTRA_WARNING[template])
    for kind in ("SEMI_ANNUAL_SUMMARY", "MANAGEMENT", "ANNUAL_MECHANISM", "REGULATOR_RETURN"):
        payload = (await gql(GENERATE, {"input": {"kind": kind, "period": PERIOD}}, tenant=tenant,
                             user=MANAGER))["generateReport"]
        assert payload["userErrors"] == [], payload
        drain()
        report = (await gql(GET, {"id": payload["report"]["id"]}, tenant=tenant, user=MANAGER))["report"]
        assert report["state"] == "COMPLETED", (kind, report)
        figures = report["figures"]
        if kind == "REGULATOR_RETURN":
            assert "accountability" not in figures
            continue
        acc = figures["accountability"]
        assert acc["totals"] == {**EXPECTED_TOTALS, "penalties": 2 + EXTRA_WARNING[template]}, kind
        assert acc["penalties"] == penalties, kind
        assert acc["review"] == EXPECTED_REVIEW, kind
        level = {r["keys"][0]["value"]: r["measures"]["received"]
                 for r in figures["tables"]["by_responsibility_level"]["rows"]}
        assert level == {"STORE": 1, "OUTSIDE_PARTY": 1, None: 2}, kind
        cause = {r["keys"][0]["value"]: r["measures"]["attributed"]
                 for r in figures["tables"]["by_responsibility_cause"]["rows"]}
        assert cause == {"PRODUCT": 1, "NON_PRODUCT": 1, None: 0}, kind
        unit = {r["keys"][0]["code"]: r["measures"]["penalties"]
                for r in figures["tables"]["by_responsible_unit"]["rows"]}
        assert unit == {STORE[template]: 2 + EXTRA_WARNING[template], None: 0}, kind
        if kind == "SEMI_ANNUAL_SUMMARY":
            assert {"zh": "检查回顾: 1 件不符合, 需落实改进措施",
                    "en": "periodic review: 1 nonconforming case(s); carry out the improvements"} in \
                figures["improvements"]
            assert {"zh": "1 项改进措施逾期未完成", "en": "1 improvement action(s) overdue"} in figures["improvements"]

        files = {f["format"]: (await client.get(f["url"])).content for f in report["files"]}
        block = _csv_block(files["CSV"], ["measure", "指标", "label", "value"])
        assert {r[0]: r[3] for r in block}["received"] == "4"
        book = load_workbook(io.BytesIO(files["XLSX"]), read_only=True)
        sheet = {r[0]: r[3] for r in list(book["accountability"].iter_rows(values_only=True))[1:]}
        assert sheet == {"attributed": 2, "attributed_product": 1, "attributed_non_product": 1,
                         "penalties": 2 + EXTRA_WARNING[template],
                         "repeats_confirmed": 0, "repeats_against_store": 0, "major_flagged": 1,
                         "major_reported": 0, "review.plans": 1, "review.sampled": 4, "review.reviewed": 2,
                         "review.coverage": "0.5000", "review.conforming": 1, "review.nonconforming": 1,
                         "review.actions_open": 2, "review.actions_completed": 1, "review.actions_overdue": 1}
        rows = list(book["penalties"].iter_rows(values_only=True))
        assert rows[0] == ("kind", "state", "处分种类", "状态", "kind (en)", "state (en)", "count", "amount")
        assert ("WARNING", "EFFECTIVE", "警告", "已生效", "warning", "effective", 1 + EXTRA_WARNING[template],
                "0.00") in rows
        assert ("FINE", "REJECTED", "罚扣", "已驳回", "fine", "rejected", 1, "50.00") in rows
        level_rows = list(book["by_responsibility_level"].iter_rows(values_only=True))
        assert level_rows[0][:3] == ("RESPONSIBILITY_LEVEL", "受理 received", "责任已认定 responsibility attributed")
        levels = {r[0]: r[1] for r in level_rows[1:]}
        units = {r[0]: r[5] for r in list(book["by_responsible_unit"].iter_rows(values_only=True))[1:]}
        assert {k: v for k, v in units.items() if v} == {next(
            k for k in units if k and STORE[template] in k): 2 + EXTRA_WARNING[template]}  # the penalties column
        assert levels == {"门店/分公司 store or branch": 1, "外部单位 outside party": 1,
                          "未认定 not attributed": 2}
        csv_penalties = _csv_block(files["CSV"], ["kind", "state", "处分种类", "状态", "kind (en)", "state (en)",
                                                  "count", "amount"])
        assert ["FINE", "EFFECTIVE", "罚扣", "已生效", "fine", "effective", "1", "200.00"] in csv_penalties
        text = pdf_text(files["PDF"])
        for line in ("责任已认定 responsibility attributed: 2", "重大投诉 major complaints flagged: 1",
                     "覆盖率 coverage: 0.5000", "改进措施逾期 improvement actions overdue: 1",
                     "处分 penalties 罚扣/已驳回 fine/rejected: 1 (50.00)"):
            assert line in text, (kind, line)


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)

