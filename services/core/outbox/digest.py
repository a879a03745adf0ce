"""The DIGEST notification preference: one e-mail a day per user, summing up the in-app notifications of the day
before (the tenant's calendar day, in its time zone). Users who chose DIGEST still get every notification in-app;
the e-mail goes through the outbox under the key ``digest:<user>:<YYYY-MM-DD>``, so it is enqueued exactly once
per user and day however many sweepers run, or how often. A day without notifications sends nothing.

``send_digests`` is called by the sweep (``outbox.sweeper.sweep_all``) for each active tenant at most every
``DIGEST_EVERY_S`` per process; the text holds the notifications' titles (complaint numbers and steps, never
personal data) and the outbox payload is sealed like every other.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.i18n import msg, translate
from services.core.i18n.tenant import user_locales
from services.core.org.models import User
from services.core.outbox.handoffs import NotificationPreference
from services.core.outbox.models import Notification, OutboxKind
from services.core.outbox.service import Effect, enqueue_many

MAX_LINES = 50  # titles listed in one digest (the rest are counted)


async def send_digests(session: AsyncSession, *, now: datetime) -> int:
    """Enqueue yesterday's digest (tenant time) for every active DIGEST user who had notifications then, in one
    transaction; how many are new. ``session``: a tenant session outside a transaction."""
    from services.core.complaints.service import tenant_timezone

    async with session.begin():
        tz = await tenant_timezone(session)
        today = now.astimezone(tz).date()
        day = today - timedelta(days=1)
        start = datetime.combine(day, time.min, tzinfo=tz)
        end = datetime.combine(today, time.min, tzinfo=tz)
        users = list((await session.scalars(select(User.id).where(
            User.active.is_(True), User.notification_preference == NotificationPreference.DIGEST.value)
            .order_by(User.id))).all())
        if not users:
            return 0
        found = (await session.execute(
            select(Notification.user_id, Notification.title, Notification.created_at)
            .where(Notification.user_id.in_(users), Notification.created_at >= start, Notification.created_at < end)
            .order_by(Notification.user_id, Notification.created_at, Notification.id))).all()
        titles: dict[uuid.UUID, list[tuple[str, datetime]]] = {}
        for user_id, title, at in found:
            titles.setdefault(user_id, []).append((title, at))
        effects = []
        locales = await user_locales(session, list(titles))  # each reads it in their language
        for user_id, items in titles.items():
            locale = locales[user_id]
            lines = [f"{at.astimezone(tz):%H:%M} {title}" for title, at in items[:MAX_LINES]]
            if len(items) > MAX_LINES:
                lines.append(translate(msg("... and {count} more", count=len(items) - MAX_LINES), locale))
            subject = translate(msg("complaintdesk {day}: 1 notification", day=day.isoformat())
                                if len(items) == 1 else
                                msg("complaintdesk {day}: {count} notifications", day=day.isoformat(),
                                    count=len(items)), locale)
            effects.append(Effect(OutboxKind.EMAIL, f"digest:{user_id}:{day.isoformat()}",
                                  {"user_id": str(user_id), "kind": "DIGEST", "title": subject,
                                   "body": "\n".join(lines), "complaint_id": None}, f"user:{user_id}"))
        new = await enqueue_many(session, effects, now=now)
    return len(new)
