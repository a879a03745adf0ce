"""Issue 16 "counted in statistics": approved responsibility attributions (by cause), effective penalties,
confirmed repeats (and those counted against a store), major complaints flagged and reported, counted by
``statistics`` per group (RESPONSIBILITY_LEVEL, STORE, totals) and kept in step by each accountability step, also the
ones that are not steps of the case (a penalty decided, a major complaint's report approved). Two tenants of this
module's own (a regulator is configured), both templates; the expected figures come from the test's own plan of
what it did, and are recounted from the accountability tables; a store manager counts their store only."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from accountability import (
    ADMIN,
    CONFIRM_REPEAT,
    DECIDE_PENALTY,
    DECIDE_RESPONSIBILITY,
    DESK,
    HANDLER,
    PROPOSE_PENALTY,
    PROPOSE_RESPONSIBILITY,
    RECEIVER,
    RECORD_MAJOR,
    RECORD_WITH_REPEAT,
    SETTINGS,
    new_user,
    unique_phone,
    valid_case,
)
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import scalar
from lifecycle import complaint_input, directory
from receiver import WebhookReceiver

from services.core.tenancy import schema_for

SH = ZoneInfo("Asia/Shanghai")
DAY = datetime(2033, 2, 14, 10, tzinfo=SH)
DEPARTMENT = {"retail": "PROD", "bank": "CARD"}
STORE = {"retail": "ST-001", "bank": "BR-SH-01"}
MEASURES = ("received", "attributed", "attributedProduct", "attributedNonProduct", "penalties", "repeatsConfirmed",
            "repeatsAgainstStore", "majorFlagged", "majorReported")
STATISTICS = f"""query ($period: StatisticsPeriod!, $groupBy: [StatisticsGroupBy!]) {{
  statistics(period: $period, groupBy: $groupBy) {{
    rows {{ keys {{ groupBy value code }} {" ".join(MEASURES)} }} }} }}"""
UPSERT_BODY = """mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) {
  externalBody { id } userErrors { field code message } } }"""
APPROVE_MAJOR = """mutation ($input: ApproveMajorComplaintReportInput!) { approveMajorComplaintReport(input: $input) {
  complaint { id majorComplaint { state } } userErrors { code field message } } }"""


@pytest.fixture(scope="module")
async def pair(tenants: Any) -> AsyncIterator[dict[str, str]]:
    made = {"retail": await new_tenant("accsr", "retail"), "bank": await new_tenant("accsb", "bank")}
    yield {k: t.slug for k, t in made.items()}
    for t in made.values():
        await drop_tenant(t)


@pytest.fixture(scope="module")
def receiver() -> Any:
    with WebhookReceiver() as r:
        yield r


def _ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def _statistics(gql: GraphQLClient, tenant: str, user: str, group_by: list[str]) -> list[dict[str, Any]]:
    data = await gql(STATISTICS, {"period": {"from": DAY.date().isoformat(), "to": DAY.date().isoformat()},
                                  "groupBy": group_by}, tenant=tenant, user=user)
    rows: list[dict[str, Any]] = data["statistics"]["rows"]
    return rows


def _expected(plan: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "received": len(plan),
        "attributed": sum(c["level"] is not None for c in plan),
        "attributedProduct": sum(c["cause"] == "PRODUCT" for c in plan),
        "attributedNonProduct": sum(c["cause"] == "NON_PRODUCT" for c in plan),
        "penalties": sum(c["penalties"] for c in plan),
        "repeatsConfirmed": sum(c["repeat"] for c in plan),
        "repeatsAgainstStore": sum(c["against"] for c in plan),
        "majorFlagged": sum(c["major"] for c in plan),
        "majorReported": sum(c["reported"] for c in plan),
    }


def _figures(row: dict[str, Any]) -> dict[str, int]:
    return {m: row[m] for m in MEASURES}


async def _recount(tenant: str) -> dict[str, int]:
    """The same figures straight from the accountability tables (not through complaint_facts)."""
    s = schema_for(tenant)
    newest = (f"SELECT DISTINCT ON (complaint_id) complaint_id, cause FROM {s}.responsibilities "
              "WHERE state = 'APPROVED' ORDER BY complaint_id, decided_at DESC")
    return {
        "received": int(await scalar(f"SELECT count(*) FROM {s}.complaints")),
        "attributed": int(await scalar(f"SELECT count(*) FROM ({newest}) r")),
        "attributedProduct": int(await scalar(f"SELECT count(*) FROM ({newest}) r WHERE cause = 'PRODUCT'")),
        "attributedNonProduct": int(await scalar(f"SELECT count(*) FROM ({newest}) r WHERE cause = 'NON_PRODUCT'")),
        "penalties": int(await scalar(f"SELECT count(*) FROM {s}.penalties WHERE state = 'EFFECTIVE' "
                                      "AND complaint_id IS NOT NULL")),
        "repeatsConfirmed": int(await scalar(f"SELECT count(*) FROM {s}.repeat_proposals WHERE state = 'CONFIRMED'")),
        "repeatsAgainstStore": int(await scalar(f"SELECT count(*) FROM {s}.repeat_proposals WHERE state = 'CONFIRMED' "
                                                "AND store_id IS NOT NULL")),
        "majorFlagged": int(await scalar(f"SELECT count(*) FROM {s}.major_complaints")),
        "majorReported": int(await scalar(f"SELECT count(*) FROM {s}.major_complaints WHERE state = 'SENT'")),
    }


@pytest.mark.parametrize("template", ["retail", "bank"])
async def test_accountability_is_counted_per_group_and_in_the_viewers_scope(
    gql: GraphQLClient, clock: Any, pair: dict[str, str], receiver: WebhookReceiver, template: str,
) -> None:
    tenant = pair[template]
    other = pair["bank" if template == "retail" else "retail"]
    clock.at = DAY
    units, users = await directory(gql, tenant)
    store = units[STORE[template]]
    gm = await new_user(gql, tenant, "general_manager")
    liaison = await new_user(gql, tenant, "regulator_liaison") if template == "bank" else gm
    _ok((await gql(UPSERT_BODY, {"input": {"name": "Regulator", "kind": "REGULATOR", "escalationLevel": 2,
                                           "webhookUrl": receiver.url, "webhookSecret": "regulator-secret-000002",
                                           "receivesPersonalData": False}}, tenant=tenant, user=ADMIN))[
        "upsertExternalBody"])
    _ok((await gql(SETTINGS, {"input": {"majorAmountAtLeast": "10000.00"}}, tenant=tenant, user=ADMIN))[
        "updateAccountabilitySettings"])
    plan: dict[str, dict[str, Any]] = {}

    def planned(cid: str, store_id: str | None, **facts: Any) -> None:
        plan[cid] = {"store": store_id, "level": None, "cause": None, "unit": None, "penalties": 0, "repeat": False,
                     "against": False, "major": False, "reported": False, **facts}

    async def attribute(cid: str, approve: bool, unit: str, **target: Any) -> None:
        _ok((await gql(PROPOSE_RESPONSIBILITY, {"input": {"complaintId": cid, "reason": "found by the desk",
                                                          **target}}, tenant=tenant, user=DESK))[
            "proposeResponsibility"])
        _ok((await gql(DECIDE_RESPONSIBILITY, {"input": {"complaintId": cid, "approve": approve,
                                                         "note": None if approve else "not this unit"}},
                       tenant=tenant, user=gm))["decideResponsibility"])
        if approve:
            plan[cid].update(level=target["level"], cause=target["cause"], unit=unit)

    async def penalty(cid: str, serious: bool, decision: bool | None = None) -> None:
        proposed = _ok((await gql(PROPOSE_PENALTY, {"input": {
            "target": "UNIT", "orgUnitId": store, "kind": "FINE" if serious else "WARNING",
            "amount": "200.00" if serious else None, "serious": serious, "reason": "late answer",
            "complaintId": cid}}, tenant=tenant, user=DESK))["proposePenalty"])["penalty"]
        if decision is not None:
            _ok((await gql(DECIDE_PENALTY, {"input": {"penaltyId": proposed["id"], "approve": decision,
                                                      "note": None if decision else "too harsh"}},
                           tenant=tenant, user=gm))["decidePenalty"])
        if not serious or decision:
            plan[cid]["penalties"] += 1

    # attributions: approved PRODUCT (a team / a person), approved NON_PRODUCT (the store), one rejected
    a = await valid_case(gql, tenant, units[DEPARTMENT[template]], storeId=store)
    planned(a, store)
    if template == "retail":
        await attribute(a, True, units["PROD-T1"], level="PRODUCTION_TEAM", cause="PRODUCT",
                        orgUnitId=units["PROD-T1"])
    else:  # a person: counted on their unit (the handler's department)
        await attribute(a, True, units["CARD"], level="INDIVIDUAL", cause="PRODUCT", personId=users[HANDLER])
    b = await valid_case(gql, tenant, units[DEPARTMENT[template]])
    planned(b, None)
    await attribute(b, True, store, level="STORE", cause="NON_PRODUCT", orgUnitId=store)
    c = await valid_case(gql, tenant, units[DEPARTMENT[template]], storeId=store)
    planned(c, store)
    await attribute(c, False, store, level="STORE", cause="PRODUCT", orgUnitId=store)
    # penalties: ordinary ones take effect at once (one in retail, two in the bank: the tenants' figures differ),
    # a serious one approved counts, one rejected and one still waiting do not
    for _ in range(1 if template == "retail" else 2):
        await penalty(a, serious=False)
    await penalty(b, serious=True, decision=True)
    await penalty(b, serious=True, decision=False)
    await penalty(c, serious=True)

    # repeats: one confirmed of an unanswered complaint of the store (against it, with its penalty approved),
    # one dismissed
    phone = unique_phone()
    first = _ok((await gql(RECORD_WITH_REPEAT, {"input": complaint_input(
        complainant={"name": "赵六", "phone": phone}, storeId=store)}, tenant=tenant, user=RECEIVER))[
        "recordComplaint"])["complaint"]["id"]
    planned(first, store)
    second = _ok((await gql(RECORD_WITH_REPEAT, {"input": complaint_input(
        complainant={"name": "赵六", "phone": phone}, storeId=store)}, tenant=tenant, user=RECEIVER))[
        "recordComplaint"])["complaint"]["id"]
    planned(second, store)
    confirmed = _ok((await gql(CONFIRM_REPEAT, {"input": {"complaintId": second, "confirm": True}}, tenant=tenant,
                               user=DESK))["confirmRepeat"])["complaint"]["repeatProposal"]
    assert (confirmed["state"], confirmed["leftUnanswered"], confirmed["countedAgainst"]) == \
        ("CONFIRMED", True, {"code": STORE[template]})
    plan[second].update(repeat=True, against=True)
    _ok((await gql(DECIDE_PENALTY, {"input": {"penaltyId": confirmed["penaltyId"], "approve": True}},
                   tenant=tenant, user=gm))["decidePenalty"])
    plan[second]["penalties"] += 1
    phone2 = unique_phone()
    for _ in range(2):
        cid = _ok((await gql(RECORD_WITH_REPEAT, {"input": complaint_input(
            complainant={"name": "钱七", "phone": phone2})}, tenant=tenant, user=RECEIVER))[
            "recordComplaint"])["complaint"]["id"]
        planned(cid, None)
    _ok((await gql(CONFIRM_REPEAT, {"input": {"complaintId": cid, "confirm": False}}, tenant=tenant,
                   user=DESK))["confirmRepeat"])

    # major complaints: two flagged on recording (the amount), one of them reported after the liaison's approval
    majors = []
    for store_id in (store, None):
        cid = _ok((await gql(RECORD_MAJOR, {"input": complaint_input(amount="10000.00", storeId=store_id)},
                             tenant=tenant, user=DESK))["recordComplaint"])["complaint"]["id"]
        planned(cid, store_id, major=True)
        majors.append(cid)
    sent = _ok((await gql(APPROVE_MAJOR, {"input": {"complaintId": majors[0]}}, tenant=tenant, user=liaison))[
        "approveMajorComplaintReport"])
    assert sent["complaint"]["majorComplaint"]["state"] == "SENT"
    plan[majors[0]]["reported"] = True

    # totals: the plan's figures, and the same recounted from the accountability tables
    expected = _expected(list(plan.values()))
    assert expected["penalties"] == (3 if template == "retail" else 4) and expected["majorReported"] == 1
    (total,) = await _statistics(gql, tenant, gm, [])
    assert _figures(total) == expected
    assert await _recount(tenant) == expected

    # by the approved attribution's level (no attribution: the null group, last)
    levels = Counter(c["level"] for c in plan.values())
    rows = await _statistics(gql, tenant, gm, ["RESPONSIBILITY_LEVEL"])
    assert [r["keys"][0]["value"] for r in rows] == [*sorted(k for k in levels if k is not None), None]
    for row in rows:
        level = row["keys"][0]["value"]
        assert _figures(row) == _expected([c for c in plan.values() if c["level"] == level]), level
    rows = await _statistics(gql, tenant, gm, ["RESPONSIBILITY_CAUSE"])
    assert {r["keys"][0]["value"]: r["received"] for r in rows} == dict(Counter(c["cause"] for c in plan.values()))

    rows = await _statistics(gql, tenant, gm, ["RESPONSIBLE_UNIT"])
    assert {r["keys"][0]["value"]: r["attributed"] for r in rows} == {
        u: sum(c["unit"] == u and c["level"] is not None for c in plan.values()) for u in {c["unit"] for c in
                                                                                          plan.values()}}

    # by store: the repeat counts against the store's row
    rows = await _statistics(gql, tenant, gm, ["STORE"])
    by_store = {r["keys"][0]["value"]: _figures(r) for r in rows}
    assert by_store == {s: _expected([c for c in plan.values() if c["store"] == s])
                        for s in {c["store"] for c in plan.values()}}
    assert by_store[store]["repeatsAgainstStore"] == 1

    # a store manager counts their store only (retail); the other tenant's figures are its own
    if template == "retail":
        manager = await new_user(gql, tenant, "store_manager", unit_id=store)
        (mine,) = await _statistics(gql, tenant, manager, [])
        assert _figures(mine) == _expected([c for c in plan.values() if c["store"] == store])
    other_rows = await _statistics(gql, other, ADMIN, [])
    assert _figures(other_rows[0]) == await _recount(other)
