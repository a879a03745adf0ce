"""The ``Idempotency-Key`` header on mutations (IETF draft "The Idempotency-Key HTTP Header Field").

A POST whose operation is a mutation, in a tenant, may carry ``Idempotency-Key: <1-255 visible ASCII
characters>`` (a UUID, say). The key is the client's, per tenant and per principal (the signed-in user, an
external identity, or an anonymous client's address), kept 24 hours:

* the first request runs; its answer (status and body) is stored, sealed;
* a retry with the same key and the same request (query, variables, operation name) gets that answer again,
  with ``Idempotent-Replayed: true``, and runs nothing;
* while the first is still running: 409 ``IDEMPOTENCY_KEY_IN_USE``;
* the same key with another request: 422 ``IDEMPOTENCY_KEY_REUSED``;
* a malformed key: 400.

A first request that fails with the service unavailable or an internal error before any of its writes committed
is forgotten, so its retry runs. One whose write committed keeps its key whatever happens next (see
services/core/idempotency/service.py). A request naming no tenant (sign-in without ``X-Tenant``, operators'
operations) and queries ignore the header.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.responses import Response
from strawberry.http import GraphQLRequestData

from services.api import http
from services.api.auth.principal import ExternalPrincipal, StaffPrincipal
from services.api.context import Context
from services.core.errors import REQUEST_MESSAGES, RequestCode
from services.core.i18n import N_, msg
from services.core.idempotency import service as svc
from services.core.tenancy import tenant_session

logger = logging.getLogger("complaintdesk.api.idempotency")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"


def _is_mutation(request_data: GraphQLRequestData, max_tokens: int) -> bool:
    try:
        document = parse(request_data.query or "", no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return False  # it will not run: the parse error is the answer
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if request_data.operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == request_data.operation_name]
    return len(operations) == 1 and operations[0].operation == OperationType.MUTATION


def _principal(ctx: Context) -> str:
    principal = ctx.principal
    if isinstance(principal, StaffPrincipal):
        return svc.principal_digest(f"user:{principal.user_id}")
    if isinstance(principal, ExternalPrincipal):
        return svc.principal_digest(f"external:{principal.issuer}:{principal.email}")
    return svc.principal_digest(f"anonymous:{ctx.client_ip}")


def _fingerprint(request_data: GraphQLRequestData) -> str:
    canonical = orjson.dumps({"query": request_data.query, "variables": request_data.variables or {},
                              "operationName": request_data.operation_name}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _refusal(status: int, message: str, code: str, media_type: str, locale: str) -> Response:
    response = Response(orjson.dumps(http.error_body(message, code, locale)), status_code=status,
                        headers={"Vary": "Accept"})
    response.headers["content-type"] = http.content_type_header(media_type)
    return response


async def begin(ctx: Context, request_data: GraphQLRequestData, *, media_type: str, max_tokens: int
                ) -> Response | uuid.UUID | None:
    """The reservation's id (run the request), an answer (a replay or a refusal), or None (no key applies)."""
    key = ctx.request.headers.get(HEADER)
    if key is None or ctx.request.method != "POST" or ctx.tenant_ref is None:
        return None
    if not svc.valid_key(key):
        raise http.bad_request(msg("the Idempotency-Key header must be 1-{limit} visible ASCII characters",
                                   limit=svc.MAX_KEY_LENGTH))
    if not _is_mutation(request_data, max_tokens):
        return None
    async with tenant_session(ctx.tenant_ref) as session, session.begin():
        outcome = await svc.reserve(session, principal=_principal(ctx), key=key,
                                    fingerprint=_fingerprint(request_data), now=ctx.now())
    if isinstance(outcome, svc.Reserved):
        return outcome.id
    if isinstance(outcome, svc.Replay):
        response = Response(outcome.body, status_code=outcome.status,
                            headers={REPLAYED_HEADER: "true", "Vary": "Accept"})
        response.headers["content-type"] = http.content_type_header(outcome.media_type)
        return response
    if isinstance(outcome, svc.Mismatch):
        return _refusal(422, REQUEST_MESSAGES[RequestCode.IDEMPOTENCY_KEY_REUSED], "IDEMPOTENCY_KEY_REUSED",
                        media_type, await ctx.error_locale(outage=False))
    message = (N_("the request with this Idempotency-Key was saved but its answer was lost; read the current state")
               if outcome.lost else N_("a request with this Idempotency-Key is still being processed; retry later"))
    return _refusal(409, message, "IDEMPOTENCY_KEY_IN_USE", media_type, await ctx.error_locale(outage=False))


async def finish(ctx: Context, reservation: uuid.UUID, response: Response | None) -> None:
    """Store the answer, or forget the reservation when the request failed before anything committed."""
    assert ctx.tenant_ref is not None
    try:
        async with tenant_session(ctx.tenant_ref) as session, session.begin():
            failed = response is None or response.status_code >= 500
            if failed and not await svc.is_committed(session, reservation):
                await svc.release(session, reservation)
            elif response is not None:
                media_type = (response.headers.get("content-type") or http.JSON).split(";")[0].strip()
                await svc.record(session, reservation, status=response.status_code, media_type=media_type,
                                 body=bytes(response.body))
    except Exception as exc:  # the answer goes out anyway; the key stays reserved (see the service)
        logger.warning("idempotency key not recorded (%s); a retry is refused until it is", type(exc).__name__)
