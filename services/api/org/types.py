from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

import strawberry

from services.api.context import Info
from services.api.nodes import Node, global_id
from services.core.org import models
from services.core.outbox import handoffs
from services.core.outbox.handoffs import NotificationPreference

strawberry.enum(NotificationPreference, name="NotificationPreference",
                description="IN_APP (default); EMAIL: in-app and an e-mail; DIGEST: in-app (the daily e-mail is not "
                            "built yet)")

# Register the core enums as GraphQL enums (the same classes: values pass straight through).
strawberry.enum(models.OrgUnitKind, name="OrgUnitKind")
strawberry.enum(models.CategoryCause, name="ComplaintCause", description="QUALITY, or NON_QUALITY (a human factor)")
strawberry.enum(models.CategoryDimension, name="CategoryDimension",
                description="The statistical dimensions of seed III item 7")


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def load_user(info: Info, user_id: uuid.UUID | None) -> UserType | None:
    """The user by id through the request's loader (one statement per page), or None."""
    user = await info.context.loaders.user_by_id.load(user_id) if user_id is not None else None
    return UserType.from_model(user) if user is not None else None


async def load_org_unit(info: Info, unit_id: uuid.UUID | None) -> OrgUnitType | None:
    """The org unit by id through the request's loader, or None."""
    unit = await info.context.loaders.org_unit_by_id.load(unit_id) if unit_id is not None else None
    return OrgUnitType.from_model(unit) if unit is not None else None


@strawberry.type(name="OrgUnit", description="A department, branch, store or production team")
class OrgUnitType(Node):
    name: str
    code: str | None
    kind: models.OrgUnitKind
    parent_id: strawberry.Private[uuid.UUID | None]
    created_at: datetime

    @classmethod
    def from_model(cls, unit: Any) -> OrgUnitType:
        """From an OrgUnit row or a UnitRef view."""
        return cls(
            id=global_id("OrgUnit", unit.id),
            name=unit.name,
            code=unit.code,
            kind=models.OrgUnitKind(unit.kind),
            parent_id=unit.parent_id,
            created_at=unit.created_at,
        )

    @strawberry.field
    async def parent(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.parent_id)

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        ids = list(node_ids)
        parsed = [parse_uuid(n) for n in ids]
        units = await info.context.loaders.org_unit_by_id.load_many([p for p in parsed if p is not None])
        found = {u.id: u for u in units if u is not None}
        return [cls.from_model(found[p]) if p in found else None for p in parsed]  # type: ignore[misc]


@strawberry.type(name="User")
class UserType(Node):
    email: str
    display_name: str
    roles: list[str]
    active: bool
    org_unit_id: strawberry.Private[uuid.UUID | None]
    created_at: datetime

    @classmethod
    def from_model(cls, user: Any) -> UserType:
        """From a User row or a UserRef view."""
        return cls(
            id=global_id("User", user.id),
            email=user.email,
            display_name=user.display_name,
            roles=list(user.roles),
            active=user.active,
            org_unit_id=user.org_unit_id,
            created_at=user.created_at,
        )

    @strawberry.field
    async def org_unit(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.org_unit_id)

    @strawberry.field(description="How you hear of work handed to you (your own only: null for anyone else)")
    async def notification_preference(self, info: Info) -> NotificationPreference | None:
        viewer = await info.context.viewer()
        if viewer is None or global_id("User", viewer.id) != self.id:
            return None
        async with info.context.db() as session:
            return await handoffs.get_preference(session, viewer.id)

    @strawberry.field(description="The language you read (your own only: null for anyone else): your choice "
                                  "(updateMyPreferences), else your request's Accept-Language, else the tenant's "
                                  "default; zh-CN or en")
    async def locale(self, info: Info) -> str | None:
        viewer = await info.context.viewer()
        if viewer is None or global_id("User", viewer.id) != self.id:
            return None
        return await info.context.locale()

    @strawberry.field(description="The language you chose (your own only; null: none chosen, or anyone else)")
    async def preferred_locale(self, info: Info) -> str | None:
        viewer = await info.context.viewer()
        if viewer is None or global_id("User", viewer.id) != self.id:
            return None
        return viewer.locale

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        parsed = [parse_uuid(n) for n in node_ids]
        users = await info.context.loaders.user_by_id.load_many([p for p in parsed if p is not None])
        found = {u.id: u for u in users if u is not None}
        return [cls.from_model(found[p]) if p in found else None for p in parsed]  # type: ignore[misc]


@strawberry.type(name="Role")
class RoleType:
    name: str
    description: str


@strawberry.type(name="Category", description="A complaint category; categories form a tree per tenant")
class CategoryType(Node):
    code: str
    name: str
    cause: models.CategoryCause | None
    dimension: models.CategoryDimension | None
    active: bool
    parent_code: str | None = None

    @classmethod
    def from_model(cls, category: Any, parent_code: str | None = None) -> CategoryType:
        return cls(
            id=global_id("Category", category.id),
            code=category.code,
            name=category.name,
            cause=models.CategoryCause(category.cause) if category.cause else None,
            dimension=models.CategoryDimension(category.dimension) if category.dimension else None,
            active=getattr(category, "active", True),
            parent_code=parent_code,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        from services.core.org import service as org_service

        async with info.context.db() as session:
            categories = {str(c.id): c for c in await org_service.list_categories(session)}
        return [cls.from_model(categories[n]) if n in categories else None for n in node_ids]  # type: ignore[misc]
