"""Fixtures of the worker tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of the test module's own: flushing it, or a worker's queue on it, touches nobody else."""
    from services.cli.embedded import EmbeddedRedis

    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis-own")))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
