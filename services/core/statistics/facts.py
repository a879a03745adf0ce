"""Keeping ``complaint_facts`` in step: one statement per step, in the step's transaction.

``refresh`` recomputes a complaint's row from the complaint, its investigation, its latest survey and its
deadlines; what happened once stays counted (``final_answer``, ``escalated``, the first final answer's time and
handling days), so a case reopened after a final answer still counts as answered.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, and_, bindparam, cast, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability.models import (
    DecisionState,
    MajorComplaint,
    MajorState,
    Penalty,
    PenaltyState,
    RepeatProposal,
    RepeatState,
    Responsibility,
)
from services.core.calendars import WorkingCalendar
from services.core.complaints.models import Complaint, ComplaintStatus, Investigation, SatisfactionSurvey
from services.core.deadlines.models import Deadline
from services.core.org.models import TenantSettings
from services.core.statistics.models import ComplaintFacts

_BREACHED = exists().where(Deadline.complaint_id == Complaint.id, Deadline.party == "COMPANY",
                           Deadline.breached_at.is_not(None))
_TIMEZONE = func.coalesce(select(TenantSettings.timezone).where(TenantSettings.id == 1).scalar_subquery(),
                          "Asia/Shanghai")
_LATEST_RATING = (select(SatisfactionSurvey.rating).where(SatisfactionSurvey.complaint_id == Complaint.id)
                  .order_by(SatisfactionSurvey.recorded_at.desc(), SatisfactionSurvey.id).limit(1)
                  .scalar_subquery())


def _accountability(complaint_id: Any) -> dict[str, Any]:
    """The accountability columns (issue 16) of the complaint ``complaint_id`` (a column to correlate on), as
    scalar subqueries: the newest APPROVED attribution, the EFFECTIVE penalties, a confirmed repeat (counted
    against a store), a major complaint (reported)."""

    def approved(column: Any) -> Any:
        return (select(column).where(Responsibility.complaint_id == complaint_id,
                                     Responsibility.state == DecisionState.APPROVED.value)
                .order_by(Responsibility.decided_at.desc().nulls_last(), Responsibility.proposed_at.desc(),
                          Responsibility.id).limit(1).scalar_subquery())

    confirmed = and_(RepeatProposal.complaint_id == complaint_id,
                     RepeatProposal.state == RepeatState.CONFIRMED.value)
    major = MajorComplaint.complaint_id == complaint_id
    return {
        "responsibility_level": approved(Responsibility.level),
        "responsibility_cause": approved(Responsibility.cause),
        "responsible_unit_id": approved(Responsibility.org_unit_id),
        "penalties": select(func.count()).select_from(Penalty).where(
            Penalty.complaint_id == complaint_id, Penalty.state == PenaltyState.EFFECTIVE.value).scalar_subquery(),
        "repeat_confirmed": exists().where(confirmed),
        "repeat_against_store": exists().where(confirmed, RepeatProposal.store_id.is_not(None)),
        "major": exists().where(major),
        "major_reported": exists().where(major, MajorComplaint.state == MajorState.SENT.value),
    }


ACCOUNTABILITY = ("responsibility_level", "responsibility_cause", "responsible_unit_id", "penalties",
                  "repeat_confirmed", "repeat_against_store", "major", "major_reported")
"""``_accountability``'s columns, in its order"""


def handling_days(calendar: WorkingCalendar, received_at: datetime, answered_at: datetime) -> Decimal:
    """Working days (the tenant's calendar) after the day of receipt up to and including the day of the answer."""
    return Decimal(calendar.count_working_days(received_at, answered_at).days)


COLUMNS = ("complaint_id", "received_at", "received_month", "store_id", "department_id", "owner_id", "category_id",
           "cause", "channel",
           "business_type_id", "cause_code_id", "business_channel_id", "area_id", "status", "valid", "final_answer",
           "referred", "litigation", "repeat", "escalated", "breached", "satisfaction", "final_answer_at",
           "handling_days", *ACCOUNTABILITY)


def _build_refresh() -> Any:
    answered = bindparam("answered", type_=Boolean())
    source = (
        select(
            Complaint.id, Complaint.created_at,
            cast(func.date_trunc("month", func.timezone(_TIMEZONE, Complaint.created_at)), Date),
            Complaint.store_id, Complaint.responsible_department_id,
            Complaint.owner_id, Complaint.category_id, Complaint.cause, Complaint.channel, Complaint.business_type_id,
            Complaint.cause_code_id, Complaint.business_channel_id, Complaint.area_id, Complaint.status,
            Investigation.valid, answered, Complaint.status == ComplaintStatus.REFERRED.value,
            Complaint.litigation, Complaint.repeat_of_id.is_not(None),
            Complaint.status == ComplaintStatus.ESCALATED.value, _BREACHED, _LATEST_RATING,
            bindparam("answered_at", type_=ComplaintFacts.final_answer_at.type),
            bindparam("days", type_=ComplaintFacts.handling_days.type),
            *_accountability(Complaint.id).values(),
        )
        .select_from(Complaint)
        .outerjoin(Investigation, Investigation.complaint_id == Complaint.id)
        .where(Complaint.id == bindparam("complaint_id"))
    )
    statement = insert(ComplaintFacts).from_select(list(COLUMNS), source)
    kept = statement.excluded
    table = ComplaintFacts.__table__
    sticky = {  # what happened once stays counted
        "final_answer": table.c.final_answer | kept.final_answer,
        "escalated": table.c.escalated | kept.escalated,
        "final_answer_at": func.coalesce(table.c.final_answer_at, kept.final_answer_at),
        "handling_days": func.coalesce(table.c.handling_days, kept.handling_days),
    }
    return statement.on_conflict_do_update(
        index_elements=[table.c.complaint_id],
        set_={**{c: getattr(kept, c) for c in COLUMNS[1:] if c not in sticky}, **sticky},
    )


_REFRESH = _build_refresh()
"""Built once: every step runs it (its cache key is computed once, on this object)."""


async def refresh(
    session: AsyncSession, complaint: Complaint, *, now: datetime,
    calendar: Callable[[], Awaitable[WorkingCalendar]],
) -> None:
    """Upsert ``complaint``'s facts (its flushed state) in the caller's transaction: one statement. ``calendar``
    is asked only when the case is CLOSED (its handling time is counted then; the first time is kept)."""
    answered = complaint.status == ComplaintStatus.CLOSED
    days = handling_days(await calendar(), complaint.created_at, now) if answered else None
    connection = await session.connection()  # Core execution: a parameter dict is not an ORM bulk insert here
    await connection.execute(_REFRESH, {"complaint_id": complaint.id, "answered": answered,
                                        "answered_at": now if answered else None, "days": days})


_REFRESH_ACCOUNTABILITY = (update(ComplaintFacts)
                           .where(ComplaintFacts.complaint_id == bindparam("facts_of"))
                           .values(_accountability(ComplaintFacts.complaint_id)))


async def refresh_accountability(session: AsyncSession, complaint_id: uuid.UUID | None) -> None:
    """Recount a complaint's accountability columns in the caller's transaction (one statement), after a change
    that is not a step of the case (a penalty proposed or decided, a major complaint flagged or reported)."""
    if complaint_id is not None:
        await session.flush()
        connection = await session.connection()
        await connection.execute(_REFRESH_ACCOUNTABILITY, {"facts_of": complaint_id})


async def mark_breached(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> None:
    """The sweeper breached a deadline of these complaints (in its transaction)."""
    if complaint_ids:
        await session.execute(update(ComplaintFacts).where(
            and_(ComplaintFacts.complaint_id.in_(list(set(complaint_ids))), ComplaintFacts.breached.is_(False)))
            .values(breached=True))
