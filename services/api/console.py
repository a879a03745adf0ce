"""The web console (console/, a React SPA built to console/dist) served at ``/`` as static files.

* ``/assets/*``: Vite's content-hashed files, cached for a year and ``immutable``; a missing one is 404.
* Every other path without a file extension (``/``, ``/inbox``, ``/cases/...``, ``/p/<tenant>/track``): the SPA's
  ``index.html`` with ``Cache-Control: no-cache``, so a new build is picked up at once.
* Every answer carries a Content-Security-Policy that names no other origin (scripts, styles, connections,
  images: this one only), and no framing.
* GraphiQL (``graphiql.html``, bundled from local assets at build time) is answered by ``GET /graphql`` in
  development only (:func:`graphiql_page`); here it is 404.

Without a build (``console/dist/index.html`` missing) the console's paths answer 503 saying how to build it.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

REPOSITORY_DIST = Path(__file__).resolve().parents[2] / "console" / "dist"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# GraphiQL's editor sets style attributes in its markup; still no other origin.
GRAPHIQL_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
NOT_BUILT = "The web console is not built: run ./scripts/build-console (./scripts/run does it for you).\n"


def _headers(cache: str, csp: str = CSP) -> dict[str, str]:
    return {"Cache-Control": cache, "Content-Security-Policy": csp, **SECURITY_HEADERS}


class ConsoleFiles:
    """ASGI app for the console's files (mounted as the last route, so /graphql, /healthz, /readyz win)."""

    def __init__(self, dist: Path | None = None) -> None:
        self.dist = (dist or REPOSITORY_DIST).resolve()

    def _asset(self, relative: str) -> Path | None:
        candidate = (self.dist / "assets" / relative).resolve()
        if not candidate.is_relative_to(self.dist / "assets") or not candidate.is_file():
            return None
        return candidate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = self.respond(request)
        await response(scope, receive, send)

    def respond(self, request: Request) -> Response:
        if request.method not in {"GET", "HEAD"}:
            return PlainTextResponse("Method Not Allowed\n", status_code=405, headers={"Allow": "GET, HEAD",
                                                                                        **_headers(NO_CACHE)})
        path = request.url.path
        if path.startswith("/assets/"):
            asset = self._asset(path.removeprefix("/assets/"))
            if asset is None:
                return PlainTextResponse("Not Found\n", status_code=404, headers=_headers(NO_CACHE))
            return FileResponse(asset, headers=_headers(IMMUTABLE))
        last = path.rsplit("/", 1)[-1]
        if "." in last:  # a file that is not an asset (graphiql.html among them): not served here
            return PlainTextResponse("Not Found\n", status_code=404, headers=_headers(NO_CACHE))
        index = self.dist / "index.html"
        if not index.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=503, headers=_headers(NO_CACHE))
        return FileResponse(index, media_type="text/html", headers=_headers(NO_CACHE))


class ConsoleRoute(Route):
    """Every path but the API's own: a request to ``/graphql`` (or ``/healthz``, ``/readyz``) with a method its route
    does not take stays that route's 405, never the console's page."""

    def __init__(self, app: ConsoleFiles, *, api_paths: frozenset[str]) -> None:
        super().__init__("/{path:path}", app)
        self.api_paths = api_paths

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and (scope["path"].rstrip("/") or "/") in self.api_paths:
            return Match.NONE, {}
        return super().matches(scope)


def graphiql_page(dist: Path | None = None) -> Response:
    """GraphiQL from the console's build (development only; the caller decides)."""
    page = (dist or REPOSITORY_DIST) / "graphiql.html"
    if not page.is_file():
        return PlainTextResponse(NOT_BUILT, status_code=503, headers=_headers(NO_CACHE))
    return HTMLResponse(page.read_text(encoding="utf-8"), headers=_headers(NO_CACHE, GRAPHIQL_CSP))
