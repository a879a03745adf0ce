"""External bodies, escalation (by hand and automatic), routing and notifications through GraphQL.

Runs in two tenants of its own (a bank, auto-escalation on; a retail chain, off): the next body is chosen
from the tenant's whole directory, so other tests' bodies must not be in it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import GraphQLClient, add_staff
from helpers import scalar
from lifecycle import directory, ok, record
from receiver import WebhookReceiver, verify

from services.core.outbox.service import dispatch_due
from services.core.tenancy import TenantStatus, resolve_tenant, schema_for, tenant_session
from tenants.provision import create_tenant, delete_tenant, set_status
from tenants.templates import BANK, RETAIL

ADMIN, DESK, RECEIVER = "admin@test.example", "desk@test.example", "receiver@test.example"
INVESTIGATOR, HANDLER, APPROVER = "investigator@test.example", "handler@test.example", "approver@test.example"
SECRET = "association-secret-0001"
NAME, PHONE, EMAIL = "张三", "13800138000", "zhang@example.com"

UPSERT = """mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) {
  externalBody { id name kind escalationLevel hasWebhookSecret receivesPersonalData webhookUrl handles }
  userErrors { field code message } } }"""
BODIES = "query ($h: String) { externalBodies(handles: $h) { id name escalationLevel } }"
ESCALATE = """mutation ($input: EscalateComplaintInput!) { escalateComplaint(input: $input) {
  complaint { status escalations { step level state trigger body { name } } }
  escalation { id step level state idempotencyKey dossierSha256 personalDataIncluded deliveredAt receipt
               body { name } }
  userErrors { field code message } } }"""
ROUTE = """mutation ($input: RouteComplaintInput!) { routeComplaint(input: $input) {
  complaint { status routings { mode note body { name kind } } } routing { mode }
  userErrors { field code message } } }"""
COMPLAINT = """query ($id: ID!) { complaint(id: $id) { status escalations { step state trigger deliveredAt receipt
  body { name } } } }"""
NOTES = """query ($u: Boolean!) { notifications(unreadOnly: $u, first: 50) { unreadCount
  edges { node { id kind title readAt complaint { number } } } } }"""
MARK = """mutation ($input: MarkNotificationReadInput!) { markNotificationRead(input: $input) {
  notification { readAt } unreadCount userErrors { field code } } }"""


def raw_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


@pytest.fixture(scope="module")
async def bank(tenants: Any) -> AsyncIterator[str]:
    slug = f"escb-{uuid.uuid4().hex[:6]}"
    await create_tenant(slug, template="bank")
    await add_staff(slug)
    yield slug
    await set_status(slug, TenantStatus.SUSPENDED)
    await delete_tenant(slug)


@pytest.fixture(scope="module")
async def retail(tenants: Any) -> AsyncIterator[str]:
    slug = f"escr-{uuid.uuid4().hex[:6]}"
    await create_tenant(slug, template="retail")
    await add_staff(slug)
    yield slug
    await set_status(slug, TenantStatus.SUSPENDED)
    await delete_tenant(slug)


@pytest.fixture(scope="module")
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


async def _bodies(gql: GraphQLClient, tenant: str, url: str) -> dict[str, str]:
    out = {}
    for name, kind, level, personal, hook in (
        ("Banking Association", "INDUSTRY_ASSOCIATION", 1, False, url),
        ("Financial Regulator", "REGULATOR", 2, True, url),
        ("Price Bureau", "PRICE_BUREAU", None, False, None),
    ):
        data = await gql(UPSERT, {"input": {"name": name, "kind": kind, "escalationLevel": level,
                                            "receivesPersonalData": personal, "webhookUrl": hook,
                                            "webhookSecret": SECRET if hook else None,
                                            "handles": ["PRICING"] if kind == "PRICE_BUREAU" else []}},
                         tenant=tenant, user=ADMIN)
        payload = data["upsertExternalBody"]
        assert payload["userErrors"] == [], payload
        out[name] = payload["externalBody"]["id"]
    return out


async def _ensure_bodies(gql: GraphQLClient, tenant: str, url: str) -> dict[str, str]:
    """The three bodies of ``_bodies`` in ``tenant``, made now unless an earlier test of the module made them: each
    test that needs them stands alone, in any order."""
    listed = {b["name"]: b["id"] for b in (await gql(BODIES, tenant=tenant, user=DESK))["externalBodies"]}
    mine = ("Banking Association", "Financial Regulator", "Price Bureau")  # (the template seeds others, inactive)
    if all(name in listed for name in mine):
        return {name: listed[name] for name in mine}
    return await _bodies(gql, tenant, url)


async def _dispatch(tenant: str) -> None:
    ref = await resolve_tenant(tenant)
    async with tenant_session(ref) as session:
        while (await dispatch_due(session, now=datetime.now(UTC))).claimed:
            pass


async def _counts(tenant: str) -> tuple[int, ...]:
    s = f'"tenant_{tenant.replace("-", "_")}"'
    return tuple([await scalar(f"SELECT count(*) FROM {s}.{t}")
                  for t in ("escalations", "outbox", "audit_events", "external_bodies", "routings")])


async def _unfounded(gql: GraphQLClient, tenant: str) -> str:
    c = await record(gql, tenant, description=f"Card fee charged twice; call me on {PHONE} or mail {EMAIL}.")
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=c["id"])
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=c["id"], valid=False,
             findings=f"Fee is in the contract signed by {NAME}")
    return str(c["id"])


async def test_directory_admin_only_validated_and_isolated(gql: GraphQLClient, bank: str, retail: str,
                                                          receiver: WebhookReceiver) -> None:
    ids = await _ensure_bodies(gql, bank, receiver.url)
    listed = (await gql(BODIES, tenant=bank, user=DESK))["externalBodies"]
    # besides the template's entries to complete (inactive: never chosen, test_onboarding.py)
    to_complete = {b.name for b in BANK.external_bodies}
    assert [b["name"] for b in listed if b["name"] not in to_complete] == [
        "Banking Association", "Financial Regulator", "Price Bureau"]
    assert len(listed) == 3 + len(to_complete)
    assert [b["name"] for b in (await gql(BODIES, {"h": "PRICING"}, tenant=bank, user=DESK))["externalBodies"]] == [
        "Price Bureau"]
    before = await _counts(bank)
    refused = (await gql(UPSERT, {"input": {"name": "Sneaky", "kind": "OTHER"}}, tenant=bank, user=RECEIVER))
    assert refused["upsertExternalBody"]["userErrors"][0]["code"] == "NOT_ALLOWED"
    for bad, field, code in (({"webhookUrl": "ftp://example.org/x"}, "webhookUrl", "INVALID"),
                             ({"webhookSecret": "short"}, "webhookSecret", "OUT_OF_RANGE"),
                             ({"escalationLevel": 12}, "escalationLevel", "OUT_OF_RANGE"),
                             ({"name": "Price Bureau"}, "name", "DUPLICATE"),
                             ({"name": "  "}, "name", "REQUIRED")):
        data = await gql(UPSERT, {"input": {"name": "New body", "kind": "OTHER", **bad}}, tenant=bank, user=ADMIN)
        assert [(e["field"], e["code"]) for e in data["upsertExternalBody"]["userErrors"]] == [([field], code)], bad
    assert await _counts(bank) == before
    # tenant B sees none of tenant A's bodies, and cannot use their ids
    assert {b["name"] for b in (await gql(BODIES, tenant=retail, user=DESK))["externalBodies"]} == {
        b.name for b in RETAIL.external_bodies}
    cid = await _unfounded(gql, retail)
    foreign = {"complaintId": cid, "reason": "x", "externalBodyId": ids["Banking Association"]}
    data = await gql(ESCALATE, {"input": foreign}, tenant=retail, user=DESK)
    assert [(e["field"], e["code"]) for e in data["escalateComplaint"]["userErrors"]] == [(["externalBodyId"],
                                                                                           "NOT_FOUND")]
    bodies_before = await scalar(f"SELECT array_agg(name || ':' || kind ORDER BY name) FROM {schema_for(bank)}"
                                 ".external_bodies")
    got = await gql(UPSERT, {"input": {"id": ids["Price Bureau"], "name": "Hijack", "kind": "OTHER"}}, tenant=retail,
                    user=ADMIN)
    assert [e["code"] for e in got["upsertExternalBody"]["userErrors"]] == ["NOT_FOUND"]
    assert await scalar(f"SELECT count(*) FROM {schema_for(retail)}.external_bodies") == len(RETAIL.external_bodies)
    assert await scalar(f"SELECT array_agg(name || ':' || kind ORDER BY name) FROM {schema_for(bank)}"
                        ".external_bodies") == bodies_before


async def test_escalation_by_hand_one_per_step_with_dossier_and_receipt(
    gql: GraphQLClient, bank: str, receiver: WebhookReceiver
) -> None:
    await _ensure_bodies(gql, bank, receiver.url)
    cid = await _unfounded(gql, bank)
    # not allowed for a receiver, even the owner (who sees the case); nothing changes
    before = await _counts(bank)
    data = await gql(ESCALATE, {"input": {"complaintId": cid, "reason": "Customer re-complains"}}, tenant=bank,
                     user=RECEIVER)
    assert [e["code"] for e in data["escalateComplaint"]["userErrors"]] == ["NOT_ALLOWED"]
    assert data["escalateComplaint"]["escalation"] is None
    assert await _counts(bank) == before
    first = (await gql(ESCALATE, {"input": {"complaintId": cid, "reason": "Customer re-complains", "step": 1}},
                       tenant=bank, user=DESK))["escalateComplaint"]
    assert first["userErrors"] == []
    esc = first["escalation"]
    assert (esc["step"], esc["level"], esc["state"], esc["body"]["name"]) == (1, 1, "PENDING", "Banking Association")
    assert esc["idempotencyKey"] == f"escalation:{raw_id(cid)}:1" and esc["personalDataIncluded"] is False
    assert first["complaint"]["status"] == "ESCALATED"
    # the same request again (a double click, a retry): the same escalation, nothing new
    after_first = await _counts(bank)
    again = (await gql(ESCALATE, {"input": {"complaintId": cid, "reason": "Customer re-complains", "step": 1}},
                       tenant=bank, user=DESK))["escalateComplaint"]
    assert again["userErrors"] == [] and again["escalation"]["id"] == esc["id"]
    assert await _counts(bank) == after_first

    await _dispatch(bank)
    delivered = [r for r in receiver.requests if r.key == esc["idempotencyKey"]]
    assert len(delivered) == 1 and verify(SECRET, delivered[0].body, delivered[0].signature)
    sent = json.loads(delivered[0].body)
    dossier = json.dumps(sent["dossier"], ensure_ascii=False)
    assert sent["dossierSha256"] == esc["dossierSha256"]
    for personal in (NAME, PHONE, EMAIL):  # not entitled: left out and scrubbed from the free texts
        assert personal not in dossier
    assert "[redacted]" in dossier and "complainant" not in sent["dossier"]
    assert [e["action"] for e in sent["dossier"]["timeline"]][:3] == [
        "record_complaint", "start_investigation", "submit_investigation"]
    assert sent["dossier"]["forms"]["investigation"]["valid"] is False
    view = (await gql(COMPLAINT, {"id": cid}, tenant=bank, user=DESK))["complaint"]
    assert view["escalations"][0]["state"] == "DELIVERED" and view["escalations"][0]["deliveredAt"]
    assert view["escalations"][0]["receipt"]["status"] == 200 and view["escalations"][0]["receipt"]["receiverId"]

    # step 2: the regulator, which is entitled to the complainant's identity
    second = (await gql(ESCALATE, {"input": {"complaintId": cid, "reason": "Still unresolved"}}, tenant=bank,
                        user=DESK))["escalateComplaint"]
    assert second["userErrors"] == []
    assert (second["escalation"]["step"], second["escalation"]["body"]["name"]) == (2, "Financial Regulator")
    await _dispatch(bank)
    to_regulator = json.loads(next(r for r in receiver.requests if r.key.endswith(":2") and raw_id(cid) in r.key).body)
    assert to_regulator["dossier"]["complainant"]["name"] == NAME
    assert PHONE in json.dumps(to_regulator["dossier"], ensure_ascii=False)

    # no third level: refused, nothing written
    before = await _counts(bank)
    third = (await gql(ESCALATE, {"input": {"complaintId": cid, "reason": "Again"}}, tenant=bank,
                       user=DESK))["escalateComplaint"]
    assert [(e["field"], e["code"]) for e in third["userErrors"]] == [(["externalBodyId"], "NOT_FOUND")]
    bad_step = (await gql(ESCALATE, {"input": {"complaintId": cid, "reason": "Again", "step": 5}}, tenant=bank,
                          user=DESK))["escalateComplaint"]
    assert [(e["field"], e["code"]) for e in bad_step["userErrors"]] == [(["step"], "INVALID")]
    assert await _counts(bank) == before

    # the owner was told (in-app), and marks it read; another user cannot touch it
    notes = (await gql(NOTES, {"u": True}, tenant=bank, user=RECEIVER))["notifications"]
    number = await scalar(f"SELECT number FROM {schema_for(bank)}.complaints WHERE id = :i", i=raw_id(cid))
    escalated = [n["node"] for n in notes["edges"]  # this case's (the module's other tests escalate cases too)
                 if n["node"]["kind"] == "ESCALATED" and n["node"]["complaint"]["number"] == number]
    assert len(escalated) == 2  # one per step
    foreign = await gql(MARK, {"input": {"notificationId": escalated[0]["id"]}}, tenant=bank, user=DESK)
    assert foreign["markNotificationRead"]["userErrors"] == [{"field": ["notificationId"], "code": "NOT_FOUND"}]
    assert await scalar(f"SELECT read_at FROM {schema_for(bank)}.notifications WHERE id = :i",
                        i=raw_id(escalated[0]["id"])) is None  # still unread
    marked = (await gql(MARK, {"input": {"notificationId": escalated[0]["id"]}}, tenant=bank, user=RECEIVER))
    assert marked["markNotificationRead"]["notification"]["readAt"]
    assert marked["markNotificationRead"]["unreadCount"] == notes["unreadCount"] - 1


async def _to_follow_up(gql: GraphQLClient, tenant: str, department: str) -> str:
    units, _ = await directory(gql, tenant)
    c = await record(gql, tenant)
    cid = c["id"]
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True, findings="Confirmed")
    await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid, departmentId=units[department])
    await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund", customerReply="Refund")
    await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid)
    await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    return str(cid)


async def test_automatic_escalation_on_final_dissatisfaction_once(
    gql: GraphQLClient, bank: str, retail: str, receiver: WebhookReceiver
) -> None:
    from services.core.audit.service import Actor
    from services.core.escalation.service import on_final_dissatisfaction

    await _ensure_bodies(gql, bank, receiver.url)
    cid = await _to_follow_up(gql, bank, "CARD")
    c = await ok(gql, "recordFollowUp", bank, RECEIVER, complaintId=cid, rating="DISSATISFIED")
    assert c["status"] == "ESCALATED"
    view = (await gql(COMPLAINT, {"id": cid}, tenant=bank, user=DESK))["complaint"]
    assert [(e["step"], e["trigger"], e["body"]["name"]) for e in view["escalations"]] == [
        (1, "FINAL_DISSATISFACTION", "Banking Association")]
    # the trigger fires again for the same survey (a redelivered message, a retried hook): still one
    schema = f'"tenant_{bank.replace("-", "_")}"'
    survey = await scalar(f"SELECT id FROM {schema}.satisfaction_surveys WHERE complaint_id = :c", c=raw_id(cid))
    before = await _counts(bank)
    async with tenant_session(await resolve_tenant(bank)) as session, session.begin():
        again = await on_final_dissatisfaction(session, actor=Actor.system(), now=datetime.now(UTC),
                                               complaint_id=uuid.UUID(raw_id(cid)), survey_id=survey)
    assert again is not None and again.step == 1
    assert await _counts(bank) == before
    # retail: auto-escalation is off by default, the case reopens
    rid = await _to_follow_up(gql, retail, "PROD")
    r = await ok(gql, "recordFollowUp", retail, RECEIVER, complaintId=rid, rating="VERY_DISSATISFIED")
    assert r["status"] == "REOPENED"
    assert (await gql(COMPLAINT, {"id": rid}, tenant=retail, user=DESK))["complaint"]["escalations"] == []


async def test_routing_recorded_and_refusals_change_nothing(gql: GraphQLClient, bank: str,
                                                           receiver: WebhookReceiver) -> None:
    listed = await _ensure_bodies(gql, bank, receiver.url)
    c = await record(gql, bank, title="Hospital overcharged me")
    before = await _counts(bank)
    refused = await gql(ROUTE, {"input": {"complaintId": c["id"], "externalBodyId": listed["Price Bureau"],
                                          "mode": "CUSTOMER_TOLD"}}, tenant=bank, user="receiver2@test.example")
    # another receiver: not the owner, so the case is not even visible to them
    assert [e["code"] for e in refused["routeComplaint"]["userErrors"]] == ["NOT_FOUND"]
    assert await _counts(bank) == before
    data = (await gql(ROUTE, {"input": {"complaintId": c["id"], "externalBodyId": listed["Price Bureau"],
                                        "mode": "CUSTOMER_TOLD", "note": "Told to call the price bureau 12358"}},
                      tenant=bank, user=RECEIVER))["routeComplaint"]
    assert data["userErrors"] == []
    assert data["complaint"]["routings"] == [{"mode": "CUSTOMER_TOLD", "note": "Told to call the price bureau 12358",
                                              "body": {"name": "Price Bureau", "kind": "PRICE_BUREAU"}}]
    after = await _counts(bank)
    assert (after[1], after[4]) == (before[1], before[4] + 1)  # recorded; nothing to send
