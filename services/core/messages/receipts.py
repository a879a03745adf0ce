"""SMS delivery receipts: the provider calls back when a message reached the customer.

The callback is signed like the outgoing webhook (HMAC-SHA256 of the body with ``COMPLAINTDESK_SMS_SECRET``, in
``X-Complaintdesk-Signature: sha256=<hex>``); ``verified`` checks it in constant time, and a platform without the
secret accepts no receipt. ``record_receipt`` marks the tenant's SMS message ``DELIVERED`` with the time the provider
gives (else now), once: a receipt repeated changes nothing; an unknown message (or not an SMS, or another tenant's)
is ``NOT_FOUND``; a message the platform gave up on or never sent (``FAILED``, ``TASKED``) is ``ILLEGAL_TRANSITION``.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import Actor, record_event
from services.core.config import secret_setting
from services.core.errors import DomainError, ErrorCode
from services.core.messages.delivery import SMS_SECRET_ENV
from services.core.messages.models import ContactChannel, MessageState, OutgoingMessage
from services.core.outbox import service as outbox


def verified(body: bytes, given: str | None) -> bool:
    """The body is signed with the SMS secret (False when no secret is configured: nothing can be checked)."""
    secret = secret_setting(SMS_SECRET_ENV)
    if not secret or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), outbox.signature(secret, body).encode())


async def record_receipt(session: AsyncSession, *, message_id: uuid.UUID, delivered_at: datetime | None,
                         now: datetime) -> OutgoingMessage:
    """Mark the SMS message delivered (in the caller's transaction); the message as it is now."""
    message = (await session.scalars(select(OutgoingMessage).where(
        OutgoingMessage.id == message_id, OutgoingMessage.channel == ContactChannel.SMS.value)
        .with_for_update())).first()
    if message is None:
        raise DomainError(ErrorCode.NOT_FOUND, "message not found", ["messageId"])
    if message.state == MessageState.DELIVERED.value:
        return message  # the provider said so before
    if message.state not in (MessageState.SENT.value, MessageState.PENDING.value):
        raise DomainError(ErrorCode.ILLEGAL_TRANSITION, "this message was not sent", ["messageId"])
    at = min(delivered_at, now) if delivered_at is not None else now
    message.state = MessageState.DELIVERED.value
    message.delivered_at = at
    message.sent_at = message.sent_at or at
    await record_event(session, actor=Actor.system(), action="customer_message_delivered", subject_type="Complaint",
                       subject_id=message.complaint_id, now=now,
                       changes={"messageId": str(message.id), "kind": message.kind, "channel": message.channel,
                                "state": message.state})
    await session.flush()
    return message
