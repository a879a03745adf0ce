"""Stamp the current tenant on every message; bind it in the worker, or refuse the message.

A tenant-scoped actor (the default) never runs without a tenant: a message with
no tenant, a malformed or unknown one, or one for a suspended tenant is logged,
marked failed (so it goes to the dead-letter queue, not back to the queue) and
skipped. Platform actors (``tenant_scoped=False``) run with no tenant bound.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from dramatiq import Broker, Message, Middleware
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.broker import MessageProxy
from dramatiq.middleware import MiddlewareError, SkipMessage

from services.core.tenancy import (
    TenantError,
    TenantRequired,
    bind_tenant_token,
    current_tenant_or_none,
    resolve_tenant,
    unbind_tenant_token,
)

logger = logging.getLogger("complaintdesk.worker.tenant")

TENANT_OPTION = "tenant"


class EnqueueWithoutTenant(MiddlewareError, TenantRequired):
    """Raised to the sender. A MiddlewareError, because Dramatiq logs and swallows anything else
    a ``before_enqueue`` hook raises, and the message would go out without a tenant."""


class TenantLookupFailed(MiddlewareError):
    """The registry could not be read (database down): the message fails and is retried later."""


class TenantMiddleware(Middleware):
    @property
    def actor_options(self) -> set[str]:
        return {"tenant_scoped"}

    def __init__(self) -> None:
        self._local = threading.local()

    @staticmethod
    def _scoped(broker: Broker, actor_name: str) -> bool:
        return bool(broker.get_actor(actor_name).options.get("tenant_scoped", True))

    def before_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        if not self._scoped(broker, message.actor_name):
            return
        if TENANT_OPTION in message.options:
            return  # re-enqueued (retry, delay): keep the tenant it was sent with
        tenant = current_tenant_or_none()
        if tenant is None:
            raise EnqueueWithoutTenant(f"cannot enqueue {message.actor_name}: no tenant is bound")
        message.options[TENANT_OPTION] = tenant.slug

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._local.token = None
        if not self._scoped(broker, message.actor_name):
            return
        slug = message.options.get(TENANT_OPTION)
        try:
            if not isinstance(slug, str):
                raise TenantRequired("message carries no tenant")
            loop_thread = get_event_loop_thread()
            if loop_thread is None:
                raise RuntimeError("the AsyncIO middleware is not running")
            tenant = loop_thread.run_coroutine(resolve_tenant(slug))
        except TenantError as exc:
            logger.warning(
                "refused message %s for actor %s: %s (%s)",
                message.message_id, message.actor_name, exc.code, exc.message,
            )
            message.fail()
            raise SkipMessage(exc.code) from None
        except Exception as exc:
            raise TenantLookupFailed(f"tenant lookup failed: {type(exc).__name__}") from exc
        self._local.token = bind_tenant_token(tenant)

    def _unbind(self) -> None:
        token = getattr(self._local, "token", None)
        if token is not None:
            unbind_tenant_token(token)
            self._local.token = None

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._unbind()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._unbind()
