"""In-app notifications: a user reads and marks only their own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import User
from services.core.outbox.models import Notification

MAX_PAGE = 100


async def list_notifications(
    session: AsyncSession, *, user_id: uuid.UUID, unread_only: bool = False, first: int = 20,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[Sequence[Notification], bool]:
    """Newest first; (page, has_next_page). ``after`` is the (created_at, id) of the last one seen."""
    if not 1 <= first <= MAX_PAGE:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("first must be between 1 and {max_page}", max_page=MAX_PAGE), ["first"])
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if after is not None:
        query = query.where(tuple_(Notification.created_at, Notification.id) < tuple_(after[0], after[1]))
    rows = (await session.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(first + 1))).all()
    return rows[:first], len(rows) > first


async def unread_count(session: AsyncSession, *, user_id: uuid.UUID) -> int:
    return int(await session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


async def mark_read(
    session: AsyncSession, *, user_id: uuid.UUID, now: datetime, notification_id: uuid.UUID | None = None,
    all_: bool = False,
) -> Notification | None:
    """Mark one of the user's notifications read (another user's is "not found"), or all of them."""
    if all_:
        await session.execute(update(Notification).where(Notification.user_id == user_id,
                                                         Notification.read_at.is_(None)).values(read_at=now))
        return None
    if notification_id is None:
        raise DomainError(ErrorCode.REQUIRED, "notificationId or all is required", ["notificationId"])
    note = await session.get(Notification, notification_id, with_for_update=True)
    if note is None or note.user_id != user_id:
        raise DomainError(ErrorCode.NOT_FOUND, "notification not found", ["notificationId"])
    if note.read_at is None:
        note.read_at = now
    return note


FEED_WINDOW = timedelta(minutes=5)  # how late a delivery may commit and still be seen by a live feed
FEED_BATCH = 100


@dataclass
class Feed:
    """A live feed of one user's new notifications (the ``notificationReceived`` subscription): each ``poll`` runs
    on a short session of its own and returns the rows delivered since the last one, each once. Rows count as new
    from ``start`` on; a delivery that commits up to ``FEED_WINDOW`` after its ``created_at`` is still seen."""

    user_id: uuid.UUID
    seen: dict[uuid.UUID, datetime] = field(default_factory=dict)
    floor: datetime | None = None

    async def start(self, session: AsyncSession) -> None:
        now = await session.scalar(select(func.now()))
        assert now is not None
        self.floor = now - FEED_WINDOW
        self.seen = {i: at for i, at in (await session.execute(select(Notification.id, Notification.created_at).where(
            Notification.user_id == self.user_id, Notification.created_at > self.floor)))}

    async def poll(self, session: AsyncSession) -> list[Notification] | None:
        """The new rows, oldest first; None once the user is no longer active (the feed ends)."""
        if self.floor is None:
            await self.start(session)
        assert self.floor is not None
        if not await session.scalar(select(User.active).where(User.id == self.user_id)):
            return None
        query = select(Notification).where(Notification.user_id == self.user_id, Notification.created_at > self.floor)
        if self.seen:
            query = query.where(Notification.id.not_in(list(self.seen)))
        found = list((await session.scalars(
            query.order_by(Notification.created_at, Notification.id).limit(FEED_BATCH))).all())
        for n in found:
            self.seen[n.id] = n.created_at
        if self.seen:
            newest = max(self.seen.values())
            self.floor = max(self.floor, newest - FEED_WINDOW)
            self.seen = {i: at for i, at in self.seen.items() if at > self.floor}
        return found
