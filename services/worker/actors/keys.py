"""Key rotation and retention actors: thin wrappers over ``services.core``."""

from __future__ import annotations

import logging
import uuid

import dramatiq

from services.core.crypto.rotation import run_data_rotation
from services.core.outbox.sweeper import erase_expired_in
from services.core.tenancy import current_tenant
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


@dramatiq.actor(broker=get_broker(), queue_name="default", max_retries=5)
async def erase_expired_complainants() -> None:
    """Erase the bound tenant's complainants whose retention period ended (batches until none is left)."""
    await erase_expired_in(current_tenant())
