"""services/api/console.py: the web console's files at / (no database: the ASGI app alone, on a build of its own)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.api.console import ConsoleFiles, graphiql_page

INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-AbC123.js"></script></head></html>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX, encoding="utf-8")
    (root / "graphiql.html").write_text("<div id=graphiql></div>", encoding="utf-8")
    (root / "assets" / "index-AbC123.js").write_text("console.log(1)", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not served", encoding="utf-8")
    return root


def client(dist: Path) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ConsoleFiles(dist)), base_url="http://console")


def assert_csp(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "http" not in csp and "*" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_index_and_spa_routes_are_not_cached(dist: Path) -> None:
    async with client(dist) as c:
        for path in ("/", "/inbox", "/cases/Q29tcGxhaW50OjE=", "/p/demo/track", "/admin/sla"):
            response = await c.get(path)
            assert response.status_code == 200, path
            assert response.text == INDEX
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["content-type"].startswith("text/html")
            assert_csp(response)


async def test_hashed_assets_are_immutable(dist: Path) -> None:
    async with client(dist) as c:
        response = await c.get("/assets/index-AbC123.js")
        assert response.status_code == 200 and response.text == "console.log(1)"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert_csp(response)
        head = await c.head("/assets/index-AbC123.js")
        assert head.status_code == 200


@pytest.mark.parametrize("path", ["/assets/nope-123.js", "/assets/../index.html", "/assets/%2e%2e/%2e%2e/secret.txt",
                                  "/graphiql.html", "/favicon.ico", "/index.html"])
async def test_other_files_are_not_served(dist: Path, path: str) -> None:
    async with client(dist) as c:
        response = await c.get(path)
    assert response.status_code == 404, path
    assert "not served" not in response.text


async def test_only_get_and_head(dist: Path) -> None:
    async with client(dist) as c:
        response = await c.post("/inbox", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_without_a_build_the_console_says_how_to_build_it(tmp_path: Path) -> None:
    async with client(tmp_path / "missing") as c:
        response = await c.get("/")
    assert response.status_code == 503
    assert "scripts/build-console" in response.text


def test_graphiql_page_comes_from_the_build(dist: Path, tmp_path: Path) -> None:
    page = graphiql_page(dist)
    assert page.status_code == 200 and bytes(page.body) == b"<div id=graphiql></div>"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "http" not in csp
    assert graphiql_page(tmp_path / "missing").status_code == 503


async def test_the_api_paths_keep_their_own_answers(dist: Path) -> None:
    """The console's route takes every path but the API's: PUT /graphql is still the API's 405."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from services.api.console import ConsoleRoute

    async def api(request: object) -> PlainTextResponse:
        return PlainTextResponse("api")

    app = Starlette(routes=[Route("/graphql", api, methods=["GET", "POST"]), Route("/healthz", api, methods=["GET"]),
                            ConsoleRoute(ConsoleFiles(dist), api_paths=frozenset({"/graphql", "/healthz"}))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as c:
        assert (await c.get("/graphql")).text == "api"
        for method in ("PUT", "DELETE", "PATCH"):
            response = await c.request(method, "/graphql")
            assert response.status_code == 405, method
            assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}  # the route's, not ours
        assert (await c.post("/healthz")).status_code == 405
        index = await c.get("/inbox")
        assert index.status_code == 200 and index.text == INDEX
