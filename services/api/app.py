"""The Starlette application: /graphql, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from services.api.context import Context
from services.api.edge import BodySizeLimitMiddleware, RequestIdMiddleware, TenantMiddleware
from services.api.errors import RequestError
from services.api.schema import build_schema
from services.core.config import Settings, get_settings
from services.core.db import dispose_engine, get_engine

logger = logging.getLogger("complaintdesk.api")

MAX_BODY_BYTES = 1_000_000
READY_TIMEOUT_S = 2.0


class GraphQLApp(GraphQL[Context, None]):
    async def get_context(self, request: Request, response: Response | Any) -> Context:  # type: ignore[override]
        state = request.scope.get("state", {})
        tenant = state.get("tenant")
        if tenant is None:  # the edge middleware resolves it; never reached without one
            raise RequestError("a tenant is required", "TENANT_REQUIRED")
        return Context(
            request=request,
            response=response,
            tenant=tenant,
            request_id=state.get("request_id", "-"),
            exit_stack=state["exit_stack"],
        )


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    redis_client = aioredis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=READY_TIMEOUT_S, socket_timeout=READY_TIMEOUT_S
    )
    graphql = GraphQLApp(
        build_schema(development=settings.development),
        graphql_ide="graphiql" if settings.development else None,
        allow_queries_via_get=True,
        multipart_uploads_enabled=False,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        postgres, redis_status = await asyncio.gather(_check_postgres(), _check_redis(redis_client))
        checks = {"postgres": postgres, "redis": redis_status}
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await redis_client.aclose()
        await dispose_engine()

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES),
            Middleware(TenantMiddleware, ide_page=settings.development),
        ],
        lifespan=lifespan,
    )
