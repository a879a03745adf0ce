"""GraphQL types of external bodies, escalations and routings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from services.api.context import Info
from services.api.nodes import global_id
from services.core.escalation import models
from services.core.escalation.service import AfterFinalAnswer

strawberry.enum(models.ExternalBodyKind, name="ExternalBodyKind")
strawberry.enum(models.EscalationState, name="EscalationState")
strawberry.enum(models.EscalationTrigger, name="EscalationTrigger")
strawberry.enum(models.RoutingMode, name="RoutingMode",
                description="ROUTED: sent to the body; CUSTOMER_TOLD: the customer was told to go there")


@strawberry.type(name="EscalationSettings", description="The tenant's escalation settings")
class EscalationSettingsType:
    auto_escalate_on_final_dissatisfaction: bool = strawberry.field(
        description="a customer not satisfied at the final follow-up is escalated at once to the first external "
                    "body, where no review of the decision can still be asked for (default: on for banks, off for "
                    "retail)")
    after_final_answer: list[AfterFinalAnswer] = strawberry.field(
        description="what follows a final answer the customer may take outside (a review upheld or not answered "
                    "in time; without a review, an unsatisfied follow-up): GUIDE tells the customer where to "
                    "re-complain, FORWARD forwards the dossier (default: banks both, retail GUIDE)")

    @classmethod
    def from_core(cls, s: Any) -> EscalationSettingsType:
        return cls(auto_escalate_on_final_dissatisfaction=s.auto_escalate_on_final_dissatisfaction,
                   after_final_answer=list(s.after_final_answer))


@strawberry.type(name="ExternalBody", description="An authority or association outside the company (seed II, III)")
class ExternalBodyType:
    id: strawberry.ID
    name: str
    kind: models.ExternalBodyKind
    handles: list[str] = strawberry.field(description="what it handles: category codes or keywords")
    handles_text: str | None
    contact: str | None
    webhook_url: str | None
    has_webhook_secret: bool = strawberry.field(description="the secret itself is never shown")
    escalation_level: int | None = strawberry.field(
        description="order of re-complaint escalation: 1 industry association, 2 regulator; null: routing only")
    receives_personal_data: bool = strawberry.field(
        description="whether dossiers sent to it carry the complainant's identity")
    active: bool

    @classmethod
    def from_model(cls, b: models.ExternalBody) -> ExternalBodyType:
        return cls(id=global_id("ExternalBody", b.id), name=b.name, kind=models.ExternalBodyKind(b.kind),
                   handles=list(b.handles or []), handles_text=b.handles_text, contact=b.contact,
                   webhook_url=b.webhook_url, has_webhook_secret=b._webhook_secret is not None,
                   escalation_level=b.escalation_level, receives_personal_data=b.receives_personal_data,
                   active=b.active)


async def load_body(info: Info, body_id: uuid.UUID) -> ExternalBodyType | None:
    body = await info.context.loaders.external_body_by_id.load(body_id)
    return ExternalBodyType.from_model(body) if body is not None else None


@strawberry.type(description="One step of a re-complaint escalation to an external body, with its delivery")
class Escalation:
    id: strawberry.ID
    step: int
    level: int | None
    state: models.EscalationState
    trigger: models.EscalationTrigger
    reason: str | None
    dossier_sha256: str = strawberry.field(description="SHA-256 of the dossier sent (JSON, sorted keys)")
    personal_data_included: bool
    idempotency_key: str = strawberry.field(description="sent as the Idempotency-Key header on every attempt")
    created_at: datetime
    delivered_at: datetime | None
    receipt: JSON | None = strawberry.field(description="the receiver's answer: status, body hash, its id")
    body_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, e: Any) -> Escalation:
        return cls(id=global_id("Escalation", e.id), step=e.step, level=e.level,
                   state=models.EscalationState(e.state), trigger=models.EscalationTrigger(e.trigger),
                   reason=e.reason, dossier_sha256=e.dossier_sha256,
                   personal_data_included=e.personal_data_included, idempotency_key=e.idempotency_key,
                   created_at=e.created_at, delivered_at=e.delivered_at, receipt=e.receipt,
                   body_id=e.external_body_id)

    @strawberry.field(name="body", description="the external body it went to")
    async def external_body(self, info: Info) -> ExternalBodyType | None:
        return await load_body(info, self.body_id)


@strawberry.type(description="A complaint routed to another authority, or the customer told where to go")
class Routing:
    id: strawberry.ID
    mode: models.RoutingMode
    note: str | None
    created_at: datetime
    body_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, r: Any) -> Routing:
        return cls(id=global_id("Routing", r.id), mode=models.RoutingMode(r.mode), note=r.note,
                   created_at=r.created_at, body_id=r.external_body_id)

    @strawberry.field(name="body")
    async def external_body(self, info: Info) -> ExternalBodyType | None:
        return await load_body(info, self.body_id)
