"""The worker's side of the core queue port (``services.core.queue``): each job is sent to its Dramatiq actor.
A composition root calls ``install()`` once (the API server, ``complaintdesk up``, the tests)."""

from __future__ import annotations

from typing import Any

from services.core import queue
from services.core.queue import Job


def send(job: Job, args: tuple[str, ...]) -> None:
    from services.worker.actors import diagnostics, keys, outbox, reports

    actor: Any = {
        Job.REPORT: reports.generate_report,
        Job.DATA_TRANSFER: reports.run_data_transfer,
        Job.WORKER_CHECK: diagnostics.run_worker_check,
        Job.DATA_KEY_ROTATION: keys.rotate_data_key,
        Job.OUTBOX: outbox.dispatch_outbox,
    }[job]
    actor.send(*args)  # the broker's middleware stamps the tenant bound in this context


def install() -> None:
    """Register the Dramatiq sender as this process's queue."""
    queue.register(send)
