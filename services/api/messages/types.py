"""GraphQL types of the messages to the customer (kept apart from the complaint types, which use them)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from services.core.messages.models import ContactChannel, MessageKind, MessageState, OutgoingMessage

strawberry.enum(ContactChannel, name="ContactChannel",
                description="EMAIL and SMS are sent by the platform; POST and PHONE are done by staff (a task for "
                            "the owner)")
strawberry.enum(MessageKind, name="MessageTemplateKind", description="The messages the rules send to the customer")
strawberry.enum(MessageState, name="MessageState",
                description="PENDING, SENT (taken by the mail server or SMS provider), DELIVERED (the provider "
                            "confirmed it), FAILED, TASKED (the owner was asked to tell the customer)")


@strawberry.type(description="How the customer wants to hear from us")
class PreferredContact:
    channel: ContactChannel
    address: str | None = strawberry.field(description="the e-mail, number or postal address; masked unless the "
                                                       "viewer may see identity")
    locale: str = strawberry.field(description="zh-CN or en (the tenant's default unless chosen)")
    masked: bool


@strawberry.type(name="ComplaintMessage", description="A message to the customer and how its delivery went")
class ComplaintMessage:
    id: strawberry.ID
    channel: ContactChannel | None = strawberry.field(description="null: there was no usable contact (TASKED)")
    template: MessageKind
    locale: str
    state: MessageState
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_model(cls, m: OutgoingMessage) -> ComplaintMessage:
        from services.api.nodes import global_id

        return cls(id=strawberry.ID(global_id("ComplaintMessage", m.id)),
                   channel=ContactChannel(m.channel) if m.channel else None, template=MessageKind(m.kind),
                   locale=m.locale, state=MessageState(m.state), attempts=m.attempts, last_error=m.last_error,
                   created_at=m.created_at, sent_at=m.sent_at, delivered_at=m.delivered_at)


@strawberry.input(description="The customer's preferred contact; address defaults to the complainant's e-mail, "
                              "phone or address for the channel")
class ContactInput:
    channel: ContactChannel
    address: str | None = None
    locale: str | None = strawberry.field(default=None, description="zh-CN or en")
