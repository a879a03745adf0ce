"""The live feed ``notificationReceived`` over graphql-transport-ws, on a real server (uvicorn on a random port of
127.0.0.1, serving the test's app) with a real WebSocket client: a hand-off's notification reaches the person it
names, not another user of the tenant nor the same e-mail in the other tenant; a bad or missing token is refused.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from api.complaints.test_procedure import DESK, HANDLER, RECEIVER, REVIEWER, investigate
from conftest import GraphQLClient, access_token
from deadline_cases import tenant_of
from lifecycle import directory, ok, record
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.core.outbox.service import dispatch_due
from services.core.tenancy import resolve_tenant, tenant_session

PROTOCOL = "graphql-transport-ws"
FEED = "subscription { notificationReceived { kind title link { route id } complaint { id number } } }"


async def subscribe(url: str, tenant: str, email: str) -> ClientConnection:
    ws = await connect(url, subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init",
                              "payload": {"Authorization": f"Bearer {await access_token(tenant, email)}"}}))
    ack = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(ack, str), ack  # text frames: a browser's graphql-ws parses nothing else
    assert json.loads(ack)["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FEED}}))
    return ws


async def nothing_within(ws: ClientConnection, seconds: float) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


async def dispatch(slug: str) -> None:
    async with tenant_session(await resolve_tenant(slug)) as session:
        await dispatch_due(session, now=datetime.now(UTC))


async def test_the_feed_reaches_only_the_person_handed_the_work(gql: GraphQLClient, server: str) -> None:
    t, other = await tenant_of("retail", "live"), await tenant_of("bank", "live")
    units, _ = await directory(gql, t)
    c = await record(gql, t, RECEIVER)
    await investigate(gql, t, c["id"], valid=True)
    await dispatch(t)
    handler = await subscribe(server, t, HANDLER)
    colleague = await subscribe(server, t, REVIEWER)  # another user of the same tenant: not in the department
    namesake = await subscribe(server, other, HANDLER)  # the same e-mail in the other tenant
    try:
        await asyncio.sleep(0.3)  # the feeds have started
        await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=c["id"], departmentId=units["PROD"])
        await dispatch(t)
        frame = await asyncio.wait_for(handler.recv(), 10)
        assert isinstance(frame, str), frame
        got = json.loads(frame)
        assert got["type"] == "next" and got["id"] == "1", got
        note = got["payload"]["data"]["notificationReceived"]
        assert note == {"kind": "TRANSFER_SLIP",
                        "title": f"投诉{c['number']}:有一份发给贵部门的传递单",  # zh-CN, the tenant's default
                        "link": {"route": "complaint", "id": c["id"]},
                        "complaint": {"id": c["id"], "number": c["number"]}}
        assert await nothing_within(handler, 1.5)  # each one once
        assert await nothing_within(colleague, 0.5)
        assert await nothing_within(namesake, 0.5)
        await handler.send(json.dumps({"id": "1", "type": "complete"}))
    finally:
        for ws in (handler, colleague, namesake):
            await ws.close()


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", None])
async def test_a_bad_or_missing_token_is_refused(server: str, authorization: str | None) -> None:
    async with connect(server, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": authorization} if authorization else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    # and nothing is served before the connection is acknowledged (the protocol's 4401)
    async with connect(server, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FEED}}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_only_subscriptions_go_over_the_socket(server: str) -> None:
    """Queries and mutations stay on HTTP (the edge's throttles, a session per request)."""
    t = await tenant_of("retail", "live")
    ws = await connect(server, subprotocols=[PROTOCOL])  # type: ignore[list-item]
    try:
        await ws.send(json.dumps({"type": "connection_init",
                                  "payload": {"Authorization": f"Bearer {await access_token(t, HANDLER)}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": {"query": "{ me { email } }"}}))
        got = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert got == {"id": "q", "type": "error", "payload": [{"message": "queries are not allowed"}]}
    finally:
        await ws.close()


async def test_the_feed_is_not_served_over_http(gql: GraphQLClient) -> None:
    response = await gql.post(FEED, tenant=await tenant_of("retail", "live"), user=HANDLER,
                              headers={"accept": "application/graphql-response+json"})
    body = response.json()
    assert response.status_code == 400 and "data" not in body, body
    assert "subscription" in body["errors"][0]["message"].lower()
