"""Encrypted columns, declared once on the model, and blind indexes.

A model declares a sensitive field with ``encrypted``::

    _name: Mapped[bytes] = mapped_column("name", LargeBinary)
    name = encrypted("_name", subject=True)

Reading ``obj.name`` decrypts; assigning stores the plaintext until the flush, where one
``before_flush`` hook seals every pending value with the tenant's active data key (after locking
that key's row ``FOR SHARE``, see ``keys``). Services never call the cipher themselves.

Ciphertext layout (bytea):

* ``0x01 | version (4 bytes, big-endian) | nonce (12) | AES-256-GCM ciphertext+tag``: the tenant's
  data key of that version;
* ``0x02 | nonce (12) | ciphertext+tag``: the row's own subject key (a complainant's identifying
  fields), itself stored in the row sealed with the tenant's data key. Destroying that one
  wrapped key (``complainants.subject_key``) erases the person everywhere the ciphertexts went.

Associated data binds tenant, table, column and row id: a ciphertext copied to another row,
column or tenant fails to open; the failure is logged (where, never what) and surfaces in the API
as an internal error.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import event, select
from sqlalchemy.orm import Session, UOWTransaction, object_session

from services.core.crypto.keys import Keyring, KeyState, KeyUnavailable, TenantKey, load_keyring_sync

logger = logging.getLogger(__name__)

TENANT_KEYED = 1
SUBJECT_KEYED = 2
SUBJECT_KEY_COLUMN = "subject_key"


class DecryptionError(Exception):
    """A ciphertext does not open here; the message names the place, never the content."""


@functools.lru_cache(maxsize=4096)
def _aad_prefix(tenant: str, table: str, column: str) -> bytes:
    return f"cd1|{tenant}|{table}|{column}|".encode()


def aad_prefix(tenant: str, table: str, column: str) -> bytes:
    """``aad(tenant, table, column, row_id)`` less the row id: a batch of rows adds each row's id to it."""
    return _aad_prefix(tenant, table, column)


def aad(tenant: str, table: str, column: str, row_id: uuid.UUID | int | str) -> bytes:
    """The associated data of a sealed value: where it belongs (a UUID row id as its 16 bytes)."""
    rid = row_id.bytes if isinstance(row_id, uuid.UUID) else str(row_id).encode()
    return _aad_prefix(tenant, table, column) + rid


def seal(ring: Keyring, plaintext: bytes, ad: bytes) -> bytes:
    nonce = os.urandom(12)
    return (bytes((TENANT_KEYED,)) + ring.active_version.to_bytes(4, "big") + nonce
            + ring.data_key(ring.active_version).encrypt(nonce, plaintext, ad))


def seal_with(key: AESGCM, plaintext: bytes, ad: bytes) -> bytes:
    nonce = os.urandom(12)
    return bytes((SUBJECT_KEYED,)) + nonce + key.encrypt(nonce, plaintext, ad)


def version_of(blob: bytes) -> int | None:
    """The data-key version of a tenant-keyed ciphertext (None for subject-keyed ones)."""
    return int.from_bytes(blob[1:5], "big") if blob[:1] == b"\x01" else None


def _where(ad: bytes) -> str:
    """``table|column|row`` of an associated data value, for the log (never the content)."""
    parts = ad.split(b"|", 4)
    if len(parts) < 5:
        return "?"
    rid = parts[4]
    row = str(uuid.UUID(bytes=rid)) if len(rid) == 16 else rid.decode(errors="replace")
    return f"{parts[2].decode(errors='replace')}|{parts[3].decode(errors='replace')}|{row}"


def _fail(ring: Keyring, ad: bytes, why: str) -> DecryptionError:
    where = _where(ad)
    logger.error("ciphertext does not decrypt (tenant %s, %s): %s", ring.tenant, where, why)
    return DecryptionError(f"a stored value does not decrypt ({where})")


def open_sealed(ring: Keyring, blob: bytes, ad: bytes, subject_key: AESGCM | None = None) -> bytes:
    try:
        if blob[:1] == b"\x01":
            aes = ring.data.get(int.from_bytes(blob[1:5], "big"))
            if aes is None:
                raise _fail(ring, ad, f"data key version {int.from_bytes(blob[1:5], 'big')} is not available")
            return aes.decrypt(blob[5:17], blob[17:], ad)
        if blob[:1] == b"\x02":
            if subject_key is None:
                raise _fail(ring, ad, "the subject key is missing")
            return subject_key.decrypt(blob[1:13], blob[13:], ad)
    except InvalidTag:
        raise _fail(ring, ad, "authentication failed (moved, altered, or another tenant's)") from None
    except KeyUnavailable as exc:
        raise _fail(ring, ad, str(exc)) from None
    raise _fail(ring, ad, "unknown format")


SUBJECT_KEY_CACHE = 4096
_subject_keys: OrderedDict[tuple[str, str, Any, bytes], AESGCM] = OrderedDict()


def open_subject_key(ring: Keyring, table: str, row_id: Any, wrapped: bytes | None) -> AESGCM | None:
    """A row's subject key, or None when it was destroyed (the person was erased).

    The last ``SUBJECT_KEY_CACHE`` keys opened are kept in the process (a list page opens one per row and an
    inbox is read again and again), keyed by where the wrapped key was read and its exact bytes: a key moved
    to another row, a key re-sealed by a rotation, or an erased row (no wrapped key left) never hits an entry.
    """
    if wrapped is None:
        return None
    slot = (ring.tenant, table, row_id, wrapped)
    key = _subject_keys.get(slot)
    if key is None:
        key = AESGCM(open_sealed(ring, wrapped, aad(ring.tenant, table, SUBJECT_KEY_COLUMN, row_id)))
        _subject_keys[slot] = key
        if len(_subject_keys) > SUBJECT_KEY_CACHE:
            try:  # noqa: SIM105 - once per row of a page: contextlib.suppress costs more
                _subject_keys.popitem(last=False)
            except KeyError:  # another thread took the same entry out
                pass
    else:
        try:  # noqa: SIM105
            _subject_keys.move_to_end(slot)
        except KeyError:
            pass
    return key


def forget_subject_key(ring: Keyring, table: str, row_id: Any, wrapped: bytes | None) -> None:
    """Drop a destroyed key from this process at once (erasure), rather than when it would age out."""
    if wrapped is not None:
        _subject_keys.pop((ring.tenant, table, row_id, wrapped), None)


def keyring_of(session: Any) -> Keyring:
    """The keyring bound to a tenant session (``tenancy.tenant_session`` binds it), sync or async."""
    ring: Keyring | None = getattr(session, "sync_session", session).info.get("keyring")
    if ring is None:
        raise KeyUnavailable("no tenant keyring is bound to this session")
    return ring


# ------------------------------------------------------------------ blind indexes


def blind_index(ring: Keyring, kind: str, normalised: str | None) -> str | None:
    """HMAC-SHA256 with the tenant's index key over a normalised value (hex), or None."""
    if not normalised:
        return None
    return hmac.new(ring.index_key, f"{kind}\x00{normalised}".encode(), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------ the declaration


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    table: str
    column: str
    subject: bool


REGISTRY: dict[str, list[EncryptedColumn]] = {}
"""Table -> its encrypted columns (the rotation job and the tests walk it)."""


def tenant_keyed_columns() -> dict[str, list[str]]:
    """Table -> columns sealed with the tenant's data key (what a data-key rotation re-encrypts)."""
    out: dict[str, list[str]] = {}
    for table, cols in REGISTRY.items():
        for c in cols:
            if not c.subject:
                out.setdefault(table, []).append(c.column)
        if any(c.subject for c in cols):
            out.setdefault(table, []).append(SUBJECT_KEY_COLUMN)
    return out


class encrypted:
    """A sensitive field over a bytea column attribute (``attr``); see the module docstring."""

    def __init__(self, attr: str, *, subject: bool = False, codec: str = "text") -> None:
        self.attr = attr
        self.subject = subject
        self.codec = codec  # text (str), bytes, or json (a dict of JSON values)
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        fields: dict[str, encrypted] = dict(getattr(owner, "__encrypted__", {}))
        fields[name] = self
        owner.__encrypted__ = fields  # type: ignore[attr-defined]
        column = getattr(owner, self.attr).column.name if hasattr(getattr(owner, self.attr), "column") else None
        table = owner.__tablename__  # type: ignore[attr-defined]
        REGISTRY.setdefault(table, []).append(
            EncryptedColumn(table, column or self.attr.lstrip("_"), self.subject)
        )

    def encode(self, value: Any) -> bytes:
        if self.codec == "bytes":
            return bytes(value)
        if self.codec == "json":
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return str(value).encode()

    def decode(self, raw: bytes) -> Any:
        if self.codec == "bytes":
            return raw
        if self.codec == "json":
            return orjson.loads(raw)
        return raw.decode()

    def column_name(self, owner: type) -> str:
        return str(owner.__mapper__.attrs[self.attr].columns[0].name)  # type: ignore[attr-defined]

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        pending = state.get("_cd_pending")
        if pending is not None and self.name in pending:
            return pending[self.name]
        blob = getattr(obj, self.attr)
        if blob is None:
            return None
        plain: dict[str, tuple[bytes, Any]] = state.setdefault("_cd_plain", {})
        hit = plain.get(self.name)
        if hit is not None and hit[0] is blob:
            return hit[1]
        ring = _ring_of(obj)
        table = obj.__table__.name
        subject_key = _subject_key(obj, ring) if self.subject else None
        if self.subject and subject_key is None:
            value: Any = None  # erased
        else:
            raw = open_sealed(ring, blob, aad(ring.tenant, table, self.column_name(type(obj)), _row_id(obj)),
                              subject_key)
            value = self.decode(raw)
        plain[self.name] = (blob, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        if value is None:
            obj.__dict__.get("_cd_pending", {}).pop(self.name, None)
            setattr(obj, self.attr, None)
            return
        wanted = {"bytes": bytes, "json": dict, "text": str}[self.codec]
        if not isinstance(value, wanted):
            raise TypeError(f"{self.name} takes {wanted.__name__}")
        obj.__dict__.setdefault("_cd_pending", {})[self.name] = value
        setattr(obj, self.attr, b"")  # marks the row dirty; sealed in before_flush


def _row_id(obj: Any) -> Any:
    key = obj.__mapper__.primary_key[0].key
    return getattr(obj, key)


def _ring_of(obj: Any) -> Keyring:
    ring: Keyring | None = obj.__dict__.get("_cd_ring")
    if ring is None:
        session = object_session(obj)
        ring = session.info.get("keyring") if session is not None else None
        if ring is None:
            raise KeyUnavailable("no tenant keyring is bound to this object's session")
        obj.__dict__["_cd_ring"] = ring
    return ring


def _subject_key(obj: Any, ring: Keyring) -> AESGCM | None:
    cached = obj.__dict__.get("_cd_subject")
    wrapped = obj._subject_key
    if cached is not None and cached[0] is wrapped:
        return cached[1]  # type: ignore[no-any-return]
    key = open_subject_key(ring, obj.__table__.name, _row_id(obj), wrapped)
    obj.__dict__["_cd_subject"] = (wrapped, key)
    return key


def erase_subject(obj: Any) -> None:
    """Destroy the row's subject key: its subject-keyed fields can never be read again."""
    forget_subject_key(_ring_of(obj), obj.__table__.name, _row_id(obj), obj._subject_key)
    obj._subject_key = None
    obj.__dict__.pop("_cd_subject", None)
    obj.__dict__.pop("_cd_plain", None)


# ------------------------------------------------------------------ sealing at flush


def writable_keyring(session: Session) -> Keyring:
    """The keyring to seal with in this transaction, its active key row locked ``FOR SHARE``.

    Once per transaction. A process whose cache is behind (a rotation started) reloads here.
    """
    ring: Keyring | None = session.info.get("keyring")
    if ring is None:
        raise KeyUnavailable("no tenant keyring is bound to this session")
    txn = session.get_transaction()
    root = txn  # get_transaction() is the root transaction
    locked = session.info.get("_cd_locked")  # weakly: the session holds its transaction, no cycle through info
    if root is not None and locked is not None and locked() is root:
        return ring
    for attempt in range(2):
        state = session.execute(
            select(TenantKey.state).where(TenantKey.id == ring.active_id).with_for_update(read=True)
        ).scalar_one_or_none()
        if state == KeyState.ACTIVE:
            session.info["_cd_locked"] = weakref.ref(root) if root is not None else None
            return ring
        if attempt == 0:
            ring = load_keyring_sync(session.connection(), ring.tenant)
            session.info["keyring"] = ring
    raise KeyUnavailable(f"tenant {ring.tenant}: the active data key changed during this transaction; retry")


def _seal_pending(session: Session, objects: Iterable[Any]) -> None:
    ring: Keyring | None = None
    for obj in objects:
        pending: dict[str, Any] | None = obj.__dict__.get("_cd_pending")
        if not pending:
            continue
        if ring is None:
            ring = writable_keyring(session)
        cls = type(obj)
        if _row_id(obj) is None:
            setattr(obj, cls.__mapper__.primary_key[0].key, uuid.uuid4())
        fields: dict[str, encrypted] = cls.__encrypted__
        table = cls.__table__.name
        row_id = _row_id(obj)
        subject_key: AESGCM | None = None
        if any(fields[n].subject for n in pending):
            if obj._subject_key is None:
                raw = AESGCM.generate_key(bit_length=256)
                obj._subject_key = seal(ring, raw, aad(ring.tenant, table, SUBJECT_KEY_COLUMN, row_id))
                subject_key = AESGCM(raw)
                obj.__dict__["_cd_subject"] = (obj._subject_key, subject_key)
            else:
                subject_key = _subject_key(obj, ring)
        plain = obj.__dict__.setdefault("_cd_plain", {})
        for name, value in pending.items():
            f = fields[name]
            data = f.encode(value)
            ad = aad(ring.tenant, table, f.column_name(cls), row_id)
            blob = seal_with(subject_key, data, ad) if f.subject and subject_key else seal(ring, data, ad)
            setattr(obj, f.attr, blob)
            plain[name] = (blob, value)
        obj.__dict__["_cd_ring"] = ring
        del obj.__dict__["_cd_pending"]


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    if session.new or session.dirty:
        _seal_pending(session, [*session.new, *session.dirty])
