"""Delivering the messages to the customer (outbox items of kind ``message``), called by ``outbox.dispatch_due``
for the batch's messages, and recording each result on the message (``record_results``).

The body is rendered here, at delivery, from the sealed fields (the complainant's identity and contact, the
approved reply, the notice's reason, the review's answer) with the tenant's wording (``templates.wording``); it
exists in plaintext only in this process's memory and on the wire to the mail server or the SMS provider.

E-mail goes through the outbox's SMTP sender (``COMPLAINTDESK_SMTP_URL``). SMS goes through a pluggable sender:
``COMPLAINTDESK_SMS_SENDER`` = ``webhook`` (the default) POSTs JSON ``{"to", "text", "messageId", "idempotencyKey"}``
to ``COMPLAINTDESK_SMS_URL`` with the ``Idempotency-Key`` header and, with ``COMPLAINTDESK_SMS_SECRET`` (or the file
``COMPLAINTDESK_SMS_SECRET_FILE`` names), an
HMAC-SHA256 of the body in ``X-Complaintdesk-Signature`` (the provider drops a redelivered duplicate by its key).
A provider that answers ``{"status": "DELIVERED"}`` has delivered it (``deliveredAt``); otherwise it is SENT.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update

from services.core.audit.service import Actor, PendingEvent, record_events
from services.core.complaints.models import Complainant, Complaint, CustomerMessage, Review
from services.core.config import secret_setting
from services.core.deadlines import notices as notices_
from services.core.deadlines.models import CustomerNotice, Deadline
from services.core.escalation.models import ExternalBody
from services.core.i18n import msg
from services.core.messages.models import ContactChannel, MessageKind, MessageState, OutgoingMessage
from services.core.messages.service import LABELS
from services.core.messages.templates import render, wording
from services.core.org.models import TenantSettings
from services.core.outbox import service as outbox
from services.core.outbox.models import OutboxItem, OutboxState
from services.core.tenancy import Tenant

logger = logging.getLogger("complaintdesk.messages")

SMS_SENDER_ENV = "COMPLAINTDESK_SMS_SENDER"
SMS_URL_ENV = "COMPLAINTDESK_SMS_URL"
SMS_SECRET_ENV = "COMPLAINTDESK_SMS_SECRET"  # noqa: S105 (the variable's name)
PUBLIC_URL_ENV = "COMPLAINTDESK_PUBLIC_URL"
K = MessageKind
ANSWER_DAYS = {("retail", "zh-CN"): "5 个工作日", ("retail", "en"): "5 working days",
               ("bank", "zh-CN"): "15 日", ("bank", "en"): "15 days"}


class SmsSender(Protocol):
    """Sends one text message; ``key`` is the message's idempotency key (the same on every attempt)."""

    async def send(self, *, key: str, to: str, text: str, message_id: str) -> outbox.Delivery: ...


@dataclass
class WebhookSms:
    url: str
    secret: str | None
    http: Any  # the batch's outbox._Http
    clock: Callable[[], datetime]

    async def send(self, *, key: str, to: str, text: str, message_id: str) -> outbox.Delivery:
        data = outbox.body_bytes({"to": to, "text": text, "messageId": message_id, "idempotencyKey": key})
        headers = {"Content-Type": "application/json", outbox.IDEMPOTENCY_HEADER: key,
                   "User-Agent": "complaintdesk-sms"}
        if self.secret:
            headers[outbox.SIGNATURE_HEADER] = outbox.signature(self.secret, data)
        try:
            response = await self.http.post(self.url, data, headers)
        except httpx.HTTPError as exc:  # the text names the URL, never the recipient
            return outbox.Delivery(ok=False, error=f"SMS provider unreachable: {type(exc).__name__}",
                                   answered_at=self.clock())
        answered = self.clock()
        receipt: dict[str, Any] = {"status": response.status_code}
        delivered = False
        try:
            answer = response.json()
            if isinstance(answer, dict):
                if isinstance(answer.get("id"), str | int):
                    receipt["providerId"] = str(answer["id"])[:200]
                delivered = str(answer.get("status", "")).upper() == "DELIVERED"
        except ValueError:
            pass
        if 200 <= response.status_code < 300:
            receipt["delivered"] = delivered
            return outbox.Delivery(ok=True, receipt=receipt, answered_at=answered)
        return outbox.Delivery(ok=False, receipt=receipt, error=f"SMS provider answered HTTP {response.status_code}",
                               permanent=400 <= response.status_code < 500 and response.status_code != 429,
                               answered_at=answered)


def sms_sender(http: Any, clock: Callable[[], datetime]) -> SmsSender | None:
    """The configured SMS sender, or None (not configured: the messages are skipped, never sent)."""
    kind = os.environ.get(SMS_SENDER_ENV, "webhook").strip() or "webhook"
    url = os.environ.get(SMS_URL_ENV, "").strip()
    if kind != "webhook" or not url:
        return None
    return WebhookSms(url, secret_setting(SMS_SECRET_ENV) or None, http, clock)


def public_url() -> str:
    return os.environ.get(PUBLIC_URL_ENV, "http://localhost:8000").rstrip("/")


@dataclass
class _Job:
    item_id: uuid.UUID
    key: str
    message: OutgoingMessage
    to: str
    subject: str
    body: str


async def _values(session: Any, messages: list[OutgoingMessage], complaints: dict[uuid.UUID, Complaint],
                  people: dict[uuid.UUID, Complainant]) -> dict[uuid.UUID, dict[str, Any]]:
    """The placeholders' values per message (decrypted here, for the render only)."""
    schema = str(session.sync_session.info.get("tenant_schema", ""))
    tenant = (await session.execute(select(Tenant.display_name, Tenant.template)
                                    .where(Tenant.schema_name == schema))).first()
    company, template = (tenant[0], tenant[1]) if tenant is not None else ("", "retail")
    tz = ZoneInfo(await session.scalar(select(TenantSettings.timezone).where(TenantSettings.id == 1))
                  or "Asia/Shanghai")
    notice_ids = {uuid.UUID(m.params["noticeId"]) for m in messages if m.params and m.params.get("noticeId")}
    notices = {n.id: n for n in (await session.scalars(
        select(CustomerNotice).where(CustomerNotice.id.in_(notice_ids)))).all()} if notice_ids else {}
    deadline_ids = {n.deadline_id for n in notices.values() if n.deadline_id}
    dues = dict((await session.execute(select(Deadline.id, Deadline.due_at).where(Deadline.id.in_(deadline_ids))))
                .all()) if deadline_ids else {}
    reply_ids = {uuid.UUID(m.params["customerMessageId"]) for m in messages
                 if m.params and m.params.get("customerMessageId")}
    replies = {r.id: r for r in (await session.scalars(
        select(CustomerMessage).where(CustomerMessage.id.in_(reply_ids)))).all()} if reply_ids else {}
    bodies: list[ExternalBody] | None = None
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for m in messages:
        c = complaints[m.complaint_id]
        person = people.get(c.complainant_id)
        params = m.params or {}
        values: dict[str, Any] = {
            "number": c.number, "company": company, "customer_name": (person.name if person else None) or "",
            "track_url": f"{public_url()}/track/{c.number}"}
        kind = MessageKind(m.kind)

        def when(at: datetime | None, locale: str = m.locale) -> str:
            if at is None:
                return ""
            local = at.astimezone(tz)
            return local.strftime("%Y年%m月%d日 %H:%M") if locale == "zh-CN" else local.strftime("%Y-%m-%d %H:%M")

        if kind == K.ACKNOWLEDGEMENT:
            values["access_code"] = params.get("accessCode") or ""
            values["answer_days"] = ANSWER_DAYS.get((template, m.locale), "")
        elif kind in (K.APPROVED_ANSWER, K.UNFOUNDED_OPINION):
            reply = replies.get(uuid.UUID(params["customerMessageId"])) if params.get("customerMessageId") else None
            values["answer" if kind == K.APPROVED_ANSWER else "opinion"] = reply.body if reply else ""
        elif kind in (K.DEADLINE_EXTENDED, K.DELAY_NOTICE):
            notice = notices.get(uuid.UUID(params["noticeId"])) if params.get("noticeId") else None
            if notice is not None:
                values["reason"] = notices_.reason_in(notice, m.locale, tz)  # in the customer's language
                values["due"] = when(notice.new_due_at if kind == K.DEADLINE_EXTENDED
                                     else dues.get(notice.deadline_id) if notice.deadline_id else None)
            else:
                values["reason"], values["due"] = "", ""
        elif kind == K.REVIEW_ANSWER:
            review = (await session.scalars(select(Review).where(Review.complaint_id == c.id)
                                            .order_by(Review.requested_at.desc()).limit(1))).first()
            values["answer"] = (review.answer or "") if review else ""
            values["upheld"] = bool(review and review.outcome == "UPHELD")
        elif kind == K.RECOMPLAINT_GUIDANCE:
            if bodies is None:
                bodies = list((await session.scalars(select(ExternalBody).where(
                    ExternalBody.active.is_(True), ExternalBody.escalation_level.is_not(None))
                    .order_by(ExternalBody.escalation_level, ExternalBody.name))).all())
            sep = "；" if m.locale == "zh-CN" else "; "
            values["bodies"] = sep.join(b.name + (f" ({b.contact})" if b.contact else "") for b in bodies)
        elif kind == K.SATISFACTION_SURVEY:
            values["survey_url"] = f"{public_url()}/track/{c.number}/survey"
        out[m.id] = values
    return out


async def deliver(session: Any, items: list[OutboxItem], now: datetime, clock: Callable[[], datetime],
                  http: Any) -> dict[uuid.UUID, outbox.Delivery]:
    """The batch's messages: rendered, then sent (e-mails ``MAIL_CONCURRENCY`` at a time, SMS
    ``WEBHOOK_CONCURRENCY``); the session is used only before the sends."""
    out: dict[uuid.UUID, outbox.Delivery] = {}
    if not items:
        return out
    ids: dict[uuid.UUID, uuid.UUID] = {}
    for item in items:
        try:
            ids[item.id] = uuid.UUID(str(item.payload.get("messageId")))
        except ValueError:
            out[item.id] = outbox.Delivery(ok=False, error="the item names no message", permanent=True)
    messages = {m.id: m for m in (await session.scalars(
        select(OutgoingMessage).where(OutgoingMessage.id.in_(set(ids.values()))))).all()}
    complaints = {c.id: c for c in (await session.scalars(select(Complaint).where(
        Complaint.id.in_({m.complaint_id for m in messages.values()})))).all()} if messages else {}
    people = {p.id: p for p in (await session.scalars(select(Complainant).where(
        Complainant.id.in_({c.complainant_id for c in complaints.values()})))).all()} if complaints else {}
    texts = await wording(session, {(m.kind, m.locale) for m in messages.values()})
    values = await _values(session, list(messages.values()), complaints, people)
    jobs: list[_Job] = []
    for item in items:
        if item.id in out:
            continue
        m = messages.get(ids[item.id])
        if m is None:
            out[item.id] = outbox.Delivery(ok=False, error="the message no longer exists", permanent=True)
            continue
        person = people.get(complaints[m.complaint_id].complainant_id)
        to = person.contact if person is not None and person.erased_at is None else None
        if not to:
            out[item.id] = outbox.Delivery(ok=False, error="no usable contact (erased or removed)", permanent=True)
            continue
        subject, body = texts[(m.kind, m.locale)]
        try:
            job = _Job(item.id, item.idempotency_key, m, str(to), render(subject, values[m.id]),
                       render(body, values[m.id]))
        except Exception as exc:  # a template the sandbox refuses: the text is never logged
            out[item.id] = outbox.Delivery(ok=False, error=f"the template did not render: {type(exc).__name__}",
                                           permanent=True)
            continue
        jobs.append(job)
    mails = [j for j in jobs if j.message.channel == ContactChannel.EMAIL.value]
    texts_ = [j for j in jobs if j.message.channel == ContactChannel.SMS.value]
    for j in jobs:
        if j not in mails and j not in texts_:
            out[j.item_id] = outbox.Delivery(ok=False, error="the channel is not sent by the platform",
                                             permanent=True)
    await asyncio.gather(_send_mails(mails, now, clock, out), _send_texts(texts_, http, clock, out))
    return out


async def _send_mails(jobs: list[_Job], now: datetime, clock: Callable[[], datetime],
                      out: dict[uuid.UUID, outbox.Delivery]) -> None:
    if not jobs:
        return
    url = outbox.smtp_url()
    if not url:
        for j in jobs:
            out[j.item_id] = outbox.Delivery(ok=False, skipped=True,
                                             error=f"no mail server is configured ({outbox.SMTP_ENV} is not set)")
        return
    try:
        server = outbox.MailServer.parse(url)
    except ValueError as exc:
        for j in jobs:
            out[j.item_id] = outbox.Delivery(ok=False, error=str(exc))
        return
    sender = os.environ.get(outbox.SMTP_FROM_ENV, "complaintdesk@localhost")
    gate = asyncio.Semaphore(outbox.MAIL_CONCURRENCY)

    async def run(j: _Job) -> None:
        message_id = f"<{hashlib.sha256(j.key.encode()).hexdigest()[:32]}@complaintdesk>"
        async with gate:
            try:
                await asyncio.to_thread(outbox._send_mail, server, sender, j.to, j.subject, j.body, message_id, now)
            except (OSError, smtplib.SMTPException) as exc:
                out[j.item_id] = outbox._mail_failure(exc, server, j.to)
                return
            except Exception as exc:
                logger.error("message %s: e-mail raised %s", j.message.id, type(exc).__name__)
                out[j.item_id] = outbox.Delivery(ok=False, error=f"internal error: {type(exc).__name__}")
                return
            out[j.item_id] = outbox.Delivery(ok=True, receipt={"messageId": message_id, "server": server.where},
                                             answered_at=clock())

    await asyncio.gather(*(run(j) for j in jobs))


async def _send_texts(jobs: list[_Job], http: Any, clock: Callable[[], datetime],
                      out: dict[uuid.UUID, outbox.Delivery]) -> None:
    if not jobs:
        return
    sender = sms_sender(http, clock)
    if sender is None:
        for j in jobs:
            out[j.item_id] = outbox.Delivery(ok=False, skipped=True,
                                             error=f"no SMS provider is configured ({SMS_URL_ENV} is not set)")
        return
    gate = asyncio.Semaphore(outbox.WEBHOOK_CONCURRENCY)

    async def run(j: _Job) -> None:
        async with gate:
            try:
                out[j.item_id] = await sender.send(key=j.key, to=j.to, text=j.body, message_id=str(j.message.id))
            except Exception as exc:
                logger.error("message %s: SMS raised %s", j.message.id, type(exc).__name__)
                out[j.item_id] = outbox.Delivery(ok=False, error=f"internal error: {type(exc).__name__}")

    await asyncio.gather(*(run(j) for j in jobs))


async def record_results(session: Any, results: list[tuple[OutboxItem, dict[str, Any], outbox.Delivery]],
                         now: datetime) -> None:
    """Each message's delivery state from its outbox item's result (the claim's transaction): attempts and the
    last error on every try; on a final result its state and times, one audit event on the case (the timeline),
    the access code dropped from its params, and, if it failed, a task for the owner."""
    if not results:
        return
    keys = [item.idempotency_key for item, _, _ in results]
    messages = {m.idempotency_key: m for m in (await session.scalars(
        select(OutgoingMessage).where(OutgoingMessage.idempotency_key.in_(keys)).with_for_update())).all()}
    events: list[PendingEvent] = []
    effects: list[outbox.Effect] = []
    owners: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    ids = {m.complaint_id for m in messages.values()}
    if ids:
        owners = {cid: (owner, number) for cid, owner, number in (await session.execute(
            select(Complaint.id, Complaint.owner_id, Complaint.number).where(Complaint.id.in_(ids)))).all()}
    for item, row, delivery in results:
        m = messages.get(item.idempotency_key)
        if m is None:
            continue
        values: dict[str, Any] = {"attempts": row["attempts"], "last_error": row["last_error"]}
        final = row["state"] in (OutboxState.SENT.value, OutboxState.FAILED.value, OutboxState.SKIPPED.value)
        if row["state"] == OutboxState.SENT.value:
            delivered = bool((delivery.receipt or {}).get("delivered"))
            values.update(state=(MessageState.DELIVERED if delivered else MessageState.SENT).value,
                          sent_at=row["sent_at"], delivered_at=row["sent_at"] if delivered else None,
                          receipt=delivery.receipt)
        elif final:
            values.update(state=MessageState.FAILED.value, receipt=delivery.receipt)
        if final and m.params and "accessCode" in m.params:
            m.params = {k: val for k, val in m.params.items() if k != "accessCode"} or None
        await session.execute(update(OutgoingMessage).where(OutgoingMessage.id == m.id).values(**values))
        if not final:
            continue
        failed = values["state"] == MessageState.FAILED.value
        events.append(PendingEvent(
            actor=Actor.system(), action="customer_message_failed" if failed else "customer_message_sent",
            subject_type="Complaint", subject_id=m.complaint_id,
            changes={"messageId": str(m.id), "kind": m.kind, "channel": m.channel, "state": values["state"],
                     "attempts": row["attempts"]}))
        owner = owners.get(m.complaint_id)
        if failed and owner is not None:
            effects += outbox.notification_effects(
                user_ids=[owner[0]], key=f"{m.idempotency_key}:failed", kind="CUSTOMER_NOTICE",
                title=msg("Complaint {number}: a message to the customer could not be delivered ({what}): "
                          "tell them another way", number=owner[1], what=msg(LABELS[MessageKind(m.kind)])),
                complaint_id=m.complaint_id, email=True)
    await session.flush()
    if events:
        await record_events(session, events, now=now)
    if effects:
        await outbox.enqueue_many(session, effects, now=now)
