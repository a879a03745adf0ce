"""One row per (principal, Idempotency-Key) of a tenant, kept for a day."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class IdempotencyState:
    IN_PROGRESS = "in_progress"
    DONE = "done"


class IdempotencyKey(TenantBase):
    """A keyed request: reserved (``in_progress``) before it runs, its answer sealed once it is known (``done``).

    ``principal`` is a SHA-256 of who sent it (a user, an external identity, an anonymous client's address), never
    the identity itself; ``fingerprint`` a SHA-256 of the request (query, variables, operation name);
    ``committed`` is set in the same transaction as the request's first write, so a request that died after its
    write committed is never run again. The answer may hold personal data: sealed like any other free text.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'in_progress'"))
    committed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    _response: Mapped[bytes | None] = mapped_column("response", LargeBinary, nullable=True)
    response = encrypted("_response", codec="bytes")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
