"""What the customer is told to expect: the dates of the open deadlines they are waiting on.

The public tracking page shows these (``trackComplaint.expectedDates``): the planner's own rows, so a make-up
working day, a holiday, a pause while the case waited on the customer, and every extension granted are in
them, each extension with its new date and its reason (what the customer is told anyway; never who asked or
approved). A complaint with no deadline rows (recorded before deadlines were planned) falls back to the
procedure's estimate (weekends only, marked provisional).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.complaints import procedure
from services.core.deadlines.models import Deadline
from services.core.deadlines.rules import DeadlineKind
from services.core.deadlines.service import extensions_for
from services.core.i18n import N_

LABELS = {
    DeadlineKind.CUSTOMER_REPLY.value: N_("first answer"),
    DeadlineKind.DECISION.value: N_("decision"),
    DeadlineKind.RESOLUTION.value: N_("resolution"),
    DeadlineKind.REVIEW.value: N_("review answer"),
}
"""The deadlines a customer waits on, and how the tracking page names them."""
KIND_LABELS = {
    DeadlineKind.CUSTOMER_REPLY.value: N_("first answer to the customer"),
    DeadlineKind.DEPARTMENT_ANSWER.value: N_("department's answer"),
    DeadlineKind.FOLLOW_UP.value: N_("follow-up"),
    DeadlineKind.RESOLUTION.value: N_("resolution"),
    DeadlineKind.STAGE.value: N_("stage"),
    DeadlineKind.DECISION.value: N_("decision"),
    DeadlineKind.REVIEW_REQUEST.value: N_("review request window"),
    DeadlineKind.REVIEW.value: N_("review answer"),
}
"""What a person reads for each kind of deadline (message ids; ``Deadline.kindLabel`` translates them)."""


async def expected_dates(session: AsyncSession, *, complaint_id: uuid.UUID, template: str, received_at: datetime,
                         tz: ZoneInfo, foreign: bool) -> list[procedure.ExpectedDate]:
    """The open customer-facing deadlines, earliest first (the day they fall due, in the tenant's time zone), each
    with its extensions (new date, days added, reason); none once they are all met. Without any deadline row: the
    procedure's estimate."""
    rows = (await session.execute(
        select(Deadline.id, Deadline.kind, Deadline.due_at, Deadline.provisional, Deadline.met_at,
               Deadline.cancelled_at, Deadline.extension_count)
        .where(Deadline.complaint_id == complaint_id).order_by(Deadline.due_at, Deadline.kind)
    )).all()
    if not rows:
        return procedure.expected_dates(template, received_at, tz, foreign=foreign)
    shown = [r for r in rows if r.kind in LABELS and r.met_at is None and r.cancelled_at is None]
    extended = await extensions_for(session, [r.id for r in shown if r.extension_count])
    return [procedure.ExpectedDate(
        LABELS[r.kind], r.due_at.astimezone(tz).date(), r.provisional,
        tuple(procedure.ExtensionShown(e.new_due_at.astimezone(tz).date(), e.added_days, e.reason or "")
              for e in extended.get(r.id, ())),
    ) for r in shown]


__all__ = ["KIND_LABELS", "LABELS", "expected_dates"]
