"""The sweeper loop in the worker process: Dramatiq has no scheduler, so a thread runs one sweep every
``interval`` seconds straight against PostgreSQL (no message in Redis to lose)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from services.core import metrics
from services.core.clock import system_clock
from services.core.db import dispose_engine
from services.core.outbox.sweeper import SweepResult, breach_due, sweep_all, warm_breach_lanes
from services.core.reporting.service import sweep_all_jobs
from services.worker.health import heartbeat

JOBS_EVERY_S = 15.0  # how often a worker looks for stranded reports and transfers (lost message, dead worker)
# and checks the report schedule of the next slice of tenants (round robin: each tenant once per
# reporting.service.SCHEDULE_EVERY_S, as the sweep's retention and digests)
SCHEDULE_FIRST_AFTER_S = 60.0  # the first check a minute after start (a worker restarting in a loop schedules nothing)

logger = logging.getLogger("complaintdesk.worker.sweeper")

FIGURES_EVERY_S = 10.0  # the database figures of /metrics (outbox depth, connection slots), refreshed this often
BREACHES_EVERY_S = 1.0  # the breaches' stage alone (``breach_due``) runs this often (at most: ``interval``) beside
# the passes, so a long pass (many tenants' notifications, the housekeeping) delays no breach
WARM_PER_ROUND = 100  # tenants whose breach statements a round with nothing due prepares (``warm_breach_lanes``)


def record(result: SweepResult, seconds: float) -> None:
    """A pass's figures into the metrics."""
    metrics.SWEEP_DURATION.observe(seconds)
    metrics.SWEEP_PASSES.labels(result="ok").inc()
    metrics.SWEEP_LAST_SUCCESS.set_to_current_time()
    metrics.SWEEP_TENANTS.inc(result.tenants)
    for event, count in (("reminded", result.reminded), ("breached", result.breached),
                         ("escalated", result.escalated), ("customer_notice", result.notices)):
        if count:
            metrics.DEADLINE_EVENTS.labels(event=event).inc(count)
    for outcome, count in (("sent", result.sent), ("retried", result.retried), ("failed", result.failed),
                           ("skipped", result.skipped)):
        if count:
            metrics.DELIVERIES.labels(result=outcome).inc(count)


class SweeperThread(threading.Thread):
    def __init__(self, interval: float) -> None:
        super().__init__(name="complaintdesk-sweeper", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _breaches(self) -> None:
        """Beside the passes, in the same event loop (a thread of its own was tried: with a pass busy in Python, the
        GIL handed back and forth made a burst's breaches 2x slower than here, bench/README.md): every
        ``BREACHES_EVERY_S``, the due breaches of every tenant recorded (``breach_due``; their effects come with the
        next pass), and while nothing is due the process's breach lanes prepared for the tenants they have not met
        yet (``warm_breach_lanes``, ``WARM_PER_ROUND`` at a time), so that a burst of tenants falling due together
        meets every tenant's function and statements already planned."""
        every = min(self.interval, BREACHES_EVERY_S)
        while not self._stop_event.is_set():
            started = time.monotonic()
            try:
                breached = await breach_due()
                if breached:
                    metrics.DEADLINE_EVENTS.labels(event="breached").inc(breached)
                else:
                    await warm_breach_lanes(at_most=WARM_PER_ROUND)
            except Exception:
                logger.exception("recording the due breaches failed; next try in %.1f s", every)
            await asyncio.to_thread(self._stop_event.wait, max(0.0, every - (time.monotonic() - started)))

    async def _main(self) -> None:
        breaches = asyncio.create_task(self._breaches())
        try:
            await self._passes()
        finally:
            self._stop_event.set()
            await breaches
            await dispose_engine()

    async def _passes(self) -> None:
        from services.worker.actors.reports import dispatch

        jobs_at = -JOBS_EVERY_S
        schedule_from = time.monotonic() + SCHEDULE_FIRST_AFTER_S
        figures_at = 0.0
        while not self._stop_event.is_set():
            if time.monotonic() - jobs_at >= JOBS_EVERY_S:
                jobs_at = time.monotonic()
                schedule = None if jobs_at >= schedule_from else False  # None: the next slice of tenants
                try:
                    await sweep_all_jobs(now=system_clock.now, dispatch=dispatch, schedule=schedule)
                except Exception:
                    logger.exception("report jobs sweep failed")
            try:
                lag = await metrics.oldest_due_wakeup_age()
                if lag is not None:
                    metrics.SWEEP_LAG.observe(lag)
                started = time.perf_counter()
                result = await sweep_all()
                record(result, time.perf_counter() - started)
                if result.tenants or result.errors or result.erased:
                    logger.info("sweep: %d tenant(s) with work due: %d reminded, %d breached, %d customer "
                                "notice task(s), %d escalated; outbox %d sent, %d retried later, %d failed, "
                                "%d skipped; %d erased by retention; %d tenant error(s)",
                                result.tenants, result.reminded, result.breached, result.notices,
                                result.escalated, result.sent, result.retried, result.failed, result.skipped,
                                result.erased, result.errors)
            except Exception:
                metrics.SWEEP_PASSES.labels(result="failed").inc()
                logger.exception("sweep failed; next try in %.1f s", self.interval)
            heartbeat.beat()  # the loop is alive, whether or not the pass succeeded (readiness says why)
            if time.monotonic() - figures_at >= FIGURES_EVERY_S:
                figures_at = time.monotonic()
                await metrics.refresh_database_figures()
            await asyncio.to_thread(self._stop_event.wait, self.interval)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_event.set()
        self.join(timeout)
