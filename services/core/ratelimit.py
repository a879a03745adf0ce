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


# --- Request budgets: how many requests a tenant (or an anonymous client of a tenant) may make per second in one
# API process. Checked at the edge before any GraphQL work, so a tenant over its budget costs the others almost
# nothing. Per process on purpose: what a noisy tenant takes from the others is this process's event loop and its
# connection slots, and an in-process bucket is answered without a round trip.


class InvalidBudget(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Budget:
    """A token bucket: ``rate`` requests a second on average, up to ``burst`` at once."""

    rate: float
    burst: int

    def __str__(self) -> str:
        rate = int(self.rate) if float(self.rate).is_integer() else self.rate
        return f"{rate}/{self.burst}"


MAX_BUDGET_RATE = 100_000.0


def parse_budget(raw: str) -> Budget:
    """``"20/40"`` (20 a second, bursts of 40) or ``"20"`` (bursts of twice the rate, at least 1)."""
    rate_text, _, burst_text = raw.strip().partition("/")
    try:
        rate = float(rate_text)
        burst = int(burst_text) if burst_text.strip() else max(1, int(rate * 2))
    except ValueError:
        raise InvalidBudget(f"a budget is RATE/BURST, e.g. 20/40 (requests a second / at once), not {raw!r}") from None
    if not (0 < rate <= MAX_BUDGET_RATE) or not (1 <= burst <= MAX_BUDGET_RATE * 10):
        raise InvalidBudget(f"a budget's rate must be above 0 and at most {MAX_BUDGET_RATE:.0f} a second, and its "
                            f"burst at least 1: {raw!r}")
    return Budget(rate, burst)


def env_budget(name: str, default: str) -> Budget:
    """``COMPLAINTDESK_<NAME>`` (e.g. ``COMPLAINTDESK_TENANT_BUDGET=200/400``) or the default."""
    raw = os.environ.get(f"COMPLAINTDESK_{name.upper()}", "").strip()
    try:
        return parse_budget(raw or default)
    except InvalidBudget as exc:
        from services.core.config import ConfigError

        raise ConfigError(f"COMPLAINTDESK_{name.upper()}: {exc}") from None


# Per tenant, for signed-in requests (staff; an identity provider's users), unless the tenant has its own
# (``complaintdesk tenant budget``). And per tenant and client address, for requests without a staff token (the
# public page's operations, sign-in), so that one address cannot spend what the tenant's customers need.
TENANT_BUDGET_DEFAULT = "200/400"
PUBLIC_BUDGET_DEFAULT = "5/20"


def default_tenant_budget() -> Budget:
    return env_budget("tenant_budget", TENANT_BUDGET_DEFAULT)


def default_public_budget() -> Budget:
    return env_budget("public_budget", PUBLIC_BUDGET_DEFAULT)


def keep_newest(store: dict[Any, Any], key: Any, value: Any, max_keys: int) -> None:
    """``store[key] = value`` as the newest entry (the dict's order is the order of last use), the oldest entry
    forgotten when there are more than ``max_keys``: the in-process memories of the throttles stay bounded."""
    store.pop(key, None)
    store[key] = value
    if len(store) > max_keys:
        del store[next(iter(store))]


class TokenBuckets:
    """In-process token buckets by key; at most ``max_keys`` kept (the longest idle forgotten first: a forgotten
    bucket starts full again, which only ever errs towards letting a request through)."""

    def __init__(self, max_keys: int = 20_000) -> None:
        self.max_keys = max_keys
        self._buckets: dict[Any, tuple[float, float]] = {}  # key -> (tokens, when), in order of last use

    def take(self, key: Any, budget: Budget, now: float, within: float = 0.0) -> tuple[bool, float]:
        """Take one token, or reserve the next one when it comes within ``within`` seconds (the request waits for
        it: a burst a little over the budget is smoothed, not refused).

        ``(True, delay)``: admitted, after ``delay`` seconds (0.0 when a token was there). ``(False, wait)``:
        refused, nothing taken; ``wait`` is the seconds until a request would be admitted at once.
        """
        tokens, when = self._buckets.pop(key, (float(budget.burst), now))
        tokens = min(float(budget.burst), tokens + max(0.0, now - when) * budget.rate)
        short = max(0.0, (1.0 - tokens) / budget.rate)  # until this request's token is there
        admitted = short <= within
        if admitted:
            tokens -= 1.0  # below zero: reserved ahead, paid back as the bucket refills
        keep_newest(self._buckets, key, (tokens, now), self.max_keys)
        return admitted, short

    def clear(self) -> None:
        self._buckets.clear()
