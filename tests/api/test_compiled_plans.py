"""Compiled plans (services/api/compiled.py) against the resolver path: every compiled registered query, for every
role of both templates and two tenants of their own, sent by its hash through both paths (the resolver path forced by
the test-mode header), compared byte for byte: status, content type and body (data and errors), including empty
lists, null objects, every page to the last one, page sizes at and past the edges and a bad cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from conftest import STAFF, access_token, drop_tenant, new_tenant
from helpers import execute, raw_id
from lifecycle import complaint_input

from services.api import compiled
from services.api.app import GraphQLApp
from services.api.documents import registry
from services.api.schema import build_schema

RECORD = """mutation R($input: RecordComplaintInput!) {
  recordComplaint(input: $input) { complaint { id } userErrors { code } } }"""
DIRECTORY = "query { orgUnits { id code kind } categories { id } users { id email } }"


def _graphql_app(app: Any) -> GraphQLApp:
    endpoints = {r.endpoint for r in app.routes if getattr(r, "path", None) == "/graphql"
                 and isinstance(getattr(r, "endpoint", None), GraphQLApp)}  # HTTP and WebSocket: the same
    [endpoint] = endpoints
    return endpoint


async def _post(client: httpx.AsyncClient, slug: str, user: str | None, body: dict[str, Any], *,
                resolver: bool) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if user is None:
        headers["x-tenant"] = slug
    else:
        headers["authorization"] = f"Bearer {await access_token(slug, user)}"
    if resolver:
        headers[compiled.RESOLVER_PATH_HEADER] = "1"
    return await client.post("/graphql", json=body, headers=headers)


async def _fill(client: httpx.AsyncClient, slug: str) -> dict[str, Any]:
    """Complaints of three receivers, with and without store and category, some with a responsible department."""
    token = await access_token(slug, "all@test.example")
    auth = {"authorization": f"Bearer {token}"}
    listing = (await client.post("/graphql", json={"query": DIRECTORY}, headers=auth)).json()["data"]
    stores = [u["id"] for u in listing["orgUnits"] if u["kind"] == "STORE"]
    departments = [u["id"] for u in listing["orgUnits"] if u["kind"] == "DEPARTMENT"]
    categories = [c["id"] for c in listing["categories"]]
    ids = []
    for n, user in enumerate(["receiver@test.example", "receiver2@test.example", "all@test.example"] * 3):
        extra: dict[str, Any] = {"title": f"Case {n} kettle", "channel": ["PHONE", "STORE", "WEB"][n % 3]}
        if n % 2 == 0 and categories:
            extra["categoryId"] = categories[n % len(categories)]
        if n % 3 == 0 and stores:
            extra["storeId"] = stores[0]
        answer = await client.post("/graphql", json={"query": RECORD, "variables": {"input": complaint_input(
            **extra)}}, headers={"authorization": f"Bearer {await access_token(slug, user)}"})
        payload = answer.json()["data"]["recordComplaint"]
        assert payload["userErrors"] == [], payload
        ids.append(payload["complaint"]["id"])
    schema = f'"tenant_{slug.replace("-", "_")}"'
    for n, ident in enumerate(ids[::2]):  # a fixture, as bench/list_vs_bare.py does: not the workflow
        await execute(f"UPDATE {schema}.complaints SET responsible_department_id = :d WHERE id = :i",
                      d=raw_id(departments[n % len(departments)]), i=raw_id(ident))
    await execute(f"UPDATE {schema}.complaints SET litigation = true WHERE id = :i", i=raw_id(ids[1]))
    return {"owner": listing["users"][0]["id"], "store": stores[0] if stores else None}


@pytest.fixture
async def pair(tenants: tuple[str, str], client: httpx.AsyncClient) -> AsyncIterator[list[tuple[str, Any]]]:
    made = [await new_tenant("plans"), await new_tenant("plans", template="bank")]
    found = [(t.slug, await _fill(client, t.slug)) for t in made]
    yield found
    for tenant in made:
        await drop_tenant(tenant)


def _cases(root: str, known: dict[str, Any]) -> list[dict[str, Any]]:
    assert root == "complaints", f"no differential cases for root field {root}: add them with its compiler"
    cases: list[dict[str, Any]] = [
        {}, {"first": 1}, {"first": 4}, {"first": 100}, {"first": 0}, {"first": 101}, {"first": -1},
        {"after": "not-a-cursor"}, {"after": ""}, {"first": 3, "orderBy": "NUMBER_ASC"},
        {"first": 3, "orderBy": "NUMBER_DESC"}, {"first": 3, "orderBy": "UPDATED_AT_DESC"},
        {"first": 5, "orderBy": "CREATED_AT_ASC"},
        {"filter": {"text": "no such words"}},  # an empty list
        {"filter": {"status": ["CLOSED"]}}, {"filter": {"status": ["RECEIVED"]}, "first": 2},
        {"filter": {"litigation": True}}, {"filter": {"text": "Case 1"}}, {"filter": {"channel": "WEB"}},
        {"filter": {"ownerId": known["owner"]}}, {"filter": {"ownerId": "bm90LWFuLWlk"}},
        {"filter": {"overdue": False}}, {"filter": {"dueWithinWorkingDays": 5}},
        {"filter": {"createdFrom": "1900-01-01T00:00:00Z"}},
        {"filter": {"complainantPhone": "13800138000"}, "first": 2},
        {"first": "x"}, {"orderBy": "NOPE"},
    ]
    if known["store"]:
        cases.append({"filter": {"storeId": known["store"]}})
    return cases


async def _same(client: httpx.AsyncClient, slug: str, user: str | None, body: dict[str, Any]) -> httpx.Response:
    fast = await _post(client, slug, user, body, resolver=False)
    slow = await _post(client, slug, user, body, resolver=True)
    where = (slug, user, body.get("variables"))
    assert fast.status_code == slow.status_code, where
    assert fast.headers["content-type"] == slow.headers["content-type"], where
    assert fast.content == slow.content, (where, fast.content[:600], slow.content[:600])
    return fast


def test_every_registered_query_is_compiled_or_reported() -> None:
    report = compiled.build(build_schema()._schema)
    queries = {h for h, d in registry().items() if d.lstrip().startswith("query")}
    assert {digest for _, digest, _, _ in report.rows} == queries
    outcome = {name: (state, reason) for name, _, state, reason in report.rows}
    assert outcome["Inbox"] == ("compiled", "")
    assert outcome["DeadlineInbox"][0] == "fallback" and "deadlines" in outcome["DeadlineInbox"][1]
    assert all(reason for _, _, state, reason in report.rows if state == "fallback")
    assert set(report.plans) == {digest for _, digest, state, _ in report.rows if state == "compiled"}
    text = compiled.report_text(report)
    assert "Inbox" in text and "registered queries compiled" in text


async def test_compiled_plans_answer_byte_for_byte_as_the_resolver_path(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "FILTERED_PAGES", True)  # (the default) filtered pages through the plan too
    plans = _graphql_app(app).plans()
    assert plans, "no compiled plan"
    users = list(STAFF)
    answered_before = sum(p.answered for p in plans.values())
    one_trip_before = sum(r.one_trip for p in plans.values() for r in p.roots)
    compared = 0
    for digest, plan in plans.items():
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        for slug, known in pair:
            for user in users:
                for variables in _cases(plan.roots[0].node.name.value, known):
                    await _same(client, slug, user, {"extensions": extensions, "variables": variables})
                    compared += 1
                # every page to the last, two at a time, following the compiled path's own cursors
                after = None
                for _ in range(20):
                    answer = await _same(client, slug, user, {"extensions": extensions,
                                                              "variables": {"first": 2, "after": after}})
                    body = answer.json()
                    if "data" not in body or body["data"] is None:
                        break
                    info = body["data"]["complaints"]["pageInfo"]
                    if not info["hasNextPage"]:
                        assert info["endCursor"] is not None or body["data"]["complaints"]["edges"] == []
                        break
                    after = info["endCursor"]
                else:
                    pytest.fail("paging did not end")
                # the same document sent as its text takes the compiled path as well
                text = registry()[digest]
                await _same(client, slug, user, {"query": text, "variables": {"first": 3}})
            # not signed in (a few: requests without a user are throttled per client address)
            await _same(client, slug, None, {"extensions": extensions, "variables": {"first": 1}})
    answered = sum(p.answered for p in plans.values()) - answered_before
    # the compiled path really answered (not a silent fallback everywhere): every signed-in user's valid pages
    assert answered >= len(pair) * len(users) * 10, answered
    # and most of those pages in one round trip with the viewer (the first of each viewer through the session)
    one_trip = sum(r.one_trip for p in plans.values() for r in p.roots) - one_trip_before
    assert one_trip >= len(pair) * len(users) * 5, one_trip
    assert compared > 500


async def test_the_compiled_page_has_nulls_empty_lists_and_both_tenants_own_rows(
        client: httpx.AsyncClient, pair: list[tuple[str, Any]]) -> None:
    digest = next(h for h, d in registry().items() if d.startswith("query Inbox("))
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    seen = []
    for slug, _ in pair:
        answer = await _post(client, slug, "all@test.example", {"extensions": extensions,
                                                                "variables": {"first": 100}}, resolver=False)
        page = answer.json()["data"]["complaints"]
        assert page["totalCount"] == len(page["edges"]) == 9
        nodes = [e["node"] for e in page["edges"]]
        assert any(n["category"] is None for n in nodes) and any(n["category"] is not None for n in nodes)
        assert any(n["responsibleDepartment"] is None for n in nodes)
        assert any(n["responsibleDepartment"] is not None for n in nodes)
        assert page["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False,
                                    "startCursor": page["edges"][0]["cursor"],
                                    "endCursor": page["edges"][-1]["cursor"]}
        seen.append({n["id"] for n in nodes})
        empty = await _post(client, slug, "all@test.example", {"extensions": extensions, "variables": {
            "filter": {"text": "no such words"}}}, resolver=False)
        assert empty.json() == {"data": {"complaints": {"totalCount": 0, "pageInfo": {
            "hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}, "edges": []}}}
    assert not seen[0] & seen[1]


async def test_filtered_pages_are_kept_per_shape_and_shapes_past_the_bound_take_the_resolver_path(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]]) -> None:
    digest = next(h for h, d in registry().items() if d.startswith("query Inbox("))
    plan = _graphql_app(app).plans()[digest]
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    slug, _ = pair[0]
    assert compiled.FILTERED_PAGES  # on by default
    before = plan.answered
    first = await _same(client, slug, "desk@test.example", {"extensions": extensions, "variables": {"first": 2}})
    after = first.json()["data"]["complaints"]["pageInfo"]["endCursor"]
    await _same(client, slug, "desk@test.example", {"extensions": extensions,
                                                    "variables": {"first": 2, "after": after}})
    assert plan.answered == before + 2
    # one filter shape, other values: one kept statement, each request's values (a list of one, then of two)
    for statuses in (["RECEIVED"], ["CLOSED"], ["RECEIVED", "CLOSED"], ["CLOSED", "RECEIVED"]):
        await _same(client, slug, "desk@test.example", {"extensions": extensions,
                                                        "variables": {"filter": {"status": statuses}}})
    for text in ("Case 1", "Case 2", "kettle", "100%_off"):
        await _same(client, slug, "desk@test.example", {"extensions": extensions,
                                                        "variables": {"filter": {"text": text}, "first": 3}})
    assert plan.answered == before + 2 + 8
    # at most RENDERED_KEPT statements of unfiltered pages kept per viewer's access (FILTERED_KEPT of filtered
    # ones): a further page shape takes the resolver path
    before = plan.answered
    sizes = range(11, 12 + compiled.RENDERED_KEPT)
    for size in sizes:
        await _same(client, slug, "manager@test.example", {"extensions": extensions, "variables": {"first": size}})
    assert plan.answered == before + compiled.RENDERED_KEPT
    await _same(client, slug, "manager@test.example", {"extensions": extensions, "variables": {"first": 11}})
    assert plan.answered == before + compiled.RENDERED_KEPT + 1  # a kept one still answers
    before = plan.answered
    for size in range(1, 2 + compiled.FILTERED_KEPT):
        variables = {"first": size, "filter": {"litigation": True}}
        await _same(client, slug, "manager@test.example", {"extensions": extensions, "variables": variables})
    assert plan.answered == before + compiled.FILTERED_KEPT


def test_the_resolver_path_switch_is_not_honoured_in_production() -> None:
    from dataclasses import replace

    from services.api.app import create_app
    from services.core.config import get_settings

    for environment, honoured in (("production", False), ("test", True), ("development", True)):
        app = create_app(replace(get_settings(), environment=environment))
        assert _graphql_app(app).resolver_switch is honoured


def test_compiled_plans_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTDESK_COMPILED_PLANS", "0")
    assert not compiled.enabled()
    monkeypatch.setenv("COMPLAINTDESK_COMPILED_PLANS", "1")
    assert compiled.enabled()


def _inbox_plan(app: Any) -> tuple[str, compiled.Plan]:
    digest = next(h for h, d in registry().items() if d.startswith("query Inbox("))
    return digest, _graphql_app(app).plans()[digest]


async def _as(client: httpx.AsyncClient, slug: str, user: str, query: str, variables: dict[str, Any]) -> Any:
    answer = await client.post("/graphql", json={"query": query, "variables": variables},
                               headers={"authorization": f"Bearer {await access_token(slug, user)}"})
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


async def test_one_round_trip_sees_every_change_of_the_viewer_at_once(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]]) -> None:
    """The compiled page is read with the viewer in one statement, built under the access filters this process last
    saw for them: a change of roles (policy version), org unit, activity, own language or the tenant's language is
    seen by the very next request, byte for byte as the resolver path answers it, and the request after it takes
    the one round trip again."""
    digest, plan = _inbox_plan(app)
    [root] = plan.roots
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}, "variables": {"first": 100}}
    slug, _ = pair[0]  # retail
    schema = f'"tenant_{slug.replace("-", "_")}"'

    async def answer(user: str, *, one_trip: bool) -> bytes:
        before = root.one_trip
        content = (await _same(client, slug, user, body)).content
        assert root.one_trip == before + (1 if one_trip else 0), (user, one_trip)
        return content

    # the complaint desk reads every complaint; no Accept-Language: the tenant's language (zh-CN) is the reader's
    await answer("desk@test.example", one_trip=False)  # the first: through the session, remembered
    zh = await answer("desk@test.example", one_trip=True)
    await _as(client, slug, "all@test.example", "mutation($i: UpdateTenantLocaleInput!) { updateTenantLocale(input: "
              "$i) { userErrors { code } } }", {"i": {"defaultLocale": "en"}})
    en = await answer("desk@test.example", one_trip=False)  # the tenant's language changed: read afresh
    assert en != zh
    assert await answer("desk@test.example", one_trip=True) == en
    await _as(client, slug, "desk@test.example", "mutation($i: UpdateMyPreferencesInput!) { updateMyPreferences("
              "input: $i) { userErrors { code } } }", {"i": {"locale": "zh-CN"}})
    assert await answer("desk@test.example", one_trip=False) == zh  # their own choice wins
    assert await answer("desk@test.example", one_trip=True) == zh

    # a handler reads the complaints of their responsible department
    handler = "handler@test.example"
    directory = await _as(client, slug, "all@test.example", DIRECTORY, {})
    handler_id = next(u["id"] for u in directory["users"] if u["email"] == handler)
    await answer(handler, one_trip=False)
    mine = await answer(handler, one_trip=True)
    # moved to a department that is responsible for some complaints (a fixture: no mutation moves a user)
    unit = await execute(f"UPDATE {schema}.users SET org_unit_id = (SELECT responsible_department_id FROM "
                         f"{schema}.complaints WHERE responsible_department_id IS NOT NULL AND "
                         f"responsible_department_id IS DISTINCT FROM (SELECT org_unit_id FROM {schema}.users "
                         f"WHERE email = :e) LIMIT 1) WHERE email = :e", e=handler)
    assert unit == 1
    moved = await answer(handler, one_trip=False)
    assert moved != mine  # another department's complaints
    assert await answer(handler, one_trip=True) == moved
    # new roles: the policy version moves on
    await _as(client, slug, "all@test.example", "mutation($i: AssignRoleInput!) { assignRole(input: $i) { "
              "userErrors { code } } }", {"i": {"userId": handler_id, "roles": ["complaint_desk"]}})
    everything = await answer(handler, one_trip=False)
    assert everything.count(b'"cursor"') == 9 > moved.count(b'"cursor"')
    assert await answer(handler, one_trip=True) == everything
    # no longer active: the resolver path's refusal, not a page
    await execute(f"UPDATE {schema}.users SET active = false WHERE email = :e", e=handler)
    refused = await answer(handler, one_trip=False)
    assert b'"edges"' not in refused
    assert await answer(handler, one_trip=False) == refused


SEALED_LIST = """query SealedList($first: Int, $filter: ComplaintFilter) {
  complaints(first: $first, filter: $filter) {
    edges { node { id description resolution who: complainant { name phone email idNumber address masked erased
      __typename } title } }
  }
}"""


async def test_sealed_fields_are_opened_and_masked_by_path_as_the_resolver_path_does(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]]) -> None:
    """A list selecting sealed fields (description, resolution, the complainant's identity) compiles: the statement
    returns their ciphertext at known places and the plan opens (and masks, per viewer) them there; every role of
    both templates, byte for byte with the resolver path. (No registered list selects them yet: the document is
    given to the app's plans here, and sent as its text.)"""
    from services.api.documents import sha256

    plans = _graphql_app(app).plans()
    digest = sha256(SEALED_LIST)
    plan = compiled.compile_document(build_schema()._schema, digest, SEALED_LIST)
    plans[digest] = plan
    try:
        for slug, _ in pair:
            for user in STAFF:
                for variables in ({"first": 100}, {"first": 3, "filter": {"text": "Case"}}, {"first": 0}):
                    await _same(client, slug, user, {"query": SEALED_LIST, "variables": variables})
        opened = (await _post(client, pair[0][0], "all@test.example",
                              {"query": SEALED_LIST, "variables": {"first": 100}}, resolver=False)).json()
        nodes = [e["node"] for e in opened["data"]["complaints"]["edges"]]
        assert nodes and all(n["description"] and n["who"]["__typename"] == "Complainant" for n in nodes)
        assert all(n["who"]["masked"] is False for n in nodes)
        # the tenant admin reads every complaint, no complainant's identity (policies: no complaint.read_identity)
        masked = (await _post(client, pair[0][0], "admin@test.example",
                              {"query": SEALED_LIST, "variables": {"first": 100}}, resolver=False)).json()
        people = [e["node"]["who"] for e in masked["data"]["complaints"]["edges"]]
        assert len(people) == len(nodes) and all(p["masked"] and p["phone"] != "13800138000" for p in people)
        assert plan.answered >= len(pair) * len(STAFF) * 2, plan.answered
    finally:
        plans.pop(digest, None)


async def test_a_failing_plan_is_answered_by_the_resolver_path(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan whose statement fails (a bug, say) is logged and the request answered by the resolver path, byte for
    byte, both through the request's session (the viewer's first request: its transaction is rolled back first) and
    in one round trip (no session)."""
    digest, plan = _inbox_plan(app)
    [root] = plan.roots
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}, "variables": {"first": 5}}
    slug, _ = pair[0]
    good = (await _same(client, slug, "manager@test.example", body)).json()
    assert good["data"]["complaints"]["edges"]
    await _same(client, slug, "desk@test.example", body)  # remembered: its next page would take one round trip
    compiled._seen.pop((slug, next(iter(compiled._seen))[1]), None)  # (any one viewer forgotten: both paths below)
    monkeypatch.setattr(type(root), "prepare", lambda self, *args: ("SELECT 1 / 0",))
    before = plan.answered
    for user in ("manager@test.example", "desk@test.example", "all2@test.example"):
        failed = await _same(client, slug, user, body)
        assert failed.status_code == 200 and "errors" not in failed.json(), failed.content[:300]
    assert plan.answered == before


async def test_whole_seconds_and_their_cursors_read_as_the_resolver_path_writes_them(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]]) -> None:
    """``datetime.isoformat()`` leaves out a zero fraction: so does the plan (createdAt, updatedAt and the cursors)."""
    digest, plan = _inbox_plan(app)
    slug, _ = pair[0]
    schema = f'"tenant_{slug.replace("-", "_")}"'
    assert await execute(f"UPDATE {schema}.complaints SET created_at = date_trunc('second', created_at), "
                         f"updated_at = date_trunc('second', updated_at)") == 9
    before = plan.answered
    for order in ("CREATED_AT_DESC", "UPDATED_AT_DESC"):
        page = await _same(client, slug, "desk@test.example", {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            "variables": {"first": 4, "orderBy": order}})
        assert b'.000000' not in page.content and b'+00:00"' in page.content
        after = page.json()["data"]["complaints"]["pageInfo"]["endCursor"]
        await _same(client, slug, "desk@test.example", {
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            "variables": {"first": 4, "orderBy": order, "after": after}})
    assert plan.answered == before + 4


async def test_the_page_is_in_order_whatever_order_its_rows_come_in(
        app: Any, client: httpx.AsyncClient, pair: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The statement has no ORDER BY around the page (its rows come in the page's order; a sort on every request
    saved): the plan puts them in order itself. Here they come reversed, the viewer's row last: the answers are still
    the resolver path's, byte for byte, for every order and the next pages."""
    digest, plan = _inbox_plan(app)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    split = compiled._split
    monkeypatch.setattr(compiled, "_split", lambda rows: split(list(reversed(rows))))
    slug, _ = pair[0]
    before = plan.answered
    for user, order in (("desk@test.example", "CREATED_AT_DESC"), ("desk@test.example", "CREATED_AT_ASC"),
                        ("desk@test.example", "UPDATED_AT_DESC"), ("manager@test.example", "NUMBER_ASC"),
                        ("manager@test.example", "NUMBER_DESC")):  # (at most RENDERED_KEPT page shapes a viewer)
        page = await _same(client, slug, user, {"extensions": extensions, "variables": {"first": 4, "orderBy": order}})
        after = page.json()["data"]["complaints"]["pageInfo"]["endCursor"]
        await _same(client, slug, user, {"extensions": extensions,
                                         "variables": {"first": 4, "orderBy": order, "after": after}})
    assert plan.answered == before + 10
