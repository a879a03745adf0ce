"""重大投诉 (issue 16 point 4): the tenant's criteria flag a complaint on recording (an amount) or later (media
attention); the regulator notification draft leaves out the personal data the regulator is not entitled to, waits
for the approval, and is delivered once; tenants of their own (the regulator is chosen from the whole directory)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from accountability import (
    ADMIN,
    APPROVE_MAJOR,
    DESK,
    MARK_ATTENTION,
    RECORD_MAJOR,
    SETTINGS,
    dispatch_all,
    new_user,
    row_id,
)
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import scalar
from lifecycle import complaint_input
from receiver import WebhookReceiver, verify

from services.core.tenancy import schema_for

SECRET = "regulator-secret-000001"
NAME, PHONE = "周九", "13912345678"
UPSERT = """mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) {
  externalBody { id } userErrors { field code message } } }"""


@pytest.fixture(scope="module")
async def pair(tenants: Any) -> AsyncIterator[dict[str, str]]:
    """A retail and a bank tenant of this module's own."""
    made = {"retail": await new_tenant("majr", "retail"), "bank": await new_tenant("majb", "bank")}
    yield {k: t.slug for k, t in made.items()}
    for t in made.values():
        await drop_tenant(t)


@pytest.fixture(scope="module")
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


async def _state(tenant: str) -> tuple[Any, ...]:
    s = schema_for(tenant)
    return (await scalar(f"SELECT count(*) FROM {s}.outbox WHERE idempotency_key LIKE 'major:%'"),
            await scalar(f"SELECT string_agg(state, ',' ORDER BY complaint_id) FROM {s}.major_complaints"),
            await scalar(f"SELECT count(*) FROM {s}.audit_events"))


@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_a_major_complaints_draft_approved_and_delivered_once(
    gql: GraphQLClient, pair: dict[str, str], receiver: WebhookReceiver, template: str
) -> None:
    tenant, other = pair[template], pair["bank" if template == "retail" else "retail"]
    body = (await gql(UPSERT, {"input": {"name": "Regulator", "kind": "REGULATOR", "escalationLevel": 2,
                                         "webhookUrl": receiver.url, "webhookSecret": SECRET,
                                         "receivesPersonalData": False}}, tenant=tenant, user=ADMIN))
    assert body["upsertExternalBody"]["userErrors"] == []
    settings = (await gql(SETTINGS, {"input": {"majorAmountAtLeast": "10000.00"}}, tenant=tenant, user=ADMIN))
    assert settings["updateAccountabilitySettings"]["settings"]["majorAmountAtLeast"] == "10000.00"
    liaison = await new_user(gql, tenant, "regulator_liaison" if template == "bank" else "general_manager")

    # on recording: an amount at the threshold flags it; the draft leaves the complainant out
    data = await gql(RECORD_MAJOR, {"input": complaint_input(
        complainant={"name": NAME, "phone": PHONE}, amount="10000.00",
        description=f"Lost 10000 yuan; call {NAME} on {PHONE}")}, tenant=tenant, user=DESK)
    assert data["recordComplaint"]["userErrors"] == []
    flagged = data["recordComplaint"]["complaint"]
    major = flagged["majorComplaint"]
    assert (major["reasons"], major["state"], major["approvedAt"]) == (["AMOUNT"], "DRAFT", None)
    draft = json.dumps(major["draft"], ensure_ascii=False)
    assert major["draft"]["personalDataIncluded"] is False and major["draft"]["case"]["number"] == flagged["number"]
    assert NAME not in draft and PHONE not in draft
    # below the threshold: not flagged until the media take it up
    small = (await gql(RECORD_MAJOR, {"input": complaint_input(amount="50.00")}, tenant=tenant, user=DESK))[
        "recordComplaint"]["complaint"]
    assert small["majorComplaint"] is None
    marked = (await gql(MARK_ATTENTION, {"input": {"complaintId": small["id"], "mediaAttention": True}},
                        tenant=tenant, user=DESK))["markComplaintAttention"]
    assert marked["userErrors"] == [] and marked["complaint"]["majorComplaint"]["reasons"] == ["MEDIA_ATTENTION"]

    # nothing goes out before the approval, which is the liaison's alone (the other tenant does not find the case)
    await dispatch_all(tenant)
    key = f"major:{row_id(flagged['id'])}"
    assert [r for r in receiver.requests if r.key == key] == []
    before = await _state(tenant)
    refused = (await gql(APPROVE_MAJOR, {"input": {"complaintId": flagged["id"]}}, tenant=tenant, user=DESK))[
        "approveMajorComplaintReport"]
    assert (refused["complaint"], [e["code"] for e in refused["userErrors"]]) == (None, ["NOT_ALLOWED"])
    other_liaison = await new_user(gql, other, "regulator_liaison" if template == "retail" else "general_manager")
    refused = (await gql(APPROVE_MAJOR, {"input": {"complaintId": flagged["id"]}}, tenant=other,
                         user=other_liaison))["approveMajorComplaintReport"]
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    assert await _state(tenant) == before

    approved = (await gql(APPROVE_MAJOR, {"input": {"complaintId": flagged["id"]}}, tenant=tenant, user=liaison))[
        "approveMajorComplaintReport"]
    assert approved["userErrors"] == []
    assert (approved["complaint"]["majorComplaint"]["state"],
            approved["complaint"]["majorComplaint"]["approvedBy"]) == ("SENT", {"email": liaison})
    after = await _state(tenant)
    again = (await gql(APPROVE_MAJOR, {"input": {"complaintId": flagged["id"]}}, tenant=tenant, user=liaison))[
        "approveMajorComplaintReport"]
    assert [e["code"] for e in again["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert await _state(tenant) == after

    await dispatch_all(tenant)
    await dispatch_all(tenant)
    delivered = [r for r in receiver.requests if r.key == key]
    assert len(delivered) == 1 and verify(SECRET, delivered[0].body, delivered[0].signature)
    sent = json.loads(delivered[0].body)
    assert (sent["event"], sent["dossierSha256"]) == ("complaint.major", major["draftSha256"])
    assert sent["dossier"] == major["draft"]
    assert NAME not in delivered[0].body.decode() and PHONE not in delivered[0].body.decode()
    # the draft is sealed at rest
    sealed = await scalar(f"SELECT draft FROM {schema_for(tenant)}.major_complaints WHERE complaint_id = :c",
                          c=row_id(flagged["id"]))
    assert flagged["number"].encode() not in bytes(sealed)
