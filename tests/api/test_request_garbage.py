"""A request leaves no reference cycles: everything it built is freed by reference counting when it ends.

What a request leaves in cycles waits for the garbage collector, and a collection stops the whole process: with
~200 such objects a request (a page's views and their sealed batch; graphql-core's execution context, whose
helpers are its own bound methods, holding the results, the context and the session), the collector ran every
~50 requests for ~4 ms at a time, most of a quiet tenant's p99 while another tenant was flooded
(bench/README.md, noisy tenant, 2026-12-07). The requests here are the ones a process serves most: lists with and
without sealed fields (resolver path), the console's registered Inbox (compiled path), a complaint, a refusal at
the edge, a request error, a mutation with a user error.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from api.test_trusted_documents import persisted, registered
from conftest import DEFAULT_USER, TENANT_A, GraphQLClient, access_token
from lifecycle import record, step

# The objects of ours and of the libraries a request runs through; a cycle of anything else (the test client's own
# objects, asyncio's) is not the server's.
OURS = ("services.", "strawberry", "graphql", "sqlalchemy", "starlette", "asyncpg", "cross_web")
# a statement's own elements (not tables, their columns, sessions, connections: those count)
EXPRESSIONS = ("sqlalchemy.sql.elements.", "sqlalchemy.sql.selectable.", "sqlalchemy.sql.type_api.",
               "sqlalchemy.sql.sqltypes.", "sqlalchemy.util._collections.")
REPEATS = 5

SEALED_LIST = """query { complaints(first: 20) { edges { node { id number title description
  owner { displayName } complainant { name phone } } } } }"""
PLAIN_LIST = "query { complaints(first: 20) { edges { node { id number status title owner { displayName } } } } }"
DETAIL = "query ($id: ID!) { complaint(id: $id) { id number status description complainant { name } } }"


def _ours(garbage: list[Any]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for thing in garbage:
        kind = type(thing)
        if kind.__name__ == "frame":
            if "/services/" in thing.f_code.co_filename:
                kinds[f"frame {thing.f_code.co_name}"] += 1
        elif kind.__module__.startswith(OURS):
            kinds[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return kinds


@pytest.fixture
def cycles() -> Iterator[Callable[[], Counter[str]]]:
    """``cycles()``: the objects of ours left in reference cycles since the last call (the collector is off
    meanwhile: only what ``cycles()`` collects counts), which are then freed."""
    enabled, flags = gc.isenabled(), gc.get_debug()
    gc.disable()

    def collect() -> Counter[str]:
        gc.set_debug(gc.DEBUG_SAVEALL)  # what is unreachable goes to gc.garbage instead of being freed
        gc.collect()
        ours = _ours(gc.garbage)
        gc.garbage.clear()
        gc.set_debug(flags)
        gc.collect()  # now freed for good (in gc.garbage they were only kept)
        return ours

    try:
        yield collect
    finally:
        gc.set_debug(flags)
        if enabled:
            gc.enable()


async def test_the_requests_a_process_serves_most_leave_no_reference_cycles(
        gql: GraphQLClient, client: httpx.AsyncClient, cycles: Callable[[], Counter[str]]) -> None:
    complaint = await record(gql, TENANT_A)
    token = await access_token(TENANT_A, DEFAULT_USER)
    inbox_hash, _ = registered("Inbox")

    async def inbox() -> None:
        answer = await client.post("/graphql", headers={"authorization": f"Bearer {token}"},
                                   json={"variables": {"first": 20}, "extensions": persisted(inbox_hash)})
        assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        assert answer.json()["data"]["complaints"]["edges"], answer.text

    async def sealed() -> None:
        edges = (await gql(SEALED_LIST))["complaints"]["edges"]
        assert edges and all(e["node"]["complainant"]["name"] for e in edges), edges

    async def plain() -> None:
        assert (await gql(PLAIN_LIST))["complaints"]["edges"]

    async def detail() -> None:
        found = (await gql(DETAIL, {"id": complaint["id"]}))["complaint"]
        assert found["number"] == complaint["number"] and found["complainant"]["name"], found

    async def refused() -> None:  # a forged token, refused at the edge
        answer = await client.post("/graphql", headers={"authorization": "Bearer not.a.token"},
                                   json={"query": PLAIN_LIST})
        assert answer.status_code == 401 and answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    async def request_error() -> None:  # a document that does not validate
        answer = await gql.post("query { complaints(first: 20) { edges { node { nope } } } }")
        assert "nope" in answer.json()["errors"][0]["message"] and "data" not in answer.json(), answer.text

    async def user_error() -> None:  # a step the complaint's state refuses (an open complaint is not reopened)
        payload = await step(gql, "reopenComplaint", TENANT_A, DEFAULT_USER, complaintId=complaint["id"],
                             reason="again")
        assert payload["userErrors"], payload

    async def recorded() -> None:
        await record(gql, TENANT_A)

    kinds: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("sealed list", sealed), ("plain list", plain), ("registered Inbox", inbox), ("complaint", detail),
        ("refusal at the edge", refused), ("request error", request_error), ("user error", user_error),
        ("record", recorded)]
    for _, send in kinds:  # first requests fill the process's caches (plans, documents, keys): not garbage
        await send()
        await send()
    cycles()
    left: dict[str, Counter[str]] = {}
    expressions: Counter[str] = Counter()
    for name, send in kinds:
        for _ in range(REPEATS):
            await send()
        found = cycles()
        expressions[name] = sum(n for kind, n in found.items() if kind.startswith(EXPRESSIONS))
        if ours := Counter({kind: n for kind, n in found.items() if not kind.startswith(EXPRESSIONS)}):
            # what an earlier test left (an app whose server task ended meanwhile: its middleware in a cycle) turns
            # up once; what these requests leave turns up again with the next ones: only that counts
            for _ in range(REPEATS):
                await send()
            again = cycles()
            if ours := Counter({kind: n for kind, n in ours.items() if again.get(kind)}):
                left[name] = ours
    assert left == {}, left
    # SQLAlchemy's expression objects of statements built per request (a bound parameter's clone set, a memoized
    # comparator, which refer back to their element): a library's design, a few a request, bounded here
    per_request = {name: round(n / REPEATS, 1) for name, n in expressions.items()}
    assert all(n <= 30 for n in per_request.values()), per_request
