"""Run a Dramatiq worker in this process until told to stop."""

from __future__ import annotations

import logging
import threading

from dramatiq import Worker

from services.core import tracing
from services.worker import health
from services.worker.broker import close_broker, get_broker
from services.worker.sweeper import SweeperThread

logger = logging.getLogger("complaintdesk.worker")


class WorkerProcess:
    """A Dramatiq worker, and (``sweep_interval`` seconds > 0) the outbox sweeper loop beside it."""

    def __init__(self, *, threads: int = 4, queues: set[str] | None = None,
                 sweep_interval: float | None = None) -> None:
        broker = get_broker()
        import services.worker.actors  # noqa: F401  (declares the actors on the broker)

        self.worker = Worker(broker, worker_threads=threads, queues=queues, worker_timeout=500)
        self.sweeper = SweeperThread(sweep_interval) if sweep_interval else None
        # /livez, /readyz, /metrics when COMPLAINTDESK_WORKER_HTTP_PORT is set
        self.health = health.from_environment()
        health.heartbeat.worker = self.worker
        health.heartbeat.sweep_interval = sweep_interval or None

    def start(self) -> None:
        self.worker.start()
        if self.sweeper is not None:
            self.sweeper.start()
        if self.health is not None:
            self.health.start()
        logger.info("worker started%s", f" (sweeping every {self.sweeper.interval:g} s)" if self.sweeper else "")

    def stop(self, timeout_ms: int = 10_000) -> None:
        if self.health is not None:
            self.health.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        self.worker.stop(timeout=timeout_ms)
        logger.info("worker stopped")


def run_until(stop: threading.Event, *, threads: int = 4, sweep_interval: float | None = 2.0) -> None:
    process = WorkerProcess(threads=threads, sweep_interval=sweep_interval)
    process.start()
    try:
        stop.wait()
    finally:
        process.stop()
        close_broker()
        tracing.shutdown()  # the spans still buffered
