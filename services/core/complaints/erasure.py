"""Erasing a complainant (crypto-shredding), on request or after the tenant's retention period.

Erasure destroys the complainant's subject key (the only key their identity was sealed with) and
their blind-index entries. The ciphertexts stay where they are, and wherever they were copied to,
unreadable; the complaint, its forms, its history and the statistics stay whole.

About backups: a backup taken before the erasure still holds the subject key, sealed with the
tenant's data key of that time. It becomes unreadable too once that data-key version is destroyed (the
next data-key rotation destroys it) and the master key that wrapped it is gone from configuration
(master-key rotation). ``docs`` in the README give the procedure.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complainant, Complaint, ComplaintStatus
from services.core.crypto.fields import erase_subject
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import TenantSettings
from services.core.tenancy import TenantRef, tenant_session

ENDED = (ComplaintStatus.CLOSED.value, ComplaintStatus.WITHDRAWN.value, ComplaintStatus.UNFOUNDED.value)
MAX_RETENTION_DAYS = 36_500


async def _erase(session: AsyncSession, complainant: Complainant, *, actor: Actor, now: datetime, reason: str,
                 complaint_ids: list[uuid.UUID]) -> None:
    from services.core.accountability.erasure import erase_customer_details  # (accountability imports complaints)

    identity = dict(complainant.identity or {})
    await erase_customer_details(session, complainant, complaint_ids, identity=identity, now=now)
    erase_subject(complainant)
    complainant.phone_key = None
    complainant.email_key = None
    complainant.id_number_key = None
    complainant.erased_at = now
    for complaint_id in complaint_ids:
        await record_event(session, actor=actor, action="erase_complainant", subject_type="Complaint",
                           subject_id=complaint_id, now=now, changes={"complainantId": complainant.id},
                           note=reason)


async def erase_complainant(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, reason: str,
    include_matches: bool = False,
) -> int:
    """Erase the complainant of a complaint; with ``include_matches``, also every other complainant record
    sharing their phone, e-mail or ID number (found through the blind index). Returns how many were erased."""
    reason = v.required_text(reason, "reason", max_length=1_000)
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    person = await session.get(Complainant, complaint.complainant_id, with_for_update=True)
    if person is None or person.erased_at is not None:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the complainant was already erased", ["complaintId"])
    targets = [person]
    if include_matches:
        keys = [(col, val) for col, val in ((Complainant.phone_key, person.phone_key),
                                             (Complainant.email_key, person.email_key),
                                             (Complainant.id_number_key, person.id_number_key)) if val]
        if keys:
            targets += list((await session.scalars(
                select(Complainant).where(Complainant.id != person.id, Complainant.erased_at.is_(None),
                                          or_(*(col == val for col, val in keys)))
                .order_by(Complainant.id).with_for_update()
            )).all())
    for target in targets:
        ids = list((await session.scalars(
            select(Complaint.id).where(Complaint.complainant_id == target.id).order_by(Complaint.id))).all())
        await _erase(session, target, actor=actor, now=now, reason=reason, complaint_ids=ids)
    await session.flush()
    return len(targets)


async def set_retention(session: AsyncSession, *, actor: Actor, now: datetime, days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("days must be between 1 and {max_retention_days}",
                max_retention_days=MAX_RETENTION_DAYS), ["days"])
    settings = await session.get(TenantSettings, 1, with_for_update=True)
    if settings is None:
        raise DomainError(ErrorCode.NOT_FOUND, "tenant settings not found")
    before = settings.retention_days
    settings.retention_days = days
    await record_event(session, actor=actor, action="set_retention", subject_type="TenantSettings", subject_id=None,
                       now=now, changes={"retentionDays": days, "before": before})
    return days


async def erase_expired_in(tenant: TenantRef, *, now: datetime) -> int:
    """The tenant's complainants past its retention period, erased, batch after batch (one transaction each)
    until none is left. Run by the worker's sweep and by ``complaintdesk retention run``. Then the opinion-book
    entries with no complaint behind them past the period lose their customer's details, and the major-complaint
    drafts of complainants erased before that reached them are scrubbed (``accountability.erasure``)."""
    from services.core.accountability import erasure as accountability

    total = 0
    while True:
        async with tenant_session(tenant) as session, session.begin():
            erased = await erase_expired(session, now=now)
        total += erased
        if erased == 0:
            break
    while True:
        async with tenant_session(tenant) as session, session.begin():
            days = await session.scalar(select(TenantSettings.retention_days).where(TenantSettings.id == 1))
            done = await accountability.erase_expired_entries(session, now=now, days=days) if days else 0
            done += await accountability.catch_up(session, now=now)
        if done == 0:
            return total


async def erase_expired(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Erase complainants whose every complaint ended more than the retention period ago.

    Returns how many were erased (at most ``limit`` per call; call again until it returns 0).
    """
    days = await session.scalar(select(TenantSettings.retention_days).where(TenantSettings.id == 1))
    if days is None:
        return 0
    cutoff = now - timedelta(days=days)
    ended_at = func.coalesce(Complaint.closed_at, Complaint.updated_at)
    still_open = exists().where(
        Complaint.complainant_id == Complainant.id,
        or_(Complaint.status.not_in(ENDED), and_(Complaint.status.in_(ENDED), ended_at > cutoff)),
    )
    due = (await session.scalars(
        select(Complainant).where(Complainant.erased_at.is_(None), ~still_open)
        .order_by(Complainant.created_at).limit(limit).with_for_update(skip_locked=True)
    )).all()
    for person in due:
        ids = list((await session.scalars(
            select(Complaint.id).where(Complaint.complainant_id == person.id).order_by(Complaint.id))).all())
        await _erase(session, person, actor=Actor.system(), now=now,
                     reason=f"retention period of {days} days ended", complaint_ids=ids)
    await session.flush()
    return len(due)
