from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import TenantBase


class WorkerCheck(TenantBase):
    """A round trip through the queue: requested by the API, completed by a worker.

    Lets an admin (and the tests) see that background processing runs for this
    tenant, and in which schema it ran.
    """

    __tablename__ = "worker_checks"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    processed_in_schema: Mapped[str | None] = mapped_column(String(63), nullable=True)
