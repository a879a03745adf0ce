"""External bodies, escalation and routing (names from api.md: externalBodies, upsertExternalBody,
escalateComplaint; routeComplaint is new). Resolvers call one core function each."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry import relay

from services.api.authz import require, require_query
from services.api.complaints.mutations import _reload
from services.api.complaints.types import ComplaintType
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.api.escalation.types import Escalation, EscalationSettingsType, ExternalBodyType, Routing
from services.api.ids import decode_id, decode_optional
from services.core import queue
from services.core.authz import Action
from services.core.errors import DomainError
from services.core.escalation import models
from services.core.escalation import service as svc
from services.core.queue import Job

logger = logging.getLogger("complaintdesk.api.escalation")


async def kick_outbox() -> None:
    """The fast path after a commit: ask a worker to deliver now. Best effort: the sweeper delivers anyway
    (PostgreSQL holds the outbox, so a lost message or a lost Redis loses nothing)."""
    try:
        await queue.enqueue(Job.OUTBOX)
    except Exception as exc:  # Redis down: the sweeper will deliver
        logger.warning("outbox fast path not sent (%s); the sweeper will deliver", type(exc).__name__)


@strawberry.input(description="Create an external body (no id) or change one (id)")
class UpsertExternalBodyInput:
    name: str
    kind: models.ExternalBodyKind
    id: relay.GlobalID | None = None
    handles: list[str] = strawberry.field(default_factory=list,
                                          description="category codes or keywords it handles")
    handles_text: str | None = None
    contact: str | None = None
    webhook_url: str | None = strawberry.field(default=None, description="https:// endpoint for dossiers")
    webhook_secret: str | None = strawberry.field(
        default=None, description="HMAC key for the signature header (16-200 characters); null keeps, '' removes")
    escalation_level: int | None = strawberry.field(
        default=None, description="1 industry association, 2 regulator, ...; null: not an escalation target")
    receives_personal_data: bool = False
    active: bool = True


@strawberry.type
class UpsertExternalBodyPayload:
    external_body: ExternalBodyType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Escalate a re-complaint to an external body (seed III item 12)")
class EscalateComplaintInput:
    complaint_id: relay.GlobalID
    reason: str
    external_body_id: relay.GlobalID | None = strawberry.field(
        default=None, description="default: the next body by escalation level (association, then regulator)")
    step: int | None = strawberry.field(
        default=None, description="the step you mean (1, 2, ...): a repeated request returns that step unchanged")


@strawberry.type
class EscalateComplaintPayload:
    complaint: ComplaintType | None = None
    escalation: Escalation | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A complaint for another authority (seed II): route it, or tell the customer")
class RouteComplaintInput:
    complaint_id: relay.GlobalID
    external_body_id: relay.GlobalID
    mode: models.RoutingMode
    note: str | None = None


@strawberry.input(description="Refer the complaint to the authority it belongs to (it ends as REFERRED)")
class ReferComplaintInput:
    complaint_id: relay.GlobalID
    external_body_id: relay.GlobalID
    note: str | None = None


@strawberry.type
class RouteComplaintPayload:
    complaint: ComplaintType | None = None
    routing: Routing | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="The tenant's escalation settings")
class UpdateEscalationSettingsInput:
    auto_escalate_on_final_dissatisfaction: bool | None = strawberry.field(default=None, description="null keeps it")
    after_final_answer: list[svc.AfterFinalAnswer] | None = strawberry.field(default=None,
                                                                          description="null keeps it")


@strawberry.type
class UpdateEscalationSettingsPayload:
    settings: EscalationSettingsType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class EscalationQueries:
    @strawberry.field(description="The tenant's directory of external bodies (by escalation level, then name)")
    async def external_bodies(self, info: Info, handles: str | None = None) -> list[ExternalBodyType]:
        await require_query(info.context, Action.EXTERNAL_BODY_READ)
        async with info.context.db() as session:
            return [ExternalBodyType.from_model(b) for b in await svc.list_external_bodies(session, handles=handles)]

    @strawberry.field(description="The tenant's escalation settings (automatic escalation)")
    async def escalation_settings(self, info: Info) -> EscalationSettingsType:
        await require_query(info.context, Action.EXTERNAL_BODY_READ)
        async with info.context.db() as session:
            return EscalationSettingsType.from_core(await svc.escalation_settings(session))


@strawberry.type
class EscalationMutations:
    @strawberry.mutation(description="Admin: add or change an external body")
    async def upsert_external_body(self, info: Info, input: UpsertExternalBodyInput) -> UpsertExternalBodyPayload:
        ctx = info.context
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.EXTERNAL_BODY_MANAGE)
                body = await svc.upsert_external_body(
                    session, now=ctx.now(), body_id=decode_optional(input.id, "ExternalBody", "id"),
                    data=svc.ExternalBodyInput(
                        name=input.name, kind=input.kind, handles=input.handles, handles_text=input.handles_text,
                        contact=input.contact, webhook_url=input.webhook_url, webhook_secret=input.webhook_secret,
                        escalation_level=input.escalation_level,
                        receives_personal_data=input.receives_personal_data, active=input.active,
                    ),
                )
        except DomainError as exc:
            return UpsertExternalBodyPayload(user_errors=[user_error(exc)])
        return UpsertExternalBodyPayload(external_body=ExternalBodyType.from_model(body))

    @strawberry.mutation(description="Admin: switch automatic escalation on final dissatisfaction on or off "
                                     "(audited)")
    async def update_escalation_settings(self, info: Info, input: UpdateEscalationSettingsInput
                                         ) -> UpdateEscalationSettingsPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.EXTERNAL_BODY_MANAGE)
                settings = await svc.update_escalation_settings(
                    session, actor=viewer.actor, now=ctx.now(),
                    auto_escalate_on_final_dissatisfaction=input.auto_escalate_on_final_dissatisfaction,
                    after_final_answer=input.after_final_answer)
        except DomainError as exc:
            return UpdateEscalationSettingsPayload(user_errors=[user_error(exc)])
        return UpdateEscalationSettingsPayload(settings=EscalationSettingsType.from_core(settings))

    @strawberry.mutation(description="Escalate to the next external body with the case dossier, exactly once per step")
    async def escalate_complaint(self, info: Info, input: EscalateComplaintInput) -> EscalateComplaintPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            cid = decode_id(input.complaint_id, "Complaint", "complaintId")
            async with ctx.transaction() as session:
                await require(ctx, session, Action.ESCALATE, cid)
                escalation = await svc.escalate_complaint(
                    session, actor=viewer.actor, now=ctx.now(), complaint_id=cid, reason=input.reason,
                    body_id=decode_optional(input.external_body_id, "ExternalBody", "externalBodyId"),
                    step=input.step,
                )
        except DomainError as exc:
            return EscalateComplaintPayload(user_errors=[user_error(exc)])
        await kick_outbox()
        return EscalateComplaintPayload(complaint=await _reload(ctx, cid), escalation=Escalation.from_model(escalation))

    @strawberry.mutation(description="Route a complaint to another authority, or record that the customer was told")
    async def route_complaint(self, info: Info, input: RouteComplaintInput) -> RouteComplaintPayload:
        payload = await _routing(info, input.complaint_id, input.external_body_id, svc.route_complaint,
                                 mode=input.mode, note=input.note)
        if payload.routing is not None and input.mode == models.RoutingMode.ROUTED:
            await kick_outbox()
        return payload

    @strawberry.mutation(description="Seed II: the matter belongs to another authority: the case ends as REFERRED "
                         "and the customer is told which body and how to reach it")
    async def refer_complaint(self, info: Info, input: ReferComplaintInput) -> RouteComplaintPayload:
        return await _routing(info, input.complaint_id, input.external_body_id, svc.refer_complaint,
                              note=input.note)


async def _routing(info: Info, complaint_id: relay.GlobalID, external_body_id: relay.GlobalID,
                   step: Callable[..., Awaitable[Any]], **form: Any) -> RouteComplaintPayload:
    """Route or refer (``complaint.route``): the complaint, then the body, in one transaction."""
    ctx = info.context
    viewer = await ctx.require_viewer()
    try:
        cid = decode_id(complaint_id, "Complaint", "complaintId")
        async with ctx.transaction() as session:
            await require(ctx, session, Action.ROUTE, cid)
            body_id: uuid.UUID = decode_id(external_body_id, "ExternalBody", "externalBodyId")
            routing = await step(session, actor=viewer.actor, now=ctx.now(), complaint_id=cid, body_id=body_id,
                                 **form)
    except DomainError as exc:
        return RouteComplaintPayload(user_errors=[user_error(exc)])
    return RouteComplaintPayload(complaint=await _reload(ctx, cid), routing=Routing.from_model(routing))
