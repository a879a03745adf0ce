"""The port through which the API asks for background work, without knowing the queue.

The row is the job (a report, a transfer, a worker check, a key rotation, an outbox item); a message only says
which row to carry on now, and a lost one is picked up by the sweeper. The API calls ``enqueue`` after its
transaction commits; the process's composition root (``complaintdesk serve``, ``complaintdesk up``, the tests)
registers the sender: the worker's Dramatiq adapter (``services.worker.queue.install``). Core and API never
import the worker; a Dramatiq broker could be replaced by another without touching either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum


class Job(StrEnum):
    """What a message asks a worker to do (its arguments: the row's id, or none)."""

    REPORT = "report"  # generate a report (its id), in the bound tenant
    DATA_TRANSFER = "transfer"  # run an export or import (its id), in the bound tenant
    WORKER_CHECK = "worker_check"  # answer a worker check (its id), in the bound tenant
    DATA_KEY_ROTATION = "data_key_rotation"  # re-encrypt a tenant's rows (the rotation's id); no tenant bound
    OUTBOX = "outbox"  # deliver the bound tenant's due outbox items now (the fast path; no arguments)


Sender = Callable[[Job, tuple[str, ...]], None]
"""Sends one message (blocking); the tenant bound in the calling context goes with it."""

_sender: Sender | None = None


class NoQueue(RuntimeError):
    """No sender registered in this process: a composition root forgot ``services.worker.queue.install``."""


def register(sender: Sender) -> None:
    global _sender
    _sender = sender


def registered() -> bool:
    return _sender is not None


def send(job: Job, *args: str) -> None:
    """Send now (blocking: the Redis client blocks)."""
    if _sender is None:
        raise NoQueue(f"no queue registered in this process to send {job.value}")
    _sender(job, args)


async def enqueue(job: Job, *args: str) -> None:
    """Send off the event loop (``to_thread`` copies the context, the bound tenant included). Call it after the
    commit, so that the worker always finds the row."""
    await asyncio.to_thread(send, job, *args)
