"""services.api.deference: a deferential coroutine is the same coroutine (its result, its exceptions, its
cancellation, its context), resumed only while nobody else is in flight or after STEP_WAIT_S."""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest

from services.api.deference import STEP_WAIT_S, Gate, checkpoint, deferential

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
