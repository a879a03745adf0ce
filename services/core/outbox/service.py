"""The outbox: side effects recorded in the caller's transaction, delivered later by the sweeper.

``enqueue`` writes one row keyed by an idempotency key (``ON CONFLICT DO NOTHING``): the same effect
enqueued twice (a retried request, a redelivered message, two sweepers) stays one row. ``dispatch_due``
claims due rows ``FOR UPDATE SKIP LOCKED`` and records each result in the same transaction as the claim,
after the delivery: a crash before the commit leaves the row pending, and it is delivered again (a webhook
receiver drops the duplicate by its ``Idempotency-Key``). An in-app notification is a row written in that
same transaction, so it is delivered exactly once.

Every attempt counts: before a batch's webhooks and e-mails go out, a transaction of their own commits an
``outbox_inflight`` row for each (``tries`` + 1); the claim's transaction deletes them with the results. A row
still there when an item is claimed again is an attempt of a dispatcher that died mid-send, and is counted in
``attempts`` with this one (so a webhook redelivered after a killed worker shows 2). ``sent_at`` (and an
escalation's ``delivered_at``) is when the receiver answered: the batch's ``now`` moved on by the time the batch
took until that answer, not the time of the claim.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.message
import email.utils
import hashlib
import hmac
import logging
import os
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from services.core import i18n, tracing
from services.core.audit.service import Actor, record_event
from services.core.config import secret_setting
from services.core.crypto.fields import aad, seal, writable_keyring
from services.core.db import open_tenant_session
from services.core.errors import DomainError, ErrorCode
from services.core.escalation.models import Escalation, EscalationState, ExternalBody
from services.core.i18n import msg
from services.core.i18n.tenant import user_locales
from services.core.org.models import OrgUnit, User
from services.core.outbox.models import Notification, OutboxInflight, OutboxItem, OutboxKind, OutboxState

logger = logging.getLogger("complaintdesk.outbox")

SIGNATURE_HEADER = "X-Complaintdesk-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SMTP_ENV = "COMPLAINTDESK_SMTP_URL"
SMTP_FROM_ENV = "COMPLAINTDESK_SMTP_FROM"
RETRY_BASE_ENV = "COMPLAINTDESK_OUTBOX_RETRY_SECONDS"
MAX_ATTEMPTS_ENV = "COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS"
MAX_BACKOFF = timedelta(hours=6)
WEBHOOK_TIMEOUT_S = 10.0
SMTP_TIMEOUT_ENV = "COMPLAINTDESK_SMTP_TIMEOUT_SECONDS"  # connect and each reply (default 10)
WEBHOOK_CONCURRENCY = 16
MAIL_CONCURRENCY = 4  # e-mails of a batch sent at once (each on its own connection, in a thread)
SUPERVISOR_ROLES = ("manager", "store_manager")
MAX_RETRY = 100  # items per retry_failed call


def retry_base_seconds() -> float:
    return float(os.environ.get(RETRY_BASE_ENV, "30"))


def max_attempts() -> int:
    return int(os.environ.get(MAX_ATTEMPTS_ENV, "10"))


def backoff(attempts: int, base_seconds: float) -> timedelta:
    """The wait after the ``attempts``-th failure: base, 2 x base, 4 x base, ... at most six hours."""
    return min(timedelta(seconds=base_seconds * (2 ** max(attempts - 1, 0))), MAX_BACKOFF)


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The webhook body: the payload as JSON with sorted keys (the same bytes on every attempt)."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------ enqueue


@dataclass(frozen=True)
class Effect:
    """One side effect for ``enqueue_many``."""

    kind: OutboxKind
    key: str
    payload: dict[str, Any]
    target: str
    complaint_id: uuid.UUID | None = None


def _seal_payloads(sync: Session, payloads: dict[uuid.UUID, dict[str, Any]]) -> dict[uuid.UUID, bytes]:
    ring = writable_keyring(sync)
    return {item_id: seal(ring, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS),
                          aad(ring.tenant, OutboxItem.__tablename__, "payload", item_id))
            for item_id, payload in payloads.items()}


async def _localized(session: AsyncSession, effects: Sequence[Effect]) -> Sequence[Effect]:
    """Notifications and their e-mails whose title or body is a marked message (``i18n.msg``), written in their
    recipient's language (their choice, else the tenant's default); other effects as they are."""
    def marked(e: Effect) -> bool:
        return (e.kind in (OutboxKind.NOTIFICATION, OutboxKind.EMAIL) and e.payload.get("user_id") is not None
                and any(isinstance(e.payload.get(f), i18n.Msg) for f in ("title", "body")))

    wanted = {uuid.UUID(str(e.payload["user_id"])) for e in effects if marked(e)}
    if not wanted:
        return effects
    locales = await user_locales(session, sorted(wanted))

    def written(e: Effect) -> Effect:
        if not marked(e):
            return e
        locale = locales[uuid.UUID(str(e.payload["user_id"]))]
        payload = dict(e.payload)
        for f in ("title", "body"):
            if isinstance(payload.get(f), i18n.Msg):
                payload[f] = i18n.translate(payload[f], locale)[:300 if f == "title" else None]
        return dataclasses.replace(e, payload=payload)

    return [written(e) for e in effects]


async def enqueue_many(session: AsyncSession, effects: Sequence[Effect], *, now: datetime) -> dict[str, uuid.UUID]:
    """Record side effects in the caller's transaction (one statement); the new rows' ids by key (a key that
    exists already is left out: that effect was recorded before)."""
    if not effects:
        return {}
    for effect in effects:
        if not effect.key or len(effect.key) > 200:
            raise ValueError("an idempotency key is 1-200 characters")
    effects = await _localized(session, effects)
    ids = {uuid.uuid4(): e for e in effects}
    blobs = await session.run_sync(_seal_payloads, {item_id: e.payload for item_id, e in ids.items()})
    traceparent = tracing.current_traceparent()  # the worker that delivers these continues this trace
    rows = [{"id": item_id, "kind": e.kind.value, "idempotency_key": e.key, "target": e.target,
             "payload": blobs[item_id], "complaint_id": e.complaint_id, "state": OutboxState.PENDING.value,
             "attempts": 0, "next_attempt_at": now, "created_at": now, "trace_context": traceparent}
            for item_id, e in ids.items()]
    # one statement, its text cached whatever the row count (SQLAlchemy's "insertmanyvalues" batches the rows)
    table = OutboxItem.__table__
    assert isinstance(table, Table)
    statement = (insert(table).on_conflict_do_nothing(index_elements=[table.c.idempotency_key])
                 .returning(table.c.idempotency_key, table.c.id))
    return {key: item_id for key, item_id in (await session.execute(statement, rows)).all()}


async def enqueue(
    session: AsyncSession, kind: OutboxKind, key: str, payload: dict[str, Any], *, target: str, now: datetime,
    complaint_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Record a side effect in the caller's transaction; the id of the new row, or None if the key exists."""
    return (await enqueue_many(session, [Effect(kind, key, payload, target, complaint_id)], now=now)).get(key)


def notification_effects(
    *, user_ids: Iterable[uuid.UUID], key: str, kind: str, title: str, body: str | None = None,
    complaint_id: uuid.UUID | None = None, email: bool = False,
) -> list[Effect]:
    """In-app notifications (and e-mails, if asked) for each user, keyed ``<key>:notify|email:<user>``."""
    out: list[Effect] = []
    for user_id in dict.fromkeys(user_ids):
        message = {"user_id": str(user_id), "kind": kind,
                   "title": title if isinstance(title, i18n.Msg) else title[:300], "body": body,
                   "complaint_id": str(complaint_id) if complaint_id else None}
        out.append(Effect(OutboxKind.NOTIFICATION, f"{key}:notify:{user_id}", message, f"user:{user_id}",
                          complaint_id))
        if email:
            out.append(Effect(OutboxKind.EMAIL, f"{key}:email:{user_id}", message, f"user:{user_id}", complaint_id))
    return out


async def notify(
    session: AsyncSession, *, user_ids: Iterable[uuid.UUID], key: str, kind: str, title: str, now: datetime,
    body: str | None = None, complaint_id: uuid.UUID | None = None, email: bool = False,
) -> int:
    """In-app notifications (and e-mails, if asked) for each user, keyed ``<key>:<user>``; how many are new."""
    effects = notification_effects(user_ids=user_ids, key=key, kind=kind, title=title, body=body,
                                   complaint_id=complaint_id, email=email)
    new = await enqueue_many(session, effects, now=now)
    return sum(1 for e in effects if e.kind == OutboxKind.NOTIFICATION and e.key in new)


async def supervisors_of(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Who supervises a user: active managers (or store managers) of their org unit or the unit above it."""
    return (await supervisors_of_many(session, [user_id]))[user_id]


# Made once (an alias per call is objects in reference cycles left to the garbage collector).
_PERSON, _BOSS, _UNIT = aliased(User, name="person"), aliased(User, name="boss"), aliased(OrgUnit, name="unit")


async def supervisors_of_many(session: AsyncSession, user_ids: Iterable[uuid.UUID]
                              ) -> dict[uuid.UUID, list[uuid.UUID]]:
    """``supervisors_of`` for several users in one statement (each user's list ordered by e-mail)."""
    wanted = list(dict.fromkeys(user_ids))
    out: dict[uuid.UUID, list[uuid.UUID]] = {u: [] for u in wanted}
    if not wanted:
        return out
    person, boss, unit = _PERSON, _BOSS, _UNIT
    found = (await session.execute(
        select(person.id, boss.id)
        .join(unit, unit.id == person.org_unit_id)
        .join(boss, or_(boss.org_unit_id == unit.id, boss.org_unit_id == unit.parent_id))
        .where(person.id.in_(wanted), boss.active.is_(True), boss.id != person.id,
               boss.roles.overlap(list(SUPERVISOR_ROLES)))
        .order_by(person.id, boss.email)
    )).all()
    for user_id, boss_id in found:
        if boss_id not in out[user_id]:
            out[user_id].append(boss_id)
    return out


# ------------------------------------------------------------------ delivery


@dataclass
class Delivery:
    ok: bool
    receipt: dict[str, Any] | None = None
    error: str | None = None
    skipped: bool = False  # the channel is not configured: recorded as skipped, never as sent
    permanent: bool = False  # retrying cannot help (no such user, no webhook URL)
    unreachable: bool = False  # the mail server could not be reached (refused, timed out, unknown host)
    tried: bool = True  # False: not attempted (the server was unreachable earlier in the batch): no attempt counted
    answered_at: datetime | None = None  # when the receiver answered (the batch's clock after the send returned)


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _seal_bodies(sync: Session, bodies: dict[uuid.UUID, str]) -> dict[uuid.UUID, bytes]:
    ring = writable_keyring(sync)
    return {nid: seal(ring, text_.encode(), aad(ring.tenant, Notification.__tablename__, "body", nid))
            for nid, text_ in bodies.items()}


async def _deliver_notifications(session: AsyncSession, items: list[OutboxItem], now: datetime
                                 ) -> dict[uuid.UUID, Delivery]:
    """The batch's in-app notifications as one insert, in the claim's transaction: exactly once."""
    payloads = {item.id: item.payload for item in items}
    wanted = {uuid.UUID(p["user_id"]) for p in payloads.values()}
    users = set((await session.scalars(select(User.id).where(User.id.in_(wanted)))).all())
    out: dict[uuid.UUID, Delivery] = {}
    rows: list[dict[str, Any]] = []
    bodies: dict[uuid.UUID, str] = {}
    for item in items:
        p = payloads[item.id]
        user_id = uuid.UUID(p["user_id"])
        if user_id not in users:
            out[item.id] = Delivery(ok=False, error="the user no longer exists", permanent=True)
            continue
        nid = uuid.uuid4()
        if p.get("body"):
            bodies[nid] = str(p["body"])
        rows.append({"id": nid, "idempotency_key": item.idempotency_key, "user_id": user_id,
                     "complaint_id": uuid.UUID(p["complaint_id"]) if p.get("complaint_id") else None,
                     "kind": str(p.get("kind") or "info")[:64], "title": str(p.get("title") or "")[:300],
                     "created_at": now})
        out[item.id] = Delivery(ok=True, receipt={"notificationId": str(nid)})
    if rows:
        sealed = await session.run_sync(_seal_bodies, bodies) if bodies else {}
        for row in rows:
            row["body"] = sealed.get(row["id"])
        await session.execute(
            insert(Notification).on_conflict_do_nothing(index_elements=[Notification.idempotency_key]), rows)
    return out


class _Http:
    """One HTTP client per dispatch batch, made on the first webhook (building one costs an SSL context)."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
        return await self.client.post(url, content=body, headers=headers)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()


async def _post_webhook(http: _Http, clock: Callable[[], datetime], key: str, url: str, secret: str | None,
                        payload: dict[str, Any]) -> Delivery:
    data = body_bytes(payload)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key, "User-Agent": "complaintdesk-outbox"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, data)
    try:
        response = await http.post(url, data, headers)
    except httpx.HTTPError as exc:
        return Delivery(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}", answered_at=clock())
    answered_at = clock()
    receipt: dict[str, Any] = {"status": response.status_code,
                               "bodySha256": hashlib.sha256(response.content).hexdigest()}
    try:
        answer = response.json()
        if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
            receipt["receiverId"] = str(answer["id"])[:200]
    except ValueError:
        pass
    if 200 <= response.status_code < 300:
        return Delivery(ok=True, receipt=receipt, answered_at=answered_at)
    return Delivery(ok=False, receipt=receipt, error=f"HTTP {response.status_code}", answered_at=answered_at)


async def _deliver_webhooks(session: AsyncSession, items: list[OutboxItem], http: _Http, clock: Callable[[], datetime]
                            ) -> dict[uuid.UUID, Delivery]:
    """The batch's webhooks, ``WEBHOOK_CONCURRENCY`` at a time (the session is used only before the posts)."""
    out: dict[uuid.UUID, Delivery] = {}
    refs: dict[uuid.UUID, uuid.UUID] = {}
    for item in items:
        kind, _, ref = item.target.partition(":")
        try:
            refs[item.id] = uuid.UUID(ref)
        except ValueError:
            kind = "?"
        if kind != "external_body":
            out[item.id] = Delivery(ok=False, error=f"unknown webhook target {item.target!r}", permanent=True)
    bodies = {b.id: b for b in (await session.scalars(
        select(ExternalBody).where(ExternalBody.id.in_(set(refs.values()))))).all()} if refs else {}
    jobs: list[tuple[uuid.UUID, str, str, str | None, dict[str, Any]]] = []
    for item in items:
        if item.id in out:
            continue
        body = bodies.get(refs[item.id])
        if body is None or not body.webhook_url:
            out[item.id] = Delivery(ok=False, error="the external body has no webhook URL", permanent=True)
            continue
        jobs.append((item.id, item.idempotency_key, body.webhook_url, body.webhook_secret, item.payload))
    gate = asyncio.Semaphore(WEBHOOK_CONCURRENCY)

    async def run(job: tuple[uuid.UUID, str, str, str | None, dict[str, Any]]) -> None:
        async with gate:
            try:
                out[job[0]] = await _post_webhook(http, clock, *job[1:])
            except Exception as exc:
                logger.exception("webhook %s raised", job[1])
                out[job[0]] = Delivery(ok=False, error=f"internal error: {type(exc).__name__}")

    await asyncio.gather(*(run(job) for job in jobs))
    return out


SMTP_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 25}


def smtp_url() -> str:
    """``COMPLAINTDESK_SMTP_URL`` (it may carry the server's password), else the file ``COMPLAINTDESK_SMTP_URL_FILE``
    names (a mounted Secret: the chart's ``secrets.smtp``); empty: no mail server."""
    return secret_setting(SMTP_ENV)


@dataclass(frozen=True)
class MailServer:
    """``COMPLAINTDESK_SMTP_URL``, checked: a scheme that is not one of ``SMTP_PORTS`` is refused, never taken
    for plain SMTP (a typo such as ``smtp+tls://`` would otherwise send the password in clear)."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> MailServer:
        parts = urlsplit(url)
        if parts.scheme not in SMTP_PORTS:
            raise ValueError(f"{SMTP_ENV}: unsupported scheme {parts.scheme!r} "
                             f"(smtp://, smtps:// or smtp+starttls://)")
        try:
            port = parts.port or SMTP_PORTS[parts.scheme]
        except ValueError:
            raise ValueError(f"{SMTP_ENV}: the port is not a number") from None
        if not parts.hostname:
            raise ValueError(f"{SMTP_ENV}: no host")
        return cls(parts.scheme, parts.hostname, port, unquote(parts.username) if parts.username else None,
                   unquote(parts.password or "") if parts.username else None)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"  # never the credentials


def _send_mail(server: MailServer, sender: str, to: str, subject: str, text_: str, message_id: str,
               date: datetime) -> None:
    mail = email.message.EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Date"] = email.utils.format_datetime(date)  # required by RFC 5322; the attempt's time
    mail["Message-ID"] = message_id  # from the idempotency key: a resent copy carries the same id
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a machine
    mail.set_content(text_)
    timeout = float(os.environ.get(SMTP_TIMEOUT_ENV, "10"))
    smtp: smtplib.SMTP = (smtplib.SMTP_SSL(server.host, server.port, timeout=timeout,
                                           context=ssl.create_default_context())
                          if server.scheme == "smtps" else smtplib.SMTP(server.host, server.port,
                                                                        timeout=timeout))
    with smtp:
        if server.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if server.username is not None:
            smtp.login(server.username, server.password or "")
        smtp.send_message(mail)


def _mail_failure(exc: Exception, server: MailServer, to: str) -> Delivery:
    """A failed send as a Delivery: the server's code and text (the recipient's address left out); a 5xx
    refusal of the recipient or of the message is permanent, anything else (unreachable, 4xx, a refused
    login or sender: the configuration) is tried again."""
    code: int | None = None
    reply: bytes | str = ""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, reply = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, reply = exc.smtp_code, exc.smtp_error
    if code is None:
        detail = f"{type(exc).__name__}: {exc}"
        what = "unreachable" if isinstance(exc, OSError) else "failed"
    else:
        text_ = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        detail = f"{type(exc).__name__}: {code} {' '.join(text_.split())}"
        what = "refused"
    detail = detail.replace(to, "<recipient>")[:300]
    permanent = (code is not None and 500 <= code < 600
                 and isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError))
    return Delivery(ok=False, error=f"mail server {server.where} {what}: {detail}", permanent=permanent,
                    unreachable=code is None and isinstance(exc, OSError))


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


async def _deliver_emails(session: AsyncSession, items: list[OutboxItem], now: datetime,
                          clock: Callable[[], datetime]) -> dict[uuid.UUID, Delivery]:
    """The batch's e-mails, ``MAIL_CONCURRENCY`` at a time (the session is used only before the sends). A server
    that cannot be reached is not tried again in the batch: the e-mails not yet started wait one backoff
    without an attempt counted."""
    if not items:
        return {}
    url = smtp_url()
    if not url:
        return {i.id: Delivery(ok=False, skipped=True, error=f"no mail server is configured ({SMTP_ENV} is not set)")
                for i in items}
    try:
        server = MailServer.parse(url)
    except ValueError as exc:
        return {i.id: Delivery(ok=False, error=str(exc)) for i in items}
    payloads = {i.id: i.payload for i in items}
    wanted = {u for u in (_uuid_or_none(p.get("user_id")) for p in payloads.values()) if u is not None}
    emails: dict[uuid.UUID | None, str] = {
        r.id: r.email for r in (await session.execute(select(User.id, User.email).where(User.id.in_(wanted))))
    } if wanted else {}
    sender = os.environ.get(SMTP_FROM_ENV, "complaintdesk@localhost")
    out: dict[uuid.UUID, Delivery] = {}
    jobs: list[tuple[uuid.UUID, str, str, str, str]] = []
    for item in items:
        p = payloads[item.id]
        to = p.get("to") or emails.get(_uuid_or_none(p.get("user_id")))
        if not to:
            out[item.id] = Delivery(ok=False, error="no recipient address", permanent=True)
            continue
        message_id = f"<{hashlib.sha256(item.idempotency_key.encode()).hexdigest()[:32]}@complaintdesk>"
        jobs.append((item.id, str(to), str(p.get("title") or ""), str(p.get("body") or p.get("title") or ""),
                     message_id))
    gate = asyncio.Semaphore(MAIL_CONCURRENCY)
    down: list[Delivery] = []

    async def run(job: tuple[uuid.UUID, str, str, str, str]) -> None:
        item_id, to, subject, body, message_id = job
        async with gate:
            if down:
                out[item_id] = Delivery(ok=False, tried=False,
                                        error=f"{down[0].error} (not tried: unreachable earlier in the same batch)")
                return
            try:
                await asyncio.to_thread(_send_mail, server, sender, to, subject, body, message_id, now)
            except (OSError, smtplib.SMTPException) as exc:
                out[item_id] = _mail_failure(exc, server, to)
                if out[item_id].unreachable:
                    down.append(out[item_id])
                return
            except Exception as exc:  # a bug must not stop the batch
                logger.exception("e-mail %s raised", item_id)
                out[item_id] = Delivery(ok=False, error=f"internal error: {type(exc).__name__}")
                return
            out[item_id] = Delivery(ok=True, receipt={"messageId": message_id, "server": server.where},
                                    answered_at=clock())

    await asyncio.gather(*(run(job) for job in jobs))
    return out


async def _deliver(session: AsyncSession, item: OutboxItem, now: datetime) -> Delivery:
    return Delivery(ok=False, error=f"unknown kind {item.kind!r}", permanent=True)


async def _on_final(session: AsyncSession, item: OutboxItem, delivery: Delivery, now: datetime) -> None:
    """What hangs on a delivery: an escalation's state and receipt (same transaction)."""
    if item.kind != OutboxKind.WEBHOOK:
        return
    escalation = (await session.scalars(select(Escalation).where(Escalation.outbox_id == item.id))).first()
    if escalation is None:
        return
    if delivery.ok:
        escalation.state = EscalationState.DELIVERED.value
        escalation.delivered_at = delivery.answered_at or now
        escalation.receipt = delivery.receipt
        return
    escalation.state = EscalationState.FAILED.value
    escalation.receipt = {"error": delivery.error, **(delivery.receipt or {})}
    from services.core.complaints.models import Complaint

    owner = await session.scalar(select(Complaint.owner_id).where(Complaint.id == escalation.complaint_id))
    if owner is not None:
        await notify(session, user_ids=[owner], key=f"escalation-failed:{escalation.id}", kind="ESCALATION_FAILED",
                     title=msg("Escalation step {step} could not be delivered", step=escalation.step),
                     body=delivery.error,
                     complaint_id=escalation.complaint_id, now=now)


async def dispatch_due(
    session: AsyncSession, *, now: datetime, limit: int = 100, retry_seconds: float | None = None,
    attempts_max: int | None = None,
) -> DispatchResult:
    """Claim up to ``limit`` due pending items of this tenant, deliver them, record the results; commits.

    ``session`` is a tenant session outside a transaction. One transaction: the claim (``FOR UPDATE SKIP
    LOCKED``, so concurrent dispatchers take different rows), the deliveries, and the recorded results.
    """
    started = time.monotonic()  # the batch's clock runs from here: ``now`` is what the caller just read
    base = retry_base_seconds() if retry_seconds is None else retry_seconds
    most = max_attempts() if attempts_max is None else attempts_max
    result = DispatchResult()
    http = _Http()
    try:
        await _dispatch(session, now=now, started=started, limit=limit, base=base, most=most, result=result,
                        http=http)
    finally:
        await http.close()
    return result


async def _dispatch(session: AsyncSession, *, now: datetime, started: float, limit: int, base: float, most: int,
                    result: DispatchResult, http: _Http) -> None:
    def clock() -> datetime:
        """The batch's time now: ``now`` moved on by what the batch took (tests pass a ``now`` of their own)."""
        return now + timedelta(seconds=time.monotonic() - started)

    async with session.begin():
        # FOR NO KEY UPDATE: concurrent dispatchers still take different rows, and the in-flight marks (a foreign
        # key to these rows, in a transaction of their own) are not blocked by the claim
        items = list((await session.scalars(
            select(OutboxItem)
            .where(OutboxItem.state == OutboxState.PENDING.value, OutboxItem.next_attempt_at <= now)
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )).all())
        result.claimed = len(items)
        # each item's delivery continues the trace of the transaction that enqueued it (tracing on only)
        spans = [tracing.start_child(i.trace_context, f"outbox.dispatch {i.kind}", {
            "complaintdesk.outbox.id": str(i.id), "complaintdesk.outbox.kind": i.kind}) for i in items]
        try:
            await _deliver_batch(session, items, now=now, base=base, most=most, result=result, http=http,
                                 clock=clock)
        finally:
            for item, span in zip(items, spans, strict=True):
                tracing.end_child(span, {"complaintdesk.outbox.state": item.state})


async def _deliver_batch(session: AsyncSession, items: list[OutboxItem], *, now: datetime, base: float, most: int,
                         result: DispatchResult, http: _Http, clock: Callable[[], datetime]) -> None:
    """Deliver the claimed ``items`` and record the results, in the claim's transaction."""
    from services.core.messages import delivery as customer_messages

    external = [i.id for i in items if i.kind in (OutboxKind.WEBHOOK, OutboxKind.EMAIL, OutboxKind.MESSAGE)]
    if external:  # committed before the sends: a dispatcher killed mid-send leaves its attempts counted
        await _mark_inflight(session, external, now)
    done = await _deliver_notifications(
        session, [i for i in items if i.kind == OutboxKind.NOTIFICATION], now)
    done.update(await _deliver_webhooks(session, [i for i in items if i.kind == OutboxKind.WEBHOOK], http, clock))
    done.update(await _deliver_emails(session, [i for i in items if i.kind == OutboxKind.EMAIL], now, clock))
    messages = [i for i in items if i.kind == OutboxKind.MESSAGE]
    if messages:  # to the customer: rendered at delivery (services.core.messages.delivery)
        try:
            done.update(await customer_messages.deliver(session, messages, now, clock, http))
        except Exception as exc:  # a bug must not stop the batch (logged without the messages' content)
            logger.error("customer messages raised %s", type(exc).__name__)
            done.update({i.id: Delivery(ok=False, error=f"internal error: {type(exc).__name__}") for i in messages})
    tries: dict[uuid.UUID, int] = {}
    if external:
        tries = {item_id: n for item_id, n in (await session.execute(
            select(OutboxInflight.outbox_id, OutboxInflight.tries).where(OutboxInflight.outbox_id.in_(external))
        )).all()}
        await session.execute(delete(OutboxInflight).where(OutboxInflight.outbox_id.in_(external)))
    changes: list[dict[str, Any]] = []
    for item in items:
        delivery = done.get(item.id)
        if delivery is None:
            try:
                delivery = await _deliver(session, item, now)
            except Exception as exc:  # a bug or a bad row must not stop the batch
                logger.exception("outbox item %s (%s) raised", item.id, item.kind)
                delivery = Delivery(ok=False, error=f"internal error: {type(exc).__name__}")
        # this batch's attempt (if it tried), and those of dispatchers that died mid-send before it
        this_one = 1 if delivery.tried else 0
        attempts = item.attempts + (tries.get(item.id, 1) - 1 + this_one if item.id in tries else this_one)
        row: dict[str, Any] = {
            "id": item.id, "attempts": attempts, "receipt": delivery.receipt, "state": item.state,
            "sent_at": item.sent_at, "last_error": delivery.error, "next_attempt_at": item.next_attempt_at}
        changes.append(row)
        if delivery.ok:
            row.update(state=OutboxState.SENT.value, sent_at=delivery.answered_at or now, last_error=None)
            result.sent += 1
            result.by_kind[item.kind] = result.by_kind.get(item.kind, 0) + 1
            await _on_final(session, item, delivery, now)
        elif delivery.skipped:
            row["state"] = OutboxState.SKIPPED.value
            result.skipped += 1
        elif delivery.permanent or attempts >= most:
            row["state"] = OutboxState.FAILED.value
            result.failed += 1
            await _on_final(session, item, delivery, now)
        else:
            row["next_attempt_at"] = now + backoff(max(attempts, 1), base)
            result.retried += 1
    if changes:  # one statement for the batch (an UPDATE by primary key, executed for every row)
        await session.execute(update(OutboxItem), changes)
    if messages:
        by_id = {row["id"]: row for row in changes}
        await customer_messages.record_results(
            session, [(i, by_id[i.id], done[i.id]) for i in messages if i.id in done and i.id in by_id], now)


async def _mark_inflight(session: AsyncSession, item_ids: list[uuid.UUID], now: datetime) -> None:
    """Count an attempt for each item in a transaction of its own, committed before anything is sent."""
    schema = session.sync_session.info["tenant_schema"]
    statement = insert(OutboxInflight).values([{"outbox_id": i, "started_at": now, "tries": 1} for i in item_ids])
    statement = statement.on_conflict_do_update(
        index_elements=[OutboxInflight.outbox_id],
        set_={"tries": OutboxInflight.tries + 1, "started_at": statement.excluded.started_at})
    async with open_tenant_session(schema, shared=session.sync_session.info.get("shared_statements", False)) as own, \
            own.begin():
        await own.execute(statement)


async def retry_failed(
    session: AsyncSession, *, actor: Actor, now: datetime, item_ids: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """Put failed items back in the queue, due now with their attempts reset (an operator fixed the receiver or
    the address); the ids retried, in order. All or nothing: an id that is no item of this tenant is
    ``NOT_FOUND``, an item that is not failed ``ILLEGAL_TRANSITION`` (field ``["ids", "<index>"]``), and then
    nothing changes. One audit event names the items."""
    if not item_ids:
        raise DomainError(ErrorCode.REQUIRED, "name at least one failed item", ["ids"])
    if len(item_ids) > MAX_RETRY:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("at most {max_retry} items at once", max_retry=MAX_RETRY), ["ids"])
    wanted = list(dict.fromkeys(item_ids))
    found = (await session.execute(  # locked: a dispatcher or another retry waits for this transaction
        select(OutboxItem.id, OutboxItem.state).where(OutboxItem.id.in_(wanted)).order_by(OutboxItem.id)
        .with_for_update())).all()
    states: dict[uuid.UUID, str] = {item_id: state for item_id, state in found}
    for index, item_id in enumerate(item_ids):
        state = states.get(item_id)
        if state is None:
            raise DomainError(ErrorCode.NOT_FOUND, "outbox item not found", ["ids", str(index)])
        if state != OutboxState.FAILED.value:
            raise DomainError(ErrorCode.ILLEGAL_TRANSITION,
                              msg("the outbox item is {state}: only failed items can be retried", state=state),
                              ["ids", str(index)])
    await session.execute(update(OutboxItem).where(OutboxItem.id.in_(wanted))
                          .values(state=OutboxState.PENDING.value, next_attempt_at=now, attempts=0))
    await record_event(session, actor=actor, action="retry_outbox_items", subject_type="OutboxItem",
                       subject_id=wanted[0] if len(wanted) == 1 else None, now=now,
                       changes={"ids": [str(i) for i in wanted], "count": len(wanted)})
    return wanted
