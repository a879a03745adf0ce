"""The core queue port: the API's way to the workers (services.core.queue), registered by a composition root."""

from __future__ import annotations

from typing import Any

import pytest

from services.core import queue
from services.core.queue import Job, NoQueue


def test_a_process_without_a_registered_queue_refuses_to_send_and_a_registered_one_sends() -> None:
    saved = queue._sender
    sent: list[tuple[Job, tuple[str, ...]]] = []
    try:
        queue._sender = None
        with pytest.raises(NoQueue):
            queue.send(Job.REPORT, "r1")
        queue.register(lambda job, args: sent.append((job, args)))
        queue.send(Job.REPORT, "r1")
        queue.send(Job.OUTBOX)
    finally:
        queue._sender = saved
    assert sent == [(Job.REPORT, ("r1",)), (Job.OUTBOX, ())]


def test_the_api_server_registers_the_workers_queue(app: Any) -> None:
    """``app`` is built as ``complaintdesk serve`` builds it (services.cli.app)."""
    from services.worker import queue as worker_queue

    assert queue._sender is worker_queue.send
