"""The whole lifecycle through GraphQL, for the retail and the bank template: happy paths and refusals."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DEFAULT_USER, TENANT_A, TENANT_B, GraphQLClient
from helpers import scalar
from lifecycle import HISTORY, directory, id_by_number, ok, record, snapshot, step

RECEIVER = "receiver@test.example"
INVESTIGATOR = "investigator@test.example"
DESK = "desk@test.example"
HANDLER = "handler@test.example"
APPROVER = "approver@test.example"

# the responsible department per template
DEPARTMENT = {TENANT_A: "PROD", TENANT_B: "CARD"}


async def drive_to_approved(gql: GraphQLClient, tenant: str) -> dict[str, Any]:
    units, _ = await directory(gql, tenant)
    c = await record(gql, tenant)
    cid = c["id"]
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True,
             findings="Seal defect confirmed on the returned sample", orderNumber="SO-1", quantity=10,
             defectiveQuantity=1, amount="199.00")
    await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid,
             departmentId=units[DEPARTMENT[tenant]], instructions="Please answer within 3 working days")
    await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Replace the kettle",
             customerReply="We will replace your kettle free of charge.", causeAnalysis="Faulty seal batch",
             compensationAmount="0")
    approved = await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid, note="OK")
    assert approved["status"] == "APPROVED"
    return approved


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_full_case_closes_when_satisfied(gql: GraphQLClient, tenant: str) -> None:
    units, _ = await directory(gql, tenant)
    c = await record(gql, tenant, storeId=units["ST-001" if tenant == TENANT_A else "BR-SH-01"])
    assert c["status"] == "RECEIVED"
    assert c["owner"]["email"] == RECEIVER  # first-receiver ownership
    assert len(c["number"]) == 10 and c["number"].isdigit()
    assert len(c["accessCode"]) == 12
    cid = c["id"]

    c = await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    assert c["status"] == "INVESTIGATING"
    c = await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True,
                 findings="Confirmed", cause="QUALITY")
    assert (c["status"], c["investigation"]) == ("INVESTIGATING", {"valid": True, "findings": "Confirmed"})
    c = await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid,
                 departmentId=units[DEPARTMENT[tenant]])
    assert c["status"] == "ASSIGNED"
    assert c["responsibleDepartment"]["code"] == DEPARTMENT[tenant]
    assert c["transferSlip"] == {"department": {"code": DEPARTMENT[tenant]}, "answeredAt": None}
    c = await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund",
                 customerReply="We refund 199.00 to your card.", compensationAmount="199.00")
    assert c["status"] == "SOLUTION_PROPOSED"
    assert c["handlingForm"]["status"] == "PENDING_APPROVAL"
    assert c["transferSlip"]["answeredAt"] is not None
    c = await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid)
    assert (c["status"], c["handlingForm"]["status"]) == ("APPROVED", "APPROVED")
    c = await ok(gql, "sendCustomerMessage", tenant, RECEIVER, complaintId=cid)
    assert c["status"] == "AWAITING_CUSTOMER"
    assert c["customerMessages"] == [{"body": "We refund 199.00 to your card."}]
    c = await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    assert c["status"] == "IMPLEMENTING"
    c = await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    assert c["status"] == "FOLLOW_UP"
    c = await ok(gql, "recordFollowUp", tenant, RECEIVER, complaintId=cid, rating="VERY_SATISFIED")
    assert c["status"] == "CLOSED"
    assert c["closedAt"] is not None
    assert c["satisfactionSurvey"] == {"rating": "VERY_SATISFIED"}

    history = (await gql(HISTORY, {"id": cid, "first": 100}, tenant=tenant))["complaint"]["history"]
    assert [e["node"]["action"] for e in history["edges"]] == [
        "record_complaint", "start_investigation", "submit_investigation", "assign_responsible_department",
        "propose_solution", "approve_handling_form", "send_customer_message", "record_customer_opinion",
        "complete_implementation", "record_follow_up",
    ]
    assert history["totalCount"] == 10
    assert history["edges"][-1]["node"]["toStatus"] == "CLOSED"
    assert history["edges"][0]["node"]["actor"] == RECEIVER
    # the trail names fields, never the complainant's data
    trail = str([e["node"]["changes"] for e in history["edges"]])
    for personal in ("张三", "13800138000", "zhang@example.com", "leaks from the base"):
        assert personal not in trail
    verification = (await gql("{ auditVerification { ok checked firstBrokenSeq } }", tenant=tenant))
    assert verification["auditVerification"]["ok"] is True


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_unsatisfied_reopens_and_disagreement_goes_back(gql: GraphQLClient, tenant: str) -> None:
    c = await drive_to_approved(gql, tenant)
    cid = c["id"]
    c = await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=False,
                 comment="I want a refund, not a replacement")
    assert c["status"] == "ASSIGNED"  # back to the responsible department
    assert c["customerOpinions"] == [{"agreed": False, "source": "STAFF"}]
    c = await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund",
                 customerReply="We refund you in full.")
    assert c["handlingForm"]["version"] == 2
    c = await ok(gql, "rejectHandlingForm", tenant, APPROVER, complaintId=cid, note="Check the amount first")
    assert (c["status"], c["handlingForm"]["status"]) == ("ASSIGNED", "REJECTED")
    c = await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund 199",
                 customerReply="We refund 199.00.")
    await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid)
    await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    c = await ok(gql, "recordFollowUp", tenant, RECEIVER, complaintId=cid, rating="DISSATISFIED")
    assert c["status"] == "REOPENED"  # closes only when satisfied or very satisfied
    assert c["closedAt"] is None
    c = await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    assert c["status"] == "INVESTIGATING"
    assert c["investigation"] == {"valid": None, "findings": None}


async def test_unfounded_and_disputed(gql: GraphQLClient) -> None:
    c = await record(gql, TENANT_A)
    cid = c["id"]
    await ok(gql, "startInvestigation", TENANT_A, INVESTIGATOR, complaintId=cid)
    c = await ok(gql, "submitInvestigation", TENANT_A, INVESTIGATOR, complaintId=cid, valid=False,
                 findings="Used outside the instructions")
    assert c["status"] == "UNFOUNDED"
    c = await ok(gql, "reopenComplaint", TENANT_A, RECEIVER, complaintId=cid, reason="Customer disputes")
    assert c["status"] == "REOPENED"


async def test_resolve_on_the_spot_withdraw_litigation_transfer(gql: GraphQLClient) -> None:
    c = await record(gql, TENANT_A, channel="STORE")
    c = await ok(gql, "resolveOnTheSpot", TENANT_A, RECEIVER, complaintId=c["id"], resolution="Exchanged at once")
    assert (c["status"], c["resolvedOnTheSpot"]) == ("CLOSED", True)

    _, users = await directory(gql, TENANT_A)
    c = await record(gql, TENANT_A)
    cid = c["id"]
    c = await ok(gql, "transferOwnership", TENANT_A, "manager@test.example", complaintId=cid,
                 newOwnerId=users["receiver2@test.example"], reason="Receiver on leave")
    assert c["owner"]["email"] == "receiver2@test.example"
    # the new owner now speaks for the case; the former owner no longer even sees it
    c = await ok(gql, "markLitigation", TENANT_A, "receiver2@test.example", complaintId=cid)
    assert c["litigation"] is True
    c = await ok(gql, "withdrawComplaint", TENANT_A, "receiver2@test.example", complaintId=cid,
                 reason="Customer withdrew")
    assert c["status"] == "WITHDRAWN"
    history = (await gql(HISTORY, {"id": cid, "last": 3}, tenant=TENANT_A))["complaint"]["history"]
    assert [e["node"]["action"] for e in history["edges"]] == [
        "transfer_ownership", "mark_litigation", "withdraw_complaint"
    ]
    assert history["pageInfo"]["hasPreviousPage"] is True
    transfer = history["edges"][0]["node"]["changes"]
    assert transfer["toOwnerId"] != transfer["fromOwnerId"]


async def test_repeat_complaint_links_the_earlier_one(gql: GraphQLClient) -> None:
    first = await record(gql, TENANT_A)
    again = await gql(
        """mutation ($input: RecordComplaintInput!) { recordComplaint(input: $input) {
             complaint { repeatOf { number } } userErrors { code } } }""",
        {"input": {"complainant": {"name": "张三", "phone": "13800138000"}, "title": "Still leaking",
                   "description": "Second time", "channel": "PHONE", "repeatOfId": first["id"]}},
    )
    assert again["recordComplaint"]["complaint"]["repeatOf"] == {"number": first["number"]}


# Each step from a state it is not allowed in: a userError ILLEGAL_TRANSITION, and nothing changed.
ILLEGAL = [
    ("submitInvestigation", {"valid": True, "findings": "x"}),
    ("assignResponsibleDepartment", {"departmentId": "DEPT"}),
    ("proposeSolution", {"solution": "x", "customerReply": "y"}),
    ("approveHandlingForm", {}),
    ("rejectHandlingForm", {"note": "no"}),
    ("recordCustomerOpinion", {"agreed": True}),
    ("completeImplementation", {}),
    ("recordFollowUp", {"rating": "SATISFIED"}),
    ("reopenComplaint", {"reason": "x"}),
]


@pytest.mark.parametrize(("name", "extra"), ILLEGAL)
async def test_illegal_steps_from_received_change_nothing(gql: GraphQLClient, name: str,
                                                          extra: dict[str, Any]) -> None:
    units, _ = await directory(gql, TENANT_A)
    c = await record(gql, TENANT_A)
    if extra.get("departmentId") == "DEPT":
        extra = {**extra, "departmentId": units["PROD"]}
    before = await snapshot(TENANT_A, c["id"])
    payload = await step(gql, name, TENANT_A, DEFAULT_USER, complaintId=c["id"], **extra)
    assert payload["complaint"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert "RECEIVED" in payload["userErrors"][0]["message"]
    assert await snapshot(TENANT_A, c["id"]) == before


async def test_closed_and_withdrawn_are_final(gql: GraphQLClient) -> None:
    c = await record(gql, TENANT_A)
    await ok(gql, "withdrawComplaint", TENANT_A, RECEIVER, complaintId=c["id"])
    for name, extra in (("startInvestigation", {}), ("withdrawComplaint", {}), ("markLitigation", {}),
                        ("reopenComplaint", {"reason": "x"}), ("resolveOnTheSpot", {"resolution": "x"})):
        before = await snapshot(TENANT_A, c["id"])
        payload = await step(gql, name, TENANT_A, DEFAULT_USER, complaintId=c["id"], **extra)
        assert [e["code"] for e in payload["userErrors"]] == ["ILLEGAL_TRANSITION"], name
        assert await snapshot(TENANT_A, c["id"]) == before


async def test_no_promise_before_written_approval(gql: GraphQLClient) -> None:
    units, _ = await directory(gql, TENANT_A)
    c = await record(gql, TENANT_A)
    cid = c["id"]
    await ok(gql, "startInvestigation", TENANT_A, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", TENANT_A, INVESTIGATOR, complaintId=cid, valid=True, findings="ok")
    await ok(gql, "assignResponsibleDepartment", TENANT_A, DESK, complaintId=cid, departmentId=units["PROD"])
    await ok(gql, "proposeSolution", TENANT_A, HANDLER, complaintId=cid, solution="Refund",
             customerReply="We refund you.")
    for body in (None, "We refund you."):
        before = await snapshot(TENANT_A, cid)
        # the owner's policy says: only once approved
        payload = await step(gql, "sendCustomerMessage", TENANT_A, RECEIVER, complaintId=cid, body=body)
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_ALLOWED"]
        assert "owner&approved" in payload["userErrors"][0]["message"]
        # and the core refuses it even to a role the policy lets send anything
        payload = await step(gql, "sendCustomerMessage", TENANT_A, DEFAULT_USER, complaintId=cid, body=body)
        assert [e["code"] for e in payload["userErrors"]] == ["APPROVAL_REQUIRED"]
        assert await snapshot(TENANT_A, cid) == before
    await ok(gql, "approveHandlingForm", TENANT_A, APPROVER, complaintId=cid)
    before = await snapshot(TENANT_A, cid)
    payload = await step(gql, "sendCustomerMessage", TENANT_A, RECEIVER, complaintId=cid,
                         body="We refund you and add a voucher.")  # more than the approved form says
    assert payload["userErrors"] == [{"field": ["body"], "message": "only the approved reply may be sent to the "
                                      "customer", "code": "APPROVAL_REQUIRED"}]
    assert await snapshot(TENANT_A, cid) == before


async def test_rejection_needs_a_reason(gql: GraphQLClient) -> None:
    c = await drive_to_approved(gql, TENANT_B)
    assert c["handlingForm"]["status"] == "APPROVED"
    c2 = await record(gql, TENANT_B)
    units, _ = await directory(gql, TENANT_B)
    cid = c2["id"]
    await ok(gql, "startInvestigation", TENANT_B, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", TENANT_B, INVESTIGATOR, complaintId=cid, valid=True, findings="ok")
    await ok(gql, "assignResponsibleDepartment", TENANT_B, DESK, complaintId=cid, departmentId=units["CARD"])
    await ok(gql, "proposeSolution", TENANT_B, HANDLER, complaintId=cid, solution="s", customerReply="r")
    before = await snapshot(TENANT_B, cid)
    payload = await step(gql, "rejectHandlingForm", TENANT_B, APPROVER, complaintId=cid)
    assert payload["userErrors"] == [{"field": ["note"], "message": "a rejection needs a reason", "code": "REQUIRED"}]
    assert await snapshot(TENANT_B, cid) == before


async def test_assignment_needs_a_valid_investigation(gql: GraphQLClient) -> None:
    units, _ = await directory(gql, TENANT_A)
    c = await record(gql, TENANT_A)
    await ok(gql, "startInvestigation", TENANT_A, INVESTIGATOR, complaintId=c["id"])
    before = await snapshot(TENANT_A, c["id"])
    payload = await step(gql, "assignResponsibleDepartment", TENANT_A, DESK, complaintId=c["id"],
                         departmentId=units["PROD"])
    assert [e["code"] for e in payload["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert await snapshot(TENANT_A, c["id"]) == before


async def test_evidence_is_hashed_and_audited(gql: GraphQLClient) -> None:
    import base64
    import hashlib

    c = await record(gql, TENANT_A)
    content = b"photo bytes \x00\x01\x02"
    data = await gql(
        """mutation ($input: AttachEvidenceInput!) { attachEvidence(input: $input) {
             evidence { filename size sha256 uploadedBy { email } } userErrors { code field } } }""",
        {"input": {"complaintId": c["id"], "filename": "leak.jpg", "contentType": "image/jpeg",
                   "contentBase64": base64.b64encode(content).decode()}},
        user=INVESTIGATOR,
    )
    evidence = data["attachEvidence"]["evidence"]
    assert evidence == {"filename": "leak.jpg", "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                        "uploadedBy": {"email": INVESTIGATOR}}
    history = (await gql(HISTORY, {"id": c["id"], "last": 1}, tenant=TENANT_A))["complaint"]["history"]
    assert history["edges"][0]["node"]["changes"]["sha256"] == evidence["sha256"]
    before = (await snapshot(TENANT_A, c["id"]), await scalar("SELECT count(*) FROM tenant_alpha.evidence"))
    bad = await gql(
        """mutation ($input: AttachEvidenceInput!) { attachEvidence(input: $input) { userErrors { code field } } }""",
        {"input": {"complaintId": c["id"], "filename": "x", "contentType": "text/plain", "contentBase64": "!!"}},
    )
    assert bad["attachEvidence"]["userErrors"] == [{"code": "INVALID", "field": ["contentBase64"]}]
    assert (await snapshot(TENANT_A, c["id"]), await scalar("SELECT count(*) FROM tenant_alpha.evidence")) == before


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"title": "   "}, ["title"], "REQUIRED"),
        ({"title": "x" * 201}, ["title"], "TOO_LONG"),
        ({"complainant": {"name": "A", "phone": "call me"}}, ["complainant.phone"], "INVALID"),
        ({"complainant": {"name": "A", "email": "not-an-email"}}, ["complainant.email"], "INVALID"),
        ({"complainant": {"name": " "}}, ["complainant.name"], "REQUIRED"),
        ({"quantity": -1}, ["quantity"], "OUT_OF_RANGE"),
        ({"quantity": 2, "defectiveQuantity": 3}, ["defectiveQuantity"], "OUT_OF_RANGE"),
        ({"amount": "-0.01"}, ["amount"], "OUT_OF_RANGE"),
        ({"deliveryDate": "2999-01-01"}, ["deliveryDate"], "OUT_OF_RANGE"),
        ({"storeId": "T3JnVW5pdDo1YjVmZjQ5Zi0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDA="}, ["storeId"], "NOT_FOUND"),
        ({"description": "bad \x07 bell"}, ["description"], "INVALID"),
    ],
)
async def test_invalid_input_names_the_field_and_writes_nothing(
    gql: GraphQLClient, overrides: dict[str, Any], field: list[str], code: str
) -> None:
    from lifecycle import RECORD, complaint_input

    before = (await scalar("SELECT count(*) FROM tenant_alpha.complaints"),
              await scalar("SELECT count(*) FROM tenant_alpha.complainants"),
              await scalar("SELECT count(*) FROM tenant_alpha.audit_events"))
    data = await gql(RECORD, {"input": complaint_input(**overrides)})
    assert data["recordComplaint"]["complaint"] is None
    errors = data["recordComplaint"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    after = (await scalar("SELECT count(*) FROM tenant_alpha.complaints"),
             await scalar("SELECT count(*) FROM tenant_alpha.complainants"),
             await scalar("SELECT count(*) FROM tenant_alpha.audit_events"))
    assert after == before


async def test_other_tenants_ids_reach_nothing(gql: GraphQLClient) -> None:
    mine = await record(gql, TENANT_A)
    found = await gql("query ($id: ID!) { complaint(id: $id) { number } }", {"id": mine["id"]}, tenant=TENANT_B)
    assert found["complaint"] is None
    by_number = await gql("query ($n: String!) { complaintByNumber(number: $n) { id } }",
                          {"n": mine["number"]}, tenant=TENANT_B)
    # tenant B's own complaint with the same number, if it has one; never tenant A's
    own = await id_by_number(TENANT_B, mine["number"])
    assert by_number["complaintByNumber"] == (own and {"id": own})
    before = await snapshot(TENANT_A, mine["id"])
    payload = await step(gql, "withdrawComplaint", TENANT_B, RECEIVER, complaintId=mine["id"])
    assert payload["userErrors"] == [{"field": ["complaintId"], "message": "complaint not found", "code": "NOT_FOUND"}]
    assert await snapshot(TENANT_A, mine["id"]) == before


async def test_staff_operations_need_a_user(gql: GraphQLClient) -> None:
    before = await scalar("SELECT count(*) FROM tenant_alpha.complaints")
    from lifecycle import RECORD, complaint_input

    response = await gql.post(RECORD, {"input": complaint_input()}, user=None)
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    unknown = (await gql.post(RECORD, {"input": complaint_input()}, user="nobody@test.example")).json()
    assert unknown["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await scalar("SELECT count(*) FROM tenant_alpha.complaints") == before
