"""复核: the review of a decision (the 2020 rules for banking and insurance consumer complaints).

A customer who disagrees with the decision asks for a review within the review window (the ``REVIEW_REQUEST``
deadline: 30 days from being told the decision, in the bank template), through staff or on the public side with
the number and access code. Someone independent of the first decision is assigned (never one of the case's
handlers: four eyes, whatever roles they hold) and answers within the ``REVIEW`` deadline. The decision stands
(``UPHELD``: the case closes, and the tenant's after-review setting tells the customer where to re-complain
and/or forwards the dossier) or changes (``REVISED``: the case is handled again). A tenant whose profile has no
review window (retail) has no review: a dissatisfied customer goes back to the responsible department.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor
from services.core.complaints.models import ComplaintStatus, Review, ReviewOutcome, ReviewState, Source
from services.core.complaints.steps import begin, current_review, handlers_of, move, record_step
from services.core.deadlines.models import CustomerNotice
from services.core.errors import DomainError, ErrorCode
from services.core.escalation.service import after_final_answer
from services.core.org.models import User

S = ComplaintStatus
MAX_TEXT = 5_000


async def request_review(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, reason: str,
    source: Source = Source.STAFF,
) -> Review:
    """The customer asks for a review of the decision (recorded by staff, or by the customer online)."""
    complaint = await begin(session, "request_review", complaint_id, actor=actor, now=now)
    review = Review(complaint_id=complaint.id, state=ReviewState.REQUESTED.value,
                    reason=v.required_text(reason, "reason", max_length=MAX_TEXT), source=source.value,
                    requested_by=actor.user_id, requested_at=now)
    session.add(review)
    before = move(complaint, S.UNDER_REVIEW, now)
    await session.flush()
    await record_step(session, complaint, actor=actor, action="request_review", now=now, before=before,
                      changes={"reviewId": review.id, "source": source.value})
    return review


async def assign_reviewer(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, reviewer_id: uuid.UUID,
) -> Review:
    """Name the reviewer: an active user who did not handle the case (four eyes); may be changed until the
    review is answered."""
    reviewer = await session.get(User, reviewer_id)  # an unknown reviewer is that, whatever the case's state
    if reviewer is None or not reviewer.active:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found", ["reviewerId"])
    complaint = await begin(session, "assign_reviewer", complaint_id, actor=actor, now=now)
    if reviewer_id in (await handlers_of(session, [complaint.id]))[complaint.id]:
        raise DomainError(ErrorCode.SEPARATION_OF_DUTIES,
                          "four eyes: whoever handled a case may not review it", ["reviewerId"])
    review = await current_review(session, complaint.id)
    assert review is not None  # the guard found one open
    review.reviewer_id = reviewer_id
    review.assigned_by = actor.user_id
    review.assigned_at = now
    review.state = ReviewState.ASSIGNED.value
    complaint.updated_at = now
    await record_step(session, complaint, actor=actor, action="assign_reviewer", now=now, before=complaint.status,
                      changes={"reviewId": review.id, "reviewerId": reviewer_id})
    return review


async def answer_review(
    session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID, outcome: ReviewOutcome,
    answer: str,
) -> Review:
    """The reviewer's answer, told to the customer; upheld closes the case (what follows is the tenant's
    after-review setting), revised hands it back to be handled again."""
    complaint = await begin(session, "answer_review", complaint_id, actor=actor, now=now)
    text_ = v.required_text(answer, "answer", max_length=MAX_TEXT)
    review = await current_review(session, complaint.id)
    assert review is not None
    review.outcome = outcome.value
    review.answer = text_
    review.answered_at = now
    review.state = ReviewState.ANSWERED.value
    before = move(complaint, S.CLOSED if outcome == ReviewOutcome.UPHELD else S.REOPENED, now)
    session.add(CustomerNotice(complaint_id=complaint.id, kind="REVIEW_ANSWERED",
                               dedup_key=f"review:{review.id}:answer", reason=text_, created_at=now))
    await session.flush()
    await record_step(session, complaint, actor=actor, action="answer_review", now=now, before=before,
                      changes={"reviewId": review.id, "outcome": outcome.value})
    if outcome == ReviewOutcome.UPHELD:
        await after_final_answer(session, complaint_id=complaint.id, now=now, ref=f"review:{review.id}")
    return review
