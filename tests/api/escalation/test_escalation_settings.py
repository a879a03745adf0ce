"""The automatic-escalation setting through GraphQL: ``escalationSettings`` (``external_body.read``) and
``updateEscalationSettings`` (``external_body.manage``), and that it really decides what a final dissatisfaction
does. Two retail tenants of their own (both start with the setting off)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import rows, scalar
from lifecycle import directory, ok, record
from receiver import WebhookReceiver

from services.core.tenancy import TenantRef

ADMIN, DESK, RECEIVER = "admin@test.example", "desk@test.example", "receiver@test.example"
INVESTIGATOR, HANDLER, APPROVER = "investigator@test.example", "handler@test.example", "approver@test.example"

READ = "query { escalationSettings { autoEscalateOnFinalDissatisfaction } }"
UPDATE = """mutation ($on: Boolean!) { updateEscalationSettings(input: {autoEscalateOnFinalDissatisfaction: $on}) {
  settings { autoEscalateOnFinalDissatisfaction } userErrors { field message code } } }"""
UPSERT = """mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) { userErrors { code } } }"""
ESCALATIONS = "query ($id: ID!) { complaint(id: $id) { status escalations { step trigger body { name } } } }"


@pytest.fixture
async def pair(tenants: Any) -> AsyncIterator[tuple[TenantRef, TenantRef]]:
    a, b = await new_tenant("esa"), await new_tenant("esb")
    try:
        yield a, b
    finally:
        await drop_tenant(a)
        await drop_tenant(b)


async def _stored(tenant: TenantRef) -> tuple[bool, int]:
    """The setting as stored, and the audit trail's length."""
    return (await scalar(f'SELECT auto_escalate_on_final_dissatisfaction FROM "{tenant.schema}".tenant_settings'),
            await scalar(f'SELECT count(*) FROM "{tenant.schema}".audit_events'))


async def _setting(gql: GraphQLClient, tenant: TenantRef, user: str = RECEIVER) -> bool:
    value: bool = (await gql(READ, tenant=tenant.slug, user=user))["escalationSettings"][
        "autoEscalateOnFinalDissatisfaction"]
    return value


async def test_admin_switches_it_in_one_tenant_only_and_others_are_refused(
    gql: GraphQLClient, pair: tuple[TenantRef, TenantRef]
) -> None:
    a, b = pair
    assert (await _setting(gql, a), await _setting(gql, b)) == (False, False)  # retail's default
    # read needs external_body.read: an investigator has none
    hidden = (await gql.post(READ, tenant=a.slug, user=INVESTIGATOR)).json()
    assert hidden["data"] is None and [e["extensions"]["code"] for e in hidden["errors"]] == ["FORBIDDEN"]
    # a receiver may read it but not change it: refused, nothing changed
    before_a, before_b = await _stored(a), await _stored(b)
    for user in (RECEIVER, DESK):
        refused = (await gql(UPDATE, {"on": True}, tenant=a.slug, user=user))["updateEscalationSettings"]
        assert refused["settings"] is None
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(None, "NOT_ALLOWED")]
    assert (await _stored(a), await _stored(b)) == (before_a, before_b)

    done = (await gql(UPDATE, {"on": True}, tenant=a.slug, user=ADMIN))["updateEscalationSettings"]
    assert done == {"settings": {"autoEscalateOnFinalDissatisfaction": True}, "userErrors": []}
    assert await _stored(a) == (True, before_a[1] + 1)
    event = (await rows(f"""SELECT action, subject_type, changes, actor_label FROM "{a.schema}".audit_events
                            ORDER BY seq DESC LIMIT 1"""))[0]
    assert (event.action, event.subject_type, event.actor_label) == (
        "update_escalation_settings", "TenantSettings", ADMIN)
    assert event.changes == {"autoEscalateOnFinalDissatisfaction": True, "before": False}
    assert (await _setting(gql, a), await _setting(gql, b)) == (True, False)
    assert await _stored(b) == before_b  # B's setting and trail untouched
    # the value it has already: nothing to audit
    same = (await gql(UPDATE, {"on": True}, tenant=a.slug, user=ADMIN))["updateEscalationSettings"]
    assert same["userErrors"] == [] and await _stored(a) == (True, before_a[1] + 1)


async def _to_follow_up(gql: GraphQLClient, tenant: str) -> str:
    units, _ = await directory(gql, tenant)
    cid = (await record(gql, tenant))["id"]
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True, findings="Confirmed")
    await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid, departmentId=units["PROD"])
    await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund", customerReply="Refund")
    await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid)
    await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    return str(cid)


async def _dissatisfied(gql: GraphQLClient, tenant: TenantRef) -> tuple[str, list[tuple[int, str, str]]]:
    """A case taken to its follow-up, where the customer is not satisfied: its status and escalations."""
    cid = await _to_follow_up(gql, tenant.slug)
    await ok(gql, "recordFollowUp", tenant.slug, RECEIVER, complaintId=cid, rating="DISSATISFIED")
    view = (await gql(ESCALATIONS, {"id": cid}, tenant=tenant.slug, user=DESK))["complaint"]
    return view["status"], [(e["step"], e["trigger"], e["body"]["name"]) for e in view["escalations"]]


async def test_the_setting_decides_what_a_final_dissatisfaction_does(
    gql: GraphQLClient, pair: tuple[TenantRef, TenantRef]
) -> None:
    a, b = pair
    with WebhookReceiver() as receiver:
        for t in (a, b):
            made = await gql(UPSERT, {"input": {"name": "Consumer Association", "kind": "CONSUMER_ASSOCIATION",
                                                "escalationLevel": 1, "webhookUrl": receiver.url}},
                             tenant=t.slug, user=ADMIN)
            assert made["upsertExternalBody"]["userErrors"] == []
        # off (retail's default): the case reopens
        assert await _dissatisfied(gql, a) == ("REOPENED", [])
        # switched on in A: the next one escalates at once to the first body; B, still off, reopens
        assert (await gql(UPDATE, {"on": True}, tenant=a.slug, user=ADMIN))["updateEscalationSettings"][
            "userErrors"] == []
        assert await _dissatisfied(gql, a) == ("ESCALATED", [(1, "FINAL_DISSATISFACTION", "Consumer Association")])
        assert await _dissatisfied(gql, b) == ("REOPENED", [])
        # and off again
        assert (await gql(UPDATE, {"on": False}, tenant=a.slug, user=ADMIN))["updateEscalationSettings"][
            "settings"] == {"autoEscalateOnFinalDissatisfaction": False}
        assert await _dissatisfied(gql, a) == ("REOPENED", [])
