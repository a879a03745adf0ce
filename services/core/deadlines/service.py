"""Deadlines planned by the lifecycle, in the lifecycle's transaction; SLA profiles; the tenant's calendar.

The complaint steps (``services.core.complaints.service``) call ``on_step`` after each change, with the
step's name and the status before it. ``on_step`` turns that into events (``rules.Event``) and, in order:
meets the open deadlines whose ``met_on`` holds the event (closing meets every open COMPANY deadline,
withdrawing cancels every open deadline); pauses or resumes them by what holds now (``pause_in``: the new
status, and ``EXTERNAL_APPRAISAL`` while the case is on appraisal; ``follow_pause``, which ``appraisal`` calls
too); starts the deadlines of the complaint's profile (its category's, else a parent category's, else the
default) whose rule starts on the event, paused if something in their ``pause_in`` holds already. Due
times come from the tenant's working-day calendar (``services.core.calendars``):
``due = add_working_days | add_calendar_days(started_at, period + paused)``, so every due time can be
computed again from the row alone (after a calendar change, an extension, a pause). Time comes from the
caller's ``now``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import calendars
from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.calendars import DayKind, DayOverride, ReceiptRule, UnknownJurisdiction, WorkingCalendar
from services.core.calendars.schedule import ScheduleFormat, parse_schedule
from services.core.complaints import lifecycle
from services.core.complaints.models import Complaint, ComplaintStatus
from services.core.deadlines.models import (
    CalendarDayOverride,
    CalendarSettings,
    CustomerNotice,
    Deadline,
    DeadlineExtension,
    DeadlineExtensionRequest,
    SlaProfile,
)
from services.core.deadlines.rules import (
    Basis,
    DeadlineKind,
    Event,
    Party,
    PauseCondition,
    Rule,
    rule_from_json,
    validate_rules,
)
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.org.models import Category, OrgUnit, TenantSettings

S = ComplaintStatus
YEAR_RANGE = (2000, 2100)
MAX_REASON = 2_000


# ---------------------------------------------------------------- the tenant's calendar


@dataclass(frozen=True)
class CalendarInfo:
    calendar: WorkingCalendar
    timezone: str
    declared_years: tuple[int, ...]
    overrides: tuple[tuple[dt.date, str, str | None], ...]
    receipt_rule_chosen: bool = False
    """Whether the tenant chose the receipt rule (else it is the jurisdiction's default)."""


async def _settings(session: AsyncSession) -> CalendarSettings:
    settings = await session.get(CalendarSettings, 1)
    if settings is None:  # a tenant migrated before the row existed cannot happen; stay safe anyway
        settings = CalendarSettings(id=1, jurisdiction="CN", working_hours_end=calendars.DEFAULT_WORKING_HOURS_END,
                                    covered_years=[])
        session.add(settings)
        await session.flush()
    return settings


async def load_calendar(session: AsyncSession) -> CalendarInfo:
    """The tenant's calendar: jurisdiction, time zone, working hours end, overrides and declared years."""
    row = (await session.execute(
        select(CalendarSettings.jurisdiction, CalendarSettings.working_hours_end, CalendarSettings.covered_years,
               TenantSettings.timezone, CalendarSettings.receipt_rule)
        .select_from(CalendarSettings).outerjoin(TenantSettings, TenantSettings.id == 1)
        .where(CalendarSettings.id == 1)
    )).first()
    jurisdiction, hours_end, years, tz, rule = row if row is not None else (
        "CN", calendars.DEFAULT_WORKING_HOURS_END, [], "Asia/Shanghai", None)
    overrides = (await session.execute(
        select(CalendarDayOverride.day, CalendarDayOverride.kind, CalendarDayOverride.name)
        .order_by(CalendarDayOverride.day)
    )).all()
    cal = calendars.calendar_for(
        jurisdiction, tz=tz or "Asia/Shanghai", working_hours_end=hours_end,
        overrides={d: DayOverride(DayKind(k), n) for d, k, n in overrides}, covered_years=years or (),
        receipt_rule=ReceiptRule(rule) if rule else None,
    )
    return CalendarInfo(cal, tz or "Asia/Shanghai", tuple(sorted(years or ())),
                        tuple((d, k, n) for d, k, n in overrides), receipt_rule_chosen=rule is not None)


def known_years(cal: WorkingCalendar, around: int) -> list[int]:
    """The years near ``around`` (ten back, five ahead) the calendar knows."""
    return [y for y in range(around - 10, around + 6) if cal.covers(y)]


# ---------------------------------------------------------------- arithmetic on a row


def _compute(cal: WorkingCalendar, d: Deadline) -> calendars.Deadline:
    n = d.period_days + d.paused_days
    if d.basis == Basis.WORKING:
        return cal.add_working_days(d.started_at, n)
    return cal.add_calendar_days(d.started_at, n)


def _remind_at(cal: WorkingCalendar, d: Deadline, due: calendars.Deadline) -> dt.datetime:
    day = due.due_date
    steps = d.remind_before
    while steps > 0 and day > due.received_on:
        day -= dt.timedelta(days=1)
        if d.basis == Basis.CALENDAR or cal.day(day).working:
            steps -= 1
    moment = dt.datetime.combine(day, dt.time(0, 0), tzinfo=cal.tz)
    return max(moment, d.started_at)


def plan(cal: WorkingCalendar, d: Deadline) -> None:
    """Set ``due_at``, ``provisional``, ``unknown_years`` and ``remind_at`` from the row's own fields. A reminder
    moved (an extension, a resume, a calendar change) is sent again at its new time; a breached deadline whose
    due time moves later (an extension granted after the breach) is breached again if the new time passes too
    (the first breach stays in the audit trail)."""
    due = _compute(cal, d)
    before = d.remind_at
    if d.breached_at is not None and d.due_at is not None and due.due_at > d.due_at:
        d.breached_at = None
    d.due_at = due.due_at
    d.provisional = due.provisional
    d.unknown_years = list(due.unknown_years)
    d.remind_at = _remind_at(cal, d, due)
    if d.reminded_at is not None and d.remind_at != before:
        d.reminded_at = None


def working_days_left(cal: WorkingCalendar, d: Deadline, now: dt.datetime) -> int:
    """Working days from now (or from when it was met, or paused) to the due day: 0 on the due day, negative
    after it."""
    start = d.met_at or d.cancelled_at or d.paused_at or now
    return cal.count_working_days(start, d.due_at).days


def is_overdue(d: Deadline, now: dt.datetime) -> bool:
    return d.open and d.party == Party.COMPANY and d.due_at < (d.paused_at or now)


def _paused_days(cal: WorkingCalendar, basis: str, paused_at: dt.datetime, resumed_at: dt.datetime) -> int:
    if basis == Basis.WORKING:
        return max(0, cal.count_working_days(paused_at, resumed_at).days)
    return max(0, (resumed_at.astimezone(cal.tz).date() - paused_at.astimezone(cal.tz).date()).days)


# ---------------------------------------------------------------- pausing


def holding(complaint: Complaint) -> frozenset[str]:
    """What a deadline's ``pause_in`` can name that holds for the complaint now: its status, and
    ``EXTERNAL_APPRAISAL`` while it is on external appraisal."""
    if complaint.appraisal_started_at is not None:
        return frozenset((complaint.status, PauseCondition.EXTERNAL_APPRAISAL.value))
    return frozenset((complaint.status,))


def pauses(pause_in: Iterable[str], held: frozenset[str]) -> bool:
    """Whether a deadline with this ``pause_in`` stands still while ``held`` holds."""
    return any(p in held for p in pause_in)


async def follow_pause(d: Deadline, held: frozenset[str], now: dt.datetime,
                       calendar: Callable[[], Awaitable[WorkingCalendar]]) -> bool:
    """Pause an open deadline when one of its ``pause_in`` holds, resume it when none does any more: the paused
    time is added to ``paused_days`` (in the deadline's basis) and the due time planned again. One pause lasts
    from the first condition to the last (a status and an appraisal overlapping pause it once). Returns whether
    the deadline paused or resumed."""
    stopped = pauses(d.pause_in, held)
    if d.paused_at is None and stopped:
        d.paused_at = now
        return True
    if d.paused_at is not None and not stopped:
        cal = await calendar()
        d.paused_days += _paused_days(cal, d.basis, d.paused_at, now)
        d.paused_at = None
        plan(cal, d)
        return True
    return False


# ---------------------------------------------------------------- the planner


def events_of(action: str, before: str | None, complaint: Complaint) -> list[Event]:
    """What a step means for deadlines (the step's name, the status before it and the complaint after)."""
    after = complaint.status
    events = list(lifecycle.events_of_step(action))
    if action == "record_customer_opinion":
        events.append(Event.CUSTOMER_AGREED if after == S.IMPLEMENTING else Event.CUSTOMER_DISAGREED)
        if after == S.ASSIGNED:  # back to the department with a new transfer slip
            events.append(Event.DEPARTMENT_ASKED)
    if after != before:
        if after == S.UNFOUNDED:
            events.append(Event.UNFOUNDED)
        elif after == S.REOPENED:
            events.append(Event.REOPENED)
        elif after == S.CLOSED:
            events.append(Event.CLOSED)
        elif after == S.WITHDRAWN:
            events.append(Event.WITHDRAWN)
        elif after == S.REFERRED:
            events.append(Event.REFERRED)
    return events


async def open_deadlines(session: AsyncSession, complaint_id: uuid.UUID) -> list[Deadline]:
    return list((await session.scalars(
        select(Deadline).where(Deadline.complaint_id == complaint_id, Deadline.met_at.is_(None),
                               Deadline.cancelled_at.is_(None))
        .order_by(Deadline.created_at, Deadline.kind).with_for_update()
    )).all())


async def profile_rules(session: AsyncSession, category_id: uuid.UUID | None) -> list[Rule]:
    """The rules for a category: its own profile, else its nearest ancestor's, else the default."""
    profiles = {p.category_id: p for p in (await session.scalars(select(SlaProfile))).all()}
    seen: set[uuid.UUID] = set()
    current = category_id
    while current is not None and current not in seen:
        seen.add(current)
        if current in profiles:
            return [rule_from_json(r, i) for i, r in enumerate(profiles[current].rules)]
        current = await session.scalar(select(Category.parent_id).where(Category.id == current))
    default = profiles.get(None)
    return [rule_from_json(r, i) for i, r in enumerate(default.rules)] if default else []


def lazy_calendar(session: AsyncSession) -> Callable[[], Awaitable[WorkingCalendar]]:
    """The tenant's calendar, loaded on the first call and kept (many steps never need it)."""
    cal: WorkingCalendar | None = None

    async def calendar() -> WorkingCalendar:
        nonlocal cal
        if cal is None:
            cal = (await load_calendar(session)).calendar
        return cal

    return calendar


async def on_step(session: AsyncSession, complaint: Complaint, *, action: str, before: str | None,
                  now: dt.datetime) -> None:
    """Meet, pause, resume and start the complaint's deadlines after a lifecycle step (same transaction)."""
    events = events_of(action, before, complaint)
    if not events and complaint.status == before:
        return  # nothing happened that a deadline could see (evidence, litigation flag, ownership)
    current = await open_deadlines(session, complaint.id)
    calendar = lazy_calendar(session)
    held = holding(complaint)
    ends = Event.CLOSED in events or Event.REFERRED in events  # the company's obligations are met
    for d in current:
        if Event.WITHDRAWN in events:
            d.cancelled_at = now
        elif any(e.value in d.met_on for e in events) or (ends and d.party == Party.COMPANY):
            d.met_at = now
        else:
            await follow_pause(d, held, now, calendar)
    if not events or Event.WITHDRAWN in events or ends:
        await session.flush()
        return
    rules = [r for r in await profile_rules(session, complaint.category_id) if r.starts_on in events]
    if not rules:
        await session.flush()
        return
    running = {(d.kind, d.stage) for d in current if d.open}
    department_kind = None
    if any(r.only_department_kinds for r in rules) and complaint.responsible_department_id is not None:
        department_kind = await session.scalar(
            select(OrgUnit.kind).where(OrgUnit.id == complaint.responsible_department_id))
    foreign = complaint.scope == "FOREIGN"
    for r in rules:
        if (r.kind.value, r.stage) in running:
            continue  # one open deadline of a kind (and stage) at a time
        if r.only_department_kinds and department_kind not in r.only_department_kinds:
            continue
        pause_in = [p.value for p in r.pause_in]
        d = Deadline(
            complaint_id=complaint.id, kind=r.kind.value, stage=r.stage, party=r.party.value, basis=r.basis.value,
            period_days=r.period(foreign), met_on=[e.value for e in r.met_on],
            pause_in=pause_in,
            extensions_policy=[{"addDays": x.add_days, "requiresComplex": x.requires_complex,
                                "requiresApproval": x.requires_approval} for x in r.extensions],
            remind_before=r.remind_before, started_at=now, paused_days=0, extension_count=0,
            paused_at=now if pauses(pause_in, held) else None, created_at=now,
        )
        plan(await calendar(), d)
        session.add(d)
        running.add((r.kind.value, r.stage))
    await session.flush()


async def replan_open(session: AsyncSession, cal: WorkingCalendar) -> int:
    """Compute every open deadline of the tenant again (after its calendar changed); returns how many moved."""
    moved = 0
    for d in (await session.scalars(
        select(Deadline).where(Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None)).with_for_update()
    )).all():
        before = (d.due_at, d.provisional)
        plan(cal, d)
        moved += (d.due_at, d.provisional) != before
    await session.flush()
    return moved


# ---------------------------------------------------------------- reading


async def deadlines_for(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Deadline]]:
    """The deadlines of a page of complaints, oldest first: one statement."""
    found: dict[uuid.UUID, list[Deadline]] = {}
    if not ids:
        return found
    for d in (await session.scalars(
        select(Deadline).where(Deadline.complaint_id.in_(list(ids)))
        .order_by(Deadline.complaint_id, Deadline.created_at, Deadline.kind, Deadline.stage)
    )).all():
        found.setdefault(d.complaint_id, []).append(d)
    return found


def due_within_cutoff(cal: WorkingCalendar, now: dt.datetime, working_days: int) -> dt.datetime:
    """The first moment whose working days left from ``now`` exceed ``working_days``: the start of the
    (n+1)-th working day after today, local time."""
    if not 0 <= working_days <= 366:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "dueWithinWorkingDays must be 0 to 366",
                          ["filter", "dueWithinWorkingDays"])
    day = now.astimezone(cal.tz).date()
    for _ in range(working_days + 1):
        day += dt.timedelta(days=1)
        while not cal.day(day).working:
            day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=cal.tz)


def overdue_clause(now: dt.datetime) -> Any:
    """SQL: the complaint has an open COMPANY deadline past due (paused ones: past due when paused)."""
    return and_(
        Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None), Deadline.party == Party.COMPANY.value,
        or_(and_(Deadline.paused_at.is_(None), Deadline.due_at < now),
            and_(Deadline.paused_at.is_not(None), Deadline.due_at < Deadline.paused_at)),
    )


def due_before_clause(now: dt.datetime, cutoff: dt.datetime) -> Any:
    """SQL: an open, running COMPANY deadline due from now until ``cutoff``."""
    return and_(
        Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None), Deadline.party == Party.COMPANY.value,
        Deadline.paused_at.is_(None), Deadline.due_at >= now, Deadline.due_at < cutoff,
    )


# ---------------------------------------------------------------- extensions (bank rules)


@dataclass(frozen=True)
class Extended:
    deadline: Deadline
    extension: DeadlineExtension
    notice: CustomerNotice


@dataclass(frozen=True)
class NextExtension:
    """The open deadline of a kind and the rule's next extension for it (``policy[extension_count]``)."""
    complaint: Complaint
    deadline: Deadline
    number: int
    add_days: int
    requires_approval: bool




async def next_extension(session: AsyncSession, *, complaint_id: uuid.UUID, kind: DeadlineKind,
                         complex_case: bool, doing: str | None = None) -> NextExtension:
    """Lock the complaint and its open deadline of ``kind`` and return the rule's next extension, or refuse: an
    ended case (ILLEGAL_TRANSITION), no such open deadline (NOT_FOUND), a rule without extensions (NOT_ALLOWED),
    none left (OUT_OF_RANGE), one only for a complex case when ``complex_case`` is false (INVALID)."""
    complaint = await session.get(Complaint, complaint_id, with_for_update=True, populate_existing=True)
    if complaint is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    if complaint.status not in lifecycle.OPEN:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, msg("cannot {doing}: the complaint is {status}",
                                                            doing=doing or msg("extend a deadline"),
                                                            status=lifecycle.status_text(complaint.status)))
    d = next((x for x in await open_deadlines(session, complaint.id) if x.kind == kind.value), None)
    if d is None:
        raise DomainError(ErrorCode.NOT_FOUND, msg("the complaint has no open {kind} deadline", kind=kind.value),
                          ["kind"])
    policy = list(d.extensions_policy or [])
    if not policy:
        raise DomainError(ErrorCode.NOT_ALLOWED, msg("a {kind} deadline cannot be extended", kind=kind.value), ["kind"])
    if d.extension_count >= len(policy):
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("the {kind} deadline was extended {count} times already: no further "
                                                          "extension is allowed", kind=kind.value,
                                                          count=d.extension_count), ["kind"])
    step = policy[d.extension_count]
    if step.get("requiresComplex") and not complex_case:
        raise DomainError(ErrorCode.INVALID, "this extension is only for a complex case", ["complex"])
    return NextExtension(complaint, d, d.extension_count + 1, int(step["addDays"]),
                         bool(step.get("requiresApproval")))


async def apply_extension(
    session: AsyncSession, nxt: NextExtension, *, actor: Actor, now: dt.datetime, reason: str, complex_case: bool,
    requested_by: uuid.UUID | None, approved_by: uuid.UUID | None, action: str = "extend_deadline",
    note: str | None, audit: dict[str, Any] | None = None,
) -> Extended:
    """Grant ``nxt``: the period grows by its days and the due time is planned again; a ``DeadlineExtension``
    (reason, requester, approver) and a ``customer_notices`` row (the customer is told the new date and the
    reason) are stored, and one audit event ``action`` (with ``audit``'s extra changes and ``note``) is written."""
    complaint, d = nxt.complaint, nxt.deadline
    cal = (await load_calendar(session)).calendar
    previous = d.due_at
    d.period_days += nxt.add_days
    d.extension_count = nxt.number
    plan(cal, d)
    ext = DeadlineExtension(
        deadline_id=d.id, number=nxt.number, reason=reason, complex=complex_case, added_days=nxt.add_days,
        previous_due_at=previous, new_due_at=d.due_at, requested_by=requested_by, approved_by=approved_by,
        created_at=now,
    )
    notice = CustomerNotice(
        complaint_id=complaint.id, deadline_id=d.id, kind="DEADLINE_EXTENDED",
        dedup_key=f"deadline:{d.id}:extension:{nxt.number}", reason=reason, new_due_at=d.due_at, created_at=now,
    )
    session.add_all([ext, notice])
    complaint.updated_at = now
    await session.flush()
    await record_event(
        session, actor=actor, action=action, subject_type="Complaint", subject_id=complaint.id, now=now,
        from_status=complaint.status, to_status=complaint.status,
        changes={**(audit or {}), "kind": d.kind, "extension": nxt.number, "addedDays": nxt.add_days,
                 "complex": complex_case, "requestedBy": requested_by, "approvedBy": approved_by,
                 "dueAt": d.due_at.isoformat()},
        note=note,
    )
    return Extended(d, ext, notice)


async def extend_deadline(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, complaint_id: uuid.UUID, reason: str,
    complex_case: bool, kind: DeadlineKind = DeadlineKind.DECISION, may_extend: bool = True,
) -> Extended:
    """Extend an open deadline at once by its rule's next extension; the customer must be told why (a notice row).

    An extension that ``requires_complex`` is refused unless ``complex_case``. One that ``requires_approval`` is
    never granted here, whoever asks (APPROVAL_REQUIRED): it is requested (``extension_requests``) and decided
    by someone else. Any other extension needs ``may_extend`` (``complaint.extend_deadline``).
    """
    why = v.required_text(reason, "reason", max_length=MAX_REASON)
    nxt = await next_extension(session, complaint_id=complaint_id, kind=kind, complex_case=complex_case)
    if nxt.requires_approval:
        raise DomainError(ErrorCode.APPROVAL_REQUIRED,
                          "this extension needs an approval: ask for it with requestDeadlineExtension, and someone "
                          "allowed to approve deadline extensions (not the one who asked) decides")
    if not may_extend:
        raise DomainError(ErrorCode.NOT_ALLOWED, "you may not extend this deadline")
    return await apply_extension(session, nxt, actor=actor, now=now, reason=why, complex_case=complex_case,
                                 requested_by=actor.user_id, approved_by=None, note=why)


def may_decide_extension(request: DeadlineExtensionRequest, user_id: uuid.UUID | None) -> str | None:
    """Four eyes on the person: why ``user_id`` may not approve or reject ``request`` whatever roles they hold
    (they asked for it themselves), or None. A core rule, not a policy line: ``setPolicies`` cannot lift it."""
    refused = lifecycle.extension_decider_refusal(request.requested_by, user_id)
    return refused.message if refused is not None else None


async def extensions_for(session: AsyncSession, deadline_ids: Iterable[uuid.UUID]
                         ) -> dict[uuid.UUID, list[DeadlineExtension]]:
    found: dict[uuid.UUID, list[DeadlineExtension]] = {}
    ids = list(deadline_ids)
    if ids:
        for e in (await session.scalars(select(DeadlineExtension).where(DeadlineExtension.deadline_id.in_(ids))
                                        .order_by(DeadlineExtension.deadline_id, DeadlineExtension.number))).all():
            found.setdefault(e.deadline_id, []).append(e)
    return found


# ---------------------------------------------------------------- administration


async def list_profiles(session: AsyncSession) -> list[SlaProfile]:
    return list((await session.scalars(
        select(SlaProfile).order_by(SlaProfile.category_id.is_not(None), SlaProfile.name))).all())


async def upsert_sla_profile(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, category_id: uuid.UUID | None, name: str,
    rules: Sequence[dict[str, Any]],
) -> SlaProfile:
    """Create or replace the profile of a category (or the default one). Running deadlines keep their rule."""
    title = v.required_text(name, "name", max_length=200)
    parsed = validate_rules([rule_from_json(r, i) for i, r in enumerate(rules)])
    if category_id is not None and await session.get(Category, category_id) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "category not found", ["categoryId"])
    condition = SlaProfile.category_id.is_(None) if category_id is None else SlaProfile.category_id == category_id
    profile = (await session.scalars(select(SlaProfile).where(condition).with_for_update())).first()
    stored = [r.as_json() for r in parsed]
    if profile is None:
        profile = SlaProfile(category_id=category_id, name=title, rules=stored, updated_at=now)
        session.add(profile)
    else:
        profile.name, profile.rules, profile.updated_at = title, stored, now
    await session.flush()
    await record_event(session, actor=actor, action="upsert_sla_profile", subject_type="SlaProfile",
                       subject_id=profile.id, now=now,
                       changes={"categoryId": category_id, "rules": len(stored)})
    return profile


def _year(value: int, field: str) -> int:
    if not YEAR_RANGE[0] <= value <= YEAR_RANGE[1]:
        raise DomainError(ErrorCode.OUT_OF_RANGE, msg("years are {first} to {last}", first=YEAR_RANGE[0],
                                                              last=YEAR_RANGE[1]), [field])
    return value


async def set_calendar_day(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, day: dt.date, kind: DayKind | None,
    name: str | None = None, cover_year: bool = False,
) -> CalendarInfo:
    """Override one date (``kind``), or remove its override (``kind`` None). Open deadlines are computed again in
    the same transaction. It never makes the date's year known: only a whole schedule does
    (``import_calendar_year``); ``cover_year`` is refused (``INVALID``) and kept only to say so."""
    if cover_year:
        raise DomainError(ErrorCode.INVALID, "one date does not make a year known: import the year's whole "
                          "schedule (importCalendarYear)", ["coverYear"])
    _year(day.year, "date")
    label = v.text(name, "name", max_length=200)
    await session.execute(select(CalendarSettings.id).where(CalendarSettings.id == 1).with_for_update())
    existing = await session.get(CalendarDayOverride, day)
    if kind is None:
        if existing is None:
            raise DomainError(ErrorCode.NOT_FOUND, "that date has no override to remove", ["date"])
        await session.execute(delete(CalendarDayOverride).where(CalendarDayOverride.day == day))
    elif existing is None:
        session.add(CalendarDayOverride(day=day, kind=kind.value, name=label, updated_at=now))
    else:
        existing.kind, existing.name, existing.updated_at = kind.value, label, now
    settings = await _settings(session)
    settings.updated_at = now
    await session.flush()
    info = await load_calendar(session)
    moved = await replan_open(session, info.calendar)
    await record_event(session, actor=actor, action="set_calendar_day", subject_type="Calendar", subject_id=None,
                       now=now, changes={"date": day.isoformat(), "kind": kind.value if kind else None,
                                         "deadlinesMoved": moved})
    return info


async def update_calendar(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, jurisdiction: str | None = None,
    working_hours_end: dt.time | None = None, covered_years: Sequence[int] | None = None,
    receipt_rule: ReceiptRule | None = None,
) -> CalendarInfo:
    """Change the jurisdiction, the end of working hours, the receipt rule or the declared years; open deadlines
    follow. Declared years can only be taken away here (a year comes in by ``import_calendar_year``)."""
    settings = await _settings(session)
    await session.refresh(settings, with_for_update=True)
    changes: dict[str, Any] = {}
    if jurisdiction is not None:
        code = v.required_text(jurisdiction, "jurisdiction", max_length=16).upper()
        try:
            calendars.calendar_for(code, tz="UTC")
        except UnknownJurisdiction as exc:
            raise DomainError(ErrorCode.INVALID, exc.message, ["jurisdiction"]) from None
        settings.jurisdiction = changes["jurisdiction"] = code
    if working_hours_end is not None:
        if working_hours_end.tzinfo is not None:
            raise DomainError(ErrorCode.INVALID, "workingHoursEnd is a local time, without offset",
                              ["workingHoursEnd"])
        settings.working_hours_end = working_hours_end
        changes["workingHoursEnd"] = working_hours_end.isoformat()
    if receipt_rule is not None:
        settings.receipt_rule = changes["receiptRule"] = receipt_rule.value
    if covered_years is not None:
        years = sorted({_year(y, "coveredYears") for y in covered_years})
        added = sorted(set(years) - set(settings.covered_years or []))
        if added:
            raise DomainError(ErrorCode.INVALID, msg("{year} becomes known only by importing its whole schedule "
                                                       "(importCalendarYear)", year=added[0]), ["coveredYears"])
        settings.covered_years = changes["coveredYears"] = years
    if not changes:
        raise DomainError(ErrorCode.REQUIRED, "nothing to change", ["input"])
    settings.updated_at = now
    await session.flush()
    info = await load_calendar(session)
    changes["deadlinesMoved"] = await replan_open(session, info.calendar)
    await record_event(session, actor=actor, action="update_calendar", subject_type="Calendar", subject_id=None,
                       now=now, changes=changes)
    return info


@dataclass(frozen=True)
class ImportedYear:
    info: CalendarInfo
    holidays: int
    workdays: int
    replaced: int
    deadlines_moved: int


async def import_calendar_year(
    session: AsyncSession, *, actor: Actor, now: dt.datetime, year: int, fmt: ScheduleFormat, content: str,
    replace: bool = False,
) -> ImportedYear:
    """Import a year's official schedule (holidays and make-up working days, ``calendars.schedule``) as the
    year's overrides and declare the year known, all or nothing; every open deadline is computed again in the
    same transaction. A year that has a schedule or overrides already is refused (``DUPLICATE``) unless
    ``replace``, which drops that year's overrides first; a year the built-in data knows is refused (``INVALID``:
    correct single days with ``set_calendar_day``)."""
    _year(year, "year")
    settings = await _settings(session)
    await session.refresh(settings, with_for_update=True)
    cal = (await load_calendar(session)).calendar
    if year in cal.source.known_years:
        raise DomainError(ErrorCode.INVALID, msg("the built-in {jurisdiction} data knows {year}: correct single days "
                                                   "with setCalendarDay", jurisdiction=cal.jurisdiction, year=year),
                          ["year"])
    days = parse_schedule(content, fmt, year=year, weekend=cal.source.weekend)
    in_year = and_(CalendarDayOverride.day >= dt.date(year, 1, 1), CalendarDayOverride.day <= dt.date(year, 12, 31))
    existing = len((await session.scalars(select(CalendarDayOverride.day).where(in_year))).all())
    declared = year in (settings.covered_years or [])
    if (existing or declared) and not replace:
        already = (msg("{year} has a schedule already: import with replace to put this one in its place", year=year)
                   if declared else
                   msg("{year} has overrides already: import with replace to put this one in its place", year=year))
        raise DomainError(ErrorCode.DUPLICATE, already, ["year"])
    await session.execute(delete(CalendarDayOverride).where(in_year))
    session.add_all([CalendarDayOverride(day=d.date, kind=d.kind.value, name=d.name, updated_at=now) for d in days])
    settings.covered_years = sorted({*(settings.covered_years or []), year})
    settings.updated_at = now
    await session.flush()
    info = await load_calendar(session)
    moved = await replan_open(session, info.calendar)
    holidays = sum(d.kind is DayKind.HOLIDAY for d in days)
    await record_event(session, actor=actor, action="import_calendar_year", subject_type="Calendar",
                       subject_id=None, now=now,
                       changes={"year": year, "format": fmt.value, "holidays": holidays,
                                "workdays": len(days) - holidays, "replaced": existing, "deadlinesMoved": moved})
    return ImportedYear(info, holidays, len(days) - holidays, existing, moved)


async def recompute_tenant_deadlines(session: AsyncSession, *, actor: Actor, now: dt.datetime, reason: str) -> int:
    """Compute every open deadline of the tenant again with its calendar as it is now (after an upgrade changed
    how the calendar counts); audited when any moved. Returns how many moved."""
    moved = await replan_open(session, (await load_calendar(session)).calendar)
    if moved:
        await record_event(session, actor=actor, action="recompute_deadlines", subject_type="Calendar",
                           subject_id=None, now=now, changes={"reason": reason, "deadlinesMoved": moved})
    return moved
