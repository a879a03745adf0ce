"""Messages that reach the customer (issue 14 point 2), through GraphQL, a real SMTP server (aiosmtpd) and a real
HTTP SMS receiver: a retail case told by e-mail in English, a bank case told by SMS in Chinese, each allowed
message delivered once on its channel; no plaintext phone, e-mail or name in the outbox, the messages' rows,
Redis or the logs; refusals change nothing. These tests commit for real: tenants of their own, dropped after."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import raw_id, rows, scalar
from lifecycle import ok, record
from mailserver import MailServer
from receiver import WebhookReceiver, verify

from services.core.clock import FixedClock
from services.core.outbox.sweeper import sweep_tenant
from services.core.tenancy import TenantRef

SECRET = "sms-shared-secret-0001"
NAME, PHONE, EMAIL = "王小明", "13912345678", "wang.xm@example.net"
MESSAGES = """
query ($id: ID!) { complaint(id: $id) {
  number status preferredContact { channel address locale masked }
  messages { template channel locale state attempts sentAt deliveredAt }
  history(first: 100) { edges { node { action changes } } } } }
"""
SUBMIT = """mutation ($input: SubmitComplaintInput!) { submitComplaint(input: $input) {
  number accessCode userErrors { field code message } } }"""
UPDATE_CONTACT = """
mutation ($input: UpdateComplaintContactInput!) { updateComplaintContact(input: $input) {
  complaint { preferredContact { channel address locale } } userErrors { field code message } } }
"""


@pytest.fixture
async def two(tenants: Any) -> AsyncIterator[tuple[TenantRef, TenantRef]]:
    retail = await new_tenant("msgr", "retail")
    bank = await new_tenant("msgb", "bank")
    try:
        yield retail, bank
    finally:
        await drop_tenant(retail)
        await drop_tenant(bank)


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Any:
    with MailServer() as mail, WebhookReceiver() as sms:
        monkeypatch.setenv("COMPLAINTDESK_SMTP_URL", mail.url)
        monkeypatch.setenv("COMPLAINTDESK_SMTP_FROM", "complaints@desk.example")
        monkeypatch.setenv("COMPLAINTDESK_SMS_URL", sms.url)
        monkeypatch.setenv("COMPLAINTDESK_SMS_SECRET", SECRET)
        monkeypatch.setenv("COMPLAINTDESK_PUBLIC_URL", "https://desk.example")
        yield mail, sms


async def _body(tenant: TenantRef, name: str, contact: str) -> None:
    """An active external body where customers may re-complain (escalation level 1)."""
    from services.core.escalation.models import ExternalBodyKind
    from services.core.escalation.service import ExternalBodyInput, upsert_external_body
    from services.core.tenancy import tenant_session

    async with tenant_session(tenant) as session, session.begin():
        await upsert_external_body(session, now=datetime.now(UTC), data=ExternalBodyInput(
            name=name, kind=ExternalBodyKind.CONSUMER_ASSOCIATION, contact=contact, escalation_level=1))


def _person(**contact: Any) -> dict[str, Any]:
    return {"complainant": {"name": NAME, "phone": PHONE, "email": EMAIL}, **contact}


async def _sweep(tenant: TenantRef, at: datetime | None = None) -> None:
    await sweep_tenant(tenant, clock=FixedClock(at or datetime.now(UTC)))


async def _case(gql: GraphQLClient, slug: str, cid: str) -> dict[str, Any]:
    data: dict[str, Any] = (await gql(MESSAGES, {"id": cid}, tenant=slug))["complaint"]
    return data


def _sms_for(sms: WebhookReceiver, number: str) -> list[dict[str, Any]]:
    return [json.loads(body) for body in sms.accepted.values() if number in json.loads(body)["text"]]


async def _no_plaintext_anywhere(tenants: list[TenantRef], caplog: pytest.LogCaptureFixture) -> None:
    """The phone, e-mail and name written are in no outbox row, message row, notification, Redis key or value,
    nor in the captured logs."""
    secrets = [NAME, PHONE, EMAIL]
    needles = [*secrets, *(s.encode().hex() for s in secrets)]
    for t in tenants:
        for table in ("outbox", "outgoing_messages", "notifications", "customer_notices"):
            dump = str(await scalar(f'SELECT string_agg(t::text, \'|\') FROM "{t.schema}".{table} t'))
            for needle in needles:
                assert needle not in dump, (table, needle)
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        parts: list[bytes] = [key]
        if kind == "string":
            parts.append(client.get(key) or b"")
        elif kind == "list":
            parts += client.lrange(key, 0, -1)
        elif kind == "hash":
            for k, v in client.hgetall(key).items():
                parts += [k, v]
        elif kind == "set":
            parts += list(client.smembers(key))
        elif kind == "zset":
            parts += [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        blob = b"|".join(parts)
        for s in secrets:
            assert s.encode() not in blob, (key, s)
    client.close()
    # every log record of the run but the test's own SMTP server's (the customer's mail server stands in there)
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert logged  # the capture saw the run's records (a scan of nothing proves nothing)
    for s in secrets:
        assert s not in logged


async def test_a_retail_case_tells_the_customer_each_allowed_message_once_by_email(
        gql: GraphQLClient, two: tuple[TenantRef, TenantRef], channels: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    retail, bank = two
    mail, sms = channels
    t = retail.slug
    await _body(retail, "Shanghai Consumer Council", "12315")
    case = await record(gql, t, user="all@test.example",
                        **_person(preferredContact={"channel": "EMAIL", "locale": "en"}))
    cid, number, code = case["id"], case["number"], case["accessCode"]
    # a look-alike case in the other tenant, same person: it must not be mixed in
    other = await record(gql, bank.slug, user="all@test.example", **_person())
    await _sweep(retail)
    # the case moves on: a valid complaint, a solution approved by someone else, sent; agreed, implemented
    units = {u["code"]: u["id"] for u in (await gql("query { orgUnits { id code } }", tenant=t))["orgUnits"]}
    await ok(gql, "startInvestigation", t, "all@test.example", complaintId=cid)
    await ok(gql, "submitInvestigation", t, "all@test.example", complaintId=cid, valid=True, findings="Leaks.")
    await ok(gql, "assignResponsibleDepartment", t, "all@test.example", complaintId=cid, departmentId=units["PROD"])
    await ok(gql, "proposeSolution", t, "all@test.example", complaintId=cid, solution="Replace the kettle",
             customerReply="We will replace your kettle free of charge.")
    await ok(gql, "approveHandlingForm", t, "all2@test.example", complaintId=cid)
    await ok(gql, "sendCustomerMessage", t, "all@test.example", complaintId=cid)
    await ok(gql, "recordCustomerOpinion", t, "all@test.example", complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", t, "all@test.example", complaintId=cid)
    # not satisfied: the case reopens and the customer is told where to re-complain (the template's GUIDE)
    await ok(gql, "recordFollowUp", t, "all@test.example", complaintId=cid, rating="DISSATISFIED")
    await _sweep(retail)
    await _sweep(retail)  # nothing more goes out on a second pass
    mine = [m.message for m in mail.received if m.rcpt_tos == [EMAIL] and number in str(m.message["Subject"])]
    subjects = sorted(str(m["Subject"]) for m in mine)
    company = await scalar("SELECT display_name FROM public.tenants WHERE slug = :s", s=t)
    assert subjects == sorted([
        f"{company}: your complaint {number} was received",
        f"{company}: our answer to complaint {number}",
        f"{company}: how did we handle complaint {number}?",
        f"{company}: where else to turn about complaint {number}",
    ])
    assert all(m["To"] == EMAIL for m in mine)
    assert len({m["Message-ID"] for m in mine}) == 4
    by_subject = {str(m["Subject"]): m.get_content() for m in mine}
    ack = by_subject[f"{company}: your complaint {number} was received"]
    assert code in ack and NAME in ack and "5 working days" in ack and f"https://desk.example/track/{number}" in ack
    assert "We will replace your kettle free of charge." in by_subject[f"{company}: our answer to complaint {number}"]
    assert "you may complain to: Shanghai Consumer Council (12315)" in by_subject[
        f"{company}: where else to turn about complaint {number}"]
    assert f"https://desk.example/track/{number}/survey" in by_subject[
        f"{company}: how did we handle complaint {number}?"]
    assert sms.accepted == {}  # e-mail was asked for: no SMS at all
    view = await _case(gql, t, cid)
    assert view["preferredContact"] == {"channel": "EMAIL", "address": EMAIL, "locale": "en", "masked": False}
    assert [(m["template"], m["channel"], m["state"], m["attempts"]) for m in view["messages"]] == [
        ("ACKNOWLEDGEMENT", "EMAIL", "SENT", 1), ("APPROVED_ANSWER", "EMAIL", "SENT", 1),
        ("SATISFACTION_SURVEY", "EMAIL", "SENT", 1), ("RECOMPLAINT_GUIDANCE", "EMAIL", "SENT", 1)]
    assert all(m["sentAt"] is not None and m["deliveredAt"] is None for m in view["messages"])
    sent_events = [e["node"]["changes"]["kind"] for e in view["history"]["edges"]
                   if e["node"]["action"] == "customer_message_sent"]
    assert sorted(sent_events) == sorted(m["template"] for m in view["messages"])  # the timeline shows each
    # the access code is no longer kept anywhere once the acknowledgement went out
    async with _raw_session(retail) as session:
        from sqlalchemy import select

        from services.core.messages.models import OutgoingMessage

        found = (await session.scalars(select(OutgoingMessage).where(
            OutgoingMessage.kind == "ACKNOWLEDGEMENT", OutgoingMessage.complaint_id == raw_id(cid)))).one()
        assert not (found.params or {}).get("accessCode")
    # the other tenant's look-alike case has its own acknowledgement (by e-mail, its default), not these
    other_view = await _case(gql, bank.slug, other["id"])
    assert [m["template"] for m in other_view["messages"]] == ["ACKNOWLEDGEMENT"]
    await _no_plaintext_anywhere([retail, bank], caplog)


def _raw_session(tenant: TenantRef) -> Any:
    from services.core.tenancy import tenant_session

    return tenant_session(tenant)


async def test_a_bank_case_tells_the_customer_by_sms_in_chinese(
        gql: GraphQLClient, two: tuple[TenantRef, TenantRef], channels: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    retail, bank = two
    mail, sms = channels
    t = bank.slug
    case = await record(gql, t, user="all@test.example",
                        **_person(preferredContact={"channel": "SMS", "locale": "zh-CN"}))
    cid, number, code = case["id"], case["number"], case["accessCode"]
    reason = "涉及多个账户流水，需要调取核实"
    extended = (await gql("""mutation ($input: ExtendDeadlineInput!) { extendDeadline(input: $input) {
        userErrors { code } } }""", {"input": {"complaintId": cid, "reason": reason, "complex": True}},
                          tenant=t))["extendDeadline"]
    assert extended["userErrors"] == []
    await ok(gql, "startInvestigation", t, "all@test.example", complaintId=cid)
    await ok(gql, "submitInvestigation", t, "all@test.example", complaintId=cid, valid=False,
             findings="交易为本人操作")
    opinion = "经核查，该笔交易为您本人授权操作，投诉不成立。"
    await ok(gql, "proposeOpinion", t, "all@test.example", complaintId=cid, opinion=opinion)
    await ok(gql, "approveHandlingForm", t, "all2@test.example", complaintId=cid)
    await ok(gql, "sendCustomerMessage", t, "all@test.example", complaintId=cid)
    await ok(gql, "requestReview", t, "all@test.example", complaintId=cid, reason="我不同意")
    users = {u["email"]: u["id"] for u in (await gql("query { users { id email } }", tenant=t))["users"]}
    await ok(gql, "assignReviewer", t, "all@test.example", complaintId=cid,
             reviewerId=users["reviewer@test.example"])
    answer = "经复核，维持原调查意见。"
    await ok(gql, "answerReview", t, "reviewer@test.example", complaintId=cid, outcome="UPHELD", answer=answer)
    await _sweep(bank)
    await _sweep(bank)
    texts = _sms_for(sms, number)
    assert all(m["to"] == PHONE for m in texts)
    assert len(texts) == 5, [m["text"] for m in texts]
    joined = [m["text"] for m in texts]
    assert any(code in x and "已受理" in x and "15 日" in x for x in joined)
    assert any(reason in x and "延长至" in x for x in joined)
    assert any(opinion in x for x in joined)
    assert any(answer in x for x in joined)
    assert any("银行业协会" in x for x in joined)
    for body in sms.accepted.values():  # every request signed with the shared secret
        assert any(verify(SECRET, body, r.signature) for r in sms.requests if r.body == body)
    assert [m for m in mail.received if EMAIL in m.rcpt_tos] == []  # SMS was asked for: no e-mail to the customer
    view = await _case(gql, t, cid)
    assert sorted((m["template"], m["channel"], m["locale"], m["state"], m["attempts"]) for m in view["messages"]) == [
        ("ACKNOWLEDGEMENT", "SMS", "zh-CN", "SENT", 1), ("DEADLINE_EXTENDED", "SMS", "zh-CN", "SENT", 1),
        ("RECOMPLAINT_GUIDANCE", "SMS", "zh-CN", "SENT", 1), ("REVIEW_ANSWER", "SMS", "zh-CN", "SENT", 1),
        ("UNFOUNDED_OPINION", "SMS", "zh-CN", "SENT", 1)]
    assert view["preferredContact"] == {"channel": "SMS", "address": PHONE, "locale": "zh-CN", "masked": False}
    masked = (await gql(MESSAGES, {"id": cid}, tenant=t, user="handler@test.example"))["complaint"]
    assert masked is None or masked["preferredContact"]["address"] == "139****5678"
    await _no_plaintext_anywhere([retail, bank], caplog)


async def test_a_late_answer_tells_the_customer_once_per_breach(
        gql: GraphQLClient, two: tuple[TenantRef, TenantRef], channels: Any) -> None:
    retail, _ = two
    mail, _ = channels
    case = await record(gql, retail.slug, user="all@test.example", **_person())  # default: e-mail
    await _sweep(retail)
    later = datetime.now(UTC) + timedelta(days=40)
    await _sweep(retail, later)
    await _sweep(retail, later + timedelta(minutes=1))
    breaches = await scalar(f"""SELECT count(*) FROM "{retail.schema}".customer_notices
                                WHERE kind = 'DEADLINE_BREACHED' AND complaint_id = :c""", c=raw_id(case["id"]))
    assert breaches >= 1
    view = await _case(gql, retail.slug, case["id"])
    delays = [m for m in view["messages"] if m["template"] == "DELAY_NOTICE"]
    assert len(delays) == breaches and all(m["state"] == "SENT" and m["locale"] == "zh-CN" for m in delays)
    late = [m for m in mail.received if m.rcpt_tos == [EMAIL] and "未能按期答复" in str(m.message["Subject"])]
    assert len(late) == breaches


async def test_post_or_phone_is_a_task_for_the_owner_and_contact_changes_are_refused_without_rights(
        gql: GraphQLClient, two: tuple[TenantRef, TenantRef], channels: Any) -> None:
    retail, bank = two
    mail, sms = channels
    # submitted online, to be answered by post: the owner (the tenant's first receiver) is tasked
    submitted = (await gql(SUBMIT, {"input": {**_person(preferredContact={
        "channel": "POST", "address": "上海市黄浦区南京东路1号"}), "title": "Late delivery",
        "description": "Ordered online, never came."}}, tenant=retail.slug, user=None))["submitComplaint"]
    assert submitted["userErrors"] == []
    number = submitted["number"]
    found = await rows(f'SELECT id FROM "{retail.schema}".complaints WHERE number = :n', n=number)
    case = {"id": base64.b64encode(f"Complaint:{found[0].id}".encode()).decode(), "number": number}
    # recorded by phone by its owner, who gives the number and code there and then: no task for that
    by_phone = await record(gql, retail.slug, user="receiver@test.example",
                            **_person(preferredContact={"channel": "PHONE"}))
    await _sweep(retail)
    view = await _case(gql, retail.slug, case["id"])
    assert [(m["template"], m["channel"], m["state"]) for m in view["messages"]] == [
        ("ACKNOWLEDGEMENT", "POST", "TASKED")]
    assert [(m["template"], m["channel"], m["state"]) for m in (await _case(gql, retail.slug, by_phone["id"]))[
        "messages"]] == [("ACKNOWLEDGEMENT", "PHONE", "TASKED")]
    task = await rows(f"""SELECT n.title, n.complaint_id, n.user_id FROM "{retail.schema}".notifications n
                          WHERE n.kind = 'CUSTOMER_NOTICE'""")
    owner = await scalar(f'SELECT owner_id FROM "{retail.schema}".complaints WHERE id = :c', c=found[0].id)
    # in the owner's language: they chose none, so the tenant's default (zh-CN)
    assert [(r.title, r.complaint_id, r.user_id) for r in task] == [(
        f"投诉 {number}：请以邮寄方式告知客户受理回执（投诉编号和查询码）", found[0].id, owner)]
    assert [m for m in mail.received if EMAIL in m.rcpt_tos] == [] and sms.accepted == {}
    # an investigator may not change the contact; a malformed e-mail is refused; nothing changes either way
    before = await rows(f'SELECT contact_channel, contact_locale, updated_at FROM "{retail.schema}".complaints '
                        "WHERE id = :c", c=raw_id(case["id"]))
    events = await scalar(f'SELECT count(*) FROM "{retail.schema}".audit_events')
    owner_email = await scalar(f'SELECT email FROM "{retail.schema}".users WHERE id = :u', u=owner)
    denied = (await gql(UPDATE_CONTACT, {"input": {"complaintId": case["id"], "contact": {"channel": "SMS"}}},
                        tenant=retail.slug, user="investigator@test.example"))["updateComplaintContact"]
    assert [e["code"] for e in denied["userErrors"]] == ["NOT_ALLOWED"]
    bad = (await gql(UPDATE_CONTACT, {"input": {"complaintId": case["id"], "contact": {
        "channel": "EMAIL", "address": "not-an-address"}}}, tenant=retail.slug, user=owner_email))[
        "updateComplaintContact"]
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [("INVALID", ["contact", "address"])]
    # the other tenant's user cannot reach it either
    foreign = await gql(UPDATE_CONTACT, {"input": {"complaintId": case["id"], "contact": {"channel": "SMS"}}},
                        tenant=bank.slug, user="all@test.example")
    assert [e["code"] for e in foreign["updateComplaintContact"]["userErrors"]] == ["NOT_FOUND"]
    assert await rows(f'SELECT contact_channel, contact_locale, updated_at FROM "{retail.schema}".complaints '
                      "WHERE id = :c", c=raw_id(case["id"])) == before
    assert await scalar(f'SELECT count(*) FROM "{retail.schema}".audit_events') == events
    # the owner switches the customer to SMS: the next message goes out by SMS
    changed = (await gql(UPDATE_CONTACT, {"input": {"complaintId": case["id"], "contact": {
        "channel": "SMS", "locale": "en"}}}, tenant=retail.slug, user=owner_email))
    assert changed["updateComplaintContact"]["complaint"]["preferredContact"] == {
        "channel": "SMS", "address": PHONE, "locale": "en"}
