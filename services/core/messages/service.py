"""Messages that reach the customer (issue 14 point 2): the preferred contact, and ``RULES``, the one table of
which message goes out when.

A rule is triggered by a complaint step (``step:<audit action>``: ``steps.record_step`` calls ``after_step`` in
the step's transaction, after the hand-offs) or by a customer notice (``notice:<kind>``: the deadline sweep
calls ``notice_effects`` for each notice it handles, in its transaction). Each message is one
``outgoing_messages`` row and, where the platform sends it (EMAIL, SMS), one outbox item of kind ``message``
under the same idempotency key (``message:<complaint id>:<ref>:<kind>``, or ``message:notice:<notice id>:<kind>``:
unique across tenants too, since an SMS provider drops a repeated key): a retried transaction or a second sweeper never
doubles it. The outbox item carries only the message's id; the body is rendered at delivery
(``messages.delivery``) from the sealed fields, so no plaintext personal data is written to the outbox, Redis or
a log. Where the customer wants post or a call, or there is no usable contact, the message is recorded as
TASKED and the owner is told to do it (in-app and e-mail, as the notices always were).

The acknowledgement needs the access code, which exists in plaintext only while the complaint is recorded: it is
sealed in the message's ``params`` (AES-GCM, bound to the row) and removed from them once the message is sent or
given up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import i18n
from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.complaints import lifecycle
from services.core.complaints.models import Complainant, Complaint, HandlingFormKind
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, msg
from services.core.messages.models import (
    DEFAULT_LOCALE,
    LOCALES,
    ContactChannel,
    MessageKind,
    MessageState,
    OutgoingMessage,
)
from services.core.messages.templates import check_locale
from services.core.org.models import TenantSettings
from services.core.outbox.models import OutboxKind
from services.core.outbox.service import Effect, enqueue_many, notification_effects

K = MessageKind


@dataclass(frozen=True)
class Rule:
    on: str  # "step:<audit action>" or "notice:<customer notice kind>"
    kind: MessageKind
    when: Callable[[dict[str, Any]], bool] | None = None  # on the step's changes


def _solution(changes: dict[str, Any]) -> bool:
    return bool(changes.get("kind", HandlingFormKind.SOLUTION.value) == HandlingFormKind.SOLUTION.value)


def _opinion(changes: dict[str, Any]) -> bool:
    return bool(changes.get("kind") == HandlingFormKind.OPINION.value)


RULES: tuple[Rule, ...] = (
    Rule("step:record_complaint", K.ACKNOWLEDGEMENT),
    Rule("step:send_customer_message", K.APPROVED_ANSWER, when=_solution),
    Rule("step:send_customer_message", K.UNFOUNDED_OPINION, when=_opinion),
    Rule("notice:DEADLINE_EXTENDED", K.DEADLINE_EXTENDED),
    Rule("notice:DEADLINE_BREACHED", K.DELAY_NOTICE),  # seed III item 4: told why it is late
    Rule("step:answer_review", K.REVIEW_ANSWER),
    Rule("notice:RECOMPLAINT_GUIDANCE", K.RECOMPLAINT_GUIDANCE),  # seed III item 12
    Rule("step:complete_implementation", K.SATISFACTION_SURVEY),
)
BY_TRIGGER: dict[str, tuple[Rule, ...]] = {}
for _rule in RULES:
    BY_TRIGGER[_rule.on] = (*BY_TRIGGER.get(_rule.on, ()), _rule)

LABELS: dict[MessageKind, str] = {
    K.ACKNOWLEDGEMENT: N_("the acknowledgement (number and access code)"),
    K.APPROVED_ANSWER: N_("the approved answer"),
    K.UNFOUNDED_OPINION: N_("the investigation opinion"),
    K.DEADLINE_EXTENDED: N_("the deadline extension and its reason"),
    K.DELAY_NOTICE: N_("the delay and its reason"),
    K.REVIEW_ANSWER: N_("the review answer"),
    K.RECOMPLAINT_GUIDANCE: N_("where to re-complain"),
    K.SATISFACTION_SURVEY: N_("the satisfaction survey"),
}
"""What each kind of message tells the customer, as an owner's task names it (in the owner's language)."""

TASK_TITLES: dict[ContactChannel | None, str] = {
    ContactChannel.POST: N_("Complaint {number}: tell the customer {what} by post"),
    ContactChannel.PHONE: N_("Complaint {number}: tell the customer {what} by phone"),
    None: N_("Complaint {number}: tell the customer {what} (no usable contact)"),
}


def task_title(number: str, kind: MessageKind, channel: ContactChannel | None) -> i18n.Msg:
    """The owner's task for a message the platform does not send: written in the owner's language when the task
    is enqueued (``outbox.service``: a marked title is translated per recipient)."""
    template = TASK_TITLES.get(channel, N_("Complaint {number}: tell the customer {what}"))
    return msg(template, number=number, what=msg(LABELS[kind]))


# ---------------------------------------------------------------- the preferred contact


@dataclass(frozen=True)
class ContactInput:
    channel: ContactChannel
    address: str | None = None  # default: the complainant's e-mail, phone or address for the channel
    locale: str | None = None


def resolve_contact(contact: ContactInput | None, *, phone: str | None, email: str | None, address: str | None,
                    field: str = "preferredContact") -> tuple[ContactChannel | None, str | None, str | None]:
    """(channel, address or number, locale). Without a choice: e-mail if there is one, else SMS to the phone, else
    none (the owner is tasked). A refusal names ``[field, "address"]`` (or ``"locale"``)."""
    if contact is None:
        if email:
            return ContactChannel.EMAIL, email, None
        if phone:
            return ContactChannel.SMS, phone, None
        return None, None, None
    try:
        locale = check_locale(contact.locale) if contact.locale is not None else None
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, [field, "locale"]) from None
    given = contact.address
    value: str | None
    try:
        if contact.channel == ContactChannel.EMAIL:
            value = v.email(given, "address") if given else email
        elif contact.channel in (ContactChannel.SMS, ContactChannel.PHONE):
            value = v.phone(given, "address") if given else phone
        else:
            value = v.text(given, "address", max_length=500) if given else address
    except DomainError as exc:
        raise DomainError(exc.code, exc.message, [field, "address"]) from None
    if not value:
        raise DomainError(ErrorCode.REQUIRED, msg("a {channel} contact needs an address or number",
                                              channel=contact.channel.value),
                          [field, "address"])
    return contact.channel, value, locale


async def tenant_locale(session: AsyncSession) -> str:
    found = await session.scalar(select(TenantSettings.locale).where(TenantSettings.id == 1))
    if found and str(found).lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


async def update_contact(session: AsyncSession, *, actor: Actor, now: datetime, complaint_id: uuid.UUID,
                         contact: ContactInput) -> Complaint:
    """Staff change the customer's preferred contact (an open case); audited without the address itself. The
    messages already sent stay as they were; the next ones go to the new contact."""
    from services.core.complaints.steps import get_for_update

    complaint = await get_for_update(session, complaint_id)
    if complaint.status not in lifecycle.OPEN:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                          msg("cannot change the contact: the complaint is {status}",
                              status=lifecycle.status_text(complaint.status)))
    person = await session.get(Complainant, complaint.complainant_id, with_for_update=True)
    if person is None or person.erased_at is not None:
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "the complainant was erased: there is no one to contact")
    channel, value, locale = resolve_contact(contact, phone=person.phone, email=person.email,
                                             address=person.address, field="contact")
    before = {"channel": complaint.contact_channel, "locale": complaint.contact_locale}
    complaint.contact_channel = channel.value if channel else None
    complaint.contact_locale = locale
    person.contact = value
    complaint.updated_at = now
    await record_event(session, actor=actor, action="update_complaint_contact", subject_type="Complaint",
                       subject_id=complaint.id, now=now, from_status=complaint.status, to_status=complaint.status,
                       changes={"before": before, "channel": complaint.contact_channel, "locale": locale,
                                "fields": ["preferredContact.address"]})
    return complaint


# ---------------------------------------------------------------- planning messages


async def _plan(session: AsyncSession, complaint: Complaint, kind: MessageKind, key: str, now: datetime,
                params: dict[str, Any], task: Callable[[], list[Effect]] | None = None) -> list[Effect]:
    """The message's row, and its outbox item (or the owner's task: ``task()`` if given); nothing if the key was
    planned before."""
    if await session.scalar(select(OutgoingMessage.id).where(OutgoingMessage.idempotency_key == key)):
        return []
    channel = ContactChannel(complaint.contact_channel) if complaint.contact_channel else None
    locale = complaint.contact_locale if complaint.contact_locale in LOCALES else await tenant_locale(session)
    sent_by_us = channel is not None and channel.sent_by_platform
    message = OutgoingMessage(
        id=uuid.uuid4(), complaint_id=complaint.id, kind=kind.value, channel=channel.value if channel else None,
        locale=locale, state=(MessageState.PENDING if sent_by_us else MessageState.TASKED).value,
        idempotency_key=key, params=params or None, attempts=0, created_at=now)
    session.add(message)
    if sent_by_us:
        return [Effect(OutboxKind.MESSAGE, key, {"messageId": str(message.id)}, f"complaint:{complaint.id}",
                       complaint.id)]
    if task is not None:
        return task()
    title = task_title(complaint.number, kind, channel)
    return notification_effects(user_ids=[complaint.owner_id], key=f"{key}:task", kind="CUSTOMER_NOTICE",
                                title=title, complaint_id=complaint.id, email=True)


async def after_step(session: AsyncSession, complaint: Complaint, *, action: str, ref: str, now: datetime,
                     changes: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                     actor_id: uuid.UUID | None = None) -> int:
    """The messages ``RULES`` names for step ``action`` (in the step's transaction); how many were planned. An
    acknowledgement the platform cannot send, of a complaint its owner is recording (``actor_id``), is no task:
    they give the number and access code (the mutation's answer) to the customer there and then."""
    rules = BY_TRIGGER.get(f"step:{action}")
    if not rules:
        return 0
    facts = dict(changes or {})
    effects: list[Effect] = []
    planned = 0
    for rule in rules:
        if rule.when is not None and not rule.when(facts):
            continue
        extra = dict(params or {})
        if rule.kind in (K.APPROVED_ANSWER, K.UNFOUNDED_OPINION) and facts.get("messageId"):
            extra["customerMessageId"] = str(facts["messageId"])
        in_person = rule.kind == K.ACKNOWLEDGEMENT and actor_id is not None and actor_id == complaint.owner_id
        effects += await _plan(session, complaint, rule.kind, f"message:{complaint.id}:{ref}:{rule.kind.value}", now,
                               extra, (lambda: []) if in_person else None)
        planned += 1
    await session.flush()
    await enqueue_many(session, effects, now=now)
    return planned


async def notice_effects(session: AsyncSession, notice: Any, complaint: Complaint, now: datetime,
                         owner_task: Callable[[], list[Effect]]) -> list[Effect]:
    """A customer notice (a deadline extended or missed, where to re-complain): the message ``RULES`` names for its
    kind, or, for a kind no rule names or a customer the platform cannot reach, ``owner_task()`` (the owner tells
    the customer, as before: the notice's own task, keyed ``notice:<id>``)."""
    rules = BY_TRIGGER.get(f"notice:{notice.kind}")
    if not rules:
        return owner_task()
    effects: list[Effect] = []
    for rule in rules:
        effects += await _plan(session, complaint, rule.kind, f"message:notice:{notice.id}:{rule.kind.value}", now,
                               {"noticeId": str(notice.id)}, owner_task)
    return effects


async def messages_for(session: AsyncSession, complaint_ids: list[uuid.UUID] | Any
                       ) -> dict[uuid.UUID, list[OutgoingMessage]]:
    out: dict[uuid.UUID, list[OutgoingMessage]] = {}
    ids = list(complaint_ids)
    if not ids:
        return out
    for m in (await session.scalars(select(OutgoingMessage).where(OutgoingMessage.complaint_id.in_(ids))
                                    .order_by(OutgoingMessage.complaint_id, OutgoingMessage.created_at,
                                              OutgoingMessage.id))).all():
        out.setdefault(m.complaint_id, []).append(m)
    return out


async def contacts_for(session: AsyncSession, complaint_ids: list[uuid.UUID] | Any
                       ) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    ids = list(complaint_ids)
    if not ids:
        return {}
    return {cid: (channel, locale) for cid, channel, locale in (await session.execute(
        select(Complaint.id, Complaint.contact_channel, Complaint.contact_locale).where(Complaint.id.in_(ids))))}
