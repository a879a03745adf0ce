"""Admin: the public procedure page's content (``updateComplaintProcedure``) and the tenant's default language
(``updateTenantLocale``); both need ``procedure.manage``. The page itself is ``complaintProcedure`` (queries)."""

from __future__ import annotations

from typing import Any

import strawberry

from services.api.authz import require
from services.api.complaints.queries import ComplaintProcedure, procedure_view
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.core.authz import Action
from services.core.complaints import models
from services.core.complaints import procedure as proc
from services.core.errors import DomainError
from services.core.escalation.service import recomplaint_bodies


@strawberry.input(description="A text in both languages (each required)")
class LocalizedTextInput:
    zh_cn: str = strawberry.field(name="zhCN")
    en: str


@strawberry.input(description="A channel and how to reach it")
class ProcedureChannelInput:
    channel: models.Channel
    contact: LocalizedTextInput | None = None


@strawberry.input(description="A time the customer may expect; key: capital letters, digits, _ (e.g. FIRST_ANSWER)")
class ProcedureExpectedTimeInput:
    key: str
    label: LocalizedTextInput
    time: LocalizedTextInput


@strawberry.input(description="A step of the procedure; key: capital letters, digits, _ (e.g. INVESTIGATE)")
class ProcedureStepInput:
    key: str
    name: LocalizedTextInput
    description: LocalizedTextInput
    expected_time: LocalizedTextInput


@strawberry.input(description="The parts of the procedure page to change (the others stay); lists replace the list")
class UpdateComplaintProcedureInput:
    summary: LocalizedTextInput | None = None
    hotline: str | None = None
    address: LocalizedTextInput | None = None
    web: str | None = None
    channels: list[ProcedureChannelInput] | None = None
    expected_times: list[ProcedureExpectedTimeInput] | None = None
    steps: list[ProcedureStepInput] | None = None
    further_complaint_text: LocalizedTextInput | None = None


@strawberry.type
class UpdateComplaintProcedurePayload:
    procedure: ComplaintProcedure | None = strawberry.field(default=None,
                                                            description="the page as it now reads, in your locale")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="The tenant's default language: zh-CN or en")
class UpdateTenantLocaleInput:
    default_locale: str


@strawberry.type
class UpdateTenantLocalePayload:
    default_locale: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _text(t: LocalizedTextInput | None) -> dict[str, str] | None:
    return None if t is None else {"zh-CN": t.zh_cn, "en": t.en}


def _changes(i: UpdateComplaintProcedureInput) -> dict[str, Any]:
    return {
        "summary": _text(i.summary), "hotline": i.hotline, "address": _text(i.address), "web": i.web,
        "furtherComplaint": _text(i.further_complaint_text),
        "channels": None if i.channels is None else [{"channel": c.channel.value, "contact": _text(c.contact)}
                                                     for c in i.channels],
        "expectedTimes": None if i.expected_times is None else [
            {"key": t.key, "label": _text(t.label), "time": _text(t.time)} for t in i.expected_times],
        "steps": None if i.steps is None else [
            {"key": s.key, "name": _text(s.name), "description": _text(s.description),
             "expectedTime": _text(s.expected_time)} for s in i.steps],
    }


@strawberry.type
class ProcedureMutations:
    @strawberry.mutation(description="Admin: change what the public procedure page says (each text in zh-CN and "
                                     "en; audited)")
    async def update_complaint_procedure(self, info: Info, input: UpdateComplaintProcedureInput
                                         ) -> UpdateComplaintProcedurePayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.PROCEDURE_MANAGE)
                content = await proc.update_procedure(session, actor=viewer.actor, now=ctx.now(),
                                                      template=ctx.tenant.template, changes=_changes(input))
                bodies = await recomplaint_bodies(session)
        except DomainError as exc:
            return UpdateComplaintProcedurePayload(user_errors=[user_error(exc)])
        return UpdateComplaintProcedurePayload(procedure=procedure_view(proc.render(content, await ctx.locale()),
                                                                        bodies))

    @strawberry.mutation(description="Admin: the tenant's default language, for readers who chose none and whose "
                                     "request asks for neither zh-CN nor en (audited)")
    async def update_tenant_locale(self, info: Info, input: UpdateTenantLocaleInput) -> UpdateTenantLocalePayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.PROCEDURE_MANAGE)
                chosen = await proc.set_default_locale(session, actor=viewer.actor, now=ctx.now(),
                                                       locale=input.default_locale)
        except DomainError as exc:
            return UpdateTenantLocalePayload(user_errors=[user_error(exc)])
        ctx.forget_locale()
        return UpdateTenantLocalePayload(default_locale=chosen)
