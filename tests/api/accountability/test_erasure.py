"""Erasing a complainant reaches the accountability records (issue 16): the opinion-book entries that name them
(reconciled to their complaint, or only carrying their phone, with no complaint behind them) lose the customer's
details, and the major complaint's regulator notification draft loses the personal data; a draft already sent
stays as sent. Both templates, tenants of this module's own (the regulator is chosen from the whole directory),
the other tenant untouched."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from accountability import (
    ADMIN,
    APPROVE_MAJOR,
    DESK,
    RECEIVER,
    RECORD_ENTRY,
    RECORD_MAJOR,
    SETTINGS,
    dispatch_all,
    new_user,
    row_id,
    unique_phone,
)
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import scalar
from lifecycle import complaint_input, directory
from receiver import WebhookReceiver
from sqlalchemy import select

from services.core.accountability.models import MajorComplaint, OpinionBookEntry
from services.core.complaints.erasure import erase_expired_in
from services.core.outbox.models import OutboxItem
from services.core.tenancy import resolve_tenant, schema_for, tenant_session

STORE = {"retail": ("ST-001", "BR-EAST"), "bank": ("BR-SH-01", "BR-SH")}  # a store, and the branch above it
UPSERT = """mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) {
  externalBody { id } userErrors { field code message } } }"""
ERASE = """mutation ($input: EraseComplainantInput!) { eraseComplainant(input: $input) {
  complaint { id complainant { erased } } userErrors { field code message } } }"""
ENTRIES = """query ($storeId: ID) { opinionBookEntries(storeId: $storeId, spotCheck: false) {
  id text customerName customerPhone customerErased hasComplaint } }"""
MAJOR = """query ($id: ID!) { complaint(id: $id) { id majorComplaint { state draft draftSha256 complainantErased
  approvedAt } } }"""


@pytest.fixture(scope="module")
async def pair(tenants: Any) -> AsyncIterator[dict[str, str]]:
    made = {"retail": await new_tenant("ersr", "retail"), "bank": await new_tenant("ersb", "bank")}
    yield {k: t.slug for k, t in made.items()}
    for t in made.values():
        await drop_tenant(t)


@pytest.fixture(scope="module")
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


_SET_UP: dict[str, dict[str, Any]] = {}


async def _setup(gql: GraphQLClient, tenant: str, template: str, receiver: WebhookReceiver) -> dict[str, Any]:
    """The tenant's regulator (entitled to personal data), the amount criterion, the books' keepers: once."""
    if tenant in _SET_UP:
        return _SET_UP[tenant]
    body = await gql(UPSERT, {"input": {"name": "Regulator", "kind": "REGULATOR", "escalationLevel": 2,
                                        "webhookUrl": receiver.url, "webhookSecret": "regulator-secret-000002",
                                        "receivesPersonalData": True}}, tenant=tenant, user=ADMIN)
    assert body["upsertExternalBody"]["userErrors"] == []
    settings = await gql(SETTINGS, {"input": {"majorAmountAtLeast": "10000.00"}}, tenant=tenant, user=ADMIN)
    assert settings["updateAccountabilitySettings"]["userErrors"] == []
    units, _ = await directory(gql, tenant)
    stores = [units[code] for code in STORE[template]]
    # retail: the store's own manager keeps its book; bank: the branch's receiver; the branch's: the desk
    keepers = [await new_user(gql, tenant, "store_manager", stores[0], name="店长") if template == "retail"
               else RECEIVER, DESK]
    _SET_UP[tenant] = {"stores": stores, "keepers": keepers, "liaison": await new_user(
        gql, tenant, "regulator_liaison" if template == "bank" else "general_manager")}
    return _SET_UP[tenant]


async def _major(gql: GraphQLClient, tenant: str, store: str, name: str, phone: str) -> dict[str, Any]:
    data = await gql(RECORD_MAJOR, {"input": complaint_input(
        complainant={"name": name, "phone": phone}, amount="10000.00", storeId=store,
        description=f"Lost 10000 yuan; call {name} on {phone}")}, tenant=tenant, user=DESK)
    assert data["recordComplaint"]["userErrors"] == [], data
    complaint: dict[str, Any] = data["recordComplaint"]["complaint"]
    assert complaint["majorComplaint"]["state"] == "DRAFT"
    return complaint


async def _entry(gql: GraphQLClient, tenant: str, keeper: str, store: str, **input_: Any) -> dict[str, Any]:
    payload = (await gql(RECORD_ENTRY, {"input": {"storeId": store, "entryDate": datetime.now(UTC).date().isoformat(),
                                                  **input_}}, tenant=tenant, user=keeper))["recordOpinionBookEntry"]
    assert payload["userErrors"] == [], payload
    entry: dict[str, Any] = payload["entry"]
    return entry


async def _entries(gql: GraphQLClient, tenant: str) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in (await gql(ENTRIES, {"storeId": None}, tenant=tenant, user=DESK))[
        "opinionBookEntries"]}


async def _sealed(tenant: str) -> tuple[dict[uuid.UUID, tuple[Any, Any, Any]], dict[uuid.UUID, str],
                                        dict[uuid.UUID, str]]:
    """With the tenant's keys: every entry's customer details as stored, every draft and every major outbox
    payload decrypted (JSON text)."""
    async with tenant_session(await resolve_tenant(tenant)) as session:
        entries = {e.id: (e.customer_name, e.customer_phone, e.phone_key)
                   for e in (await session.scalars(select(OpinionBookEntry))).all()}
        drafts = {m.complaint_id: json.dumps(m.draft, ensure_ascii=False)
                  for m in (await session.scalars(select(MajorComplaint))).all()}
        items = {o.complaint_id: json.dumps(o.payload, ensure_ascii=False)
                 for o in (await session.scalars(select(OutboxItem).where(
                     OutboxItem.idempotency_key.like("major:%")))).all()}
    return entries, drafts, items


@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_erasure_reaches_opinion_book_entries_and_major_complaint_drafts(
    gql: GraphQLClient, pair: dict[str, str], receiver: WebhookReceiver, template: str
) -> None:
    tenant = pair[template]
    other_template = "bank" if template == "retail" else "retail"
    other = pair[other_template]
    here = await _setup(gql, tenant, template, receiver)
    there = await _setup(gql, other, other_template, receiver)
    tag = uuid.uuid4().hex[:6]
    name, phone = f"钱{tag}", unique_phone()
    sent_name, sent_phone = f"孙{tag}", unique_phone()
    bystander = unique_phone()
    store, far_store = here["stores"]

    pending = await _major(gql, tenant, store, name, phone)
    sent = await _major(gql, tenant, store, sent_name, sent_phone)
    assert name in json.dumps(pending["majorComplaint"]["draft"], ensure_ascii=False)  # the regulator may have it
    approved = (await gql(APPROVE_MAJOR, {"input": {"complaintId": sent["id"]}}, tenant=tenant,
                          user=here["liaison"]))["approveMajorComplaintReport"]
    assert approved["userErrors"] == []
    sent_major = approved["complaint"]["majorComplaint"]
    await dispatch_all(tenant)
    delivered = [r for r in receiver.requests if r.key == f"major:{row_id(sent['id'])}"]
    assert len(delivered) == 1 and sent_phone in delivered[0].body.decode()

    reconciled = await _entry(gql, tenant, here["keepers"][0], store, text="水壶漏水 Kettle leaks",
                              customerName=name, customerPhone=phone, complaintId=pending["id"])
    no_complaint = await _entry(gql, tenant, here["keepers"][1], far_store, text="Rude staff at the other store",
                                customerName=f"{name}-2", customerPhone=phone)
    untouched = await _entry(gql, tenant, here["keepers"][1], far_store, text="Someone else",
                             customerName="李四", customerPhone=bystander)
    sent_entry = await _entry(gql, tenant, here["keepers"][0], store, text="Lost money",
                              customerName=sent_name, customerPhone=sent_phone, complaintId=sent["id"])
    # the same person in the other tenant: a complaint and an entry that must stay
    twin = await _major(gql, other, there["stores"][0], name, phone)
    twin_entry = await _entry(gql, other, there["keepers"][1], there["stores"][1], text="Same person elsewhere",
                              customerName=name, customerPhone=phone)
    before = await _entries(gql, tenant)
    assert before[no_complaint["id"]]["hasComplaint"] is False
    assert (before[reconciled["id"]]["customerName"], before[reconciled["id"]]["customerErased"]) == (name, False)
    other_before = await _sealed(other)

    erased = (await gql(ERASE, {"input": {"complaintId": pending["id"], "reason": "the customer asked"}},
                        tenant=tenant, user=ADMIN))["eraseComplainant"]
    assert erased["userErrors"] == [] and erased["complaint"]["complainant"]["erased"] is True

    after = await _entries(gql, tenant)
    for gone in (reconciled["id"], no_complaint["id"]):
        assert (after[gone]["customerName"], after[gone]["customerPhone"], after[gone]["customerErased"]) == (
            "[erased]", None, True)
        assert after[gone]["text"] == before[gone]["text"]  # the entry itself stays in the register
    assert after[untouched["id"]] == before[untouched["id"]]
    assert after[sent_entry["id"]] == before[sent_entry["id"]]
    major = (await gql(MAJOR, {"id": pending["id"]}, tenant=tenant, user=DESK))["complaint"]["majorComplaint"]
    text = json.dumps(major["draft"], ensure_ascii=False)
    assert (major["state"], major["complainantErased"], major["draft"]["personalDataIncluded"]) == (
        "DRAFT", True, False)
    assert "complainant" not in major["draft"] and name not in text and phone not in text
    assert major["draft"]["complainantErased"] is True and major["draftSha256"] != pending["majorComplaint"][
        "draftSha256"]
    assert major["draft"]["case"]["number"] == pending["number"]

    # in the database, opened with the tenant's keys: nothing of theirs decrypts any more
    entries, drafts, _ = await _sealed(tenant)
    for gone in (reconciled["id"], no_complaint["id"]):
        assert entries[uuid.UUID(row_id(gone))] == (None, None, None)
    assert name not in drafts[uuid.UUID(row_id(pending["id"]))]
    assert phone not in drafts[uuid.UUID(row_id(pending["id"]))]
    for column in ("customer_name", "customer_phone", "phone_key"):
        assert await scalar(f"SELECT count(*) FROM {schema_for(tenant)}.opinion_book_entries WHERE id IN (:a, :b) "
                            f"AND {column} IS NOT NULL", a=row_id(reconciled["id"]), b=row_id(no_complaint["id"])) == 0
    # the other tenant: untouched
    assert await _sealed(other) == other_before
    twin_now = (await gql(MAJOR, {"id": twin["id"]}, tenant=other, user=DESK))["complaint"]["majorComplaint"]
    assert twin_now["complainantErased"] is False and name in json.dumps(twin_now["draft"], ensure_ascii=False)
    twin_entries = await _entries(gql, other)
    assert (twin_entries[twin_entry["id"]]["customerName"], twin_entries[twin_entry["id"]]["customerErased"]) == (
        name, False)

    # a draft already sent: erasing its complainant keeps it SENT with the hash of what went out; the copies the
    # tenant kept (the draft, the delivered outbox item) lose the personal data; the audit holds none
    erased = (await gql(ERASE, {"input": {"complaintId": sent["id"], "reason": "the customer asked"}},
                        tenant=tenant, user=ADMIN))["eraseComplainant"]
    assert erased["userErrors"] == []
    kept = (await gql(MAJOR, {"id": sent["id"]}, tenant=tenant, user=DESK))["complaint"]["majorComplaint"]
    assert (kept["state"], kept["draftSha256"], kept["approvedAt"], kept["complainantErased"]) == (
        "SENT", sent_major["draftSha256"], sent_major["approvedAt"], True)
    assert sent_name not in json.dumps(kept["draft"], ensure_ascii=False)
    _, drafts, items = await _sealed(tenant)
    sid = uuid.UUID(row_id(sent["id"]))
    for stored in (drafts[sid], items[sid]):
        assert sent_name not in stored and sent_phone not in stored
    assert json.loads(items[sid])["dossierSha256"] == sent_major["draftSha256"]
    audit = await scalar(f"SELECT changes::text FROM {schema_for(tenant)}.audit_events "
                         "WHERE action = 'approve_major_report' AND subject_id = :c", c=row_id(sent["id"]))
    assert audit is not None and sent_major["draftSha256"] in audit and sent_name not in audit
    assert (await _entries(gql, tenant))[sent_entry["id"]]["customerErased"] is True
    verified = await gql("query { auditVerification { ok } }", tenant=tenant, user=ADMIN)
    assert verified["auditVerification"]["ok"] is True


RETENTION = """mutation ($days: Int) { setRetentionPeriod(input: {days: $days}) {
  retentionDays userErrors { field message code } } }"""


async def test_retention_clears_entries_with_no_complaint_behind_them(gql: GraphQLClient, pair: dict[str, str],
                                                                      receiver: WebhookReceiver) -> None:
    """An entry naming a customer who never filed a complaint: its details go once the tenant's retention period
    has passed since its day; a newer one, a reconciled one, and the other tenant's stay."""
    tenant, other = pair["bank"], pair["retail"]
    here = await _setup(gql, tenant, "bank", receiver)
    there = await _setup(gql, other, "retail", receiver)
    today = datetime.now(UTC).date()
    old_day = (today.replace(year=today.year - 1)).isoformat()
    store = here["stores"][0]
    old = await _entry(gql, tenant, here["keepers"][0], store, text="Old", customerName="郑十",
                       customerPhone=unique_phone(), entryDate=old_day)
    new = await _entry(gql, tenant, here["keepers"][0], store, text="New", customerName="王十一",
                       customerPhone=unique_phone())
    case = await _major(gql, tenant, store, "冯十二", unique_phone())
    old_reconciled = await _entry(gql, tenant, here["keepers"][0], store, text="Old, reconciled",
                                  customerName="冯十二", entryDate=old_day, complaintId=case["id"])
    elsewhere = await _entry(gql, other, there["keepers"][0], there["stores"][0], text="Old elsewhere",
                             customerName="郑十", customerPhone=unique_phone(), entryDate=old_day)
    assert (await gql(RETENTION, {"days": 30}, tenant=tenant, user=ADMIN))["setRetentionPeriod"]["userErrors"] == []
    try:
        await erase_expired_in(await resolve_tenant(tenant), now=datetime.now(UTC))
        await erase_expired_in(await resolve_tenant(other), now=datetime.now(UTC))  # no retention period there
    finally:
        await gql(RETENTION, {"days": None}, tenant=tenant, user=ADMIN)
    listed = await _entries(gql, tenant)
    assert (listed[old["id"]]["customerName"], listed[old["id"]]["customerPhone"],
            listed[old["id"]]["customerErased"], listed[old["id"]]["text"]) == ("[erased]", None, True, "Old")
    assert (listed[new["id"]]["customerName"], listed[new["id"]]["customerErased"]) == ("王十一", False)
    assert (listed[old_reconciled["id"]]["customerName"], listed[old_reconciled["id"]]["customerErased"]) == (
        "冯十二", False)
    assert (await _entries(gql, other))[elsewhere["id"]]["customerName"] == "郑十"
    entries, _, _ = await _sealed(tenant)
    assert entries[uuid.UUID(row_id(old["id"]))] == (None, None, None)
