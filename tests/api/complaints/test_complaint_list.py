"""complaints(filter, orderBy, first/after, last/before): filters, orders, cursors, isolation, statement counts."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import DEFAULT_USER, TENANT_A, TENANT_B, GraphQLClient, add_staff
from helpers import rows
from sqlalchemy import event

RECORD = """
mutation Record($input: RecordComplaintInput!) {
  recordComplaint(input: $input) {
    complaint { id number status title createdAt updatedAt owner { id email } }
    accessCode
    userErrors { field message code }
  }
}
"""

LIST = """
query List($filter: ComplaintFilter, $orderBy: ComplaintOrderBy, $first: Int, $after: String, $last: Int,
           $before: String) {
  complaints(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id number title status createdAt updatedAt } }
  }
}
"""

# mutation name -> its input type
STEPS = {
    "startInvestigation": "StartInvestigationInput",
    "submitInvestigation": "SubmitInvestigationInput",
    "assignResponsibleDepartment": "AssignResponsibleDepartmentInput",
    "markLitigation": "MarkLitigationInput",
    "withdrawComplaint": "WithdrawComplaintInput",
}

LOOKUPS = """
query {
  orgUnits { id code kind }
  categories { id code }
  users { id email }
}
"""


async def record(gql: GraphQLClient, *, tenant: str = TENANT_A, user: str = DEFAULT_USER,
                 **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "complainant": {"name": "Wang Fang", "phone": "+86 138 0013 8000"},
        "title": "A complaint",
        "description": "What happened, in detail.",
        "channel": "STORE",
        **fields,
    }
    data = await gql(RECORD, {"input": payload}, tenant=tenant, user=user)
    result = data["recordComplaint"]
    assert result["userErrors"] == [], result
    complaint: dict[str, Any] = result["complaint"]
    return complaint


async def step(gql: GraphQLClient, name: str, complaint_id: str, *, tenant: str = TENANT_A,
               user: str = DEFAULT_USER, **fields: Any) -> dict[str, Any]:
    query = (f"mutation Step($input: {STEPS[name]}!) {{ {name}(input: $input) "
             "{ complaint { id status } userErrors { field message code } } }")
    data = await gql(query, {"input": {"complaintId": complaint_id, **fields}}, tenant=tenant, user=user)
    result = data[name]
    assert result["userErrors"] == [], result
    return result["complaint"]  # type: ignore[no-any-return]


async def to_assigned(gql: GraphQLClient, complaint_id: str, department_id: str, *, tenant: str = TENANT_A) -> None:
    await step(gql, "startInvestigation", complaint_id, tenant=tenant)
    await step(gql, "submitInvestigation", complaint_id, tenant=tenant, valid=True, findings="Confirmed.")
    await step(gql, "assignResponsibleDepartment", complaint_id, tenant=tenant, departmentId=department_id)


async def list_page(gql: GraphQLClient, *, tenant: str = TENANT_A, **variables: Any) -> dict[str, Any]:
    data = await gql(LIST, variables, tenant=tenant)
    return data["complaints"]  # type: ignore[no-any-return]


def numbers(page: dict[str, Any]) -> list[str]:
    return [e["node"]["number"] for e in page["edges"]]


async def new_tenant(prefix: str) -> str:
    from tenants.provision import create_tenant

    slug = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await create_tenant(slug, template="retail")
    await add_staff(slug)
    return slug


def _schema(slug: str) -> str:
    return "tenant_" + slug.replace("-", "_")


# ---------------------------------------------------------------- a dedicated tenant with varied complaints


@dataclass
class Dataset:
    tenant: str
    c: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> complaint (id, number, createdAt...)
    units: dict[str, str] = field(default_factory=dict)  # code -> global id
    categories: dict[str, str] = field(default_factory=dict)  # code -> global id
    users: dict[str, str] = field(default_factory=dict)  # email -> global id

    def keys_of(self, page: dict[str, Any]) -> set[str]:
        by_id = {v["id"]: k for k, v in self.c.items()}
        return {by_id[e["node"]["id"]] for e in page["edges"]}


@pytest.fixture(scope="module")
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture(scope="module")
async def ds(http: httpx.AsyncClient) -> Dataset:
    """Eight complaints in a tenant of their own, so every filter can be checked against an exact set."""
    g = GraphQLClient(http)
    d = Dataset(tenant=await new_tenant("lst"))
    t = d.tenant
    lookups = await g(LOOKUPS, tenant=t)
    d.units = {u["code"]: u["id"] for u in lookups["orgUnits"]}
    d.categories = {c["code"]: c["id"] for c in lookups["categories"]}
    d.users = {u["email"]: u["id"] for u in lookups["users"]}
    second = "receiver2@test.example"

    d.c["c1"] = await record(g, tenant=t, title="Broken kettle lid", channel="STORE", storeId=d.units["ST-001"],
                             categoryId=d.categories["Q-DEFECT"],
                             complainant={"name": "Li Lei", "phone": "+86 138 0013 8000"})
    d.c["c2"] = await record(g, tenant=t, user=second, title="Rude staff at checkout", channel="PHONE",
                             categoryId=d.categories["NQ-SERVICE"],
                             complainant={"name": "Han Meimei", "phone": "13800138000",
                                          "idNumber": "11010519491231002X"})
    d.c["c3"] = await record(g, tenant=t, title="100% refund promised", channel="WEB", storeId=d.units["BR-EAST"],
                             categoryId=d.categories["Q-DEFECT"],
                             complainant={"name": "Zhang San", "phone": "0086-138-0013-8000"})
    d.c["c4"] = await record(g, tenant=t, title="1000 yuan overcharge", channel="EMAIL",
                             categoryId=d.categories["NQ-PRICE"],
                             complainant={"name": "Li Si", "email": "lisi@example.com",
                                          "idNumber": "110105-19491231-002x"})
    d.c["c5"] = await record(g, tenant=t, title="order a_b missing", channel="STORE", storeId=d.units["ST-001"],
                             repeatOfId=d.c["c1"]["id"], complainant={"name": "Wang Wu", "phone": "139 0000 1111"})
    d.c["c6"] = await record(g, tenant=t, title="order axb missing", channel="STORE", storeId=d.units["ST-001"],
                             complainant={"name": "Zhao Liu", "phone": "13900001111"})
    d.c["c7"] = await record(g, tenant=t, user=second, title="Late delivery again", channel="LETTER",
                             repeatOfId=d.c["c2"]["id"], complainant={"name": "Han Meimei", "phone": "13800138000"})
    d.c["c8"] = await record(g, tenant=t, title="Broken KETTLE handle", channel="APP",
                             complainant={"name": "Qian Qi", "email": "qianqi@example.com"})

    await to_assigned(g, d.c["c1"]["id"], d.units["QA"], tenant=t)  # ASSIGNED to QA
    await step(g, "startInvestigation", d.c["c2"]["id"], tenant=t)  # INVESTIGATING
    await step(g, "startInvestigation", d.c["c3"]["id"], tenant=t)
    await step(g, "submitInvestigation", d.c["c3"]["id"], tenant=t, valid=False, findings="Not confirmed.")  # UNFOUNDED
    await step(g, "markLitigation", d.c["c4"]["id"], tenant=t, litigation=True)  # RECEIVED, litigation
    await to_assigned(g, d.c["c6"]["id"], d.units["PROD"], tenant=t)  # ASSIGNED to PROD
    await step(g, "markLitigation", d.c["c6"]["id"], tenant=t, litigation=True)
    await step(g, "withdrawComplaint", d.c["c8"]["id"], tenant=t, reason="Solved by itself.")  # WITHDRAWN
    return d


ALL = {"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}
Case = tuple[str, Callable[[Dataset], dict[str, Any]], set[str]]

FILTER_CASES: list[Case] = [
    ("no filter", lambda d: {}, ALL),
    ("status ASSIGNED", lambda d: {"status": ["ASSIGNED"]}, {"c1", "c6"}),
    ("status list", lambda d: {"status": ["RECEIVED", "UNFOUNDED"]}, {"c3", "c4", "c5", "c7"}),
    ("status INVESTIGATING", lambda d: {"status": ["INVESTIGATING"]}, {"c2"}),
    ("status WITHDRAWN", lambda d: {"status": ["WITHDRAWN"]}, {"c8"}),
    ("status CLOSED", lambda d: {"status": ["CLOSED"]}, set()),
    ("owner receiver2", lambda d: {"ownerId": d.users["receiver2@test.example"]}, {"c2", "c7"}),
    ("owner receiver", lambda d: {"ownerId": d.users[DEFAULT_USER]}, ALL - {"c2", "c7"}),
    ("owner without complaints", lambda d: {"ownerId": d.users["approver@test.example"]}, set()),
    ("owner id of another type", lambda d: {"ownerId": d.categories["Q-DEFECT"]}, set()),
    ("department QA", lambda d: {"departmentId": d.units["QA"]}, {"c1"}),
    ("department PROD", lambda d: {"departmentId": d.units["PROD"]}, {"c6"}),
    ("store ST-001", lambda d: {"storeId": d.units["ST-001"]}, {"c1", "c5", "c6"}),
    ("store BR-EAST", lambda d: {"storeId": d.units["BR-EAST"]}, {"c3"}),
    ("category Q-DEFECT", lambda d: {"categoryId": d.categories["Q-DEFECT"]}, {"c1", "c3"}),
    ("category NQ-SERVICE", lambda d: {"categoryId": d.categories["NQ-SERVICE"]}, {"c2"}),
    ("channel STORE", lambda d: {"channel": "STORE"}, {"c1", "c5", "c6"}),
    ("channel PHONE", lambda d: {"channel": "PHONE"}, {"c2"}),
    ("channel REGULATOR_TRANSFER", lambda d: {"channel": "REGULATOR_TRANSFER"}, set()),
    ("text word, any case", lambda d: {"text": "kettle"}, {"c1", "c8"}),
    ("text words", lambda d: {"text": "kettle lid"}, {"c1"}),
    ("text words, upper case", lambda d: {"text": "BROKEN KETTLE"}, {"c1", "c8"}),
    ("text trimmed", lambda d: {"text": "  delivery  "}, {"c7"}),
    ("text percent is literal", lambda d: {"text": "100%"}, {"c3"}),
    ("text lone percent is literal", lambda d: {"text": "%"}, {"c3"}),
    ("text underscore is literal", lambda d: {"text": "a_b"}, {"c5"}),
    ("text lone underscore is literal", lambda d: {"text": "_"}, {"c5"}),
    ("text backslash is literal", lambda d: {"text": "\\"}, set()),
    ("text full number", lambda d: {"text": d.c["c4"]["number"]}, {"c4"}),
    ("text number prefix", lambda d: {"text": d.c["c4"]["number"][:9]}, ALL),
    ("text number prefix, month", lambda d: {"text": d.c["c4"]["number"][:4]}, ALL),
    ("text number infix is no prefix", lambda d: {"text": d.c["c4"]["number"][2:]}, set()),
    ("phone digits", lambda d: {"complainantPhone": "13800138000"}, {"c1", "c2", "c3", "c7"}),
    ("phone +86 spaced", lambda d: {"complainantPhone": "+86 138 0013 8000"}, {"c1", "c2", "c3", "c7"}),
    ("phone hyphens", lambda d: {"complainantPhone": "138-0013-8000"}, {"c1", "c2", "c3", "c7"}),
    ("phone 0086", lambda d: {"complainantPhone": "008613800138000"}, {"c1", "c2", "c3", "c7"}),
    ("phone other", lambda d: {"complainantPhone": "+86 139-0000-1111"}, {"c5", "c6"}),
    ("phone partial is no match", lambda d: {"complainantPhone": "1380013"}, set()),
    ("id number", lambda d: {"complainantIdNumber": "11010519491231002X"}, {"c2", "c4"}),
    ("id number, lower case and hyphens", lambda d: {"complainantIdNumber": "110105-19491231-002x"}, {"c2", "c4"}),
    ("litigation", lambda d: {"litigation": True}, {"c4", "c6"}),
    ("no litigation", lambda d: {"litigation": False}, ALL - {"c4", "c6"}),
    ("repeat", lambda d: {"repeat": True}, {"c5", "c7"}),
    ("first complaints", lambda d: {"repeat": False}, ALL - {"c5", "c7"}),
    ("all conditions hold", lambda d: {"channel": "STORE", "status": ["ASSIGNED"], "litigation": True}, {"c6"}),
    ("phone and status", lambda d: {"complainantPhone": "13800138000", "status": ["RECEIVED"]}, {"c7"}),
    ("text and store", lambda d: {"text": "missing", "storeId": d.units["ST-001"]}, {"c5", "c6"}),
]


@pytest.mark.parametrize(("name", "make_filter", "expected"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
async def test_filter(ds: Dataset, gql: GraphQLClient, name: str, make_filter: Callable[[Dataset], dict[str, Any]],
                      expected: set[str]) -> None:
    page = await list_page(gql, tenant=ds.tenant, filter=make_filter(ds), first=100)
    assert ds.keys_of(page) == expected, name
    assert page["totalCount"] == len(expected)


async def test_filter_created_window(ds: Dataset, gql: GraphQLClient) -> None:
    created = {k: datetime.fromisoformat(v["createdAt"]) for k, v in ds.c.items()}
    assert sorted(created, key=created.__getitem__) == sorted(ALL)  # recorded one after the other
    middle = created["c5"] + (created["c6"] - created["c5"]) / 2
    shanghai = ZoneInfo("Asia/Shanghai")

    async def keys(**f: Any) -> set[str]:
        return ds.keys_of(await list_page(gql, tenant=ds.tenant, filter=f, first=100))

    # createdFrom includes the instant itself, in any offset
    assert await keys(createdFrom=created["c3"].isoformat()) == ALL - {"c1", "c2"}
    assert await keys(createdFrom=created["c3"].astimezone(shanghai).isoformat()) == ALL - {"c1", "c2"}
    assert await keys(createdTo=middle.isoformat()) == {"c1", "c2", "c3", "c4", "c5"}
    assert await keys(createdFrom=created["c3"].isoformat(), createdTo=middle.astimezone(shanghai).isoformat()) == {
        "c3", "c4", "c5"}
    assert await keys(createdFrom=(created["c8"] + timedelta(seconds=1)).isoformat()) == set()
    assert await keys(createdTo=created["c1"].isoformat()) == set()  # the end of the window is exclusive


def _refused_as_bad_input(body: dict[str, Any]) -> None:
    """BAD_USER_INPUT and no page: never complaints, never an internal error."""
    assert [e["extensions"].get("code") for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert body.get("data") is None, body


@pytest.mark.parametrize("phone", ["n/a", "---", "+"])
async def test_filter_phone_without_digits_matches_nothing(ds: Dataset, gql: GraphQLClient, phone: str) -> None:
    # phone_key("n/a") is None, and `Complainant.phone_key == None` becomes `phone_key IS NULL`: c4 and c8
    response = await gql.post(LIST, {"filter": {"complainantPhone": phone}, "first": 100}, tenant=ds.tenant)
    body = response.json()
    assert "errors" not in body, body  # a valid filter that no phone number can match: an empty page
    assert ds.keys_of(body["data"]["complaints"]) == set(), body


UNSTORABLE_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("NUL in text", {"text": "kettle\x00"}),
    ("NUL in id number", {"complainantIdNumber": "\x00"}),
    ("createdFrom before year 1 in UTC", {"createdFrom": "0001-01-01T00:00:00+14:00"}),
    ("createdTo after year 9999 in UTC", {"createdTo": "9999-12-31T23:59:59-14:00"}),
]


@pytest.mark.parametrize(("name", "f"), UNSTORABLE_FILTERS, ids=[u[0] for u in UNSTORABLE_FILTERS])
async def test_unstorable_filter_values_are_no_internal_error(ds: Dataset, gql: GraphQLClient, name: str,
                                                              f: dict[str, Any]) -> None:
    response = await gql.post(LIST, {"filter": f, "first": 100}, tenant=ds.tenant)
    _refused_as_bad_input(response.json())  # the value cannot be stored, so it cannot be asked about


def _plain_complaint_fields() -> str:
    """Every field of Complaint that is a plain attribute (no resolver, no arguments): what ``from_view`` fills in
    (an object one with its ``id``, or ``__typename`` when it has none)."""
    from graphql import GraphQLObjectType, get_named_type

    from services.api.schema import build_schema

    selected = []
    complaint = build_schema()._schema.type_map["Complaint"]
    assert isinstance(complaint, GraphQLObjectType)
    for name, f in complaint.fields.items():
        definition = f.extensions["strawberry-definition"]
        if definition.base_resolver is not None or f.args:
            continue
        named = get_named_type(f.type)
        if isinstance(named, GraphQLObjectType):
            selected.append(f"{name} {{ {'id' if 'id' in named.fields else '__typename'} }}")
        else:
            selected.append(name)
    assert len(selected) > 20 and "description" in selected and "complainant { __typename }" in selected
    return " ".join(selected)


async def test_every_plain_field_reads_on_the_list_as_on_the_complaint(ds: Dataset, gql: GraphQLClient) -> None:
    # the list builds its types straight into their instance dicts (ComplaintType.from_view): no field forgotten
    fields = _plain_complaint_fields()
    page = await gql(f"query {{ complaints(first: 100) {{ edges {{ node {{ {fields} }} }} }} }}", tenant=ds.tenant)
    nodes = [e["node"] for e in page["complaints"]["edges"]]
    assert len(nodes) == len(ALL)
    for node in nodes:
        one = await gql(f"query ($id: ID!) {{ complaint(id: $id) {{ {fields} }} }}", {"id": node["id"]},
                        tenant=ds.tenant)
        assert one["complaint"] == node
    assert {n["litigation"] for n in nodes} == {True, False} and any(n["store"] for n in nodes)


async def test_complaint_by_number_with_a_nul_is_null(ds: Dataset, gql: GraphQLClient) -> None:
    response = await gql.post(BY_NUMBER, {"number": ds.c["c1"]["number"] + "\x00"}, tenant=ds.tenant)
    assert response.json() == {"data": {"complaintByNumber": None}}


# ---------------------------------------------------------------- orders and cursors

ORDERS = ["CREATED_AT_DESC", "CREATED_AT_ASC", "NUMBER_ASC", "NUMBER_DESC", "UPDATED_AT_DESC"]


def _expected_order(ds: Dataset, nodes: list[dict[str, Any]], order: str) -> list[str]:
    key: dict[str, Callable[[dict[str, Any]], Any]] = {
        "CREATED_AT_DESC": lambda n: datetime.fromisoformat(n["createdAt"]),
        "CREATED_AT_ASC": lambda n: datetime.fromisoformat(n["createdAt"]),
        "UPDATED_AT_DESC": lambda n: datetime.fromisoformat(n["updatedAt"]),
        "NUMBER_ASC": lambda n: n["number"],
        "NUMBER_DESC": lambda n: n["number"],
    }
    return [n["number"] for n in sorted(nodes, key=key[order], reverse=order.endswith("DESC"))]


async def test_orders(ds: Dataset, gql: GraphQLClient) -> None:
    default = await list_page(gql, tenant=ds.tenant, first=100)
    nodes = [e["node"] for e in default["edges"]]
    assert len(nodes) == 8
    in_recording_order = [ds.c[k]["number"] for k in sorted(ALL)]
    assert numbers(default) == in_recording_order[::-1]  # CREATED_AT_DESC by default
    seen = {}
    for order in ORDERS:
        page = await list_page(gql, tenant=ds.tenant, orderBy=order, first=100)
        seen[order] = numbers(page)
        assert seen[order] == _expected_order(ds, nodes, order), order
    assert seen["CREATED_AT_ASC"] == in_recording_order
    assert seen["NUMBER_ASC"] == in_recording_order  # numbers are given in recording order
    assert seen["NUMBER_DESC"] == in_recording_order[::-1]
    assert seen["UPDATED_AT_DESC"] != seen["CREATED_AT_DESC"]  # the steps moved some complaints up
    assert seen["UPDATED_AT_DESC"][0] == ds.c["c8"]["number"]  # withdrawn last


@pytest.mark.parametrize("order", ORDERS)
async def test_forward_pagination_walks_the_whole_list(ds: Dataset, gql: GraphQLClient, order: str) -> None:
    full = numbers(await list_page(gql, tenant=ds.tenant, orderBy=order, first=100))
    walked: list[str] = []
    after = None
    pages = 0
    while True:
        page = await list_page(gql, tenant=ds.tenant, orderBy=order, first=3, after=after)
        pages += 1
        info = page["pageInfo"]
        assert page["totalCount"] == 8
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        walked += numbers(page)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert pages == 3
    assert walked == full
    assert len(set(walked)) == len(walked) == 8
    # past the end: an empty page
    empty = await list_page(gql, tenant=ds.tenant, orderBy=order, first=3, after=after_last(page))
    assert empty["edges"] == []
    assert empty["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True, "startCursor": None,
                                 "endCursor": None}
    assert empty["totalCount"] == 8


def after_last(page: dict[str, Any]) -> str:
    return page["edges"][-1]["cursor"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("order", ORDERS)
async def test_backward_pagination_walks_the_whole_list(ds: Dataset, gql: GraphQLClient, order: str) -> None:
    full = numbers(await list_page(gql, tenant=ds.tenant, orderBy=order, first=100))
    walked: list[str] = []
    before = None
    while True:
        page = await list_page(gql, tenant=ds.tenant, orderBy=order, last=3, before=before)
        info = page["pageInfo"]
        assert info["hasNextPage"] is (before is not None)
        assert page["totalCount"] == 8
        walked = numbers(page) + walked
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert walked == full
    assert len(set(walked)) == 8
    # last: 3 is the tail of the list
    tail = await list_page(gql, tenant=ds.tenant, orderBy=order, last=3)
    assert numbers(tail) == full[-3:]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    assert tail["pageInfo"]["hasNextPage"] is False


async def test_cursors_mix_forward_and_backward(ds: Dataset, gql: GraphQLClient) -> None:
    full = numbers(await list_page(gql, tenant=ds.tenant, first=100))
    page = await list_page(gql, tenant=ds.tenant, first=5)
    cursors = [e["cursor"] for e in page["edges"]]
    # before the 5th: the four before it; last: 2 of them
    back = await list_page(gql, tenant=ds.tenant, last=2, before=cursors[4])
    assert numbers(back) == full[2:4]
    assert back["pageInfo"]["hasPreviousPage"] is True
    assert back["pageInfo"]["hasNextPage"] is True
    # after the 2nd and before the 5th
    between = await list_page(gql, tenant=ds.tenant, first=10, after=cursors[1], before=cursors[4])
    assert numbers(between) == full[2:4]
    # a filter keeps the cursor semantics
    stores = await list_page(gql, tenant=ds.tenant, filter={"channel": "STORE"}, first=1)
    assert stores["pageInfo"]["hasNextPage"] is True
    rest = await list_page(gql, tenant=ds.tenant, filter={"channel": "STORE"}, first=10,
                           after=stores["pageInfo"]["endCursor"])
    assert len(rest["edges"]) == 2
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["totalCount"] == 3


def _crafted(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


BAD_PAGES: list[tuple[str, dict[str, Any]]] = [
    ("first 0", {"first": 0}),
    ("first 101", {"first": 101}),
    ("first negative", {"first": -1}),
    ("last 0", {"last": 0}),
    ("last 101", {"last": 101}),
    ("first and last", {"first": 2, "last": 2}),
    ("garbage after", {"first": 2, "after": "garbage"}),
    ("garbage after with symbols", {"first": 2, "after": "%%% not base64 !!!"}),
    ("garbage before", {"last": 2, "before": "garbage"}),
    ("empty after", {"first": 2, "after": ""}),
    ("base64 of text", {"first": 2, "after": base64.b64encode(b"hello world").decode()}),
    ("cursor of another order", {"first": 2, "after": _crafted("NUMBER_ASC", "2501000001", str(uuid.uuid4()))}),
    ("cursor with a bad date", {"first": 2, "after": _crafted("CREATED_AT_DESC", "yesterday", str(uuid.uuid4()))}),
    ("cursor with a bad id", {"first": 2, "after": _crafted("CREATED_AT_DESC", "2025-01-01T00:00:00+00:00", "x")}),
    ("cursor too short", {"first": 2, "after": _crafted("CREATED_AT_DESC")}),
    ("text too long", {"first": 2, "filter": {"text": "x" * 201}}),
]


@pytest.mark.parametrize(("name", "variables"), BAD_PAGES, ids=[b[0] for b in BAD_PAGES])
async def test_bad_page_arguments_are_bad_user_input(ds: Dataset, gql: GraphQLClient, name: str,
                                                     variables: dict[str, Any]) -> None:
    response = await gql.post(LIST, variables, tenant=ds.tenant)
    body = response.json()
    assert response.status_code == 200, body
    assert body["data"] is None, name
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["path"] == ["complaints"]


CRAFTED_CURSORS: list[tuple[str, str]] = [
    ("an id that is a number", _crafted("CREATED_AT_DESC", "2025-01-01T00:00:00+00:00", 12345)),
    ("an id that is a list", _crafted("NUMBER_ASC", "2501000001", ["x"])),
    ("a date before year 1 in UTC", _crafted("CREATED_AT_DESC", "0001-01-01T00:00:00+14:00", str(uuid.uuid4()))),
    ("a date after year 9999 in UTC", _crafted("CREATED_AT_ASC", "9999-12-31T23:59:59-14:00", str(uuid.uuid4()))),
]


@pytest.mark.parametrize(("name", "cursor"), CRAFTED_CURSORS, ids=[c[0] for c in CRAFTED_CURSORS])
async def test_crafted_cursor_is_bad_user_input(ds: Dataset, gql: GraphQLClient, name: str, cursor: str) -> None:
    order = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[0]
    response = await gql.post(LIST, {"first": 2, "after": cursor, "orderBy": order}, tenant=ds.tenant)
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body


async def test_unauthenticated_list_is_refused(gql: GraphQLClient) -> None:
    for tenant in (TENANT_A, TENANT_B):
        response = await gql.post(LIST, {"first": 5}, tenant=tenant, user=None)
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    # an e-mail that is no user of the tenant is no better
    response = await gql.post(LIST, {"first": 5}, user="nobody@test.example")
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------- tenant isolation

BY_ID = "query Get($id: ID!) { complaint(id: $id) { id number title } node(id: $id) { id } }"
BY_NUMBER = "query Get($number: String!) { complaintByNumber(number: $number) { id number title } }"


async def test_tenants_never_see_each_others_complaints(gql: GraphQLClient) -> None:
    token = f"twin{uuid.uuid4().hex[:8]}"
    phone = "+86 137 1234 5678"
    mine: dict[str, list[dict[str, Any]]] = {TENANT_A: [], TENANT_B: []}
    for tenant in (TENANT_A, TENANT_B):  # look-alike data: same titles, phones, id numbers, same staff e-mail
        for i in range(3):
            mine[tenant].append(await record(
                gql, tenant=tenant, title=f"{token} broken screen {i}", channel="STORE",
                complainant={"name": "Twin", "phone": phone, "idNumber": "440301199001011234"}))
    a_ids = {c["id"] for c in mine[TENANT_A]}
    b_ids = {c["id"] for c in mine[TENANT_B]}
    assert a_ids.isdisjoint(b_ids)

    for tenant, own, other in ((TENANT_A, a_ids, b_ids), (TENANT_B, b_ids, a_ids)):
        for f in ({"text": token}, {"complainantPhone": "13712345678", "text": token},
                  {"complainantIdNumber": "440301199001011234", "text": token}):
            page = await list_page(gql, tenant=tenant, filter=f, first=100)
            assert {e["node"]["id"] for e in page["edges"]} == own, (tenant, f)
            assert page["totalCount"] == 3
        # not by global id, not through node, not by number
        for cid in other:
            data = await gql(BY_ID, {"id": cid}, tenant=tenant)
            assert data == {"complaint": None, "node": None}
        for c in (mine[TENANT_A] if tenant == TENANT_B else mine[TENANT_B]):
            found = (await gql(BY_NUMBER, {"number": c["number"]}, tenant=tenant))["complaintByNumber"]
            assert found is None or found["id"] not in other  # numbers may coincide: never the other's row
        # the other tenant's owner id (same e-mail) matches nothing here
        other_owner = mine[TENANT_B if tenant == TENANT_A else TENANT_A][0]["owner"]["id"]
        page = await list_page(gql, tenant=tenant, filter={"ownerId": other_owner}, first=100)
        assert page["edges"] == []
        assert page["totalCount"] == 0

    # the whole of beta's list, walked page by page, holds none of alpha's complaints
    alpha_all = {str(r[0]) for r in await rows(f'SELECT id FROM "{_schema(TENANT_A)}".complaints')}
    beta_seen: set[str] = set()
    after = None
    while True:
        page = await list_page(gql, tenant=TENANT_B, first=100, after=after)
        beta_seen |= {_raw_id(e["node"]["id"]) for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    beta_all = {str(r[0]) for r in await rows(f'SELECT id FROM "{_schema(TENANT_B)}".complaints')}
    assert beta_seen == beta_all
    assert beta_seen.isdisjoint(alpha_all)


def _raw_id(global_id: str) -> str:
    kind, _, raw_id = base64.b64decode(global_id).decode().partition(":")
    assert kind == "Complaint"
    return raw_id


# ---------------------------------------------------------------- a fixed number of statements per page

COUNTED = """
query Counted($first: Int!) {
  complaints(first: $first) {
    edges { node {
      number
      owner { email }
      responsibleDepartment { name }
      category { name }
      history(last: 3) { edges { node { action } } }
      deadlines { kind dueAt workingDaysLeft paused overdue }
      extensionRequests { state requestedBy { email } }
    } }
  }
}
"""


async def test_list_runs_the_same_statements_for_5_and_50(gql: GraphQLClient) -> None:
    from services.core.db import get_engine

    tenant = await new_tenant("cnt")
    lookups = await gql(LOOKUPS, tenant=tenant)
    departments = [u["id"] for u in lookups["orgUnits"] if u["kind"] == "DEPARTMENT"]
    categories = [c["id"] for c in lookups["categories"]]

    async def one(i: int) -> None:
        c = await record(gql, tenant=tenant, title=f"Counted {i}", categoryId=categories[i % len(categories)])
        await step(gql, "startInvestigation", c["id"], tenant=tenant)
        if i % 3 == 0:
            await step(gql, "submitInvestigation", c["id"], tenant=tenant, valid=True, findings="Confirmed.")
            await step(gql, "assignResponsibleDepartment", c["id"], tenant=tenant,
                       departmentId=departments[i % len(departments)])

    for chunk in range(0, 50, 10):
        await asyncio.gather(*(one(i) for i in range(chunk, chunk + 10)))

    engine = get_engine().sync_engine
    statements: list[str] = []

    def counter(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        # per period, not per page: the tenant's keys (key cache period, 1 s in the tests) and its registry row
        # (2 s) are read again when their cache entry expires, which a loaded machine can make fall in between
        if "tenant_keys" not in statement and "FROM public.tenants" not in statement:
            statements.append(statement)

    async def count(n: int) -> tuple[int, list[str]]:
        statements.clear()
        event.listen(engine, "before_cursor_execute", counter)
        try:
            data = await gql(COUNTED, {"first": n}, tenant=tenant)
        finally:
            event.remove(engine, "before_cursor_execute", counter)
        edges = data["complaints"]["edges"]
        assert len(edges) == n
        for e in edges:
            history = e["node"]["history"]["edges"]
            assert 2 <= len(history) <= 3
            assert e["node"]["owner"]["email"] == DEFAULT_USER
            assert e["node"]["category"] is not None
            assert e["node"]["deadlines"]  # every case has its deadlines (batch-loaded, one statement)
        if n == 50:
            assert sum(e["node"]["responsibleDepartment"] is not None for e in edges) == 17
            assert {e["node"]["history"]["edges"][-1]["node"]["action"] for e in edges} == {
                "start_investigation", "assign_responsible_department"}
        return len(statements), list(statements)

    await count(5)  # warm-up: the same path once before measuring
    five, five_sql = await count(5)
    fifty, fifty_sql = await count(50)
    print(f"\nSQL statements for complaints(first: 5): {five}; for complaints(first: 50): {fifty}")
    for sql in fifty_sql:
        print("  ", " ".join(sql.split())[:140])
    assert five == fifty, (five_sql, fifty_sql)
