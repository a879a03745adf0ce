"""The classification's GraphQL types (issue 15 point 1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

import strawberry
from strawberry import relay

from services.api.context import Info
from services.api.ids import decode_optional
from services.api.nodes import Node, global_id
from services.core.classification import service as classification
from services.core.classification.models import ClassificationDimension
from services.core.errors import DomainError
from services.core.org.models import CategoryCause

Dimension = strawberry.enum(ClassificationDimension, name="ClassificationDimension", description=(
    "A dimension of a complaint's classification: BUSINESS_TYPE (JR/T 0169 B), CAUSE (JR/T 0169 C; retail: "
    "quality / non-quality and the finer causes), BUSINESS_CHANNEL (JR/T 0169 A: where the business was done), "
    "AREA (seed III: product, service, channel, staff behaviour, internal management, financial crime)"))


@strawberry.type(name="ClassificationCode", description="A code of one of the tenant's classification lists")
class ClassificationCodeType(Node):
    dimension: Dimension  # type: ignore[valid-type]
    code: str
    name: str = strawberry.field(description="in the tenant's language (zh-CN unless it is en)")
    name_zh: str
    name_en: str
    parent_code: str | None
    quality: CategoryCause | None = strawberry.field(description="a cause's quality / non-quality (seed IV)")
    standard: str | None = strawberry.field(
        description="the standard the class comes from (JR/T 0169-2018), or null for the template's or yours")
    active: bool

    @classmethod
    def from_model(cls, c: Any, parent_code: str | None = None, locale: str = "zh-CN") -> ClassificationCodeType:
        return cls(
            id=global_id("ClassificationCode", c.id), dimension=ClassificationDimension(c.dimension), code=c.code,
            name=c.name_en if locale.startswith("en") else c.name_zh, name_zh=c.name_zh, name_en=c.name_en,
            parent_code=parent_code, quality=CategoryCause(c.quality) if c.quality else None, standard=c.standard,
            active=c.active,
        )

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False
                            ) -> list[Self | None]:
        import uuid

        from services.core.classification import service as classification

        wanted: dict[str, uuid.UUID] = {}
        for n in node_ids:
            try:
                wanted[n] = uuid.UUID(n)
            except ValueError:
                continue
        async with info.context.db() as session:
            found = await classification.codes_by_id(session, list(wanted.values()))
        return [cls.from_model(found[wanted[n]]) if n in wanted and wanted[n] in found else None  # type: ignore[misc]
                for n in node_ids]


@strawberry.type(description="A complaint's classification: one code per dimension, or null where not classified")
class ComplaintClassification:
    business_type: ClassificationCodeType | None
    cause: ClassificationCodeType | None
    business_channel: ClassificationCodeType | None
    area: ClassificationCodeType | None

    @classmethod
    def from_codes(cls, codes: dict[ClassificationDimension, Any]) -> ComplaintClassification:
        def one(d: ClassificationDimension) -> ClassificationCodeType | None:
            return ClassificationCodeType.from_model(codes[d]) if d in codes else None

        return cls(business_type=one(ClassificationDimension.BUSINESS_TYPE), cause=one(ClassificationDimension.CAUSE),
                   business_channel=one(ClassificationDimension.BUSINESS_CHANNEL),
                   area=one(ClassificationDimension.AREA))


@strawberry.input(description="A code per dimension (ClassificationCode IDs); a dimension left out is not changed, "
                  "null clears it")
class ClassificationInput:
    business_type_id: relay.GlobalID | None = strawberry.UNSET
    cause_id: relay.GlobalID | None = strawberry.UNSET
    business_channel_id: relay.GlobalID | None = strawberry.UNSET
    area_id: relay.GlobalID | None = strawberry.UNSET


def decode_classification(i: ClassificationInput | None) -> dict[ClassificationDimension, object]:
    """The given dimensions' code ids (a malformed or foreign ID is NOT_FOUND on its field)."""
    if i is None:
        return {}
    out: dict[ClassificationDimension, object] = {}
    for dimension, value in ((ClassificationDimension.BUSINESS_TYPE, i.business_type_id),
                             (ClassificationDimension.CAUSE, i.cause_id),
                             (ClassificationDimension.BUSINESS_CHANNEL, i.business_channel_id),
                             (ClassificationDimension.AREA, i.area_id)):
        if value is strawberry.UNSET:
            continue
        field = classification.FIELD_OF[dimension]
        try:
            out[dimension] = decode_optional(value, "ClassificationCode", field)
        except DomainError as exc:
            exc.field = ["classification", field]
            raise
    return out
