"""Count the messages the worker processes, by actor and result (``complaintdesk_worker_messages_total``)."""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

from services.core import metrics


class MetricsMiddleware(Middleware):
    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        metrics.WORKER_MESSAGES.labels(actor=message.actor_name,
                                       result="ok" if exception is None else "failed").inc()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        metrics.WORKER_MESSAGES.labels(actor=message.actor_name, result="skipped").inc()
