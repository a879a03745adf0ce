"""处分及罚扣 (issue 16 point 2): the desk proposes; an ordinary penalty takes effect at once, a serious one waits for
the general manager and is published when approved; the person concerned sees their own; the name and the reason
are sealed and masked; two tenants."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from accountability import (
    DECIDE_PENALTY,
    DESK,
    NOTICES,
    PENALTIES,
    PROPOSE_PENALTY,
    RECEIVER,
    count,
    new_user,
    row_id,
    valid_case,
)
from conftest import DEFAULT_USER, SECOND_USER, TENANT_A, TENANT_B, GraphQLClient
from helpers import rows
from lifecycle import directory

STORE = {TENANT_A: "ST-001", TENANT_B: "BR-SH-01"}
DEPARTMENT = {TENANT_A: "PROD", TENANT_B: "CARD"}


async def _propose(gql: GraphQLClient, tenant: str, user: str, **input_: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(PROPOSE_PENALTY, {"input": input_}, tenant=tenant, user=user))[
        "proposePenalty"]
    return payload


async def _decide(gql: GraphQLClient, tenant: str, user: str, **input_: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(DECIDE_PENALTY, {"input": input_}, tenant=tenant, user=user))[
        "decidePenalty"]
    return payload


async def _table(tenant: str) -> list[Any]:
    return await rows(f"SELECT id, state, decided_by, published_at FROM tenant_{tenant}.penalties ORDER BY id")


async def _audit(tenant: str) -> int:
    return await count(tenant, "audit_events")


async def _refused(tenant: str, payload: dict[str, Any], code: str, before: tuple[Any, ...]) -> None:
    assert payload["penalty"] is None, payload
    assert [e["code"] for e in payload["userErrors"]] == [code], payload["userErrors"]
    assert (await _table(tenant), await _audit(tenant)) == before


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_ordinary_at_once_serious_after_the_general_managers_approval(gql: GraphQLClient, tenant: str) -> None:
    units, users = await directory(gql, tenant)
    gm = await new_user(gql, tenant, "general_manager")
    person = await new_user(gql, tenant, "receiver", units[STORE[tenant]], name="李小明")
    _, users = await directory(gql, tenant)
    cid = await valid_case(gql, tenant, units[DEPARTMENT[tenant]])

    # an ordinary penalty on the store: effective at once, not published
    payload = await _propose(gql, tenant, DESK, target="UNIT", kind="WARNING", orgUnitId=units[STORE[tenant]],
                             reason="Complaint not recorded on the day", complaintId=cid)
    assert payload["userErrors"] == []
    warning = payload["penalty"]
    assert (warning["state"], warning["serious"], warning["publishedAt"], warning["orgUnit"], warning["source"],
            warning["complaint"]) == ("EFFECTIVE", False, None, {"code": STORE[tenant]}, "DESK", {"id": cid})

    # refusals change nothing: a fine without its amount, a unit penalty naming a person, the wrong role
    before = (await _table(tenant), await _audit(tenant))
    await _refused(tenant, await _propose(gql, tenant, DESK, target="PERSON", kind="FINE", personId=users[person],
                                          reason="x", serious=True), "REQUIRED", before)
    await _refused(tenant, await _propose(gql, tenant, DESK, target="UNIT", kind="WARNING", reason="x",
                                          orgUnitId=units[STORE[tenant]], personId=users[person]), "INVALID", before)
    await _refused(tenant, await _propose(gql, tenant, RECEIVER, target="UNIT", kind="WARNING", reason="x",
                                          orgUnitId=units[STORE[tenant]]), "NOT_ALLOWED", before)

    # a serious fine on a person: waits for the general manager, unpublished
    reason = f"Ignored the customer's complaint twice ({uuid.uuid4().hex[:6]})"
    payload = await _propose(gql, tenant, DESK, target="PERSON", kind="FINE", amount="200.00", serious=True,
                             personId=users[person], reason=reason, complaintId=cid)
    assert payload["userErrors"] == []
    fine = payload["penalty"]
    assert (fine["state"], fine["personName"], fine["person"], fine["amount"], fine["publishedAt"]) == \
        ("PROPOSED", "李小明", {"email": person}, "200.00", None)
    notices = (await gql(NOTICES, tenant=tenant, user=RECEIVER))["penaltyNotices"]
    assert fine["id"] not in [n["id"] for n in notices]

    # the desk may not decide; the other tenant's general manager does not find it; a rejection needs a reason
    before = (await _table(tenant), await _audit(tenant))
    await _refused(tenant, await _decide(gql, tenant, DESK, penaltyId=fine["id"], approve=True), "NOT_ALLOWED", before)
    other = TENANT_B if tenant == TENANT_A else TENANT_A
    other_gm = await new_user(gql, other, "general_manager")
    other_before = (await _table(other), await _audit(other))
    payload = await _decide(gql, other, other_gm, penaltyId=fine["id"], approve=True)
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert (await _table(tenant), await _audit(tenant)) == before
    assert (await _table(other), await _audit(other)) == other_before
    await _refused(tenant, await _decide(gql, tenant, gm, penaltyId=fine["id"], approve=False), "REQUIRED", before)

    payload = await _decide(gql, tenant, gm, penaltyId=fine["id"], approve=True, note="核准")
    assert payload["userErrors"] == []
    assert payload["penalty"]["state"] == "EFFECTIVE" and payload["penalty"]["publishedAt"] is not None
    before = (await _table(tenant), await _audit(tenant))
    await _refused(tenant, await _decide(gql, tenant, gm, penaltyId=fine["id"], approve=True), "ILLEGAL_TRANSITION",
                   before)

    # published: every member of staff sees the notice, the name masked and no reason
    notices = (await gql(NOTICES, tenant=tenant, user=RECEIVER))["penaltyNotices"]
    mine = [n for n in notices if n["id"] == fine["id"]]
    assert mine == [{"id": fine["id"], "kind": "FINE", "amount": "200.00", "personName": "李**",
                     "publishedAt": payload["penalty"]["publishedAt"], "orgUnit": None}]
    assert warning["id"] not in [n["id"] for n in notices]
    # the person sees their own penalty in full and no one else's; another receiver sees none of these
    own = (await gql(PENALTIES, tenant=tenant, user=person))["penalties"]
    assert [(p["id"], p["reason"], p["personName"]) for p in own] == [(fine["id"], reason, "李小明")]
    others = (await gql(PENALTIES, tenant=tenant, user=RECEIVER))["penalties"]
    assert not {p["id"] for p in others} & {fine["id"], warning["id"]}
    # the desk and the GM see all of them, by complaint too; the other tenant's desk sees none of them
    listed = (await gql(PENALTIES, {"complaintId": cid}, tenant=tenant, user=gm))["penalties"]
    assert [p["id"] for p in listed] == [fine["id"], warning["id"]]
    assert not {p["id"] for p in (await gql(PENALTIES, tenant=other, user=DESK))["penalties"]} & {fine["id"]}

    # sealed at rest: neither the reason nor the name is stored in plaintext
    sealed = await rows(f"SELECT reason, person_name FROM tenant_{tenant}.penalties WHERE id = :i",
                        i=row_id(fine["id"]))
    assert reason.encode() not in bytes(sealed[0].reason)
    assert "李小明".encode() not in bytes(sealed[0].person_name)


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_the_proposer_never_decides_and_a_rejected_penalty_is_not_published(gql: GraphQLClient,
                                                                                  tenant: str) -> None:
    units, _ = await directory(gql, tenant)
    payload = await _propose(gql, tenant, DEFAULT_USER, target="UNIT", kind="DEMERIT", serious=True,
                             orgUnitId=units[STORE[tenant]], reason="Repeat complaint left unanswered")
    penalty = payload["penalty"]
    before = (await _table(tenant), await _audit(tenant))
    await _refused(tenant, await _decide(gql, tenant, DEFAULT_USER, penaltyId=penalty["id"], approve=True),
                   "SEPARATION_OF_DUTIES", before)
    payload = await _decide(gql, tenant, SECOND_USER, penaltyId=penalty["id"], approve=False,
                            note="Not serious: a warning is enough")
    assert (payload["penalty"]["state"], payload["penalty"]["publishedAt"],
            payload["penalty"]["decisionNote"]) == ("REJECTED", None, "Not serious: a warning is enough")
    notices = (await gql(NOTICES, tenant=tenant, user=RECEIVER))["penaltyNotices"]
    assert penalty["id"] not in [n["id"] for n in notices]
