"""A tenant over its budget runs in the gaps the others leave.

Budgets (``edge.Admission``) bound what a tenant may ask; what it is allowed still costs the process CPU, and in one
event loop a request of one tenant delays another's by the CPU slices the two interleave. While a tenant is being
refused (its budget's refusals are waiting, or one was answered within ``DEFER_FOR_S``), the requests it is still
allowed are *deferential*: the request's coroutine is stepped (resumed after each of its awaits) only while no other
request is in flight in the process, or after ``STEP_WAIT_S`` at the longest (it is never starved: a saturated
process still advances it a slice at a time). Another tenant's request that arrives meanwhile waits at most for the
slice that is running (a fraction of a millisecond), not for the whole of the flooding tenant's request. Nothing is
held back from the flooding tenant that its budget allows; its requests only take longer while others are busy.

Except while another request waits for a connection slot (``db.session_slots``, ``db.statement_slots``): a
deferential request holds its slot for as long as it takes, so deferring it then would make the waiting request
wait on it in turn, a step per ``STEP_WAIT_S`` (priority inversion: on a busy process the flooding tenant's
deferred requests came to hold all but the reserved slots, and the other tenant's requests waited seconds for
them). While any slot is waited for, deferential requests run as the others do, and give their slots back sooner.

This is cooperative scheduling at the granularity asyncio already has (each ``await`` of a coroutine is a point
where it may be resumed later), done by driving the request's coroutine from a wrapper inside the same task, so its
context variables, cancellation and exceptions are the task's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Generator
from contextvars import ContextVar
from typing import Any

from services.core.db import session_slots, statement_slots, watch_slots

STEP_WAIT_S = 0.05
_deferring: ContextVar[bool] = ContextVar("complaintdesk_deferring", default=False)


class Gate:
    """Counts the requests in flight that do not defer, and wakes the deferential ones when there are none (or when
    a request begins to wait for a connection slot)."""

    def __init__(self) -> None:
        self.running = 0
        self._waiters: set[asyncio.Future[None]] = set()
        watch_slots(self)

    def enter(self) -> None:
        self.running += 1

    def leave(self) -> None:
        self.running -= 1
        if self.running == 0:
            self._wake()

    def slot_awaited(self) -> None:
        self._wake()

    def _wake(self) -> None:
        if not self._waiters:
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for waiter in self._waiters:
            if not waiter.done() and waiter.get_loop() is loop:  # a waiter of another loop wakes on its own time
                waiter.set_result(None)
        self._waiters = {w for w in self._waiters if not w.done()}

    def defers(self) -> bool:
        """Whether a deferential step waits now: others are in flight, and nobody waits for a connection slot."""
        return bool(self.running) and not slots_contended()

    async def turn(self) -> None:
        """Until nobody else is in flight, or ``STEP_WAIT_S`` (at once while a connection slot is waited for)."""
        if not self.defers():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STEP_WAIT_S):
                    await waiter
        finally:
            self._waiters.discard(waiter)


class _Deferential:
    def __init__(self, awaitable: Awaitable[Any], gate: Gate) -> None:
        self.awaitable, self.gate = awaitable, gate

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self.awaitable.__await__()  # a coroutine: its own send and throw
        gate = self.gate
        value: Any = None
        error: BaseException | None = None
        while True:
            if error is None and gate.defers():
                try:
                    yield from gate.turn().__await__()
                except BaseException as exc:  # cancelled while waiting for its turn: the request hears it
                    error = exc
            try:
                step = coro.send(value) if error is None else coro.throw(error)
            except StopIteration as done:
                return done.value
            value, error = None, None
            try:
                value = yield step
            except BaseException as exc:  # thrown into the task while the request awaited: the request hears it
                error = exc


async def deferential(coro: Awaitable[Any], gate: Gate) -> Any:
    """Run ``coro`` (in this task) a step at a time, each step only when ``gate`` has nobody else in flight (or
    after ``STEP_WAIT_S``)."""
    token = _deferring.set(True)
    try:
        return await _Deferential(coro, gate)
    finally:
        _deferring.reset(token)


def slots_contended() -> bool:
    """Whether a request waits for a connection slot of this event loop (a session's or a single statement's)."""
    return session_slots().contended or statement_slots().contended


def deferring() -> bool:
    """Whether the code running is a deferential request's."""
    return _deferring.get()


async def checkpoint() -> None:
    """Where a long synchronous stretch of a request has no await of its own (a document parsed and validated, a
    page completed and encoded as JSON: about half a millisecond each), one more step boundary, for a deferential
    request only: another tenant's request that arrived meanwhile goes first. Others pass straight through (and the
    callers that would have to become coroutines for it ask ``deferring`` first)."""
    if deferring():
        await asyncio.sleep(0)
