"""The Dramatiq broker: Redis, the AsyncIO middleware for async actors, tenant binding."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO

from services.core.config import get_settings
from services.worker.middleware.database import DatabaseMiddleware
from services.worker.middleware.metrics import MetricsMiddleware
from services.worker.middleware.tenant import TenantMiddleware
from services.worker.middleware.tracing import TracingMiddleware

_broker: RedisBroker | None = None


def get_broker() -> RedisBroker:
    """The process's broker, built from the settings on first use and set as Dramatiq's global."""
    global _broker
    if _broker is None:
        settings = get_settings()
        broker = RedisBroker(url=settings.redis_url, namespace=settings.queue_namespace)  # type: ignore[no-untyped-call]
        broker.add_middleware(AsyncIO())
        broker.add_middleware(TracingMiddleware())
        broker.add_middleware(TenantMiddleware())
        broker.add_middleware(DatabaseMiddleware())
        broker.add_middleware(MetricsMiddleware())
        dramatiq.set_broker(broker)
        _broker = broker
    return _broker


def close_broker() -> None:
    """Drop the broker's Redis connections (before an embedded Redis is stopped)."""
    if _broker is not None:
        _broker.close()
        _broker.client.connection_pool.disconnect()
