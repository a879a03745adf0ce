"""Fixed-window counters in Redis, shared by the public-operation limits and the sign-in throttle."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


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
