"""``GET /files/<token>``: a report's or an export's file by its short-lived signed link.

The link is checked (signature, expiry, purpose); a tenant named by the request (``X-Tenant`` or the host's first
label) must be the link's; the tenant must be active; and the user the link was made for must still be active and
hold the rights (``reporting.service.open_download``). Anything else answers 404 with no detail: a link of another
tenant, an expired or edited one, or rights lost since all look the same.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.core.clock import Clock
from services.core.reporting import links
from services.core.reporting.service import open_download
from services.core.tenancy import TenantError, resolve_tenant, tenant_session


def _named_tenant(request: Request) -> str | None:
    header = request.headers.get("x-tenant")
    if header is not None:
        return header.strip().lower()
    host = (request.headers.get("host") or "").split(":", 1)[0].strip().lower().rstrip(".")
    labels = host.split(".")
    if len(labels) < 3 or all(label.isdigit() for label in labels):
        return None
    return labels[0]


def _not_found() -> Response:
    return JSONResponse({"errors": [{"message": "not found", "extensions": {"code": "NOT_FOUND"}}]},
                        status_code=404, headers={"cache-control": "no-store"})


async def serve_download(request: Request, token: str, clock: Clock) -> Response:
    try:
        claim = links.verify(token, now=clock.now())
    except links.InvalidLink:
        return _not_found()
    named = _named_tenant(request)
    if named is not None and named != claim.tenant:
        return _not_found()
    try:
        tenant = await resolve_tenant(claim.tenant)
    except TenantError:
        return _not_found()
    async with tenant_session(tenant) as session:
        found = await open_download(session, claim, tenant=tenant.slug)
    if found is None:
        return _not_found()
    return Response(found.content, media_type=found.content_type, headers={
        "content-disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
        "cache-control": "private, no-store",
        "x-content-type-options": "nosniff",
    })
