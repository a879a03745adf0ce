"""The one RATE_LIMITED answer: the edge's request budget (``edge.Admission``) and the resolvers' Redis windows
(``api.ratelimit.hit``) compute Retry-After with the same helper and refuse with the same code."""

from __future__ import annotations

import asyncio
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


async def test_a_spent_window_is_refused_in_process_until_it_ends(servers: dict[str, Any]) -> None:
    """Once a window is spent the process refuses the rest of it itself: Redis counts nothing more (a flood from one
    address costs it one round trip), Retry-After still counts down to the window's end, other windows are their
    own, and when the window has ended the next request is counted again."""
    client = aioredis.from_url(servers["redis_url"])
    limit = Limit(f"test-{uuid.uuid4().hex[:8]}", 1, 3)
    try:
        await hit(client, limit, tenant="alpha", client="198.51.100.9")
        with pytest.raises(RateLimited):
            await hit(client, limit, tenant="alpha", client="198.51.100.9")
        [key] = [k async for k in client.scan_iter(match=f"*:ratelimit:{limit.name}:alpha:*")]
        assert int(await client.get(key)) == 2
        for _ in range(20):
            with pytest.raises(RateLimited) as refused:
                await hit(client, limit, tenant="alpha", client="198.51.100.9")
            assert 1 <= refused.value.retry_after_s <= 3
        assert int(await client.get(key)) == 2  # refused in the process: not counted again
        await hit(client, limit, tenant="alpha", client="198.51.100.10")  # another address: its own window
        await hit(client, limit, tenant="beta", client="198.51.100.9")  # another tenant: its own window
        while await client.exists(key):
            await asyncio.sleep(0.1)
        await hit(client, limit, tenant="alpha", client="198.51.100.9")  # a new window: counted, admitted
        assert int(await client.get(key)) == 1
    finally:
        await client.aclose()
