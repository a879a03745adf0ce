"""责任归属 (issue 16 point 1): the complaint desk proposes the responsible unit on a valid complaint, the general
manager decides; recorded on the case and on its audit trail; the template roles, four eyes, two tenants."""

from __future__ import annotations

from typing import Any

import pytest
from accountability import (
    COMPLAINT_RESPONSIBILITY,
    DECIDE_RESPONSIBILITY,
    DESK,
    HANDLER,
    PROPOSE_RESPONSIBILITY,
    RECEIVER,
    count,
    new_user,
    valid_case,
)
from conftest import DEFAULT_USER, SECOND_USER, TENANT_A, TENANT_B, GraphQLClient
from helpers import rows, scalar
from lifecycle import HISTORY, directory, record, snapshot

# tenant: (the responsible department the case goes to, the attribution the desk proposes there)
CASES = {
    TENANT_A: ("PROD", {"level": "PRODUCTION_TEAM", "cause": "PRODUCT", "unit": "PROD-T1"}),
    TENANT_B: ("CARD", {"level": "INDIVIDUAL", "cause": "NON_PRODUCT", "person": HANDLER}),
}


async def _propose(gql: GraphQLClient, tenant: str, user: str, cid: str, **input_: Any) -> dict[str, Any]:
    data = await gql(PROPOSE_RESPONSIBILITY, {"input": {"complaintId": cid, **input_}}, tenant=tenant, user=user)
    payload: dict[str, Any] = data["proposeResponsibility"]
    return payload


async def _decide(gql: GraphQLClient, tenant: str, user: str, cid: str, **input_: Any) -> dict[str, Any]:
    data = await gql(DECIDE_RESPONSIBILITY, {"input": {"complaintId": cid, **input_}}, tenant=tenant, user=user)
    payload: dict[str, Any] = data["decideResponsibility"]
    return payload


async def _state(tenant: str, cid: str) -> tuple[Any, ...]:
    return (await snapshot(tenant, cid), await count(tenant, "responsibilities"),
            await rows(f"SELECT state, decided_by FROM tenant_{tenant}.responsibilities ORDER BY proposed_at, id"))


async def _refused(tenant: str, cid: str, payload: dict[str, Any], code: str, before: tuple[Any, ...]) -> None:
    assert payload["complaint"] is None, payload
    assert [e["code"] for e in payload["userErrors"]] == [code], payload["userErrors"]
    assert await _state(tenant, cid) == before


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_desk_proposes_and_the_general_manager_decides(gql: GraphQLClient, tenant: str) -> None:
    department, attribution = CASES[tenant]
    units, users = await directory(gql, tenant)
    gm = await new_user(gql, tenant, "general_manager")
    target: dict[str, Any] = {"level": attribution["level"], "cause": attribution["cause"],
                              "reason": "The seal was fitted wrongly by this team"}
    if "unit" in attribution:
        target["orgUnitId"] = units[attribution["unit"]]
    else:
        target["personId"] = users[attribution["person"]]

    # not before the investigation found the complaint valid
    fresh = (await record(gql, tenant, RECEIVER))["id"]
    before = await _state(tenant, fresh)
    await _refused(tenant, fresh, await _propose(gql, tenant, DESK, fresh, **target), "ILLEGAL_TRANSITION", before)

    cid = await valid_case(gql, tenant, units[department])
    before = await _state(tenant, cid)
    # the handler of the responsible department sees the case but may not attribute it; the level must fit
    await _refused(tenant, cid, await _propose(gql, tenant, HANDLER, cid, **target), "NOT_ALLOWED", before)
    store = "ST-001" if tenant == TENANT_A else "BR-SH-01"
    await _refused(tenant, cid, await _propose(gql, tenant, DESK, cid, level="PRODUCTION_TEAM", cause="PRODUCT",
                                               reason="x", orgUnitId=units[store]), "INVALID", before)
    await _refused(tenant, cid, await _propose(gql, tenant, DESK, cid, level="OUTSIDE_PARTY", cause="PRODUCT",
                                               reason="x"), "REQUIRED", before)

    payload = await _propose(gql, tenant, DESK, cid, **target)
    assert payload["userErrors"] == []
    proposed = payload["complaint"]["responsibility"]
    assert (proposed["level"], proposed["cause"], proposed["state"], proposed["proposedBy"], proposed["decidedBy"]) \
        == (attribution["level"], attribution["cause"], "PROPOSED", {"email": DESK}, None)
    if "unit" in attribution:
        assert (proposed["orgUnit"], proposed["person"]) == ({"code": attribution["unit"]}, None)
    else:  # the person, and the person's unit
        assert (proposed["person"], proposed["orgUnit"]) == ({"email": attribution["person"]}, {"code": department})

    # one pending proposal at a time; the desk may not decide; the GM of the other tenant cannot even see the case
    before = await _state(tenant, cid)
    await _refused(tenant, cid, await _propose(gql, tenant, DESK, cid, **target), "ILLEGAL_TRANSITION", before)
    await _refused(tenant, cid, await _decide(gql, tenant, DESK, cid, approve=True), "NOT_ALLOWED", before)
    other = TENANT_B if tenant == TENANT_A else TENANT_A
    other_gm = await new_user(gql, other, "general_manager")
    payload = await _decide(gql, other, other_gm, cid, approve=True)
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert await _state(tenant, cid) == before
    # a rejection says why
    await _refused(tenant, cid, await _decide(gql, tenant, gm, cid, approve=False), "REQUIRED", before)

    payload = await _decide(gql, tenant, gm, cid, approve=True, note="Agreed")
    assert payload["userErrors"] == []
    decided = payload["complaint"]["responsibility"]
    assert (decided["state"], decided["decidedBy"], decided["decisionNote"]) == ("APPROVED", {"email": gm}, "Agreed")
    assert payload["complaint"]["status"] == "ASSIGNED"  # the attribution does not move the case

    # nothing is left to decide; the case and its trail say who did what
    before = await _state(tenant, cid)
    await _refused(tenant, cid, await _decide(gql, tenant, gm, cid, approve=True), "ILLEGAL_TRANSITION", before)
    history = (await gql(HISTORY, {"id": cid, "first": 50}, tenant=tenant, user=DESK))["complaint"]["history"]
    steps = [(e["node"]["action"], e["node"]["actor"]) for e in history["edges"]]
    assert steps[-2:] == [("propose_responsibility", DESK), ("decide_responsibility", gm)]
    # the reason is sealed at rest
    sealed = await scalar(f"SELECT reason FROM tenant_{tenant}.responsibilities WHERE complaint_id = "
                          f"(SELECT id FROM tenant_{tenant}.complaints WHERE number = :n)",
                          n=(await gql("query ($id: ID!) { complaint(id: $id) { number } }", {"id": cid},
                                       tenant=tenant, user=DESK))["complaint"]["number"])
    assert b"seal was fitted" not in bytes(sealed)


@pytest.mark.parametrize("tenant", [TENANT_A, TENANT_B])
async def test_four_eyes_whoever_proposed_never_decides(gql: GraphQLClient, tenant: str) -> None:
    """Whatever their roles (the all-rights test role may propose and decide): never the proposer's own."""
    department, _ = CASES[tenant]
    units, _ = await directory(gql, tenant)
    cid = await valid_case(gql, tenant, units[department])
    payload = await _propose(gql, tenant, DEFAULT_USER, cid, level="OUTSIDE_PARTY", cause="PRODUCT",
                             reason="The supplier's raw material", outsideParty="某某原料供应商 Supplier Ltd")
    assert payload["userErrors"] == []
    assert payload["complaint"]["responsibility"]["outsideParty"] == "某某原料供应商 Supplier Ltd"
    before = await _state(tenant, cid)
    await _refused(tenant, cid, await _decide(gql, tenant, DEFAULT_USER, cid, approve=True), "SEPARATION_OF_DUTIES",
                   before)
    payload = await _decide(gql, tenant, SECOND_USER, cid, approve=False, note="Our own team fitted it")
    assert payload["complaint"]["responsibility"]["state"] == "REJECTED"
    # a new proposal may follow a rejection, and is the case's attribution from then on
    payload = await _propose(gql, tenant, DESK, cid, level="STORE", cause="NON_PRODUCT", reason="Store staff",
                             orgUnitId=units["ST-001" if tenant == TENANT_A else "BR-SH-01"])
    assert payload["userErrors"] == []
    shown = (await gql(COMPLAINT_RESPONSIBILITY, {"id": cid}, tenant=tenant, user=DESK))["complaint"]
    assert (shown["responsibility"]["level"], shown["responsibility"]["state"]) == ("STORE", "PROPOSED")
