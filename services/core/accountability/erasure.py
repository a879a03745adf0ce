"""What erasing a complainant (``complaints.erasure``) does to the accountability records (issue 16).

Two records hold a customer's details outside the complainant row, sealed with the tenant's data key:

- **opinion-book entries** (``opinion_book_entries``): the customer's name and phone as the store copied them.
  Erasure clears them (name, phone, the phone's blind index) and marks the entry ``customer_erased_at``, in the
  erasure's transaction, for every entry reconciled to one of the erased person's complaints **and** every entry
  carrying the same phone blind index (``phone_key``), reconciled or not: an entry with no complaint behind it is
  reached through the phone the customer gave. The entry's text (the opinion itself) and its store and day stay:
  the spot check still counts it. An entry that names a customer who never filed a complaint is cleared when the
  tenant's retention period has passed since its day (``erase_expired_entries``, run by the retention sweep).
- **the major complaint's regulator notification draft** (``major_complaints.draft``): the complainant block is
  removed, every free text is scrubbed of the person's name, phone, e-mail, ID number and address, evidence
  file names are dropped, ``personalDataIncluded`` becomes false and ``complainantErased`` true; the row is marked
  ``complainant_erased_at``. A draft not sent yet gets the new hash (what would now go out); a draft already
  sent keeps its state, approval and hash (the audit's ``approve_major_report`` event records what went out,
  without personal data), and the stored copy, and the delivered outbox item's copy, are scrubbed the same way.
  An item still pending delivery is left as approved (the regulator was entitled to it when it was approved).

Cleared values are gone from the live rows at commit (no ciphertext left to decrypt). As with the complainant's
own subject key, an old backup still holds them, sealed with the tenant's data key of that time, until that
key version is destroyed by a data-key rotation (README, "Erasure").

Complainants erased before this existed (tenant migration t0022): their reconciled entries were cleared by the
migration (plain SQL); their drafts need the tenant's keys, which migrations do not hold, so the retention sweep
scrubs them lazily (``catch_up``). Entries matched to them only by phone cannot be found any more (the blind
index was destroyed with them) and are left as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability.models import MajorComplaint, MajorState, OpinionBookEntry
from services.core.complaints.models import Complainant, Complaint
from services.core.escalation.service import dossier_hash, redactor
from services.core.outbox.models import OutboxItem, OutboxState

ERASED_FIELD = "complainantErased"


def scrub_draft(draft: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    """The draft without the complainant: no identity block, no evidence file name, the identity scrubbed from
    every text."""
    out: dict[str, Any] = redactor(identity)({k: x for k, x in draft.items() if k != "complainant"})
    out["evidence"] = [{k: x for k, x in e.items() if k != "filename"} if isinstance(e, dict) else e
                       for e in out.get("evidence") or []]
    out["personalDataIncluded"] = False
    out[ERASED_FIELD] = True
    return out


async def erase_customer_details(session: AsyncSession, person: Complainant, complaint_ids: Sequence[uuid.UUID],
                                 *, identity: dict[str, Any], now: datetime) -> None:
    """Called by ``complaints.erasure`` before the person's keys go: ``identity`` is what they were."""
    reach: list[ColumnElement[bool]] = [OpinionBookEntry.complaint_id.in_(list(complaint_ids))] if complaint_ids else []
    if person.phone_key:
        reach.append(OpinionBookEntry.phone_key == person.phone_key)
    if reach:
        for entry in (await session.scalars(
                select(OpinionBookEntry).where(or_(*reach), OpinionBookEntry.customer_erased_at.is_(None))
                .order_by(OpinionBookEntry.id).with_for_update())).all():
            clear_entry(entry, now)
    if complaint_ids:
        for found in (await session.scalars(
                select(MajorComplaint).where(MajorComplaint.complaint_id.in_(list(complaint_ids)),
                                             MajorComplaint.complainant_erased_at.is_(None))
                .order_by(MajorComplaint.complaint_id).with_for_update())).all():
            await _scrub_major(session, found, identity, now)


def clear_entry(entry: OpinionBookEntry, now: datetime) -> None:
    entry.customer_name = None
    entry.customer_phone = None
    entry.phone_key = None
    entry.customer_erased_at = now


async def _scrub_major(session: AsyncSession, found: MajorComplaint, identity: dict[str, Any], now: datetime
                       ) -> None:
    found.draft = scrub_draft(dict(found.draft or {}), identity)
    found.complainant_erased_at = now
    if found.state == MajorState.DRAFT.value:
        found.draft_sha256 = dossier_hash(found.draft)
        return
    if found.outbox_id is not None:
        item = await session.get(OutboxItem, found.outbox_id, with_for_update=True)
        if item is not None and item.state != OutboxState.PENDING.value:
            payload = dict(item.payload or {})
            if isinstance(payload.get("dossier"), dict):
                payload["dossier"] = scrub_draft(payload["dossier"], identity)
                item.payload = payload


async def catch_up(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Drafts of complainants erased before t0022 (or by a path that did not reach them), scrubbed now (the
    identity is gone: the complainant block and evidence names are dropped; texts were scrubbed when the draft
    was made unless the regulator received personal data). Returns how many."""
    rows = (await session.scalars(
        select(MajorComplaint).join(Complaint, Complaint.id == MajorComplaint.complaint_id)
        .join(Complainant, Complainant.id == Complaint.complainant_id)
        .where(Complainant.erased_at.is_not(None), MajorComplaint.complainant_erased_at.is_(None))
        .order_by(MajorComplaint.complaint_id).limit(limit).with_for_update(of=MajorComplaint, skip_locked=True)
    )).all()
    for found in rows:
        await _scrub_major(session, found, {}, now)
    return len(rows)


async def erase_expired_entries(session: AsyncSession, *, now: datetime, days: int, limit: int = 500) -> int:
    """Entries with no complaint behind them whose day is more than the retention period ago: the customer's
    details cleared (the entry itself stays for the register). Returns how many."""
    cutoff = (now - timedelta(days=days)).date()
    rows = (await session.scalars(
        select(OpinionBookEntry).where(
            OpinionBookEntry.complaint_id.is_(None), OpinionBookEntry.customer_erased_at.is_(None),
            OpinionBookEntry.entry_date < cutoff,
            or_(OpinionBookEntry._customer_name.is_not(None), OpinionBookEntry._customer_phone.is_not(None)))
        .order_by(OpinionBookEntry.id).limit(limit).with_for_update(skip_locked=True))).all()
    for entry in rows:
        clear_entry(entry, now)
    return len(rows)


__all__ = ["catch_up", "clear_entry", "erase_customer_details", "erase_expired_entries", "scrub_draft"]
