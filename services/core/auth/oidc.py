"""External OpenID Connect issuers a tenant trusts, and the verification of their ID/access tokens.

A tenant registers an issuer with the audience its tokens must carry, the issuer's keys
(a JWKS URI, or a JWKS inline) and the claim holding the e-mail address. A token of that
issuer is accepted when its signature verifies with one of those keys (RS256, ES256 or
EdDSA; the algorithm is the key's, never the token's choice), its ``aud`` is the audience,
it has not expired, and the e-mail names an active user of the tenant.

Key sets fetched from a URI are cached 10 minutes per URI. A token signed with a key the
cache does not know triggers a refetch, at most once per 30 seconds per URI, so an issuer
that rotates its keys is followed quickly and a flood of made-up key ids costs one fetch
per 30 seconds.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.models import IdentityProvider
from services.core.auth.tokens import ISSUER as OUR_ISSUER
from services.core.auth.tokens import MAX_TOKEN_LENGTH, ExpiredToken, InvalidToken, peek_issuer
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg

logger = logging.getLogger("complaintdesk.auth.oidc")

ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
CACHE_TTL_S = 600.0
MIN_REFETCH_S = 30.0
FETCH_TIMEOUT_S = 5.0
MAX_JWKS_BYTES = 256 * 1024
LEEWAY_S = 30  # clock skew with the identity provider
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CLAIM = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,99}$")


class JwksError(Exception):
    """A key set that cannot be fetched or used."""


def parse_jwks(document: Any) -> dict[str | None, jwt.PyJWK]:
    """The usable public signing keys of a JWKS document, by ``kid``. Private or symmetric keys are never used."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError("a JWKS is an object with a list of keys")
    keys: dict[str | None, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or _PRIVATE_MEMBERS & entry.keys():
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(dict(entry))
        except jwt.PyJWTError:
            continue
        if key.algorithm_name not in ALGORITHMS:
            continue
        kid = entry.get("kid")
        keys[kid if isinstance(kid, str) else None] = key
    if not keys:
        raise JwksError("the JWKS holds no usable public signing key (RS256, ES256 or EdDSA)")
    return keys


def _pick(keys: Mapping[str | None, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None  # no kid: only an unambiguous key will do


@dataclass
class _Entry:
    keys: dict[str | None, jwt.PyJWK]
    fetched_at: float


@dataclass
class JwksCache:
    """Key sets by URI: fresh for ``ttl_s``; refetched for an unknown ``kid`` at most every ``min_refetch_s``."""

    ttl_s: float = CACHE_TTL_S
    min_refetch_s: float = MIN_REFETCH_S
    timeout_s: float = FETCH_TIMEOUT_S
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _attempts: dict[str, float] = field(default_factory=dict)
    fetches: int = 0  # for tests and metrics

    def clear(self) -> None:
        self._entries.clear()
        self._attempts.clear()

    async def key_for(self, uri: str, kid: str | None) -> jwt.PyJWK | None:
        now = self.clock()
        entry = self._entries.get(uri)
        if entry is None or now - entry.fetched_at >= self.ttl_s:
            entry = await self._refresh(uri, now)
            if entry is None:
                return None
        key = _pick(entry.keys, kid)
        if key is None:
            entry = await self._refresh(uri, now)
            key = _pick(entry.keys, kid) if entry is not None else None
        return key

    async def _refresh(self, uri: str, now: float) -> _Entry | None:
        last = self._attempts.get(uri)
        if last is not None and now - last < self.min_refetch_s:  # failed fetches are not retried sooner either
            entry = self._entries.get(uri)
            return entry if entry is not None and now - entry.fetched_at < self.ttl_s else None
        self._attempts[uri] = now
        try:
            keys = parse_jwks(await self._fetch(uri))
        except (JwksError, httpx.HTTPError, ValueError) as exc:
            logger.warning("JWKS %s could not be fetched or used: %s", uri, exc)
            self._entries.pop(uri, None)  # fail closed: no stale keys past a failed refresh
            return None
        entry = _Entry(keys=keys, fetched_at=now)
        self._entries[uri] = entry
        return entry

    async def _fetch(self, uri: str) -> Any:
        self.fetches += 1
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as client:  # noqa: SIM117
            async with client.stream("GET", uri, headers={"accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise JwksError(f"HTTP {response.status_code}")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksError("the JWKS is larger than 256 KiB")
        return json.loads(body)


jwks_cache = JwksCache()


# ---- verification -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExternalIdentity:
    issuer: str
    email: str


async def provider_for(session: AsyncSession, token: str) -> IdentityProvider:
    """The tenant's active identity provider that issued ``token`` (``session`` is bound to the tenant)."""
    issuer = peek_issuer(token)
    if issuer is None or issuer == OUR_ISSUER or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    provider = (
        await session.scalars(
            select(IdentityProvider).where(IdentityProvider.issuer == issuer, IdentityProvider.active.is_(True))
        )
    ).first()
    if provider is None:
        raise InvalidToken()
    return provider


async def verify_external_token(
    provider: IdentityProvider, token: str, *, cache: JwksCache | None = None, nonce: str | None = None
) -> ExternalIdentity:
    """Verify ``token`` with ``provider``'s keys, audience and issuer; the e-mail address it names. With
    ``nonce`` (an ID token from the sign-in's code exchange) its ``nonce`` claim must be exactly that."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidToken() from None
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in ALGORITHMS or (kid is not None and not isinstance(kid, str)):
        raise InvalidToken()
    key: jwt.PyJWK | None
    if provider.jwks is not None:
        try:
            key = _pick(parse_jwks(provider.jwks), kid)
        except JwksError:
            key = None
    elif provider.jwks_uri:
        key = await (cache or jwks_cache).key_for(provider.jwks_uri, kid)
    else:
        key = None
    if key is None or key.algorithm_name != algorithm:
        raise InvalidToken()
    try:
        claims = jwt.decode(
            token, key, algorithms=[algorithm], audience=provider.audience, issuer=provider.issuer,
            leeway=LEEWAY_S, options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise ExpiredToken() from None
    except jwt.PyJWTError:
        raise InvalidToken() from None
    if nonce is not None:
        claimed = claims.get("nonce")
        if not isinstance(claimed, str) or not hmac.compare_digest(claimed.encode(), nonce.encode()):
            raise InvalidToken()
    email = claims.get(provider.email_claim)
    if not isinstance(email, str) or "@" not in email or len(email) > 254 or claims.get("email_verified") is False:
        raise InvalidToken()
    return ExternalIdentity(issuer=provider.issuer, email=email.strip().lower())


# ---- administration ---------------------------------------------------------------------------------------------


async def list_identity_providers(session: AsyncSession) -> list[IdentityProvider]:
    return list((await session.scalars(select(IdentityProvider).order_by(IdentityProvider.issuer))).all())


def _loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def allowed_url(uri: str) -> bool:
    """An identity provider's URL the platform may call: https; plain http only to a loopback host and only
    outside production (a provider in the tests or on a developer's machine)."""
    parts = urlsplit(uri)
    production = os.environ.get("COMPLAINTDESK_ENV", "production").strip() in ("", "production")
    if len(uri) > 2000 or not parts.hostname or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and not production and _loopback(parts.hostname))


def _check_jwks_uri(uri: str) -> str:
    cleaned = uri.strip()
    if allowed_url(cleaned):
        return cleaned
    raise DomainError(ErrorCode.INVALID, "jwksUri must be an https:// URL", ["jwksUri"])


def _text(value: str, field_name: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise DomainError(ErrorCode.REQUIRED, msg("{field_name} is required", field_name=field_name), [field_name])
    if len(cleaned) > limit:
        raise DomainError(
            ErrorCode.TOO_LONG, msg("{field_name} is longer than {limit} characters",
                field_name=field_name, limit=limit), [field_name])
    if any(c.isspace() for c in cleaned):
        raise DomainError(
            ErrorCode.INVALID, msg("{field_name} must not contain spaces", field_name=field_name), [field_name])
    return cleaned


async def upsert_identity_provider(
    session: AsyncSession,
    *,
    issuer: str,
    audience: str,
    jwks_uri: str | None = None,
    jwks: Any = None,
    email_claim: str = "email",
    active: bool = True,
    display_name: str | None = None,
    client_secret: str | None = None,
    clear_client_secret: bool = False,
) -> IdentityProvider:
    """Register the issuer, or update it in place (the issuer is the key). ``display_name``: offered on the
    console's sign-in screen under that name (None: not offered). ``client_secret``: a confidential client's
    secret, sealed (None keeps the stored one; ``clear_client_secret`` removes it)."""
    issuer = _text(issuer, "issuer", 500)
    if issuer == OUR_ISSUER:
        raise DomainError(
            ErrorCode.INVALID, msg("{our_issuer} is the platform's own issuer",
                our_issuer=repr(OUR_ISSUER)), ["issuer"])
    audience = _text(audience, "audience", 500)
    if not _CLAIM.fullmatch(email_claim):
        raise DomainError(ErrorCode.INVALID, "emailClaim must be a claim name", ["emailClaim"])
    if (jwks_uri is None) == (jwks is None):
        raise DomainError(ErrorCode.INVALID, "give exactly one of jwksUri and jwks", ["jwksUri"])
    if jwks_uri is not None:
        jwks_uri = _check_jwks_uri(jwks_uri)
    else:
        if not isinstance(jwks, Mapping) or len(json.dumps(jwks)) > MAX_JWKS_BYTES:
            raise DomainError(ErrorCode.INVALID, "jwks must be a JWKS object of at most 256 KiB", ["jwks"])
        if any(isinstance(k, Mapping) and _PRIVATE_MEMBERS & k.keys() for k in jwks.get("keys") or []):
            raise DomainError(ErrorCode.INVALID, "jwks must hold public keys only", ["jwks"])
        try:
            parse_jwks(jwks)
        except JwksError as exc:
            raise DomainError(ErrorCode.INVALID, str(exc), ["jwks"]) from None
        jwks = dict(jwks)
    if display_name is not None:
        display_name = display_name.strip() or None
        if display_name is not None and len(display_name) > 100:
            raise DomainError(
                ErrorCode.TOO_LONG, msg("{field_name} is longer than {limit} characters",
                    field_name="displayName", limit=100), ["displayName"])
    if client_secret is not None:
        client_secret = _text(client_secret, "clientSecret", 500)
    provider = (
        await session.scalars(select(IdentityProvider).where(IdentityProvider.issuer == issuer).with_for_update())
    ).first()
    if provider is None:
        provider = IdentityProvider(id=uuid.uuid4(), issuer=issuer)  # the id binds the sealed secret
        session.add(provider)
    provider.audience = audience
    provider.display_name = display_name
    if clear_client_secret:
        provider.client_secret = None
    elif client_secret is not None:
        provider.client_secret = client_secret
    provider.jwks_uri = jwks_uri
    provider.jwks = jwks
    provider.email_claim = email_claim
    provider.active = active
    await session.flush()
    await session.refresh(provider)
    return provider

