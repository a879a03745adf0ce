"""The tenant's code lists and a complaint's classification (issue 15 point 1)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.classification.models import COLUMN_OF, ClassificationCode, ClassificationDimension
from services.core.complaints.models import Complaint
from services.core.complaints.steps import begin, record_step
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import CategoryCause

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
FIELD_OF: dict[ClassificationDimension, str] = {
    ClassificationDimension.BUSINESS_TYPE: "businessTypeId",
    ClassificationDimension.CAUSE: "causeId",
    ClassificationDimension.BUSINESS_CHANNEL: "businessChannelId",
    ClassificationDimension.AREA: "areaId",
}
"""The input field naming each dimension's code (userErrors point at it)."""


async def list_codes(session: AsyncSession, *, dimension: ClassificationDimension | None = None,
                     include_inactive: bool = False) -> list[ClassificationCode]:
    query = select(ClassificationCode).order_by(ClassificationCode.dimension, ClassificationCode.code)
    if dimension is not None:
        query = query.where(ClassificationCode.dimension == dimension.value)
    if not include_inactive:
        query = query.where(ClassificationCode.active.is_(True))
    return list((await session.scalars(query)).all())


async def codes_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ClassificationCode]:
    if not ids:
        return {}
    found = await session.scalars(select(ClassificationCode).where(ClassificationCode.id.in_(list(set(ids)))))
    return {c.id: c for c in found}


async def upsert_code(
    session: AsyncSession, *, actor: Actor, now: datetime, dimension: ClassificationDimension, code: str,
    name_zh: str, name_en: str, parent_code: str | None = None, quality: CategoryCause | None = None,
    active: bool = True,
) -> ClassificationCode:
    """Add a code to the tenant's list of ``dimension`` or change it in place (the code is the stable key; a code
    of a standard keeps its ``standard``). Audited."""
    if not _CODE.fullmatch(code or ""):
        raise DomainError(ErrorCode.INVALID, "code must be 1-64 letters, digits, '_', '.' or '-'", ["code"])
    zh = v.required_text(name_zh, "nameZh", max_length=200)
    en = v.required_text(name_en, "nameEn", max_length=200)
    if quality is not None and dimension != ClassificationDimension.CAUSE:
        raise DomainError(ErrorCode.INVALID, "only a cause is quality or non-quality", ["quality"])
    existing = (await session.scalars(select(ClassificationCode).where(
        ClassificationCode.dimension == dimension.value, ClassificationCode.code == code).with_for_update())).first()
    parent_id = None
    if parent_code is not None:
        parent = (await session.scalars(select(ClassificationCode).where(
            ClassificationCode.dimension == dimension.value, ClassificationCode.code == parent_code))).first()
        if parent is None:
            raise DomainError(ErrorCode.NOT_FOUND, "no such parent code in this list", ["parentCode"])
        ancestor: ClassificationCode | None = parent
        while ancestor is not None:  # lists are a few levels deep
            if (existing is not None and ancestor.id == existing.id) or ancestor.code == code:
                raise DomainError(ErrorCode.INVALID, "the parent would make a cycle", ["parentCode"])
            ancestor = await session.get(ClassificationCode, ancestor.parent_id) if ancestor.parent_id else None
        parent_id = parent.id
    row = existing or ClassificationCode(dimension=dimension.value, code=code)
    if existing is None:
        session.add(row)
    row.name_zh, row.name_en, row.parent_id = zh, en, parent_id
    row.quality = quality.value if quality is not None else None
    row.active = active
    await session.flush()
    await record_event(session, actor=actor, action="upsert_classification_code", subject_type="ClassificationCode",
                       subject_id=row.id, now=now, changes={
                           "dimension": dimension.value, "code": code, "parentCode": parent_code,
                           "quality": row.quality, "active": active, "created": existing is None})
    await session.refresh(row)
    return row


async def check_codes(session: AsyncSession, values: Mapping[ClassificationDimension, uuid.UUID | None]
                      ) -> dict[ClassificationDimension, ClassificationCode | None]:
    """Each given id is an active code of its dimension's list (else NOT_FOUND on that field)."""
    found = await codes_by_id(session, [i for i in values.values() if i is not None])
    out: dict[ClassificationDimension, ClassificationCode | None] = {}
    for dimension, ident in values.items():
        if ident is None:
            out[dimension] = None
            continue
        code = found.get(ident)
        if code is None or not code.active or code.dimension != dimension.value:
            raise DomainError(ErrorCode.NOT_FOUND, msg("no such {dimension} code",
                                                       dimension=dimension.value.lower().replace("_", " ")),
                              ["classification", FIELD_OF[dimension]])
        out[dimension] = code
    return out


def apply(complaint: Complaint, codes: Mapping[ClassificationDimension, ClassificationCode | None]) -> dict[str, str]:
    """Set the complaint's codes (a cause's quality becomes its ``cause``); returns what changed (for the audit)."""
    changed: dict[str, str] = {}
    for dimension, code in codes.items():
        column = COLUMN_OF[dimension]
        new = code.id if code is not None else None
        if getattr(complaint, column) != new:
            setattr(complaint, column, new)
            changed[FIELD_OF[dimension]] = code.code if code is not None else ""
        if dimension == ClassificationDimension.CAUSE and code is not None and code.quality is not None:
            complaint.cause = code.quality
    return changed


async def classify(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID,
    values: Mapping[ClassificationDimension, uuid.UUID | None],
) -> Complaint:
    """Set or change (None: clear) the codes given in ``values``; the others stay. A step of the lifecycle
    (``classify_complaint``): audited, the statistics' facts follow in the same transaction."""
    complaint = await begin(session, "classify_complaint", complaint_id, actor=actor, now=now)
    codes = await check_codes(session, values)
    changed = apply(complaint, codes)
    if not changed:
        return complaint
    complaint.updated_at = now
    await record_step(session, complaint, actor=actor, action="classify_complaint", now=now,
                      before=complaint.status, changes={"codes": changed})
    return complaint


async def classifications_for(session: AsyncSession, ids: Sequence[uuid.UUID]
                              ) -> dict[uuid.UUID, dict[ClassificationDimension, ClassificationCode]]:
    """Each complaint's codes by dimension (one statement for a page of complaints)."""
    if not ids:
        return {}
    columns = [getattr(Complaint, c) for c in COLUMN_OF.values()]
    found = (await session.execute(select(Complaint.id, *columns).where(Complaint.id.in_(list(ids))))).all()
    codes = await codes_by_id(session, [i for row in found for i in row[1:] if i is not None])
    out: dict[uuid.UUID, dict[ClassificationDimension, ClassificationCode]] = {}
    for cid, *values in found:
        out[cid] = {d: codes[i] for d, i in zip(COLUMN_OF, values, strict=True) if i is not None and i in codes}
    return out
