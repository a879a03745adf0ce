"""GraphQL operations for the lifecycle, shared by the complaint tests."""

from __future__ import annotations

import base64
from typing import Any

from conftest import GraphQLClient
from helpers import rows, scalar

FIELDS = """
  id number status owner { email } responsibleDepartment { code } litigation closedAt resolvedOnTheSpot
  investigation { valid findings } transferSlip { department { code } answeredAt }
  handlingForm { version status solution customerReply decisionNote }
  customerOpinions { agreed source } satisfactionSurvey { rating } customerMessages { body }
"""
PAYLOAD = f"complaint {{ {FIELDS} }} userErrors {{ field message code }}"

EXTEND = """
mutation ($input: ExtendDeadlineInput!) { extendDeadline(input: $input) {
  deadline { kind dueAt extensionCount } userErrors { field code message } } }
"""
EXTENSION_REQUEST = ("extensionRequest { id kind extensionNumber addDays reason complex state requestedAt decidedAt "
                     "decisionNote requestedBy { email } decidedBy { email } } complaint { id } "
                     "userErrors { field code message }")
REQUEST_EXTENSION = f"""
mutation ($input: RequestDeadlineExtensionInput!) {{
  requestDeadlineExtension(input: $input) {{ {EXTENSION_REQUEST} }} }}
"""
APPROVE_EXTENSION = f"""
mutation ($input: ApproveDeadlineExtensionInput!) {{
  approveDeadlineExtension(input: $input) {{ {EXTENSION_REQUEST} }} }}
"""
REJECT_EXTENSION = f"""
mutation ($input: RejectDeadlineExtensionInput!) {{
  rejectDeadlineExtension(input: $input) {{ {EXTENSION_REQUEST} }} }}
"""
HISTORY = """
query ($id: ID!, $first: Int, $after: String, $last: Int) {
  complaint(id: $id) {
    history(first: $first, after: $after, last: $last) {
      totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
      edges { cursor node { seq action fromStatus toStatus actor changes } }
    }
  }
}
"""
RECORD = f"""
mutation ($input: RecordComplaintInput!) {{
  recordComplaint(input: $input) {{ accessCode {PAYLOAD} }}
}}
"""


def step_mutation(name: str, input_type: str) -> str:
    return f"mutation ($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD} }} }}"


STEPS = {
    "resolveOnTheSpot": "ResolveOnTheSpotInput",
    "startInvestigation": "StartInvestigationInput",
    "submitInvestigation": "SubmitInvestigationInput",
    "assignResponsibleDepartment": "AssignResponsibleDepartmentInput",
    "proposeSolution": "ProposeSolutionInput",
    "approveHandlingForm": "DecideHandlingFormInput",
    "rejectHandlingForm": "DecideHandlingFormInput",
    "sendCustomerMessage": "SendCustomerMessageInput",
    "recordCustomerOpinion": "RecordCustomerOpinionInput",
    "completeImplementation": "CompleteImplementationInput",
    "recordFollowUp": "RecordFollowUpInput",
    "reopenComplaint": "ReasonInput",
    "withdrawComplaint": "WithdrawComplaintInput",
    "markLitigation": "MarkLitigationInput",
    "transferOwnership": "TransferOwnershipInput",
    "proposeOpinion": "ProposeOpinionInput",
    "requestReview": "RequestReviewInput",
    "assignReviewer": "AssignReviewerInput",
    "answerReview": "AnswerReviewInput",
    "reviewComplaint": "ReviewComplaintInput",
}

UNITS = "query { orgUnits { id code kind } users { id email } }"


async def directory(gql: GraphQLClient, tenant: str) -> tuple[dict[str, str], dict[str, str]]:
    data = await gql(UNITS, tenant=tenant)
    return {u["code"]: u["id"] for u in data["orgUnits"] if u["code"]}, {u["email"]: u["id"] for u in data["users"]}


def complaint_input(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "complainant": {"name": "张三", "phone": "13800138000", "email": "zhang@example.com"},
        "title": "Kettle leaks",
        "description": "The kettle bought last week leaks from the base.",
        "channel": "PHONE",
    }
    base.update(overrides)
    return base


async def record(gql: GraphQLClient, tenant: str, user: str = "receiver@test.example", **overrides: Any
                 ) -> dict[str, Any]:
    data = await gql(RECORD, {"input": complaint_input(**overrides)}, tenant=tenant, user=user)
    payload = data["recordComplaint"]
    assert payload["userErrors"] == [], payload
    result: dict[str, Any] = payload["complaint"]
    result["accessCode"] = payload["accessCode"]
    return result


async def step(gql: GraphQLClient, name: str, tenant: str, user: str, **input_: Any) -> dict[str, Any]:
    """Run a step; returns the payload (complaint and userErrors)."""
    data = await gql(step_mutation(name, STEPS[name]), {"input": input_}, tenant=tenant, user=user)
    payload: dict[str, Any] = data[name]
    return payload


async def ok(gql: GraphQLClient, name: str, tenant: str, user: str, **input_: Any) -> dict[str, Any]:
    payload = await step(gql, name, tenant, user, **input_)
    assert payload["userErrors"] == [], (name, payload["userErrors"])
    complaint: dict[str, Any] = payload["complaint"]
    return complaint


def schema_of(tenant: str) -> str:
    return f"tenant_{tenant}"


async def snapshot(tenant: str, complaint_id: str) -> tuple[Any, ...]:
    """What a refused step must leave exactly as it was: the complaint's row, its forms, the tenant's audit trail."""
    raw_id = base64.b64decode(complaint_id).decode().split(":", 1)[1]
    s = schema_of(tenant)
    return (
        await rows(f"SELECT status, owner_id, updated_at, litigation, closed_at, responsible_department_id, "
                   f"resolution FROM {s}.complaints WHERE id = :i", i=raw_id),
        await scalar(f"SELECT count(*) FROM {s}.audit_events"),
        await rows(f"SELECT version, status, decided_by FROM {s}.handling_forms WHERE complaint_id = :i "
                   "ORDER BY version", i=raw_id),
        await rows(f"SELECT valid, submitted_at FROM {s}.investigations WHERE complaint_id = :i", i=raw_id),
        await scalar(f"SELECT count(*) FROM {s}.customer_messages WHERE complaint_id = :i", i=raw_id),
        await scalar(f"SELECT count(*) FROM {s}.customer_opinions WHERE complaint_id = :i", i=raw_id),
        await scalar(f"SELECT count(*) FROM {s}.transfer_slips WHERE complaint_id = :i", i=raw_id),
        await scalar(f"SELECT count(*) FROM {s}.satisfaction_surveys WHERE complaint_id = :i", i=raw_id),
    )


async def id_by_number(tenant: str, number: str, owner: str | None = None) -> str | None:
    """The global ID of ``tenant``'s own complaint numbered ``number`` (owned by ``owner``, when given), read from
    the database: what ``complaintByNumber`` must answer there, to a user who sees any (or only their own) case."""
    raw_id = await scalar(f"SELECT c.id FROM {schema_of(tenant)}.complaints c JOIN {schema_of(tenant)}.users u "
                          "ON u.id = c.owner_id WHERE c.number = :n AND (CAST(:o AS text) IS NULL OR u.email = :o)",
                          n=number, o=owner)
    return None if raw_id is None else base64.b64encode(f"Complaint:{raw_id}".encode()).decode()
