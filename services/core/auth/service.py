"""Sign-in of a tenant's staff: passwords, login throttling, refresh tokens.

* ``login`` checks the throttle, then the password, and answers every kind of failure
  (unknown tenant, unknown e-mail, no password, wrong password, inactive user) with the
  same ``INVALID_CREDENTIALS`` error after the same work (a dummy hash when there is no
  account), so neither the answer nor its timing tells which it was.
* Refresh tokens are ``<tenant>.<32 random bytes, base64url>``; only their SHA-256 is
  stored. Each use rotates the token (the old one is marked used, a new one of the same
  family issued); presenting a used token again revokes its whole family (someone has a
  copy). ``logout`` revokes the family.
* The throttle counts failures in Redis under the queue namespace: 5 per (tenant, e-mail)
  and 20 per (tenant, client address) in 15 minutes. Each attempt is counted before the
  password is checked (so parallel guesses cannot slip past) and given back when it
  succeeds or is refused unchecked; a success also clears the e-mail's count. When
  Redis cannot be reached, sign-in fails closed: refused with ``ServiceUnavailable`` (the API's 503
  ``SERVICE_UNAVAILABLE``), never let through unthrottled and never called a rate limit. A per-process
  fallback counter was rejected: with N processes behind a balancer it multiplies the budget by N and
  forgets on every restart, which is what an attacker waits for.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.models import PolicyState, RefreshToken
from services.core.auth.passwords import (
    hash_password_async,
    validate_password,
    verify_password_async,
)
from services.core.auth.tokens import IssuedToken, issue_access_token
from services.core.config import get_settings
from services.core.errors import DomainError, ErrorCode
from services.core.faults import ServiceUnavailable
from services.core.i18n import N_, msg
from services.core.org.models import User
from services.core.ratelimit import Limit, count_in_window, digest, env_limit
from services.core.tenancy import SLUG_PATTERN, TenantError, TenantRef, resolve_tenant, tenant_session

logger = logging.getLogger("complaintdesk.auth")

INVALID_CREDENTIALS_MESSAGE = N_("e-mail or password is wrong")
INVALID_REFRESH_MESSAGE = N_("the refresh token is not valid; sign in again")
REFRESH_TTL = timedelta(days=30)


# ---- throttle ---------------------------------------------------------------------------------------------------


LOGIN_PER_ACCOUNT = env_limit("login_account", 5, 900)
LOGIN_PER_CLIENT = env_limit("login_client", 20, 900)


class Throttle:
    """Failed sign-ins of one account from anywhere, and of anyone from one client address."""

    def __init__(self, redis: Any, *, scope: str, realm: str, account: str, client: str) -> None:
        namespace = get_settings().queue_namespace
        base = f"{namespace}:login:{scope}:{realm}"
        self._redis = redis
        self._keys: list[tuple[str, Limit]] = [  # keyed hashes: no e-mail or client addresses in Redis keys
            (f"{base}:account:{digest(account)}", LOGIN_PER_ACCOUNT),
            (f"{base}:client:{digest(client)}", LOGIN_PER_CLIENT),
        ]

    async def begin(self) -> None:
        """Count this attempt; raise ``RATE_LIMITED`` (giving the attempt back) when a budget is spent."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key, limit in self._keys:
                    count_in_window(pipe, key, limit)
                replies = await pipe.execute()
        except Exception as exc:  # fail closed, and say why: the throttle cannot count, nobody was limited
            logger.warning("login throttle unavailable (%s): refusing the sign-in", type(exc).__name__)
            raise ServiceUnavailable("redis", "sign-in is temporarily unavailable; try again shortly") from exc
        waits = [
            max(int(replies[3 * i + 2]), 1)
            for i, (_, limit) in enumerate(self._keys)
            if int(replies[3 * i + 1]) > limit.count
        ]
        if waits:
            await self._give_back()
            raise _rate_limited(max(waits))

    async def succeeded(self) -> None:
        """The account's failures are forgiven; the client's budget gets this attempt back."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._keys[0][0])
                pipe.decr(self._keys[1][0])
                await pipe.execute()
        except Exception as exc:
            logger.warning("login throttle unavailable after a sign-in (%s)", type(exc).__name__)

    async def _give_back(self) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key, _ in self._keys:
                    pipe.decr(key)
                await pipe.execute()
        except Exception as exc:
            logger.warning("login throttle unavailable (%s)", type(exc).__name__)


def _rate_limited(retry_after_s: int) -> DomainError:
    return DomainError(
        ErrorCode.RATE_LIMITED,
        msg("too many failed sign-in attempts; try again in {retry_after_s} seconds", retry_after_s=retry_after_s),
        retry_after_s=retry_after_s,
    )


def invalid_credentials(message: str = INVALID_CREDENTIALS_MESSAGE) -> DomainError:
    return DomainError(ErrorCode.INVALID_CREDENTIALS, message)


# ---- refresh tokens ---------------------------------------------------------------------------------------------


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _split_refresh_token(token: str) -> tuple[str, str] | None:
    slug, dot, secret = token.partition(".")
    if not dot or not SLUG_PATTERN.fullmatch(slug) or not 40 <= len(secret) <= 64:
        return None
    return slug, secret


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str
    expires_at: datetime


async def _new_refresh_token(
    session: AsyncSession, *, tenant: TenantRef, user_id: uuid.UUID, family_id: uuid.UUID | None, now: datetime
) -> IssuedRefreshToken:
    token = f"{tenant.slug}.{secrets.token_urlsafe(32)}"
    row = RefreshToken(
        user_id=user_id, family_id=family_id or uuid.uuid4(), token_hash=hash_refresh_token(token),
        issued_at=now, expires_at=now + REFRESH_TTL,
    )
    session.add(row)
    await session.flush()
    return IssuedRefreshToken(token=token, expires_at=row.expires_at)


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def _find_refresh_token(session: AsyncSession, token: str) -> RefreshToken | None:
    digest = hash_refresh_token(token)
    row = (
        await session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest).with_for_update())
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row


# ---- sign-in ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    user: User
    tenant: TenantRef
    access: IssuedToken
    refresh: IssuedRefreshToken


def _access_for(user: User, tenant: TenantRef, now: datetime) -> IssuedToken:
    return issue_access_token(user_id=user.id, tenant=tenant.slug, roles=list(user.roles), now=now)


async def login(*, redis: Any, tenant: str, email: str, password: str, client: str, now: datetime) -> SignedIn:
    """Staff sign-in: a new token pair, or ``INVALID_CREDENTIALS`` / ``RATE_LIMITED`` (nothing written)."""
    normalized = email.strip().lower()[:254]
    realm = tenant if SLUG_PATTERN.fullmatch(tenant) else "-"
    throttle = Throttle(redis, scope="staff", realm=realm, account=normalized, client=client)
    await throttle.begin()
    try:
        ref: TenantRef | None = await resolve_tenant(tenant)
    except TenantError:
        ref = None  # unknown, malformed or suspended: the same answer as a wrong password
    if ref is None:
        await verify_password_async(None, password)
        raise invalid_credentials()  # the attempt stays counted
    async with tenant_session(ref) as session:
        async with session.begin():
            user = None
            if "\x00" not in normalized:  # PostgreSQL cannot hold a NUL: no account has one
                user = (await session.scalars(select(User).where(User.email == normalized))).first()
        # the slow hash runs outside any transaction: no connection waits on it
        verification = await verify_password_async(user.password_hash if user is not None else None, password)
        if user is None or not verification.ok or not user.active:
            raise invalid_credentials()  # the attempt stays counted
        async with session.begin():
            session.add(user)
            if verification.new_hash is not None:
                user.password_hash = verification.new_hash
            refresh = await _new_refresh_token(session, tenant=ref, user_id=user.id, family_id=None, now=now)
    signed_in = SignedIn(user=user, tenant=ref, access=_access_for(user, ref, now), refresh=refresh)
    await throttle.succeeded()
    logger.info("sign-in: user %s of tenant %s", signed_in.user.id, ref.slug)
    return signed_in


async def sign_in_user(session: AsyncSession, *, user: User, tenant: TenantRef, now: datetime) -> SignedIn:
    """A new token pair for ``user``, who proved who they are some other way (an identity provider's ID token);
    ``session`` is the tenant's, in a transaction that the caller commits."""
    refresh_token = await _new_refresh_token(session, tenant=tenant, user_id=user.id, family_id=None, now=now)
    return SignedIn(user=user, tenant=tenant, access=_access_for(user, tenant, now), refresh=refresh_token)


async def _tenant_of_refresh_token(token: str, expected_tenant: str | None) -> TenantRef:
    parts = _split_refresh_token(token)
    if parts is None or (expected_tenant is not None and parts[0] != expected_tenant):
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, INVALID_REFRESH_MESSAGE)
    try:
        return await resolve_tenant(parts[0])
    except TenantError:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, INVALID_REFRESH_MESSAGE) from None


async def refresh(*, token: str, now: datetime, expected_tenant: str | None = None) -> SignedIn:
    """Rotate a refresh token: a new pair, the old token used. Reuse of a used token revokes its family."""
    ref = await _tenant_of_refresh_token(token, expected_tenant)
    signed_in: SignedIn | None = None
    # one transaction that commits the revocations below even when the refresh is refused
    async with tenant_session(ref) as session, session.begin():
        row = await _find_refresh_token(session, token)
        if row is None or row.revoked_at is not None:
            pass
        elif row.used_at is not None:
            logger.warning("refresh token reused: family %s of tenant %s revoked", row.family_id, ref.slug)
            await _revoke_family(session, row.family_id, now)
        elif row.expires_at <= now:
            pass
        else:
            user = await session.get(User, row.user_id)
            if user is None or not user.active:
                await _revoke_family(session, row.family_id, now)
            else:
                row.used_at = now
                new = await _new_refresh_token(session, tenant=ref, user_id=user.id, family_id=row.family_id, now=now)
                signed_in = SignedIn(user=user, tenant=ref, access=_access_for(user, ref, now), refresh=new)
    if signed_in is None:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, INVALID_REFRESH_MESSAGE)
    return signed_in


async def logout(*, token: str, now: datetime, expected_tenant: str | None = None) -> None:
    """Revoke the refresh token's family (this sign-in on every device that refreshed from it)."""
    ref = await _tenant_of_refresh_token(token, expected_tenant)
    async with tenant_session(ref) as session, session.begin():
        row = await _find_refresh_token(session, token)
        if row is not None:
            await _revoke_family(session, row.family_id, now)
    if row is None:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, INVALID_REFRESH_MESSAGE)


# ---- passwords and viewers --------------------------------------------------------------------------------------


async def set_password(session: AsyncSession, *, user_id: uuid.UUID, password: str, now: datetime) -> User:
    """Set a user's password (argon2id) and revoke their refresh tokens: other sessions must sign in again."""
    validate_password(password)
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", ["userId"])
    user.password_hash = await hash_password_async(password)
    await revoke_user_refresh_tokens(session, user.id, now)
    await session.flush()
    return user


def _active_user_select(condition: Any) -> Any:
    version = select(PolicyState.version).where(PolicyState.id == 1).scalar_subquery().label("policy_version")
    return select(User.id, User.email, User.roles, User.org_unit_id, version, User.locale).where(
        condition, User.active.is_(True))


def active_user_statement(user_id: uuid.UUID) -> Any:
    """The SELECT ``active_user`` runs for ``user_id`` (columns ``id, email, roles, org_unit_id, policy_version,
    locale``; no row: no such active user), for a statement that reads the viewer with its own work in one round
    trip (the compiled plans, services/api/compiled.py)."""
    return _active_user_select(User.id == user_id)


# Built once (a statement per request costs its construction and SQLAlchemy's cache-key walk)
_ACTIVE_BY_ID = _active_user_select(User.id == bindparam("user_id"))
_ACTIVE_BY_EMAIL = _active_user_select(User.email == bindparam("email"))


@dataclass(frozen=True, slots=True)
class ActiveUser:
    """An active user as a request sees them, with the tenant's policy version read in the same statement."""

    id: uuid.UUID
    email: str
    roles: tuple[str, ...]
    org_unit_id: uuid.UUID | None
    policy_version: int
    locale: str | None = None  # the language they chose (None: their request's, else the tenant's default)


async def active_user(
    session: AsyncSession, *, user_id: uuid.UUID | None = None, email: str | None = None
) -> ActiveUser | None:
    """The active user with this id (or e-mail), or None; one round trip for the user and the policy version
    (what authorization needs next: ``authz.complaint_access`` takes both instead of reading them again)."""
    connection = await session.connection()  # Core execution: plain columns, no ORM result machinery
    if user_id is not None:
        row = (await connection.execute(_ACTIVE_BY_ID, {"user_id": user_id})).first()
    else:
        normalized = (email or "").strip().lower()
        if not normalized or len(normalized) > 254:
            return None
        row = (await connection.execute(_ACTIVE_BY_EMAIL, {"email": normalized})).first()
    if row is None:
        return None
    return ActiveUser(id=row[0], email=row[1], roles=tuple(row[2]), org_unit_id=row[3], policy_version=int(row[4] or 0),
                      locale=row[5])
