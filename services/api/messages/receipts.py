"""``POST /sms/receipts``: the SMS provider's delivery receipt (services/core/messages/receipts.py).

The tenant is named as for the public operations (``X-Tenant`` or the host's first label); the body is
``{"messageId": "<the id the outgoing webhook sent>", "status": "DELIVERED", "deliveredAt": "<ISO-8601>"}``
(``deliveredAt`` optional), signed with the outgoing webhook's secret. Answers: 200 ``{"state": "DELIVERED"}``
(also for a receipt repeated); 401 for a missing or wrong signature, before anything is read; 404 for an unknown
tenant or message; 409 for a message that was never sent; 400 for a malformed body. Nothing changes but on 200.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from services.core.clock import Clock
from services.core.errors import DomainError, ErrorCode
from services.core.messages import receipts
from services.core.outbox.service import SIGNATURE_HEADER
from services.core.tenancy import TenantError, resolve_tenant, tenant_session

_STATUS = {ErrorCode.NOT_FOUND: 404, ErrorCode.ILLEGAL_TRANSITION: 409}


def _refused(status: int, code: str) -> Response:
    return JSONResponse({"error": code}, status_code=status)


def _tenant_named(request: Request) -> str | None:
    named = request.headers.get("x-tenant")
    if named is not None:
        return named
    labels = (request.url.hostname or "").split(".")
    return labels[0] if len(labels) >= 3 and not all(label.isdigit() for label in labels) else None


def _parse(body: bytes) -> tuple[uuid.UUID, datetime | None] | None:
    try:
        data = orjson.loads(body)
        if not isinstance(data, dict) or data.get("status") != "DELIVERED":
            return None
        at = data.get("deliveredAt")
        delivered = datetime.fromisoformat(at) if isinstance(at, str) else None
        if delivered is not None and delivered.tzinfo is None:
            return None
        return uuid.UUID(str(data["messageId"])), delivered
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        return None


async def sms_receipt(request: Request, clock: Clock) -> Response:
    body = await request.body()
    if not receipts.verified(body, request.headers.get(SIGNATURE_HEADER)):
        return _refused(401, "UNAUTHENTICATED")
    parsed = _parse(body)
    if parsed is None:
        return _refused(400, "BAD_REQUEST")
    try:
        tenant = await resolve_tenant(_tenant_named(request))
    except TenantError:
        return _refused(404, "NOT_FOUND")
    message_id, delivered_at = parsed
    try:
        async with tenant_session(tenant) as session, session.begin():
            message = await receipts.record_receipt(session, message_id=message_id, delivered_at=delivered_at,
                                                    now=clock.now())
    except DomainError as exc:
        return _refused(_STATUS.get(exc.code, 400), exc.code.value)
    return JSONResponse({"state": message.state})
