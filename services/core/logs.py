"""Logging: every record carries the request id and the tenant slug of its context.

A record factory stamps them when the record is made, so every handler (the
console, a log shipper, pytest's capture) sees them. Log messages carry ids and
codes, never decrypted personal data.
"""

from __future__ import annotations

import contextvars
import logging
import os
from typing import Any

from services.core.tenancy import current_tenant_or_none

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id_var.get() or "-"
    tenant = current_tenant_or_none()
    record.tenant = tenant.slug if tenant is not None else "-"
    return record


if getattr(_base_factory, "__name__", "") != "_record_factory":
    logging.setLogRecordFactory(_record_factory)


def configure_logging(level: str | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [req=%(request_id)s tenant=%(tenant)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("COMPLAINTDESK_LOG_LEVEL", "INFO"))
    # Alembic is chatty at INFO; our own lines say what matters.
    logging.getLogger("alembic").setLevel(logging.WARNING)
