from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay

from services.api.context import Info
from services.core.org import models
from services.core.org import service as org_service

# Registers the core enum as the GraphQL enum OrgUnitKind (the same class: values pass straight through).
strawberry.enum(models.OrgUnitKind, name="OrgUnitKind")


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@strawberry.type(name="OrgUnit", description="A department, branch, store or production team")
class OrgUnitType(relay.Node):
    id: relay.NodeID[str]
    name: str
    code: str | None
    kind: models.OrgUnitKind
    parent_id: strawberry.Private[uuid.UUID | None]
    created_at: datetime

    @classmethod
    def from_model(cls, unit: models.OrgUnit) -> OrgUnitType:
        return cls(
            id=str(unit.id),
            name=unit.name,
            code=unit.code,
            kind=models.OrgUnitKind(unit.kind),
            parent_id=unit.parent_id,
            created_at=unit.created_at,
        )

    @strawberry.field
    async def parent(self, info: Info) -> OrgUnitType | None:
        if self.parent_id is None:
            return None
        async with info.context.db() as session:
            unit = await org_service.get_org_unit(session, self.parent_id)
        return OrgUnitType.from_model(unit) if unit is not None else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        found: dict[str, Any] = {}
        async with info.context.db() as session:
            for node_id in node_ids:
                parsed = parse_uuid(node_id)
                unit = await org_service.get_org_unit(session, parsed) if parsed is not None else None
                found[node_id] = cls.from_model(unit) if unit is not None else None
        return [found[n] for n in node_ids]


@strawberry.type(name="User")
class UserType:
    id: strawberry.ID
    email: str
    display_name: str
    roles: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def from_model(cls, user: models.User) -> UserType:
        return cls(
            id=strawberry.ID(str(user.id)),
            email=user.email,
            display_name=user.display_name,
            roles=list(user.roles),
            active=user.active,
            created_at=user.created_at,
        )
