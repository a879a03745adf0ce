"""The DIGEST preference: one e-mail a day per user summing up the day before's notifications, through a real
SMTP server, exactly once however often the sweep runs; IN_APP users get none; two tenants, each user their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import scalar
from mailserver import MailServer

from services.core.outbox.digest import send_digests
from services.core.outbox.service import dispatch_due, notify
from services.core.outbox.sweeper import sweep_all
from services.core.tenancy import TenantRef, tenant_session

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)  # the notifications' day (tenant time)
PREFS = """mutation ($input: UpdateMyPreferencesInput!) { updateMyPreferences(input: $input) {
  userErrors { code } } }"""


@pytest.fixture
async def two(tenants: Any) -> AsyncIterator[tuple[TenantRef, TenantRef]]:
    a = await new_tenant("dga", "retail")
    b = await new_tenant("dgb", "bank")
    try:
        yield a, b
    finally:
        await drop_tenant(a)
        await drop_tenant(b)


async def _user(t: TenantRef, email: str) -> uuid.UUID:
    found: uuid.UUID = await scalar(f'SELECT id FROM "{t.schema}".users WHERE email = :e', e=email)
    return found


async def _notes(t: TenantRef, email: str, titles: list[str], at: datetime) -> None:
    user = await _user(t, email)
    async with tenant_session(t) as session:
        async with session.begin():
            for i, title in enumerate(titles):
                await notify(session, user_ids=[user], key=f"test:{uuid.uuid4()}:{i}", kind="TEST", title=title,
                             now=at)
        await dispatch_due(session, now=at)  # the in-app rows, created that day


async def test_a_daily_digest_reaches_each_digest_user_once(gql: GraphQLClient, two: tuple[TenantRef, TenantRef],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = two
    # each reads the digest in their own language: alpha's receiver in English, beta's in Chinese
    for t, email, locale in ((a, "receiver@test.example", "en"), (b, "receiver@test.example", "zh-CN")):
        got = await gql(PREFS, {"input": {"notifications": "DIGEST", "locale": locale}}, tenant=t.slug, user=email)
        assert got["updateMyPreferences"]["userErrors"] == []
    await _notes(a, "receiver@test.example", ["Complaint 2612000001: a transfer slip for your department"], DAY)
    await _notes(a, "receiver@test.example", ["Complaint 2612000002: the customer answered"],
                 DAY + timedelta(hours=3, minutes=5))
    await _notes(a, "receiver@test.example", ["Complaint 2612000003: the day after"], DAY + timedelta(days=1))
    await _notes(a, "handler@test.example", ["Complaint 2612000001: not a digest user"], DAY)  # IN_APP
    await _notes(b, "receiver@test.example", ["Complaint 2612000009: a review is assigned to you"], DAY)
    next_morning = datetime(2026, 12, 4, 0, 30, tzinfo=SHANGHAI)
    with MailServer() as mail:
        monkeypatch.setenv("COMPLAINTDESK_SMTP_URL", mail.url)
        for t in (a, b):
            async with tenant_session(t) as session:
                assert await send_digests(session, now=next_morning) == 1
                assert await send_digests(session, now=next_morning + timedelta(hours=3)) == 0  # once a day
            async with tenant_session(t) as session:
                await dispatch_due(session, now=next_morning)
                assert (await dispatch_due(session, now=next_morning + timedelta(hours=1))).claimed == 0
        result = await sweep_all(digests=True, retention=False)  # the worker's pass: nothing new for that day
        assert result.errors == 0
    digests = [m.message for m in mail.received if str(m.message["Subject"]).startswith("complaintdesk 2026-12-03")]
    assert len(digests) == 2 and all(m["To"] == "receiver@test.example" for m in digests)
    bodies = sorted(m.get_content().strip().replace("\r\n", "\n") for m in digests)
    assert bodies == sorted([
        "10:00 Complaint 2612000001: a transfer slip for your department\n"
        "13:05 Complaint 2612000002: the customer answered",
        "10:00 Complaint 2612000009: a review is assigned to you"])
    assert sorted(str(m["Subject"]) for m in digests) == ["complaintdesk 2026-12-03: 2 notifications",
                                                          "complaintdesk 2026-12-03：1 条通知"]
    for t in (a, b):  # still in-app too
        assert await scalar(f"""SELECT count(*) FROM "{t.schema}".notifications n JOIN "{t.schema}".users u
                                ON u.id = n.user_id WHERE u.email = 'receiver@test.example'""") >= 1
    assert await scalar(f'SELECT count(*) FROM "{a.schema}".outbox WHERE idempotency_key LIKE \'digest:%\'') == 1


async def test_no_digest_for_a_quiet_day_or_an_in_app_user(two: tuple[TenantRef, TenantRef]) -> None:
    a, _ = two
    async with tenant_session(a) as session:
        assert await send_digests(session, now=datetime(2026, 12, 4, 0, 30, tzinfo=SHANGHAI)) == 0
    assert await scalar(f'SELECT count(*) FROM "{a.schema}".outbox') == 0

