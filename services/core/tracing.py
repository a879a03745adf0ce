"""OpenTelemetry traces: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (then exported over OTLP/HTTP).

The trace of a request runs HTTP (the ASGI middleware) -> the GraphQL operation (Strawberry's extension) -> its SQL
statements (SQLAlchemy's instrumentation) -> the outbox items it wrote (each row keeps the W3C ``traceparent`` of
the transaction that wrote it) -> the worker's delivery of those items (a span whose parent is that traceparent),
and any Dramatiq message sent meanwhile (the worker's tracing middleware carries the context in the message).
With tracing off, nothing here costs more than a check of a module flag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_enabled = False
_instrumented: set[int] = set()

tracer = trace.get_tracer("complaintdesk")


def enabled() -> bool:
    return _enabled


def setup(service_name: str) -> bool:
    """Install the tracer provider and the OTLP exporter when the endpoint is configured; True when tracing is on.
    Called once per process by the CLI (serve, worker, up) before anything is traced."""
    global _enabled
    if _enabled or not os.environ.get(ENDPOINT_ENV, "").strip():
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER(_ARG), parent-based
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    _enabled = True
    return True


def shutdown() -> None:
    """Flush what is buffered (a worker or server stopping)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if _enabled and flush is not None:
        flush()


def instrument_engine(engine: Any) -> None:
    """SQL spans for an engine (each event loop has its own; the sync engine under an async one)."""
    if not _enabled:
        return
    sync_engine = getattr(engine, "sync_engine", engine)
    if id(sync_engine) in _instrumented:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # ``instrument()`` does its work once per process (a second engine would be left out: the CLI's start-up check
    # made the first one, on a loop that is gone); ``_instrument`` hooks each engine it is given
    SQLAlchemyInstrumentor()._instrument(engine=sync_engine, enable_commenter=False)  # type: ignore[no-untyped-call]
    _instrumented.add(id(sync_engine))


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (None when tracing is off or no span records)."""
    if not _enabled:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def inject() -> dict[str, str]:
    carrier: dict[str, str] = {}
    if _enabled:
        propagate.inject(carrier)
    return carrier


@contextmanager
def span_from(carrier: dict[str, str] | None, name: str, **attributes: Any) -> Iterator[None]:
    """A span whose parent is the context in ``carrier`` (a message's, a row's); nothing when tracing is off."""
    if not _enabled:
        yield
        return
    context = propagate.extract(carrier or {})
    with tracer.start_as_current_span(name, context=context, kind=trace.SpanKind.CONSUMER,
                                      attributes={k: v for k, v in attributes.items() if v is not None}):
        yield


def start_child(traceparent: str | None, name: str, attributes: dict[str, Any]) -> Any:
    """A started span (not made current) whose parent is ``traceparent``; None when tracing is off or there is
    no parent (an item enqueued while tracing was off starts no trace of its own)."""
    if not _enabled or not traceparent:
        return None
    context = propagate.extract({"traceparent": traceparent})
    return tracer.start_span(name, context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes)


def end_child(span: Any, attributes: dict[str, Any] | None = None) -> None:
    if span is None:
        return
    for key, value in (attributes or {}).items():
        if value is not None:
            span.set_attribute(key, value)
    span.end()
