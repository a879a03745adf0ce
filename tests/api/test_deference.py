"""services.api.deference: a deferential coroutine is the same coroutine (its result, its exceptions, its
cancellation, its context), resumed only while nobody else is in flight or after STEP_WAIT_S."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from services.api import deference
from services.api.deference import STEP_WAIT_S, Gate, checkpoint, deferential
from services.core.db import session_slots

seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def test_result_exceptions_and_context_are_the_coroutines_own() -> None:
    gate = Gate()

    async def works() -> str:
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return seen.get()

    seen.set("task's")
    assert await deferential(works(), gate) == "task's"

    async def fails() -> None:
        await asyncio.sleep(0)
        raise LookupError("inner")

    with pytest.raises(LookupError, match="inner"):
        await deferential(fails(), gate)

    async def catches() -> str:
        try:
            await asyncio.sleep(0)
            raise KeyError("x")
        except KeyError:
            await asyncio.sleep(0)
            return "caught"

    assert await deferential(catches(), gate) == "caught"


async def test_steps_wait_while_another_request_is_in_flight_and_never_longer_than_a_step() -> None:
    gate = Gate()
    steps: list[float] = []

    async def request() -> int:
        for _ in range(4):
            steps.append(time.monotonic())
            await asyncio.sleep(0)
        return len(steps)

    gate.enter()  # another tenant's request in flight throughout
    started = time.monotonic()
    assert await deferential(request(), gate) == 4
    assert time.monotonic() - started >= 4 * STEP_WAIT_S * 0.9  # each of its 4 resumptions waited out a step
    gate.leave()

    steps.clear()
    gate.enter()

    async def other_finishes() -> None:
        await asyncio.sleep(0.01)
        gate.leave()

    finisher = asyncio.create_task(other_finishes())
    started = time.monotonic()
    assert await deferential(request(), gate) == 4
    await finisher
    assert steps[0] - started >= 0.005  # it began only once the other was through
    assert time.monotonic() - started < STEP_WAIT_S + 0.5  # and then went on without waiting


async def test_cancelled_while_waiting_for_its_turn_the_coroutine_hears_it() -> None:
    gate = Gate()
    cleaned: list[str] = []

    async def request() -> None:
        try:
            await asyncio.sleep(0.005)  # over while the other request is in flight: its resumption waits its turn
            await asyncio.sleep(10)
        finally:
            cleaned.append("finally ran")

    task = asyncio.create_task(deferential(request(), gate))
    await asyncio.sleep(0)  # started
    gate.enter()
    await asyncio.sleep(0.02)  # its sleep is over; it waits for its turn (STEP_WAIT_S)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.leave()
    assert cleaned == ["finally ran"]


async def test_a_checkpoint_is_one_more_step_for_a_deferential_request_only() -> None:
    order: list[str] = []

    async def request() -> str:
        order.append("before")
        await checkpoint()
        order.append("after")
        return "done"

    plain = request()  # not deferential: the checkpoint never suspends, the coroutine runs through in one send
    with pytest.raises(StopIteration) as finished:
        plain.send(None)
    assert finished.value.value == "done" and order == ["before", "after"]

    order.clear()
    gate = Gate()
    gate.enter()  # another tenant's request in flight throughout
    started = time.monotonic()
    assert await deferential(request(), gate) == "done"
    # its first step waited its turn, and the step after the checkpoint waited again
    assert time.monotonic() - started >= 2 * STEP_WAIT_S * 0.9
    assert order == ["before", "after"]
    gate.leave()

    async def outside() -> None:  # the deferential request is over: a checkpoint outside it passes straight through
        await checkpoint()

    with pytest.raises(StopIteration):
        outside().send(None)



async def test_while_a_connection_slot_is_waited_for_deferential_requests_are_not_deferred(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Priority inversion: a deferential request holds its connection slot while it waits its turns, so a request
    waiting for a slot would wait on it, a step per STEP_WAIT_S; while a slot is waited for it runs as others do,
    and one parked waiting for its turn is woken when a request begins to wait for a slot."""
    monkeypatch.setattr(deference, "STEP_WAIT_S", 2.0)  # a step that waited its turn is plain to see
    gate = Gate()
    gate.enter()  # another tenant's request in flight throughout
    slots = session_slots()
    holders = [f"tenant{i}" for i in range(slots.free)]
    for tenant in holders:
        await slots.acquire(tenant)
    waiting: list[asyncio.Task[None]] = []

    async def holder(slot: str, parked: asyncio.Event, steps: int = 4) -> str:  # a deferential request with a slot
        parked.set()
        for _ in range(steps):
            await asyncio.sleep(0)
        slots.release(slot)
        return "released"

    try:
        # parked at its first step (nobody waits for a slot yet), then another request begins to wait for one
        parked = asyncio.Event()
        started = time.monotonic()
        first = asyncio.create_task(deferential(holder(holders[0], parked), gate))
        await asyncio.sleep(0.01)
        assert not parked.is_set()  # waiting its turn
        waiting.append(asyncio.create_task(slots.acquire("quiet")))
        assert await asyncio.wait_for(first, 5) == "released"
        assert time.monotonic() - started < 1.0  # woken at once, and none of its steps waited its turn
        await asyncio.wait_for(waiting[0], 1)  # the waiting request has the slot (every slot is held again)

        # a request already waiting for a slot: a deferential request's steps do not wait at all
        waiting.append(asyncio.create_task(slots.acquire("quiet")))
        await asyncio.sleep(0)
        assert slots.contended
        started = time.monotonic()
        assert await deferential(holder(holders[1], asyncio.Event()), gate) == "released"
        assert time.monotonic() - started < 1.0
        await asyncio.wait_for(waiting[1], 1)
        assert not slots.contended

        started = time.monotonic()  # nobody waits for a slot any more: it defers again
        assert await deferential(holder(holders[2], asyncio.Event(), steps=0), gate) == "released"
        assert time.monotonic() - started >= 2.0 * 0.9
    finally:
        gate.leave()
        for task in waiting:
            task.cancel()
        for tenant in [*holders[3:], *("quiet" for task in waiting if task.done() and not task.cancelled())]:
            slots.release(tenant)
    assert slots.free == len(holders)  # as it found them
