"""The outbox: side effects recorded in the caller's transaction, delivered later by the sweeper.

``enqueue`` writes one row keyed by an idempotency key (``ON CONFLICT DO NOTHING``): the same effect
enqueued twice (a retried request, a redelivered message, two sweepers) stays one row. ``dispatch_due``
claims due rows ``FOR UPDATE SKIP LOCKED`` and records each result in the same transaction as the claim,
after the delivery: a crash before the commit leaves the row pending, and it is delivered again (a webhook
receiver drops the duplicate by its ``Idempotency-Key``). An in-app notification is a row written in that
same transaction, so it is delivered exactly once.
"""

from __future__ import annotations

import asyncio
import email.message
import hashlib
import hmac
import logging
import os
import smtplib
import ssl
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.core.crypto.fields import aad, seal, writable_keyring
from services.core.escalation.models import Escalation, EscalationState, ExternalBody
from services.core.org.models import OrgUnit, User
from services.core.outbox.models import Notification, OutboxItem, OutboxKind, OutboxState

logger = logging.getLogger("complaintdesk.outbox")

SIGNATURE_HEADER = "X-Complaintdesk-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SMTP_ENV = "COMPLAINTDESK_SMTP_URL"
SMTP_FROM_ENV = "COMPLAINTDESK_SMTP_FROM"
RETRY_BASE_ENV = "COMPLAINTDESK_OUTBOX_RETRY_SECONDS"
MAX_ATTEMPTS_ENV = "COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS"
MAX_BACKOFF = timedelta(hours=6)
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_CONCURRENCY = 16
SUPERVISOR_ROLES = ("manager", "store_manager")


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


def _seal_payload(sync: Session, item_id: uuid.UUID, payload: dict[str, Any]) -> bytes:
    ring = writable_keyring(sync)
    return seal(ring, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS),
                aad(ring.tenant, OutboxItem.__tablename__, "payload", item_id))


async def enqueue(
    session: AsyncSession, kind: OutboxKind, key: str, payload: dict[str, Any], *, target: str, now: datetime,
    complaint_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Record a side effect in the caller's transaction; the id of the new row, or None if the key exists."""
    if not key or len(key) > 200:
        raise ValueError("an idempotency key is 1-200 characters")
    item_id = uuid.uuid4()
    blob = await session.run_sync(_seal_payload, item_id, payload)
    statement = (
        insert(OutboxItem)
        .values(id=item_id, kind=kind.value, idempotency_key=key, target=target, payload=blob,
                complaint_id=complaint_id, state=OutboxState.PENDING.value, attempts=0, next_attempt_at=now,
                created_at=now)
        .on_conflict_do_nothing(index_elements=[OutboxItem.idempotency_key])
        .returning(OutboxItem.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def notify(
    session: AsyncSession, *, user_ids: Iterable[uuid.UUID], key: str, kind: str, title: str, now: datetime,
    body: str | None = None, complaint_id: uuid.UUID | None = None, email: bool = False,
) -> int:
    """In-app notifications (and e-mails, if asked) for each user, keyed ``<key>:<user>``; how many are new."""
    new = 0
    for user_id in dict.fromkeys(user_ids):
        message = {"user_id": str(user_id), "kind": kind, "title": title[:300], "body": body,
                   "complaint_id": str(complaint_id) if complaint_id else None}
        if await enqueue(session, OutboxKind.NOTIFICATION, f"{key}:notify:{user_id}", message,
                         target=f"user:{user_id}", now=now, complaint_id=complaint_id) is not None:
            new += 1
        if email:
            await enqueue(session, OutboxKind.EMAIL, f"{key}:email:{user_id}", message, target=f"user:{user_id}",
                          now=now, complaint_id=complaint_id)
    return new


async def supervisors_of(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Who supervises a user: active managers (or store managers) of their org unit or the unit above it."""
    unit_id = await session.scalar(select(User.org_unit_id).where(User.id == user_id))
    if unit_id is None:
        return []
    parent = await session.scalar(select(OrgUnit.parent_id).where(OrgUnit.id == unit_id))
    units = [u for u in (unit_id, parent) if u is not None]
    found = await session.scalars(
        select(User.id).where(User.active.is_(True), User.org_unit_id.in_(units), User.id != user_id,
                              User.roles.overlap(list(SUPERVISOR_ROLES))).order_by(User.email)
    )
    return list(found.all())


# ------------------------------------------------------------------ delivery


@dataclass
class Delivery:
    ok: bool
    receipt: dict[str, Any] | None = None
    error: str | None = None
    skipped: bool = False  # the channel is not configured: recorded as skipped, never as sent
    permanent: bool = False  # retrying cannot help (no such user, no webhook URL)


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


async def _post_webhook(http: _Http, key: str, url: str, secret: str | None, payload: dict[str, Any]) -> Delivery:
    data = body_bytes(payload)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key, "User-Agent": "complaintdesk-outbox"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, data)
    try:
        response = await http.post(url, data, headers)
    except httpx.HTTPError as exc:
        return Delivery(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    receipt: dict[str, Any] = {"status": response.status_code,
                               "bodySha256": hashlib.sha256(response.content).hexdigest()}
    try:
        answer = response.json()
        if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
            receipt["receiverId"] = str(answer["id"])[:200]
    except ValueError:
        pass
    if 200 <= response.status_code < 300:
        return Delivery(ok=True, receipt=receipt)
    return Delivery(ok=False, receipt=receipt, error=f"HTTP {response.status_code}")


async def _deliver_webhooks(session: AsyncSession, items: list[OutboxItem], http: _Http
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
                out[job[0]] = await _post_webhook(http, *job[1:])
            except Exception as exc:
                logger.exception("webhook %s raised", job[1])
                out[job[0]] = Delivery(ok=False, error=f"internal error: {type(exc).__name__}")

    await asyncio.gather(*(run(job) for job in jobs))
    return out


def _send_mail(url: str, sender: str, to: str, subject: str, text_: str, message_id: str) -> None:
    parts = urlsplit(url)
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = message_id  # the idempotency key: a resent copy carries the same id
    msg.set_content(text_)
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    smtp: smtplib.SMTP = (smtplib.SMTP_SSL(parts.hostname or "", port, timeout=WEBHOOK_TIMEOUT_S,
                                           context=ssl.create_default_context())
                          if parts.scheme == "smtps" else smtplib.SMTP(parts.hostname or "", port,
                                                                       timeout=WEBHOOK_TIMEOUT_S))
    with smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(msg)


async def _deliver_email(session: AsyncSession, item: OutboxItem, payload: dict[str, Any]) -> Delivery:
    url = os.environ.get(SMTP_ENV, "").strip()
    if not url:
        return Delivery(ok=False, skipped=True, error=f"no mail server is configured ({SMTP_ENV} is not set)")
    user = await session.get(User, uuid.UUID(payload["user_id"])) if payload.get("user_id") else None
    to = payload.get("to") or (user.email if user is not None else None)
    if not to:
        return Delivery(ok=False, error="no recipient address", permanent=True)
    sender = os.environ.get(SMTP_FROM_ENV, "complaintdesk@localhost")
    message_id = f"<{hashlib.sha256(item.idempotency_key.encode()).hexdigest()[:32]}@complaintdesk>"
    try:
        await asyncio.to_thread(_send_mail, url, sender, to, str(payload.get("title") or ""),
                                str(payload.get("body") or payload.get("title") or ""), message_id)
    except (OSError, smtplib.SMTPException) as exc:
        return Delivery(ok=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
    return Delivery(ok=True, receipt={"messageId": message_id})


async def _deliver(session: AsyncSession, item: OutboxItem, now: datetime) -> Delivery:
    payload: dict[str, Any] = item.payload
    if item.kind == OutboxKind.EMAIL:
        return await _deliver_email(session, item, payload)
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
        escalation.delivered_at = now
        escalation.receipt = delivery.receipt
        return
    escalation.state = EscalationState.FAILED.value
    escalation.receipt = {"error": delivery.error, **(delivery.receipt or {})}
    from services.core.complaints.models import Complaint

    owner = await session.scalar(select(Complaint.owner_id).where(Complaint.id == escalation.complaint_id))
    if owner is not None:
        await notify(session, user_ids=[owner], key=f"escalation-failed:{escalation.id}", kind="ESCALATION_FAILED",
                     title=f"Escalation step {escalation.step} could not be delivered", body=delivery.error,
                     complaint_id=escalation.complaint_id, now=now)


async def dispatch_due(
    session: AsyncSession, *, now: datetime, limit: int = 100, retry_seconds: float | None = None,
    attempts_max: int | None = None,
) -> DispatchResult:
    """Claim up to ``limit`` due pending items of this tenant, deliver them, record the results; commits.

    ``session`` is a tenant session outside a transaction. One transaction: the claim (``FOR UPDATE SKIP
    LOCKED``, so concurrent dispatchers take different rows), the deliveries, and the recorded results.
    """
    base = retry_base_seconds() if retry_seconds is None else retry_seconds
    most = max_attempts() if attempts_max is None else attempts_max
    result = DispatchResult()
    http = _Http()
    try:
        await _dispatch(session, now=now, limit=limit, base=base, most=most, result=result, http=http)
    finally:
        await http.close()
    return result


async def _dispatch(session: AsyncSession, *, now: datetime, limit: int, base: float, most: int,
                    result: DispatchResult, http: _Http) -> None:
    async with session.begin():
        items = list((await session.scalars(
            select(OutboxItem)
            .where(OutboxItem.state == OutboxState.PENDING.value, OutboxItem.next_attempt_at <= now)
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )).all())
        result.claimed = len(items)
        done = await _deliver_notifications(
            session, [i for i in items if i.kind == OutboxKind.NOTIFICATION], now)
        done.update(await _deliver_webhooks(session, [i for i in items if i.kind == OutboxKind.WEBHOOK], http))
        for item in items:
            delivery = done.get(item.id)
            if delivery is None:
                try:
                    delivery = await _deliver(session, item, now)
                except Exception as exc:  # a bug or a bad row must not stop the batch
                    logger.exception("outbox item %s (%s) raised", item.id, item.kind)
                    delivery = Delivery(ok=False, error=f"internal error: {type(exc).__name__}")
            item.attempts += 1
            item.receipt = delivery.receipt
            if delivery.ok:
                item.state, item.sent_at, item.last_error = OutboxState.SENT.value, now, None
                result.sent += 1
                result.by_kind[item.kind] = result.by_kind.get(item.kind, 0) + 1
                await _on_final(session, item, delivery, now)
            elif delivery.skipped:
                item.state, item.last_error = OutboxState.SKIPPED.value, delivery.error
                result.skipped += 1
            elif delivery.permanent or item.attempts >= most:
                item.state, item.last_error = OutboxState.FAILED.value, delivery.error
                result.failed += 1
                await _on_final(session, item, delivery, now)
            else:
                item.last_error = delivery.error
                item.next_attempt_at = now + backoff(item.attempts, base)
                result.retried += 1


async def retry_failed(session: AsyncSession, *, now: datetime, item_ids: Iterable[uuid.UUID]) -> int:
    """Put failed items back in the queue (an operator fixed the receiver)."""
    done = await session.execute(
        update(OutboxItem).where(OutboxItem.id.in_(list(item_ids)), OutboxItem.state == OutboxState.FAILED.value)
        .values(state=OutboxState.PENDING.value, next_attempt_at=now, attempts=0)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
