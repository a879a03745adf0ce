"""Fixtures of the authentication tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from api.auth.authkit import new_address
from conftest import GraphQLClient


@pytest.fixture
def client_at(app: Any) -> Callable[..., AbstractAsyncContextManager[GraphQLClient]]:
    """``async with client_at() as c``: a GraphQL client from its own (or the given) client address."""

    @asynccontextmanager
    async def make(address: str | None = None, **kwargs: Any) -> AsyncIterator[GraphQLClient]:
        transport = httpx.ASGITransport(app=app, client=(address or new_address(), 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", **kwargs) as http:
            yield GraphQLClient(http)

    return make
