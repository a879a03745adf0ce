"""The messages to the customer: ``messageTemplates`` and ``updateMessageTemplate`` (tenant admins,
``message_template.manage``), ``updateComplaintContact`` (``complaint.update_contact``). The complaint's
``preferredContact`` and ``messages`` are fields of ``Complaint``."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay

from services.api.authz import require, require_query
from services.api.complaints.mutations import ComplaintPayload, _reload
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.api.ids import decode_id
from services.api.messages.types import ContactInput
from services.core.authz import Action
from services.core.errors import DomainError
from services.core.messages import service as svc
from services.core.messages import templates
from services.core.messages.models import MessageKind


@strawberry.type(description="The wording of one message in one language (Jinja placeholders such as "
                             "{{ number }})")
class MessageTemplate:
    kind: MessageKind
    locale: str
    subject: str = strawberry.field(description="the e-mail's subject (SMS sends the body only)")
    body: str
    is_default: bool = strawberry.field(description="true: the template's default (the tenant has not changed it)")
    placeholders: list[str] = strawberry.field(description="the placeholders this message may use")
    required_placeholders: list[str]
    updated_at: datetime | None

    @classmethod
    def from_effective(cls, e: templates.Effective) -> MessageTemplate:
        return cls(kind=e.kind, locale=e.locale, subject=e.subject, body=e.body, is_default=e.is_default,
                   placeholders=sorted(templates.PLACEHOLDERS[e.kind]),
                   required_placeholders=sorted(templates.REQUIRED[e.kind]), updated_at=e.updated_at)


@strawberry.input
class UpdateMessageTemplateInput:
    kind: MessageKind
    locale: str = strawberry.field(description="zh-CN or en")
    subject: str | None = None
    body: str | None = None
    reset: bool = strawberry.field(default=False, description="back to the template's default")


@strawberry.type
class UpdateMessageTemplatePayload:
    template: MessageTemplate | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Change the customer's preferred contact (an open case)")
class UpdateComplaintContactInput:
    complaint_id: relay.GlobalID
    contact: ContactInput


@strawberry.type
class MessageQueries:
    @strawberry.field(description="The wording of every message to the customer (both languages unless locale)")
    async def message_templates(self, info: Info, locale: str | None = None) -> list[MessageTemplate]:
        await require_query(info.context, Action.MANAGE_MESSAGE_TEMPLATES)
        async with info.context.db() as session:
            try:
                found = await templates.effective(session, locale=locale)
            except DomainError as exc:
                from services.api.errors import RequestError

                raise RequestError(exc.message, "BAD_USER_INPUT") from None
        return [MessageTemplate.from_effective(e) for e in found]


@strawberry.type
class MessageMutations:
    @strawberry.mutation(description="The tenant's own wording of a message (placeholders checked), or reset")
    async def update_message_template(self, info: Info, input: UpdateMessageTemplateInput
                                      ) -> UpdateMessageTemplatePayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.MANAGE_MESSAGE_TEMPLATES)
                found = await templates.update_template(
                    session, actor=viewer.actor, now=ctx.now(), kind=input.kind, locale=input.locale,
                    subject=input.subject, body=input.body, reset=input.reset)
        except DomainError as exc:
            return UpdateMessageTemplatePayload(user_errors=[user_error(exc)])
        return UpdateMessageTemplatePayload(template=MessageTemplate.from_effective(found))

    @strawberry.mutation(description="Change the customer's preferred contact: channel, address or number, language")
    async def update_complaint_contact(self, info: Info, input: UpdateComplaintContactInput) -> ComplaintPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            cid = decode_id(input.complaint_id, "Complaint", "complaintId")
            async with ctx.transaction() as session:
                await require(ctx, session, Action.UPDATE_CONTACT, cid)
                c = input.contact
                await svc.update_contact(session, actor=viewer.actor, now=ctx.now(), complaint_id=cid,
                                         contact=svc.ContactInput(c.channel, c.address, c.locale))
        except DomainError as exc:
            return ComplaintPayload(user_errors=[user_error(exc)])
        return ComplaintPayload(complaint=await _reload(ctx, cid))
