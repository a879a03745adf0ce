"""Sign-in from the console with a tenant's OpenID Connect provider: the authorization-code flow with PKCE.

The console sends the user to the provider's ``authorization_endpoint`` (read from the issuer's discovery
document, ``<issuer>/.well-known/openid-configuration``) with a state, a nonce and a PKCE challenge it keeps in
the tab; the provider sends them back to ``<console origin>/oidc/callback`` with a code. ``sign_in_with_oidc``
exchanges that code, the PKCE verifier and the redirect URI at the provider's ``token_endpoint`` from the server
(so the console's CSP stays same-origin), verifies the ID token as the bearer path does (issuer, audience, keys,
expiry) and its nonce, and signs the e-mail's active user in like ``login``.

Providers and their endpoints are called only at https URLs (plain http to a loopback host outside production,
the same rule as ``jwksUri``). Discovery documents are cached 10 minutes per issuer; a failed fetch is retried
at most every 30 seconds. Failed sign-ins count against the sign-in throttle (per provider and per client).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth import oidc
from services.core.auth.models import IdentityProvider
from services.core.auth.service import SignedIn, Throttle, sign_in_user
from services.core.auth.tokens import ExpiredToken, InvalidToken
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, msg
from services.core.org.models import User
from services.core.tenancy import SLUG_PATTERN, TenantError, TenantRef, resolve_tenant, tenant_session

logger = logging.getLogger("complaintdesk.auth.oidc")

MAX_DOCUMENT_BYTES = 64 * 1024
NOT_ACCEPTED = N_("the sign-in with the identity provider was not accepted; try again")
UNKNOWN_PROVIDER = N_("identity provider not found")
CALLBACK_PATH = "/oidc/callback"  # the console's route; register <console origin>/oidc/callback at the provider
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636: 43-128 unreserved characters


class DiscoveryError(Exception):
    """A discovery document that cannot be fetched or used."""


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str


@dataclass
class DiscoveryCache:
    """``<issuer>/.well-known/openid-configuration`` by issuer: fresh 10 minutes; failures retried after 30 s."""

    ttl_s: float = oidc.CACHE_TTL_S
    min_refetch_s: float = oidc.MIN_REFETCH_S
    timeout_s: float = oidc.FETCH_TIMEOUT_S
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[Endpoints, float]] = field(default_factory=dict)
    _failed: dict[str, float] = field(default_factory=dict)
    fetches: int = 0

    def clear(self) -> None:
        self._entries.clear()
        self._failed.clear()

    async def endpoints(self, issuer: str) -> Endpoints | None:
        now = self.clock()
        hit = self._entries.get(issuer)
        if hit is not None and now - hit[1] < self.ttl_s:
            return hit[0]
        failed = self._failed.get(issuer)
        if failed is not None and now - failed < self.min_refetch_s:
            return None
        try:
            found = _endpoints(issuer, await self._fetch(issuer))
        except (DiscoveryError, httpx.HTTPError, ValueError) as exc:
            logger.warning("OIDC discovery of %s failed: %s", issuer, exc)
            self._entries.pop(issuer, None)
            self._failed[issuer] = now
            return None
        self._failed.pop(issuer, None)
        self._entries[issuer] = (found, now)
        return found

    async def _fetch(self, issuer: str) -> Any:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        if not oidc.allowed_url(url):
            raise DiscoveryError("the issuer is not an https:// URL")
        self.fetches += 1
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:
            response = await client.get(url, headers={"accept": "application/json"})
        if response.status_code != 200:
            raise DiscoveryError(f"HTTP {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise DiscoveryError("the discovery document is larger than 64 KiB")
        return json.loads(response.content)


def _endpoints(issuer: str, document: Any) -> Endpoints:
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise DiscoveryError("the discovery document names another issuer")
    authorization, token = document.get("authorization_endpoint"), document.get("token_endpoint")
    if not isinstance(authorization, str) or not isinstance(token, str):
        raise DiscoveryError("the discovery document has no authorization_endpoint or token_endpoint")
    if not oidc.allowed_url(authorization) or not oidc.allowed_url(token):
        raise DiscoveryError("the provider's endpoints must be https:// URLs")
    return Endpoints(authorization=authorization, token=token)


discovery_cache = DiscoveryCache()


# ---- the providers offered on the sign-in screen ----------------------------------------------------------------


@dataclass(frozen=True)
class SignInProvider:
    id: uuid.UUID
    display_name: str
    authorization_endpoint: str
    client_id: str


async def sign_in_providers(session: AsyncSession, *, cache: DiscoveryCache | None = None) -> list[SignInProvider]:
    """The tenant's active providers with a display name whose discovery document answers (by name)."""
    rows = (await session.execute(
        select(IdentityProvider.id, IdentityProvider.display_name, IdentityProvider.issuer, IdentityProvider.audience)
        .where(IdentityProvider.active.is_(True), IdentityProvider.display_name.is_not(None))
        .order_by(IdentityProvider.display_name)
    )).all()
    offered = []
    for provider_id, display_name, issuer, audience in rows:
        endpoints = await (cache or discovery_cache).endpoints(issuer)
        if endpoints is not None and display_name:
            offered.append(SignInProvider(id=provider_id, display_name=display_name,
                                          authorization_endpoint=endpoints.authorization, client_id=audience))
    return offered


# ---- the code exchange ------------------------------------------------------------------------------------------


def not_accepted() -> DomainError:
    return DomainError(ErrorCode.INVALID_CREDENTIALS, NOT_ACCEPTED)


def unknown_provider() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, UNKNOWN_PROVIDER, ["providerId"])


async def _exchange(provider: IdentityProvider, secret: str | None, token_endpoint: str, *, code: str, verifier: str,
                    redirect_uri: str, timeout_s: float) -> str:
    """The ID token the provider gives for the code, or ``not_accepted``."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": provider.audience}
    headers = {"accept": "application/json"}
    if secret:  # client_secret_basic (RFC 6749 2.3.1): form-encoded id and secret
        pair = f"{quote(provider.audience, safe='')}:{quote(secret, safe='')}".encode()
        headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            response = await client.post(token_endpoint, data=form, headers=headers)
    except httpx.HTTPError as exc:
        logger.warning("OIDC token endpoint of %s unreachable: %s", provider.issuer, type(exc).__name__)
        raise not_accepted() from None
    if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
        logger.info("OIDC token endpoint of %s refused the code (HTTP %s)", provider.issuer, response.status_code)
        raise not_accepted()
    try:
        id_token = json.loads(response.content).get("id_token")
    except (ValueError, AttributeError):
        id_token = None
    if not isinstance(id_token, str):
        raise not_accepted()
    return id_token


def _check_input(code: str, verifier: str, redirect_uri: str, nonce: str) -> None:
    if not code or len(code) > 2000:
        raise DomainError(ErrorCode.INVALID, msg("{field_name} is not valid", field_name="code"), ["code"])
    if not _VERIFIER.fullmatch(verifier):
        raise DomainError(ErrorCode.INVALID, msg("{field_name} is not valid", field_name="codeVerifier"),
                          ["codeVerifier"])
    parts = urlsplit(redirect_uri)
    if len(redirect_uri) > 2000 or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.path != CALLBACK_PATH or parts.query or parts.fragment:
        raise DomainError(ErrorCode.INVALID, msg("{field_name} is not valid", field_name="redirectUri"),
                          ["redirectUri"])
    if not 16 <= len(nonce) <= 200:
        raise DomainError(ErrorCode.INVALID, msg("{field_name} is not valid", field_name="nonce"), ["nonce"])


async def sign_in_with_oidc(
    *, redis: Any, tenant: str, provider_id: uuid.UUID, code: str, code_verifier: str, redirect_uri: str,
    nonce: str, client: str, now: datetime, cache: DiscoveryCache | None = None,
) -> SignedIn:
    """Exchange an authorization code for a sign-in; ``NOT_FOUND`` for a provider the tenant does not have (or
    not active), ``INVALID_CREDENTIALS`` for a refused code, a token that does not verify, a wrong nonce, or an
    e-mail that is no active user here; nothing written then."""
    _check_input(code, code_verifier, redirect_uri, nonce)
    realm = tenant if SLUG_PATTERN.fullmatch(tenant) else "-"
    throttle = Throttle(redis, scope="oidc", realm=realm, account=str(provider_id), client=client)
    await throttle.begin()
    try:
        ref: TenantRef | None = await resolve_tenant(tenant)
    except TenantError:
        ref = None
    if ref is None:
        raise unknown_provider()
    async with tenant_session(ref) as session:
        async with session.begin():
            provider = await session.get(IdentityProvider, provider_id)
            if provider is None or not provider.active:
                raise unknown_provider()
            secret = provider.client_secret  # opened while the session (and its keyring) is at hand
            session.expunge(provider)
        endpoints = await (cache or discovery_cache).endpoints(provider.issuer)
        if endpoints is None:
            raise not_accepted()
        id_token = await _exchange(provider, secret, endpoints.token, code=code, verifier=code_verifier,
                                   redirect_uri=redirect_uri, timeout_s=(cache or discovery_cache).timeout_s)
        try:
            identity = await oidc.verify_external_token(provider, id_token, nonce=nonce)
        except (InvalidToken, ExpiredToken):
            logger.info("OIDC sign-in with %s: the ID token did not verify", provider.issuer)
            raise not_accepted() from None
        async with session.begin():
            user = (await session.scalars(select(User).where(User.email == identity.email))).first()
            if user is None or not user.active:
                raise not_accepted()  # the attempt stays counted
            signed_in = await sign_in_user(session, user=user, tenant=ref, now=now)
    await throttle.succeeded()
    logger.info("sign-in through %s: user %s of tenant %s", provider.issuer, signed_in.user.id, ref.slug)
    return signed_in
