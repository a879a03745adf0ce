"""Who reads which language: the tenant's default (``tenant_settings.locale``) and each user's own choice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import Actor, record_event
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import DEFAULT_LOCALE, LOCALES, N_, normalize
from services.core.org.models import TenantSettings, User


def tenant_locale_statement() -> Any:
    """The tenant's stored language (NULL or any text: ``normalize`` it), as ``tenant_locale`` reads it."""
    return select(TenantSettings.locale).where(TenantSettings.id == 1)


async def tenant_locale(session: AsyncSession) -> str:
    found = await session.scalar(tenant_locale_statement())
    return normalize(found) or DEFAULT_LOCALE


async def tenant_zone(session: AsyncSession) -> ZoneInfo:
    found = await session.scalar(select(TenantSettings.timezone).where(TenantSettings.id == 1))
    return ZoneInfo(found or "Asia/Shanghai")


@dataclass(frozen=True)
class PublicTenantInfo:
    name: str
    time_zone: str
    locale: str


async def public_tenant_info(session: AsyncSession, slug: str) -> PublicTenantInfo:
    """What the public pages show of the tenant: its name, the time zone its dates are in, its default language."""
    from services.core.db import platform_session
    from services.core.tenancy import Tenant

    zone = await session.scalar(select(TenantSettings.timezone).where(TenantSettings.id == 1))
    locale = await tenant_locale(session)
    async with platform_session() as platform:
        name = await platform.scalar(select(Tenant.display_name).where(Tenant.slug == slug))
    return PublicTenantInfo(name=name or slug, time_zone=zone or "Asia/Shanghai", locale=locale)


async def user_locales(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each user's language for what they read outside a request (notifications, e-mails): their preference,
    else the tenant's default."""
    default = await tenant_locale(session)
    rows = (await session.execute(select(User.id, User.locale).where(User.id.in_(user_ids)))).all()
    found = {user_id: normalize(locale) or default for user_id, locale in rows}
    return {user_id: found.get(user_id, default) for user_id in user_ids}


async def set_user_locale(session: AsyncSession, *, actor: Actor, now: datetime, locale: str) -> str:
    """The signed-in user's own language (``zh-CN`` or ``en``; one audit event when it changes)."""
    if locale not in LOCALES:
        raise DomainError(ErrorCode.INVALID, N_("the language must be zh-CN or en"), ["locale"])
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a preference belongs to a user")
    user = await session.get(User, actor.user_id, with_for_update=True)
    if user is None or not user.active:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found")
    if user.locale != locale:
        before, user.locale = user.locale, locale
        await record_event(session, actor=actor, action="update_my_preferences", subject_type="User",
                           subject_id=user.id, now=now, changes={"locale": {"from": before, "to": locale}})
    return locale
