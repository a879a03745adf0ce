"""Fixed-window rate limits per tenant and client address, counted in Redis.

Public operations (no sign-in) are limited so that one address cannot flood a
tenant with submissions or guess access codes. If Redis is unreachable the limit
fails closed: the operation is refused (``ServiceUnavailable``: 503 ``SERVICE_UNAVAILABLE``), not let
through unlimited.
"""

from __future__ import annotations

import logging
from typing import Any

from services.core.config import get_settings
from services.core.faults import ServiceUnavailable
from services.core.ratelimit import Limit, count_in_window, digest, env_limit

logger = logging.getLogger("complaintdesk.api.ratelimit")


SUBMIT = env_limit("submit", 5, 600)
TRACK = env_limit("track", 30, 60)


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests; try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


async def hit(redis: Any, limit: Limit, *, tenant: str, client: str) -> None:
    """Count one request; raise ``RateLimited`` when the window's budget is spent."""
    key = f"{get_settings().queue_namespace}:ratelimit:{limit.name}:{tenant}:{digest(client)}"  # never the address
    try:
        async with redis.pipeline(transaction=True) as pipe:
            count_in_window(pipe, key, limit)
            _, count, ttl = await pipe.execute()
    except Exception as exc:  # fail closed, and say what is true: 503 SERVICE_UNAVAILABLE, not a rate limit
        logger.warning("rate limiter unavailable (%s): refusing %s", type(exc).__name__, limit.name)
        raise ServiceUnavailable("redis") from exc
    if int(count) > limit.count:
        raise RateLimited(max(int(ttl), 1))
