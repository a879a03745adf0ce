"""The master key (key-encryption key): where it comes from, and wrapping data keys with it.

Configuration, read once per process:

* ``COMPLAINTDESK_MASTER_KEY``: the key itself, 32 bytes in base64; or
* ``COMPLAINTDESK_MASTER_KEY_FILE``: a file (a mounted secret) holding the same;
* ``COMPLAINTDESK_MASTER_KEY_PREVIOUS`` (optional): comma-separated earlier keys, still able to
  unwrap during a master-key rotation (``complaintdesk keys rotate-master`` re-wraps every data
  key under the current one; then the previous key can be dropped);
* ``COMPLAINTDESK_KMS_PROVIDER`` (optional): ``package.module:factory``, a callable returning a
  ``MasterKeyProvider`` (a cloud KMS takes the local key's place; the keys above are then unused).

Make a key with ``complaintdesk keys generate-master``. A key is known by its id, the first 8
bytes of a SHA-256 over it: the id is stored beside every wrapped data key, so a wrong key is
recognised at start-up (``verify_master_key``) before it fails on data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.core.config import ConfigError

ENV_KEY = "COMPLAINTDESK_MASTER_KEY"
ENV_KEY_FILE = "COMPLAINTDESK_MASTER_KEY_FILE"
ENV_PREVIOUS = "COMPLAINTDESK_MASTER_KEY_PREVIOUS"
ENV_PROVIDER = "COMPLAINTDESK_KMS_PROVIDER"
KEY_BYTES = 32


class UnwrapError(Exception):
    """A wrapped key could not be opened: unknown master key id, or tampered/misplaced bytes."""


@runtime_checkable
class MasterKeyProvider(Protocol):
    """Wraps and unwraps data keys. ``aad`` binds a wrapped key to where it is stored."""

    @property
    def current_key_id(self) -> str: ...

    def known_key_ids(self) -> frozenset[str]: ...

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        """Returns (master key id, wrapped bytes)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes: ...


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(b"complaintdesk-master-key-id\x00" + key).digest()[:8].hex()


def generate_master_key() -> str:
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _decode(value: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            f"{source} must be {KEY_BYTES} random bytes in base64 (make one with `complaintdesk keys generate-master`)"
        )
    return raw


class LocalMasterKeys:
    """AES-256-GCM key wrapping with keys from the environment or a mounted file."""

    def __init__(self, current: bytes, previous: list[bytes] | None = None) -> None:
        self._keys = {key_id_of(k): AESGCM(k) for k in [*(previous or []), current]}
        self._current = key_id_of(current)

    @property
    def current_key_id(self) -> str:
        return self._current

    def known_key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        return self._current, nonce + self._keys[self._current].encrypt(nonce, key, aad)

    def unwrap(self, key_id: str, wrapped: bytes, aad: bytes) -> bytes:
        aes = self._keys.get(key_id)
        if aes is None:
            raise UnwrapError(f"master key {key_id} is not configured")
        try:
            return aes.decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag as exc:
            raise UnwrapError(f"a key wrapped by master key {key_id} does not open here (tampered or moved)") from exc


def load_master_keys(environ: Mapping[str, str] | None = None) -> MasterKeyProvider:
    env = os.environ if environ is None else environ
    provider = env.get(ENV_PROVIDER, "").strip()
    if provider:
        module_name, _, attr = provider.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr or "provider")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{ENV_PROVIDER}={provider!r} does not name an importable factory") from exc
        made = factory()
        if not isinstance(made, MasterKeyProvider):
            raise ConfigError(f"{ENV_PROVIDER}={provider!r} did not return a MasterKeyProvider")
        return made
    inline = env.get(ENV_KEY, "").strip()
    key_file = env.get(ENV_KEY_FILE, "").strip()
    if inline and key_file:
        raise ConfigError(f"set either {ENV_KEY} or {ENV_KEY_FILE}, not both")
    if key_file:
        try:
            text = Path(key_file).read_text()
        except OSError as exc:
            raise ConfigError(f"{ENV_KEY_FILE}: cannot read {key_file}: {exc.strerror}") from exc
        current = _decode(text, ENV_KEY_FILE)
    elif inline:
        current = _decode(inline, ENV_KEY)
    else:
        raise ConfigError(
            f"no master key: set {ENV_KEY} (32 random bytes in base64; make one with "
            f"`complaintdesk keys generate-master`) or {ENV_KEY_FILE} to a file holding it"
        )
    previous = [_decode(p, ENV_PREVIOUS) for p in env.get(ENV_PREVIOUS, "").split(",") if p.strip()]
    return LocalMasterKeys(current, previous)


_provider: MasterKeyProvider | None = None


def get_master_keys() -> MasterKeyProvider:
    global _provider
    if _provider is None:
        _provider = load_master_keys()
    return _provider


def reset_master_keys() -> None:
    global _provider
    _provider = None


def ensure_key_file(path: Path) -> bool:
    """Write a new master key to ``path`` (mode 0600) unless it exists; True when created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_master_key() + "\n")
    return True
