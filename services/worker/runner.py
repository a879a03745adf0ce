"""Run a Dramatiq worker in this process until told to stop."""

from __future__ import annotations

import logging
import threading

from dramatiq import Worker

from services.worker.broker import close_broker, get_broker

logger = logging.getLogger("complaintdesk.worker")


class WorkerProcess:
    def __init__(self, *, threads: int = 4, queues: set[str] | None = None) -> None:
        broker = get_broker()
        import services.worker.actors  # noqa: F401  (declares the actors on the broker)

        self.worker = Worker(broker, worker_threads=threads, queues=queues, worker_timeout=500)

    def start(self) -> None:
        self.worker.start()
        logger.info("worker started")

    def stop(self, timeout_ms: int = 10_000) -> None:
        self.worker.stop(timeout=timeout_ms)
        logger.info("worker stopped")


def run_until(stop: threading.Event, *, threads: int = 4) -> None:
    process = WorkerProcess(threads=threads)
    process.start()
    try:
        stop.wait()
    finally:
        process.stop()
        close_broker()
