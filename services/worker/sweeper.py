"""The sweeper loop in the worker process: Dramatiq has no scheduler, so a thread runs one sweep every
``interval`` seconds straight against PostgreSQL (no message in Redis to lose)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from services.core.clock import system_clock
from services.core.db import dispose_engine
from services.core.outbox.sweeper import sweep_all
from services.core.reporting.service import sweep_all_jobs

JOBS_EVERY_S = 15.0  # how often a worker looks for stranded reports and transfers (lost message, dead worker)
SCHEDULE_EVERY_S = 600.0  # how often it checks every tenant's report schedule (the schedule is by day)
SCHEDULE_FIRST_AFTER_S = 60.0  # the first check a minute after start (a worker restarting in a loop schedules nothing)

logger = logging.getLogger("complaintdesk.worker.sweeper")


class SweeperThread(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="complaintdesk-sweeper", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from services.worker.actors.reports import dispatch

        jobs_at = -JOBS_EVERY_S
        scheduled_at = time.monotonic() - SCHEDULE_EVERY_S + SCHEDULE_FIRST_AFTER_S
        try:
            while not self._stop_event.is_set():
                if time.monotonic() - jobs_at >= JOBS_EVERY_S:
                    jobs_at = time.monotonic()
                    schedule = jobs_at - scheduled_at >= SCHEDULE_EVERY_S
                    scheduled_at = jobs_at if schedule else scheduled_at
                    try:
                        await sweep_all_jobs(now=system_clock.now, dispatch=dispatch, schedule=schedule)
                    except Exception:
                        logger.exception("report jobs sweep failed")
                try:
                    result = await sweep_all()
                    if result.tenants or result.errors or result.erased:
                        logger.info("sweep: %d tenant(s) with work due: %d reminded, %d breached, %d customer "
                                    "notice task(s), %d escalated; outbox %d sent, %d retried later, %d failed, "
                                    "%d skipped; %d erased by retention; %d tenant error(s)",
                                    result.tenants, result.reminded, result.breached, result.notices,
                                    result.escalated, result.sent, result.retried, result.failed, result.skipped,
                                    result.erased, result.errors)
                except Exception:
                    logger.exception("sweep failed; next try in %.1f s", self.interval)
                await asyncio.to_thread(self._stop_event.wait, self.interval)
        finally:
            await dispose_engine()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_event.set()
        self.join(timeout)
