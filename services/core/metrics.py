"""Prometheus metrics of the API and the worker (``/metrics`` on each), with prometheus-client.

Labels are bounded: operations by their root field (names the schema defines, nothing a client makes up),
outcomes and states by a fixed set, tenants only for the ``TENANT_LABELS`` tenants with the most pending outbox
items (the rest add up under ``tenant="_other"``).

Several processes (``PROMETHEUS_MULTIPROC_DIR`` set, e.g. uvicorn with several workers behind one port): the
counters and histograms are written to files in that directory and ``render`` adds up every process's
(prometheus-client's multiprocess mode); the database figures are gauges each process refreshes on its scrape,
shown as the most recent value (``multiprocess_mode="mostrecent"``).
"""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import text

from services.core import db

TENANT_LABELS = 10  # tenants named in the per-tenant outbox figures; the others are "_other"
OTHER_TENANT = "_other"
DB_FIGURES_TIMEOUT_S = 2.0

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SWEEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# ---- the API ------------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "complaintdesk_http_requests_total", "HTTP requests by route, method and status class",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "complaintdesk_http_request_duration_seconds", "HTTP request latency by route", ["route"],
    buckets=LATENCY_BUCKETS)
GRAPHQL_OPERATIONS = Counter(
    "complaintdesk_graphql_operations_total",
    "GraphQL operations by type, root field and outcome (ok, user_error, field_error, request_error, "
    "internal_error, unavailable)",
    ["type", "operation", "outcome"])
GRAPHQL_LATENCY = Histogram(
    "complaintdesk_graphql_operation_duration_seconds", "GraphQL operation latency by type and root field",
    ["type", "operation"], buckets=LATENCY_BUCKETS)



def labelled(metric: Counter | Histogram, *values: str) -> Any:
    """``metric.labels(*values)``, kept: prometheus-client checks the values and takes a lock on every ``labels``
    call (the API counts each request and operation this way). The label sets are bounded (see above)."""
    children = _children.get(metric)
    if children is None:
        children = _children[metric] = {}
    child = children.get(values)
    if child is None:
        child = children[values] = metric.labels(*values)
    return child


_children: dict[Counter | Histogram, dict[tuple[str, ...], Any]] = {}

# ---- the worker -----------------------------------------------------------------------------------------------
SWEEP_DURATION = Histogram(
    "complaintdesk_sweep_duration_seconds", "Duration of one sweep pass over the tenants with work due",
    buckets=SWEEP_BUCKETS)
SWEEP_PASSES = Counter("complaintdesk_sweep_passes_total", "Sweep passes by result (ok, failed)", ["result"])
SWEEP_LAST_SUCCESS = Gauge(
    "complaintdesk_sweep_last_success_timestamp_seconds", "When the last sweep pass finished (Unix time)",
    multiprocess_mode="mostrecent")
SWEEP_TENANTS = Counter("complaintdesk_sweep_tenants_visited_total", "Tenants visited by the sweep (work due)")
SWEEP_LAG = Histogram(
    "complaintdesk_sweep_lag_seconds",
    "Due -> handled: how long the oldest due wake-up (deadline, customer notice, outbox item) had waited when a "
    "sweep pass started", buckets=LAG_BUCKETS)
DEADLINE_EVENTS = Counter(
    "complaintdesk_deadline_events_total", "Deadline events the sweep recorded (reminded, breached, escalated, "
    "customer_notice)", ["event"])
DELIVERIES = Counter(
    "complaintdesk_outbox_deliveries_total", "Outbox delivery attempts by result (sent, retried, failed, skipped)",
    ["result"])
WORKER_MESSAGES = Counter(
    "complaintdesk_worker_messages_total", "Dramatiq messages processed by actor and result (ok, failed, skipped)",
    ["actor", "result"])

# ---- the database (both; refreshed at each scrape) ---------------------------------------------------------
OUTBOX_PENDING = Gauge(
    "complaintdesk_outbox_pending", "Pending outbox items (due now or later), by tenant (bounded)", ["tenant"],
    multiprocess_mode="mostrecent")
OUTBOX_OLDEST_DUE_AGE = Gauge(
    "complaintdesk_outbox_oldest_due_age_seconds",
    "Seconds since the oldest pending outbox item fell due (0: none due)", multiprocess_mode="mostrecent")
WAKEUPS_DUE = Gauge(
    "complaintdesk_sweep_wakeups_due", "Wake-ups due now (work the sweep has yet to do), by source", ["source"],
    multiprocess_mode="mostrecent")
PG_CONNECTIONS = Gauge(
    "complaintdesk_postgres_connections", "Server connection slots: in use (every client) and max_connections",
    ["kind"], multiprocess_mode="mostrecent")


class PoolCollector(Collector):
    """The process's SQLAlchemy pools (one per event loop) and its first-come-first-served session slots."""

    def collect(self) -> Iterable[Metric]:
        checked_out = GaugeMetricFamily(
            "complaintdesk_db_pool_connections", "Connections of this process's pools by state",
            labels=["state"])
        slots = GaugeMetricFamily(
            "complaintdesk_db_session_slots_in_use", "Session slots taken (of complaintdesk_db_session_slots)")
        capacity = GaugeMetricFamily(
            "complaintdesk_db_session_slots", "Session slots per event loop (pool size + overflow, less a reserve)")
        used = idle = 0
        for engine in list(db._engines.values()):
            pool = engine.pool
            used += int(getattr(pool, "checkedout", lambda: 0)())
            idle += int(getattr(pool, "checkedin", lambda: 0)())
        taken = sum(slots.capacity - slots.free for slots in list(db._slots.values()))
        checked_out.add_metric(["in_use"], used)
        checked_out.add_metric(["idle"], idle)
        slots.add_metric([], taken)
        capacity.add_metric([], db.SESSION_SLOTS * max(1, len(db._slots)))
        yield checked_out
        yield slots
        yield capacity


_pool_collector = PoolCollector()
if not MULTIPROCESS:
    REGISTRY.register(_pool_collector)


async def refresh_database_figures() -> None:
    """Outbox depth and age, due wake-ups and connection slots, from ``public.sweep_wakeups`` (kept by the
    tenants' triggers: one row per pending item) and ``pg_stat_activity``: three statements, whatever the number
    of tenants. A failure leaves the previous values (a scrape must not fail because PostgreSQL is slow)."""
    import asyncio

    try:
        async with asyncio.timeout(DB_FIGURES_TIMEOUT_S), db.get_engine().connect() as conn:
            per_tenant = (await conn.execute(text(
                "SELECT schema_name, count(*) FROM public.sweep_wakeups WHERE source = 'outbox' "
                "GROUP BY schema_name ORDER BY count(*) DESC, schema_name"))).all()
            due = (await conn.execute(text(
                "SELECT source, count(*), min(at) FROM public.sweep_wakeups WHERE at <= now() GROUP BY source"
            ))).all()
            slots = (await conn.execute(text(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), "
                "current_setting('max_connections')::int"))).one()
    except Exception:
        return
    OUTBOX_PENDING.clear()
    named = per_tenant[:TENANT_LABELS]
    for schema_name, count in named:
        OUTBOX_PENDING.labels(tenant=_slug(schema_name)).set(count)
    OUTBOX_PENDING.labels(tenant=OTHER_TENANT).set(sum(count for _, count in per_tenant[TENANT_LABELS:]))
    now = datetime.now(UTC)
    for source in ("deadlines", "customer_notices", "outbox", "breach_effects"):
        WAKEUPS_DUE.labels(source=source).set(0)
    OUTBOX_OLDEST_DUE_AGE.set(0)
    for source, count, oldest in due:
        WAKEUPS_DUE.labels(source=source).set(count)
        if source == "outbox" and oldest is not None:
            OUTBOX_OLDEST_DUE_AGE.set(max(0.0, (now - oldest).total_seconds()))
    PG_CONNECTIONS.labels(kind="in_use").set(slots[0])
    PG_CONNECTIONS.labels(kind="max").set(slots[1])


def _slug(schema_name: str) -> str:
    return schema_name.removeprefix("tenant_").replace("_", "-")


async def oldest_due_wakeup_age() -> float | None:
    """Seconds the oldest due wake-up has waited (None: nothing due); the sweep's lag at the start of a pass."""
    async with db.get_engine().connect() as conn:
        oldest: datetime | None = (await conn.execute(
            text("SELECT min(at) FROM public.sweep_wakeups WHERE at <= now()"))).scalar()
    if oldest is None:
        return None
    return max(0.0, (datetime.now(UTC) - oldest).total_seconds())


# ---- the process's garbage collector ------------------------------------------------------------------------------
GC_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
GC_PAUSE = Histogram(
    "complaintdesk_gc_pause_seconds",
    "Pauses of this process's garbage collector by generation (every request waits while one runs)",
    ["generation"], buckets=GC_BUCKETS)
_gc_pauses: deque[tuple[int, float]] = deque(maxlen=10_000)
_gc_started = [0.0]


def _gc_callback(phase: str, info: dict[str, Any]) -> None:
    # Runs inside the collector, wherever the allocation that triggered it happened (possibly while this thread
    # holds a metric's lock): only a deque's append here, the histogram is fed at the next scrape.
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _gc_pauses.append((info["generation"], time.perf_counter() - _gc_started[0]))


def watch_gc() -> None:
    """Time this process's collections into ``complaintdesk_gc_pause_seconds`` (once per process)."""
    if _gc_callback not in gc.callbacks:
        gc.callbacks.append(_gc_callback)


def _flush_gc() -> None:
    while _gc_pauses:
        generation, seconds = _gc_pauses.popleft()
        labelled(GC_PAUSE, str(generation)).observe(seconds)


def render() -> tuple[bytes, str]:
    """The exposition text (every process's, in multiprocess mode) and its content type."""
    _flush_gc()
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(_pool_collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def monotonic() -> float:
    return time.perf_counter()
