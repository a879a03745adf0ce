"""Request budgets at the edge: a tenant over its budget is answered 429 RATE_LIMITED (with Retry-After) before any
GraphQL work, while another tenant is served as before; the budget is an operator's setting
(`complaintdesk tenant budget`); requests without a staff token are budgeted per tenant and client address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from conftest import DEFAULT_USER, GraphQLClient, drop_tenant, new_tenant
from helpers import raw, run_cli, scalar
from lifecycle import RECORD, complaint_input

from services.core.tenancy import forget_tenant

LIST = "query { complaints(first: 5) { totalCount } }"
TRACK = "query ($n: String!, $c: String!) { trackComplaint(number: $n, accessCode: $c) { status } }"


@pytest.fixture
async def pair(tenants: tuple[str, str]) -> AsyncIterator[tuple[Any, Any]]:
    first, second = await new_tenant("budget"), await new_tenant("budget", template="bank")
    yield first, second
    for tenant in (first, second):
        await drop_tenant(tenant)


@pytest.fixture
def fresh_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An app of this test's own (its budgets start full), made after the test set its environment."""
    made: list[Any] = []

    def make(**env: str) -> Any:
        from services.api.app import create_app

        for key, value in env.items():
            monkeypatch.setenv(key, value)
        made.append(create_app())
        return made[-1]

    yield make


def client_of(app: Any, address: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://testserver")


async def complaints_in(tenant: Any) -> int:
    return int(await scalar(f'SELECT count(*) FROM "{tenant.schema}".complaints'))


async def timed(gql: GraphQLClient, slug: str) -> tuple[int, float, Any]:
    """The list as the tenant's default user: status, seconds to the answer, the response."""
    import time

    started = time.monotonic()
    response = await gql.post(LIST, tenant=slug, user=DEFAULT_USER)
    return response.status_code, time.monotonic() - started, response


def set_budget(slug: str, *args: str) -> str:
    result = run_cli("tenant", "budget", slug, *args)
    assert result.returncode == 0, result.stderr
    forget_tenant(slug)  # the CLI ran in another process: this one would see it within TENANT_CACHE_TTL_S
    return result.stdout


async def flood_beside_quiet(pair: tuple[Any, Any], fresh_app: Any, requests: int) -> list[float]:
    """A budget of one a second, its token back, then ``requests`` of the noisy tenant at once: one is served, the
    rest refused (code, Retry-After checked), and the quiet tenant is served meanwhile, not held behind them. The
    refusals' seconds to their answers, in order."""
    import asyncio
    import time

    from services.api.edge import HOLD_MIN_S

    noisy, quiet = pair
    set_budget(noisy.slug, "1/1")
    app = fresh_app()
    async with app.router.lifespan_context(app), client_of(app) as http:
        gql = GraphQLClient(http)
        assert (await gql.post(LIST, tenant=noisy.slug, user=DEFAULT_USER)).status_code == 200
        await asyncio.sleep(1.1)  # its one token back

        flood = asyncio.gather(*(timed(gql, noisy.slug) for _ in range(requests)))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        assert (await gql(LIST, tenant=quiet.slug, user=DEFAULT_USER))["complaints"]["totalCount"] == 0
        assert time.monotonic() - started < HOLD_MIN_S  # not held behind the flood
        answers = await flood
    assert sorted(status for status, _, _ in answers) == [200] + [429] * (requests - 1)
    for status, _, response in answers:
        if status == 429:
            assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert int(response.headers["retry-after"]) >= 0
    return sorted(elapsed for status, elapsed, _ in answers if status == 429)


async def test_a_tenant_over_its_budget_is_refused_at_the_edge_and_the_other_is_not(
        pair: tuple[Any, Any], fresh_app: Any) -> None:
    noisy, quiet = pair
    # one request every ten seconds, two at once: the third within the test is over budget, whatever its speed
    assert f"tenant {noisy.slug}: request budget 0.1/2 " in set_budget(noisy.slug, "0.1/2")
    app = fresh_app()
    async with app.router.lifespan_context(app), client_of(app) as http:
        gql = GraphQLClient(http)
        statuses = []
        for _ in range(2):
            response = await gql.post(LIST, tenant=noisy.slug, user=DEFAULT_USER)
            statuses.append(response.status_code)
            assert "errors" not in response.json()
        assert statuses == [200, 200]
        before = await complaints_in(noisy)
        refused = await gql.post(RECORD, {"input": complaint_input()}, tenant=noisy.slug, user=DEFAULT_USER)
        assert refused.status_code == 429
        body = refused.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
        assert "data" not in body
        # the bucket refills in 10 s; the refusal waited at most a second of it: the rest is Retry-After
        assert 8 <= int(refused.headers["retry-after"]) <= 10
        assert await complaints_in(noisy) == before  # nothing was executed

        # the other tenant, same client, same moment: served in full
        for _ in range(5):
            assert (await gql(LIST, tenant=quiet.slug, user=DEFAULT_USER))["complaints"]["totalCount"] == 0
        recorded = await gql(RECORD, {"input": complaint_input()}, tenant=quiet.slug, user=DEFAULT_USER)
        assert recorded["recordComplaint"]["userErrors"] == []
        assert await complaints_in(quiet) == 1


async def test_public_requests_are_budgeted_per_client_address(pair: tuple[Any, Any], fresh_app: Any) -> None:
    first, second = pair
    app = fresh_app(COMPLAINTDESK_PUBLIC_BUDGET="0.1/3")
    variables = {"n": "C-0000-000000", "c": "000000"}
    async with app.router.lifespan_context(app), client_of(app, "203.0.113.7") as flooder, \
            client_of(app, "198.51.100.9") as neighbour:
        flood, other = GraphQLClient(flooder), GraphQLClient(neighbour)
        answers = [(await flood.post(TRACK, variables, tenant=first.slug, user=None)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = await flood.post(TRACK, variables, tenant=first.slug, user=None)
        assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        # another address of the same tenant, and the same address at another tenant: their own budgets
        assert (await other.post(TRACK, variables, tenant=first.slug, user=None)).status_code == 200
        assert (await flood.post(TRACK, variables, tenant=second.slug, user=None)).status_code == 200
        # a signed-in member of staff at the same address is budgeted by the tenant, not by the address
        assert (await flood.post(LIST, tenant=first.slug, user=DEFAULT_USER)).status_code == 200


async def test_the_public_requests_of_a_tenant_share_its_budget_whatever_their_addresses(
        pair: tuple[Any, Any], fresh_app: Any) -> None:
    """A flood from many addresses at one tenant's public page is held to that tenant's budget (another tenant's
    public page is not touched); staff of the flooded tenant keep their own budget."""
    target, other = pair
    set_budget(target.slug, "0.1/3")
    app = fresh_app()
    variables = {"n": "C-0000-000000", "c": "000000"}
    async with app.router.lifespan_context(app):
        statuses = []
        for i in range(5):
            async with client_of(app, f"192.0.2.{i + 1}") as http:
                statuses.append((await GraphQLClient(http).post(TRACK, variables, tenant=target.slug,
                                                                user=None)).status_code)
        assert statuses == [200, 200, 200, 429, 429]
        async with client_of(app, "192.0.2.99") as http:
            gql = GraphQLClient(http)
            assert (await gql.post(TRACK, variables, tenant=other.slug, user=None)).status_code == 200
            assert (await gql.post(LIST, tenant=target.slug, user=DEFAULT_USER)).status_code == 200


async def test_the_budget_command_checks_what_it_stores(pair: tuple[Any, Any]) -> None:
    tenant, other = pair
    assert "(the platform's default)" in set_budget(tenant.slug)  # shows it, changes nothing
    for bad in ("fast", "0/10", "-5/10", "10/0", "nan/3", "1e9/3"):
        result = run_cli("tenant", "budget", tenant.slug, "--", bad)
        assert result.returncode != 0 and "[INVALID_BUDGET]" in result.stderr, (bad, result.stderr)
        assert await scalar("SELECT request_budget FROM public.tenants WHERE slug = :s", s=tenant.slug) is None
    assert "request budget 25/50 " in set_budget(tenant.slug, "25/50")
    assert "request budget 3/6 " in set_budget(tenant.slug, "3")
    assert await scalar("SELECT request_budget FROM public.tenants WHERE slug = :s", s=tenant.slug) == "3/6"
    assert await scalar("SELECT request_budget FROM public.tenants WHERE slug = :s", s=other.slug) is None
    listing = run_cli("tenant", "list")
    line = next(row for row in listing.stdout.splitlines() if row.startswith(tenant.slug + " "))
    assert " 3/6 " in line
    assert "(the platform's default)" in set_budget(tenant.slug, "--default")
    assert await scalar("SELECT request_budget FROM public.tenants WHERE slug = :s", s=tenant.slug) is None
    unknown = run_cli("tenant", "budget", "no-such-tenant", "5/10")
    assert unknown.returncode != 0 and "[TENANT_NOT_FOUND]" in unknown.stderr


async def test_a_burst_a_little_over_the_budget_waits_and_a_refusal_is_answered_after_the_hold(
        pair: tuple[Any, Any], fresh_app: Any) -> None:
    """Two a second, two at once: of four requests sent together, two go at once, the third waits half a second for
    its token (within QUEUE_S) and is served, and the fourth (a second away) is refused, after a pause of at least
    HOLD_MIN_S (a flood that retries at once gets about a refusal a second per connection, not hundreds)."""
    import asyncio

    from services.api.edge import HOLD_MIN_S

    noisy, quiet = pair
    set_budget(noisy.slug, "2/2")
    app = fresh_app()
    async with app.router.lifespan_context(app), client_of(app) as http:
        gql = GraphQLClient(http)
        # the tenant and the keys looked up once, so the four below arrive together; then the bucket is full again
        assert (await gql.post(LIST, tenant=noisy.slug, user=DEFAULT_USER)).status_code == 200
        await asyncio.sleep(1.1)

        answers = await asyncio.gather(*(timed(gql, noisy.slug) for _ in range(4)))
        assert sorted(status for status, _, _ in answers) == [200, 200, 200, 429]
        served = sorted(elapsed for status, elapsed, _ in answers if status == 200)
        assert served[2] >= 0.45  # waited for its token
        for status, elapsed, response in answers:
            if status == 429:
                assert elapsed >= HOLD_MIN_S
                assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
                assert response.headers["retry-after"] == "1"
            else:
                assert "errors" not in response.json()
        # the other tenant, at the same moment: served
        assert (await gql(LIST, tenant=quiet.slug, user=DEFAULT_USER))["complaints"]["totalCount"] == 0


async def test_a_flood_is_held_longer_the_more_requests_wait_for_their_refusal(pair: tuple[Any, Any],
                                                                                fresh_app: Any) -> None:
    """A budget of one a second and eleven requests at once: one is served and ten refused. The first refusals come
    after the usual 0.5-1.5 s, but a refusal that finds others of the same budget waiting is held longer (n waiting:
    n / (REFUSALS_PER_TOKEN x rate) times as long), so a flood's connections come back at about twice its budget's
    rate however many they are, and the other tenant is served meanwhile."""
    from services.api.edge import HOLD_MAX_S, HOLD_MIN_S, REFUSALS_PER_TOKEN

    refused = await flood_beside_quiet(pair, fresh_app, 11)
    assert refused[0] >= HOLD_MIN_S
    assert refused[0] <= HOLD_MAX_S + 0.3  # the first refusal found nobody waiting: the usual pause
    # the last of the ten found nine waiting: held at least 9 / (2 x 1) x 0.5 s = 2.25 s (at most 1.5 s before)
    assert refused[-1] >= 9 / (REFUSALS_PER_TOKEN * 1.0) * HOLD_MIN_S


async def test_past_its_share_of_held_requests_a_budgets_refusals_are_answered_at_once(
        pair: tuple[Any, Any], fresh_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most HELD_PER_BUDGET requests of one budget wait for their refusal (here 3): a flood that does not wait
    for its answers would otherwise pile up held connections for as long as the pause stretches. Past that its
    refusals are answered at once (and with Retry-After), the others' requests are served as before."""
    from services.api import edge

    monkeypatch.setattr(edge, "HELD_PER_BUDGET", 3)
    refused = await flood_beside_quiet(pair, fresh_app, 8)
    assert all(elapsed < edge.HOLD_MIN_S for elapsed in refused[:4]), refused  # past the three held: at once
    assert all(elapsed >= edge.HOLD_MIN_S for elapsed in refused[4:]), refused  # the three held: the pause


async def test_a_tenant_being_refused_runs_what_it_is_allowed_in_the_gaps_the_others_leave(
        pair: tuple[Any, Any], fresh_app: Any) -> None:
    """While a tenant's budget refuses requests, the requests it still admits defer to the other tenants': one is
    resumed after each of its awaits only while no other tenant's request is in flight, or after STEP_WAIT_S at the
    longest (never starved). Here the quiet tenant's list is held in PostgreSQL behind a table lock, so it stays in
    flight: the noisy tenant's admitted request is answered, correctly, but only after waiting out a step at several
    of its awaits; once the quiet one is through, the noisy one is answered without waiting."""
    import asyncio
    import time

    from sqlalchemy import text

    from services.api.deference import STEP_WAIT_S

    noisy, quiet = pair
    set_budget(noisy.slug, "1/1")
    app = fresh_app()
    async with app.router.lifespan_context(app), client_of(app) as http:
        gql = GraphQLClient(http)
        assert (await gql.post(LIST, tenant=quiet.slug, user=DEFAULT_USER)).status_code == 200
        # the noisy tenant floods: one served, two refused (its budget is now refusing)
        statuses = [r.status_code for r in await asyncio.gather(
            *(gql.post(LIST, tenant=noisy.slug, user=DEFAULT_USER) for _ in range(3)))]
        assert sorted(statuses) == [200, 429, 429]
        await asyncio.sleep(1.1)  # a token again

        async with raw() as lock:
            await lock.execute(text(f'LOCK TABLE "{quiet.schema}".complaints IN ACCESS EXCLUSIVE MODE'))
            held = asyncio.create_task(gql.post(LIST, tenant=quiet.slug, user=DEFAULT_USER))
            await asyncio.sleep(0.3)
            assert not held.done()  # in flight, waiting for the lock
            started = time.monotonic()
            answer = await gql.post(LIST, tenant=noisy.slug, user=DEFAULT_USER)
            deferred = time.monotonic() - started
            assert answer.status_code == 200 and answer.json()["data"]["complaints"]["totalCount"] == 0
            assert not held.done()  # answered although the other tenant's request never left
            await lock.rollback()
        answer = await held
        assert answer.status_code == 200 and answer.json()["data"]["complaints"]["totalCount"] == 0
        assert deferred >= 3 * STEP_WAIT_S  # it waited out a step at three of its awaits at least
