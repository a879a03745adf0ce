"""Fixed-window rate limits per tenant and client address, counted in Redis.

Public operations (no sign-in) are limited so that one address cannot flood a
tenant with submissions or guess access codes. If Redis is unreachable the limit
fails closed: the operation is refused (``ServiceUnavailable``: 503 ``SERVICE_UNAVAILABLE``), not let
through unlimited.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from services.core.config import get_settings
from services.core.errors import ErrorCode
from services.core.faults import ServiceUnavailable
from services.core.i18n import N_, msg
from services.core.ratelimit import Limit, count_in_window, digest, env_limit, keep_newest

logger = logging.getLogger("complaintdesk.api.ratelimit")


SUBMIT = env_limit("submit", 5, 600)
TRACK = env_limit("track", 30, 60)


RATE_LIMITED = ErrorCode.RATE_LIMITED.value
"""The code of every throttle's refusal: the edge's 429 and the resolvers' errors and userErrors alike."""


def retry_after(wait_s: float) -> int:
    """The ``Retry-After`` value for a wait of ``wait_s`` seconds: whole seconds, rounded up, at least 1 (every
    rate-limit layer answers with this)."""
    return max(1, math.ceil(wait_s))


def retry_after_header(wait_s: float) -> tuple[bytes, bytes]:
    """The ``Retry-After`` header (raw ASGI form) for a wait of ``wait_s`` seconds."""
    return b"retry-after", str(retry_after(wait_s)).encode()


class RateLimited(Exception):
    code = RATE_LIMITED

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after(retry_after_s)
        self.message = msg(N_("too many requests; try again in {seconds} seconds"), seconds=self.retry_after_s)
        super().__init__(self.message)


# A window once spent stays spent until it ends (the count only grows, and the key expires with the window), so the
# process remembers it and refuses the next requests of that window itself, without a round trip to Redis: a flood of
# submissions from one address then costs Redis nothing after its first refusal, and each refusal a little less of
# the process (in process, a refused submission 0.92 -> 0.42 ms). Remembered until a second before Redis's TTL says
# (TTL is whole seconds), so the process never refuses what Redis would count; at most SPENT_KEYS_MAX windows.
SPENT_KEYS_MAX = 10_000
_spent: dict[str, float] = {}  # key -> (monotonic) when the process stops refusing it on its own, oldest first


async def hit(redis: Any, limit: Limit, *, tenant: str, client: str) -> None:
    """Count one request; raise ``RateLimited`` when the window's budget is spent."""
    key = f"{get_settings().queue_namespace}:ratelimit:{limit.name}:{tenant}:{digest(client)}"  # never the address
    now = time.monotonic()
    until = _spent.get(key)
    if until is not None:
        if now < until:
            raise RateLimited(until - now + 1)  # the window ends about a second after the process stops refusing
        del _spent[key]
    try:
        async with redis.pipeline(transaction=True) as pipe:
            count_in_window(pipe, key, limit)
            _, count, ttl = await pipe.execute()
    except Exception as exc:  # fail closed, and say what is true: 503 SERVICE_UNAVAILABLE, not a rate limit
        logger.warning("rate limiter unavailable (%s): refusing %s", type(exc).__name__, limit.name)
        raise ServiceUnavailable("redis") from exc
    if int(count) > limit.count:
        if int(ttl) > 1:
            keep_newest(_spent, key, now + int(ttl) - 1, SPENT_KEYS_MAX)
        raise RateLimited(int(ttl))
