"""The connection slots shared between tenants (services.core.db.FairSlots): first come first served within a
tenant, and a tenant that holds its share does not take the last slots from another tenant, nor a returned slot
from a tenant that holds fewer."""

from __future__ import annotations

import asyncio

from services.core.db import FairSlots


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_tenant_alone_gets_all_but_the_reserve_and_another_tenant_finds_one() -> None:
    slots = FairSlots(capacity=6, share=3, reserve=2)
    for _ in range(4):  # 3 within its share, a 4th while more than 2 stay free
        await asyncio.wait_for(slots.acquire("noisy"), 1)
    fifth = asyncio.create_task(slots.acquire("noisy"))
    await settle()
    assert not fifth.done() and slots.free == 2  # the last two are kept for other tenants
    await asyncio.wait_for(slots.acquire("quiet"), 1)
    await asyncio.wait_for(slots.acquire("quiet"), 1)
    assert slots.free == 0 and slots.held == {"noisy": 4, "quiet": 2}
    fifth.cancel()


async def test_a_returned_slot_goes_to_the_tenant_holding_fewest_then_in_order() -> None:
    slots = FairSlots(capacity=4, share=2, reserve=0)
    for _ in range(4):
        await slots.acquire("noisy")
    order: list[str] = []

    async def want(tenant: str) -> None:
        await slots.acquire(tenant)
        order.append(tenant)

    waiting = [asyncio.create_task(want(t)) for t in ("noisy", "noisy", "quiet", "other", "quiet")]
    await settle()
    assert order == []
    for _ in range(5):  # noisy's requests end one by one
        slots.release("noisy")
        await settle()
    # quiet and other held none: they come first, in the order they asked (noisy still held 3 and 2); then, all
    # holding one, whoever asked first: noisy's two (asked before quiet's second), then quiet's second
    assert order == ["quiet", "other", "noisy", "noisy", "quiet"]
    assert slots.held == {"quiet": 2, "other": 1, "noisy": 1} and slots.free == 0
    for task in waiting:
        task.cancel()


async def test_a_waiter_cancelled_before_or_after_its_grant_loses_no_slot() -> None:
    slots = FairSlots(capacity=1, share=1, reserve=0)
    await slots.acquire("a")
    queued = asyncio.create_task(slots.acquire("b"))
    await settle()
    queued.cancel()
    await settle()
    slots.release("a")
    assert slots.free == 1 and slots.held == {}
    await slots.acquire("a")
    granted = asyncio.create_task(slots.acquire("b"))
    await settle()
    slots.release("a")  # granted to b ...
    granted.cancel()  # ... which is cancelled before it runs: the slot is handed on, not lost
    await settle()
    assert slots.free == 1 and slots.held == {}
