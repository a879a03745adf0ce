"""SLA rules: which deadlines a case gets, when they start, what meets them and what pauses them.

A profile (per tenant, optionally per category) is a list of ``Rule``s. The planner turns the lifecycle's
steps into ``Event``s; a rule starts a deadline on its ``starts_on`` event, the deadline is met on any of
its ``met_on`` events (and by closing the case, for the company's deadlines), and its clock stops while
one of its ``pause_in`` conditions holds: the complaint is in one of the statuses named there, or a
``PauseCondition`` named there holds (``EXTERNAL_APPRAISAL``: the case waits on a third party's appraisal or
assessment, 鉴定/评估, which the 2020 rules for banking and insurance consumer complaints do not count in the
handling period). A deadline paused by several conditions runs again only when none holds.

Kinds (api.md ``DeadlineKind``; the last three added for the bank rules):
``CUSTOMER_REPLY`` answer the customer; ``DEPARTMENT_ANSWER`` the responsible department answers the
transfer slip; ``FOLLOW_UP`` the follow-up visit after implementation; ``RESOLUTION`` the whole case;
``STAGE`` a unit's share of the case (``stage`` names it); ``DECISION`` the bank's decision on the complaint
(2020 rules: 15 days, extendable); ``REVIEW_REQUEST`` the customer's window to ask for a review of the
decision (party CUSTOMER: it lapses, it is never the company's breach); ``REVIEW`` the company's answer to a
review request.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.core import validation
from services.core.complaints.models import ComplaintStatus
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg


class DeadlineKind(enum.StrEnum):
    CUSTOMER_REPLY = "CUSTOMER_REPLY"
    DEPARTMENT_ANSWER = "DEPARTMENT_ANSWER"
    FOLLOW_UP = "FOLLOW_UP"
    RESOLUTION = "RESOLUTION"
    STAGE = "STAGE"
    DECISION = "DECISION"
    REVIEW_REQUEST = "REVIEW_REQUEST"
    REVIEW = "REVIEW"


class Basis(enum.StrEnum):
    WORKING = "WORKING"
    CALENDAR = "CALENDAR"


class Party(enum.StrEnum):
    """Whose obligation: the company's deadlines can be overdue; a customer's window only lapses."""

    COMPANY = "COMPANY"
    CUSTOMER = "CUSTOMER"


class PauseCondition(enum.StrEnum):
    """What besides a complaint status can stop a deadline's clock (named in a rule's ``pause_in``)."""

    EXTERNAL_APPRAISAL = "EXTERNAL_APPRAISAL"
    """The case is on external appraisal (``startExternalAppraisal`` until ``endExternalAppraisal``)."""


PauseOn = ComplaintStatus | PauseCondition


class Event(enum.StrEnum):
    RECORDED = "RECORDED"
    INVESTIGATION_STARTED = "INVESTIGATION_STARTED"
    INVESTIGATION_SUBMITTED = "INVESTIGATION_SUBMITTED"
    UNFOUNDED = "UNFOUNDED"
    DEPARTMENT_ASKED = "DEPARTMENT_ASKED"
    SOLUTION_PROPOSED = "SOLUTION_PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CUSTOMER_TOLD = "CUSTOMER_TOLD"
    CUSTOMER_AGREED = "CUSTOMER_AGREED"
    CUSTOMER_DISAGREED = "CUSTOMER_DISAGREED"
    IMPLEMENTED = "IMPLEMENTED"
    FOLLOWED_UP = "FOLLOWED_UP"
    REOPENED = "REOPENED"
    CLOSED = "CLOSED"
    WITHDRAWN = "WITHDRAWN"
    REVIEW_REQUESTED = "REVIEW_REQUESTED"
    REVIEW_ANSWERED = "REVIEW_ANSWERED"
    REFERRED = "REFERRED"


MAX_RULES = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Extension:
    """One allowed extension, in order: ``add_days`` more; ``requires_complex``: only for a complex case;
    ``requires_approval``: only by someone allowed ``complaint.approve_deadline_extension`` (recorded)."""

    add_days: int
    requires_complex: bool = False
    requires_approval: bool = False


@dataclass(frozen=True)
class Rule:
    kind: DeadlineKind
    basis: Basis
    days: int
    starts_on: Event
    met_on: tuple[Event, ...] = ()
    pause_in: tuple[PauseOn, ...] = ()
    """Statuses and conditions (``PauseCondition``) under which the clock stops."""
    days_foreign: int | None = None
    stage: str | None = None
    party: Party = Party.COMPANY
    extensions: tuple[Extension, ...] = ()
    remind_before: int = 1
    """Reminder this many days (of the rule's basis) before the due day; the sweeper sends it."""
    only_department_kinds: tuple[str, ...] = field(default_factory=tuple)
    """Start only when the responsible department is of one of these org-unit kinds (e.g. PRODUCTION_TEAM)."""

    def period(self, foreign: bool) -> int:
        return self.days_foreign if foreign and self.days_foreign is not None else self.days

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "basis": self.basis.value, "days": self.days,
            "daysForeign": self.days_foreign, "startsOn": self.starts_on.value,
            "metOn": [e.value for e in self.met_on], "pauseIn": [s.value for s in self.pause_in],
            "stage": self.stage, "party": self.party.value, "remindBefore": self.remind_before,
            "onlyDepartmentKinds": list(self.only_department_kinds),
            "extensions": [{"addDays": x.add_days, "requiresComplex": x.requires_complex,
                            "requiresApproval": x.requires_approval} for x in self.extensions],
        }


def _enum(cls: type[enum.StrEnum], value: Any, path: list[str]) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise DomainError(
            ErrorCode.INVALID, msg("{path}: unknown value {value}", path=".".join(path), value=repr(value)),
                          path) from None


def _days(value: Any, path: list[str], *, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_DAYS:
        raise DomainError(ErrorCode.OUT_OF_RANGE, msg("{path} must be {minimum} to {maximum} days", path=".".join(path),
                                                            minimum=minimum, maximum=MAX_DAYS), path)
    return value


def _pause_on(value: Any, path: list[str]) -> PauseOn:
    """A complaint status or a ``PauseCondition``."""
    for cls in (ComplaintStatus, PauseCondition):
        try:
            return cls(value)
        except ValueError:
            pass
    raise DomainError(ErrorCode.INVALID, msg("{path}: unknown status or condition {value}", path=".".join(path),
                                                value=repr(value)), path)


def _plain_text(value: Any, what: str, max_length: int, path: list[str]) -> None:
    """1-``max_length`` characters without control characters (the shared rule), naming the rule's field."""
    try:
        if not isinstance(value, str) or validation.text(value, what, max_length=max_length) is None:
            raise DomainError(ErrorCode.INVALID, msg("{what} must be 1-{max_length} characters", what=what,
                                                             max_length=max_length), path)
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, path) from None


def rule_from_json(data: Mapping[str, Any], index: int = 0) -> Rule:
    """A rule from its stored (or input) form; refuses anything malformed, naming the field."""
    p = ["rules", str(index)]
    kind = _enum(DeadlineKind, data.get("kind"), [*p, "kind"])
    stage = data.get("stage")
    if stage is not None and (not isinstance(stage, str) or not stage.strip() or len(stage) > 64):
        raise DomainError(ErrorCode.INVALID, "stage must be 1-64 characters", [*p, "stage"])
    if kind is DeadlineKind.STAGE and not stage:
        raise DomainError(ErrorCode.REQUIRED, "a STAGE deadline needs a stage name", [*p, "stage"])
    if isinstance(stage, str):
        _plain_text(stage, "stage", 64, [*p, "stage"])
    for i, k in enumerate(data.get("onlyDepartmentKinds") or ()):
        _plain_text(k, "an org unit kind", 32, [*p, "onlyDepartmentKinds", str(i)])
    foreign = data.get("daysForeign")
    extensions = tuple(
        Extension(_days(x.get("addDays"), [*p, "extensions", str(i), "addDays"], minimum=1),
                  bool(x.get("requiresComplex", False)), bool(x.get("requiresApproval", False)))
        for i, x in enumerate(data.get("extensions") or ())
    )
    if len(extensions) > 5:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "at most 5 extensions", [*p, "extensions"])
    return Rule(
        kind=kind,
        basis=_enum(Basis, data.get("basis"), [*p, "basis"]),
        days=_days(data.get("days"), [*p, "days"]),
        days_foreign=None if foreign is None else _days(foreign, [*p, "daysForeign"]),
        starts_on=_enum(Event, data.get("startsOn"), [*p, "startsOn"]),
        met_on=tuple(_enum(Event, e, [*p, "metOn"]) for e in data.get("metOn") or ()),
        pause_in=tuple(_pause_on(s, [*p, "pauseIn"]) for s in data.get("pauseIn") or ()),
        stage=stage.strip() if isinstance(stage, str) else None,
        party=_enum(Party, data.get("party") or "COMPANY", [*p, "party"]),
        remind_before=_days(data.get("remindBefore", 1), [*p, "remindBefore"]),
        only_department_kinds=tuple(str(k) for k in data.get("onlyDepartmentKinds") or ()),
        extensions=extensions,
    )


def validate_rules(rules: Sequence[Rule]) -> list[Rule]:
    if not rules:
        raise DomainError(ErrorCode.REQUIRED, "a profile needs at least one rule", ["rules"])
    if len(rules) > MAX_RULES:
        raise DomainError(ErrorCode.OUT_OF_RANGE, msg("at most {max_rules} rules", max_rules=MAX_RULES), ["rules"])
    seen: set[tuple[str, str | None, str]] = set()
    for i, r in enumerate(rules):
        key = (r.kind.value, r.stage, r.starts_on.value)
        if key in seen:
            raise DomainError(ErrorCode.DUPLICATE, "two rules start the same deadline on the same event",
                              ["rules", str(i)])
        seen.add(key)
        if r.starts_on in r.met_on:
            raise DomainError(ErrorCode.INVALID, "a deadline cannot be met by the event that starts it",
                              ["rules", str(i), "metOn"])
        if r.pause_in and any(s in (ComplaintStatus.CLOSED, ComplaintStatus.WITHDRAWN) for s in r.pause_in):
            raise DomainError(ErrorCode.INVALID, "a closed or withdrawn case does not pause, it ends",
                              ["rules", str(i), "pauseIn"])
    return list(rules)


# ---------------------------------------------------------------- the templates' profiles

E, S, P = Event, ComplaintStatus, PauseCondition
W, C = Basis.WORKING, Basis.CALENDAR

RETAIL_RULES: tuple[Rule, ...] = (
    # seed I 1: the customer is promised an answer within 5 working days
    Rule(DeadlineKind.CUSTOMER_REPLY, W, 5, E.RECORDED, met_on=(E.CUSTOMER_TOLD, E.UNFOUNDED)),
    # seed I 3: the responsible department answers the transfer slip within 3 working days
    Rule(DeadlineKind.DEPARTMENT_ANSWER, W, 3, E.DEPARTMENT_ASKED, met_on=(E.SOLUTION_PROPOSED,)),
    # seed I 6: follow-up visit within 5 working days after the implementation
    Rule(DeadlineKind.FOLLOW_UP, W, 5, E.IMPLEMENTED, met_on=(E.FOLLOWED_UP,)),
    # seed IV (四)1: the whole case within 15 days domestic, 18 foreign, from acceptance; waits on the customer
    # and on an external inspection
    Rule(DeadlineKind.RESOLUTION, C, 15, E.RECORDED, days_foreign=18, met_on=(E.FOLLOWED_UP, E.UNFOUNDED),
         pause_in=(S.AWAITING_CUSTOMER, P.EXTERNAL_APPRAISAL), remind_before=2),
    # seed IV (三)3: an unsatisfied customer is told an answer comes within 15 days
    Rule(DeadlineKind.RESOLUTION, C, 15, E.REOPENED, met_on=(E.FOLLOWED_UP, E.UNFOUNDED),
         pause_in=(S.AWAITING_CUSTOMER, P.EXTERNAL_APPRAISAL), remind_before=2),
    # seed IV (四)2: stage limits: sales branch 5 days, marketing 7 days (of which the processing unit 2)
    Rule(DeadlineKind.STAGE, C, 5, E.RECORDED, stage="branch", met_on=(E.INVESTIGATION_STARTED,)),
    Rule(DeadlineKind.STAGE, C, 7, E.INVESTIGATION_STARTED, stage="marketing",
         met_on=(E.APPROVED, E.UNFOUNDED), pause_in=(P.EXTERNAL_APPRAISAL,)),
    Rule(DeadlineKind.STAGE, C, 2, E.DEPARTMENT_ASKED, stage="processing_unit", met_on=(E.SOLUTION_PROPOSED,),
         only_department_kinds=("PRODUCTION_TEAM",)),
)
"""Retail (seed I, IV). External appraisal here is a product quality inspection by an outside body (a test lab,
the supplier's inspection: seed I 2 gathers the material number, quantities and defects to decide whether the
complaint is valid; seed IV handles supplier cases jointly and keeps the product sample). It pauses the whole
case (``RESOLUTION``, both rules) and the marketing stage (investigation to approved handling form), where
the inspection happens. It does not pause the promise to answer the customer within 5 working days
(``CUSTOMER_REPLY``: the customer is owed an answer, or else the reason, all the same), nor the branch stage
(before the investigation), the department's answer and the processing unit's stage (asked after the
investigation, when the facts are in) or the follow-up visit (after the implementation)."""

BANK_RULES: tuple[Rule, ...] = (
    # 2020 rules: a decision within 15 days of receipt; complex: to 30; a further 30 with a recorded approval;
    # the customer told of each extension and why (customer_notices); an appraisal's time is not counted
    Rule(DeadlineKind.DECISION, C, 15, E.RECORDED, met_on=(E.CUSTOMER_TOLD, E.UNFOUNDED),
         pause_in=(P.EXTERNAL_APPRAISAL,), remind_before=3,
         extensions=(Extension(15, requires_complex=True), Extension(30, requires_approval=True))),
    # the customer may ask for a review within 30 days of the decision (their window: it lapses)
    Rule(DeadlineKind.REVIEW_REQUEST, C, 30, E.CUSTOMER_TOLD, met_on=(E.REVIEW_REQUESTED,), party=Party.CUSTOMER,
         remind_before=0),
    # a review request (requestReview) is answered within 30 days (an appraisal's time not counted)
    Rule(DeadlineKind.REVIEW, C, 30, E.REVIEW_REQUESTED, met_on=(E.REVIEW_ANSWERED,),
         pause_in=(P.EXTERNAL_APPRAISAL,), remind_before=3),
    # internally, the department answers within 3 working days, as in retail
    Rule(DeadlineKind.DEPARTMENT_ANSWER, W, 3, E.DEPARTMENT_ASKED, met_on=(E.SOLUTION_PROPOSED,)),
)
"""Bank (the 2020 rules for banking and insurance consumer complaints): the time a case waits on a third
party's appraisal or assessment (鉴定/评估) is not counted in the handling period, so ``EXTERNAL_APPRAISAL``
pauses the ``DECISION`` and the ``REVIEW`` of a review request. Not the customer's own ``REVIEW_REQUEST``
window, nor the internal ``DEPARTMENT_ANSWER`` (asked after the investigation, as in retail)."""

TEMPLATE_PROFILES: dict[str, tuple[str, tuple[Rule, ...]]] = {
    "retail": ("零售默认时限 Retail defaults (seed I, IV)", RETAIL_RULES),
    "bank": ("银行保险消费投诉时限 Bank defaults (2020 rules)", BANK_RULES),
}


def template_profile(template: str) -> tuple[str, list[dict[str, Any]]] | None:
    found = TEMPLATE_PROFILES.get(template)
    if found is None:
        return None
    name, rules = found
    return name, [r.as_json() for r in rules]
