"""The API's metrics (services/core/metrics.py): an ASGI middleware counting HTTP requests, a Strawberry extension
counting GraphQL operations by root field and outcome, and the ``/metrics`` endpoint."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from services.core import metrics, tracing
from services.core.logs import operation_var

access = logging.getLogger("complaintdesk.access")

ROUTES = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
MULTIPLE = "(multiple)"
UNKNOWN = "(none)"
INTROSPECTION = "(introspection)"


_STATUS_CLASS = {n: f"{n}xx" for n in range(1, 6)}


class HttpMetricsMiddleware:
    """Requests by route (the app's routes; anything else is ``other``), method and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        method = scope.get("method", "GET")
        method = method if method in {"GET", "POST", "HEAD", "OPTIONS"} else "other"
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            kind = _STATUS_CLASS.get(status // 100) or f"{status // 100}xx"
            metrics.labelled(metrics.HTTP_REQUESTS, route, method, kind).inc()
            metrics.labelled(metrics.HTTP_LATENCY, route).observe(time.perf_counter() - started)


def _root_fields(document: Any, operation_name: str | None) -> tuple[str, list[str]]:
    """The operation's type and the names of its root fields (those of a document that passed validation)."""
    for definition in getattr(document, "definitions", ()):
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (definition.name is None or definition.name.value != operation_name):
            continue
        names = [s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)]
        return definition.operation.value, names
    return "unknown", []


def _operation_label(names: list[str]) -> str:
    fields = {n for n in names if n != "__typename"}
    if not fields:
        return UNKNOWN
    if all(n.startswith("__") for n in fields):
        return INTROSPECTION
    if len(fields) > 1:
        return MULTIPLE
    return fields.pop()


def _walk_user_errors(data: Any) -> Iterator[Any]:
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and value.get("userErrors"):
                yield value["userErrors"]


def _outcome(result: Any) -> str:
    if result is None:
        return "internal_error"
    errors = getattr(result, "errors", None) or []
    data = getattr(result, "data", None)
    if errors:
        codes = {(e.extensions or {}).get("code") for e in errors}
        if "SERVICE_UNAVAILABLE" in codes:
            return "unavailable"
        if "INTERNAL_SERVER_ERROR" in codes:
            return "internal_error"
        if data is None and all(e.path is None for e in errors):
            return "request_error"
        return "field_error"
    if any(_walk_user_errors(data)):
        return "user_error"
    return "ok"


class OperationMetrics(SchemaExtension):
    """One count and one latency observation per GraphQL operation. The label is the root field the schema
    defines (``recordComplaint``), so the label set is bounded by the schema, whatever clients send: documents
    that failed validation count as ``(none)``, several root fields as ``(multiple)``."""

    _root: tuple[str, str] | None = None  # the operation's type and label, once on_execute has read them

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        token = operation_var.set(None)
        self._span = None
        self._root = None
        with contextlib.ExitStack() as stack:
            if tracing.enabled():  # the operation's span: a child of the HTTP request's, the parent of its SQL
                self._span = stack.enter_context(tracing.tracer.start_as_current_span("graphql.operation"))
            try:
                yield
            finally:
                operation_var.reset(token)
        context = self.execution_context
        if context.pre_execution_errors:
            kind, operation = "unknown", UNKNOWN
        elif self._root is not None:
            kind, operation = self._root
        else:
            kind, names = _root_fields(context.graphql_document, context.operation_name)
            operation = _operation_label(names)
        outcome = _outcome(context.result)
        seconds = time.perf_counter() - started
        metrics.labelled(metrics.GRAPHQL_OPERATIONS, kind, operation, outcome).inc()
        metrics.labelled(metrics.GRAPHQL_LATENCY, kind, operation).observe(seconds)
        # the access line: ids, names and codes only (the request id, tenant and user come from the record factory)
        token = operation_var.set(operation)
        try:
            access.info("%s %s: %s in %.1f ms", kind, operation, outcome, seconds * 1000)
        finally:
            operation_var.reset(token)


    def on_execute(self) -> Iterator[None]:
        """The document passed validation: its root field names the operation in every log line of it."""
        context = self.execution_context
        kind, names = _root_fields(context.graphql_document, context.operation_name)
        label = _operation_label(names)
        self._root = (kind, label)
        operation_var.set(label)
        if self._span is not None:
            self._span.update_name(f"graphql.{kind} {label}")
            self._span.set_attribute("graphql.operation.type", kind)
            self._span.set_attribute("graphql.operation.name", label)
        yield


async def metrics_endpoint(request: Request) -> Response:
    await metrics.refresh_database_figures()
    body, content_type = metrics.render()
    return Response(body, media_type=content_type.split(";")[0], headers={"Content-Type": content_type})
