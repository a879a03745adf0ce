from __future__ import annotations

import strawberry

from services.api.authz import require_query
from services.api.context import Info
from services.api.org.types import CategoryType, OrgUnitType, RoleType, UserType, load_user
from services.core.authz import Action
from services.core.org import service as org_service
from services.core.org.models import OrgUnitKind


@strawberry.type
class OrgQueries:
    @strawberry.field(description="The signed-in user")
    async def me(self, info: Info) -> UserType | None:
        viewer = await info.context.viewer()
        return await load_user(info, viewer.id if viewer is not None else None)

    @strawberry.field(description="The tenant's org units, oldest first")
    async def org_units(self, info: Info, kind: OrgUnitKind | None = None) -> list[OrgUnitType]:
        await require_query(info.context, Action.ORG_READ)
        async with info.context.db() as session:
            units = await org_service.list_org_units(session, kind=kind)
        return [OrgUnitType.from_model(u) for u in units]

    @strawberry.field(description="The tenant's users, by e-mail")
    async def users(self, info: Info) -> list[UserType]:
        await require_query(info.context, Action.ORG_READ)
        async with info.context.db() as session:
            return [UserType.from_model(u) for u in await org_service.list_users(session)]

    @strawberry.field(description="The tenant's roles")
    async def roles(self, info: Info) -> list[RoleType]:
        await require_query(info.context, Action.ORG_READ)
        async with info.context.db() as session:
            return [RoleType(name=r.name, description=r.description) for r in await org_service.list_roles(session)]

    @strawberry.field(description="The tenant's complaint categories (a tree: see parentCode), by code")
    async def categories(self, info: Info) -> list[CategoryType]:
        async with info.context.db() as session:
            categories = await org_service.list_categories(session)
        codes = {c.id: c.code for c in categories}
        return [
            CategoryType.from_model(c, parent_code=codes.get(c.parent_id) if c.parent_id else None)
            for c in categories
        ]
