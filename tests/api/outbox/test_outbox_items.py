"""Failed deliveries through GraphQL: ``outboxItems`` and ``retryOutboxItems`` (tenant admins, ``diagnostics.run``).

Two tenants of their own with look-alike data (the same complaint, body and users in each): a complaint routed to
an external body whose receiver answers 503 once, and a notification to a user that no longer exists. The real
sweep, allowed one attempt, fails both; the admin sees them, retries them, and the next sweep delivers the webhook.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import rows, scalar
from lifecycle import record
from receiver import WebhookReceiver

from services.core.outbox.service import notify
from services.core.outbox.sweeper import sweep_tenant
from services.core.tenancy import TenantRef, tenant_session

ADMIN, RECEIVER = "admin@test.example", "receiver@test.example"

ITEMS = """query ($state: OutboxState!, $first: Int!, $after: String) {
  outboxItems(state: $state, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind state attempts lastError nextAttemptAt createdAt sentAt
      recipient { email } externalBody { name } complaint { number } } } } }"""
FAILED = "query { outboxItems { totalCount edges { node { id kind state } } } }"
RETRY = """mutation ($input: RetryOutboxItemsInput!) { retryOutboxItems(input: $input) {
  retried items { id kind state attempts nextAttemptAt lastError } userErrors { field message code } } }"""
UPSERT = """mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) {
  externalBody { id } userErrors { code } } }"""
ROUTE = """mutation ($input: RouteComplaintInput!) { routeComplaint(input: $input) { userErrors { code } } }"""


def gid(type_name: str, value: Any) -> str:
    return base64.b64encode(f"{type_name}:{value}".encode()).decode()


@pytest.fixture
async def pair(tenants: Any) -> AsyncIterator[tuple[TenantRef, TenantRef]]:
    a, b = await new_tenant("oxa"), await new_tenant("oxb", "bank")
    try:
        yield a, b
    finally:
        await drop_tenant(a)
        await drop_tenant(b)


async def _seed(gql: GraphQLClient, tenant: TenantRef, receiver: WebhookReceiver) -> str:
    """A routed complaint (a webhook), a notification to a user since gone, and one to the receiver; the
    complaint's number."""
    body = (await gql(UPSERT, {"input": {"name": "Price Bureau", "kind": "PRICE_BUREAU", "webhookUrl": receiver.url}},
                      tenant=tenant.slug, user=ADMIN))["upsertExternalBody"]
    assert body["userErrors"] == []
    # called by staff (PHONE): no message to the customer goes through the outbox, only the items counted here
    complaint = await record(gql, tenant.slug, title="Overcharged at the till", preferredContact={"channel": "PHONE"})
    routed = await gql(ROUTE, {"input": {"complaintId": complaint["id"], "externalBodyId": body["externalBody"]["id"],
                                         "mode": "ROUTED", "note": "Prices"}}, tenant=tenant.slug, user=RECEIVER)
    assert routed["routeComplaint"]["userErrors"] == []
    user = await scalar(f'SELECT id FROM "{tenant.schema}".users WHERE email = :e', e=RECEIVER)
    async with tenant_session(tenant) as session, session.begin():
        await notify(session, user_ids=[uuid.uuid4(), user], key="test:note", kind="TEST", title="Hello",
                     now=datetime.now(UTC))
    return str(complaint["number"])


async def _snapshot(tenant: TenantRef) -> tuple[Any, ...]:
    """The outbox rows (state, attempts, due, error) and the audit trail's length: what a refusal must not change."""
    outbox = await rows(f"""SELECT id, state, attempts, next_attempt_at, last_error FROM "{tenant.schema}".outbox
                            ORDER BY id""")
    return tuple(tuple(r) for r in outbox), await scalar(f'SELECT count(*) FROM "{tenant.schema}".audit_events')


def _codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def test_admin_lists_and_retries_failed_deliveries_and_the_sweep_delivers(
    gql: GraphQLClient, pair: tuple[TenantRef, TenantRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    monkeypatch.setenv("COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS", "1")
    with WebhookReceiver(fail_times=1) as receiver:
        numbers = {t.slug: await _seed(gql, t, receiver) for t in (a, b)}
        for t in (a, b):
            assert (await sweep_tenant(t)).failed == 2
        assert len(receiver.requests) == 2 and receiver.accepted == {}

        listed = (await gql(ITEMS, {"state": "FAILED", "first": 20}, tenant=a.slug, user=ADMIN))["outboxItems"]
        assert listed["totalCount"] == 2 and listed["pageInfo"]["hasNextPage"] is False
        nodes = {n["node"]["kind"]: n["node"] for n in listed["edges"]}
        hook, note = nodes["WEBHOOK"], nodes["NOTIFICATION"]
        assert {k: hook[k] for k in ("state", "attempts", "lastError", "sentAt", "recipient", "externalBody",
                                     "complaint")} == {
            "state": "FAILED", "attempts": 1, "lastError": "HTTP 503", "sentAt": None, "recipient": None,
            "externalBody": {"name": "Price Bureau"}, "complaint": {"number": numbers[a.slug]}}
        assert {k: note[k] for k in ("state", "attempts", "lastError", "recipient", "externalBody", "complaint")} == {
            "state": "FAILED", "attempts": 1, "lastError": "the user no longer exists", "recipient": None,
            "externalBody": None, "complaint": None}
        # pages of one, newest first, the same total on every page
        first = (await gql(ITEMS, {"state": "FAILED", "first": 1}, tenant=a.slug, user=ADMIN))["outboxItems"]
        second = (await gql(ITEMS, {"state": "FAILED", "first": 1, "after": first["pageInfo"]["endCursor"]},
                             tenant=a.slug, user=ADMIN))["outboxItems"]
        assert (first["totalCount"], second["totalCount"]) == (2, 2)
        assert first["pageInfo"]["hasNextPage"] is True and second["pageInfo"]["hasNextPage"] is False
        assert [e["node"]["id"] for e in first["edges"] + second["edges"]] == [e["node"]["id"]
                                                                                for e in listed["edges"]]
        # the default is FAILED; other states on request (the delivered notification to the receiver)
        assert (await gql(FAILED, tenant=a.slug, user=ADMIN))["outboxItems"]["totalCount"] == 2
        sent = (await gql(ITEMS, {"state": "SENT", "first": 100}, tenant=a.slug, user=ADMIN))["outboxItems"]
        delivered = [e["node"] for e in sent["edges"] if e["node"]["recipient"] == {"email": RECEIVER}]
        assert delivered and all(n["state"] == "SENT" and n["sentAt"] for n in delivered)

        # all or nothing: a sent item among failed ones, an unknown id, another type's id: nothing is retried
        before_a, before_b = await _snapshot(a), await _snapshot(b)
        for ids, expected in (
            ([hook["id"], delivered[0]["id"]], [(["ids", "1"], "ILLEGAL_TRANSITION")]),
            ([gid("OutboxItem", uuid.uuid4()), hook["id"]], [(["ids", "0"], "NOT_FOUND")]),
            ([hook["id"], gid("Complaint", uuid.uuid4())], [(["ids", "1"], "NOT_FOUND")]),
            ([], [(["ids"], "REQUIRED")]),
        ):
            refused = (await gql(RETRY, {"input": {"ids": ids}}, tenant=a.slug, user=ADMIN))["retryOutboxItems"]
            assert _codes(refused) == expected, ids
            assert (refused["retried"], refused["items"]) == (0, [])
        assert (await _snapshot(a), await _snapshot(b)) == (before_a, before_b)

        # the retry: both back in the queue, due now, attempts reset; one audit event
        done = (await gql(RETRY, {"input": {"ids": [hook["id"], note["id"], hook["id"]]}}, tenant=a.slug,
                          user=ADMIN))["retryOutboxItems"]
        assert done["userErrors"] == [] and done["retried"] == 2
        assert [(i["id"], i["state"], i["attempts"]) for i in done["items"]] == [
            (hook["id"], "PENDING", 0), (note["id"], "PENDING", 0)]
        assert await scalar(f'SELECT count(*) FROM "{a.schema}".audit_events') == before_a[1] + 1
        event = (await rows(f"""SELECT action, subject_type, changes FROM "{a.schema}".audit_events
                                ORDER BY seq DESC LIMIT 1"""))[0]
        assert (event.action, event.subject_type, event.changes["count"]) == ("retry_outbox_items", "OutboxItem", 2)
        assert (await gql(FAILED, tenant=a.slug, user=ADMIN))["outboxItems"]["totalCount"] == 0

        # the sweep delivers the webhook now the receiver answers; the gone user's notification fails again
        swept = await sweep_tenant(a)
        assert (swept.sent, swept.failed) == (1, 1)
        assert len(receiver.accepted) == 1
        again = (await gql(FAILED, tenant=a.slug, user=ADMIN))["outboxItems"]
        assert [e["node"]["id"] for e in again["edges"]] == [note["id"]]
    # B untouched by all of it
    assert await _snapshot(b) == before_b


async def test_not_an_admin_is_refused_and_nothing_changes(
    gql: GraphQLClient, pair: tuple[TenantRef, TenantRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pair
    monkeypatch.setenv("COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS", "1")
    with WebhookReceiver(fail_times=1) as receiver:
        await _seed(gql, a, receiver)
        await sweep_tenant(a)
    failed = [e["node"]["id"] for e in (await gql(FAILED, tenant=a.slug, user=ADMIN))["outboxItems"]["edges"]]
    assert len(failed) == 2
    before = await _snapshot(a)
    response = await gql.post(FAILED, tenant=a.slug, user=RECEIVER)
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    refused = (await gql(RETRY, {"input": {"ids": failed}}, tenant=a.slug, user=RECEIVER))["retryOutboxItems"]
    assert _codes(refused) == [(None, "NOT_ALLOWED")]
    assert (refused["retried"], refused["items"]) == (0, [])
    assert await _snapshot(a) == before
    # no payload is ever exposed: the type has no such field
    unknown = (await gql.post("query { outboxItems { edges { node { payload } } } }", tenant=a.slug, user=ADMIN)
               ).json()
    assert "Cannot query field 'payload' on type 'OutboxItem'" in unknown["errors"][0]["message"]


async def test_an_admin_never_sees_or_retries_another_tenants_items(
    gql: GraphQLClient, pair: tuple[TenantRef, TenantRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    monkeypatch.setenv("COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS", "1")
    with WebhookReceiver(fail_times=1) as receiver:
        for t in (a, b):
            await _seed(gql, t, receiver)
            await sweep_tenant(t)

    async def failed_ids(t: TenantRef) -> list[str]:
        data = await gql(FAILED, tenant=t.slug, user=ADMIN)
        return sorted(e["node"]["id"] for e in data["outboxItems"]["edges"])

    ids_a, ids_b = await failed_ids(a), await failed_ids(b)
    raw_b = {str(r.id) for r in await rows(f"""SELECT id FROM "{b.schema}".outbox WHERE state = 'failed'""")}
    assert len(ids_a) == len(ids_b) == 2 and not set(ids_a) & set(ids_b)
    assert {base64.b64decode(i).decode().split(":", 1)[1] for i in ids_a}.isdisjoint(raw_b)
    before_a, before_b = await _snapshot(a), await _snapshot(b)
    for ids in (ids_b, [ids_a[0], ids_b[0]]):
        refused = (await gql(RETRY, {"input": {"ids": ids}}, tenant=a.slug, user=ADMIN))["retryOutboxItems"]
        assert _codes(refused)[0][1] == "NOT_FOUND" and refused["retried"] == 0
    assert (await _snapshot(a), await _snapshot(b)) == (before_a, before_b)
    # B's admin still finds B's items failed, and B's ids open nothing in A
    assert await failed_ids(b) == ids_b
    node = "query ($id: ID!) { node(id: $id) { id ... on OutboxItem { state kind } } }"
    assert (await gql(node, {"id": ids_b[0]}, tenant=a.slug, user=ADMIN))["node"] is None
    # A's own item through node(id:): for its admin, not for a receiver (null, as for anything not visible)
    assert (await gql(node, {"id": ids_a[0]}, tenant=a.slug, user=ADMIN))["node"]["id"] == ids_a[0]
    assert (await gql(node, {"id": ids_a[0]}, tenant=a.slug, user=ADMIN))["node"]["state"] == "FAILED"
    assert (await gql(node, {"id": ids_a[0]}, tenant=a.slug, user=RECEIVER))["node"] is None


async def test_a_page_runs_no_statement_per_row(
    gql: GraphQLClient, pair: tuple[TenantRef, TenantRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event

    from services.core.db import get_engine
    from services.core.outbox.models import OutboxKind
    from services.core.outbox.service import enqueue

    a, _ = pair
    monkeypatch.setenv("COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS", "1")
    with WebhookReceiver(fail_times=100) as receiver:
        await _seed(gql, a, receiver)
        body_id = await scalar(f'SELECT id FROM "{a.schema}".external_bodies')
        complaint_id = await scalar(f'SELECT id FROM "{a.schema}".complaints')
        async with tenant_session(a) as session, session.begin():
            now = datetime.now(UTC)
            for i in range(10):
                await enqueue(session, OutboxKind.WEBHOOK, f"count:{i}", {"n": i}, target=f"external_body:{body_id}",
                              now=now, complaint_id=complaint_id)
            for i in range(10):  # notifications to users since gone, half of them about the complaint
                await notify(session, user_ids=[uuid.uuid4()], key=f"count-gone:{i}", kind="TEST", title="t",
                             now=now, complaint_id=complaint_id if i % 2 else None)
        await sweep_tenant(a)
    engine = get_engine().sync_engine
    statements: list[str] = []

    def counter(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "tenant_keys" not in statement and "FROM public.tenants" not in statement:  # per period, not per page
            statements.append(statement)

    async def count(n: int) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", counter)
        try:
            data = (await gql(ITEMS, {"state": "FAILED", "first": n}, tenant=a.slug, user=ADMIN))["outboxItems"]
        finally:
            event.remove(engine, "before_cursor_execute", counter)
        assert len(data["edges"]) == n and data["totalCount"] == 22
        return len(statements)

    await count(2)  # warm-up
    two, twenty = await count(2), await count(20)
    print(f"\nSQL statements for outboxItems(first: 2): {two}; for outboxItems(first: 20): {twenty}")
    # no statement per row: the page itself, its count, and one batch per related kind present on the page
    # (recipients, external bodies, complaints); a short page may lack a kind, so it can run fewer
    assert twenty <= 8 and two <= twenty, (two, twenty)
