"""Every query and mutation that takes an ID, sent by a token of tenant A with IDs of tenant B.

The user of A holds every right in A (its tenant admin could grant that), so nothing but the
tenant boundary stands between the request and B's objects: each must answer "not found" (a
null, or a NOT_FOUND userError), and B must be unchanged.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from conftest import DEFAULT_USER, TENANT_A, TENANT_B, GraphQLClient
from helpers import scalar
from lifecycle import STEPS, directory, id_by_number, ok, record, step_mutation

B_TABLES = ("complaints", "audit_events", "users", "org_units", "categories", "handling_forms", "evidence",
            "customer_messages", "transfer_slips", "policy_rules")


async def _b_state() -> tuple[Any, ...]:
    counts = [await scalar(f"SELECT count(*) FROM tenant_beta.{t}") for t in B_TABLES]
    latest = await scalar("SELECT max(updated_at)::text FROM tenant_beta.complaints")
    roles = await scalar("SELECT string_agg(array_to_string(roles, ','), ';' ORDER BY email) FROM tenant_beta.users")
    return (*counts, latest, roles)


@pytest.fixture
async def b_ids(gql: GraphQLClient) -> dict[str, str]:
    units, users = await directory(gql, TENANT_B)
    c = await record(gql, TENANT_B, user="receiver@test.example")
    await ok(gql, "startInvestigation", TENANT_B, "investigator@test.example", complaintId=c["id"])
    category = (await gql("{ categories { id code } }", tenant=TENANT_B))["categories"][0]["id"]
    return {"complaint": c["id"], "number": c["number"], "unit": units["CARD"], "user": users["handler@test.example"],
            "category": category}


STEP_INPUTS: dict[str, dict[str, Any]] = {
    "resolveOnTheSpot": {"resolution": "x"},
    "startInvestigation": {},
    "submitInvestigation": {"valid": True, "findings": "x"},
    "assignResponsibleDepartment": {"departmentId": "@unit"},
    "proposeSolution": {"solution": "x", "customerReply": "y"},
    "approveHandlingForm": {},
    "rejectHandlingForm": {"note": "x"},
    "sendCustomerMessage": {},
    "recordCustomerOpinion": {"agreed": True},
    "completeImplementation": {},
    "recordFollowUp": {"rating": "SATISFIED"},
    "reopenComplaint": {"reason": "x"},
    "withdrawComplaint": {},
    "markLitigation": {},
    "transferOwnership": {"newOwnerId": "@user", "reason": "x"},
    "proposeOpinion": {"opinion": "x"},
    "requestReview": {"reason": "x"},
    "assignReviewer": {"reviewerId": "@user"},
    "answerReview": {"outcome": "UPHELD", "answer": "x"},
    "reviewComplaint": {"findings": "x"},
}


@pytest.mark.parametrize("name", sorted(STEPS))
async def test_every_step_with_a_complaint_of_another_tenant(gql: GraphQLClient, b_ids: dict[str, str],
                                                             name: str) -> None:
    extra = {k: b_ids[v[1:]] if isinstance(v, str) and v.startswith("@") else v
             for k, v in STEP_INPUTS[name].items()}
    before = await _b_state()
    data = await gql(step_mutation(name, STEPS[name]), {"input": {"complaintId": b_ids["complaint"], **extra}},
                     tenant=TENANT_A, user=DEFAULT_USER)
    payload = data[name]
    assert payload["complaint"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], payload
    assert await _b_state() == before


OTHER_MUTATIONS = [
    ("attachEvidence", "AttachEvidenceInput",
     {"complaintId": "@complaint", "filename": "f", "contentType": "text/plain",
      "contentBase64": base64.b64encode(b"x").decode()}),
    ("reviewComplaint", "ReviewComplaintInput", {"complaintId": "@complaint", "findings": "x"}),
    ("assignRole", "AssignRoleInput", {"userId": "@user", "roles": ["tenant_admin"]}),
    ("setPassword", "SetPasswordInput", {"userId": "@user", "password": "a long password 1"}),
    ("createOrgUnit", "CreateOrgUnitInput", {"name": "x", "kind": "STORE", "parentId": "@unit"}),
    ("createUser", "CreateUserInput", {"email": "x@cross.example", "displayName": "x", "orgUnitId": "@unit"}),
]


@pytest.mark.parametrize(("name", "input_type", "input_"), OTHER_MUTATIONS, ids=[m[0] for m in OTHER_MUTATIONS])
async def test_other_mutations_with_ids_of_another_tenant(gql: GraphQLClient, b_ids: dict[str, str], name: str,
                                                          input_type: str, input_: dict[str, Any]) -> None:
    resolved = {k: b_ids[v[1:]] if isinstance(v, str) and v.startswith("@") else v for k, v in input_.items()}
    before = await _b_state()
    data = await gql(f"mutation ($input: {input_type}!) {{ {name}(input: $input) {{ userErrors {{ code }} }} }}",
                     {"input": resolved}, tenant=TENANT_A, user=DEFAULT_USER)
    assert [e["code"] for e in data[name]["userErrors"]] == ["NOT_FOUND"], data
    assert await _b_state() == before


async def test_queries_with_ids_of_another_tenant(gql: GraphQLClient, b_ids: dict[str, str]) -> None:
    before = await _b_state()
    for query, variables in (
        ("query ($id: ID!) { complaint(id: $id) { id } }", {"id": b_ids["complaint"]}),
        ("query ($id: ID!) { node(id: $id) { id } }", {"id": b_ids["complaint"]}),
        ("query ($id: ID!) { node(id: $id) { id } }", {"id": b_ids["user"]}),
        ("query ($id: ID!) { node(id: $id) { id } }", {"id": b_ids["unit"]}),
        ("query ($id: ID!) { node(id: $id) { id } }", {"id": b_ids["category"]}),
    ):
        data = await gql(query, variables, tenant=TENANT_A, user=DEFAULT_USER)
        assert list(data.values()) == [None], (query, data)
    mine = await gql("query ($n: String!) { complaintByNumber(number: $n) { id } }", {"n": b_ids["number"]},
                     tenant=TENANT_A, user=DEFAULT_USER)
    # tenant A's own complaint of that number, if it has one (serials are per tenant): never B's
    own = await id_by_number(TENANT_A, b_ids["number"])
    assert mine["complaintByNumber"] == (own and {"id": own})
    can = await gql('query ($id: ID) { canI(action: "complaint.read", complaintId: $id) { allowed reason } }',
                    {"id": b_ids["complaint"]}, tenant=TENANT_A, user=DEFAULT_USER)
    assert can["canI"] == {"allowed": False, "reason": "complaint not found"}
    for field in ("ownerId", "departmentId", "categoryId"):
        value = {"ownerId": b_ids["user"], "departmentId": b_ids["unit"], "categoryId": b_ids["category"]}[field]
        listed = await gql("query ($f: ComplaintFilter) { complaints(filter: $f, first: 100) { totalCount } }",
                           {"f": {field: value}}, tenant=TENANT_A, user=DEFAULT_USER)
        assert listed["complaints"]["totalCount"] == 0, field
    assert await _b_state() == before
