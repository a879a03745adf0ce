"""The one RATE_LIMITED answer: the edge's request budget (``edge.Admission``) and the resolvers' Redis windows
(``api.ratelimit.hit``) compute Retry-After with the same helper and refuse with the same code."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis

from services.api.ratelimit import RATE_LIMITED, RateLimited, hit, retry_after, retry_after_header
from services.core.errors import ErrorCode
from services.core.ratelimit import Limit


@pytest.mark.parametrize(("wait", "header"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (9.4, 10), (600, 600)])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait: float, header: int) -> None:
    assert retry_after(wait) == header
    assert retry_after_header(wait) == (b"retry-after", str(header).encode())


async def test_a_spent_window_refuses_with_the_shared_code_and_retry_after(servers: dict[str, Any]) -> None:
    client = aioredis.from_url(servers["redis_url"])
    limit = Limit(f"test-{uuid.uuid4().hex[:8]}", 2, 30)
    try:
        for _ in range(2):
            await hit(client, limit, tenant="alpha", client="198.51.100.7")
        with pytest.raises(RateLimited) as refused:
            await hit(client, limit, tenant="alpha", client="198.51.100.7")
        await hit(client, limit, tenant="beta", client="198.51.100.7")  # another tenant's window is its own
    finally:
        await client.aclose()
    assert refused.value.code == RATE_LIMITED == ErrorCode.RATE_LIMITED.value
    assert 1 <= refused.value.retry_after_s <= 30
    assert str(refused.value) == f"too many requests; try again in {refused.value.retry_after_s} seconds"
