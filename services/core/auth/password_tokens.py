"""One-time set-password tokens: how a user without a password gets one (a new tenant's first admin, a user an
operator made, a reset an operator asked for).

* ``issue_password_token`` makes 32 random bytes (base64url), stores only their SHA-256 with an expiry
  (``COMPLAINTDESK_PASSWORD_TOKEN_HOURS``, 72) and revokes the user's earlier unused tokens: one link works at a
  time. It returns the token and a link for the user, ``<COMPLAINTDESK_PUBLIC_URL>/set-password?tenant=..&token=..``
  (default ``http://127.0.0.1:8000``). Audited (``issue_password_token``: purpose and expiry, never the token).
* ``redeem_password_token`` sets the password (the same rule as ``setPassword``: at least 10 characters) and uses
  the token up, in one transaction; the user's refresh tokens are revoked. An unknown, used, revoked or expired
  token, an inactive user and an unknown or suspended tenant all get the same ``INVALID_TOKEN`` answer, after the
  same argon2 work (the password is hashed before anything is looked up). Attempts are throttled like sign-in
  (``Throttle``, scope ``password_token``: 20 failures per client address in 15 minutes, then ``RATE_LIMITED``),
  since each one costs an argon2 hash. Audited (``redeem_password_token``).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import Actor, record_event
from services.core.auth.models import PasswordToken
from services.core.auth.passwords import hash_password_async, validate_password
from services.core.auth.service import Throttle, revoke_user_refresh_tokens
from services.core.config import ConfigError
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_
from services.core.org.models import User
from services.core.org.service import create_user
from services.core.tenancy import TenantError, resolve_tenant, tenant_session

logger = logging.getLogger("complaintdesk.auth")

ENV_PUBLIC_URL = "COMPLAINTDESK_PUBLIC_URL"
ENV_TTL_HOURS = "COMPLAINTDESK_PASSWORD_TOKEN_HOURS"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_TTL_HOURS = 72
INVALID_TOKEN_MESSAGE = N_("the link is not valid or has expired; ask for a new one")


class TokenPurpose(enum.StrEnum):
    INITIAL = "INITIAL"  # a user made without a password (a tenant's first admin, `user create`)
    RESET = "RESET"  # a new link for an existing user (`user reset-password`)


@dataclass(frozen=True)
class IssuedPasswordToken:
    user_id: uuid.UUID
    email: str
    token: str
    link: str
    expires_at: datetime


def token_ttl() -> timedelta:
    raw = os.environ.get(ENV_TTL_HOURS, "").strip()
    if not raw:
        return timedelta(hours=DEFAULT_TTL_HOURS)
    try:
        hours = int(raw)
    except ValueError:
        hours = 0
    if not 1 <= hours <= 24 * 30:
        raise ConfigError(f"{ENV_TTL_HOURS} must be a whole number of hours from 1 to 720")
    return timedelta(hours=hours)


def set_password_link(tenant: str, token: str) -> str:
    base = (os.environ.get(ENV_PUBLIC_URL, "").strip() or DEFAULT_PUBLIC_URL).rstrip("/")
    return f"{base}/set-password?{urlencode({'tenant': tenant, 'token': token})}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue_password_token(
    session: AsyncSession, *, tenant: str, user: User, actor: Actor, now: datetime,
    purpose: TokenPurpose = TokenPurpose.INITIAL,
) -> IssuedPasswordToken:
    """A new one-time token for ``user`` (in the caller's transaction); the user's unused ones are revoked."""
    ttl = token_ttl()
    await session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None), PasswordToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    row = PasswordToken(user_id=user.id, token_hash=_digest(token), purpose=purpose.value, created_by=actor.label,
                        created_at=now, expires_at=now + ttl)
    session.add(row)
    await session.flush()
    await record_event(session, actor=actor, action="issue_password_token", subject_type="User",
                       subject_id=user.id, now=now,
                       changes={"purpose": purpose.value, "expiresAt": row.expires_at})
    return IssuedPasswordToken(user_id=user.id, email=user.email, token=token,
                               link=set_password_link(tenant, token), expires_at=row.expires_at)


async def issue_for_email(
    session: AsyncSession, *, tenant: str, email: str, actor: Actor, now: datetime,
    purpose: TokenPurpose = TokenPurpose.RESET,
) -> IssuedPasswordToken:
    """A new token for the active user with this e-mail (``NOT_FOUND`` when there is none)."""
    user = (await session.scalars(select(User).where(User.email == email.strip().lower()))).first()
    if user is None or not user.active:
        raise DomainError(ErrorCode.NOT_FOUND, "no active user with this e-mail", ["email"])
    return await issue_password_token(session, tenant=tenant, user=user, actor=actor, now=now, purpose=purpose)


def _invalid() -> DomainError:
    return DomainError(ErrorCode.INVALID_TOKEN, INVALID_TOKEN_MESSAGE, ["token"])


async def redeem_password_token(*, redis: Any, tenant: str, token: str, password: str, client: str,
                                now: datetime) -> User:
    """Set the password of the token's user and use the token up; ``INVALID_TOKEN`` for any bad token."""
    validate_password(password)
    realm = tenant.strip().lower()[:32] or "-"
    throttle = Throttle(redis, scope="password_token", realm=realm, account=_digest(token), client=client)
    await throttle.begin()
    password_hash = await hash_password_async(password)  # before any look-up: every answer costs the same
    try:
        ref = await resolve_tenant(tenant.strip().lower())
    except TenantError:
        raise _invalid() from None
    async with tenant_session(ref) as session, session.begin():
        row = (await session.scalars(
            select(PasswordToken).where(PasswordToken.token_hash == _digest(token)).with_for_update()
        )).first()
        if row is None or row.used_at is not None or row.revoked_at is not None or row.expires_at <= now:
            raise _invalid()
        user = await session.get(User, row.user_id, with_for_update=True)
        if user is None or not user.active:
            raise _invalid()
        row.used_at = now
        user.password_hash = password_hash
        await revoke_user_refresh_tokens(session, user.id, now)
        await session.flush()
        await record_event(session, actor=Actor(user_id=user.id, label=user.email), action="redeem_password_token",
                           subject_type="User", subject_id=user.id, now=now, changes={"purpose": row.purpose})
    await throttle.succeeded()
    logger.info("password set with a one-time token: user %s of tenant %s", user.id, ref.slug)
    return user


@dataclass(frozen=True)
class Onboarded:
    user: User
    setup: IssuedPasswordToken | None
    """The set-password token and link (None when a password was given)."""


async def onboard_user(
    session: AsyncSession, *, tenant: str, email: str, roles: list[str], display_name: str | None, actor: Actor,
    now: datetime, password: str | None = None,
) -> Onboarded:
    """A new user made by an operator (``complaintdesk user create``): with ``password`` they sign in with it,
    else they get a one-time set-password token. Audited (``create_user``: roles, never the e-mail)."""
    password_hash = await hash_password_async(validate_password(password)) if password is not None else None
    name = (display_name or "").strip() or email.strip().lower().partition("@")[0] or email
    user = await create_user(session, email=email, display_name=name, roles=roles)
    await record_event(session, actor=actor, action="create_user", subject_type="User", subject_id=user.id, now=now,
                       changes={"roles": list(user.roles), "password": password is not None})
    if password_hash is not None:
        user.password_hash = password_hash
        await session.flush()
        return Onboarded(user, None)
    return Onboarded(user, await issue_password_token(session, tenant=tenant, user=user, actor=actor, now=now))
