"""In-app notifications of the signed-in user: ``notifications``, ``markNotificationRead``, and the hand-off
preference (``updateMyPreferences``; read as ``me { notificationPreference }``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from datetime import datetime

import strawberry
from strawberry import relay

from services.api.complaints.types import ComplaintType, PageInfo, load_complaint
from services.api.context import Info
from services.api.cursors import parse_time_id_cursor, time_id_cursor
from services.api.errors import RequestError, UserError, user_error
from services.api.ids import decode_optional
from services.api.nodes import global_id
from services.core.errors import DomainError, ErrorCode
from services.core.i18n.tenant import set_user_locale
from services.core.outbox import handoffs
from services.core.outbox import notifications as svc
from services.core.outbox.handoffs import NotificationPreference
from services.core.outbox.models import Notification as NotificationModel
from services.core.tenancy import tenant_session

FEED_POLL_S = 1.0  # how often a live feed looks for new notifications (one short query each time)


def _cursor(n: NotificationModel) -> str:
    return time_id_cursor("n", n.created_at, n.id)


def _parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return parse_time_id_cursor("n", cursor)


@strawberry.type(description="Where an SPA routes a notification: route 'complaint' with the Complaint's global id; "
                             "path is the same as /complaints/<id>")
class NotificationLink:
    route: str
    id: strawberry.ID
    path: str


@strawberry.type(description="An in-app notification for you (a breach, an escalation, a failed delivery, ...)")
class Notification:
    id: strawberry.ID
    kind: str
    title: str
    body: str | None
    created_at: datetime
    read_at: datetime | None
    complaint_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_model(cls, n: NotificationModel) -> Notification:
        return cls(id=global_id("Notification", n.id), kind=n.kind, title=n.title, body=n.body,
                   created_at=n.created_at, read_at=n.read_at, complaint_id=n.complaint_id)

    @strawberry.field(description="Where an SPA opens it (null when it is about no complaint)")
    def link(self) -> NotificationLink | None:
        if self.complaint_id is None:
            return None
        target = handoffs.link_for(global_id("Complaint", self.complaint_id))
        assert target is not None
        return NotificationLink(route=target["route"], id=strawberry.ID(target["id"]), path=target["path"])

    @strawberry.field(description="The complaint it is about, if you may still read it")
    async def complaint(self, info: Info) -> ComplaintType | None:
        return await load_complaint(info, self.complaint_id)


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    unread_count: int


@strawberry.input(description="Mark one notification read, or all of yours")
class MarkNotificationReadInput:
    notification_id: relay.GlobalID | None = None
    all: bool = False


@strawberry.type
class MarkNotificationReadPayload:
    notification: Notification | None = None
    unread_count: int = 0
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class NotificationQueries:
    @strawberry.field(description="Your in-app notifications, newest first")
    async def notifications(self, info: Info, unread_only: bool = False, first: int = 20,
                            after: str | None = None) -> NotificationConnection:
        viewer = await info.context.require_viewer()
        position = _parse_cursor(after) if after is not None else None
        async with info.context.db() as session:
            try:
                page, more = await svc.list_notifications(session, user_id=viewer.id, unread_only=unread_only,
                                                          first=first, after=position)
            except DomainError as exc:
                raise RequestError(exc.message, "BAD_USER_INPUT") from None
            unread = await svc.unread_count(session, user_id=viewer.id)
        edges = [NotificationEdge(cursor=_cursor(n), node=Notification.from_model(n)) for n in page]
        return NotificationConnection(
            edges=edges, unread_count=unread,
            page_info=PageInfo(has_next_page=more, has_previous_page=after is not None,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=edges[-1].cursor if edges else None),
        )


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(description="Mark a notification of yours read (or all of them)")
    async def mark_notification_read(self, info: Info, input: MarkNotificationReadInput) -> MarkNotificationReadPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                note = await svc.mark_read(
                    session, user_id=viewer.id, now=ctx.now(), all_=input.all,
                    notification_id=decode_optional(input.notification_id, "Notification", "notificationId"),
                )
                unread = await svc.unread_count(session, user_id=viewer.id)
        except DomainError as exc:
            return MarkNotificationReadPayload(user_errors=[user_error(exc)])
        return MarkNotificationReadPayload(notification=Notification.from_model(note) if note else None,
                                           unread_count=unread)


@strawberry.input(description="Your own preferences: give one or both")
class UpdateMyPreferencesInput:
    notifications: NotificationPreference | None = strawberry.field(
        default=None, description="how you hear of work handed to you: IN_APP, EMAIL or DIGEST")
    locale: str | None = strawberry.field(default=None, description="the language you read: zh-CN or en")


@strawberry.type
class UpdateMyPreferencesPayload:
    notification_preference: NotificationPreference | None = None
    locale: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PreferenceMutations:
    @strawberry.mutation(description="Your preferences: how you hear of work handed to you (IN_APP, EMAIL or "
                                     "DIGEST) and the language you read (zh-CN or en)")
    async def update_my_preferences(self, info: Info, input: UpdateMyPreferencesInput) -> UpdateMyPreferencesPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                if input.notifications is None and input.locale is None:
                    raise DomainError(ErrorCode.REQUIRED, "nothing to change", ["input"])
                chosen = (await handoffs.set_preference(session, actor=viewer.actor, now=ctx.now(),
                                                        preference=input.notifications)
                          if input.notifications is not None else await handoffs.get_preference(session, viewer.id))
                locale = (await set_user_locale(session, actor=viewer.actor, now=ctx.now(), locale=input.locale)
                          if input.locale is not None else viewer.locale)
        except DomainError as exc:
            return UpdateMyPreferencesPayload(user_errors=[user_error(exc)])
        if input.locale is not None:
            ctx.forget_locale()  # this response's texts are in the language just chosen
        return UpdateMyPreferencesPayload(notification_preference=chosen, locale=locale)


@strawberry.type
class NotificationSubscriptions:
    @strawberry.subscription(description="Your new notifications as they are delivered (graphql-transport-ws on "
                                         "/graphql; the access token in connection_init's Authorization)")
    async def notification_received(self, info: Info) -> AsyncGenerator[Notification, None]:
        ctx = info.context
        viewer = await ctx.require_viewer()
        tenant = ctx.tenant
        feed = svc.Feed(user_id=viewer.id)
        while True:
            async with tenant_session(tenant) as session:  # a short session per look: nothing held in between
                found = await feed.poll(session)
                fresh = [Notification.from_model(n) for n in found] if found is not None else None
            if fresh is None:  # the viewer was deactivated: the feed ends
                return
            for note in fresh:
                # the fields of each event (its complaint) read on a session of their own, closed after it
                async with AsyncExitStack() as stack:
                    ctx.exit_stack = stack
                    ctx.forget_session()
                    yield note
                ctx.forget_session()
            await asyncio.sleep(FEED_POLL_S)
