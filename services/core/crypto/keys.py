"""Tenant keys: each tenant's data keys and blind-index key, stored only wrapped by the master key.

A tenant has, in the platform table ``tenant_keys``:

* data keys (``purpose = data``), versioned: one ``active`` (new ciphertexts), one ``next`` (made one
  rotation ahead, so every process already holds the key a rotation switches to), and during a
  rotation the ``retiring`` one that older rows still use. When a rotation has re-encrypted every
  row, the retiring key is destroyed: ``wrapped`` becomes NULL and its state ``retired``;
* one blind-index key (``purpose = index``) for HMAC lookups (never rotated: an index cannot be
  recomputed without the plaintext, which the rotation job does not keep).

Each process caches the unwrapped keys per tenant for ``COMPLAINTDESK_KEY_CACHE_SECONDS`` (30).
Writers never trust the cache alone: the first flush of a transaction that writes encrypted values
takes ``FOR SHARE`` on the active key's row (see ``fields``), so starting a rotation (an UPDATE of that
row) waits for them, and a writer that arrives later sees the change and reloads.
"""

from __future__ import annotations

import enum
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import DateTime, Integer, LargeBinary, String, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.master import MasterKeyProvider, UnwrapError, get_master_keys
from services.core.db import PlatformBase, get_engine

logger = logging.getLogger(__name__)

ENV_CACHE_SECONDS = "COMPLAINTDESK_KEY_CACHE_SECONDS"


class KeyPurpose(enum.StrEnum):
    DATA = "data"
    INDEX = "index"


class KeyState(enum.StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


class TenantKey(PlatformBase):
    __tablename__ = "tenant_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_slug: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    master_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class KeyUnavailable(Exception):
    """A ciphertext names a key version this process does not hold (destroyed, or not yet loaded)."""


def cache_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(ENV_CACHE_SECONDS, "30")))
    except ValueError:
        return 30.0


def _wrap_aad(slug: str, purpose: str, version: int) -> bytes:
    return f"complaintdesk|tenant-key|{slug}|{purpose}|{version}".encode()


@dataclass(slots=True)
class Keyring:
    """One tenant's unwrapped keys, as this process holds them."""

    tenant: str
    active_version: int
    active_id: uuid.UUID
    data: dict[int, AESGCM]
    index_key: bytes
    loaded_at: float = field(default_factory=time.monotonic)

    def data_key(self, version: int) -> AESGCM:
        aes = self.data.get(version)
        if aes is None:
            raise KeyUnavailable(f"tenant {self.tenant}: data key version {version} is not available")
        return aes


def load_keyring_sync(conn: Connection, slug: str, provider: MasterKeyProvider | None = None) -> Keyring:
    """Read and unwrap every live key of ``slug`` (works on a sync connection or inside ``run_sync``)."""
    kms = provider or get_master_keys()
    rows = conn.execute(
        select(TenantKey.id, TenantKey.purpose, TenantKey.version, TenantKey.state, TenantKey.wrapped,
               TenantKey.master_key_id)
        .where(TenantKey.tenant_slug == slug, TenantKey.wrapped.is_not(None))
    ).all()
    data: dict[int, AESGCM] = {}
    index_key: bytes | None = None
    active: tuple[int, uuid.UUID] | None = None
    for key_id, purpose, version, state, wrapped, master_id in rows:
        raw = kms.unwrap(master_id or "", wrapped or b"", _wrap_aad(slug, purpose, version))
        if purpose == KeyPurpose.DATA:
            data[version] = AESGCM(raw)
            if state == KeyState.ACTIVE:
                active = (version, key_id)
        elif purpose == KeyPurpose.INDEX:
            index_key = raw
    if active is None or index_key is None:
        raise KeyUnavailable(f"tenant {slug} has no keys (run `complaintdesk migrate`)")
    ring = Keyring(tenant=slug, active_version=active[0], active_id=active[1], data=data, index_key=index_key)
    _cache[slug] = ring
    return ring


_cache: dict[str, Keyring] = {}


def forget_keyring(slug: str | None = None) -> None:
    if slug is None:
        _cache.clear()
    else:
        _cache.pop(slug, None)


async def get_keyring(slug: str) -> Keyring:
    """The cached keyring of ``slug``, reloaded when older than the cache period."""
    ring = _cache.get(slug)
    if ring is not None and time.monotonic() - ring.loaded_at < cache_seconds():
        return ring
    async with get_engine().connect() as conn:
        return await conn.run_sync(load_keyring_sync, slug)


def _new_key_row(slug: str, purpose: KeyPurpose, version: int, state: KeyState, kms: MasterKeyProvider,
                 now: datetime | None = None) -> dict[str, object]:
    master_id, wrapped = kms.wrap(os.urandom(32), _wrap_aad(slug, purpose, version))
    return {"id": uuid.uuid4(), "tenant_slug": slug, "purpose": purpose.value, "version": version,
            "state": state.value, "wrapped": wrapped, "master_key_id": master_id,
            "activated_at": now if state == KeyState.ACTIVE else None}


def create_tenant_keys_sync(conn: Connection, slug: str) -> bool:
    """Give ``slug`` its first keys unless it has some (part of the caller's transaction)."""
    if conn.execute(select(TenantKey.id).where(TenantKey.tenant_slug == slug).limit(1)).first() is not None:
        return False
    kms = get_master_keys()
    now = conn.execute(select(func.now())).scalar_one()
    conn.execute(insert(TenantKey), [
        _new_key_row(slug, KeyPurpose.DATA, 1, KeyState.ACTIVE, kms, now),
        _new_key_row(slug, KeyPurpose.DATA, 2, KeyState.NEXT, kms),
        _new_key_row(slug, KeyPurpose.INDEX, 1, KeyState.ACTIVE, kms, now),
    ])
    forget_keyring(slug)
    return True


def add_next_key_sync(conn: Connection, slug: str, version: int) -> None:
    conn.execute(insert(TenantKey), [_new_key_row(slug, KeyPurpose.DATA, version, KeyState.NEXT,
                                                              get_master_keys())])


def destroy_tenant_keys_sync(conn: Connection, slug: str) -> int:
    """Crypto-shred a whole tenant: its keys are deleted, so nothing of it can be read again."""
    deleted = conn.execute(delete(TenantKey).where(TenantKey.tenant_slug == slug)).rowcount
    forget_keyring(slug)
    return int(deleted or 0)


async def rewrap_all(provider: MasterKeyProvider | None = None) -> int:
    """Master-key rotation: re-wrap every live key not wrapped by the current master key.

    No data is touched; one transaction. Returns how many keys were re-wrapped.
    """
    kms = provider or get_master_keys()
    async with get_engine().begin() as conn:
        rows = (await conn.execute(
            select(TenantKey.id, TenantKey.tenant_slug, TenantKey.purpose, TenantKey.version, TenantKey.wrapped,
                   TenantKey.master_key_id)
            .where(TenantKey.wrapped.is_not(None), TenantKey.master_key_id != kms.current_key_id)
            .with_for_update()
        )).all()
        for key_id, slug, purpose, version, wrapped, master_id in rows:
            aad = _wrap_aad(slug, purpose, version)
            new_id, rewrapped = kms.wrap(kms.unwrap(master_id or "", wrapped or b"", aad), aad)
            await conn.execute(update(TenantKey).where(TenantKey.id == key_id)
                               .values(wrapped=rewrapped, master_key_id=new_id))
    logger.info("master key rotation: %d tenant keys re-wrapped under master key %s", len(rows), kms.current_key_id)
    return len(rows)


class MasterKeyMismatch(Exception):
    pass


async def verify_master_key(provider: MasterKeyProvider | None = None) -> None:
    """Start-up check: every stored key must open with the configured master key(s).

    Raises ``MasterKeyMismatch`` with a message that says which key ids are stored and which are configured.
    """
    kms = provider or get_master_keys()
    async with get_engine().connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('public.tenant_keys') IS NOT NULL"))
        if not exists:
            return
        rows = (await conn.execute(
            select(TenantKey.master_key_id, TenantKey.tenant_slug, TenantKey.purpose, TenantKey.version,
                   TenantKey.wrapped)
            .where(TenantKey.wrapped.is_not(None))
            .distinct(TenantKey.master_key_id)
            .order_by(TenantKey.master_key_id)
        )).all()
    known = kms.known_key_ids()
    for master_id, slug, purpose, version, wrapped in rows:
        if master_id not in known:
            raise MasterKeyMismatch(
                f"the configured master key does not match the stored tenant keys: they are wrapped by master key "
                f"{master_id}, and this process has {', '.join(sorted(known))}. Set COMPLAINTDESK_MASTER_KEY (or "
                f"COMPLAINTDESK_MASTER_KEY_FILE) to the key in use; during a rotation put the old key in "
                f"COMPLAINTDESK_MASTER_KEY_PREVIOUS and run `complaintdesk keys rotate-master`"
            )
        try:
            kms.unwrap(master_id, wrapped or b"", _wrap_aad(slug, purpose, version))
        except UnwrapError as exc:
            raise MasterKeyMismatch(f"master key {master_id} does not open the stored tenant keys: {exc}") from exc
