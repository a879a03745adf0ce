"""Hand-off notifications (issue 14 point 1): every step that hands work to someone tells them.

``RULES`` is the one table: a step (its name is the audit action) -> who is told (a small vocabulary,
``Recipients``) -> the notification's kind and short text. ``after_step`` applies it, in the step's transaction,
for every complaint step (``steps.record_step`` calls it after the audit event; the extension requests, which
record their own events, call it too). It enqueues outbox items (kind ``notification``, and ``email`` for users
whose preference is ``EMAIL``), keyed ``handoff:<ref>:notify|email:<user>`` where ``ref`` is the step's audit
event id (or the extension request's id): a retried transaction never doubles a notification.

Never the actor themselves, never an inactive user, each user at most once per step (the first rule naming
them wins). The text holds the complaint number and the step only, no personal data, in the recipient's language (their
preference, else the tenant's default). The link an SPA routes to
is derived from the notification's complaint (``link_for``): ``{"route": "complaint", "id": <Complaint global
id>}``, path ``/complaints/<global id>``.

The breach notices of the deadline sweep (deadlines/sweep.py) and the escalation notices are not hand-offs of a
step and stay where they are.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import authz, i18n
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Complaint, ComplaintStatus, Review
from services.core.deadlines.models import DeadlineExtensionRequest
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, msg
from services.core.i18n.tenant import user_locales
from services.core.org.models import User
from services.core.outbox.service import enqueue_many, notification_effects
from services.core.tenancy import current_tenant_or_none


class NotificationPreference(enum.StrEnum):
    """How a user hears of hand-offs: in-app only, in-app and an e-mail each, or in-app and one e-mail a day
    summing up the day before (``outbox.digest``)."""

    IN_APP = "IN_APP"
    EMAIL = "EMAIL"
    DIGEST = "DIGEST"


class Recipients(enum.StrEnum):
    RESPONSIBLE_DEPARTMENT = "responsible_department"  # active users of the unit the transfer slip went to
    APPROVERS = "approvers"  # active users the tenant's policy lets do complaint.approve on this complaint
    EXTENSION_APPROVERS = "extension_approvers"  # ... complaint.approve_deadline_extension
    OWNER = "owner"  # the complaint's owner (after the step: a transfer names the new one)
    REVIEWER = "reviewer"  # the reviewer assigned to the current review
    REQUESTER = "requester"  # who asked for the deadline extension decided


@dataclass(frozen=True)
class Step:
    """What ``after_step`` knows about the step that just happened."""

    complaint: Complaint
    action: str
    before: str | None
    changes: dict[str, Any]


@dataclass(frozen=True)
class Rule:
    step: str
    recipients: Recipients
    kind: str
    text: str  # a message id (translated to each recipient's language); "{number}" is the complaint number
    when: Callable[[Step], bool] | None = None


def _back_to_department(s: Step) -> bool:
    return s.complaint.status == ComplaintStatus.ASSIGNED and s.before != ComplaintStatus.ASSIGNED


def _survey_returned(s: Step) -> bool:
    return s.changes.get("returnedTo") is not None


RR = Recipients
RULES: tuple[Rule, ...] = (
    Rule("assign_responsible_department", RR.RESPONSIBLE_DEPARTMENT, "TRANSFER_SLIP",
         N_("Complaint {number}: a transfer slip for your department")),
    Rule("propose_solution", RR.APPROVERS, "APPROVAL_REQUESTED",
         N_("Complaint {number}: a handling form waits for your approval")),
    Rule("propose_opinion", RR.APPROVERS, "APPROVAL_REQUESTED",
         N_("Complaint {number}: an investigation opinion waits for your approval")),
    Rule("approve_handling_form", RR.OWNER, "FORM_APPROVED", N_("Complaint {number}: the handling form was approved")),
    Rule("reject_handling_form", RR.OWNER, "FORM_REJECTED", N_("Complaint {number}: the handling form was rejected")),
    Rule("record_customer_opinion", RR.OWNER, "CUSTOMER_ANSWERED", N_("Complaint {number}: the customer answered")),
    Rule("record_customer_opinion", RR.RESPONSIBLE_DEPARTMENT, "TRANSFER_SLIP",
         N_("Complaint {number}: the customer did not agree, the transfer slip is back with your department"),
         when=_back_to_department),
    Rule("record_follow_up", RR.RESPONSIBLE_DEPARTMENT, "SURVEY_RETURNED",
         N_("Complaint {number}: the customer's satisfaction survey came back"), when=_survey_returned),
    Rule("request_review", RR.OWNER, "REVIEW_REQUESTED",
         N_("Complaint {number}: the customer asks for a review of the decision")),
    Rule("assign_reviewer", RR.REVIEWER, "REVIEW_ASSIGNED", N_("Complaint {number}: a review is assigned to you")),
    Rule("transfer_ownership", RR.OWNER, "OWNERSHIP_TRANSFERRED", N_("Complaint {number}: the complaint is now yours")),
    Rule("request_deadline_extension", RR.EXTENSION_APPROVERS, "EXTENSION_APPROVAL_REQUESTED",
         N_("Complaint {number}: a deadline extension waits for your approval")),
    Rule("approve_deadline_extension", RR.REQUESTER, "DEADLINE_EXTENSION_APPROVED",
         N_("Complaint {number}: the deadline extension you asked for was approved")),
    Rule("reject_deadline_extension", RR.REQUESTER, "DEADLINE_EXTENSION_REJECTED",
         N_("Complaint {number}: the deadline extension you asked for was rejected")),
)

BY_STEP: dict[str, tuple[Rule, ...]] = {}
for _rule in RULES:
    BY_STEP[_rule.step] = (*BY_STEP.get(_rule.step, ()), _rule)


def link_for(complaint_global_id: str | None) -> dict[str, str] | None:
    """The route an SPA opens for a notification about a complaint."""
    if complaint_global_id is None:
        return None
    return {"route": "complaint", "id": complaint_global_id, "path": f"/complaints/{complaint_global_id}"}


async def _with_permission(session: AsyncSession, complaint_id: uuid.UUID, action: authz.Action) -> list[uuid.UUID]:
    tenant = current_tenant_or_none()
    name = tenant.slug if tenant is not None else str(session.sync_session.info.get("tenant_schema", "tenant"))
    granting = sorted({r.role for r in await authz.load_rules(session) if r.action == action.value
                       and r.effect == "allow"})  # only their holders can be allowed: ask the enforcer about those
    if not granting:
        return []
    candidates = (await session.scalars(select(User.id).where(User.active.is_(True), User.roles.overlap(granting))
                                        .order_by(User.email))).all()
    out: list[uuid.UUID] = []
    for user_id in candidates:
        decision = await authz.decide_on_complaint(session, authz.Subject(user_id, name), action, complaint_id)
        if decision is not None and decision.allowed:
            out.append(user_id)
    return out


async def _resolve(session: AsyncSession, who: Recipients, s: Step) -> list[uuid.UUID]:
    c = s.complaint
    if who == RR.RESPONSIBLE_DEPARTMENT:
        unit = s.changes.get("returnedTo") or c.responsible_department_id
        if unit is None:
            return []
        return list((await session.scalars(select(User.id).where(User.org_unit_id == unit)
                                           .order_by(User.email))).all())
    if who == RR.OWNER:
        return [c.owner_id] if c.owner_id is not None else []
    if who == RR.APPROVERS:
        return await _with_permission(session, c.id, authz.Action.APPROVE)
    if who == RR.EXTENSION_APPROVERS:
        return await _with_permission(session, c.id, authz.Action.APPROVE_DEADLINE_EXTENSION)
    if who == RR.REVIEWER:
        reviewer = await session.scalar(select(Review.reviewer_id).where(Review.complaint_id == c.id)
                                        .order_by(Review.requested_at.desc()).limit(1))
        return [reviewer] if reviewer is not None else []
    if who == RR.REQUESTER:
        request_id = s.changes.get("requestId")
        found = await session.scalar(select(DeadlineExtensionRequest.requested_by).where(
            DeadlineExtensionRequest.id == uuid.UUID(str(request_id)))) if request_id else None
        return [found] if found is not None else []
    raise AssertionError(who)


async def after_step(
    session: AsyncSession, complaint: Complaint, *, action: str, actor: Actor, ref: str, now: datetime,
    before: str | None = None, changes: dict[str, Any] | None = None,
) -> int:
    """Tell whoever ``RULES`` names for step ``action`` (in the caller's transaction); how many in-app
    notifications are new. ``ref`` makes the keys (the audit event's id, or a step-specific id)."""
    rules = BY_STEP.get(action)
    if not rules:
        return 0
    s = Step(complaint, action, before, dict(changes or {}))
    chosen: dict[uuid.UUID, Rule] = {}
    for rule in rules:
        if rule.when is not None and not rule.when(s):
            continue
        for user_id in await _resolve(session, rule.recipients, s):
            if user_id != actor.user_id:
                chosen.setdefault(user_id, rule)
    if not chosen:
        return 0
    prefs: dict[uuid.UUID, str] = {user_id: pref for user_id, pref in (await session.execute(
        select(User.id, User.notification_preference).where(User.id.in_(list(chosen)), User.active.is_(True))))}
    locales = await user_locales(session, list(prefs))  # each recipient reads their own language
    effects = []
    for user_id, rule in chosen.items():
        if user_id not in prefs:
            continue
        title = i18n.translate(msg(rule.text, number=complaint.number), locales[user_id])
        effects += notification_effects(
            user_ids=[user_id], key=f"handoff:{ref}", kind=rule.kind, title=title,
            complaint_id=complaint.id, email=prefs[user_id] == NotificationPreference.EMAIL)
    new = await enqueue_many(session, effects, now=now)
    return sum(1 for e in effects if e.key in new and ":notify:" in e.key)


async def get_preference(session: AsyncSession, user_id: uuid.UUID) -> NotificationPreference:
    found = await session.scalar(select(User.notification_preference).where(User.id == user_id))
    return NotificationPreference(found or NotificationPreference.IN_APP)


async def set_preference(session: AsyncSession, *, actor: Actor, now: datetime,
                         preference: NotificationPreference) -> NotificationPreference:
    """The signed-in user's own preference (one audit event when it changes)."""
    if actor.user_id is None:
        raise DomainError(ErrorCode.REQUIRED, "a preference belongs to a user")
    user = await session.get(User, actor.user_id, with_for_update=True)
    if user is None or not user.active:
        raise DomainError(ErrorCode.NOT_FOUND, "user not found")
    if user.notification_preference != preference.value:
        before = user.notification_preference
        user.notification_preference = preference.value
        await record_event(session, actor=actor, action="update_my_preferences", subject_type="User",
                           subject_id=user.id, now=now,
                           changes={"notificationPreference": {"from": before, "to": preference.value}})
    return preference
