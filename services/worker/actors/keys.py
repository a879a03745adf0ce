"""The key-rotation actor: a thin wrapper over ``services.core``."""

from __future__ import annotations

import logging
import uuid

import dramatiq

from services.core.crypto.rotation import run_data_rotation
from services.worker.broker import get_broker

logger = logging.getLogger("complaintdesk.worker.keys")


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=10, tenant_scoped=False,
                time_limit=6 * 60 * 60 * 1000)
async def rotate_data_key(rotation_id: str) -> None:
    """Re-encrypt a tenant's rows under its new data key; resumes where a crashed run stopped."""
    info = await run_data_rotation(uuid.UUID(rotation_id))
    if info is not None:
        logger.info("rotation %s for tenant %s: %s (%d/%d rows)", info.id, info.tenant, info.state, info.rows_done,
                    info.rows_total)
