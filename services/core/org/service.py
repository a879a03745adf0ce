"""Organisation: org units and users of one tenant (the session is already tenant-bound)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation
from services.core.authz import bump_policy_version, check_lockout, lock_policies
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import Category, CategoryCause, CategoryDimension, OrgUnit, OrgUnitKind, Role, User

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _clean_name(name: str, field: str) -> str:
    """Trimmed, 1-200 characters, no control characters (the shared rule)."""
    return validation.required_text(name, field, max_length=200)


async def create_org_unit(
    session: AsyncSession,
    *,
    name: str,
    kind: OrgUnitKind,
    code: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> OrgUnit:
    cleaned = _clean_name(name, "name")
    if code is not None and not _CODE.fullmatch(code):
        raise DomainError(ErrorCode.INVALID, "code must be 1-64 letters, digits, '_', '.' or '-'", ["code"])
    if parent_id is not None and await session.get(OrgUnit, parent_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "parent org unit not found", ["parentId"])
    if code is not None:
        taken = await session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
        if taken is not None:
            raise DomainError(
                ErrorCode.DUPLICATE, msg("an org unit with code {code} exists", code=repr(code)), ["code"])
    unit = OrgUnit(name=cleaned, kind=kind.value, code=code, parent_id=parent_id)
    session.add(unit)
    await session.flush()
    await session.refresh(unit)
    return unit


async def list_org_units(session: AsyncSession, *, kind: OrgUnitKind | None = None) -> Sequence[OrgUnit]:
    query = select(OrgUnit).order_by(OrgUnit.created_at, OrgUnit.id)
    if kind is not None:
        query = query.where(OrgUnit.kind == kind.value)
    return (await session.scalars(query)).all()


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    roles: Sequence[str],
    org_unit_id: uuid.UUID | None = None,
) -> User:
    normalized = email.strip().lower()
    if not _EMAIL.fullmatch(normalized) or len(normalized) > 254:
        raise DomainError(ErrorCode.INVALID, "email is not a valid address", ["email"])
    if org_unit_id is not None and await session.get(OrgUnit, org_unit_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "org unit not found", ["orgUnitId"])
    if await session.scalar(select(User.id).where(User.email == normalized)) is not None:
        raise DomainError(ErrorCode.DUPLICATE, "a user with this email exists", ["email"])
    unknown = sorted(set(roles) - {r.name for r in await list_roles(session)})
    if unknown:
        raise DomainError(ErrorCode.NOT_FOUND, msg("unknown role(s): {roles}", roles=', '.join(unknown)), ["roles"])
    user = User(
        email=normalized,
        display_name=_clean_name(display_name, "displayName"),
        roles=sorted(set(roles)),
        org_unit_id=org_unit_id,
    )
    session.add(user)
    await session.flush()
    await session.refresh(user)
    await bump_policy_version(session)  # a new user's roles are new grants
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.email))).all()


_ROLE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


async def list_roles(session: AsyncSession) -> Sequence[Role]:
    return (await session.scalars(select(Role).order_by(Role.name))).all()


async def create_role(session: AsyncSession, *, name: str, description: str) -> Role:
    if not _ROLE.fullmatch(name):
        raise DomainError(ErrorCode.INVALID, "role names are lower-case letters, digits and '_'", ["name"])
    if await session.get(Role, name) is not None:
        raise DomainError(ErrorCode.DUPLICATE, msg("role {name} exists", name=repr(name)), ["name"])
    role = Role(name=name, description=_clean_name(description, "description"))
    session.add(role)
    await session.flush()
    return role


async def assign_roles(session: AsyncSession, *, user_id: uuid.UUID, roles: Sequence[str]) -> User:
    """Replace a user's roles with ``roles`` (each must be one of the tenant's roles); refused with
    ``POLICY_LOCKOUT`` when nobody active could then change policies or manage users (``authz.check_lockout``)."""
    await lock_policies(session)  # before the user's row: the order every rule and role change takes
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", ["userId"])
    known = {r.name for r in await list_roles(session)}
    unknown = sorted(set(roles) - known)
    if unknown:
        raise DomainError(ErrorCode.NOT_FOUND, msg("unknown role(s): {roles}", roles=', '.join(unknown)), ["roles"])
    await check_lockout(session, roles=(user.id, sorted(set(roles))), field=["roles"])  # not the last admin
    user.roles = sorted(set(roles))
    await bump_policy_version(session)
    await session.flush()
    return user


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.scalars(select(User).where(User.email == email.strip().lower()))).first()


async def list_categories(session: AsyncSession) -> Sequence[Category]:
    return (await session.scalars(select(Category).order_by(Category.code))).all()


async def upsert_category(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    parent_code: str | None = None,
    cause: CategoryCause | None = None,
    dimension: CategoryDimension | None = None,
    active: bool = True,
) -> Category:
    """Create the category ``code`` or update it in place (the code is the stable key)."""
    if not _CODE.fullmatch(code):
        raise DomainError(ErrorCode.INVALID, "code must be 1-64 letters, digits, '_', '.' or '-'", ["code"])
    cleaned = _clean_name(name, "name")
    parent_id: uuid.UUID | None = None
    if parent_code is not None:
        parent = (await session.scalars(select(Category).where(Category.code == parent_code))).first()
        if parent is None:
            raise DomainError(ErrorCode.NOT_FOUND, "parent category not found", ["parentCode"])
        if parent.code == code:
            raise DomainError(ErrorCode.INVALID, "a category cannot be its own parent", ["parentCode"])
        parent_id = parent.id
    category = (await session.scalars(select(Category).where(Category.code == code).with_for_update())).first()
    if category is None:
        category = Category(code=code)
        session.add(category)
    elif parent_id is not None and await _is_descendant(session, parent_id, category.id):
        raise DomainError(ErrorCode.INVALID, "the parent would make a cycle", ["parentCode"])
    category.name = cleaned
    category.parent_id = parent_id
    category.cause = cause.value if cause else None
    category.dimension = dimension.value if dimension else None
    category.active = active
    await session.flush()
    await session.refresh(category)
    return category


async def _is_descendant(session: AsyncSession, candidate: uuid.UUID, ancestor: uuid.UUID) -> bool:
    current: uuid.UUID | None = candidate
    seen: set[uuid.UUID] = set()
    while current is not None and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = await session.scalar(select(Category.parent_id).where(Category.id == current))
    return False
