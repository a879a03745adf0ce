"""What a customer is told about the procedure (seed III item 5: transparency), per template.

Expected dates count working days on weekends only and say so (``provisional``):
the holiday calendars and SLA clocks of the deadlines issue will replace them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.core.complaints.models import Channel, ComplaintStatus

S = ComplaintStatus


@dataclass(frozen=True)
class Step:
    key: str
    name: str
    description: str
    expected_time: str


@dataclass(frozen=True)
class Procedure:
    steps: tuple[Step, ...]
    channels: tuple[Channel, ...]
    reply_working_days: int | None
    resolution_days: int
    summary: str


_RETAIL = Procedure(
    steps=(
        Step("RECEIVE", "接受投诉 Received", "We record your complaint and give you a number and an access code.",
             "at once"),
        Step("INVESTIGATE", "调查 Investigation", "We check the facts (order, product, evidence).",
             "answer within 5 working days"),
        Step("TRANSFER", "传递 Responsible department",
             "If your complaint is valid, the responsible department proposes a solution.", "within 3 working days"),
        Step("CONSULT", "沟通 Your opinion", "We present the approved solution; you agree or not.", "when you answer"),
        Step("IMPLEMENT", "实施 Implementation", "The department carries out the solution.", "as agreed"),
        Step("FOLLOW_UP", "回访 Follow-up", "We ask whether you are satisfied.",
             "within 5 working days after implementation"),
    ),
    channels=(Channel.PHONE, Channel.STORE, Channel.OPINION_BOOK, Channel.WEB, Channel.APP, Channel.LETTER,
              Channel.EMAIL),
    reply_working_days=5,
    resolution_days=15,
    summary="An answer within 5 working days; the whole case within 15 days (18 for foreign cases).",
)

_BANK = Procedure(
    steps=(
        Step("RECEIVE", "受理 Received", "We record your complaint and give you a number and an access code.",
             "at once"),
        Step("INVESTIGATE", "调查 Investigation", "We investigate independently of the people complained about.",
             "promptly"),
        Step("DECIDE", "处理决定 Decision", "We decide and tell you the outcome and its reasons.",
             "within 15 days of receipt (30 for complex cases, and we tell you why)"),
        Step("FOLLOW_UP", "回访 Follow-up", "We ask whether you are satisfied.", "after the decision"),
        Step("ESCALATE", "再投诉 Further complaint",
             "Not satisfied? You may complain to the banking association, then the regulator.", "any time"),
    ),
    channels=(Channel.PHONE, Channel.STORE, Channel.WEB, Channel.APP, Channel.LETTER, Channel.EMAIL,
              Channel.REGULATOR_TRANSFER),
    reply_working_days=None,
    resolution_days=15,
    summary="A decision within 15 days of receipt, extendable to 30 for complex cases with the reason given.",
)

PROCEDURES = {"retail": _RETAIL, "bank": _BANK}


def procedure_for(template: str) -> Procedure:
    return PROCEDURES.get(template, _RETAIL)


def add_weekdays(start: date, days: int) -> date:
    """``days`` working days after ``start`` (the day of receipt is not counted), weekends only."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


@dataclass(frozen=True)
class ExtensionShown:
    """An extension of a date the customer waits on, as the customer may see it: the new date and why."""
    new_due_on: date
    added_days: int
    reason: str


@dataclass(frozen=True)
class ExpectedDate:
    label: str
    due_on: date
    provisional: bool
    extensions: tuple[ExtensionShown, ...] = ()


def expected_dates(template: str, received_at: datetime, tz: ZoneInfo, *, foreign: bool) -> list[ExpectedDate]:
    proc = procedure_for(template)
    received = received_at.astimezone(tz).date()
    dates: list[ExpectedDate] = []
    if proc.reply_working_days is not None:
        dates.append(ExpectedDate("first answer", add_weekdays(received, proc.reply_working_days), True))
    days = proc.resolution_days + (3 if foreign and template == "retail" else 0)
    dates.append(ExpectedDate("resolution", received + timedelta(days=days), True))
    return dates


_NEXT = {
    S.RECEIVED: "We have your complaint and will start looking into it.",
    S.INVESTIGATING: "We are checking the facts.",
    S.UNFOUNDED: "Our investigation did not confirm the complaint; you may tell us if you disagree.",
    S.ASSIGNED: "The responsible department is preparing a solution.",
    S.SOLUTION_PROPOSED: "A solution is being reviewed for approval.",
    S.APPROVED: "We will contact you with the approved solution.",
    S.AWAITING_CUSTOMER: "Please tell us whether you agree with the proposed solution.",
    S.IMPLEMENTING: "The agreed solution is being carried out.",
    S.FOLLOW_UP: "Please tell us whether you are satisfied.",
    S.CLOSED: "Your complaint is closed. Thank you.",
    S.REOPENED: "Your complaint has been reopened and will be handled again.",
    S.ESCALATED: "Your complaint has been passed to an external body.",
    S.WITHDRAWN: "Your complaint was withdrawn.",
    S.UNDER_REVIEW: "Your request for a review is being handled by someone independent of the first decision.",
    S.REFERRED: "Your complaint is for another authority: we told you which one and how to reach it.",
}


def next_step(status: ComplaintStatus) -> str:
    return _NEXT[status]
