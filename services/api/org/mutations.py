from __future__ import annotations

import uuid

import strawberry
from strawberry import relay

from services.api.context import Info
from services.api.errors import UserError, user_error
from services.api.org.types import OrgUnitType, parse_uuid
from services.core.errors import DomainError, ErrorCode
from services.core.org import service as org_service
from services.core.org.models import OrgUnitKind


@strawberry.input
class CreateOrgUnitInput:
    name: str
    kind: OrgUnitKind
    code: str | None = None
    parent_id: relay.GlobalID | None = None


@strawberry.type
class CreateOrgUnitPayload:
    org_unit: OrgUnitType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def org_unit_uuid(global_id: relay.GlobalID, field: str) -> uuid.UUID:
    parsed = parse_uuid(global_id.node_id) if global_id.type_name == "OrgUnit" else None
    if parsed is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", [field])
    return parsed


@strawberry.type
class OrgMutations:
    @strawberry.mutation(description="Create a department, branch, store or production team")
    async def create_org_unit(self, info: Info, input: CreateOrgUnitInput) -> CreateOrgUnitPayload:
        try:
            parent = org_unit_uuid(input.parent_id, "parentId") if input.parent_id is not None else None
            async with info.context.transaction() as session:
                unit = await org_service.create_org_unit(
                    session,
                    name=input.name,
                    kind=input.kind,
                    code=input.code,
                    parent_id=parent,
                )
        except DomainError as exc:
            return CreateOrgUnitPayload(user_errors=[user_error(exc)])
        return CreateOrgUnitPayload(org_unit=OrgUnitType.from_model(unit))
