"""Organisation: org units and users of one tenant (the session is already tenant-bound)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.errors import DomainError, ErrorCode
from services.core.org.models import OrgUnit, OrgUnitKind, User

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _clean_name(name: str, field: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise DomainError(ErrorCode.REQUIRED, f"{field} is required", [field])
    if len(cleaned) > 200:
        raise DomainError(ErrorCode.TOO_LONG, f"{field} is longer than 200 characters", [field])
    return cleaned


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
            raise DomainError(ErrorCode.DUPLICATE, f"an org unit with code {code!r} exists", ["code"])
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


async def get_org_unit(session: AsyncSession, unit_id: uuid.UUID) -> OrgUnit | None:
    return await session.get(OrgUnit, unit_id)


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
    user = User(
        email=normalized,
        display_name=_clean_name(display_name, "displayName"),
        roles=list(roles),
        org_unit_id=org_unit_id,
    )
    session.add(user)
    await session.flush()
    await session.refresh(user)
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.scalars(select(User).order_by(User.email))).all()
