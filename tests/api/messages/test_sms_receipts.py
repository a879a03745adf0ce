"""SMS delivery receipts (issue 14 point 2's delivered times): the provider calls ``POST /sms/receipts`` of a real
``complaintdesk serve`` over HTTP, signed with the outgoing webhook's secret. A good receipt marks the message
DELIVERED with the provider's time (``Complaint.messages``, the audit trail), once; a bad or missing signature is
401 and an unknown message 404, a message of another tenant 404 too, and none of them changes anything."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import raw_id, rows, scalar
from lifecycle import record

SECRET = "sms-receipt-secret-0042"
MESSAGES = """query ($id: ID!) { complaint(id: $id) { messages { template channel state deliveredAt } } }"""


def _signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, str]:
    data = json.dumps(body).encode()
    return data, "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def _post(api: Any, data: bytes, signature: str | None, tenant: str) -> httpx.Response:
    headers = {"content-type": "application/json", "x-tenant": tenant}
    if signature is not None:
        headers["x-complaintdesk-signature"] = signature
    return httpx.post(api.base + "/sms/receipts", content=data, headers=headers, timeout=30.0)


async def _state(schema: str, message_id: uuid.UUID) -> tuple[Any, ...]:
    found = await rows(f'SELECT state, delivered_at, sent_at FROM "{schema}".outgoing_messages WHERE id = :m',
                       m=message_id)
    return tuple(found[0])


async def test_a_signed_receipt_marks_the_sms_delivered_once(gql: GraphQLClient, served: Any,
                                                             servers: dict[str, str]) -> None:
    case = await record(gql, TENANT_A, preferredContact={"channel": "SMS"})
    cid = raw_id(case["id"])
    schema = "tenant_alpha"
    message_id = await scalar(f"""SELECT id FROM "{schema}".outgoing_messages WHERE complaint_id = :c
                                  AND channel = 'SMS'""", c=cid)
    before = await _state(schema, message_id)
    assert before[0] in ("PENDING", "SENT") and before[1] is None
    events = await scalar(f'SELECT count(*) FROM "{schema}".audit_events WHERE subject_id = :c', c=cid)
    api = served(servers["database_url"], servers["redis_url"], COMPLAINTDESK_SMS_SECRET=SECRET)
    # the provider's time, in its own offset (an hour ago: a receipt never dates a delivery in the future)
    at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    receipt = {"messageId": str(message_id), "status": "DELIVERED",
               "deliveredAt": at.astimezone(timezone(timedelta(hours=8))).isoformat()}
    data, good = _signed(receipt)

    # refused, nothing changes: no signature, a wrong one, one made with another secret, the body altered
    altered = json.dumps({**receipt, "messageId": str(uuid.uuid4())}).encode()
    for body, signature in ((data, None), (data, "sha256=" + "0" * 64), (data, _signed(receipt, "other")[1]),
                            (altered, good)):
        refused = _post(api, body, signature, TENANT_A)
        assert (refused.status_code, refused.json()) == (401, {"error": "UNAUTHENTICATED"})
    # another tenant's receipt for this id: not found there
    other = _post(api, data, good, TENANT_B)
    assert (other.status_code, other.json()) == (404, {"error": "NOT_FOUND"})
    # an unknown message, properly signed: not found
    unknown, signature = _signed({**receipt, "messageId": str(uuid.uuid4())})
    missing = _post(api, unknown, signature, TENANT_A)
    assert (missing.status_code, missing.json()) == (404, {"error": "NOT_FOUND"})
    assert await _state(schema, message_id) == before
    assert await scalar(f'SELECT count(*) FROM "{schema}".audit_events WHERE subject_id = :c', c=cid) == events

    accepted = _post(api, data, good, TENANT_A)
    assert (accepted.status_code, accepted.json()) == (200, {"state": "DELIVERED"})
    again = _post(api, data, good, TENANT_A)  # the provider retries: nothing more happens
    assert (again.status_code, again.json()) == (200, {"state": "DELIVERED"})
    view = (await gql(MESSAGES, {"id": case["id"]}, tenant=TENANT_A))["complaint"]["messages"]
    sms = [m for m in view if m["channel"] == "SMS"]
    assert sms == [{"template": "ACKNOWLEDGEMENT", "channel": "SMS", "state": "DELIVERED",
                    "deliveredAt": at.isoformat()}]  # the API answers in UTC
    assert await scalar(f"""SELECT count(*) FROM "{schema}".audit_events WHERE subject_id = :c
                            AND action = 'customer_message_delivered'""", c=cid) == 1
