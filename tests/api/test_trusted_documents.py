"""Trusted documents: a registered operation sent by its SHA-256 (the persisted-query convention of Apollo's and
graphql-codegen's clients), PersistedQueryNotFound for an unknown hash, and a tenant set to accept registered
documents only (two tenants)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api.notifications.test_subscription import PROTOCOL
from conftest import DEFAULT_USER, access_token, drop_tenant, new_tenant
from helpers import ROOT, run_cli, scalar
from lifecycle import complaint_input
from websockets.asyncio.client import connect

from services.core.tenancy import forget_tenant

MANIFEST = json.loads((ROOT / "frontend-schema" / "persisted-documents.json").read_text(encoding="utf-8"))


def registered(name: str) -> tuple[str, str]:
    """(hash, document) of the registered operation ``name``: found in the manifest by its name, hashed here."""
    [document] = [d for d in MANIFEST.values() if re.search(rf"^(query|mutation|subscription) {name}\b", d, re.M)]
    return hashlib.sha256(document.encode("utf-8")).hexdigest(), document


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


@pytest.fixture
async def pair(tenants: tuple[str, str]) -> AsyncIterator[tuple[Any, Any]]:
    first, second = await new_tenant("docs"), await new_tenant("docs", template="bank")
    yield first, second
    for tenant in (first, second):
        await drop_tenant(tenant)


async def post(client: httpx.AsyncClient, tenant: str, body: dict[str, Any], *, signed_in: bool = True
               ) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signed_in:
        headers["authorization"] = f"Bearer {await access_token(tenant, DEFAULT_USER)}"
    else:
        headers["x-tenant"] = tenant
    return await client.post("/graphql", json=body, headers=headers)


async def complaints_in(tenant: Any) -> int:
    return int(await scalar(f'SELECT count(*) FROM "{tenant.schema}".complaints'))


async def test_a_registered_document_by_its_hash_answers_as_its_text(client: httpx.AsyncClient,
                                                                     pair: tuple[Any, Any]) -> None:
    tenant, _ = pair
    digest, document = registered("Inbox")
    by_text = await post(client, tenant.slug, {"query": document, "variables": {"first": 5}})
    by_hash = await post(client, tenant.slug, {"extensions": persisted(digest), "variables": {"first": 5}})
    assert by_hash.status_code == by_text.status_code == 200
    assert by_hash.json() == by_text.json() and "errors" not in by_hash.json()
    both = await post(client, tenant.slug, {"query": document, "extensions": persisted(digest),
                                            "variables": {"first": 5}})
    assert both.json() == by_text.json()
    # GET, as Apollo's client sends a persisted query
    token = await access_token(tenant.slug, DEFAULT_USER)
    got = await client.get("/graphql", params={"extensions": json.dumps(persisted(digest)),
                                               "variables": json.dumps({"first": 5})},
                           headers={"authorization": f"Bearer {token}", "accept": "application/json"})
    assert got.status_code == 200 and got.json() == by_text.json()


async def test_unknown_hashes_mismatches_and_malformed_extensions(client: httpx.AsyncClient,
                                                                  pair: tuple[Any, Any]) -> None:
    tenant, _ = pair
    unknown = hashlib.sha256(b"query { me { id } }").hexdigest()
    answer = await post(client, tenant.slug, {"extensions": persisted(unknown)})
    assert answer.status_code == 200  # as Apollo Server answers it: the client then sends the text
    [error] = answer.json()["errors"]
    assert error["message"] == "PersistedQueryNotFound" and "data" not in answer.json()
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "no-cache" in answer.headers["cache-control"]
    # Apollo's automatic persisted queries: the text and its hash next; executed (this tenant accepts any)...
    again = await post(client, tenant.slug, {"query": "query { me { email } }",
                                             "extensions": persisted(hashlib.sha256(b"query { me { email } }")
                                                                     .hexdigest())})
    assert again.json() == {"data": {"me": {"email": DEFAULT_USER}}}
    # ... but nothing a client sends is registered: the hash alone is still unknown
    still = await post(client, tenant.slug, {"extensions": persisted(
        hashlib.sha256(b"query { me { email } }").hexdigest())})
    assert still.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    digest, _ = registered("Inbox")
    before = await complaints_in(tenant)
    mismatch = await post(client, tenant.slug, {"query": "mutation ($input: RecordComplaintInput!) { "
                                                         "recordComplaint(input: $input) { accessCode } }",
                                                "variables": {"input": complaint_input()},
                                                "extensions": persisted(digest)})
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["message"] == "provided sha does not match query"
    assert await complaints_in(tenant) == before
    for bad in ({"version": 2, "sha256Hash": digest}, {"version": 1, "sha256Hash": digest.upper()},
                {"version": 1}, "yes", {"version": 1, "sha256Hash": digest[:-1]}):
        refused = await post(client, tenant.slug, {"extensions": {"persistedQuery": bad}})
        assert refused.status_code == 400, bad
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_tenant_of_registered_documents_only(client: httpx.AsyncClient, pair: tuple[Any, Any]) -> None:
    strict, other = pair
    result = run_cli("tenant", "documents", strict.slug, "--registered-only")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tenant {strict.slug} accepts registered documents only"
    forget_tenant(strict.slug)  # the CLI ran in another process: this one would see it within the cache's TTL
    assert run_cli("tenant", "documents", other.slug).stdout.strip() == f"tenant {other.slug} accepts any document"

    record_hash, record_text = registered("RecordComplaint")
    adhoc = "mutation ($input: RecordComplaintInput!) { recordComplaint(input: $input) { accessCode } }"
    refused = await post(client, strict.slug, {"query": adhoc, "variables": {"input": complaint_input()}})
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    public = await post(client, strict.slug, {"query": "query { complaintProcedure { __typename } }"},
                        signed_in=False)
    assert public.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
    assert await complaints_in(strict) == 0

    # a registered document, by hash or as its exact text, goes through
    by_hash = await post(client, strict.slug, {"extensions": persisted(record_hash),
                                               "variables": {"input": complaint_input()}})
    assert by_hash.json()["data"]["recordComplaint"]["userErrors"] == []
    by_text = await post(client, strict.slug, {"query": record_text, "variables": {"input": complaint_input()}})
    assert by_text.json()["data"]["recordComplaint"]["userErrors"] == []
    assert await complaints_in(strict) == 2

    # the other tenant still takes any document
    fine = await post(client, other.slug, {"query": adhoc, "variables": {"input": complaint_input()}})
    assert fine.status_code == 200 and fine.json()["data"]["recordComplaint"]["accessCode"]
    assert await complaints_in(other) == 1

    assert run_cli("tenant", "documents", strict.slug, "--any").returncode == 0
    forget_tenant(strict.slug)
    assert (await post(client, strict.slug, {"query": adhoc, "variables": {"input": complaint_input()}})
            ).json()["data"]["recordComplaint"]["accessCode"]


async def test_a_tenant_of_registered_documents_only_over_websockets_too(server: str, pair: tuple[Any, Any]) -> None:
    """graphql-transport-ws: an ad-hoc subscription of a registered-only tenant ends in an ``error`` message naming
    PERSISTED_QUERY_NOT_IN_LIST; the registered document's exact text is taken; the other tenant takes any."""
    strict, other = pair
    assert run_cli("tenant", "documents", strict.slug, "--registered-only").returncode == 0
    forget_tenant(strict.slug)
    _, feed = registered("NotificationReceived")
    adhoc = "subscription { notificationReceived { kind } }"

    async def first_answer(tenant: str, document: str) -> dict[str, Any] | None:
        ws = await connect(server, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        try:
            token = await access_token(tenant, DEFAULT_USER)
            await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
            try:
                return dict(json.loads(await asyncio.wait_for(ws.recv(), 1.5)))
            except TimeoutError:
                return None  # subscribed: nothing to say until a notification comes
        finally:
            await ws.close()

    refused = await first_answer(strict.slug, adhoc)
    assert refused is not None and refused["type"] == "error" and refused["id"] == "1"
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["PERSISTED_QUERY_NOT_IN_LIST"]
    assert await first_answer(strict.slug, feed) is None
    assert await first_answer(other.slug, adhoc) is None
