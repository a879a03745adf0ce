"""Idempotency-Key on mutations: a retry returns the first outcome and never records a second complaint."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from conftest import DEFAULT_USER, TENANT_A, TENANT_B, GraphQLClient
from helpers import execute, raw, rows, scalar
from lifecycle import RECORD, complaint_input
from sqlalchemy import text

COUNT = "{ complaints(first: 1) { totalCount } }"


async def _record(gql: GraphQLClient, key: str | None, *, tenant: str = TENANT_A, user: str = DEFAULT_USER,
                  **overrides: Any) -> httpx.Response:
    headers = {"idempotency-key": key} if key is not None else {}
    return await gql.post(RECORD, {"input": complaint_input(**overrides)}, tenant=tenant, user=user, headers=headers)


async def _counts(gql: GraphQLClient, tenant: str = TENANT_A) -> tuple[int, int]:
    """Complaints as GraphQL counts them and as the database holds them."""
    listed = (await gql(COUNT, tenant=tenant))["complaints"]["totalCount"]
    stored = await scalar(f"SELECT count(*) FROM tenant_{tenant}.complaints")
    return listed, stored


async def test_a_retry_returns_the_first_outcome_and_records_one_complaint(gql: GraphQLClient) -> None:
    key = str(uuid.uuid4())
    before = await _counts(gql)
    first = await _record(gql, key, title="Kettle leaks (idempotent)")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert first.json()["data"]["recordComplaint"]["userErrors"] == []
    again = await _record(gql, key, title="Kettle leaks (idempotent)")
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content  # the same number, access code and all
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await _counts(gql) == (before[0] + 1, before[1] + 1)
    # the stored answer is sealed (it names the complainant), and who sent it is a digest
    stored = await rows("SELECT principal, state, response FROM tenant_alpha.idempotency_keys WHERE key = :k", k=key)
    assert len(stored) == 1 and stored[0].state == "done"
    assert b"Kettle leaks" not in stored[0].response and len(stored[0].principal) == 64
    # without a key, the same request is a second complaint
    assert (await _record(gql, None, title="Kettle leaks (idempotent)")).status_code == 200
    assert await _counts(gql) == (before[0] + 2, before[1] + 2)


async def test_the_same_key_for_another_request_is_422_and_changes_nothing(gql: GraphQLClient) -> None:
    key = str(uuid.uuid4())
    await _record(gql, key, title="First use")
    before = await _counts(gql)
    audit = await scalar("SELECT count(*) FROM tenant_alpha.audit_events")
    other = await _record(gql, key, title="Another complaint")
    assert other.status_code == 422
    assert other.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _counts(gql) == before
    assert await scalar("SELECT count(*) FROM tenant_alpha.audit_events") == audit


async def test_keys_are_per_tenant_and_per_user(gql: GraphQLClient) -> None:
    key = str(uuid.uuid4())
    alpha, beta = await _counts(gql), await _counts(gql, TENANT_B)
    first = await _record(gql, key)
    other_user = await _record(gql, key, user="receiver@test.example")
    other_tenant = await _record(gql, key, tenant=TENANT_B)
    for response in (other_user, other_tenant):
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
        assert response.json()["data"]["recordComplaint"]["userErrors"] == []
    numbers = {r.json()["data"]["recordComplaint"]["complaint"]["id"] for r in (first, other_user, other_tenant)}
    assert len(numbers) == 3
    assert await _counts(gql) == (alpha[0] + 2, alpha[1] + 2)
    assert await _counts(gql, TENANT_B) == (beta[0] + 1, beta[1] + 1)


async def test_a_retry_while_the_first_runs_is_409(gql: GraphQLClient) -> None:
    key = str(uuid.uuid4())
    before = await _counts(gql)
    async with raw() as lock:  # hold the complaint-number counter: the first request waits inside its transaction
        await lock.execute(text("LOCK TABLE tenant_alpha.complaint_counters IN EXCLUSIVE MODE"))
        first = asyncio.create_task(_record(gql, key))
        for _ in range(200):
            if await scalar("SELECT count(*) FROM tenant_alpha.idempotency_keys WHERE key = :k", k=key):
                break
            await asyncio.sleep(0.02)
        busy = await _record(gql, key)
        assert busy.status_code == 409
        assert busy.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
        assert not first.done()
        await lock.rollback()
    done = await first
    assert done.status_code == 200 and done.json()["data"]["recordComplaint"]["userErrors"] == []
    replay = await _record(gql, key)
    assert replay.headers["idempotent-replayed"] == "true" and replay.content == done.content
    assert await _counts(gql) == (before[0] + 1, before[1] + 1)


async def test_a_key_expires_after_a_day_and_bad_keys_are_refused(gql: GraphQLClient) -> None:
    key = str(uuid.uuid4())
    await _record(gql, key, title="Yesterday")
    await execute("UPDATE tenant_alpha.idempotency_keys SET created_at = created_at - interval '25 hours' "
                  "WHERE key = :k", k=key)
    before = await _counts(gql)
    fresh = await _record(gql, key, title="Today")  # another request, the old key long gone: it runs
    assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers
    assert await _counts(gql) == (before[0] + 1, before[1] + 1)
    for bad in ("", "x" * 256, "tab\there"):
        refused = await _record(gql, bad)
        assert refused.status_code == 400, bad
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await _counts(gql) == (before[0] + 1, before[1] + 1)


async def test_a_request_that_died_after_its_write_committed_is_never_run_again(gql: GraphQLClient) -> None:
    key = str(uuid.uuid4())
    await _record(gql, key, title="Saved, answer lost")
    # what a process killed between its commit and the recording of its answer leaves (committed, no answer)
    await execute("UPDATE tenant_alpha.idempotency_keys SET state = 'in_progress', response = NULL, status = NULL, "
                  "created_at = created_at - interval '10 minutes' WHERE key = :k", k=key)
    before = await _counts(gql)
    retry = await _record(gql, key, title="Saved, answer lost")
    assert retry.status_code == 409
    error = retry.json()["errors"][0]
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_USE" and "answer was lost" in error["message"]
    assert await _counts(gql) == before
    # one that died before writing anything (not committed) is taken over once the lease is past: it runs
    await execute("UPDATE tenant_alpha.idempotency_keys SET committed = false WHERE key = :k", k=key)
    taken_over = await _record(gql, key, title="Saved, answer lost")
    assert taken_over.status_code == 200 and "idempotent-replayed" not in taken_over.headers
    assert await _counts(gql) == (before[0] + 1, before[1] + 1)
