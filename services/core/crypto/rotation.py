"""Data-key rotation: re-encrypt a tenant's rows in batches, resumable, while the API keeps serving.

``start_data_rotation`` (one transaction) turns the active data key into ``retiring``, the ``next`` key
(made one rotation earlier, so every process already holds it) into ``active``, makes a new ``next``,
and records a ``key_rotations`` row with the number of rows to visit. From then on every new ciphertext
uses the new key (writers lock the active key row, see ``keys``). ``run_data_rotation`` walks each table
with tenant-keyed columns in primary-key order, ``batch`` rows per transaction (``FOR UPDATE``), and stores
its cursor and progress in the rotation row in the same transaction: after a crash it goes on from the
last committed batch, and a batch done twice changes nothing (rows already under the new key are
skipped). When every table is done, a check counts ciphertexts still under any other version; when there
are none the retiring key is destroyed and the rotation is ``done``.

Subject-keyed fields (a complainant's identity) are not touched: only their subject key, sealed with
the data key, is re-sealed. The blind-index key is not rotated.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

import services.core.audit.models
import services.core.auth.models
import services.core.complaints.models
import services.core.deadlines.models
import services.core.escalation.models
import services.core.idempotency.models
import services.core.outbox.models
import services.core.reporting.models  # noqa: F401 - (with the above) registers every sealed column for rotation
from services.core.crypto.fields import (
    DecryptionError,
    aad,
    open_sealed,
    seal,
    tenant_keyed_columns,
    version_of,
)
from services.core.crypto.keys import (
    KeyPurpose,
    KeyState,
    TenantKey,
    add_next_key_sync,
    cache_seconds,
    forget_keyring,
    load_keyring_sync,
)
from services.core.db import TENANT_SCHEMA_PLACEHOLDER, PlatformBase, TenantBase, get_engine
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.tenancy import Tenant, TenantNotFound, schema_for, validate_slug

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500


class KeyRotation(PlatformBase):
    __tablename__ = "key_rotations"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    tenant_slug: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(12))
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True, slots=True)
class RotationInfo:
    id: uuid.UUID
    tenant: str
    kind: str
    state: str
    from_version: int | None
    to_version: int | None
    rows_total: int
    rows_done: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None = None

    @property
    def progress(self) -> float:
        if self.state == "done":
            return 1.0
        return min(1.0, self.rows_done / self.rows_total) if self.rows_total else 0.0


def _info(r: Any) -> RotationInfo:
    return RotationInfo(r.id, r.tenant_slug, r.kind, r.state, r.from_version, r.to_version, int(r.rows_total),
                        int(r.rows_done), r.started_at, r.finished_at, r.error)


def _tables() -> list[tuple[Table, Column[Any], list[Column[Any]]]]:
    """(table, its primary key, its tenant-keyed columns), in a fixed order."""
    out = []
    for name, columns in sorted(tenant_keyed_columns().items()):
        table = TenantBase.metadata.tables[f"{TENANT_SCHEMA_PLACEHOLDER}.{name}"]
        out.append((table, next(iter(table.primary_key.columns)), [table.c[c] for c in columns]))
    return out


async def _tenant(conn: AsyncConnection, slug: str) -> AsyncConnection:
    return await conn.execution_options(schema_translate_map={TENANT_SCHEMA_PLACEHOLDER: schema_for(slug)})


async def _count_rows(conn: AsyncConnection) -> int:
    total = 0
    for table, _, _ in _tables():
        total += int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return total


async def start_data_rotation(slug: str, *, started_by: str | None = None) -> tuple[RotationInfo, bool]:
    """Switch the tenant to its next data key and record the rotation; returns (rotation, created).

    A tenant with a rotation that did not finish (running, or stopped by a value that does not decrypt) gets
    that one back, running again (created False): starting again resumes it.
    """
    validate_slug(slug)
    async with get_engine().begin() as conn:
        if await conn.scalar(select(Tenant.slug).where(Tenant.slug == slug).with_for_update(read=True)) is None:
            raise TenantNotFound(f"unknown tenant {slug!r}")
        unfinished = (await conn.execute(
            select(KeyRotation).where(KeyRotation.tenant_slug == slug, KeyRotation.state.in_(["running", "failed"]))
            .with_for_update()
        )).first()
        if unfinished is not None:
            if unfinished.state == "failed":
                await conn.execute(update(KeyRotation).where(KeyRotation.id == unfinished.id)
                                   .values(state="running", error=None, updated_at=func.now()))
                unfinished = (await conn.execute(select(KeyRotation).where(KeyRotation.id == unfinished.id))).one()
            return _info(unfinished), False
        keys = (await conn.execute(
            select(TenantKey.id, TenantKey.version, TenantKey.state, TenantKey.created_at, func.now())
            .where(TenantKey.tenant_slug == slug, TenantKey.purpose == KeyPurpose.DATA,
                   TenantKey.state.in_([KeyState.ACTIVE, KeyState.NEXT]))
            .with_for_update()
        )).all()
        by_state = {k.state: k for k in keys}
        active, nxt = by_state.get(KeyState.ACTIVE), by_state.get(KeyState.NEXT)
        if active is None or nxt is None:
            raise TenantNotFound(f"tenant {slug!r} has no data keys (run `complaintdesk migrate`)")
        age = (nxt[4] - nxt.created_at).total_seconds()
        if age < cache_seconds():
            raise DomainError(
                ErrorCode.KEY_ROTATION_TOO_SOON,
                msg("the tenant's next data key was made {age:.0f} s ago; processes reload keys every "
                    "{reload:.0f} s, so start the rotation in {wait:.0f} s",
                    age=age, reload=cache_seconds(), wait=cache_seconds() - age),
            )
        # the UPDATE waits for writers holding the active key row FOR SHARE (transactions sealing with it)
        await conn.execute(update(TenantKey).where(TenantKey.id == active.id).values(state=KeyState.RETIRING))
        await conn.execute(update(TenantKey).where(TenantKey.id == nxt.id)
                           .values(state=KeyState.ACTIVE, activated_at=func.now()))
        await conn.run_sync(add_next_key_sync, slug, nxt.version + 1)
        total = await _count_rows(await _tenant(conn, slug))
        row = (await conn.execute(
            insert(KeyRotation).values(
                id=uuid.uuid4(), tenant_slug=slug, kind="data", from_version=active.version, to_version=nxt.version,
                state="running", rows_total=total, rows_done=0, cursor={"table": 0, "after": None},
                started_by=started_by,
            ).returning(*KeyRotation.__table__.c)
        )).one()
    forget_keyring(slug)
    logger.info("data key rotation %s started for tenant %s: v%d -> v%d, %d rows", row.id, slug, active.version,
                nxt.version, total)
    return _info(row), True


async def _batch(conn: AsyncConnection, rotation: Any, batch: int) -> bool:
    """One batch inside the caller's transaction; True when the rotation is finished."""
    slug, target = rotation.tenant_slug, rotation.to_version
    ring = await conn.run_sync(load_keyring_sync, slug)
    if ring.active_version != target:
        raise RuntimeError(f"tenant {slug}: active data key is v{ring.active_version}, rotation targets v{target}")
    tables = _tables()
    index, after = int(rotation.cursor.get("table", 0)), rotation.cursor.get("after")
    tconn = await _tenant(conn, slug)
    if index >= len(tables):
        return await _finish(conn, tconn, rotation)
    table, pk, columns = tables[index]
    query = select(pk, *columns).order_by(pk).limit(batch).with_for_update()
    if after is not None:
        query = query.where(pk > pk.type.python_type(after))
    rows = (await tconn.execute(query)).all()
    updates = []
    for row in rows:
        values: dict[str, Any] = {"_pk": row[0]}
        changed = False
        for column, blob in zip(columns, row[1:], strict=True):
            values[column.name] = blob
            if blob is None or version_of(blob) in (None, target):
                continue
            ad = aad(slug, table.name, column.name, row[0])
            values[column.name] = seal(ring, open_sealed(ring, blob, ad), ad)
            changed = True
        if changed:
            updates.append(values)
    if updates:
        await tconn.execute(
            update(table).where(pk == bindparam("_pk")).values({c.name: bindparam(c.name) for c in columns}),
            updates,
        )
    cursor = ({"table": index, "after": str(rows[-1][0])} if len(rows) == batch
              else {"table": index + 1, "after": None})
    await conn.execute(update(KeyRotation).where(KeyRotation.id == rotation.id).values(
        cursor=cursor, rows_done=KeyRotation.rows_done + len(rows), updated_at=func.now()))
    return False


async def _finish(conn: AsyncConnection, tconn: AsyncConnection, rotation: Any) -> bool:
    target = int(rotation.to_version).to_bytes(4, "big")
    stale = 0
    for table, _, columns in _tables():
        for column in columns:
            stale += int(await tconn.scalar(
                select(func.count()).select_from(table).where(
                    column.is_not(None), func.get_byte(column, 0) == 1, func.substring(column, 2, 4) != target)
            ) or 0)
    if stale:  # cannot happen while writers lock the active key; go round once more rather than lose rows
        logger.warning("rotation %s: %d values still under an older key; another pass", rotation.id, stale)
        await conn.execute(update(KeyRotation).where(KeyRotation.id == rotation.id)
                           .values(cursor={"table": 0, "after": None}, updated_at=func.now()))
        return False
    destroyed = await conn.execute(
        update(TenantKey)
        .where(TenantKey.tenant_slug == rotation.tenant_slug, TenantKey.purpose == KeyPurpose.DATA,
               TenantKey.state == KeyState.RETIRING)
        .values(state=KeyState.RETIRED, wrapped=None, retired_at=func.now())
    )
    await conn.execute(update(KeyRotation).where(KeyRotation.id == rotation.id).values(
        # rows written while it ran were visited too: the total becomes what was visited, if more
        state="done", rows_total=func.greatest(KeyRotation.rows_total, KeyRotation.rows_done),
        rows_done=func.greatest(KeyRotation.rows_total, KeyRotation.rows_done), finished_at=func.now(),
        updated_at=func.now()))
    logger.info("data key rotation %s done for tenant %s: %d retired key(s) destroyed", rotation.id,
                rotation.tenant_slug, destroyed.rowcount)
    return True


async def run_data_rotation(
    rotation_id: uuid.UUID, *, batch: int = DEFAULT_BATCH, max_batches: int | None = None,
    on_progress: Callable[[RotationInfo], None] | None = None,
) -> RotationInfo | None:
    """Run (or resume) a rotation to its end; ``max_batches`` stops early (tests, a bounded job).

    Two runners of the same rotation take turns (the rotation row is locked per batch). Returns the
    rotation as it stands, or None when it does not exist.
    """
    done_batches = 0
    while True:
        async with get_engine().begin() as conn:
            rotation = (await conn.execute(
                select(KeyRotation).where(KeyRotation.id == rotation_id).with_for_update()
            )).first()
            if rotation is None:
                return None
            if rotation.state != "running":
                return _info(rotation)
            try:
                finished = await _batch(conn, rotation, batch)
            except DecryptionError as exc:
                failure: DecryptionError | None = exc
            else:
                failure = None
            if failure is None:
                current = (await conn.execute(select(KeyRotation).where(KeyRotation.id == rotation_id))).one()
        if failure is not None:
            # nothing of the batch is kept; the rotation stops where it was, the old key stays, and it says why
            async with get_engine().begin() as conn:
                await conn.execute(update(KeyRotation).where(KeyRotation.id == rotation_id).values(
                    state="failed", error=f"{failure} (the old key is kept; repair or erase the value, then resume)",
                    updated_at=func.now()))
                current = (await conn.execute(select(KeyRotation).where(KeyRotation.id == rotation_id))).one()
            logger.error("data key rotation %s stopped: %s", rotation_id, failure)
            return _info(current)
        if finished:
            forget_keyring(rotation.tenant_slug)
        info = _info(current)
        if on_progress is not None:
            on_progress(info)
        done_batches += 1
        if finished or (max_batches is not None and done_batches >= max_batches):
            return info


async def get_rotation(rotation_id: uuid.UUID) -> RotationInfo | None:
    async with get_engine().connect() as conn:
        row = (await conn.execute(select(KeyRotation).where(KeyRotation.id == rotation_id))).first()
    return _info(row) if row is not None else None


async def list_rotations(slug: str | None = None, *, limit: int = 20) -> list[RotationInfo]:
    query = select(KeyRotation).order_by(KeyRotation.started_at.desc()).limit(limit)
    if slug is not None:
        query = query.where(KeyRotation.tenant_slug == slug)
    async with get_engine().connect() as conn:
        return [_info(r) for r in (await conn.execute(query)).all()]
