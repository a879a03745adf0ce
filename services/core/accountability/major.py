"""重大投诉 (seed III item 8): the tenant's criteria (an amount, a group complaint, media attention, a repeat count, a
category) flag a complaint on recording or later (a confirmed repeat, a group or media mark). A flagged complaint
gets a regulator notification draft: the case dossier (``escalation.service.build_dossier``) for the tenant's
regulator, without the personal data the regulator is not entitled to (no regulator configured yet: without any).
The regulator liaison approves it, and only then it goes out through the outbox, once (idempotency key
``major:<complaint>``; a second approval is refused).

Statistics: flagged complaints (``major_complaints``) by reason, and those reported (``state = 'SENT'``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability.models import ComplaintAttention, MajorComplaint, MajorState
from services.core.accountability.settings import get_settings
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complaint
from services.core.complaints.steps import begin, get_for_update, record_step
from services.core.errors import DomainError, ErrorCode
from services.core.escalation.models import ExternalBody, ExternalBodyKind
from services.core.escalation.service import build_dossier, dossier_hash
from services.core.org.models import Category, User
from services.core.outbox.models import OutboxKind
from services.core.outbox.service import enqueue, notify
from services.core.statistics import facts

REGULATOR_KINDS = (ExternalBodyKind.REGULATOR.value, ExternalBodyKind.MARKET_REGULATOR.value)
MAX_CHAIN = 100


async def regulator(session: AsyncSession) -> ExternalBody | None:
    """The tenant's regulator for major complaints: an active regulator body with a webhook (lowest level first)."""
    found: ExternalBody | None = (await session.scalars(
        select(ExternalBody).where(ExternalBody.active.is_(True), ExternalBody.kind.in_(REGULATOR_KINDS),
                                   ExternalBody.webhook_url.is_not(None))
        .order_by(ExternalBody.escalation_level.asc().nulls_last(), ExternalBody.name).limit(1))).first()
    return found


async def repeat_count(session: AsyncSession, complaint: Complaint) -> int:
    """How many earlier complaints this one repeats (its confirmed repeat chain)."""
    count, current = 0, complaint.repeat_of_id
    while current is not None and count < MAX_CHAIN:
        count += 1
        current = await session.scalar(select(Complaint.repeat_of_id).where(Complaint.id == current))
    return count


async def reasons_for(session: AsyncSession, complaint: Complaint) -> list[str]:
    s = await get_settings(session)
    reasons: list[str] = []
    if s.major_amount_at_least is not None and complaint.amount is not None and \
            complaint.amount >= s.major_amount_at_least:
        reasons.append("AMOUNT")
    attention = await session.get(ComplaintAttention, complaint.id)
    if attention is not None and attention.group_complaint and s.major_on_group_complaint:
        reasons.append("GROUP_COMPLAINT")
    if attention is not None and attention.media_attention and s.major_on_media_attention:
        reasons.append("MEDIA_ATTENTION")
    if s.major_repeat_count_at_least is not None and \
            await repeat_count(session, complaint) >= s.major_repeat_count_at_least:
        reasons.append("REPEAT_COUNT")
    if s.major_category_ids and complaint.category_id is not None:
        parent = await session.scalar(select(Category.parent_id).where(Category.id == complaint.category_id))
        if complaint.category_id in s.major_category_ids or parent in s.major_category_ids:
            reasons.append("CATEGORY")
    return reasons


async def evaluate(session: AsyncSession, complaint: Complaint, *, actor: Actor, now: datetime
                   ) -> MajorComplaint | None:
    """Flag the complaint if the criteria say so (once: a flag stays, its reasons grow), with the draft."""
    reasons = await reasons_for(session, complaint)
    found = await session.get(MajorComplaint, complaint.id, with_for_update=True)
    if not reasons:
        return found
    if found is not None:
        if found.state == MajorState.DRAFT.value and set(reasons) - set(found.reasons):
            found.reasons = sorted(set(found.reasons) | set(reasons))
        return found
    body = await regulator(session)
    recipient = body if body is not None else ExternalBody(
        name="(regulator to configure)", kind=ExternalBodyKind.REGULATOR.value, escalation_level=None,
        receives_personal_data=False)
    dossier = await build_dossier(session, complaint, recipient, step=None,
                                  reason="major complaint: " + ", ".join(reasons), now=now)
    dossier["major"] = {"reasons": reasons, "flaggedAt": now.isoformat()}
    found = MajorComplaint(complaint_id=complaint.id, reasons=reasons, state=MajorState.DRAFT.value,
                           external_body_id=body.id if body is not None else None, draft=dossier,
                           draft_sha256=dossier_hash(dossier), flagged_at=now)
    session.add(found)
    await session.flush()
    await record_event(session, actor=actor, action="flag_major_complaint", subject_type="Complaint",
                       subject_id=complaint.id, now=now, from_status=complaint.status, to_status=complaint.status,
                       changes={"reasons": reasons, "draftSha256": found.draft_sha256,
                                "personalDataIncluded": bool(dossier.get("personalDataIncluded"))})
    liaisons = (await session.scalars(select(User.id).where(
        User.active.is_(True), User.roles.overlap(["regulator_liaison", "general_manager"])))).all()
    await notify(session, user_ids=liaisons, key=f"major:{complaint.id}:flagged", kind="MAJOR_COMPLAINT",
                 title=f"Major complaint {complaint.number}: regulator notification draft to approve / "
                       f"重大投诉 {complaint.number}：监管报告草稿待审批", complaint_id=complaint.id, now=now)
    await facts.refresh_accountability(session, complaint.id)
    return found


async def mark_attention(session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID,
                         group_complaint: bool | None = None, media_attention: bool | None = None
                         ) -> MajorComplaint | None:
    """Mark a group complaint or media attention; the criteria are evaluated again."""
    complaint = await begin(session, "mark_attention", complaint_id, actor=actor, now=now)
    attention = await session.get(ComplaintAttention, complaint.id, with_for_update=True)
    if attention is None:
        attention = ComplaintAttention(complaint_id=complaint.id, group_complaint=False, media_attention=False,
                                       updated_at=now)
        session.add(attention)
    if group_complaint is not None:
        attention.group_complaint = group_complaint
    if media_attention is not None:
        attention.media_attention = media_attention
    attention.updated_by, attention.updated_at = actor.user_id, now
    complaint.updated_at = now
    await session.flush()
    await record_step(session, complaint, actor=actor, action="mark_attention", now=now, before=complaint.status,
                      changes={"groupComplaint": attention.group_complaint,
                               "mediaAttention": attention.media_attention})
    return await evaluate(session, complaint, actor=actor, now=now)


def major_key(complaint_id: uuid.UUID) -> str:
    return f"major:{complaint_id}"


async def approve_draft(session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID
                        ) -> MajorComplaint:
    """The regulator liaison approves the draft: it goes to the regulator through the outbox, once."""
    complaint = await get_for_update(session, complaint_id)
    found = await session.get(MajorComplaint, complaint.id, with_for_update=True, populate_existing=True)
    if found is None:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the complaint is not flagged as a major complaint",
                          ["complaintId"])
    if found.state != MajorState.DRAFT.value:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the regulator notification was approved and sent already",
                          ["complaintId"])
    body = await session.get(ExternalBody, found.external_body_id) if found.external_body_id else None
    if body is None or not body.active or not body.webhook_url:
        body = await regulator(session)
    if body is None:
        raise DomainError(ErrorCode.NOT_FOUND, "no regulator is configured (an active regulator body with a "
                          "webhook)", ["externalBodyId"])
    draft: dict[str, Any] = dict(found.draft or {})
    if draft.get("personalDataIncluded") and not body.receives_personal_data:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the draft holds personal data this regulator is not "
                          "entitled to", ["complaintId"])
    key = major_key(complaint.id)
    found.outbox_id = await enqueue(
        session, OutboxKind.WEBHOOK, key,
        {"event": "complaint.major", "idempotencyKey": key, "dossierSha256": found.draft_sha256, "dossier": draft},
        target=f"external_body:{body.id}", now=now, complaint_id=complaint.id)
    found.state = MajorState.SENT.value
    found.external_body_id = body.id
    found.approved_by, found.approved_at = actor.user_id, now
    await session.flush()
    await record_event(session, actor=actor, action="approve_major_report", subject_type="Complaint",
                       subject_id=complaint.id, now=now, from_status=complaint.status, to_status=complaint.status,
                       changes={"externalBodyId": body.id, "draftSha256": found.draft_sha256})
    await facts.refresh_accountability(session, complaint.id)
    return found


async def majors_for(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, MajorComplaint]:
    if not complaint_ids:
        return {}
    return {m.complaint_id: m for m in (await session.scalars(
        select(MajorComplaint).where(MajorComplaint.complaint_id.in_(list(complaint_ids))))).all()}


async def flagged(session: AsyncSession, state: MajorState | None = None) -> Sequence[MajorComplaint]:
    query = select(MajorComplaint).order_by(MajorComplaint.flagged_at.desc())
    if state is not None:
        query = query.where(MajorComplaint.state == state.value)
    return (await session.scalars(query)).all()


__all__ = ["approve_draft", "evaluate", "flagged", "majors_for", "mark_attention"]
