"""The Starlette application: /graphql, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.api import compiled, deference, documents, http, idempotency
from services.api.auth.principal import ExternalPrincipal, StaffPrincipal
from services.api.console import ConsoleFiles, ConsoleRoute, graphiql_page
from services.api.context import Context
from services.api.edge import BodySizeLimitMiddleware, Refused, RequestIdMiddleware, TenantMiddleware, authenticate
from services.api.errors import RequestError, header_locale, localize_errors
from services.api.messages import receipts
from services.api.observability import HttpMetricsMiddleware, metrics_endpoint
from services.api.reports.download import serve_download
from services.api.schema import MAX_TOKENS, build_schema
from services.core import metrics, tracing
from services.core.clock import Clock, system_clock
from services.core.config import Settings, get_settings
from services.core.db import dispose_engine, get_engine
from services.core.errors import REQUEST_MESSAGES, RequestCode
from services.core.i18n import N_

logger = logging.getLogger("complaintdesk.api")

MAX_BODY_BYTES = 1_000_000
READY_TIMEOUT_S = 2.0
# A request allocates tens of thousands of short-lived objects (a page of results); with the default threshold
# (700) the collector ran about once per request and took ~0.4 ms of it (2,000 in-process 50-row requests:
# 1,573 young, 142 middle, 12 full collections, 806 ms). At 10,000: 34 collections, ~200 ms, the longest
# ~25 ms (at 50,000 the same total in fewer, longer pauses). Since 2026-12-07 a request leaves nothing in reference
# cycles (tests/api/test_request_garbage.py): everything it allocates is freed by reference counting as it ends, so
# the young generation only fills with what outlives requests (caches, held refusals) and the collector runs
# seldom (a quiet tenant's 100 lists a second: a collection of ~4 ms twice a second before, none after).
# What still fills it is a flood's held refusals (services.api.edge: ~110 live objects each, up to 256 a budget):
# a few young collections as a flood begins, which find nothing to free and pass those objects on to the middle
# generation, whose collection (every GC_MIDDLE_THRESHOLD young ones) then walks them all: 27 ms at the tenth
# (2026-12-07, bench/noisy_tenant.py with the pauses timed). At 100 the middle generation is walked a tenth as
# often; by then the held requests it was given have long been answered and freed, so it is small. The pauses are
# in /metrics (``complaintdesk_gc_pause_seconds``).
GC_GEN0_THRESHOLD = 10_000
GC_MIDDLE_THRESHOLD = 100
GC_OLD_THRESHOLD = 10


# the SHA-256 of the texts of documents that have a plan (GraphQLApp._plan_for): a pure function of the text, kept
# for those texts only (as many as there are plans)
_DIGESTS: dict[str, str] = {}


def tune_gc() -> None:
    """After start-up: move everything built so far (modules, the schema, the pool) out of the collector's way,
    collect the young and middle generations less often, and time every collection. Reference cycles are still
    collected, in larger batches."""
    metrics.watch_gc()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, GC_MIDDLE_THRESHOLD, GC_OLD_THRESHOLD)


class _TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages in text frames: orjson encodes to bytes, which Strawberry would send as binary
    frames, and a browser's graphql-ws client parses only text (the web console's notifications)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class GraphQLApp(GraphQL[Context, None]):
    websocket_adapter_class = _TextFrames
    def encode_json(self, data: object) -> bytes:
        """orjson: several times faster than json.dumps on a page of results (UTF-8, no escapes)."""
        return orjson.dumps(data)

    """Strawberry's ASGI view, speaking GraphQL over HTTP as services/api/http.py describes.

    Strawberry (0.341) answers application/json only, 200 for every GraphQL error and plain-text 400s for the
    rest; here the HTTP side is ours (``run``, ``parse_http_body``, ``execute_single``, ``process_result``,
    ``create_response`` and error responses in ``__call__``) and execution stays ``schema.execute``.
    """

    redis: Any = None  # set by create_app; handed to each request's Context
    resolver_switch = False  # honour compiled.RESOLVER_PATH_HEADER (set by create_app outside production only)
    _plans: dict[str, compiled.Plan] | None = None

    def plans(self) -> dict[str, compiled.Plan]:
        """The registered queries' compiled plans by hash (built on first use; ``complaintdesk compile-report``
        lists what is compiled and why the rest is not)."""
        if self._plans is None:
            graphql_schema = self.schema._schema  # type: ignore[attr-defined]
            self._plans = compiled.build(graphql_schema).plans if compiled.enabled() else {}
        return self._plans

    def _plan_for(self, request: Request, data: GraphQLRequestData) -> compiled.Plan | None:
        plans = self.plans()
        if not plans or data.query is None:
            return None
        # a planned document's text is hashed once, not on every request (kept: only texts of plans, so bounded)
        digest = _DIGESTS.get(data.query)
        if digest is None:
            digest = documents.sha256(data.query)
            if digest in plans:
                _DIGESTS[data.query] = digest
        plan = plans.get(digest)
        if plan is None or (data.operation_name is not None and data.operation_name != plan.name):
            return None
        if self.resolver_switch and request.headers.get(compiled.RESOLVER_PATH_HEADER) == "1":
            return None
        return plan
    console_dir: Path | None = None  # the console's build, whose graphiql.html is the IDE page (development)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from local assets bundled by the console's build, never a CDN (development only)."""
        return graphiql_page(self.console_dir)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.handle_http(request)
        except HTTPException as exc:  # ours (http.HTTPError) and any Strawberry still raises
            response = self._error_response(request, exc)
        await deference.checkpoint()  # a deferential request: the answer encoded, sent in another slice
        await response(scope, receive, send)

    def _error_response(self, request: Request, exc: HTTPException) -> Response:
        code = exc.code if isinstance(exc, http.HTTPError) else _HTTP_ERROR_CODES.get(exc.status_code, "BAD_REQUEST")
        try:
            media_type = http.negotiate_response_type(request.headers.get("accept"))
        except http.HTTPError:  # the 406 itself, or any error for such a client: plain JSON
            media_type = http.JSON
        headers = {"Vary": "Accept", **(exc.headers if isinstance(exc, http.HTTPError) else {})}
        locale = header_locale(request.headers.get("accept-language"))
        reason = exc.reason if isinstance(exc, http.HTTPError) else REQUEST_MESSAGES[RequestCode(code)]
        body = self.encode_json(http.error_body(reason, code, locale))
        response = Response(body, status_code=exc.status_code, headers=headers)
        response.headers["content-type"] = http.content_type_header(media_type)
        return response

    async def run(  # type: ignore[override]
        self, request: Request | WebSocket, context: Context | UnsetType = UNSET, root_value: None = UNSET
    ) -> Response | WebSocket:
        if isinstance(request, Request):
            return await self.handle_http(request, context)
        return await super().run(request, cast(Context, context), root_value)  # WebSockets: not routed here

    async def handle_http(self, request: Request, context: Context | UnsetType = UNSET) -> Response:
        """Strawberry's ``run`` for HTTP, minus batching and streaming, with the spec's negotiation and statuses."""
        request_adapter = self.request_adapter_class(request)
        if self.graphql_ide and self.should_render_graphql_ide(request_adapter):
            return await self.render_graphql_ide(request)
        if not self.is_request_allowed(request_adapter):
            raise http.HTTPError(
                405, REQUEST_MESSAGES[RequestCode.METHOD_NOT_ALLOWED], "METHOD_NOT_ALLOWED",
                headers={"Allow": "GET, POST"}
            )
        media_type = http.negotiate_response_type(request.headers.get("accept"))
        request_data = await self.parse_http_body(request_adapter)
        assert isinstance(request_data, GraphQLRequestData)  # never a batch: parse_http_body refuses them
        await deference.checkpoint()  # a deferential request: the body read and parsed, the rest in another slice
        tenant = request.scope.get("state", {}).get("tenant")
        try:  # a registered document's hash -> its text; a tenant of registered documents only refuses others
            request_data = documents.resolve(
                request_data, registered_only=bool(tenant is not None and tenant.registered_documents_only))
        except documents.PersistedQueryRefused as refused:
            locale = header_locale(request.headers.get("accept-language"))
            answer = Response(self.encode_json(http.error_body(refused.message, refused.code, locale)),
                              status_code=refused.status, headers={"Vary": "Accept", **documents.NO_CACHE})
            answer.headers["content-type"] = http.content_type_header(media_type)
            return answer

        sub_response = await self.get_sub_response(request)
        if isinstance(context, UnsetType):
            context = await self.get_context(request, response=sub_response)
        reserved = await idempotency.begin(context, request_data, media_type=media_type, max_tokens=MAX_TOKENS)
        if isinstance(reserved, Response):  # the first outcome again, or a refusal (409, 422)
            return reserved
        if reserved is None:
            return await self._execute(request, request_adapter, request_data, context, sub_response, media_type)
        context.idempotency_reservation = reserved
        response: Response | None = None
        try:
            response = await self._execute(request, request_adapter, request_data, context, sub_response, media_type)
            return response
        finally:
            await idempotency.finish(context, reserved, response)

    async def _execute(self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
                       request_data: GraphQLRequestData, context: Context, sub_response: Response,
                       media_type: str) -> Response:
        await deference.checkpoint()  # a deferential request: its context made, the document run in another slice
        plan = self._plan_for(request, request_data)
        if plan is not None:
            started = time.perf_counter()
            data = await plan.run(context, self.schema, request_data.variables)
            if data is not None:  # else this request takes the resolver path, which answers it
                compiled.observe(plan, time.perf_counter() - started)
                sub_response.media_type = media_type
                if sub_response.status_code is None:
                    sub_response.status_code = 200
                return self.create_response(response_data={"data": data}, sub_response=sub_response)
        result = await self.execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=None,
            request_data=request_data,
        )
        await deference.checkpoint()  # a deferential request: executed; the result made an answer in another slice
        outcome = http.classify(result)
        if outcome is http.Outcome.INTERNAL_ERROR:
            http.log_unexpected(result)
        for error in result.errors or ():  # the marked text, not its English copy, to be translated below
            if isinstance(error.original_error, RequestError):
                error.message = error.original_error.text
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
            # top-level errors in the request's language (the viewer's, Accept-Language, the tenant's default)
            locale = await context.error_locale(outage=http.unavailable(response_data))
            localize_errors(response_data.get("errors"), locale)
        sub_response.media_type = media_type
        if http.unavailable(response_data):  # a dependency is down: not the client's fault, and worth a retry
            sub_response.status_code = 503
            sub_response.headers.update(http.RETRY_AFTER)
        elif sub_response.status_code is None:  # a resolver may have set one (info.context.response)
            sub_response.status_code = http.status_code(outcome, media_type)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        if request.method == "GET":
            return http.parse_query_params(cast(QueryParams, request.query_params))
        http.check_content_type(request.content_type)
        return http.parse_json_body(await request.get_body())

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, with its operation errors answered as GraphQL request errors instead of plain 400s."""
        if error := http.operation_request_error(request_data, max_tokens=MAX_TOKENS):
            return PreExecutionError(data=None, errors=[error])
        # subscriptions only over WebSockets (graphql-transport-ws): over HTTP a request error
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed = allowed - {OperationType.QUERY}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:  # GetOperation() failed: a request error
            return PreExecutionError(data=None, errors=[GraphQLError(exc.as_http_error_reason())])
        except InvalidOperationTypeError as exc:
            if request_adapter.method == "GET":
                # Spec, "GET": "If the values of {query} and {operationName} indicate that a mutation operation is
                # to be executed, the server MUST respond with error status code 405 (Method Not Allowed)".
                raise http.HTTPError(
                    405, exc.as_http_error_reason("GET"), "METHOD_NOT_ALLOWED", headers={"Allow": "POST"}
                ) from exc
            return PreExecutionError(data=None, errors=[GraphQLError(exc.as_http_error_reason("POST"))])
        except MissingQueryError as exc:  # only an extension could drop the query parse_http_body checked
            raise http.bad_request(N_("no GraphQL query found in the request")) from exc

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        return http.shape_result(result, http.classify(result))

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = http.content_type_header(sub_response.media_type or http.JSON)
        response.headers.add_vary_header("Accept")
        return response

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate a graphql-transport-ws connection exactly as the edge does an HTTP request (the same
        ``edge.authenticate``): the access token from connection_init's ``Authorization`` (else the upgrade
        request's header). No token, a bad one or no active staff user: the connection closes with 4403."""
        params = context.connection_params or {}
        scope = dict(context.request.scope)
        given = params.get("Authorization", params.get("authorization"))
        if given is not None:
            if not isinstance(given, str):
                raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
            scope["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k != b"authorization"] + [
                (b"authorization", given.encode("latin-1", "replace"))]
        try:
            tenant, principal = await authenticate(scope)
        except Refused as refused:
            raise ConnectionRejectionError({"code": refused.code}) from None
        if tenant is None or not isinstance(principal, StaffPrincipal | ExternalPrincipal):
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        context.tenant_ref, context.principal = tenant, principal
        async with contextlib.AsyncExitStack() as stack:  # the look-up's session ends here, not with the socket
            context.exit_stack = stack
            viewer = await context.viewer()
        context.forget_session()
        if viewer is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        return cast(UnsetType, UNSET)

    async def get_context(self, request: Request, response: Response | Any) -> Context:  # type: ignore[override]
        if isinstance(request, WebSocket):  # authenticated by on_ws_connect (the edge middleware sees only HTTP)
            return Context(request=cast(Request, request), response=None, request_id=uuid.uuid4().hex,
                           exit_stack=contextlib.AsyncExitStack(),
                           clock=getattr(request.app.state, "clock", system_clock), redis=self.redis)
        state = request.scope.get("state", {})
        if "exit_stack" not in state:  # the edge middleware authenticates and holds the request's resources
            raise RequestError("the request did not pass the edge", "INTERNAL_SERVER_ERROR")
        return Context(
            request=request,
            response=response,
            request_id=state.get("request_id", "-"),
            exit_stack=state["exit_stack"],
            tenant_ref=state.get("tenant"),  # None when the request named no tenant (sign-in, operators)
            principal=state.get("principal"),
            clock=getattr(request.app.state, "clock", system_clock),
            redis=self.redis,
        )


# Status codes of Strawberry's own HTTPExceptions, should any still reach __call__.
_HTTP_ERROR_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


async def _check_postgres() -> str:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            async with get_engine().connect() as conn:
                await conn.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the reason is logged, not returned
        logger.warning("readiness: postgres unreachable: %s", type(exc).__name__)
        return "unreachable"


async def _check_redis(client: aioredis.Redis) -> str:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await client.ping()
        return "ok"
    except Exception as exc:
        logger.warning("readiness: redis unreachable: %s", type(exc).__name__)
        return "unreachable"


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    """The ASGI app. ``clock``: where requests take the time (tests pass a ``FixedClock``; there is no setting
    for it, so a deployment always runs on the system clock)."""
    settings = settings or get_settings()
    redis_client = aioredis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=READY_TIMEOUT_S, socket_timeout=READY_TIMEOUT_S
    )
    graphql = GraphQLApp(
        build_schema(development=settings.development),
        graphql_ide="graphiql" if settings.development else None,
        allow_queries_via_get=True,
        multipart_uploads_enabled=False,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
    graphql.redis = redis_client
    graphql.console_dir = settings.console_dir
    graphql.resolver_switch = settings.environment != "production"

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        postgres, redis_status = await asyncio.gather(_check_postgres(), _check_redis(redis_client))
        checks = {"postgres": postgres, "redis": redis_status}
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    async def sms_receipt(request: Request) -> Response:
        return await receipts.sms_receipt(request, request.app.state.clock)

    async def download(request: Request) -> Response:
        return await serve_download(request, request.path_params["token"], request.app.state.clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tune_gc()
        yield
        await redis_client.aclose()
        await dispose_engine()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),  # first: the routes are matched in turn
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),  # Prometheus; the chart's Ingress leaves it out
            Route("/files/{token}", download, methods=["GET"]),  # signed report and export links (reports/)
            Route("/sms/receipts", sms_receipt, methods=["POST"]),  # the SMS provider's delivery receipts
            WebSocketRoute("/graphql", graphql),  # subscriptions: graphql-transport-ws
            # the web console: static files and the SPA's routes, on every path but the three above
            ConsoleRoute(ConsoleFiles(settings.console_dir), api_paths=frozenset({"/healthz", "/readyz", "/graphql"})),
        ],
        middleware=[
            # the trace's root span (when OTEL_EXPORTER_OTLP_ENDPOINT is set): a W3C traceparent from the client
            # is continued
            *([Middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])] if tracing.enabled() else []),
            Middleware(HttpMetricsMiddleware),
            # the client's address for the throttles and the logs: the connection's peer, or what a trusted proxy
            # says it is (COMPLAINTDESK_TRUSTED_PROXIES); decided here only, `serve` and `up` run uvicorn without it
            *([Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]
              if settings.trusted_proxies else []),
            Middleware(RequestIdMiddleware),
            Middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES),
            Middleware(TenantMiddleware, ide_page=settings.development),
        ],
        lifespan=lifespan,
    )
    app.state.clock = clock or system_clock
    return app
