"""Fixed-window counters in Redis, shared by the public-operation limits and the sign-in throttle.

Keys never hold a client's address or an e-mail address: ``digest`` puts an HMAC-SHA256 of it there instead,
keyed by a secret derived from the JWT signing key (which every API process has, and shares with the others).
A new signing key starts the counters afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``window_s`` seconds; ``COMPLAINTDESK_LIMIT_<NAME>=count/seconds`` overrides."""

    name: str
    count: int
    window_s: int


def env_limit(name: str, count: int, window_s: int) -> Limit:
    raw = os.environ.get(f"COMPLAINTDESK_LIMIT_{name.upper()}")  # e.g. "5/600"
    if raw:
        number, _, window = raw.partition("/")
        return Limit(name, int(number), int(window or window_s))
    return Limit(name, count, window_s)


def count_in_window(pipe: Any, key: str, limit: Limit) -> None:
    """Queue the three commands that count one event in ``key``'s window; replies: (set, count, ttl).

    The window starts with its first event (SET NX EX, not EXPIRE NX: the embedded Redis 6.2 lacks NX).
    """
    pipe.set(key, 0, ex=limit.window_s, nx=True)
    pipe.incr(key)
    pipe.ttl(key)


_DIGEST_LABEL = b"complaintdesk/throttle-keys/v1"
_digest_key: tuple[object, bytes] | None = None  # (the signing key it was derived from, the key)


def _key() -> bytes:
    from services.core.auth.tokens import get_keyring

    global _digest_key
    signing = get_keyring().signing_key
    if _digest_key is None or _digest_key[0] is not signing:
        raw = signing.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        _digest_key = (signing, hmac.new(raw, _DIGEST_LABEL, hashlib.sha256).digest())
    return _digest_key[1]


def digest(value: str) -> str:
    """What a throttle key holds instead of ``value`` (a client address, an account): a keyed hash, 32 hex."""
    return hmac.new(_key(), value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]
