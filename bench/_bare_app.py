"""The floor for bench/list_vs_bare.py: the complaints list as plain Starlette + asyncpg + orjson.

It answers ``POST /graphql`` with the same JSON the real app gives for

    query List($n:Int!){ complaints(first:$n){ edges { node {
      id number status title createdAt owner { id displayName }
      responsibleDepartment { id name } category { id name } } } } }

without GraphQL, SQLAlchemy, the tenant registry or the viewer look-up: the tenant schema comes straight from
the ``X-Tenant`` slug (checked against the same pattern), ``n`` from ``variables.n`` in the JSON body, and one
prepared SELECT (the list's joins on owner, responsible department and category, newest first) runs on an
asyncpg pool. IDs are Relay global IDs (base64 of ``Type:uuid``), as Strawberry encodes them.

Run by the benchmark as ``uvicorn bench._bare_app:create_app --factory``; reads ``DATABASE_URL``.
Not part of the application.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SLUG = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){2,31}$")
MAX_PAGE = 100

SQL = """
SELECT c.id, c.number, c.status, c.title, c.created_at,
       u.id AS owner_id, u.display_name AS owner_name,
       d.id AS dept_id, d.name AS dept_name,
       cat.id AS cat_id, cat.name AS cat_name
FROM "{schema}".complaints c
JOIN "{schema}".users u ON u.id = c.owner_id
LEFT JOIN "{schema}".org_units d ON d.id = c.responsible_department_id
LEFT JOIN "{schema}".categories cat ON cat.id = c.category_id
ORDER BY c.created_at DESC, c.id DESC
LIMIT $1
"""


def global_id(type_name: str, ident: Any) -> str:
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"errors": [{"message": message}]}), status_code=status,
                    media_type="application/json")


def create_app() -> Starlette:
    dsn = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    state: dict[str, Any] = {}
    queries: dict[str, str] = {}

    async def graphql(request: Request) -> Response:
        slug = request.headers.get("x-tenant") or ""
        if not SLUG.fullmatch(slug):
            return _error(400, "a tenant is required")
        schema = "tenant_" + slug.replace("-", "_")
        sql = queries.get(schema)
        if sql is None:
            sql = queries[schema] = SQL.format(schema=schema)
        try:
            n = int(orjson.loads(await request.body())["variables"]["n"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            return _error(400, "variables.n is required")
        if not 1 <= n <= MAX_PAGE:
            return _error(400, f"n must be between 1 and {MAX_PAGE}")
        pool: asyncpg.Pool = state["pool"]
        async with pool.acquire() as conn:
            rows = await conn.fetch(sql, n)
        edges = [
            {
                "node": {
                    "id": global_id("Complaint", r["id"]),
                    "number": r["number"],
                    "status": r["status"],
                    "title": r["title"],
                    "createdAt": r["created_at"],
                    "owner": {"id": global_id("User", r["owner_id"]), "displayName": r["owner_name"]},
                    "responsibleDepartment": (
                        {"id": global_id("OrgUnit", r["dept_id"]), "name": r["dept_name"]}
                        if r["dept_id"] is not None else None
                    ),
                    "category": (
                        {"id": global_id("Category", r["cat_id"]), "name": r["cat_name"]}
                        if r["cat_id"] is not None else None
                    ),
                }
            }
            for r in rows
        ]
        body = orjson.dumps({"data": {"complaints": {"edges": edges}}})
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The same ceiling as the real app's SQLAlchemy pool (pool_size 16 + max_overflow 4).
        state["pool"] = await asyncpg.create_pool(dsn, min_size=10, max_size=20,
                                                  server_settings={"application_name": "cd-bench-bare"})
        try:
            yield
        finally:
            await state["pool"].close()

    return Starlette(
        routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
