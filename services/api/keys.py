"""Key management for platform operators: rotate the master key or a tenant's data key, follow progress."""

from __future__ import annotations

import enum
import logging
import uuid
from datetime import datetime

import strawberry

from services.api.context import Info
from services.api.errors import UserError, user_error
from services.core import queue
from services.core.crypto.keys import rewrap_all
from services.core.crypto.rotation import RotationInfo, get_rotation, list_rotations, start_data_rotation
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_
from services.core.queue import Job
from services.core.tenancy import InvalidTenantSlug, TenantError

logger = logging.getLogger("complaintdesk.api.keys")


@strawberry.enum(description="MASTER re-wraps every tenant's keys (no data touched); DATA re-encrypts one tenant")
class KeyKind(enum.Enum):
    MASTER = "master"
    DATA = "data"


@strawberry.type(description="A data-key rotation and how far it got")
class KeyRotation:
    id: strawberry.ID
    tenant: str
    state: str = strawberry.field(description="running, done, or failed (see error; rotateKeys again resumes it)")
    from_version: int | None
    to_version: int | None
    rows_total: int
    rows_done: int
    progress: float = strawberry.field(description="0 to 1")
    started_at: datetime
    finished_at: datetime | None
    error: str | None = strawberry.field(description="why a failed rotation stopped (where, never what)")

    @classmethod
    def from_info(cls, r: RotationInfo) -> KeyRotation:
        return cls(id=strawberry.ID(str(r.id)), tenant=r.tenant, state=r.state, from_version=r.from_version,
                   to_version=r.to_version, rows_total=r.rows_total, rows_done=r.rows_done, progress=r.progress,
                   started_at=r.started_at, finished_at=r.finished_at, error=r.error)


@strawberry.input
class RotateKeysInput:
    kind: KeyKind
    tenant: str | None = strawberry.field(default=None, description="required for DATA")


@strawberry.type
class RotateKeysPayload:
    rotation: KeyRotation | None = None
    rewrapped_keys: int | None = strawberry.field(default=None, description="MASTER: how many keys were re-wrapped")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class KeyQueries:
    @strawberry.field(description="Recent key rotations, newest first (operators)")
    async def key_rotations(self, info: Info, tenant: str | None = None) -> list[KeyRotation]:
        await info.context.require_operator()
        return [KeyRotation.from_info(r) for r in await list_rotations(tenant)]

    @strawberry.field(description="One key rotation (operators)")
    async def key_rotation(self, info: Info, id: strawberry.ID) -> KeyRotation | None:
        await info.context.require_operator()
        try:
            found = await get_rotation(uuid.UUID(str(id)))
        except ValueError:
            return None
        return KeyRotation.from_info(found) if found is not None else None


@strawberry.type
class KeyMutations:
    @strawberry.mutation(description="Rotate the master key (re-wrap) or a tenant's data key (re-encrypt, in the "
                                     "background; calling again while one runs resumes it) (operators)")
    async def rotate_keys(self, info: Info, input: RotateKeysInput) -> RotateKeysPayload:
        operator = await info.context.require_operator()
        if input.kind is KeyKind.MASTER:
            count = await rewrap_all()
            logger.info("operator %s rotated the master key: %d keys re-wrapped", operator.name, count)
            return RotateKeysPayload(rewrapped_keys=count)
        if not input.tenant:
            return RotateKeysPayload(user_errors=[UserError(
                field=["tenant"], message=N_("a tenant is required for DATA"),
                                                            code=ErrorCode.REQUIRED)])
        try:
            rotation, created = await start_data_rotation(input.tenant, started_by=operator.name)
        except DomainError as exc:
            return RotateKeysPayload(user_errors=[user_error(exc)])
        except TenantError as exc:
            code = ErrorCode.INVALID if isinstance(exc, InvalidTenantSlug) else ErrorCode.NOT_FOUND
            return RotateKeysPayload(user_errors=[UserError(field=["tenant"], message=exc.message, code=code)])
        await queue.enqueue(Job.DATA_KEY_ROTATION, str(rotation.id))
        logger.info("operator %s %s data key rotation %s for tenant %s", operator.name,
                    "started" if created else "resumed", rotation.id, rotation.tenant)
        return RotateKeysPayload(rotation=KeyRotation.from_info(rotation))
