"""E-mail delivery through the outbox against a real SMTP server (aiosmtpd on 127.0.0.1, stopped by each test).

The items are enqueued as the deadline sweep does (``notify(..., email=True)``) and delivered by the same
``dispatch_due`` the sweeper runs, with ``now`` stepped by hand so backoff is checked without waiting. These tests
commit for real, so they run in a tenant of their own (dropped at the end).
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import drop_tenant, new_tenant
from helpers import rows, scalar
from mailserver import ClosedPort, MailServer, SilentServer

from services.core.outbox.service import MAIL_CONCURRENCY, dispatch_due, notify
from services.core.tenancy import TenantRef, tenant_session

RECIPIENT = "receiver@test.example"
SENDER = "complaints@alpha.example"
T0 = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
async def tenant(tenants: Any) -> AsyncIterator[TenantRef]:
    ref = await new_tenant("mail")
    try:
        yield ref
    finally:
        await drop_tenant(ref)


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("COMPLAINTDESK_SMTP_FROM", SENDER)
    monkeypatch.setenv("COMPLAINTDESK_OUTBOX_RETRY_SECONDS", "5")
    monkeypatch.setenv("COMPLAINTDESK_OUTBOX_MAX_ATTEMPTS", "3")
    return monkeypatch


async def _breach_mail(tenant: TenantRef, *, title: str = "Complaint 2603000001: deadline breached",
                       body: str | None = "The resolution deadline passed.") -> str:
    """One e-mail (and its in-app twin) for the receiver, as a deadline breach enqueues it; the e-mail's key."""
    user: uuid.UUID = await scalar(f'SELECT id FROM "{tenant.schema}".users WHERE email = :e', e=RECIPIENT)
    async with tenant_session(tenant) as session, session.begin():
        await notify(session, user_ids=[user], key="deadline:test:breach", kind="DEADLINE_BREACHED", title=title,
                     body=body, now=T0, email=True)
    return f"deadline:test:breach:email:{user}"


async def _mail_row(tenant: TenantRef) -> Any:
    found = await rows(f"""SELECT state, attempts, last_error, receipt, sent_at, next_attempt_at
                           FROM "{tenant.schema}".outbox WHERE kind = 'email'""")
    assert len(found) == 1
    return found[0]


async def _dispatch(tenant: TenantRef, at: datetime) -> Any:
    async with tenant_session(tenant) as session:
        return await dispatch_due(session, now=at)


def _message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@complaintdesk>"


async def test_mail_is_delivered_once_with_the_message_id_of_its_key(tenant: TenantRef, smtp_env: Any) -> None:
    with MailServer() as server:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", server.url)
        key = await _breach_mail(tenant, title="投诉 2603000001 已超期", body="处理时限已过，请尽快处理。")
        first = await _dispatch(tenant, T0)
        assert (first.claimed, first.sent, first.by_kind) == (2, 2, {"notification": 1, "email": 1})
        assert (await _dispatch(tenant, T0 + timedelta(days=1))).claimed == 0  # nothing more, ever
    assert len(server.received) == 1 and server.connections == 1
    mail = server.received[0]
    assert (mail.mail_from, mail.rcpt_tos) == (SENDER, [RECIPIENT])
    message = mail.message
    assert message["Message-ID"] == _message_id(key)
    assert (message["From"], message["To"]) == (SENDER, RECIPIENT)
    assert str(message["Subject"]) == "投诉 2603000001 已超期"  # encoded on the wire, the same text decoded
    assert message.get_content().strip() == "处理时限已过，请尽快处理。"
    assert email.utils.parsedate_to_datetime(message["Date"]) == T0  # the attempt's time, from the caller's clock
    assert message["Auto-Submitted"] == "auto-generated"
    row = await _mail_row(tenant)
    assert (row.state, row.attempts, row.last_error) == ("sent", 1, None)
    assert T0 < row.sent_at < T0 + timedelta(seconds=30)  # when the server accepted it: after the batch's clock
    assert row.receipt == {"messageId": _message_id(key), "server": f"127.0.0.1:{server.port}"}


async def test_refused_twice_then_accepted_is_one_message(tenant: TenantRef, smtp_env: Any) -> None:
    with MailServer(refuse_data=2) as server:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", server.url)
        key = await _breach_mail(tenant)
        assert (await _dispatch(tenant, T0)).retried == 1
        row = await _mail_row(tenant)
        assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 1, T0 + timedelta(seconds=5))
        assert row.last_error == (f"mail server 127.0.0.1:{server.port} refused: SMTPDataError: 451 4.3.0 Try again "
                                  "later")
        # backing off (COMPLAINTDESK_OUTBOX_RETRY_SECONDS=5): 5 s after the first refusal, 10 s after the second
        assert (await _dispatch(tenant, T0 + timedelta(seconds=4))).claimed == 0
        assert (await _dispatch(tenant, T0 + timedelta(seconds=5))).retried == 1
        assert (await _dispatch(tenant, T0 + timedelta(seconds=14))).claimed == 0
        third = await _dispatch(tenant, T0 + timedelta(seconds=15))
        assert (third.claimed, third.sent) == (1, 1)
        assert (await _dispatch(tenant, T0 + timedelta(hours=1))).claimed == 0
    assert len(server.data_attempts) == 3
    assert {m["Message-ID"] for m in server.data_attempts} == {_message_id(key)}  # the same message every time
    assert len(server.received) == 1
    row = await _mail_row(tenant)
    assert (row.state, row.attempts, row.last_error) == ("sent", 3, None)
    assert T0 + timedelta(seconds=15) < row.sent_at < T0 + timedelta(seconds=45)
    assert row.receipt["messageId"] == _message_id(key)
    assert await scalar(f"""SELECT count(*) FROM "{tenant.schema}".outbox WHERE kind = 'email'""") == 1


async def test_no_server_listening_stays_pending_then_fails(tenant: TenantRef, smtp_env: Any) -> None:
    with ClosedPort() as port:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", f"smtp://127.0.0.1:{port}")
        await _breach_mail(tenant)
        await _dispatch(tenant, T0)
        row = await _mail_row(tenant)
        assert (row.state, row.attempts, row.sent_at, row.receipt) == ("pending", 1, None, None)
        assert row.last_error.startswith(f"mail server 127.0.0.1:{port} unreachable: ConnectionRefusedError")
        assert (await _dispatch(tenant, T0 + timedelta(seconds=5))).retried == 1
        assert (await _mail_row(tenant)).state == "pending"
        last = await _dispatch(tenant, T0 + timedelta(seconds=15))  # the third attempt of 3
        assert (last.claimed, last.failed) == (1, 1)
        assert (await _dispatch(tenant, T0 + timedelta(days=1))).claimed == 0
    row = await _mail_row(tenant)
    assert (row.state, row.attempts, row.sent_at) == ("failed", 3, None)
    assert "unreachable: ConnectionRefusedError" in row.last_error


async def test_a_batch_of_mails_goes_out_each_once(tenant: TenantRef, smtp_env: Any) -> None:
    users = {r.id: r.email for r in await rows(f'SELECT id, email FROM "{tenant.schema}".users WHERE active')}
    assert len(users) > MAIL_CONCURRENCY  # more than go out at once
    async with tenant_session(tenant) as session, session.begin():
        await notify(session, user_ids=list(users), key="deadline:many:breach", kind="DEADLINE_BREACHED",
                     title="t", now=T0, email=True)
    with MailServer() as server:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", server.url)
        assert (await _dispatch(tenant, T0)).sent == 2 * len(users)  # in-app and e-mail
        assert (await _dispatch(tenant, T0 + timedelta(days=1))).claimed == 0
    assert sorted(r for m in server.received for r in m.rcpt_tos) == sorted(users.values())
    assert len({m.message["Message-ID"] for m in server.received}) == len(users)


async def test_a_server_that_hangs_is_tried_once_per_batch_and_the_rest_wait(tenant: TenantRef,
                                                                            smtp_env: Any) -> None:
    smtp_env.setenv("COMPLAINTDESK_SMTP_TIMEOUT_SECONDS", "0.5")
    users = [r.id for r in await rows(f'SELECT id FROM "{tenant.schema}".users WHERE active ORDER BY email')]
    assert len(users) >= 3
    async with tenant_session(tenant) as session, session.begin():
        await notify(session, user_ids=users, key="deadline:hang:breach", kind="DEADLINE_BREACHED", title="t",
                     now=T0, email=True)
    assert len(users) > MAIL_CONCURRENCY
    with SilentServer() as server:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        result = await _dispatch(tenant, T0)
        tried = len(server.connections)  # the e-mails already on their way when the first one timed out
        assert 1 <= tried <= MAIL_CONCURRENCY  # not one wait per e-mail
    assert (result.retried, result.failed) == (len(users), 0)
    mails = await rows(f"""SELECT state, attempts, last_error, next_attempt_at FROM "{tenant.schema}".outbox
                           WHERE kind = 'email' ORDER BY attempts DESC""")
    assert [(m.state, m.attempts) for m in mails] == [("pending", 1)] * tried + [("pending", 0)] * (len(users) - tried)
    assert all(m.last_error.startswith(f"mail server 127.0.0.1:{server.port} unreachable:") for m in mails)
    assert all(m.last_error.endswith("(not tried: unreachable earlier in the same batch)") for m in mails[tried:])
    assert {m.next_attempt_at for m in mails} == {T0 + timedelta(seconds=5)}  # all wait one backoff


async def test_a_recipient_the_server_rejects_fails_at_once_without_its_address(tenant: TenantRef,
                                                                                smtp_env: Any) -> None:
    with MailServer(rcpt_reply="550 5.1.1 <{address}>: Recipient address rejected") as server:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", server.url)
        await _breach_mail(tenant)
        result = await _dispatch(tenant, T0)
        assert (result.failed, result.retried) == (1, 0)  # a 5xx for the recipient: retrying cannot help
    assert server.received == [] and server.data_attempts == []
    row = await _mail_row(tenant)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.last_error == (f"mail server 127.0.0.1:{server.port} refused: SMTPRecipientsRefused: 550 5.1.1 "
                              "<<recipient>>: Recipient address rejected")


async def test_an_unknown_scheme_is_refused_never_sent_in_clear(tenant: TenantRef, smtp_env: Any) -> None:
    with MailServer() as server:
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", f"smtp+tls://mailer:secret@127.0.0.1:{server.port}")
        await _breach_mail(tenant)
        assert (await _dispatch(tenant, T0)).retried == 1
    assert server.connections == 0  # the password never went out in clear
    row = await _mail_row(tenant)
    assert row.state == "pending"
    assert row.last_error == ("COMPLAINTDESK_SMTP_URL: unsupported scheme 'smtp+tls' "
                              "(smtp://, smtps:// or smtp+starttls://)")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (the client trusts it through SSL_CERT_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test mail server")])
    start = datetime.now(UTC) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "mail.pem", folder / "mail.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_starttls_with_login(tenant: TenantRef, smtp_env: Any, tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    smtp_env.setenv("SSL_CERT_FILE", str(cert_file))  # the client verifies the server as it would a real one
    with MailServer(tls_context=context, logins={"desk@alpha": "p@ss:word"}) as server:
        # user and password percent-encoded in the URL, as they must be
        smtp_env.setenv("COMPLAINTDESK_SMTP_URL", f"smtp+starttls://desk%40alpha:p%40ss%3Aword@127.0.0.1:{server.port}")
        key = await _breach_mail(tenant)
        assert (await _dispatch(tenant, T0)).sent == 2
    assert [(m.tls, m.login, m.message["Message-ID"]) for m in server.received] == [
        (True, "desk@alpha", _message_id(key))]
    assert (await _mail_row(tenant)).state == "sent"
