"""The lifecycle walked as the template's own roles (policies/retail.csv, policies/bank.csv), never as the
all-rights test role: each step by the role its policy gives it, and each step refused to a role that must not
take it (NOT_ALLOWED where the role may see the case, NOT_FOUND where it may not even see it), nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import scalar
from lifecycle import HISTORY, RECORD, complaint_input, directory, ok, record, snapshot, step

RECEIVER = "receiver@test.example"  # the first receiver: owns the case
OTHER_RECEIVER = "receiver2@test.example"  # same role and unit, not the owner
INVESTIGATOR = "investigator@test.example"
DESK = "desk@test.example"
HANDLER = "handler@test.example"  # of the responsible department (retail PROD, bank CARD)
OTHER_HANDLER = "handler2@test.example"  # of another department (retail QA, bank RETAIL)
APPROVER = "approver@test.example"
MANAGER = "manager@test.example"

TEMPLATES = {
    # tenant: (store, responsible department, who proposes the handling form: both may by the policies)
    TENANT_A: ("ST-001", "PROD", HANDLER),
    TENANT_B: ("BR-SH-01", "CARD", DESK),
}


async def refused(gql: GraphQLClient, tenant: str, cid: str, name: str, user: str, code: str,
                  **input_: Any) -> None:
    """``user`` may not take step ``name``: exactly ``code``, no complaint in the payload, nothing changed."""
    before = await snapshot(tenant, cid)
    payload = await step(gql, name, tenant, user, complaintId=cid, **input_)
    assert payload["complaint"] is None, (name, user)
    assert [e["code"] for e in payload["userErrors"]] == [code], (name, user, payload["userErrors"])
    assert await snapshot(tenant, cid) == before, (name, user)


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_each_step_by_its_own_role_and_refused_to_the_others(gql: GraphQLClient, tenant: str) -> None:
    store, department, proposer = TEMPLATES[tenant]
    units, _ = await directory(gql, tenant)
    schema = f"tenant_{tenant}"

    # recording: a receiver may, an investigator may not (and nothing is written)
    counts = (await scalar(f"SELECT count(*) FROM {schema}.complaints"),
              await scalar(f"SELECT count(*) FROM {schema}.audit_events"))
    data = await gql(RECORD, {"input": complaint_input(storeId=units[store])}, tenant=tenant, user=INVESTIGATOR)
    assert data["recordComplaint"]["complaint"] is None
    assert [e["code"] for e in data["recordComplaint"]["userErrors"]] == ["NOT_ALLOWED"]
    assert (await scalar(f"SELECT count(*) FROM {schema}.complaints"),
            await scalar(f"SELECT count(*) FROM {schema}.audit_events")) == counts
    c = await record(gql, tenant, RECEIVER, storeId=units[store])
    assert (c["status"], c["owner"]["email"]) == ("RECEIVED", RECEIVER)
    cid = c["id"]

    # the owner does not investigate; the investigator does
    await refused(gql, tenant, cid, "startInvestigation", RECEIVER, "NOT_ALLOWED")
    c = await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    assert c["status"] == "INVESTIGATING"

    # the findings: not the approver's to submit; a handler of a department cannot even see the case yet
    findings = {"valid": True, "findings": "Seal defect confirmed"}
    await refused(gql, tenant, cid, "submitInvestigation", APPROVER, "NOT_ALLOWED", **findings)
    await refused(gql, tenant, cid, "submitInvestigation", HANDLER, "NOT_FOUND", **findings)
    c = await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, **findings)
    assert c["investigation"] == {"valid": True, "findings": "Seal defect confirmed"}

    # the transfer slip is the complaint desk's
    await refused(gql, tenant, cid, "assignResponsibleDepartment", INVESTIGATOR, "NOT_ALLOWED",
                  departmentId=units[department])
    c = await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid, departmentId=units[department])
    assert (c["status"], c["responsibleDepartment"]) == ("ASSIGNED", {"code": department})

    # the handling form: a handler of another department sees nothing, the owner may not propose
    form = {"solution": "Replace the kettle", "customerReply": "We will replace your kettle free of charge."}
    await refused(gql, tenant, cid, "proposeSolution", OTHER_HANDLER, "NOT_FOUND", **form)
    await refused(gql, tenant, cid, "proposeSolution", RECEIVER, "NOT_ALLOWED", **form)
    c = await ok(gql, "proposeSolution", tenant, proposer, complaintId=cid, **form)
    assert (c["status"], c["handlingForm"]["status"]) == ("SOLUTION_PROPOSED", "PENDING_APPROVAL")

    # written approval: the approver's alone (not the desk's, not the department's)
    await refused(gql, tenant, cid, "approveHandlingForm", DESK, "NOT_ALLOWED")
    await refused(gql, tenant, cid, "approveHandlingForm", HANDLER, "NOT_ALLOWED")
    c = await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid, note="OK")
    assert (c["status"], c["handlingForm"]["status"]) == ("APPROVED", "APPROVED")

    # the customer hears from the owner only: another receiver cannot see the case, the approver may not speak
    await refused(gql, tenant, cid, "sendCustomerMessage", OTHER_RECEIVER, "NOT_FOUND")
    await refused(gql, tenant, cid, "sendCustomerMessage", APPROVER, "NOT_ALLOWED")
    c = await ok(gql, "sendCustomerMessage", tenant, RECEIVER, complaintId=cid)
    assert (c["status"], c["customerMessages"]) == ("AWAITING_CUSTOMER", [{"body": form["customerReply"]}])

    await refused(gql, tenant, cid, "recordCustomerOpinion", DESK, "NOT_ALLOWED", agreed=True)
    c = await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    assert c["status"] == "IMPLEMENTING"

    # implementation: the responsible department's; the desk proposes but does not implement
    await refused(gql, tenant, cid, "completeImplementation", DESK, "NOT_ALLOWED")
    await refused(gql, tenant, cid, "completeImplementation", OTHER_HANDLER, "NOT_FOUND")
    c = await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    assert c["status"] == "FOLLOW_UP"

    await refused(gql, tenant, cid, "recordFollowUp", MANAGER, "NOT_ALLOWED", rating="SATISFIED")
    c = await ok(gql, "recordFollowUp", tenant, RECEIVER, complaintId=cid, rating="SATISFIED")
    assert (c["status"], c["satisfactionSurvey"]) == ("CLOSED", {"rating": "SATISFIED"})

    history = (await gql(HISTORY, {"id": cid, "first": 100}, tenant=tenant, user=RECEIVER))["complaint"]["history"]
    assert [(e["node"]["action"], e["node"]["actor"]) for e in history["edges"]] == [
        ("record_complaint", RECEIVER), ("start_investigation", INVESTIGATOR),
        ("submit_investigation", INVESTIGATOR), ("assign_responsible_department", DESK),
        ("propose_solution", proposer), ("approve_handling_form", APPROVER), ("send_customer_message", RECEIVER),
        ("record_customer_opinion", RECEIVER), ("complete_implementation", HANDLER), ("record_follow_up", RECEIVER),
    ]


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_the_way_back_by_the_template_roles(gql: GraphQLClient, tenant: str) -> None:
    """Rejection, disagreement, dissatisfaction and a reopening, each as its role; the others refused."""
    _, department, proposer = TEMPLATES[tenant]
    units, users = await directory(gql, tenant)
    cid = (await record(gql, tenant, RECEIVER))["id"]
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True, findings="ok")
    await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid, departmentId=units[department])
    await ok(gql, "proposeSolution", tenant, proposer, complaintId=cid, solution="Refund", customerReply="A refund.")

    await refused(gql, tenant, cid, "rejectHandlingForm", proposer, "NOT_ALLOWED", note="no")
    c = await ok(gql, "rejectHandlingForm", tenant, APPROVER, complaintId=cid, note="Check the amount")
    assert (c["status"], c["handlingForm"]["status"]) == ("ASSIGNED", "REJECTED")
    await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund 199",
             customerReply="We refund 199.00.")
    await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid)
    await ok(gql, "sendCustomerMessage", tenant, RECEIVER, complaintId=cid)
    c = await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    c = await ok(gql, "recordFollowUp", tenant, RECEIVER, complaintId=cid, rating="DISSATISFIED")
    assert c["status"] == "REOPENED"

    # ownership moves only by a manager; then the new owner speaks for the case and the former one sees nothing
    await refused(gql, tenant, cid, "transferOwnership", DESK, "NOT_ALLOWED", newOwnerId=users[OTHER_RECEIVER],
                  reason="leave")
    c = await ok(gql, "transferOwnership", tenant, MANAGER, complaintId=cid, newOwnerId=users[OTHER_RECEIVER],
                 reason="Receiver on leave")
    assert c["owner"]["email"] == OTHER_RECEIVER
    await refused(gql, tenant, cid, "withdrawComplaint", RECEIVER, "NOT_FOUND", reason="x")
    await refused(gql, tenant, cid, "markLitigation", HANDLER, "NOT_ALLOWED")
    c = await ok(gql, "markLitigation", tenant, OTHER_RECEIVER, complaintId=cid)
    assert c["litigation"] is True
    c = await ok(gql, "withdrawComplaint", tenant, OTHER_RECEIVER, complaintId=cid, reason="Customer withdrew")
    assert c["status"] == "WITHDRAWN"
