"""Numbering: YYMM + serial restarting each month per tenant, unique and gap-free under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from conftest import GraphQLClient, new_tenant
from helpers import scalar
from lifecycle import RECORD, complaint_input

from services.core.clock import FixedClock
from services.core.complaints.service import next_number
from services.core.tenancy import resolve_tenant, tenant_session
from tenants.provision import create_tenant


async def test_fifty_concurrent_recordings_get_fifty_consecutive_numbers(gql: GraphQLClient, clock: FixedClock
                                                                         ) -> None:
    clock.at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 1 December in Shanghai
    slug = (await new_tenant("numbering")).slug

    async def one(i: int) -> str:
        data = await gql(RECORD, {"input": complaint_input(title=f"concurrent {i}")}, tenant=slug)
        assert data["recordComplaint"]["userErrors"] == []
        number: str = data["recordComplaint"]["complaint"]["number"]
        return number

    numbers = await asyncio.gather(*(one(i) for i in range(50)))
    assert len(set(numbers)) == 50
    assert {n[:4] for n in numbers} == {"2612"}
    assert sorted(int(n[4:]) for n in numbers) == list(range(1, 51))

    # and another tenant counts on its own: its next serial of the month, whatever this one took
    taken = await scalar("SELECT count(*) FROM tenant_beta.complaints WHERE number LIKE '2612%'")
    other = await gql(RECORD, {"input": complaint_input()}, tenant="beta")
    assert other["recordComplaint"]["complaint"]["number"] == f"2612{taken + 1:06d}"


async def test_serials_restart_each_month_in_the_tenant_time_zone_and_rollbacks_give_them_back(
    own_slug: Callable[[str], str]
) -> None:
    slug = own_slug("months")
    await create_tenant(slug, template="bank")
    tenant = await resolve_tenant(slug)
    # 16:30 UTC on 30 November is already 1 December in Shanghai
    december = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    november = datetime(2026, 11, 30, 15, 59, tzinfo=UTC)
    async with tenant_session(tenant) as session:
        async with session.begin():
            assert await next_number(session, november) == "2611000001"
        async with session.begin():
            assert await next_number(session, december) == "2612000001"
            assert await next_number(session, december) == "2612000002"
        transaction = await session.begin()
        assert await next_number(session, december) == "2612000003"
        await transaction.rollback()  # a recording that failed: its serial is given back
        async with session.begin():
            assert await next_number(session, december) == "2612000003"
            assert await next_number(session, november) == "2611000002"
