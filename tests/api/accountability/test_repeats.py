"""二次投诉 and the stores' opinion books (issue 16 point 3): a repeat by the same phone number within the tenant's
window is proposed on recording, and not outside it; a confirmed repeat of an unanswered complaint counts against
the store and opens a penalty proposal; an opinion-book entry with no complaint behind it is found by the spot
check; two tenants, both templates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from accountability import (
    ADMIN,
    CONFIRM_REPEAT,
    DESK,
    ENTRIES,
    PENALTIES,
    RECEIVER,
    RECONCILE_ENTRY,
    RECORD_ENTRY,
    RECORD_WITH_REPEAT,
    REVIEWER,
    SETTINGS,
    count,
    new_user,
    row_id,
    unique_phone,
)
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import scalar
from lifecycle import complaint_input, directory

SH = ZoneInfo("Asia/Shanghai")
CLOCK_START = datetime(2032, 1, 5, 10, tzinfo=SH)
STORE = {TENANT_A: "ST-001", TENANT_B: "BR-SH-01"}


async def _record(gql: GraphQLClient, tenant: str, phone: str, user: str = RECEIVER, **extra: Any) -> dict[str, Any]:
    data = await gql(RECORD_WITH_REPEAT, {"input": complaint_input(
        complainant={"name": "赵六", "phone": phone}, **extra)}, tenant=tenant, user=user)
    assert data["recordComplaint"]["userErrors"] == [], data
    complaint: dict[str, Any] = data["recordComplaint"]["complaint"]
    return complaint


async def _confirm(gql: GraphQLClient, tenant: str, user: str, cid: str, confirm: bool) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(CONFIRM_REPEAT, {"input": {"complaintId": cid, "confirm": confirm}},
                                         tenant=tenant, user=user))["confirmRepeat"]
    return payload


async def _repeat_state(tenant: str) -> tuple[Any, ...]:
    return (await count(tenant, "repeat_proposals"), await count(tenant, "penalties"),
            await count(tenant, "audit_events"),
            await scalar(f"SELECT count(*) FROM tenant_{tenant}.repeat_proposals WHERE state = 'PROPOSED'"))


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_repeat_by_phone_within_and_outside_the_window(gql: GraphQLClient, clock: Any, tenant: str) -> None:
    day = CLOCK_START + timedelta(days=40 if tenant == TENANT_B else 0)
    clock.at = day
    units, _ = await directory(gql, tenant)
    payload = (await gql(SETTINGS, {"input": {"repeatWindowDays": 10}}, tenant=tenant, user=ADMIN))[
        "updateAccountabilitySettings"]
    assert payload["settings"]["repeatWindowDays"] == 10
    phone = unique_phone()
    first = await _record(gql, tenant, phone, storeId=units[STORE[tenant]])
    assert first["repeatProposal"] is None

    # five days later, the same phone (written another way): proposed as a repeat of the first
    clock.at = day + timedelta(days=5)
    second = await _record(gql, tenant, f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}", storeId=units[STORE[tenant]])
    assert second["repeatProposal"] == {"matchedOn": "PHONE", "state": "PROPOSED", "leftUnanswered": None,
                                        "penaltyId": None, "earlier": {"id": first["id"]}, "countedAgainst": None}
    assert second["repeatOf"] is None
    # the same phone in the other tenant is nobody there
    other = TENANT_B if tenant == TENANT_A else TENANT_A
    assert (await _record(gql, other, phone))["repeatProposal"] is None

    # outside the window (the second is 11 days back): nothing proposed
    clock.at = day + timedelta(days=16)
    third = await _record(gql, tenant, phone, storeId=units[STORE[tenant]])
    assert third["repeatProposal"] is None

    # only the desk decides; nothing to decide on the third; the other tenant does not find the case
    before = await _repeat_state(tenant)
    for user, cid, code in ((RECEIVER, second["id"], "NOT_ALLOWED"), (DESK, third["id"], "ILLEGAL_TRANSITION")):
        refused = await _confirm(gql, tenant, user, cid, True)
        assert (refused["complaint"], [e["code"] for e in refused["userErrors"]]) == (None, [code])
    refused = await _confirm(gql, other, DESK, second["id"], True)
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    assert await _repeat_state(tenant) == before

    # confirmed: the first was never answered, so the repeat counts against its store and opens a penalty proposal
    payload = await _confirm(gql, tenant, DESK, second["id"], True)
    assert payload["userErrors"] == []
    confirmed = payload["complaint"]
    assert confirmed["repeatOf"] == {"id": first["id"]}
    assert (confirmed["repeatProposal"]["state"], confirmed["repeatProposal"]["leftUnanswered"],
            confirmed["repeatProposal"]["countedAgainst"]) == ("CONFIRMED", True, {"code": STORE[tenant]})
    penalties = (await gql(PENALTIES, {"complaintId": second["id"]}, tenant=tenant, user=DESK))["penalties"]
    assert [(p["id"], p["source"], p["state"], p["serious"], p["orgUnit"]) for p in penalties] == [
        (confirmed["repeatProposal"]["penaltyId"], "REPEAT", "PROPOSED", True, {"code": STORE[tenant]})]
    before = await _repeat_state(tenant)
    refused = await _confirm(gql, tenant, DESK, second["id"], False)
    assert [e["code"] for e in refused["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert await _repeat_state(tenant) == before


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_a_dismissed_repeat_and_an_answered_one_count_against_no_store(gql: GraphQLClient, clock: Any,
                                                                             tenant: str) -> None:
    clock.at = CLOCK_START + timedelta(days=100 + (tenant == TENANT_B))
    units, _ = await directory(gql, tenant)
    await gql(SETTINGS, {"input": {"repeatWindowDays": 10}}, tenant=tenant, user=ADMIN)
    phone = unique_phone()
    first = await _record(gql, tenant, phone, storeId=units[STORE[tenant]])
    answered = await gql("""mutation ($input: ResolveOnTheSpotInput!) { resolveOnTheSpot(input: $input) {
      userErrors { code } } }""", {"input": {"complaintId": first["id"], "resolution": "Exchanged"}}, tenant=tenant,
                         user=RECEIVER)
    assert answered["resolveOnTheSpot"]["userErrors"] == []
    second = await _record(gql, tenant, phone, storeId=units[STORE[tenant]])
    third = await _record(gql, tenant, phone, storeId=units[STORE[tenant]], orderNumber="ORD-1")
    assert second["repeatProposal"]["earlier"] == {"id": first["id"]}
    assert third["repeatProposal"]["earlier"] == {"id": second["id"]}
    # another matter: a different order number is no repeat of the third
    fourth = await _record(gql, tenant, phone, storeId=units[STORE[tenant]], orderNumber="ORD-2")
    assert fourth["repeatProposal"]["earlier"] == {"id": second["id"]}  # (the second names no order)

    penalties_before = await count(tenant, "penalties")
    payload = await _confirm(gql, tenant, DESK, second["id"], True)
    assert (payload["complaint"]["repeatProposal"]["leftUnanswered"],
            payload["complaint"]["repeatProposal"]["countedAgainst"]) == (False, None)
    payload = await _confirm(gql, tenant, DESK, third["id"], False)
    assert (payload["complaint"]["repeatProposal"]["state"], payload["complaint"]["repeatOf"]) == ("DISMISSED", None)
    assert await count(tenant, "penalties") == penalties_before


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_the_spot_check_finds_an_entry_with_no_complaint_behind_it(gql: GraphQLClient, clock: Any,
                                                                         tenant: str) -> None:
    clock.at = CLOCK_START + timedelta(days=200 + (tenant == TENANT_B))
    units, _ = await directory(gql, tenant)
    store = units[STORE[tenant]]
    # retail: the store's own manager keeps the book; bank: the branch's receiver
    keeper = await new_user(gql, tenant, "store_manager", store, name="店长") if tenant == TENANT_A else RECEIVER
    today = clock.at.date().isoformat()
    found, lost, by_hand = unique_phone(), unique_phone(), unique_phone()

    async def entry(**input_: Any) -> dict[str, Any]:
        payload = (await gql(RECORD_ENTRY, {"input": {"storeId": store, "entryDate": today, **input_}},
                             tenant=tenant, user=keeper))["recordOpinionBookEntry"]
        assert payload["userErrors"] == [], payload
        result: dict[str, Any] = payload["entry"]
        return result

    matched = await entry(text="杯子有裂纹 Cup cracked", customerName="钱七", customerPhone=found)
    missing = await entry(text="店员态度差 Rude staff, never called back", customerName="孙八", customerPhone=lost)
    manual = await entry(text="Written without a phone")
    # the complaints the store recorded: one by the first entry's phone, one reconciled by hand
    by_phone = await _record(gql, tenant, found, user=keeper if tenant == TENANT_A else RECEIVER, storeId=store,
                             channel="OPINION_BOOK")
    other = await _record(gql, tenant, by_hand, storeId=store, channel="OPINION_BOOK")
    payload = (await gql(RECONCILE_ENTRY, {"input": {"entryId": manual["id"], "complaintId": other["id"]}},
                         tenant=tenant, user=keeper))["reconcileOpinionBookEntry"]
    assert payload["userErrors"] == [] and payload["entry"]["complaint"] == {"id": other["id"]}
    before = await count(tenant, "audit_events")
    again = (await gql(RECONCILE_ENTRY, {"input": {"entryId": manual["id"], "complaintId": other["id"]}},
                       tenant=tenant, user=keeper))["reconcileOpinionBookEntry"]
    assert [e["code"] for e in again["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert await count(tenant, "audit_events") == before

    mine = {matched["id"], missing["id"], manual["id"]}
    spot = [e for e in (await gql(ENTRIES, {"storeId": store, "spotCheck": True}, tenant=tenant, user=DESK))[
        "opinionBookEntries"] if e["id"] in mine]
    assert [(e["id"], e["hasComplaint"], e["customerName"]) for e in spot] == [(missing["id"], False, "孙八")]
    register = {e["id"]: e for e in (await gql(ENTRIES, {"storeId": store, "spotCheck": False}, tenant=tenant,
                                               user=DESK))["opinionBookEntries"] if e["id"] in mine}
    assert (register[matched["id"]]["complaint"], register[manual["id"]]["complaint"]) == (
        {"id": by_phone["id"]}, {"id": other["id"]})
    # a reviewer reads the book with the customers masked; a receiver may not read it; the other tenant sees none
    masked = {e["id"]: e for e in (await gql(ENTRIES, {"storeId": store, "spotCheck": True}, tenant=tenant,
                                             user=REVIEWER))["opinionBookEntries"]}
    assert (masked[missing["id"]]["customerName"], masked[missing["id"]]["customerPhone"]) == (
        "孙*", f"{lost[:3]}****{lost[-4:]}")
    denied = await gql.post(ENTRIES, {"storeId": store, "spotCheck": True}, tenant=tenant, user=RECEIVER)
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other_tenant = TENANT_B if tenant == TENANT_A else TENANT_A
    assert not mine & {e["id"] for e in (await gql(ENTRIES, {"spotCheck": False}, tenant=other_tenant, user=DESK))[
        "opinionBookEntries"]}
    # the text and the customer's details are sealed at rest
    sealed = await scalar(f"SELECT text || coalesce(customer_name, '') || coalesce(customer_phone, '') "
                          f"FROM tenant_{tenant}.opinion_book_entries WHERE id = :i", i=row_id(missing["id"]))
    assert b"Rude staff" not in bytes(sealed) and lost.encode() not in bytes(sealed)
