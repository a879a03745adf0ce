"""Logging: every record carries the request id, the tenant slug, the user id and the GraphQL operation of its
context.

A record factory stamps them when the record is made, so every handler (the
console, a log shipper, pytest's capture) sees them. Log messages carry ids and
codes, never decrypted personal data.

``COMPLAINTDESK_LOG_FORMAT``: ``json`` (one JSON object a line: time, level, logger, message, request_id,
tenant, user_id, operation, trace_id when tracing, and the exception's traceback as one string) or ``text``
(the default; the Helm chart sets ``json``).
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from services.core.faults import unavailable_cause
from services.core.tenancy import current_tenant_or_none

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_id", default=None)
operation_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("operation", default=None)

_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id_var.get() or "-"
    tenant = current_tenant_or_none()
    record.tenant = tenant.slug if tenant is not None else "-"
    record.user_id = user_id_var.get() or "-"
    record.operation = operation_var.get() or "-"
    return record


if getattr(_base_factory, "__name__", "") != "_record_factory":
    logging.setLogRecordFactory(_record_factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line; a traceback is one string field, never lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "tenant": getattr(record, "tenant", "-"),
            "user_id": getattr(record, "user_id", "-"),
            "operation": getattr(record, "operation", "-"),
        }
        trace_id = _trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def _trace_id() -> str | None:
    """The current OpenTelemetry trace id (hex), when tracing is on and a span is recording."""
    otel = sys.modules.get("opentelemetry.trace")
    if otel is None:
        return None
    context = otel.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


TEXT_FORMAT = ("%(asctime)s %(levelname)s %(name)s [req=%(request_id)s tenant=%(tenant)s user=%(user_id)s "
               "op=%(operation)s] %(message)s")


def log_format() -> str:
    chosen = os.environ.get("COMPLAINTDESK_LOG_FORMAT", "").strip().lower()
    return "json" if chosen == "json" else "text"


def configure_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format() == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("COMPLAINTDESK_LOG_LEVEL", "INFO"))
    # Alembic is chatty at INFO; our own lines say what matters. pycasbin prints its whole model at INFO each time
    # an enforcer is built (the first request of a tenant): noise to a newcomer, and nothing an operator acts on.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("casbin").setLevel(logging.WARNING)


TRACEBACK_INTERVAL_S = 60.0


class FailureLog:
    """One line per failed request; a full traceback at most once per cause per ``interval_s``.

    An outage fails every request the same way: a traceback (with its SQL) for each of them says nothing the
    first one did not, and buries everything else. The cause is the dependency that is down (``postgres``,
    ``redis``) or, for anything unexpected, the exception's type and the place it was raised.
    """

    def __init__(self, interval_s: float = TRACEBACK_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def _first_in_interval(self, key: tuple[str, ...]) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                return False
            if len(self._last) > 1000:  # a bounded memory, whatever goes wrong
                self._last.clear()
            self._last[key] = now
            return True

    def report(self, logger: logging.Logger, exc: BaseException, where: str) -> str | None:
        """Log ``exc`` (raised at ``where``, e.g. a field path); returns the unavailable dependency, if any."""
        request_id = request_id_var.get() or "-"
        cause = unavailable_cause(exc)
        if cause is not None:
            first = self._first_in_interval(("unavailable", cause))
            logger.warning("service unavailable (%s) at %s: request %s failed: %s%s", cause, where, request_id,
                           type(exc).__name__, "" if first else " (traceback logged earlier)",
                           exc_info=exc if first else None)
            return cause
        location = _location(exc)
        first = self._first_in_interval(("error", type(exc).__qualname__, location))
        logger.error("unexpected error at %s: request %s failed: %s%s", where, request_id, type(exc).__name__,
                     "" if first else " (traceback logged earlier)", exc_info=exc if first else None)
        return None


def _location(exc: BaseException) -> str:
    """Where ``exc`` was raised: the innermost frame of our own code (a driver's frames are shared by every
    statement), else the innermost frame."""
    innermost = ours = None
    tb = exc.__traceback__
    while tb is not None:
        innermost = tb
        if _OWN_CODE in tb.tb_frame.f_code.co_filename:
            ours = tb
        tb = tb.tb_next
    found = ours or innermost
    return f"{found.tb_frame.f_code.co_filename}:{found.tb_lineno}" if found is not None else "?"


_OWN_CODE = os.sep + "services" + os.sep
failures = FailureLog()
