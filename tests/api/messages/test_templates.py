"""The wording of the customer messages: defaults per template in zh-CN and en, tenant-editable through
``updateMessageTemplate`` with its placeholders checked and rendered in Jinja's sandbox; a tenant's wording is its
own; the message sent uses it. Refusals change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import scalar
from lifecycle import record
from mailserver import MailServer

from services.core.clock import FixedClock
from services.core.outbox.sweeper import sweep_tenant
from services.core.tenancy import TenantRef

TEMPLATES = """query ($locale: String) { messageTemplates(locale: $locale) {
  kind locale subject body isDefault placeholders requiredPlaceholders } }"""
UPDATE = """mutation ($input: UpdateMessageTemplateInput!) { updateMessageTemplate(input: $input) {
  template { kind locale subject body isDefault } userErrors { field code message } } }"""
ADMIN = "admin@test.example"


@pytest.fixture
async def two(tenants: Any) -> AsyncIterator[tuple[TenantRef, TenantRef]]:
    retail = await new_tenant("tplr", "retail")
    bank = await new_tenant("tplb", "bank")
    try:
        yield retail, bank
    finally:
        await drop_tenant(retail)
        await drop_tenant(bank)


@pytest.fixture
async def alpha(tenants: tuple[str, str]) -> TenantRef:
    from services.core.tenancy import resolve_tenant

    return await resolve_tenant(tenants[0])


async def _templates(gql: GraphQLClient, slug: str, locale: str | None = None) -> dict[tuple[str, str], Any]:
    data = await gql(TEMPLATES, {"locale": locale}, tenant=slug, user=ADMIN)
    return {(t["kind"], t["locale"]): t for t in data["messageTemplates"]}


async def _state(t: TenantRef) -> tuple[Any, ...]:
    return (await scalar(f'SELECT count(*) FROM "{t.schema}".message_templates'),
            await scalar(f'SELECT count(*) FROM "{t.schema}".audit_events'))


async def test_defaults_exist_for_both_templates_in_both_languages(gql: GraphQLClient,
                                                                  two: tuple[TenantRef, TenantRef]) -> None:
    retail, bank = two
    kinds = {"ACKNOWLEDGEMENT", "APPROVED_ANSWER", "UNFOUNDED_OPINION", "DEADLINE_EXTENDED", "DELAY_NOTICE",
             "REVIEW_ANSWER", "RECOMPLAINT_GUIDANCE", "SATISFACTION_SURVEY"}
    r, b = await _templates(gql, retail.slug), await _templates(gql, bank.slug)
    assert set(r) == set(b) == {(k, loc) for k in kinds for loc in ("zh-CN", "en")}
    assert all(t["isDefault"] and t["subject"] and t["body"] for t in [*r.values(), *b.values()])
    assert "access_code" in r[("ACKNOWLEDGEMENT", "en")]["requiredPlaceholders"]
    assert "银行业协会" in b[("RECOMPLAINT_GUIDANCE", "zh-CN")]["body"]
    assert "银行业协会" not in r[("RECOMPLAINT_GUIDANCE", "zh-CN")]["body"]
    assert "banking association" in b[("RECOMPLAINT_GUIDANCE", "en")]["body"]
    assert set(await _templates(gql, retail.slug, "en")) == {(k, "en") for k in kinds}
    denied = await gql.post(TEMPLATES, {"locale": None}, tenant=retail.slug, user="receiver@test.example")
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("body", "code", "field"), [
    ("Your number {{ number }} and code {{ access_code }} {{ password }}", "INVALID", ["body"]),  # unknown name
    ("Your number is {{ number }}", "REQUIRED", ["body"]),  # the access code is required
    ("{{ number }} {{ access_code }} {{ number.__class__ }}", "INVALID", ["body"]),  # attributes
    ("{{ number }} {{ access_code }} {{ cycler.__init__.__globals__ }}", "INVALID", ["body"]),
    ("{{ number }} {{ access_code|attr('__class__') }}", "INVALID", ["body"]),  # the sandbox refuses it
    ("{{ number }} {{ access_code", "INVALID", ["body"]),  # does not parse
    ("{{ number }} {% for i in range(100000) %}{{ access_code }}{% endfor %}", "INVALID", ["body"]),  # loops
    ("{{ number }} {{ access_code|center(100000000) }}", "INVALID", ["body"]),  # filters that blow it up
    ("{{ number }} {{ access_code * 100000000 }}", "INVALID", ["body"]),  # arithmetic
    ("", "REQUIRED", ["body"]),
])
async def test_a_bad_template_is_refused_and_nothing_changes(gql: GraphQLClient, alpha: TenantRef,
                                                              body: str, code: str, field: list[str]) -> None:
    retail = alpha  # refused: the shared retail tenant is left exactly as it was
    before = await _state(retail)
    got = (await gql(UPDATE, {"input": {"kind": "ACKNOWLEDGEMENT", "locale": "en", "subject": "Hello",
                                        "body": body}}, tenant=retail.slug, user=ADMIN))["updateMessageTemplate"]
    assert [(e["code"], e["field"]) for e in got["userErrors"]] == [(code, field)]
    assert got["template"] is None
    assert await _state(retail) == before
    assert (await _templates(gql, retail.slug, "en"))[("ACKNOWLEDGEMENT", "en")]["isDefault"] is True


async def test_only_an_admin_edits_and_a_bad_locale_is_refused(gql: GraphQLClient, alpha: TenantRef) -> None:
    retail = alpha
    before = await _state(retail)
    ok_input = {"kind": "ACKNOWLEDGEMENT", "locale": "en", "subject": "Hi", "body": "{{ number }} {{ access_code }}"}
    denied = (await gql(UPDATE, {"input": ok_input}, tenant=retail.slug,
                        user="receiver@test.example"))["updateMessageTemplate"]
    assert [e["code"] for e in denied["userErrors"]] == ["NOT_ALLOWED"]
    bad = (await gql(UPDATE, {"input": {**ok_input, "locale": "fr"}}, tenant=retail.slug,
                     user=ADMIN))["updateMessageTemplate"]
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [("INVALID", ["locale"])]
    assert await _state(retail) == before


async def test_a_tenants_own_wording_is_sent_and_stays_its_own(gql: GraphQLClient, two: tuple[TenantRef, TenantRef],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    retail, bank = two
    body = ("Hi {{ customer_name }}: complaint #{{ number }}, code {{ access_code|upper }}."
            "{% if answer_days %}{% endif %}")
    got = (await gql(UPDATE, {"input": {"kind": "ACKNOWLEDGEMENT", "locale": "en", "subject": "Got it: {{ number }}",
                                        "body": body}}, tenant=retail.slug, user=ADMIN))["updateMessageTemplate"]
    assert got["userErrors"] == [] and got["template"]["isDefault"] is False
    assert (await _templates(gql, retail.slug, "en"))[("ACKNOWLEDGEMENT", "en")]["body"] == body
    assert (await _templates(gql, bank.slug, "en"))[("ACKNOWLEDGEMENT", "en")]["isDefault"] is True
    with MailServer() as mail:
        monkeypatch.setenv("COMPLAINTDESK_SMTP_URL", mail.url)
        cases = {}
        for t in (retail, bank):
            cases[t.slug] = await record(gql, t.slug, user="all@test.example", complainant={
                "name": "Ann Lee", "email": "ann@example.org"}, preferredContact={"channel": "EMAIL", "locale": "en"})
            await sweep_tenant(t, clock=FixedClock(datetime.now(UTC)))
    to_ann = [m.message for m in mail.received if m.rcpt_tos == ["ann@example.org"]]
    assert len(to_ann) == 2
    mine = cases[retail.slug]
    ours = [m for m in to_ann if str(m["Subject"]) == f"Got it: {mine['number']}"]
    assert len(ours) == 1
    assert ours[0].get_content().strip() == f"Hi Ann Lee: complaint #{mine['number']}, code {mine['accessCode']}."
    theirs = next(m for m in to_ann if m is not ours[0])
    assert "Dear Ann Lee, your complaint was received" in theirs.get_content()
    reset = (await gql(UPDATE, {"input": {"kind": "ACKNOWLEDGEMENT", "locale": "en", "reset": True}},
                       tenant=retail.slug, user=ADMIN))["updateMessageTemplate"]
    assert reset["userErrors"] == [] and reset["template"]["isDefault"] is True
    assert await scalar(f'SELECT count(*) FROM "{retail.schema}".message_templates') == 0


def test_every_default_passes_the_checks_a_tenants_own_wording_must_pass() -> None:
    from services.core.messages import templates
    from services.core.messages.models import MessageKind

    for template in ("retail", "bank"):
        for kind in MessageKind:
            for locale in ("zh-CN", "en"):
                subject, body = templates.default_for(template, kind, locale)
                assert templates.validate(kind, subject, body) == (subject, body)
