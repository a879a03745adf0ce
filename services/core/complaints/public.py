"""What the customer may see and do on the tracking page (seed III item 5), from the lifecycle and the case:
whether they can answer the opinion form or ask for a review now (and until when), the review's answer,
the authority a referred complaint belongs to, and where to re-complain once they were told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.complaints import lifecycle
from services.core.complaints.models import Complaint, ComplaintStatus, Review
from services.core.complaints.steps import current_review, load_facts, review_window_until
from services.core.escalation.models import ExternalBody
from services.core.escalation.service import guided, recomplaint_bodies, referral_of


@dataclass(frozen=True)
class PublicCase:
    can_give_opinion: bool
    can_request_review: bool
    review_requestable_until: datetime | None
    review: Review | None
    referred_to: ExternalBody | None
    further_complaint: list[ExternalBody]


async def public_case(session: AsyncSession, complaint: Complaint, now: datetime) -> PublicCase:
    facts = await load_facts(session, complaint, now, handlers=False)
    status = ComplaintStatus(complaint.status)
    can_opinion = (status != ComplaintStatus.APPROVED  # the owner relays the approved answer first
                   and lifecycle.refusal("record_customer_opinion", facts, None) is None)
    can_review = lifecycle.refusal("request_review", facts, None) is None
    until = await review_window_until(session, complaint.id, now) if can_review else None
    further = await recomplaint_bodies(session) if complaint.id in await guided(session, [complaint.id]) else []
    return PublicCase(
        can_give_opinion=can_opinion,
        can_request_review=can_review,
        review_requestable_until=until,
        review=await current_review(session, complaint.id),
        referred_to=await referral_of(session, complaint.id) if status == ComplaintStatus.REFERRED else None,
        further_complaint=further,
    )
