"""Carry the trace context in Dramatiq messages: the sender's context goes into the message's options
(``trace``: W3C traceparent/tracestate), and the worker processes the message in a span whose parent it is.
Nothing is added or started while tracing is off (services/core/tracing.py)."""

from __future__ import annotations

import threading
from typing import Any

from dramatiq import Broker, Message, Middleware
from dramatiq.broker import MessageProxy
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from services.core import tracing

TRACE_OPTION = "trace"


class TracingMiddleware(Middleware):
    def __init__(self) -> None:
        self._local = threading.local()

    def before_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        if tracing.enabled() and TRACE_OPTION not in message.options:
            carrier = tracing.inject()
            if carrier:
                message.options[TRACE_OPTION] = carrier

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._local.span = self._local.token = None
        if not tracing.enabled():
            return
        carrier = message.options.get(TRACE_OPTION)
        parent = propagate.extract(carrier if isinstance(carrier, dict) else {})
        span = tracing.tracer.start_span(f"dramatiq {message.actor_name}", context=parent,
                                         kind=trace.SpanKind.CONSUMER,
                                         attributes={"messaging.system": "dramatiq",
                                                     "messaging.message.id": message.message_id})
        self._local.span = span
        self._local.token = otel_context.attach(trace.set_span_in_context(span))

    def _end(self, error: BaseException | None = None) -> None:
        span = getattr(self._local, "span", None)
        token = getattr(self._local, "token", None)
        if token is not None:
            otel_context.detach(token)
        if span is not None:
            if error is not None:
                span.record_exception(error)
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
            span.end()
        self._local.span = self._local.token = None

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._end(exception)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._end()
