"""The outbox as a tenant admin sees it: items by state, newest first, without their payloads.

A payload is sealed and may hold personal data (a dossier, a notification's text), so nothing here reads it:
the views are built from the plain columns only, and ``target`` is reduced to the id of the user or external
body it goes to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.outbox.models import OutboxItem, OutboxKind, OutboxState

MAX_PAGE = 100

_COLUMNS = (OutboxItem.id, OutboxItem.kind, OutboxItem.state, OutboxItem.attempts, OutboxItem.last_error,
            OutboxItem.next_attempt_at, OutboxItem.created_at, OutboxItem.sent_at, OutboxItem.complaint_id,
            OutboxItem.target)


@dataclass(frozen=True)
class OutboxItemView:
    id: uuid.UUID
    kind: OutboxKind
    state: OutboxState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None
    complaint_id: uuid.UUID | None
    user_id: uuid.UUID | None  # target "user:<id>"
    external_body_id: uuid.UUID | None  # target "external_body:<id>"


def _ref(target: str, kind: str) -> uuid.UUID | None:
    prefix, _, ref = target.partition(":")
    if prefix != kind:
        return None
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _view(row: Any) -> OutboxItemView:
    return OutboxItemView(
        id=row.id, kind=OutboxKind(row.kind), state=OutboxState(row.state), attempts=row.attempts,
        last_error=row.last_error, next_attempt_at=row.next_attempt_at, created_at=row.created_at,
        sent_at=row.sent_at, complaint_id=row.complaint_id, user_id=_ref(row.target, "user"),
        external_body_id=_ref(row.target, "external_body"),
    )


async def list_items(
    session: AsyncSession, *, state: OutboxState, first: int = 20, after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[OutboxItemView], bool]:
    """The items in ``state``, newest first; (page, has_next_page). ``after``: (created_at, id) of the last seen."""
    if not 1 <= first <= MAX_PAGE:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("first must be between 1 and {max_page}", max_page=MAX_PAGE), ["first"])
    query = select(*_COLUMNS).where(OutboxItem.state == state.value)
    if after is not None:
        query = query.where(tuple_(OutboxItem.created_at, OutboxItem.id) < tuple_(after[0], after[1]))
    found = (await session.execute(
        query.order_by(OutboxItem.created_at.desc(), OutboxItem.id.desc()).limit(first + 1))).all()
    return [_view(r) for r in found[:first]], len(found) > first


async def count_items(session: AsyncSession, *, state: OutboxState) -> int:
    return int(await session.scalar(
        select(func.count()).select_from(OutboxItem).where(OutboxItem.state == state.value)) or 0)


async def items_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OutboxItemView]:
    if not ids:
        return {}
    found = (await session.execute(select(*_COLUMNS).where(OutboxItem.id.in_(list(ids))))).all()
    return {r.id: _view(r) for r in found}
