"""Deliveries for tenant admins: ``outboxItems`` (failed ones by default) and ``retryOutboxItems``.

Authorized with ``diagnostics.run``. An item shows where it goes (the user or external body) and how its delivery
went, never its payload (sealed, it may hold personal data).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from services.api.authz import require, require_query
from services.api.complaints.types import ComplaintType, PageInfo, load_complaint
from services.api.context import Info
from services.api.cursors import parse_time_id_cursor, time_id_cursor
from services.api.errors import RequestError, UserError, user_error
from services.api.escalation.schema import kick_outbox
from services.api.escalation.types import ExternalBodyType, load_body
from services.api.ids import decode_id
from services.api.nodes import Node, global_id
from services.api.org.types import UserType, load_user, parse_uuid
from services.core.authz import Action
from services.core.errors import DomainError, ErrorCode
from services.core.outbox import admin
from services.core.outbox import service as outbox
from services.core.outbox.models import OutboxKind, OutboxState

strawberry.enum(OutboxKind, name="OutboxKind", description="NOTIFICATION (in-app), WEBHOOK, EMAIL")
strawberry.enum(OutboxState, name="OutboxState",
                description="PENDING (due at nextAttemptAt), SENT, FAILED (gave up: lastError says why), "
                            "SKIPPED (the channel is not configured)")


def _cursor(item: admin.OutboxItemView) -> str:
    return time_id_cursor("o", item.created_at, item.id)


def _parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    return parse_time_id_cursor("o", cursor)


@strawberry.type(name="OutboxItem", description="A side effect to deliver (a notification, webhook or e-mail) and how "
                                               "its delivery went; its content is never shown")
class OutboxItemType(Node):
    kind: OutboxKind
    state: OutboxState
    attempts: int = strawberry.field(description="attempts so far (reset to 0 by retryOutboxItems)")
    last_error: str | None = strawberry.field(description="why the last attempt failed")
    next_attempt_at: datetime = strawberry.field(description="when a pending item is tried next")
    created_at: datetime
    sent_at: datetime | None
    user_id: strawberry.Private[uuid.UUID | None]
    external_body_id: strawberry.Private[uuid.UUID | None]
    complaint_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_view(cls, v: admin.OutboxItemView) -> OutboxItemType:
        return cls(id=global_id("OutboxItem", v.id), kind=v.kind, state=v.state, attempts=v.attempts,
                   last_error=v.last_error, next_attempt_at=v.next_attempt_at, created_at=v.created_at,
                   sent_at=v.sent_at, user_id=v.user_id, external_body_id=v.external_body_id,
                   complaint_id=v.complaint_id)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False
                            ) -> list[OutboxItemType | None]:
        """``node(id:)``: for those who may see deliveries (``diagnostics.run``); null for anyone else."""
        parsed = [parse_uuid(n) for n in node_ids]
        try:
            await require_query(info.context, Action.DIAGNOSTICS_RUN)
        except RequestError as exc:
            if exc.extensions.get("code") != "FORBIDDEN":
                raise
            return [None] * len(parsed)
        async with info.context.db() as session:
            found = await admin.items_by_id(session, [p for p in parsed if p is not None])
        return [cls.from_view(found[p]) if p is not None and p in found else None for p in parsed]

    @strawberry.field(description="The user it goes to (notifications and e-mails); null for a webhook or a user "
                                  "that no longer exists")
    async def recipient(self, info: Info) -> UserType | None:
        return await load_user(info, self.user_id)

    @strawberry.field(description="The external body it goes to (webhooks); null otherwise")
    async def external_body(self, info: Info) -> ExternalBodyType | None:
        return await load_body(info, self.external_body_id) if self.external_body_id is not None else None

    @strawberry.field(description="The complaint it is about, if any and if you may read it")
    async def complaint(self, info: Info) -> ComplaintType | None:
        return await load_complaint(info, self.complaint_id)


@strawberry.type
class OutboxItemEdge:
    cursor: str
    node: OutboxItemType


@strawberry.type
class OutboxItemConnection:
    edges: list[OutboxItemEdge]
    page_info: PageInfo
    state: strawberry.Private[OutboxState]

    @strawberry.field(description="All items in this state")
    async def total_count(self, info: Info) -> int:
        async with info.context.db() as session:
            return await admin.count_items(session, state=self.state)


@strawberry.input(description="Failed deliveries to try again (all of them, or none if one cannot be)")
class RetryOutboxItemsInput:
    ids: list[relay.GlobalID]


@strawberry.type
class RetryOutboxItemsPayload:
    retried: int = 0
    items: list[OutboxItemType] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OutboxQueries:
    @strawberry.field(description="Admin: deliveries in a state (failed by default), newest first")
    async def outbox_items(self, info: Info, state: OutboxState = OutboxState.FAILED, first: int = 20,
                           after: str | None = None) -> OutboxItemConnection:
        await require_query(info.context, Action.DIAGNOSTICS_RUN)
        position = _parse_cursor(after) if after is not None else None
        async with info.context.db() as session:
            try:
                page, more = await admin.list_items(session, state=state, first=first, after=position)
            except DomainError as exc:
                raise RequestError(exc.message, "BAD_USER_INPUT") from None
        edges = [OutboxItemEdge(cursor=_cursor(v), node=OutboxItemType.from_view(v)) for v in page]
        return OutboxItemConnection(
            edges=edges, state=state,
            page_info=PageInfo(has_next_page=more, has_previous_page=after is not None,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=edges[-1].cursor if edges else None),
        )


def _decode_ids(ids: list[relay.GlobalID]) -> list[uuid.UUID]:
    out = []
    for index, gid in enumerate(ids):
        try:
            out.append(decode_id(gid, "OutboxItem", "ids"))
        except DomainError:
            raise DomainError(ErrorCode.NOT_FOUND, "outbox item not found", ["ids", str(index)]) from None
    return out


@strawberry.type
class OutboxMutations:
    @strawberry.mutation(description="Admin: put failed deliveries back in the queue, due now (all or none)")
    async def retry_outbox_items(self, info: Info, input: RetryOutboxItemsInput) -> RetryOutboxItemsPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.DIAGNOSTICS_RUN)
                retried = await outbox.retry_failed(session, actor=viewer.actor, now=ctx.now(),
                                                    item_ids=_decode_ids(input.ids))
                found = await admin.items_by_id(session, retried)  # as the retry left them: pending, due now
        except DomainError as exc:
            return RetryOutboxItemsPayload(user_errors=[user_error(exc)])
        await kick_outbox()
        return RetryOutboxItemsPayload(retried=len(retried),
                                       items=[OutboxItemType.from_view(found[i]) for i in retried if i in found])
