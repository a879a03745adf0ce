from __future__ import annotations

import strawberry

from services.api.context import Info
from services.api.org.types import OrgUnitType, UserType
from services.core.org import service as org_service
from services.core.org.models import OrgUnitKind


@strawberry.type
class OrgQueries:
    @strawberry.field(description="The tenant's org units, oldest first")
    async def org_units(self, info: Info, kind: OrgUnitKind | None = None) -> list[OrgUnitType]:
        async with info.context.db() as session:
            units = await org_service.list_org_units(session, kind=kind)
        return [OrgUnitType.from_model(u) for u in units]

    @strawberry.field(description="The tenant's users, by e-mail")
    async def users(self, info: Info) -> list[UserType]:
        async with info.context.db() as session:
            return [UserType.from_model(u) for u in await org_service.list_users(session)]
