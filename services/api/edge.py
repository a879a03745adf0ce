"""Pure ASGI middleware at the edge: request id, body size, authentication and tenant resolution.

The bearer token and the tenant are checked here, once, before GraphQL runs, and fail
closed with a GraphQL-shaped error:

* ``Authorization: Bearer <our JWT>``: signature, expiry, audience and issuer are verified;
  the tenant is the token's ``tenant`` claim (unknown 404, suspended 403), and an
  ``X-Tenant`` header or tenant host naming another tenant is refused (400
  ``TENANT_MISMATCH``). An operator's token binds no tenant.
* A bearer token of another issuer is checked against the identity providers of the
  tenant named by ``X-Tenant`` or the host, which it then needs.
* An invalid or expired token answers 401 ``UNAUTHENTICATED`` with
  ``WWW-Authenticate: Bearer error="invalid_token"``.
* No token: the tenant comes from ``X-Tenant`` or the host as before (malformed 400,
  unknown 404, suspended 403); naming none lets the request through without a tenant,
  for sign-in and operator operations (a resolver that needs one refuses).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.auth.principal import ExternalPrincipal, OperatorPrincipal, Principal, StaffPrincipal
from services.api.deference import Gate, deferential
from services.api.errors import UNAVAILABLE, header_locale, localize, masked
from services.api.ratelimit import RATE_LIMITED, retry_after_header
from services.core.auth import oidc, tokens
from services.core.errors import REQUEST_MESSAGES, RequestCode
from services.core.faults import RETRY_AFTER_S
from services.core.i18n import N_, msg
from services.core.logs import failures, request_id_var, user_id_var
from services.core.ratelimit import (
    Budget,
    InvalidBudget,
    TokenBuckets,
    default_public_budget,
    default_tenant_budget,
    keep_newest,
    parse_budget,
)
from services.core.tenancy import (
    InvalidTenantSlug,
    TenantError,
    TenantNotFound,
    TenantRef,
    TenantRequired,
    TenantSuspended,
    bind_tenant_token,
    resolve_tenant,
    tenant_session,
    unbind_tenant_token,
)

logger = logging.getLogger("complaintdesk.api.edge")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
TENANT_HEADER = b"x-tenant"

_STATUS = {
    TenantRequired: 400,
    InvalidTenantSlug: 400,
    TenantNotFound: 404,
    TenantSuspended: 403,
}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:
                return None
    return None


def _media_type(accept: str | None) -> bytes:
    """The edge's errors follow the endpoint's negotiation, falling back to application/json."""
    from services.api.http import JSON, HTTPError, content_type_header, negotiate_response_type

    try:
        return content_type_header(negotiate_response_type(accept)).encode()
    except HTTPError:
        return content_type_header(JSON).encode()


async def send_json_error(send: Send, status: int, message: str, code: str, request_id: str | None,
                          accept: str | None = None, headers: list[tuple[bytes, bytes]] | None = None, *,
                          accept_language: str | None = None) -> None:
    """A refusal at the edge: ``message`` (a marked text) in the language the request's ``Accept-Language`` asks
    for, else zh-CN (nothing is looked up here: no user, no tenant setting); ``code`` is the same in every one."""
    extensions: dict[str, Any] = {"code": code}
    if request_id:
        extensions["requestId"] = request_id
    text = localize(message, header_locale(accept_language))
    body = orjson.dumps({"errors": [{"message": text, "extensions": extensions}]})
    headers = [(b"content-type", _media_type(accept)), (b"content-length", str(len(body)).encode()),
               (b"vary", b"Accept"), *(headers or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Take a well-formed X-Request-ID or make one; log with it; echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Anything that escaped the app (the tenant look-up with PostgreSQL down, say): one line here (a
            # traceback once per cause a minute), an answer without details: 503 when a dependency is down.
            failures.report(logger, exc, scope.get("path", "?"))
            if not response_started:
                message, code = masked(exc)
                down = code == UNAVAILABLE
                await send_json_error(
                    send_with_id, 503 if down else 500, message, code, request_id, _header(scope, b"accept"),
                    [(b"retry-after", str(RETRY_AFTER_S).encode())] if down else None,
                    accept_language=_header(scope, b"accept-language"),
                )
        finally:
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json_error(
                send, 413, msg("request body larger than {limit} bytes", limit=self.max_bytes), "PAYLOAD_TOO_LARGE",
                request_id, _header(scope, b"accept"), accept_language=_header(scope, b"accept-language"),
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await send_json_error(
                    send, 413, msg("request body larger than {limit} bytes", limit=self.max_bytes),
                    "PAYLOAD_TOO_LARGE", request_id, _header(scope, b"accept"),
                    accept_language=_header(scope, b"accept-language"),
                )


class _BodyTooLarge(Exception):
    pass


def _host_tenant(scope: Scope) -> str | None:
    """The first label of a tenant host name (``acme.complaints.example.com`` -> ``acme``).

    Only names of three labels or more count, so ``localhost``, ``example.com`` and IP
    addresses never pick a tenant. The slug is validated like any other.
    """
    host = (_header(scope, b"host") or "").split(":", 1)[0].strip().lower().rstrip(".")
    labels = host.split(".")
    if len(labels) < 3 or all(label.isdigit() for label in labels):
        return None
    return labels[0]


def _is_ide_page_request(scope: Scope) -> bool:
    accept = _header(scope, b"accept") or ""
    return scope["method"] == "GET" and "text/html" in accept and b"query=" not in scope.get("query_string", b"")


class _Refused(Exception):
    """The request stops at the edge with this status and GraphQL-shaped error."""

    def __init__(self, status: int, message: str, code: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


Refused = _Refused  # what ``authenticate`` raises (the WebSocket handshake of services/api/app.py uses it too)


def _unauthorized(message: str, error: str = "invalid_token") -> _Refused:
    challenge = f'Bearer error="{error}"'.encode()
    return _Refused(401, message, "UNAUTHENTICATED", [(b"www-authenticate", challenge)])


def _bearer_token(authorization: str) -> str:
    scheme, _, credentials = authorization.strip().partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized(N_("the Authorization header must be 'Bearer <access token>'"), "invalid_request")
    return token


async def _tenant(slug: str | None) -> TenantRef:
    try:
        return await resolve_tenant(slug)
    except TenantError as exc:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
        raise _Refused(status, exc.message, exc.code) from None


def _mismatch() -> _Refused:
    return _Refused(400, REQUEST_MESSAGES[RequestCode.TENANT_MISMATCH], "TENANT_MISMATCH")


async def authenticate(scope: Scope) -> tuple[TenantRef | None, Principal | None]:
    """The request's tenant and verified principal, or ``_Refused``."""
    header_tenant = _header(scope, TENANT_HEADER)  # present but empty counts as named (and malformed)
    named = header_tenant if header_tenant is not None else _host_tenant(scope)
    authorization = _header(scope, b"authorization")
    if authorization is None:
        return (await _tenant(named) if named is not None else None), None
    token = _bearer_token(authorization)
    issuer = tokens.peek_issuer(token)
    try:
        if issuer is None or issuer == tokens.ISSUER:
            claims = tokens.verify_access_token(token)
            if isinstance(claims, tokens.OperatorClaims):
                if header_tenant is not None:
                    raise _Refused(400, N_("an operator's token is for no tenant: send no X-Tenant"), "TENANT_MISMATCH")
                return None, OperatorPrincipal(name=claims.name)
            if named is not None and named != claims.tenant:
                raise _mismatch()
            return await _tenant(claims.tenant), StaffPrincipal(user_id=claims.user_id)
        # another issuer: one of the identity providers of the tenant the request names
        if named is None:
            raise _Refused(400, N_("a token of an external identity provider needs the tenant in the X-Tenant "
                                   "header or the host name"), "TENANT_REQUIRED")
        tenant = await _tenant(named)
        async with tenant_session(tenant) as session:
            provider = await oidc.provider_for(session, token)
        identity = await oidc.verify_external_token(provider, token)
        return tenant, ExternalPrincipal(email=identity.email, issuer=identity.issuer)
    except tokens.InvalidToken as exc:
        raise _unauthorized(exc.message) from None


# A request a little over its budget waits for its token, up to QUEUE_S (a burst is smoothed, not refused). Beyond
# that it is refused, and the refusal is answered after a pause: a client that retries at once, as a flood does, then
# sends a request per pause and connection instead of hundreds a second (answering at once, a flood of 16 connections
# got ~170 refusals a second out of a budget of 10). A refusal costs the process little of its own (the token is
# verified once, the answer is a few hundred bytes), but the event loop's work for a request, its socket reads and
# writes and its timer, is most of what a refused request costs (profiled: ~0.5 ms), so the pause grows with the
# flood: while a budget has N requests waiting for their refusal, each is held for N / (REFUSALS_PER_TOKEN x its
# rate) seconds on average (at least one second, at most HOLD_CAP_S), so however many connections a tenant floods
# with, its refusals come back at about REFUSALS_PER_TOKEN times its budget's rate: a tenant's refusals cost the
# process in proportion to its own budget, not to its flood. The pause is drawn between HOLD_MIN_S and HOLD_MAX_S
# times that (a flood's connections, refused together, do not come back together: in step, 128 of them arrived as
# one burst a second, and the other tenants' requests waited behind it). A client a little over its budget (a few
# requests waiting) gets its 429 after 0.5-1.5 s, with Retry-After. At most HELD_MAX requests wait at once in a
# process; beyond that a refusal is immediate and a queued request is refused. And at most HELD_PER_BUDGET of one
# budget wait for their refusal: a flood that does not wait for its answers (an open loop, a request every so often
# whatever came back) would otherwise pile up held requests for as long as the pause stretches (~1,600 at 100 a
# second), each a connection and live objects the garbage collector walks; past that, its refusals are answered at
# once (in a gap the other tenants leave), so it goes on over the connections it has. A closed-loop flood of fewer
# connections than that is held as above.
QUEUE_S = 0.5
HOLD_MIN_S, HOLD_MAX_S = 0.5, 1.5
HOLD_CAP_S = 15.0
REFUSALS_PER_TOKEN = 2.0
HELD_MAX = 2048
HELD_PER_BUDGET = 256
# While a budget refuses (or did within DEFER_FOR_S), the requests it still admits defer to the other tenants'
# (services.api.deference). REFUSED_KEYS_MAX bounds what is remembered of refusals (client addresses included).
DEFER_FOR_S = 5.0
REFUSED_KEYS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the budgets say of a request: go ahead after ``seconds``, or (``admitted`` false) refused, ``seconds``
    being the time until it would be admitted at once; ``key`` and ``rate``: the budget that refused it."""

    admitted: bool
    seconds: float
    key: tuple[str, ...] = ()
    rate: float = 0.0
    keys: tuple[tuple[str, ...], ...] = ()  # every budget the request was counted against


class Admission:
    """Request budgets at the edge, before any GraphQL work: per tenant for signed-in requests (the tenant's own
    budget or ``COMPLAINTDESK_TENANT_BUDGET``); per tenant and client address, and per tenant in all, for requests
    without a staff token (``COMPLAINTDESK_PUBLIC_BUDGET`` and the tenant's budget). Operators are not counted."""

    def __init__(self) -> None:
        self.tenant_default = default_tenant_budget()
        self.public_default = default_public_budget()
        self.buckets = TokenBuckets()
        self.held = 0
        self.refusing: dict[tuple[str, ...], int] = {}  # budget key -> requests waiting for their refusal
        self.refused_at: dict[tuple[str, ...], float] = {}  # budget key -> when it last refused, oldest first
        self.gate = Gate()  # the requests in flight that do not defer
        self._parsed: dict[str, Budget] = {}

    def _tenant_budget(self, tenant: TenantRef) -> Budget:
        raw = tenant.request_budget
        if raw is None:
            return self.tenant_default
        budget = self._parsed.get(raw)
        if budget is None:
            try:
                budget = parse_budget(raw)
            except InvalidBudget:  # stored by hand, not through `tenant budget`: the default rather than nothing
                budget = self.tenant_default
            self._parsed[raw] = budget
        return budget

    def _take(self, key: tuple[str, ...], budget: Budget, now: float, within: float) -> Verdict:
        admitted, seconds = self.buckets.take(key, budget, now, within)
        return Verdict(admitted, seconds, key, budget.rate, (key,))

    def decide(self, tenant: TenantRef | None, principal: Principal | None, client: str) -> Verdict:
        if isinstance(principal, OperatorPrincipal):
            return Verdict(True, 0.0)
        within = QUEUE_S if self.held < HELD_MAX else 0.0
        now = time.monotonic()
        if tenant is not None and principal is not None:
            return self._take(("tenant", tenant.slug), self._tenant_budget(tenant), now, within)
        slug = tenant.slug if tenant is not None else ""
        verdict = self._take(("client", slug, client), self.public_default, now, within)
        if not verdict.admitted or tenant is None:
            return verdict
        also = self._take(("public", slug), self._tenant_budget(tenant), now, within)
        return Verdict(True, max(verdict.seconds, also.seconds), keys=verdict.keys + also.keys) if also.admitted \
            else also

    def flooding(self, verdict: Verdict) -> bool:
        """Whether a budget this admitted request was counted against is refusing others (now, or within
        ``DEFER_FOR_S``): its requests then defer to the other tenants' (``services.api.deference``)."""
        if not self.refused_at:
            return False
        now = time.monotonic()
        return any(self.refusing.get(key) or now - self.refused_at.get(key, -DEFER_FOR_S) < DEFER_FOR_S
                   for key in verdict.keys)

    def pause(self, verdict: Verdict) -> float:
        """How long to hold this refusal (see above): 0.5-1.5 s, stretched while its budget has many waiting."""
        waiting = self.refusing.get(verdict.key, 0)
        stretch = max(1.0, waiting / (REFUSALS_PER_TOKEN * verdict.rate)) if verdict.rate > 0 else 1.0
        return min(HOLD_CAP_S, random.uniform(HOLD_MIN_S, HOLD_MAX_S) * stretch)  # spreading load, not a secret

    def _refused(self, key: tuple[str, ...]) -> None:
        keep_newest(self.refused_at, key, time.monotonic(), REFUSED_KEYS_MAX)  # the order of refusals

    async def hold(self, seconds: float) -> None:
        self.held += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.held -= 1

    async def refuse(self, send: Send, verdict: Verdict, request_id: str | None, accept: str | None,
                     accept_language: str | None = None) -> None:
        wait = verdict.seconds
        if self.held >= HELD_MAX or self.refusing.get(verdict.key, 0) >= HELD_PER_BUDGET:
            self._refused(verdict.key)
            await self.gate.turn()
        else:
            pause = self.pause(verdict)
            self.refusing[verdict.key] = self.refusing.get(verdict.key, 0) + 1
            self._refused(verdict.key)
            try:
                await self.hold(pause)
            finally:
                left = self.refusing.pop(verdict.key) - 1
                if left:
                    self.refusing[verdict.key] = left
            wait = max(0.0, wait - pause)
            await self.gate.turn()  # the answer, too, goes out in a gap the other tenants leave
        await send_json_error(send, 429, REQUEST_MESSAGES[RequestCode.RATE_LIMITED],
                              RATE_LIMITED, request_id, accept, [retry_after_header(wait)],
                              accept_language=accept_language)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class TenantMiddleware:
    """Authenticate, resolve the tenant for the GraphQL endpoint, bind it, and hold the request's resources."""

    def __init__(self, app: ASGIApp, *, path: str = "/graphql", ide_page: bool = False) -> None:
        self.app = app
        self.path = path
        self.ide_page = ide_page
        self.admission = Admission()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id = state.get("request_id")
        if self.ide_page and _is_ide_page_request(scope):
            await self.app(scope, receive, send)  # the GraphiQL page itself carries no data
            return
        try:
            tenant, principal = await authenticate(scope)
        except _Refused as refused:
            await send_json_error(send, refused.status, refused.message, refused.code, request_id,
                                  _header(scope, b"accept"), refused.headers,
                                  accept_language=_header(scope, b"accept-language"))
            return
        verdict = self.admission.decide(tenant, principal, _client(scope))
        if not verdict.admitted:
            await self.admission.refuse(send, verdict, request_id, _header(scope, b"accept"),
                                        _header(scope, b"accept-language"))
            return
        if verdict.seconds:
            await self.admission.hold(verdict.seconds)
        defer = self.admission.flooding(verdict)
        state["tenant"] = tenant
        state["principal"] = principal
        token = bind_tenant_token(tenant)
        user_token = user_id_var.set(str(principal.user_id) if isinstance(principal, StaffPrincipal) else None)
        try:
            if defer:
                await deferential(self._serve(scope, receive, send, state), self.admission.gate)
            else:
                self.admission.gate.enter()
                try:
                    await self._serve(scope, receive, send, state)
                finally:
                    self.admission.gate.leave()
        finally:
            user_id_var.reset(user_token)
            unbind_tenant_token(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, state: dict[str, Any]) -> None:
        """The request and then what it held (its sessions closed, their connections back in the pool): both the
        request's own work, deferential or counted in flight alike."""
        async with AsyncExitStack() as stack:
            state["exit_stack"] = stack
            await self.app(scope, receive, send)
