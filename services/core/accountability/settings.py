"""The tenant's accountability settings: the repeat-complaint window and the major-complaint criteria."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.accountability.models import AccountabilitySettings
from services.core.audit.service import Actor, record_event
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import Category

DEFAULT_REPEAT_WINDOW_DAYS = 30
MAX_REPEAT_WINDOW_DAYS = 730


async def get_settings(session: AsyncSession) -> AccountabilitySettings:
    """The row (the defaults, unsaved, if the tenant never changed them)."""
    found = await session.get(AccountabilitySettings, 1)
    if found is None:
        found = AccountabilitySettings(id=1, repeat_window_days=DEFAULT_REPEAT_WINDOW_DAYS, major_amount_at_least=None,
                                       major_on_group_complaint=True, major_on_media_attention=True,
                                       major_repeat_count_at_least=None, major_category_ids=[])
    return found


@dataclass(frozen=True)
class SettingsInput:
    """None keeps a value."""

    repeat_window_days: int | None = None
    major_amount_at_least: Decimal | None = None
    clear_major_amount: bool = False
    major_on_group_complaint: bool | None = None
    major_on_media_attention: bool | None = None
    major_repeat_count_at_least: int | None = None
    clear_major_repeat_count: bool = False
    major_category_ids: list[uuid.UUID] | None = None


async def update_settings(session: AsyncSession, *, actor: Actor, now: datetime, data: SettingsInput
                          ) -> AccountabilitySettings:
    row = await session.get(AccountabilitySettings, 1, with_for_update=True)
    if row is None:
        row = await get_settings(session)
        session.add(row)
    if data.repeat_window_days is not None:
        if not 1 <= data.repeat_window_days <= MAX_REPEAT_WINDOW_DAYS:
            raise DomainError(ErrorCode.OUT_OF_RANGE,
                              msg("the window is 1 to {days} days", days=MAX_REPEAT_WINDOW_DAYS),
                              ["repeatWindowDays"])
        row.repeat_window_days = data.repeat_window_days
    if data.clear_major_amount:
        row.major_amount_at_least = None
    elif data.major_amount_at_least is not None:
        row.major_amount_at_least = v.money(data.major_amount_at_least, "majorAmountAtLeast")
    if data.major_on_group_complaint is not None:
        row.major_on_group_complaint = data.major_on_group_complaint
    if data.major_on_media_attention is not None:
        row.major_on_media_attention = data.major_on_media_attention
    if data.clear_major_repeat_count:
        row.major_repeat_count_at_least = None
    elif data.major_repeat_count_at_least is not None:
        if not 1 <= data.major_repeat_count_at_least <= 100:
            raise DomainError(ErrorCode.OUT_OF_RANGE, "1 to 100 repeats", ["majorRepeatCountAtLeast"])
        row.major_repeat_count_at_least = data.major_repeat_count_at_least
    if data.major_category_ids is not None:
        for cid in data.major_category_ids:
            if await session.get(Category, cid) is None:
                raise DomainError(ErrorCode.NOT_FOUND, "category not found", ["majorCategoryIds"])
        row.major_category_ids = list(dict.fromkeys(data.major_category_ids))
    row.updated_at = now
    await session.flush()
    await record_event(session, actor=actor, action="update_accountability_settings", subject_type="Tenant",
                       subject_id=None, now=now, changes={
                           "repeatWindowDays": row.repeat_window_days, "majorAmountAtLeast": row.major_amount_at_least,
                           "majorOnGroupComplaint": row.major_on_group_complaint,
                           "majorOnMediaAttention": row.major_on_media_attention,
                           "majorRepeatCountAtLeast": row.major_repeat_count_at_least,
                           "majorCategoryIds": [str(c) for c in row.major_category_ids]})
    return row
