from __future__ import annotations

import strawberry
from strawberry import relay

from services.api.authz import require
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.api.ids import decode_id, decode_optional
from services.api.org.types import CategoryType, OrgUnitType, UserType
from services.core.auth import service as auth_service
from services.core.auth.passwords import validate_password
from services.core.authz import Action
from services.core.complaints import erasure
from services.core.errors import DomainError
from services.core.org import service as org_service
from services.core.org.models import CategoryCause, CategoryDimension, OrgUnitKind


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


@strawberry.input
class CreateUserInput:
    email: str
    display_name: str
    roles: list[str] = strawberry.field(default_factory=list)
    org_unit_id: relay.GlobalID | None = None
    password: str | None = strawberry.field(
        default=None, description="at least 10 characters; without one the user signs in through an identity provider"
    )


@strawberry.type
class UserPayload:
    user: UserType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Replace the user's roles")
class AssignRoleInput:
    user_id: relay.GlobalID
    roles: list[str]


@strawberry.input(description="Create the category with this code, or update it")
class UpsertCategoryInput:
    code: str
    name: str
    parent_code: str | None = None
    cause: CategoryCause | None = None
    dimension: CategoryDimension | None = None
    active: bool = True


@strawberry.type
class UpsertCategoryPayload:
    category: CategoryType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class SetRetentionPeriodInput:
    days: int | None = strawberry.field(description="1 to 36500, or null to keep until erased by hand")


@strawberry.type
class RetentionPayload:
    retention_days: int | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OrgMutations:
    @strawberry.mutation(description="How long complainants are kept after their last complaint ended; then they "
                                     "are erased (crypto-shredded). null: until erased by hand (tenant admins)")
    async def set_retention_period(self, info: Info, input: SetRetentionPeriodInput) -> RetentionPayload:
        viewer = await info.context.require_viewer()
        try:
            async with info.context.transaction() as session:
                await require(info.context, session, Action.ORG_MANAGE)
                days = await erasure.set_retention(session, actor=viewer.actor, now=info.context.now(),
                                                   days=input.days)
        except DomainError as exc:
            return RetentionPayload(user_errors=[user_error(exc)])
        return RetentionPayload(retention_days=days)

    @strawberry.mutation(description="Create a department, branch, store or production team")
    async def create_org_unit(self, info: Info, input: CreateOrgUnitInput) -> CreateOrgUnitPayload:
        try:
            parent = decode_optional(input.parent_id, "OrgUnit", "parentId")
            async with info.context.transaction() as session:
                await require(info.context, session, Action.ORG_MANAGE)
                unit = await org_service.create_org_unit(
                    session, name=input.name, kind=input.kind, code=input.code, parent_id=parent
                )
        except DomainError as exc:
            return CreateOrgUnitPayload(user_errors=[user_error(exc)])
        return CreateOrgUnitPayload(org_unit=OrgUnitType.from_model(unit))

    @strawberry.mutation(description="Add a user to the tenant")
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        try:
            unit = decode_optional(input.org_unit_id, "OrgUnit", "orgUnitId")
            async with info.context.transaction() as session:
                await require(info.context, session, Action.ORG_MANAGE)
                if input.password is not None:
                    validate_password(input.password)  # before anything is written
                user = await org_service.create_user(
                    session, email=input.email, display_name=input.display_name, roles=input.roles, org_unit_id=unit
                )
                if input.password is not None:
                    user = await auth_service.set_password(session, user_id=user.id, password=input.password,
                                                           now=info.context.now())
        except DomainError as exc:
            return UserPayload(user_errors=[user_error(exc)])
        return UserPayload(user=UserType.from_model(user))

    @strawberry.mutation(description="Set a user's roles")
    async def assign_role(self, info: Info, input: AssignRoleInput) -> UserPayload:
        try:
            user_id = decode_id(input.user_id, "User", "userId")
            async with info.context.transaction() as session:
                await require(info.context, session, Action.ORG_MANAGE)
                user = await org_service.assign_roles(session, user_id=user_id, roles=input.roles)
        except DomainError as exc:
            return UserPayload(user_errors=[user_error(exc)])
        return UserPayload(user=UserType.from_model(user))

    @strawberry.mutation(description="Create or update a complaint category")
    async def upsert_category(self, info: Info, input: UpsertCategoryInput) -> UpsertCategoryPayload:
        try:
            async with info.context.transaction() as session:
                await require(info.context, session, Action.ORG_MANAGE)
                category = await org_service.upsert_category(
                    session, code=input.code, name=input.name, parent_code=input.parent_code, cause=input.cause,
                    dimension=input.dimension, active=input.active,
                )
        except DomainError as exc:
            return UpsertCategoryPayload(user_errors=[user_error(exc)])
        return UpsertCategoryPayload(category=CategoryType.from_model(category, parent_code=input.parent_code))
