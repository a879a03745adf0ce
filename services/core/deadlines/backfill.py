"""Deadlines for complaints recorded before deadlines were planned (tenant revision t0005), rebuilt from the
audit trail.

Each complaint with no deadline row at all has its lifecycle steps replayed, in order, through the planner
(``on_step``) at the moments they happened: the deadlines are started, met, paused and resumed as they would
have been, at the same times. The status before and after each step comes from the audit event; the case's
category, scope and responsible department are today's (the trail does not record their history), and
extensions and external appraisals did not exist before t0005, so none is replayed. Deadlines rebuilt this
way that have passed are breached by the next sweep like any other (their owner and supervisors are told).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.models import AuditEvent
from services.core.complaints.models import Complaint
from services.core.deadlines.models import Deadline
from services.core.deadlines.service import on_step
from services.core.tenancy import TenantRef, tenant_session


@dataclass
class _AsItWas:
    """The complaint as the planner saw it right after one step (only what ``on_step`` reads)."""

    id: uuid.UUID
    status: str
    category_id: uuid.UUID | None
    responsible_department_id: uuid.UUID | None
    scope: str
    appraisal_started_at: dt.datetime | None = None


async def complaints_without_deadlines(session: AsyncSession) -> list[uuid.UUID]:
    return list((await session.scalars(
        select(Complaint.id).where(~exists().where(Deadline.complaint_id == Complaint.id))
        .order_by(Complaint.created_at, Complaint.id))).all())


async def backfill_deadlines(session: AsyncSession, complaint_ids: Sequence[uuid.UUID]) -> int:
    """Plan the deadlines of these complaints, each still without any (checked under its row lock), in the
    caller's transaction; returns how many were replayed."""
    complaints = (await session.scalars(
        select(Complaint).where(Complaint.id.in_(list(complaint_ids)),
                                ~exists().where(Deadline.complaint_id == Complaint.id))
        .order_by(Complaint.created_at, Complaint.id).with_for_update()
    )).all()
    for complaint in complaints:
        steps = (await session.execute(
            select(AuditEvent.action, AuditEvent.from_status, AuditEvent.to_status, AuditEvent.occurred_at)
            .where(AuditEvent.subject_type == "Complaint", AuditEvent.subject_id == complaint.id)
            .order_by(AuditEvent.seq)
        )).all()
        for step in steps:
            if step.to_status is None:
                continue  # not a lifecycle step (nothing a deadline follows)
            as_it_was = _AsItWas(id=complaint.id, status=step.to_status, category_id=complaint.category_id,
                                 responsible_department_id=complaint.responsible_department_id,
                                 scope=complaint.scope)
            await on_step(session, cast(Complaint, as_it_was), action=step.action, before=step.from_status,
                          now=step.occurred_at)
    return len(complaints)


async def backfill_tenant(tenant: TenantRef, *, chunk: int = 200,
                          on_progress: Callable[[int, int], None] | None = None) -> int:
    """Every complaint of the tenant without deadlines, ``chunk`` per transaction; returns how many were
    replayed. ``on_progress(done, total)`` after each chunk."""
    async with tenant_session(tenant) as session:
        async with session.begin():
            todo = await complaints_without_deadlines(session)
        done = 0
        for start in range(0, len(todo), chunk):
            async with session.begin():
                done += await backfill_deadlines(session, todo[start:start + chunk])
            if on_progress is not None:
                on_progress(min(start + chunk, len(todo)), len(todo))
    return done
