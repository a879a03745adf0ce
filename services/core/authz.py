"""Authorization: one ``authorize(subject, action, resource)`` asking a per-tenant Casbin enforcer.

The model (``policies/model.conf``) is RBAC with domains, the tenant being the domain,
plus relations: a policy line grants a role an action on the resources that stand in a
relation to the user (``owner``, ``handler``, ``responsible_department``, ...). The
relations come from the database, never from the client's input, and are computed here.

Each tenant has its own ``FastEnforcer``, built from the tenant's policy rules and its
users' roles, cached per process and keyed by the tenant's policy version: every change
of rules or roles bumps the version in the same transaction, so every API and worker
process rebuilds on its next decision. A built enforcer is never changed, only replaced.

Lists are filtered by the same rules: the relations a user is granted for
``complaint.read`` become a SQL predicate, so a page holds only what the user may see.
"""

from __future__ import annotations

import csv
import enum
import io
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import casbin
from casbin.model.model_fast import FastModel
from casbin.model.policy_fast import fast_policy_filter, in_cache
from sqlalchemy import ColumnElement, and_, delete, exists, false, func, not_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core.audit.models import AuditEvent
from services.core.audit.service import Actor, record_event
from services.core.auth.models import PolicyRule, PolicyState, PolicyVersion
from services.core.complaints.lifecycle import HANDLING_ACTIONS
from services.core.complaints.models import Complaint, HandlingForm, HandlingFormStatus, Investigation
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, Msg, msg
from services.core.org.models import OrgUnit, Role, User
from services.core.validation import phone_key


class Action(enum.StrEnum):
    ORG_READ = "org.read"
    ORG_MANAGE = "org.manage"
    POLICY_READ = "policy.read"
    POLICY_WRITE = "policy.write"
    AUDIT_VERIFY = "audit.verify"
    DIAGNOSTICS_RUN = "diagnostics.run"
    DEADLINE_CONFIGURE = "deadline.configure"
    COMPLAINT_RECORD = "complaint.record"
    COMPLAINT_READ = "complaint.read"
    COMPLAINT_READ_IDENTITY = "complaint.read_identity"
    RESOLVE_ON_THE_SPOT = "complaint.resolve_on_the_spot"
    START_INVESTIGATION = "complaint.start_investigation"
    SUBMIT_INVESTIGATION = "complaint.submit_investigation"
    ATTACH_EVIDENCE = "complaint.attach_evidence"
    ASSIGN_DEPARTMENT = "complaint.assign_department"
    PROPOSE_SOLUTION = "complaint.propose_solution"
    APPROVE = "complaint.approve"
    REJECT = "complaint.reject"
    SEND_MESSAGE = "complaint.send_message"
    RECORD_OPINION = "complaint.record_opinion"
    COMPLETE_IMPLEMENTATION = "complaint.complete_implementation"
    RECORD_FOLLOW_UP = "complaint.record_follow_up"
    REOPEN = "complaint.reopen"
    WITHDRAW = "complaint.withdraw"
    MARK_LITIGATION = "complaint.mark_litigation"
    TRANSFER_OWNERSHIP = "complaint.transfer_ownership"
    REVIEW = "complaint.review"
    ERASE_COMPLAINANT = "complaint.erase_complainant"
    EXTEND_DEADLINE = "complaint.extend_deadline"
    APPROVE_DEADLINE_EXTENSION = "complaint.approve_deadline_extension"
    REQUEST_REVIEW = "complaint.request_review"
    ASSIGN_REVIEWER = "complaint.assign_reviewer"
    ANSWER_REVIEW = "complaint.answer_review"
    ESCALATE = "complaint.escalate"
    ROUTE = "complaint.route"
    EXTERNAL_BODY_READ = "external_body.read"
    EXTERNAL_BODY_MANAGE = "external_body.manage"
    STATISTICS_READ = "statistics.read"
    CLASSIFICATION_MANAGE = "classification.manage"
    CLASSIFY = "complaint.classify"
    REPORT_READ = "report.read"
    REPORT_GENERATE = "report.generate"
    DATA_EXPORT = "data.export"
    DATA_IMPORT = "data.import"
    PROPOSE_RESPONSIBILITY = "complaint.propose_responsibility"
    DECIDE_RESPONSIBILITY = "complaint.decide_responsibility"
    PENALTY_READ = "penalty.read"
    PENALTY_PROPOSE = "penalty.propose"
    PENALTY_DECIDE = "penalty.decide"
    REVIEW_PLAN_MANAGE = "review_plan.manage"
    REVIEW_PLAN_READ = "review_plan.read"
    REVIEW_PLAN_RECORD = "review_plan.record_finding"
    CONFIRM_REPEAT = "complaint.confirm_repeat"
    FLAG_MAJOR = "complaint.flag_major"
    APPROVE_MAJOR_REPORT = "complaint.approve_major_report"
    OPINION_BOOK_RECORD = "opinion_book.record"
    OPINION_BOOK_READ = "opinion_book.read"
    ACCOUNTABILITY_CONFIGURE = "accountability.configure"
    UPDATE_CONTACT = "complaint.update_contact"
    MANAGE_MESSAGE_TEMPLATES = "message_template.manage"
    PROCEDURE_MANAGE = "procedure.manage"


ACTION_NAMES: dict[Action, str] = {
    Action.ORG_READ: N_("read the organisation"),
    Action.ORG_MANAGE: N_("manage the organisation and its users"),
    Action.POLICY_READ: N_("read the policies"),
    Action.POLICY_WRITE: N_("change the policies"),
    Action.AUDIT_VERIFY: N_("verify the audit trail"),
    Action.DIAGNOSTICS_RUN: N_("run diagnostics"),
    Action.DEADLINE_CONFIGURE: N_("configure deadlines and calendars"),
    Action.COMPLAINT_RECORD: N_("record complaints"),
    Action.COMPLAINT_READ: N_("read this complaint"),
    Action.COMPLAINT_READ_IDENTITY: N_("see the complainant's identity"),
    Action.RESOLVE_ON_THE_SPOT: N_("resolve this complaint on the spot"),
    Action.START_INVESTIGATION: N_("start the investigation"),
    Action.SUBMIT_INVESTIGATION: N_("submit the investigation"),
    Action.ATTACH_EVIDENCE: N_("attach evidence"),
    Action.ASSIGN_DEPARTMENT: N_("assign the responsible department"),
    Action.PROPOSE_SOLUTION: N_("propose a solution"),
    Action.APPROVE: N_("approve the handling form"),
    Action.REJECT: N_("reject the handling form"),
    Action.SEND_MESSAGE: N_("send messages to the customer"),
    Action.RECORD_OPINION: N_("record the customer's opinion"),
    Action.COMPLETE_IMPLEMENTATION: N_("complete the implementation"),
    Action.RECORD_FOLLOW_UP: N_("record the follow-up"),
    Action.REOPEN: N_("reopen this complaint"),
    Action.WITHDRAW: N_("withdraw this complaint"),
    Action.MARK_LITIGATION: N_("mark litigation"),
    Action.TRANSFER_OWNERSHIP: N_("transfer the ownership"),
    Action.REVIEW: N_("review"),
    Action.ERASE_COMPLAINANT: N_("erase the complainant's personal data"),
    Action.EXTEND_DEADLINE: N_("extend deadlines"),
    Action.APPROVE_DEADLINE_EXTENSION: N_("approve deadline extensions"),
    Action.REQUEST_REVIEW: N_("request a review"),
    Action.ASSIGN_REVIEWER: N_("assign a reviewer"),
    Action.ANSWER_REVIEW: N_("answer the review"),
    Action.ESCALATE: N_("escalate this complaint"),
    Action.ROUTE: N_("route this complaint"),
    Action.EXTERNAL_BODY_READ: N_("read the external bodies"),
    Action.EXTERNAL_BODY_MANAGE: N_("manage the external bodies"),
    Action.STATISTICS_READ: N_("read the statistics"),
    Action.CLASSIFICATION_MANAGE: N_("manage the classification"),
    Action.CLASSIFY: N_("classify this complaint"),
    Action.REPORT_READ: N_("read the reports"),
    Action.REPORT_GENERATE: N_("generate reports"),
    Action.DATA_EXPORT: N_("export data"),
    Action.DATA_IMPORT: N_("import data"),
    Action.PROPOSE_RESPONSIBILITY: N_("propose the responsibility"),
    Action.DECIDE_RESPONSIBILITY: N_("decide the responsibility"),
    Action.PENALTY_READ: N_("read the penalties"),
    Action.PENALTY_PROPOSE: N_("propose penalties"),
    Action.PENALTY_DECIDE: N_("decide penalties"),
    Action.REVIEW_PLAN_MANAGE: N_("manage the review plans"),
    Action.REVIEW_PLAN_READ: N_("read the review plans"),
    Action.REVIEW_PLAN_RECORD: N_("record review findings"),
    Action.CONFIRM_REPEAT: N_("confirm a repeat complaint"),
    Action.FLAG_MAJOR: N_("flag a major complaint"),
    Action.APPROVE_MAJOR_REPORT: N_("approve the major complaint report"),
    Action.OPINION_BOOK_RECORD: N_("record in the opinion book"),
    Action.OPINION_BOOK_READ: N_("read the opinion book"),
    Action.ACCOUNTABILITY_CONFIGURE: N_("configure accountability"),
    Action.UPDATE_CONTACT: N_("update the customer's contact"),
    Action.MANAGE_MESSAGE_TEMPLATES: N_("manage the message templates"),
    Action.PROCEDURE_MANAGE: N_("manage the complaint procedure"),
}
"""What each action is called in a refusal ("you may not {verb}") and in ``canI``'s reason, in the catalogs."""


class Relation(enum.StrEnum):
    ANY = "any"
    OWNER = "owner"
    HANDLER = "handler"
    HANDLING_DEPARTMENT = "handling_department"
    RESPONSIBLE_DEPARTMENT = "responsible_department"
    STORE = "store"
    APPROVED = "approved"



EFFECTS = ("allow", "deny")
_TERM = re.compile(r"^!?[a-z_]+$")
CACHE_KEY_ORDER = (0, 1, 2)
MODEL_TEXT = resources.files("policies").joinpath("model.conf").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks: a user of one tenant (roles and unit are looked up, not taken from the token)."""

    user_id: uuid.UUID
    tenant: str


@dataclass(frozen=True, slots=True)
class Resource:
    """What the request is about, reduced to the relations the user has to it."""

    relations: frozenset[str]
    complaint_id: uuid.UUID | None = None


NO_RESOURCE = Resource(relations=frozenset({Relation.ANY.value}))


@dataclass(frozen=True, slots=True)
class Rule:
    role: str
    action: str
    relation: str
    effect: str

    def as_line(self, tenant: str) -> list[str]:
        return [self.role, tenant, self.action, self.relation, self.effect]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: Rule | None
    reason: str


# ------------------------------------------------------------------ relation expressions


def relation_holds(resource: Resource, expression: str) -> bool:
    """``any``, or relation names joined by ``&``, each optionally negated with ``!``."""
    for term in expression.split("&"):
        negate = term.startswith("!")
        name = term[1:] if negate else term
        held = name == Relation.ANY or name in resource.relations
        if held == negate:
            return False
    return True


def check_relation(expression: str) -> str | None:
    """Why the expression is not valid, or None."""
    terms = expression.split("&")
    known = {r.value for r in Relation}
    for term in terms:
        if not _TERM.fullmatch(term):
            return f"relation term {term!r} is malformed"
        if term.lstrip("!") not in known:
            return f"unknown relation {term.lstrip('!')!r} (known: {', '.join(sorted(known))})"
    return None


# ------------------------------------------------------------------ rules


def parse_rules(text: str) -> list[Rule]:
    """Rules from CSV text (``role, action, relation, effect``; '#' starts a comment)."""
    rules = []
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if not row or row[0].strip().startswith("#"):
            continue
        role, action, relation, effect = (c.strip() for c in row)
        rules.append(Rule(role, action, relation, effect))
    return rules


def default_rules(template: str) -> list[Rule]:
    return parse_rules(resources.files("policies").joinpath(f"{template}.csv").read_text(encoding="utf-8"))


def validate_rules(rules: Sequence[Rule], roles: Iterable[str]) -> list[tuple[int, str, str]]:
    """(index, field, reason) for every rule that cannot be enforced."""
    known_roles = set(roles)
    actions = {a.value for a in Action}
    problems: list[tuple[int, str, str]] = []
    for i, rule in enumerate(rules):
        if rule.role not in known_roles:
            problems.append((i, "role", f"unknown role {rule.role!r}"))
        if rule.action not in actions:
            problems.append((i, "action", f"unknown action {rule.action!r}"))
        reason = check_relation(rule.relation)
        if reason is not None:
            problems.append((i, "relation", reason))
        if rule.effect not in EFFECTS:
            problems.append((i, "effect", f"effect must be allow or deny, not {rule.effect!r}"))
    if len({(r.role, r.action, r.relation, r.effect) for r in rules}) != len(rules):
        problems.append((len(rules), "rules", "a rule appears twice"))
    return problems


# ------------------------------------------------------------------ enforcers


def _relation_function(resource: Any, expression: str) -> bool:
    return isinstance(resource, Resource) and relation_holds(resource, expression)


class _Enforcer(casbin.FastEnforcer):  # type: ignore[misc]
    """pycasbin parses the matcher into a fresh evaluator on every decision; parse it once.

    Safe because an enforcer here is never changed once built, its functions are fixed, and
    every decision holds the enforcer's lock.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._expressions: dict[str, Any] = {}
        super().__init__(*args, **kwargs)

    def _get_expression(self, expr: str, functions: Any = None) -> Any:
        expression = self._expressions.get(expr)
        if expression is None:
            expression = casbin.FastEnforcer._get_expression(expr, functions)
            self._expressions[expr] = expression
        return expression


def build_enforcer(tenant: str, rules: Sequence[Rule], grants: Iterable[tuple[str, str]]) -> casbin.FastEnforcer:
    """A fresh enforcer for one tenant: its rules, and (user, role) grants."""
    # (role, dom, act) index the lines, so a decision runs the matcher on that role's lines for that
    # action only: positions 0-2, in the request and in the policy alike
    model = FastModel(CACHE_KEY_ORDER)
    model.load_model_from_text(MODEL_TEXT)
    enforcer = _Enforcer(model, cache_key_order=CACHE_KEY_ORDER)
    enforcer.add_function("relation", _relation_function)
    enforcer.enable_auto_save(False)
    policy = model.model["p"]["p"].policy
    for rule in rules:  # straight into the index: add_policies re-checks every line (quadratic)
        policy.append(rule.as_line(tenant))
    lines = [[user, role, tenant] for user, role in grants]
    if lines:
        enforcer.add_named_grouping_policies("g", lines)
    return enforcer


@dataclass
class _Cached:
    version: int
    enforcer: casbin.FastEnforcer
    lock: threading.Lock


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


async def policy_version(session: AsyncSession) -> int:
    return int(await session.scalar(select(PolicyState.version).where(PolicyState.id == 1)) or 0)


async def bump_policy_version(session: AsyncSession) -> None:
    """Rules or roles changed: every process rebuilds this tenant's enforcer on its next decision."""
    await session.execute(
        update(PolicyState).where(PolicyState.id == 1).values(version=PolicyState.version + 1, updated_at=func.now())
    )


async def load_rules(session: AsyncSession) -> list[Rule]:
    rows = (await session.scalars(select(PolicyRule).where(PolicyRule.ptype == "p").order_by(PolicyRule.id))).all()
    return [Rule(r.v0, r.v2, r.v3, r.v4) for r in rows]


async def _enforcer(session: AsyncSession, tenant: str, version: int | None = None) -> _Cached:
    """The tenant's enforcer at the current policy version (``version`` if the caller read it already)."""
    if version is None:
        version = await policy_version(session)
    cached = _cache.get(tenant)
    if cached is not None and cached.version == version:
        return cached
    rules = await load_rules(session)
    users = (await session.execute(select(User.id, User.roles).where(User.active.is_(True)))).all()
    grants = [(str(uid), role) for uid, roles in users for role in roles]
    fresh = _Cached(version, build_enforcer(tenant, rules, grants), threading.Lock())
    with _cache_lock:
        current = _cache.get(tenant)
        if current is None or current.version <= version:
            _cache[tenant] = fresh
    return fresh


def _decide(cached: _Cached, subject: Subject, action: str, resource: Resource) -> Decision:
    """Ask once per role the user holds in the tenant; a deny in any role wins over every allow."""
    enforcer = cached.enforcer
    allowed_by: Rule | None = None
    with cached.lock:  # the filter below changes the policy index in place while it decides
        roles = enforcer.get_implicit_roles_for_user(str(subject.user_id), subject.tenant)
        for role in roles:
            with fast_policy_filter(enforcer.model.model["p"]["p"].policy, role, subject.tenant, action):
                allowed, explain = enforcer.enforce_ex(role, subject.tenant, action, resource)
            rule = Rule(explain[0], explain[2], explain[3], explain[4]) if explain else None
            if rule is not None and rule.effect == "deny":
                return Decision(False, rule, DENIED_BY_A_RULE)
            if allowed and allowed_by is None:
                allowed_by = rule
    if allowed_by is not None:
        return Decision(True, allowed_by, ALLOWED)
    return Decision(False, None, NO_RULE_ALLOWS_IT)


ALLOWED = N_("allowed")
DENIED_BY_A_RULE = N_("denied by a rule")
NO_RULE_ALLOWS_IT = N_("no rule allows it")


# ------------------------------------------------------------------ relations from the database


def _handler_clause(complaint_id: Any, user_id: uuid.UUID) -> ColumnElement[bool]:
    return or_(
        Complaint.owner_id == user_id,
        exists().where(Investigation.complaint_id == complaint_id, Investigation.investigator_id == user_id),
        exists().where(AuditEvent.subject_id == complaint_id, AuditEvent.actor_id == user_id,
                       AuditEvent.action.in_(HANDLING_ACTIONS)),
    )


def _handling_department_clause(complaint_id: Any, unit_id: uuid.UUID | None) -> ColumnElement[bool]:
    if unit_id is None:
        return false()
    handlers = select(User.id).where(User.org_unit_id == unit_id)
    return or_(
        Complaint.responsible_department_id == unit_id,
        Complaint.store_id == unit_id,
        Complaint.owner_id.in_(handlers),
        exists().where(Investigation.complaint_id == complaint_id, Investigation.investigator_id.in_(handlers)),
        exists().where(AuditEvent.subject_id == complaint_id, AuditEvent.actor_id.in_(handlers),
                       AuditEvent.action.in_(HANDLING_ACTIONS)),
    )


def _store_clause(unit_id: uuid.UUID | None) -> ColumnElement[bool]:
    if unit_id is None:
        return false()
    return or_(Complaint.store_id == unit_id,
               Complaint.store_id.in_(select(OrgUnit.id).where(OrgUnit.parent_id == unit_id)))


# Made once: an alias built per call is ~100 objects in reference cycles (its columns, their foreign keys) left to
# the garbage collector by every request that asks for the relation.
_FORM, _NEWER_FORM = aliased(HandlingForm, name="approved_form"), aliased(HandlingForm, name="newer_form")


def _approved_clause(complaint_id: Any) -> ColumnElement[bool]:
    """The complaint's current (newest) handling form is approved."""
    form, newer = _FORM, _NEWER_FORM
    return exists().where(
        form.complaint_id == complaint_id,
        form.status == HandlingFormStatus.APPROVED.value,
        ~exists().where(newer.complaint_id == form.complaint_id, newer.version > form.version),
    )


def relation_clause(name: str, user_id: uuid.UUID, unit_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The SQL condition on ``complaints`` under which the user stands in relation ``name``."""
    if name == Relation.ANY:
        return true()
    if name == Relation.OWNER:
        return Complaint.owner_id == user_id
    if name == Relation.HANDLER:
        return _handler_clause(Complaint.id, user_id)
    if name == Relation.HANDLING_DEPARTMENT:
        return _handling_department_clause(Complaint.id, unit_id)
    if name == Relation.RESPONSIBLE_DEPARTMENT:
        return Complaint.responsible_department_id == unit_id if unit_id is not None else false()
    if name == Relation.STORE:
        return _store_clause(unit_id)
    if name == Relation.APPROVED:
        return _approved_clause(Complaint.id)
    return false()


def expression_clause(expression: str, user_id: uuid.UUID, unit_id: uuid.UUID | None) -> ColumnElement[bool]:
    parts = []
    for term in expression.split("&"):
        clause = relation_clause(term.lstrip("!"), user_id, unit_id)
        parts.append(not_(clause) if term.startswith("!") else clause)
    return and_(*parts)


async def _unit_of(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(User.org_unit_id).where(User.id == user_id))


async def complaint_resource(session: AsyncSession, subject: Subject, complaint_id: uuid.UUID) -> Resource | None:
    """The user's relations to one complaint (one statement), or None if there is no such complaint."""
    unit = await _unit_of(session, subject.user_id)
    names = [r for r in Relation if r != Relation.ANY]
    columns = [relation_clause(r.value, subject.user_id, unit).label(r.value) for r in names]
    row = (await session.execute(select(*columns).where(Complaint.id == complaint_id))).first()
    if row is None:
        return None
    held = {r.value for r, value in zip(names, row, strict=True) if value}
    return Resource(relations=frozenset(held | {Relation.ANY.value}), complaint_id=complaint_id)


# ------------------------------------------------------------------ the one entry point


async def authorize(
    session: AsyncSession, subject: Subject, action: Action | str, resource: Resource = NO_RESOURCE
) -> Decision:
    cached = await _enforcer(session, subject.tenant)
    return _decide(cached, subject, str(action), resource)


async def decide_on_complaint(
    session: AsyncSession, subject: Subject, action: Action | str, complaint_id: uuid.UUID | None = None
) -> Decision | None:
    """The decision on ``action`` (for one complaint, if given), or None when the complaint does not exist
    or the subject may not even read it: "not found" and "forbidden" look the same."""
    cached = await _enforcer(session, subject.tenant)
    resource = NO_RESOURCE
    if complaint_id is not None:
        found = await complaint_resource(session, subject, complaint_id)
        if found is None or not _decide(cached, subject, Action.COMPLAINT_READ.value, found).allowed:
            return None
        resource = found
    return _decide(cached, subject, str(action), resource)


async def decisions_on_complaint(
    session: AsyncSession, subject: Subject, actions: Iterable[str], complaint_id: uuid.UUID
) -> dict[str, Decision] | None:
    """``decide_on_complaint`` for several actions at once (the relations computed once); None as there."""
    cached = await _enforcer(session, subject.tenant)
    found = await complaint_resource(session, subject, complaint_id)
    if found is None or not _decide(cached, subject, Action.COMPLAINT_READ.value, found).allowed:
        return None
    return {a: _decide(cached, subject, a, found) for a in set(actions)}


async def require(
    session: AsyncSession, subject: Subject, action: Action, complaint_id: uuid.UUID | None = None
) -> None:
    """Authorize or refuse with a DomainError: NOT_FOUND for an unreadable complaint, else NOT_ALLOWED."""
    decision = await decide_on_complaint(session, subject, action, complaint_id)
    if decision is None:
        raise DomainError(ErrorCode.NOT_FOUND, "complaint not found", ["complaintId"])
    if decision.allowed:
        return
    raise DomainError(ErrorCode.NOT_ALLOWED, await refusal(session, subject, action, decision))


def action_name(action: str) -> Msg:
    """The action as a refusal names it, translated where it is read (``ACTION_NAMES``; an action the table does
    not know, only in a policy, by its own name)."""
    try:
        return msg(ACTION_NAMES[Action(action)])
    except (KeyError, ValueError):
        return msg("do {action}", action=action)


async def refusal(session: AsyncSession, subject: Subject, action: str, decision: Decision) -> Msg:
    """Why ``decision`` refuses ``action``: ``you may not <the action's name>`` and the rule that denies it, or the
    conditions under which the subject's roles would allow it (the same words for ``require`` and ``canI``)."""
    verb = action_name(action)
    if decision.rule is not None:
        return msg("you may not {verb}: a rule denies it where {relation}", verb=verb,
                   relation=decision.rule.relation)
    cached = await _enforcer(session, subject.tenant)
    conditions = sorted({p[3] for p in _lines_for(cached, subject, str(action)) if p[4] == "allow"})
    if conditions:
        return msg("you may not {verb} (allowed only where {conditions})", verb=verb,
                   conditions=" | ".join(conditions))
    return msg("you may not {verb}", verb=verb)


def _lines_for(cached: _Cached, subject: Subject, action: str) -> list[Sequence[str]]:
    """The policy lines of the subject's roles for ``action``, straight from the enforcer's index."""
    enforcer = cached.enforcer
    policy = enforcer.model.model["p"]["p"].policy
    with cached.lock:
        roles = enforcer.get_implicit_roles_for_user(str(subject.user_id), subject.tenant)
        return [line for role in roles for line in in_cache(policy._cache, [role, subject.tenant, action]) or ()]


def _grant_clause(cached: _Cached, subject: Subject, unit: uuid.UUID | None, action: Action) -> ColumnElement[bool]:
    lines = _lines_for(cached, subject, action.value)
    allows = [expression_clause(p[3], subject.user_id, unit) for p in lines if p[4] == "allow"]
    denies = [expression_clause(p[3], subject.user_id, unit) for p in lines if p[4] == "deny"]
    if not allows:
        return false()
    clause = or_(*allows)
    return and_(clause, not_(or_(*denies))) if denies else clause


@dataclass(frozen=True)
class ComplaintAccess:
    """What a user may see of complaints, as SQL: which rows, and on which the complainant is unmasked.

    ``statements`` keeps statements built on these two clauses (``complaints.queries`` puts a list page's
    SELECT there): they live exactly as long as the clauses they were built from.
    """

    read: ColumnElement[bool]
    identity: ColumnElement[bool]
    statements: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


UNRESTRICTED = ComplaintAccess(read=true(), identity=true())


_UNREAD = object()
# (tenant, policy version, user, unit) -> filters. Exact, not a time-bound cache: the filters are a function of
# the enforcer at that version (rules and roles; every change bumps the version) and of the user's unit, all
# in the key; an entry of an old version is simply never asked for again and ages out of the LRU.
ACCESS_CACHE_SIZE = 512  # an entry with its kept statements is some 40-150 KB
_access_cache: OrderedDict[tuple[str, int, uuid.UUID, uuid.UUID | None], ComplaintAccess] = OrderedDict()


async def complaint_access(
    session: AsyncSession, subject: Subject, *, version: int | None = None, unit: Any = _UNREAD
) -> ComplaintAccess:
    """The subject's complaint filters at the current policy version. ``version`` and ``unit`` (the user's org
    unit) may come from the caller when it read them in this transaction already (``auth.service.active_user``);
    otherwise both are read here in one round trip."""
    if version is None or unit is _UNREAD:
        row = (await session.execute(select(
            select(PolicyState.version).where(PolicyState.id == 1).scalar_subquery(),
            select(User.org_unit_id).where(User.id == subject.user_id).scalar_subquery(),
        ))).one()
        version, unit = int(row[0] or 0), row[1]
    key = (subject.tenant, version, subject.user_id, unit)
    with _cache_lock:  # the worker's threads share it
        access = _access_cache.get(key)
        if access is not None:
            _access_cache.move_to_end(key)
            return access
    cached = await _enforcer(session, subject.tenant, version)  # the enforcer of exactly this version
    access = ComplaintAccess(
        read=_grant_clause(cached, subject, unit, Action.COMPLAINT_READ),
        identity=_grant_clause(cached, subject, unit, Action.COMPLAINT_READ_IDENTITY),
    )
    with _cache_lock:
        access = _access_cache.setdefault(key, access)  # requests that built it at once share the first one
        while len(_access_cache) > ACCESS_CACHE_SIZE:
            _access_cache.popitem(last=False)
    return access


def kept_complaint_access(subject: Subject, *, version: int, unit: uuid.UUID | None) -> ComplaintAccess | None:
    """The filters ``complaint_access`` built for exactly this policy version and org unit, if this process still
    keeps them (no database): for a caller that reads the version and the unit in the same statement as the work
    the filters guard, and discards that work unless they are these (services/api/compiled.py)."""
    with _cache_lock:
        return _access_cache.get((subject.tenant, version, subject.user_id, unit))


# ------------------------------------------------------------------ policy administration

# What must stay possible for some active user after any change of rules or roles: without these nobody could
# repair the rules (or give someone the right to) through the API.
GUARDED_ACTIONS: dict[str, str] = {
    Action.POLICY_WRITE.value: "change policies",
    Action.ORG_MANAGE.value: "manage users",
}


class PolicySource(enum.StrEnum):
    SEED = "seed"  # the template's rules, when the tenant was created (or migrated to t0012)
    SET = "set"  # setPolicies
    RESTORE = "restore"  # restorePolicies: an earlier version again
    RESET = "reset"  # `complaintdesk policies reset`: an operator put the template's defaults back


_AUDIT_ACTION = {PolicySource.SET: "set_policies", PolicySource.RESTORE: "restore_policies",
                 PolicySource.RESET: "reset_policies"}


async def lock_policies(session: AsyncSession) -> None:
    """One writer of rules, roles' lock-out checks and versions at a time per tenant (until the transaction ends)."""
    await session.execute(select(PolicyState.id).where(PolicyState.id == 1).with_for_update())


def _held(rules: Sequence[Rule], role_sets: Iterable[tuple[str, ...]]) -> set[str]:
    """The guarded actions that at least one of these role sets (one per kind of user) is allowed."""
    sets = list(role_sets)
    names = [str(uuid.UUID(int=i)) for i in range(len(sets))]
    enforcer = build_enforcer("check", rules, [(name, role) for name, roles in zip(names, sets, strict=True)
                                               for role in roles])
    cached = _Cached(0, enforcer, threading.Lock())
    held: set[str] = set()
    for name in names:
        subject = Subject(user_id=uuid.UUID(name), tenant="check")
        held |= {a for a in GUARDED_ACTIONS if a not in held and _decide(cached, subject, a, NO_RESOURCE).allowed}
    return held


async def check_lockout(
    session: AsyncSession, *, rules: Sequence[Rule] | None = None,
    roles: tuple[uuid.UUID, Sequence[str]] | None = None, field: Sequence[str] = ("rules",),
) -> None:
    """Refuse (``POLICY_LOCKOUT``) a change of the rules (``rules``) or of one user's roles (``roles``: the user and
    their new roles) after which no active user could do a guarded action that one could do before it.

    A capability nobody has before the change (a tenant with no users yet) is not asked for after it. The caller
    holds ``lock_policies``, so two changes cannot each leave the other's admin as the last one."""
    current = await load_rules(session)
    users = (await session.execute(select(User.id, User.roles).where(User.active.is_(True)))).all()
    before = _held(current, {tuple(sorted(r)) for _, r in users})
    after_sets = {tuple(sorted(roles[1] if roles is not None and uid == roles[0] else r)) for uid, r in users}
    after = _held(current if rules is None else rules, after_sets)
    lost = [what for action, what in GUARDED_ACTIONS.items() if action in before and action not in after]
    if lost:
        needed = " or ".join(f"{a} ({what})" for a, what in GUARDED_ACTIONS.items() if what in lost)
        raise DomainError(
            ErrorCode.POLICY_LOCKOUT,
            msg("refused: after this change no active user could {lost}; keep {needed} for at least one "
                "active user's role", lost=" or ".join(lost), needed=needed), list(field),
        )


async def _store_version(session: AsyncSession, *, rules: Sequence[Rule], source: PolicySource, now: datetime,
                         created_by: uuid.UUID | None = None, restored_from: int | None = None) -> int:
    """The next version number, holding ``rules`` (the caller holds ``lock_policies``)."""
    number = int(await session.scalar(select(func.coalesce(func.max(PolicyVersion.version), 0))) or 0) + 1
    session.add(PolicyVersion(version=number, rules=[[r.role, r.action, r.relation, r.effect] for r in rules],
                              source=source.value, restored_from=restored_from, created_by=created_by,
                              created_at=now))
    await session.flush()
    return number


def _check_loadable(rules: Sequence[Rule], roles: Iterable[str]) -> None:
    problems = validate_rules(rules, roles)
    if problems:
        index, field, reason = problems[0]
        raise DomainError(
            ErrorCode.INVALID, msg("rule {row}: {reason}", row=index + 1, reason=reason), ["rules", str(index), field])
    try:
        build_enforcer("check", rules, [])
    except Exception as exc:  # whatever Casbin refuses, refuse here too
        raise DomainError(ErrorCode.INVALID, msg("the rules cannot be loaded: {exc}", exc=exc), ["rules"]) from None


async def _replace_rules(
    session: AsyncSession, *, actor: Actor, now: datetime, rules: Sequence[Rule], source: PolicySource,
    restored_from: int | None = None, note: str | None = None,
) -> tuple[int, list[Rule], list[Rule]]:
    """Write ``rules`` in place of the current ones, bump the policy version, keep the set as a new version and
    audit it; returns (version number, rules added, rules removed)."""
    before = await load_rules(session)
    await session.execute(delete(PolicyRule))
    session.add_all([PolicyRule(ptype="p", v0=r.role, v1="*", v2=r.action, v3=r.relation, v4=r.effect) for r in rules])
    await bump_policy_version(session)
    await session.flush()
    number = await _store_version(session, rules=rules, source=source, now=now, created_by=actor.user_id,
                                  restored_from=restored_from)
    added = sorted(set(rules) - set(before), key=str)
    removed = sorted(set(before) - set(rules), key=str)
    changes: dict[str, Any] = {"rules": len(rules), "version": number,
                               "added": [[r.role, r.action, r.relation, r.effect] for r in added][:50],
                               "removed": [[r.role, r.action, r.relation, r.effect] for r in removed][:50]}
    if restored_from is not None:
        changes["restoredFrom"] = restored_from
    await record_event(session, actor=actor, action=_AUDIT_ACTION[source], subject_type="Policy", subject_id=None,
                       now=now, changes=changes, note=note)
    return number, added, removed


async def set_rules(
    session: AsyncSession, *, actor: Actor, now: datetime, rules: Sequence[Rule]
) -> list[Rule]:
    """Replace the tenant's rules; an invalid set, or one that locks the tenant out (``check_lockout``), is refused
    with the reason and the old set stays. The new set is kept as the next policy version."""
    await lock_policies(session)
    _check_loadable(rules, [r.name for r in (await session.scalars(select(Role))).all()])
    await check_lockout(session, rules=rules)
    await _replace_rules(session, actor=actor, now=now, rules=rules, source=PolicySource.SET)
    return list(rules)


async def restore_rules(session: AsyncSession, *, actor: Actor, now: datetime, version: int) -> int:
    """Put the rules of an earlier version back in force, as a new version; checked like ``set_rules``. Returns
    the new version's number."""
    await lock_policies(session)
    kept = await session.get(PolicyVersion, version)
    if kept is None:
        raise DomainError(
            ErrorCode.NOT_FOUND, msg("there is no policy version {version}", version=version), ["version"])
    rules = [Rule(*line) for line in kept.rules]
    _check_loadable(rules, [r.name for r in (await session.scalars(select(Role))).all()])
    await check_lockout(session, rules=rules, field=["version"])
    number, _, _ = await _replace_rules(session, actor=actor, now=now, rules=rules, source=PolicySource.RESTORE,
                                        restored_from=version)
    return number


@dataclass(frozen=True)
class Reset:
    version: int
    added: list[Rule]
    removed: list[Rule]


async def reset_rules(session: AsyncSession, *, template: str, now: datetime, reason: str) -> Reset:
    """Break glass (operators, outside the API): the template's default rules in force again, whatever the tenant's
    rules and roles are, as a new version; audited with the operator as actor and ``reason`` as the note."""
    reason = reason.strip()
    if not reason:
        raise DomainError(ErrorCode.REQUIRED, "give the reason for the reset", ["reason"])
    await lock_policies(session)
    rules = default_rules(template)
    _check_loadable(rules, [r.name for r in (await session.scalars(select(Role))).all()])
    number, added, removed = await _replace_rules(
        session, actor=Actor(user_id=None, label="operator"), now=now, rules=rules, source=PolicySource.RESET,
        note=reason[:2000])
    return Reset(number, added, removed)


async def keep_seeded_version(session: AsyncSession, *, now: datetime) -> None:
    """A new tenant's rules as it starts with them, kept as a ``seed`` version unless the newest version already
    holds exactly these rules (tenant migration t0012 stores them as version 1 when it runs at creation)."""
    await lock_policies(session)
    rules = await load_rules(session)
    newest = (await session.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))).first()
    if newest is None or [Rule(*line) for line in newest.rules] != rules:
        await _store_version(session, rules=rules, source=PolicySource.SEED, now=now)


MAX_VERSIONS_PAGE = 100


async def list_versions(session: AsyncSession, *, first: int = 20, before: int | None = None
                        ) -> tuple[list[PolicyVersion], bool]:
    """Policy versions, newest first: (page, has_next_page). ``before``: the number of the last one seen."""
    if not 1 <= first <= MAX_VERSIONS_PAGE:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("first must be between 1 and {max_versions_page}",
                max_versions_page=MAX_VERSIONS_PAGE), ["first"])
    query = select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(first + 1)
    if before is not None:
        query = query.where(PolicyVersion.version < before)
    found = list((await session.scalars(query)).all())
    return found[:first], len(found) > first


async def count_versions(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(PolicyVersion)) or 0)


# ------------------------------------------------------------------ masking


def mask_name(value: str) -> str:
    """张三 -> 张*, 欧阳修 -> 欧**, John Smith -> J*** S****."""
    if " " in value.strip():
        return " ".join(w[:1] + "*" * (len(w) - 1) for w in value.split())
    return value[:1] + "*" * max(len(value) - 1, 1)


def mask_phone(value: str) -> str:
    """13812345678 (or +86 138 1234 5678) -> 138****5678; shorter numbers keep their last two digits."""
    digits = list(phone_key(value) or "")
    if len(digits) >= 11:
        return "".join(digits[:3]) + "****" + "".join(digits[-4:])
    return "*" * max(len(digits) - 2, 1) + "".join(digits[-2:])


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_id_number(value: str) -> str:
    return value[:3] + "*" * max(len(value) - 7, 1) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_address(value: str) -> str:
    return value[:6] + "***" if len(value) > 6 else "***"
