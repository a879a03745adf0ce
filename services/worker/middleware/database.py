"""Close the worker event loop's connection pool before the loop stops."""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.asyncio import get_event_loop_thread

from services.core.db import dispose_engine


class DatabaseMiddleware(Middleware):
    def before_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(dispose_engine())
