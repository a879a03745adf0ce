"""顾客意见簿 (seed IV 五.1-2): each store keeps an opinion book; the store records its entries here, each reconciled
against the complaint recorded for it (by hand, or found by the customer's phone: a complaint of that store by
the same phone, blind index, recorded on or after the entry's day). The spot check (销售分公司与市场部不定期核对)
lists the entries with no complaint behind them: what a store may have concealed. The entry's text and the
customer's name and phone are sealed.

Statistics: entries per store, and those with no complaint behind them (the spot check).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, DateTime, and_, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.accountability.models import OpinionBookEntry
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complainant, Complaint
from services.core.complaints.service import tenant_timezone
from services.core.crypto.fields import blind_index, keyring_of
from services.core.errors import DomainError, ErrorCode
from services.core.org.models import OrgUnit, OrgUnitKind, User

STORE_KINDS = (OrgUnitKind.STORE.value, OrgUnitKind.BRANCH.value)
MAX_TEXT = 5_000


@dataclass(frozen=True)
class EntryInput:
    store_id: uuid.UUID
    entry_date: date
    text: str
    customer_name: str | None = None
    customer_phone: str | None = None
    complaint_id: uuid.UUID | None = None


async def _store(session: AsyncSession, actor: Actor, store_id: uuid.UUID) -> OrgUnit:
    unit = await session.get(OrgUnit, store_id)
    if unit is None or unit.kind not in STORE_KINDS:
        raise DomainError(ErrorCode.NOT_FOUND, "store not found", ["storeId"])
    own = await session.scalar(select(User.org_unit_id).where(User.id == actor.user_id))
    own_kind = await session.scalar(select(OrgUnit.kind).where(OrgUnit.id == own)) if own is not None else None
    if own_kind == OrgUnitKind.STORE.value and own != unit.id:
        raise DomainError(ErrorCode.NOT_ALLOWED, "a store records its own opinion book only", ["storeId"])
    return unit


async def _complaint_of_store(session: AsyncSession, complaint_id: uuid.UUID, store: OrgUnit) -> Complaint:
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    if complaint.store_id != store.id:
        raise DomainError(ErrorCode.INVALID, "the complaint is not one of this store's", ["complaintId"])
    return complaint


async def record_entry(session: AsyncSession, *, actor: Actor, now: datetime, data: EntryInput) -> OpinionBookEntry:
    if data.complaint_id is not None and await session.get(Complaint, data.complaint_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])  # (looked up first)
    store = await _store(session, actor, data.store_id)
    today = now.astimezone(await tenant_timezone(session)).date()
    entry_date = v.past_date(data.entry_date, "entryDate", today=today)
    assert entry_date is not None
    text_ = v.required_text(data.text, "text", max_length=MAX_TEXT)
    name = v.text(data.customer_name, "customerName", max_length=100)
    phone = v.phone(data.customer_phone, "customerPhone")
    if data.complaint_id is not None:
        await _complaint_of_store(session, data.complaint_id, store)
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a person records the entry")
    entry = OpinionBookEntry(
        store_id=store.id, entry_date=entry_date, text_=text_, customer_name=name, customer_phone=phone,
        phone_key=blind_index(keyring_of(session), "phone", v.phone_key(phone)), complaint_id=data.complaint_id,
        recorded_by=actor.user_id, recorded_at=now,
        reconciled_by=actor.user_id if data.complaint_id else None, reconciled_at=now if data.complaint_id else None)
    session.add(entry)
    await session.flush()
    await record_event(session, actor=actor, action="record_opinion_book_entry", subject_type="OpinionBookEntry",
                       subject_id=entry.id, now=now, changes={"storeId": store.id, "entryDate": entry_date.isoformat(),
                                                              "complaintId": data.complaint_id})
    return entry


async def reconcile_entry(session: AsyncSession, *, actor: Actor, now: datetime, entry_id: uuid.UUID,
                          complaint_id: uuid.UUID) -> OpinionBookEntry:
    entry = await session.get(OpinionBookEntry, entry_id, with_for_update=True)
    if entry is None:
        raise DomainError(ErrorCode.NOT_FOUND, "opinion book entry not found", ["entryId"])
    store = await _store(session, actor, entry.store_id)
    if entry.complaint_id is not None:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the entry is reconciled already", ["entryId"])
    await _complaint_of_store(session, complaint_id, store)
    entry.complaint_id, entry.reconciled_by, entry.reconciled_at = complaint_id, actor.user_id, now
    await session.flush()
    await record_event(session, actor=actor, action="reconcile_opinion_book_entry", subject_type="OpinionBookEntry",
                       subject_id=entry.id, now=now, changes={"complaintId": complaint_id})
    return entry


def _day_start(zone: str) -> ColumnElement[datetime]:
    """The start of the entry's day in the tenant's time zone."""
    return func.timezone(zone, cast(OpinionBookEntry.entry_date, DateTime()))


def _matching_complaint(zone: str) -> ColumnElement[bool]:
    """A complaint of the entry's store by the entry's phone (blind index), recorded on or after the entry's day."""
    return exists().where(
        Complaint.store_id == OpinionBookEntry.store_id, Complaint.complainant_id == Complainant.id,
        Complainant.phone_key == OpinionBookEntry.phone_key, Complaint.created_at >= _day_start(zone))


async def entries(session: AsyncSession, *, store_id: uuid.UUID | None = None, date_from: date | None = None,
                  date_to: date | None = None, unreconciled_only: bool = False) -> Sequence[OpinionBookEntry]:
    """The register (``unreconciled_only``: the spot check, entries with no complaint behind them), by day."""
    query = select(OpinionBookEntry)
    if store_id is not None:
        query = query.where(OpinionBookEntry.store_id == store_id)
    if date_from is not None:
        query = query.where(OpinionBookEntry.entry_date >= date_from)
    if date_to is not None:
        query = query.where(OpinionBookEntry.entry_date <= date_to)
    if unreconciled_only:
        matched = _matching_complaint(str(await tenant_timezone(session)))
        query = query.where(OpinionBookEntry.complaint_id.is_(None),
                            ~and_(OpinionBookEntry.phone_key.is_not(None), matched))
    return (await session.scalars(query.order_by(OpinionBookEntry.entry_date, OpinionBookEntry.recorded_at,
                                                 OpinionBookEntry.id))).all()


async def matched_complaints(session: AsyncSession, entry_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """For entries without a reconciled complaint: the complaint the phone finds (the earliest), by entry."""
    if not entry_ids:
        return {}
    tz = await tenant_timezone(session)
    rows = (await session.execute(
        select(OpinionBookEntry.id, Complaint.id)
        .join(Complaint, Complaint.store_id == OpinionBookEntry.store_id)
        .join(Complainant, Complainant.id == Complaint.complainant_id)
        .where(OpinionBookEntry.id.in_(list(entry_ids)), OpinionBookEntry.complaint_id.is_(None),
               Complainant.phone_key == OpinionBookEntry.phone_key,
               Complaint.created_at >= _day_start(str(tz)))
        .order_by(OpinionBookEntry.id, Complaint.created_at))).all()
    found: dict[uuid.UUID, uuid.UUID] = {}
    for entry_id, complaint_id in rows:
        found.setdefault(entry_id, complaint_id)
    return found


__all__ = ["EntryInput", "entries", "matched_complaints", "reconcile_entry", "record_entry"]
