"""A complaint's classification: the templates' code lists, set on record and by classifyComplaint, tenants'
own codes (upsertClassificationCode), refusals that change nothing, and the facts following in the same step."""

from __future__ import annotations

from typing import Any

from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import raw_id, rows
from lifecycle import record, schema_of, snapshot

CODES = """
query ($dimension: ClassificationDimension) {
  classificationCodes(dimension: $dimension) { id dimension code name nameZh nameEn parentCode quality standard }
}
"""
CLASSIFY = """
mutation ($input: ClassifyComplaintInput!) { classifyComplaint(input: $input) {
  complaint { id cause classification { businessType { code } cause { code quality } businessChannel { code }
              area { code } } }
  userErrors { field code message } } }
"""
UPSERT = """
mutation ($input: UpsertClassificationCodeInput!) { upsertClassificationCode(input: $input) {
  code { id dimension code nameZh nameEn parentCode quality standard active } userErrors { field code message } } }
"""
RECORD = """
mutation ($input: RecordComplaintInput!) { recordComplaint(input: $input) {
  complaint { id classification { cause { code } area { code } } } userErrors { field code message } } }
"""


async def codes(gql: GraphQLClient, tenant: str, dimension: str | None = None) -> dict[str, dict[str, Any]]:
    data = await gql(CODES, {"dimension": dimension}, tenant=tenant)
    return {f"{c['dimension']}:{c['code']}": c for c in data["classificationCodes"]}


async def test_the_bank_ships_jrt_0169_and_both_templates_the_seed_areas(gql: GraphQLClient) -> None:
    bank = await codes(gql, TENANT_B)
    # the three axes of JR/T 0169-2018, their top levels marked as the standard's
    assert {k.split(":")[0] for k in bank} == {"BUSINESS_CHANNEL", "BUSINESS_TYPE", "CAUSE", "AREA"}
    assert bank["BUSINESS_CHANNEL:A10303"]["parentCode"] == "A103"
    assert bank["BUSINESS_CHANNEL:A1"]["standard"] == "JR/T 0169-2018"
    assert bank["BUSINESS_TYPE:B07"]["standard"] is None  # ours: wealth management, not in the public summaries
    assert bank["CAUSE:C01"]["nameZh"] == "服务态度及服务质量" and bank["CAUSE:C01"]["nameEn"]
    retail = await codes(gql, TENANT_A, "CAUSE")
    assert retail["CAUSE:Q-DEFECT"]["quality"] == "QUALITY" and retail["CAUSE:Q-DEFECT"]["parentCode"] == "QUALITY"
    assert retail["CAUSE:NQ-PRICE"]["quality"] == "NON_QUALITY"
    areas = {"PRODUCT", "SERVICE", "CHANNEL", "STAFF_BEHAVIOUR", "INTERNAL_MANAGEMENT", "FINANCIAL_CRIME"}
    for tenant in (TENANT_A, TENANT_B):
        assert {c["code"] for c in (await codes(gql, tenant, "AREA")).values()} == areas


async def test_classified_on_record_and_changed_later_with_audit_and_facts(gql: GraphQLClient) -> None:
    retail = await codes(gql, TENANT_A)
    data = await gql(RECORD, {"input": {
        "complainant": {"name": "张三", "phone": "13800138000"}, "title": "Kettle leaks", "description": "Leaks.",
        "channel": "PHONE", "classification": {"causeId": retail["CAUSE:Q-DEFECT"]["id"],
                                               "areaId": retail["AREA:PRODUCT"]["id"]}}}, tenant=TENANT_A)
    payload = data["recordComplaint"]
    assert payload["userErrors"] == []
    cid = payload["complaint"]["id"]
    assert payload["complaint"]["classification"] == {"cause": {"code": "Q-DEFECT"}, "area": {"code": "PRODUCT"}}
    # a change by a complaint desk user: the cause's quality follows, the area stays, the facts follow
    data = await gql(CLASSIFY, {"input": {"complaintId": cid, "classification": {
        "causeId": retail["CAUSE:NQ-SERVICE"]["id"], "businessTypeId": retail["BUSINESS_TYPE:GOODS"]["id"]}}},
        tenant=TENANT_A, user="desk@test.example")
    result = data["classifyComplaint"]
    assert result["userErrors"] == []
    assert result["complaint"]["cause"] == "NON_QUALITY"
    assert result["complaint"]["classification"] == {
        "businessType": {"code": "GOODS"}, "cause": {"code": "NQ-SERVICE", "quality": "NON_QUALITY"},
        "businessChannel": None, "area": {"code": "PRODUCT"}}
    schema = schema_of(TENANT_A)
    events = await rows(f"""SELECT action, changes FROM "{schema}".audit_events WHERE subject_id = :id
                            ORDER BY seq""", id=raw_id(cid))
    assert [e.action for e in events] == ["record_complaint", "classify_complaint"]
    assert events[1].changes["codes"] == {"causeId": "NQ-SERVICE", "businessTypeId": "GOODS"}
    facts = await rows(f"""SELECT f.cause, k.code, b.code FROM "{schema}".complaint_facts f
                           JOIN "{schema}".classification_codes k ON k.id = f.cause_code_id
                           JOIN "{schema}".classification_codes b ON b.id = f.business_type_id
                           WHERE f.complaint_id = :id""", id=raw_id(cid))
    assert [tuple(f) for f in facts] == [("NON_QUALITY", "NQ-SERVICE", "GOODS")]
    # null clears a dimension
    data = await gql(CLASSIFY, {"input": {"complaintId": cid, "classification": {"areaId": None}}}, tenant=TENANT_A,
                     user="desk@test.example")
    assert data["classifyComplaint"]["complaint"]["classification"]["area"] is None


async def test_refusals_change_nothing(gql: GraphQLClient) -> None:
    retail, bank = await codes(gql, TENANT_A), await codes(gql, TENANT_B)
    complaint = await record(gql, TENANT_A)
    cid = complaint["id"]
    before = await snapshot(TENANT_A, cid)
    cases = [
        # a code of another dimension's list
        ("all@test.example", {"causeId": retail["AREA:PRODUCT"]["id"]}, "NOT_FOUND", ["classification", "causeId"]),
        # the other tenant's code
        ("all@test.example", {"causeId": bank["CAUSE:C01"]["id"]}, "NOT_FOUND", ["classification", "causeId"]),
        # not a code's ID at all
        ("all@test.example", {"areaId": complaint["id"]}, "NOT_FOUND", ["classification", "areaId"]),
        # a handler may not classify
        ("handler@test.example", {"causeId": retail["CAUSE:Q-SPEC"]["id"]}, "NOT_FOUND", ["complaintId"]),
        # an approver reads every complaint but may not classify
        ("approver@test.example", {"causeId": retail["CAUSE:Q-SPEC"]["id"]}, "NOT_ALLOWED", None),
    ]
    for user, given, code, field in cases:
        data = await gql(CLASSIFY, {"input": {"complaintId": cid, "classification": given}}, tenant=TENANT_A, user=user)
        errors = data["classifyComplaint"]["userErrors"]
        assert [e["code"] for e in errors] == [code], (user, given, errors)
        assert errors[0]["field"] == field, (user, given, errors)
        assert await snapshot(TENANT_A, cid) == before


async def test_tenants_extend_their_lists(gql: GraphQLClient) -> None:
    new = {"dimension": "CAUSE", "code": "NQ-INSTALL", "nameZh": "安装不当", "nameEn": "Poor installation",
           "parentCode": "NON-QUALITY", "quality": "NON_QUALITY"}
    # only with classification.manage
    data = await gql(UPSERT, {"input": new}, tenant=TENANT_A, user="receiver@test.example")
    assert [e["code"] for e in data["upsertClassificationCode"]["userErrors"]] == ["NOT_ALLOWED"]
    assert "CAUSE:NQ-INSTALL" not in await codes(gql, TENANT_A)
    data = await gql(UPSERT, {"input": new}, tenant=TENANT_A, user="admin@test.example")
    made = data["upsertClassificationCode"]
    assert made["userErrors"] == []
    assert made["code"]["parentCode"] == "NON-QUALITY" and made["code"]["standard"] is None
    assert (await codes(gql, TENANT_A))["CAUSE:NQ-INSTALL"]["nameEn"] == "Poor installation"
    assert "CAUSE:NQ-INSTALL" not in await codes(gql, TENANT_B)
    # renamed in place, then retired (no longer offered)
    data = await gql(UPSERT, {"input": {**new, "nameEn": "Installation", "active": False}}, tenant=TENANT_A,
                     user="admin@test.example")
    assert data["upsertClassificationCode"]["code"]["active"] is False
    assert "CAUSE:NQ-INSTALL" not in await codes(gql, TENANT_A)
    for bad, code, field in (({"quality": "QUALITY", "dimension": "AREA", "code": "X1"}, "INVALID", ["quality"]),
                             ({"parentCode": "NOPE", "code": "X2"}, "NOT_FOUND", ["parentCode"]),
                             ({"code": "bad code"}, "INVALID", ["code"]),
                             ({"nameZh": " "}, "REQUIRED", ["nameZh"])):
        data = await gql(UPSERT, {"input": {**new, **bad}}, tenant=TENANT_A, user="admin@test.example")
        errors = data["upsertClassificationCode"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [(code, field)], (bad, errors)
