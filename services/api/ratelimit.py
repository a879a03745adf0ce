"""Fixed-window rate limits per tenant and client address, counted in Redis.

Public operations (no sign-in) are limited so that one address cannot flood a
tenant with submissions or guess access codes. If Redis is unreachable the limit
fails closed: the operation is refused, not let through unlimited.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from services.core.config import get_settings

logger = logging.getLogger("complaintdesk.api.ratelimit")


@dataclass(frozen=True)
class Limit:
    name: str
    requests: int
    window_s: int


def _env_limit(name: str, requests: int, window_s: int) -> Limit:
    raw = os.environ.get(f"COMPLAINTDESK_LIMIT_{name.upper()}")  # e.g. "5/600"
    if raw:
        count, _, window = raw.partition("/")
        return Limit(name, int(count), int(window or window_s))
    return Limit(name, requests, window_s)


SUBMIT = _env_limit("submit", 5, 600)
TRACK = _env_limit("track", 30, 60)


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests; try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


async def hit(redis: Any, limit: Limit, *, tenant: str, client: str) -> None:
    """Count one request; raise ``RateLimited`` when the window's budget is spent."""
    key = f"{get_settings().queue_namespace}:ratelimit:{limit.name}:{tenant}:{client}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=limit.window_s, nx=True)  # not EXPIRE NX: the embedded Redis (6.2) lacks it
            pipe.incr(key)
            pipe.ttl(key)
            _, count, ttl = await pipe.execute()
    except Exception as exc:
        logger.warning("rate limiter unavailable (%s): refusing %s", type(exc).__name__, limit.name)
        raise RateLimited(limit.window_s) from None
    if int(count) > limit.requests:
        raise RateLimited(max(int(ttl), 1))
