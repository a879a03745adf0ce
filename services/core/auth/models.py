from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import PlatformBase, TenantBase


class RefreshToken(TenantBase):
    """A refresh token, stored only as its SHA-256; rotated on use, revocable per family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PasswordToken(TenantBase):
    """A one-time set-password token (a new tenant's first admin, a user made or reset by an operator), stored
    only as its SHA-256; good once, until ``expires_at``, unless a newer one for the user revoked it."""

    __tablename__ = "password_tokens"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class IdentityProvider(TenantBase):
    """An external OpenID Connect issuer this tenant trusts (its JWKS by URI or inline). One with a
    ``display_name`` is offered on the console's sign-in screen (authorization code with PKCE, t0023)."""

    __tablename__ = "identity_providers"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    issuer: Mapped[str] = mapped_column(String(500), unique=True)
    audience: Mapped[str] = mapped_column(String(500))
    jwks_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    email_claim: Mapped[str] = mapped_column(String(100), server_default=text("'email'"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    display_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    _client_secret: Mapped[bytes | None] = mapped_column("client_secret", LargeBinary, nullable=True)
    client_secret = encrypted("_client_secret")  # a confidential client's secret: sealed, never returned

    @property
    def has_client_secret(self) -> bool:
        return self._client_secret is not None


class Operator(PlatformBase):
    """A platform operator: not a tenant user; creates and suspends tenants, rotates keys."""

    __tablename__ = "operators"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PolicyRule(TenantBase):
    """One Casbin policy line of this tenant (``p, role, domain, action, relation, effect``)."""

    __tablename__ = "policy_rules"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ptype: Mapped[str] = mapped_column(String(8))
    v0: Mapped[str] = mapped_column(String(255))
    v1: Mapped[str] = mapped_column(String(255))
    v2: Mapped[str] = mapped_column(String(255))
    v3: Mapped[str] = mapped_column(String(255))
    v4: Mapped[str] = mapped_column(String(255))


class PolicyState(TenantBase):
    """One row: bumped whenever the tenant's policies or role assignments change."""

    __tablename__ = "policy_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PolicyVersion(TenantBase):
    """Every rule set the tenant has had, in order: seeded, set, restored from an earlier one, or reset by an
    operator to the template's defaults. ``rules`` holds ``[role, action, relation, effect]`` lines."""

    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[list[list[str]]] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(16))
    restored_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
