"""Code lists and classifying a complaint (issue 15 point 1): thin resolvers over ``core.classification``."""

from __future__ import annotations

import strawberry
from strawberry import relay

from services.api.authz import require
from services.api.classification.types import (
    ClassificationCodeType,
    ClassificationInput,
    ComplaintClassification,
    Dimension,
    decode_classification,
)
from services.api.complaints.mutations import ComplaintPayload, _step
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.core.authz import Action
from services.core.classification import service as classification
from services.core.errors import DomainError
from services.core.org.models import CategoryCause

__all__ = ["ClassificationInput", "ClassificationMutations", "ClassificationQueries", "ComplaintClassification",
           "decode_classification"]


@strawberry.input
class ClassifyComplaintInput:
    complaint_id: relay.GlobalID
    classification: ClassificationInput


@strawberry.input(description="Add a code to one of the tenant's lists, or change it (the code is the key)")
class UpsertClassificationCodeInput:
    dimension: Dimension  # type: ignore[valid-type]
    code: str
    name_zh: str
    name_en: str
    parent_code: str | None = None
    quality: CategoryCause | None = None
    active: bool = True


@strawberry.type
class UpsertClassificationCodePayload:
    code: ClassificationCodeType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ClassificationQueries:
    @strawberry.field(description="The tenant's classification codes (active ones unless includeInactive), by "
                      "dimension and code; parentCode makes each list a tree")
    async def classification_codes(self, info: Info, dimension: Dimension | None = None,  # type: ignore[valid-type]
                                   include_inactive: bool = False) -> list[ClassificationCodeType]:
        await info.context.require_viewer()
        async with info.context.db() as session:
            codes = await classification.list_codes(session, dimension=dimension, include_inactive=include_inactive)
            parents = {c.id: c.code for c in await classification.list_codes(session, include_inactive=True)}
        return [ClassificationCodeType.from_model(c, parent_code=parents.get(c.parent_id) if c.parent_id else None)
                for c in codes]


@strawberry.type
class ClassificationMutations:
    @strawberry.mutation(description="Add or change a code of the tenant's lists (classification.manage)")
    async def upsert_classification_code(self, info: Info, input: UpsertClassificationCodeInput
                                         ) -> UpsertClassificationCodePayload:
        viewer = await info.context.require_viewer()
        try:
            async with info.context.transaction() as session:
                await require(info.context, session, Action.CLASSIFICATION_MANAGE)
                code = await classification.upsert_code(
                    session, actor=viewer.actor, now=info.context.now(), dimension=input.dimension,
                    code=input.code, name_zh=input.name_zh, name_en=input.name_en, parent_code=input.parent_code,
                    quality=input.quality, active=input.active)
        except DomainError as exc:
            return UpsertClassificationCodePayload(user_errors=[user_error(exc)])
        return UpsertClassificationCodePayload(code=ClassificationCodeType.from_model(code,
                                                                                      parent_code=input.parent_code))

    @strawberry.mutation(description="Set or change a complaint's classification (complaint.classify)")
    async def classify_complaint(self, info: Info, input: ClassifyComplaintInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.CLASSIFY, classification.classify,
                           lambda: {"values": decode_classification(input.classification)})
