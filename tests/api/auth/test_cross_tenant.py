"""A token of tenant A reaches nothing of tenant B, whatever IDs it sends: "not found", and B unchanged."""

from __future__ import annotations

from typing import Any

from api.auth.authkit import ADMIN, bearer
from conftest import TENANT_A, TENANT_B, GraphQLClient, access_token
from helpers import rows, scalar
from lifecycle import directory, id_by_number, record

RECEIVER = "receiver@test.example"
INVESTIGATOR = "investigator@test.example"
READ = """
query ($id: ID!, $number: String!) {
  complaint(id: $id) { id number title }
  node(id: $id) { id }
  complaintByNumber(number: $number) { id }
}
"""
MUTATIONS = {
    "withdrawComplaint": ("WithdrawComplaintInput", {"reason": "not mine"}),
    "startInvestigation": ("StartInvestigationInput", {}),
    "markLitigation": ("MarkLitigationInput", {"litigation": True}),
    "reopenComplaint": ("ReasonInput", {"reason": "again"}),
}


async def _snapshot_b(complaint_id: str, user_email: str) -> tuple[Any, ...]:
    import base64

    raw_id = base64.b64decode(complaint_id).decode().split(":", 1)[1]
    complaint = await rows("SELECT status, owner_id, litigation, closed_at FROM tenant_beta.complaints WHERE id = :i",
                           i=raw_id)
    events = await scalar("SELECT count(*) FROM tenant_beta.audit_events")
    user = await rows("SELECT roles, password_hash, active FROM tenant_beta.users WHERE email = :e", e=user_email)
    units = await scalar("SELECT count(*) FROM tenant_beta.org_units")
    return tuple(complaint), events, tuple(user), units


async def test_a_token_of_a_reaches_nothing_of_b(gql: GraphQLClient) -> None:
    theirs = await record(gql, TENANT_B, title="Beta's own complaint")
    _, b_users = await directory(gql, TENANT_B)
    _, a_users = await directory(gql, TENANT_A)
    b_user = b_users[RECEIVER]
    assert b_user != a_users[RECEIVER]
    before = await _snapshot_b(theirs["id"], RECEIVER)

    for email in (RECEIVER, ADMIN):
        token = await access_token(TENANT_A, email)
        assert token is not None
        data = (await bearer(gql, token, READ, {"id": theirs["id"], "number": theirs["number"]})).json()["data"]
        assert data["complaint"] is None and data["node"] is None
        # tenant A's own complaint of that number where the user sees it (a receiver: their own), never B's
        own = await id_by_number(TENANT_A, theirs["number"], None if email == ADMIN else email)
        assert data["complaintByNumber"] == (own and {"id": own})
        for user_id in (b_user,):
            node = (await bearer(gql, token, "query ($id: ID!) { node(id: $id) { id } }", {"id": user_id})).json()
            assert node["data"]["node"] is None

    for name, (input_type, extra) in MUTATIONS.items():
        for email in (RECEIVER, INVESTIGATOR, ADMIN):
            token = await access_token(TENANT_A, email)
            assert token is not None
            query = f"mutation ($input: {input_type}!) {{ {name}(input: $input) {{ complaint {{ id }} " \
                    "userErrors { field message code } } }"
            response = await bearer(gql, token, query, {"input": {"complaintId": theirs["id"], **extra}})
            payload = response.json()["data"][name]
            assert payload["complaint"] is None, (name, email)
            assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], (name, email, payload)
            assert payload["userErrors"][0]["field"] == ["complaintId"]

    admin = await access_token(TENANT_A, ADMIN)
    assert admin is not None
    org_mutations = [
        ("mutation ($id: ID!) { assignRole(input: {userId: $id, roles: [\"tenant_admin\"]}) "
         "{ user { id } userErrors { code } } }", "assignRole"),
        ("mutation ($id: ID!) { setPassword(input: {userId: $id, password: \"taken over by alpha\"}) "
         "{ user { id } userErrors { code } } }", "setPassword"),
    ]
    for query, name in org_mutations:
        payload = (await bearer(gql, admin, query, {"id": b_user})).json()["data"][name]
        assert payload == {"user": None, "userErrors": [{"code": "NOT_FOUND"}]}, name
    b_units, _ = await directory(gql, TENANT_B)
    parent = next(iter(b_units.values()))
    unit = (await bearer(gql, admin, "mutation ($p: ID!) { createOrgUnit(input: {name: \"x\", kind: STORE, "
                                     "parentId: $p}) { orgUnit { id } userErrors { code } } }", {"p": parent})).json()
    assert unit["data"]["createOrgUnit"] == {"orgUnit": None, "userErrors": [{"code": "NOT_FOUND"}]}

    assert await _snapshot_b(theirs["id"], RECEIVER) == before
