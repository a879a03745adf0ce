"""The complaint lifecycle, declared once (product.md; seed I, III and IV).

``STEPS`` is the table: for every step, the statuses it may start from, the statuses it may lead to, the
permission Casbin decides, the form it carries (its GraphQL input), the deadline events it raises, a
condition on the case (``guard``: the reason it cannot happen now) and a condition on the person
(``person``: four eyes, whatever roles the person holds). Everything else reads it:

- the step functions (``complaints.service``, ``escalation.service``, the appraisal and deadline steps) call
  ``check`` before they change anything, so a step not allowed now is refused with the table's code and
  reason, and nothing changes;
- the deadline planner takes each step's events from ``events_of_step``;
- ``Complaint.availableActions`` is the table, the current facts and ``canI`` together;
- ``docs/lifecycle.md`` is drawn from it (``complaintdesk lifecycle-diagram``).

This module holds data and pure functions only (no database): ``complaints.steps`` does the locking, the
status change and the audit, ``complaints.facts`` loads what the guards read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.core.complaints.models import ComplaintStatus, HandlingFormKind, HandlingFormStatus, ReviewState
from services.core.deadlines.rules import Event
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, Both, msg, translate

S = ComplaintStatus
TERMINAL = frozenset({S.WITHDRAWN, S.REFERRED})
"""A case that left the company for good: nothing more happens to it (erasure and retention aside)."""
OPEN = frozenset(S) - {S.CLOSED} - TERMINAL
"""A case still being handled. A CLOSED case is archived: read-only, except what the rules allow after a
final answer (a review request, a reopen, an escalation)."""
ALL = frozenset(S)
DECIDED = frozenset({S.AWAITING_CUSTOMER, S.IMPLEMENTING, S.FOLLOW_UP, S.CLOSED, S.UNFOUNDED, S.REOPENED})
"""Where the customer may have been told a decision (the review window says whether they were)."""
ATTRIBUTABLE = ALL - TERMINAL - {S.RECEIVED, S.INVESTIGATING, S.UNFOUNDED}
"""Where responsibility for a valid complaint may be attributed (seed IV 七; the guard asks for a valid finding)."""

HANDLING_ACTIONS = (
    "record_complaint", "resolve_on_the_spot", "start_investigation", "submit_investigation", "attach_evidence",
    "assign_responsible_department", "propose_solution", "propose_opinion", "approve_handling_form",
    "reject_handling_form", "send_customer_message", "record_customer_opinion", "complete_implementation",
    "record_follow_up", "transfer_ownership", "escalate_complaint", "route_complaint", "refer_complaint",
)
"""The audit actions that make a user one of a case's handlers (with its owner and its investigator)."""


@dataclass(frozen=True)
class Refusal:
    code: ErrorCode
    message: str
    field: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FormFacts:
    kind: HandlingFormKind
    status: HandlingFormStatus
    proposed_by: uuid.UUID
    current_cycle: bool
    """proposed after the case's latest investigation was submitted (a form of an earlier round is history)"""
    sent: bool
    """the approved text was relayed to the customer"""


@dataclass(frozen=True)
class ReviewFacts:
    state: ReviewState
    reviewer_id: uuid.UUID | None


@dataclass(frozen=True)
class ResponsibilityFacts:
    proposed: bool
    """waiting for the general manager's decision"""
    proposed_by: uuid.UUID


@dataclass(frozen=True)
class Facts:
    """What the guards read about one case (``complaints.facts.load_facts``)."""

    status: ComplaintStatus
    investigation_submitted: bool = False
    investigation_valid: bool | None = None
    form: FormFacts | None = None
    review: ReviewFacts | None = None
    review_window_open: bool = False
    handlers: frozenset[uuid.UUID] = field(default_factory=frozenset)
    on_appraisal: bool = False
    extension_requesters: tuple[uuid.UUID, ...] = ()
    """who asked for each pending deadline extension request (one per deadline at most)"""
    responsibility: ResponsibilityFacts | None = None
    """the case's newest responsibility attribution (责任归属), if any"""
    repeat_proposed: bool = False
    """recording found an earlier complaint this one may repeat, not yet confirmed or dismissed"""


Guard = Callable[[Facts], Refusal | None]
PersonRule = Callable[[Facts, uuid.UUID], Refusal | None]


@dataclass(frozen=True)
class Step:
    name: str
    """the step (and its audit action)"""
    mutation: str
    permission: str
    sources: frozenset[ComplaintStatus]
    targets: tuple[ComplaintStatus, ...] = ()
    """the statuses it may lead to; () leaves the status as it is"""
    form: str | None = None
    events: tuple[Event, ...] = ()
    """the deadline events it raises besides its status change's (``deadlines.service.events_of``)"""
    guard: Guard | None = None
    person: PersonRule | None = None
    label: str = ""
    """what a person calls the step, in English: a catalog's message id (``N_``), so ``label_zh`` and every other
    language come from the catalogs"""
    edges: tuple[tuple[ComplaintStatus, ComplaintStatus], ...] = ()
    """the moves it makes, where not every source leads to every target (the diagram draws these)"""

    @property
    def label_zh(self) -> str:
        return translate(self.label, "zh-CN") if self.label else ""

    def label_in(self, locale: str) -> str:
        return translate(self.label, locale) if self.label else ""

    def moves(self) -> list[tuple[ComplaintStatus, ComplaintStatus]]:
        if self.edges:
            return list(self.edges)
        return [(a, b) for a in sorted(self.sources) for b in self.targets if a != b]


# ---------------------------------------------------------------- guards


def _illegal(message: str, field: tuple[str, ...] | None = None) -> Refusal:
    return Refusal(ErrorCode.ILLEGAL_TRANSITION, message, field)


def _investigation_open(f: Facts) -> Refusal | None:
    return _illegal("the investigation was already submitted") if f.investigation_submitted else None


def _valid_if_investigating(f: Facts) -> Refusal | None:
    if f.status == S.INVESTIGATING and not (f.investigation_submitted and f.investigation_valid):
        return _illegal("cannot assign a responsible department before the investigation finds the complaint valid")
    return None


def _current(f: Facts, kind: HandlingFormKind) -> FormFacts | None:
    form = f.form
    if form is None or form.kind != kind:
        return None
    if kind == HandlingFormKind.OPINION and not form.current_cycle:
        return None
    return form


def _opinion_to_propose(f: Facts) -> Refusal | None:
    form = _current(f, HandlingFormKind.OPINION)
    if form is not None and form.status != HandlingFormStatus.REJECTED:
        return _illegal("the investigation opinion is already written (waiting for approval, or approved)")
    return None


def _form_pending(f: Facts) -> Refusal | None:
    kind = HandlingFormKind.OPINION if f.status == S.UNFOUNDED else HandlingFormKind.SOLUTION
    form = _current(f, kind)
    if form is None or form.status != HandlingFormStatus.PENDING_APPROVAL:
        return _illegal("there is no handling form waiting for approval")
    return None


def _not_the_proposer(f: Facts, user_id: uuid.UUID) -> Refusal | None:
    if f.form is not None and f.form.proposed_by == user_id:
        return Refusal(ErrorCode.SEPARATION_OF_DUTIES,
                       "four eyes: whoever proposed a handling form may not approve or reject it")
    return None


def _approved_to_send(f: Facts) -> Refusal | None:
    kind = HandlingFormKind.OPINION if f.status == S.UNFOUNDED else HandlingFormKind.SOLUTION
    form = _current(f, kind)
    if form is None or form.status != HandlingFormStatus.APPROVED:
        what = "investigation opinion" if kind == HandlingFormKind.OPINION else "handling form"
        return Refusal(ErrorCode.APPROVAL_REQUIRED,
                       msg("nothing may be promised to the customer before the {what} is approved in writing",
                               what=what))
    return None


def _customer_can_answer(f: Facts) -> Refusal | None:
    if f.status == S.UNFOUNDED:
        form = _current(f, HandlingFormKind.OPINION)
        if form is None or not form.sent:
            return _illegal("the customer has not been sent the investigation opinion yet")
    return None


def _review_window(f: Facts) -> Refusal | None:
    if f.review is not None and f.review.state != ReviewState.ANSWERED:
        return _illegal("a review is already under way")
    if not f.review_window_open:
        return _illegal("no review can be requested: there is no decision whose review window is open")
    return None


def _review_unassigned_or_open(f: Facts) -> Refusal | None:
    if f.review is None or f.review.state == ReviewState.ANSWERED:
        return _illegal("there is no review request to assign")
    return None


def _review_assigned(f: Facts) -> Refusal | None:
    if f.review is None or f.review.state != ReviewState.ASSIGNED:
        return _illegal("the review has no reviewer yet")
    return None


def _the_independent_reviewer(f: Facts, user_id: uuid.UUID) -> Refusal | None:
    if f.review is not None and f.review.reviewer_id is not None and f.review.reviewer_id != user_id:
        return Refusal(ErrorCode.NOT_ALLOWED, "only the assigned reviewer answers the review")
    return not_a_handler(f, user_id)


def not_a_handler(f: Facts, user_id: uuid.UUID) -> Refusal | None:
    """Four eyes: whoever handled a case may never review it."""
    if user_id in f.handlers:
        return Refusal(ErrorCode.SEPARATION_OF_DUTIES, "four eyes: whoever handled a case may not review it")
    return None


def extension_decider_refusal(requested_by: uuid.UUID, user_id: uuid.UUID | None) -> Refusal | None:
    """Four eyes: whoever asked for a deadline extension may never approve or reject that request."""
    if user_id is not None and requested_by == user_id:
        return Refusal(ErrorCode.SEPARATION_OF_DUTIES,
                       "four eyes: whoever asked for a deadline extension may not decide on it; someone else "
                       "allowed to approve deadline extensions must")
    return None


def _extension_pending(f: Facts) -> Refusal | None:
    return None if f.extension_requesters else _illegal("no deadline extension request is pending")


def _not_the_requester(f: Facts, user_id: uuid.UUID) -> Refusal | None:
    """(every pending request is this user's own: there is none they may decide)"""
    refusals = [extension_decider_refusal(r, user_id) for r in f.extension_requesters]
    return refusals[0] if refusals and all(refusals) else None


def _not_on_appraisal(f: Facts) -> Refusal | None:
    return _illegal("the complaint is already on external appraisal") if f.on_appraisal else None


def _on_appraisal(f: Facts) -> Refusal | None:
    return None if f.on_appraisal else _illegal("the complaint is not on external appraisal")


def _found_valid(f: Facts) -> Refusal | None:
    if not f.investigation_valid:
        return _illegal("responsibility is attributed only once the investigation found the complaint valid")
    if f.responsibility is not None and f.responsibility.proposed:
        return _illegal("a responsibility attribution is waiting for the general manager's decision")
    return None


def _responsibility_pending(f: Facts) -> Refusal | None:
    if f.responsibility is None or not f.responsibility.proposed:
        return _illegal("no responsibility attribution is waiting for a decision")
    return None


def _not_the_attributor(f: Facts, user_id: uuid.UUID) -> Refusal | None:
    if f.responsibility is not None and f.responsibility.proposed_by == user_id:
        return Refusal(ErrorCode.SEPARATION_OF_DUTIES,
                       "four eyes: whoever proposed the responsibility attribution may not decide it")
    return None


def _repeat_proposed(f: Facts) -> Refusal | None:
    return None if f.repeat_proposed else _illegal("no repeat proposal waits for a decision")


# ---------------------------------------------------------------- the table

E = Event
_STEPS: tuple[Step, ...] = (
    Step("record_complaint", "recordComplaint", "complaint.record", frozenset(), (S.RECEIVED,),
         "RecordComplaintInput", (E.RECORDED,), label=N_("Record a complaint")),
    Step("resolve_on_the_spot", "resolveOnTheSpot", "complaint.resolve_on_the_spot", frozenset({S.RECEIVED}),
         (S.CLOSED,), "ResolveOnTheSpotInput", label=N_("Resolve on the spot")),
    Step("start_investigation", "startInvestigation", "complaint.start_investigation",
         frozenset({S.RECEIVED, S.REOPENED}), (S.INVESTIGATING,), "StartInvestigationInput",
         (E.INVESTIGATION_STARTED,), label=N_("Start the investigation")),
    Step("submit_investigation", "submitInvestigation", "complaint.submit_investigation",
         frozenset({S.INVESTIGATING}), (S.INVESTIGATING, S.UNFOUNDED), "SubmitInvestigationInput",
         (E.INVESTIGATION_SUBMITTED,), guard=_investigation_open, label=N_("Submit the investigation"),
         edges=((S.INVESTIGATING, S.UNFOUNDED),)),
    Step("propose_opinion", "proposeOpinion", "complaint.propose_solution", frozenset({S.UNFOUNDED}), (),
         "ProposeOpinionInput", guard=_opinion_to_propose,
         label=N_("Write the investigation opinion")),
    Step("assign_responsible_department", "assignResponsibleDepartment", "complaint.assign_department",
         frozenset({S.INVESTIGATING, S.REOPENED}), (S.ASSIGNED,), "AssignResponsibleDepartmentInput",
         (E.DEPARTMENT_ASKED,), guard=_valid_if_investigating, label=N_("Send the transfer slip")),
    Step("propose_solution", "proposeSolution", "complaint.propose_solution", frozenset({S.ASSIGNED}),
         (S.SOLUTION_PROPOSED,), "ProposeSolutionInput", (E.SOLUTION_PROPOSED,), label=N_("Propose the solution")),
    Step("approve_handling_form", "approveHandlingForm", "complaint.approve", frozenset({S.SOLUTION_PROPOSED,
                                                                                         S.UNFOUNDED}),
         (S.APPROVED,), "DecideHandlingFormInput", (E.APPROVED,), guard=_form_pending, person=_not_the_proposer,
         label=N_("Approve the handling form"), edges=((S.SOLUTION_PROPOSED, S.APPROVED),)),
    Step("reject_handling_form", "rejectHandlingForm", "complaint.reject", frozenset({S.SOLUTION_PROPOSED,
                                                                                      S.UNFOUNDED}),
         (S.ASSIGNED,), "DecideHandlingFormInput", (E.REJECTED,), guard=_form_pending, person=_not_the_proposer,
         label=N_("Reject the handling form"), edges=((S.SOLUTION_PROPOSED, S.ASSIGNED),)),
    Step("send_customer_message", "sendCustomerMessage", "complaint.send_message", OPEN, (S.AWAITING_CUSTOMER,),
         "SendCustomerMessageInput", (E.CUSTOMER_TOLD,), guard=_approved_to_send,
         label=N_("Send the approved answer to the customer"),
         edges=((S.APPROVED, S.AWAITING_CUSTOMER),)),
    Step("record_customer_opinion", "recordCustomerOpinion", "complaint.record_opinion",
         frozenset({S.APPROVED, S.AWAITING_CUSTOMER, S.UNFOUNDED}), (S.IMPLEMENTING, S.ASSIGNED, S.CLOSED,
                                                                    S.REOPENED),
         "RecordCustomerOpinionInput", guard=_customer_can_answer, label=N_("Record the customer's opinion"),
         edges=((S.APPROVED, S.IMPLEMENTING), (S.APPROVED, S.ASSIGNED), (S.AWAITING_CUSTOMER, S.IMPLEMENTING),
                (S.AWAITING_CUSTOMER, S.ASSIGNED), (S.UNFOUNDED, S.CLOSED), (S.UNFOUNDED, S.REOPENED))),
    Step("complete_implementation", "completeImplementation", "complaint.complete_implementation",
         frozenset({S.IMPLEMENTING}), (S.FOLLOW_UP,), "CompleteImplementationInput", (E.IMPLEMENTED,),
         label=N_("Complete the implementation")),
    Step("record_follow_up", "recordFollowUp", "complaint.record_follow_up", frozenset({S.FOLLOW_UP}),
         (S.CLOSED, S.REOPENED), "RecordFollowUpInput", (E.FOLLOWED_UP,), label=N_("Record the follow-up visit")),
    Step("request_review", "requestReview", "complaint.request_review", DECIDED, (S.UNDER_REVIEW,),
         "RequestReviewInput", (E.REVIEW_REQUESTED,), guard=_review_window, label=N_("Record a review request")),
    Step("assign_reviewer", "assignReviewer", "complaint.assign_reviewer", frozenset({S.UNDER_REVIEW}), (),
         "AssignReviewerInput", guard=_review_unassigned_or_open, label=N_("Assign the reviewer")),
    Step("answer_review", "answerReview", "complaint.answer_review", frozenset({S.UNDER_REVIEW}),
         (S.CLOSED, S.REOPENED), "AnswerReviewInput", (E.REVIEW_ANSWERED,), guard=_review_assigned,
         person=_the_independent_reviewer, label=N_("Answer the review"),
         edges=((S.UNDER_REVIEW, S.CLOSED), (S.UNDER_REVIEW, S.REOPENED))),
    Step("reopen_complaint", "reopenComplaint", "complaint.reopen", frozenset({S.UNFOUNDED, S.CLOSED, S.ESCALATED}),
         (S.REOPENED,), "ReasonInput", label=N_("Reopen")),
    Step("withdraw_complaint", "withdrawComplaint", "complaint.withdraw", OPEN, (S.WITHDRAWN,),
         "WithdrawComplaintInput", label=N_("Withdraw")),
    Step("refer_complaint", "referComplaint", "complaint.route", OPEN, (S.REFERRED,), "ReferComplaintInput",
         label=N_("Refer to the competent authority")),
    Step("route_complaint", "routeComplaint", "complaint.route", OPEN, (), "RouteComplaintInput",
         label=N_("Route to another authority")),
    Step("escalate_complaint", "escalateComplaint", "complaint.escalate",
         frozenset({S.UNFOUNDED, S.CLOSED, S.REOPENED, S.ESCALATED, S.UNDER_REVIEW}), (S.ESCALATED,),
         "EscalateComplaintInput",
         label=N_("Escalate to an external body")),
    Step("attach_evidence", "attachEvidence", "complaint.attach_evidence", OPEN, (), "AttachEvidenceInput",
         label=N_("Attach evidence")),
    Step("mark_litigation", "markLitigation", "complaint.mark_litigation", ALL - TERMINAL, (),
         "MarkLitigationInput", label=N_("Mark litigation")),
    Step("classify_complaint", "classifyComplaint", "complaint.classify", ALL - TERMINAL, (),
         "ClassifyComplaintInput", label=N_("Classify (business type, cause, channel, area)")),
    Step("transfer_ownership", "transferOwnership", "complaint.transfer_ownership", OPEN, (),
         "TransferOwnershipInput", label=N_("Transfer ownership")),
    Step("extend_deadline", "extendDeadline", "complaint.extend_deadline", OPEN, (), "ExtendDeadlineInput",
         label=N_("Extend a deadline")),
    Step("request_deadline_extension", "requestDeadlineExtension", "complaint.extend_deadline", OPEN, (),
         "RequestDeadlineExtensionInput", label=N_("Ask for a deadline extension that needs approval")),
    Step("approve_deadline_extension", "approveDeadlineExtension", "complaint.approve_deadline_extension", OPEN,
         (), "ApproveDeadlineExtensionInput", guard=_extension_pending, person=_not_the_requester,
         label=N_("Approve the deadline extension")),
    Step("reject_deadline_extension", "rejectDeadlineExtension", "complaint.approve_deadline_extension", OPEN,
         (), "RejectDeadlineExtensionInput", guard=_extension_pending, person=_not_the_requester,
         label=N_("Reject the deadline extension")),
    Step("start_external_appraisal", "startExternalAppraisal", "complaint.extend_deadline", OPEN, (),
         "StartExternalAppraisalInput", guard=_not_on_appraisal, label=N_("Start an external appraisal")),
    Step("end_external_appraisal", "endExternalAppraisal", "complaint.extend_deadline", OPEN, (),
         "EndExternalAppraisalInput", guard=_on_appraisal, label=N_("End the external appraisal")),
    Step("propose_responsibility", "proposeResponsibility", "complaint.propose_responsibility", ATTRIBUTABLE, (),
         "ProposeResponsibilityInput", guard=_found_valid, label=N_("Propose the responsible unit")),
    Step("decide_responsibility", "decideResponsibility", "complaint.decide_responsibility", ATTRIBUTABLE, (),
         "DecideResponsibilityInput", guard=_responsibility_pending, person=_not_the_attributor,
         label=N_("Decide the responsibility")),
    Step("confirm_repeat", "confirmRepeat", "complaint.confirm_repeat", ALL, (), "ConfirmRepeatInput",
         guard=_repeat_proposed, label=N_("Confirm or dismiss a repeat complaint")),
    Step("mark_attention", "markComplaintAttention", "complaint.flag_major", ALL - TERMINAL, (),
         "MarkComplaintAttentionInput", label=N_("Mark a group complaint or media attention")),
    Step("review_complaint", "reviewComplaint", "complaint.review", ALL, (), "ReviewComplaintInput",
         person=not_a_handler, label=N_("Record an independent review")),
)

STEPS: dict[str, Step] = {s.name: s for s in _STEPS}
"""Every step by name."""


def step(name: str) -> Step:
    return STEPS[name]


STATUS_ZH = {
    S.RECEIVED: "已受理", S.INVESTIGATING: "调查中", S.UNFOUNDED: "投诉未查实", S.ASSIGNED: "责任部门处理中",
    S.SOLUTION_PROPOSED: "已提出解决方案", S.APPROVED: "解决方案已批准", S.AWAITING_CUSTOMER: "等待客户答复",
    S.IMPLEMENTING: "实施中", S.FOLLOW_UP: "回访", S.CLOSED: "已结案", S.REOPENED: "已重新处理",
    S.ESCALATED: "已上报外部机构", S.WITHDRAWN: "已撤回", S.UNDER_REVIEW: "复核中", S.REFERRED: "已转交其他机构",
}
"""A status as a refusal names it to a zh-CN reader (the English names the code itself)."""


def status_text(status: str) -> Both:
    """A status put into a refusal: its code for an en reader, its label for a zh-CN reader."""
    return Both(status, STATUS_ZH.get(ComplaintStatus(status), ""))


def verb(name: str) -> str:
    return name.replace("_", " ")


def refusal(name: str, facts: Facts, user_id: uuid.UUID | None) -> Refusal | None:
    """Why the step cannot happen now (status, then the case's condition, then four eyes), or None."""
    s = STEPS[name]
    if facts.status not in s.sources:
        return _illegal(msg("cannot {action}: the complaint is {status}", action=Both(verb(name), s.label_zh),
                            status=status_text(facts.status)))
    if s.guard is not None and (found := s.guard(facts)) is not None:
        return found
    if s.person is not None and user_id is not None and (found := s.person(facts, user_id)) is not None:
        return found
    return None


def require(name: str, facts: Facts, user_id: uuid.UUID | None = None) -> None:
    """Refuse (a ``DomainError``) unless the step can happen now."""
    found = refusal(name, facts, user_id)
    if found is not None:
        raise DomainError(found.code, found.message, list(found.field) if found.field else None)


def person_refusal(permission: str, facts: Facts, user_id: uuid.UUID) -> Refusal | None:
    """Four eyes for a permission (what ``canI`` adds to Casbin's answer): the first step with that permission
    possible in the current status whose person rule refuses this user."""
    for s in _STEPS:
        if s.permission != permission or s.person is None or facts.status not in s.sources:
            continue
        if (s.guard is None or s.guard(facts) is None) and (found := s.person(facts, user_id)) is not None:
            return found
    return None


def possible(facts: Facts) -> list[Step]:
    """The steps the case's state allows now (status and condition; not yet who may)."""
    return [s for s in _STEPS if s.name != "record_complaint" and facts.status in s.sources
            and (s.guard is None or s.guard(facts) is None)]


def events_of_step(name: str) -> tuple[Event, ...]:
    s = STEPS.get(name)
    return s.events if s is not None else ()


def mermaid(steps: Iterable[Step] = _STEPS) -> str:
    """The state diagram (Mermaid ``stateDiagram-v2``) of the status-changing steps."""
    lines = ["stateDiagram-v2", '    state "any open status" as ANY_OPEN', "    [*] --> RECEIVED: recordComplaint"]
    for s in steps:
        if s.name == "record_complaint":
            continue
        if s.sources == OPEN and not s.edges:  # withdraw, refer: from every open status
            lines.extend(f"    ANY_OPEN --> {b}: {s.mutation}" for b in s.targets)
        else:
            lines.extend(f"    {a} --> {b}: {s.mutation}" for a, b in s.moves())
    for end in (S.CLOSED, S.WITHDRAWN, S.REFERRED):
        lines.append(f"    {end} --> [*]")
    return "\n".join(lines) + "\n"


def _sources(s: Step) -> str:
    if not s.sources:
        return "(new)"
    if s.sources == ALL:
        return "any"
    if s.sources == OPEN:
        return "any open"
    if s.sources == ALL - TERMINAL:
        return "any but WITHDRAWN, REFERRED"
    return ", ".join(sorted(s.sources))


def markdown_table() -> str:
    rows = ["| step | mutation | permission | from | to | deadline events | also needs |",
            "|---|---|---|---|---|---|---|"]
    for s in _STEPS:
        targets = ", ".join(s.targets) if s.targets else "(unchanged)"
        needs = "; ".join(x for x in (s.guard.__name__.strip("_").replace("_", " ") if s.guard else "",
                                      f"four eyes ({s.person.__name__.strip('_').replace('_', ' ')})"
                                      if s.person else "") if x)
        rows.append(f"| {s.label} ({s.label_zh}) | `{s.mutation}` | `{s.permission}` | {_sources(s)} | {targets} "
                    f"| {', '.join(s.events)} | {needs} |")
    return "\n".join(rows) + "\n"


def document() -> str:
    """``docs/lifecycle.md``: the diagram and the table (``complaintdesk lifecycle-doc`` writes it; a test checks
    it is current)."""
    return (
        "# The complaint lifecycle\n\n"
        "Generated from `services/core/complaints/lifecycle.py` by `complaintdesk lifecycle-doc`; do not edit.\n"
        "Every step checks this table before it changes anything: a step not allowed from the current status, or "
        "whose condition does not hold, is refused with `ILLEGAL_TRANSITION` (`APPROVAL_REQUIRED` for a message "
        "before the written approval), a four-eyes rule with `SEPARATION_OF_DUTIES`, and nothing changes. "
        "`Complaint.availableActions` is this table, the case's state and `canI` together.\n\n"
        "```mermaid\n" + mermaid() + "```\n\n## Steps\n\n" + markdown_table()
    )
