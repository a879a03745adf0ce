"""The wording of the messages to the customer: defaults per tenant template (retail, bank) in zh-CN and en,
overridden per tenant (``message_templates``), rendered in Jinja's sandbox.

A template is a subject (e-mail only) and a body (e-mail and SMS), in Jinja syntax over a fixed set of
placeholders per message (``PLACEHOLDERS``); some are required (``REQUIRED``: an acknowledgement without the
access code is useless). ``validate`` refuses a template that does not parse, names a placeholder the message
does not have, leaves out a required one, or reaches for attributes (the sandbox refuses those at render time
too). Rendering is strict: an unknown name is an error, never an empty string.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg
from services.core.messages.models import LOCALES, MessageKind, MessageTemplate

K = MessageKind
COMMON = frozenset({"number", "company", "customer_name", "track_url"})
PLACEHOLDERS: dict[MessageKind, frozenset[str]] = {
    K.ACKNOWLEDGEMENT: COMMON | {"access_code", "answer_days"},
    K.APPROVED_ANSWER: COMMON | {"answer"},
    K.UNFOUNDED_OPINION: COMMON | {"opinion"},
    K.DEADLINE_EXTENDED: COMMON | {"reason", "due"},
    K.DELAY_NOTICE: COMMON | {"due"},
    K.REVIEW_ANSWER: COMMON | {"answer", "upheld"},
    K.RECOMPLAINT_GUIDANCE: COMMON | {"bodies"},
    K.SATISFACTION_SURVEY: COMMON | {"survey_url"},
}
REQUIRED: dict[MessageKind, frozenset[str]] = {
    K.ACKNOWLEDGEMENT: frozenset({"number", "access_code"}),
    K.APPROVED_ANSWER: frozenset({"number", "answer"}),
    K.UNFOUNDED_OPINION: frozenset({"number", "opinion"}),
    K.DEADLINE_EXTENDED: frozenset({"number", "reason", "due"}),
    K.DELAY_NOTICE: frozenset({"number"}),
    K.REVIEW_ANSWER: frozenset({"number", "answer"}),
    K.RECOMPLAINT_GUIDANCE: frozenset({"number", "bodies"}),
    K.SATISFACTION_SURVEY: frozenset({"number", "survey_url"}),
}
MAX_SUBJECT = 300
MAX_BODY = 5_000

_ZH: dict[MessageKind, tuple[str, str]] = {
    K.ACKNOWLEDGEMENT: ("{{ company }}：您的投诉 {{ number }} 已受理",
                        "{{ customer_name }}，您好：您的投诉已受理，编号 {{ number }}，"
                        "查询码 {{ access_code }}（请妥善保管）。"
                        "我们将在 {{ answer_days }} 内答复您。查询进度：{{ track_url }}"),
    K.APPROVED_ANSWER: ("{{ company }}：投诉 {{ number }} 的处理意见",
                        "{{ customer_name }}，您好：关于您的投诉 {{ number }}，经审批的处理意见如下：{{ answer }}"),
    K.UNFOUNDED_OPINION: ("{{ company }}：投诉 {{ number }} 的调查意见",
                          "{{ customer_name }}，您好：关于您的投诉 {{ number }}，调查意见如下：{{ opinion }} "
                          "如有异议，请通过 {{ track_url }} 告知我们。"),
    K.DEADLINE_EXTENDED: ("{{ company }}：投诉 {{ number }} 处理期限延长",
                          "{{ customer_name }}，您好：您的投诉 {{ number }} 处理期限延长至 {{ due }}，"
                          "原因：{{ reason }}"),
    K.DELAY_NOTICE: ("{{ company }}：投诉 {{ number }} 未能按期答复",
                     "{{ customer_name }}，您好：很抱歉，您的投诉 {{ number }} 未能在 {{ due }} 前答复，"
                     "我们正在加紧处理，负责人员将尽快与您联系说明原因。"),
    K.REVIEW_ANSWER: ("{{ company }}：投诉 {{ number }} 的复核意见",
                      "{{ customer_name }}，您好：关于您的投诉 {{ number }}，复核意见如下：{{ answer }}"),
    K.RECOMPLAINT_GUIDANCE: ("{{ company }}：投诉 {{ number }} 的后续途径",
                             "{{ customer_name }}，您好：如您对投诉 {{ number }} 的处理结果仍不满意，"
                             "可以向以下机构反映："
                             "{{ bodies }}"),
    K.SATISFACTION_SURVEY: ("{{ company }}：请评价投诉 {{ number }} 的处理",
                            "{{ customer_name }}，您好：您的投诉 {{ number }} 已处理完毕，"
                            "请填写满意度调查：{{ survey_url }}"),
}
_EN: dict[MessageKind, tuple[str, str]] = {
    K.ACKNOWLEDGEMENT: ("{{ company }}: your complaint {{ number }} was received",
                        "Dear {{ customer_name }}, your complaint was received as number {{ number }}; your access "
                        "code is {{ access_code }} (keep it safe). We will answer within {{ answer_days }}. "
                        "Track it at {{ track_url }}"),
    K.APPROVED_ANSWER: ("{{ company }}: our answer to complaint {{ number }}",
                        "Dear {{ customer_name }}, about your complaint {{ number }}, our approved answer is: "
                        "{{ answer }}"),
    K.UNFOUNDED_OPINION: ("{{ company }}: the findings on complaint {{ number }}",
                          "Dear {{ customer_name }}, about your complaint {{ number }}, our investigation found: "
                          "{{ opinion }} If you disagree, tell us at {{ track_url }}"),
    K.DEADLINE_EXTENDED: ("{{ company }}: more time for complaint {{ number }}",
                          "Dear {{ customer_name }}, the time to handle your complaint {{ number }} was extended to "
                          "{{ due }}. The reason: {{ reason }}"),
    K.DELAY_NOTICE: ("{{ company }}: complaint {{ number }} is late",
                     "Dear {{ customer_name }}, we are sorry: we could not answer your complaint {{ number }} by "
                     "{{ due }}. We are working on it, and the person in charge will contact you with the reason."),
    K.REVIEW_ANSWER: ("{{ company }}: the review of complaint {{ number }}",
                      "Dear {{ customer_name }}, about your complaint {{ number }}, the review found: {{ answer }}"),
    K.RECOMPLAINT_GUIDANCE: ("{{ company }}: where else to turn about complaint {{ number }}",
                             "Dear {{ customer_name }}, if you are still not satisfied with the outcome of complaint "
                             "{{ number }}, you may complain to: {{ bodies }}"),
    K.SATISFACTION_SURVEY: ("{{ company }}: how did we handle complaint {{ number }}?",
                            "Dear {{ customer_name }}, your complaint {{ number }} was handled. Please tell us how "
                            "satisfied you are: {{ survey_url }}"),
}
# the bank template speaks of the regulator's rules where the retail one speaks of the store
_BANK_ZH = {**_ZH, K.RECOMPLAINT_GUIDANCE: (
    "{{ company }}：投诉 {{ number }} 的后续途径",
    "{{ customer_name }}，您好：如您对投诉 {{ number }} 的处理结果仍不满意，"
    "可以向银行业协会申请调解，或向金融监管部门反映："
    "{{ bodies }}")}
_BANK_EN = {**_EN, K.RECOMPLAINT_GUIDANCE: (
    "{{ company }}: where else to turn about complaint {{ number }}",
    "Dear {{ customer_name }}, if you are still not satisfied with the outcome of complaint {{ number }}, you may "
    "ask the banking association for mediation or complain to the financial regulator: {{ bodies }}")}
DEFAULTS: dict[str, dict[str, dict[MessageKind, tuple[str, str]]]] = {
    "retail": {"zh-CN": _ZH, "en": _EN},
    "bank": {"zh-CN": _BANK_ZH, "en": _BANK_EN},
}


def default_for(template: str | None, kind: MessageKind, locale: str) -> tuple[str, str]:
    return DEFAULTS.get(template or "retail", DEFAULTS["retail"])[locale][kind]


# What a template may contain: text, placeholders, a few filters that cannot blow a text up, and {% if %} (a
# loop, a macro, arithmetic or a call could make a message of any size, or take any time, to render)
ALLOWED_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Filter, nodes.If,
                 nodes.Not, nodes.And, nodes.Or, nodes.Compare, nodes.Operand, nodes.CondExpr)
FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default")


def _walk(node: nodes.Node) -> Any:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _check_one(text: str, kind: MessageKind, field: str, *, require: bool) -> None:
    try:
        parsed = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise DomainError(ErrorCode.INVALID, msg("{field} is not a valid template (line {line}): {error}",
                              field=field, line=exc.lineno, error=exc.message),
                          [field]) from None
    if any(True for _ in parsed.find_all((nodes.Getattr, nodes.Getitem, nodes.Call))):
        raise DomainError(ErrorCode.INVALID,
                          msg("{field} may only name placeholders (no attributes, items or calls)", field=field),
                          [field])
    for node in _walk(parsed):
        if not isinstance(node, ALLOWED_NODES):
            raise DomainError(ErrorCode.INVALID,
                              msg("{field} may use placeholders, the filters {filters} and {{% if %}} only "
                                  "(not {node})",
                                  field=field, filters=", ".join(FILTERS), node=type(node).__name__), [field])
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise DomainError(ErrorCode.INVALID, msg("{field} uses the filter {name}: only {filters}", field=field,
                                  name=repr(node.name), filters=", ".join(FILTERS)), [field])
    used = meta.find_undeclared_variables(parsed)
    unknown = sorted(used - PLACEHOLDERS[kind])
    if unknown:
        raise DomainError(ErrorCode.INVALID,
                          msg("{field} names unknown placeholders: {unknown} (allowed: {allowed})", field=field,
                              unknown=", ".join(unknown), allowed=", ".join(sorted(PLACEHOLDERS[kind]))), [field])
    if require:
        missing = sorted(REQUIRED[kind] - used)
        if missing:
            raise DomainError(ErrorCode.REQUIRED, msg("{field} must contain the placeholders: {missing}",
                                                      field=field, missing=", ".join(missing)), [field])


def _try_render(text: str, kind: MessageKind, field: str) -> None:
    """Render with sample values: a filter the sandbox refuses, or one that fails on text, is refused now rather
    than at delivery."""
    sample: dict[str, Any] = {name: f"<{name}>" for name in PLACEHOLDERS[kind]}
    sample["upheld"] = True
    try:
        render(text, sample)
    except Exception as exc:
        raise DomainError(ErrorCode.INVALID, msg("{field} does not render: {error}", field=field,
                                                 error=type(exc).__name__), [field]) from None


def validate(kind: MessageKind, subject: str, body: str) -> tuple[str, str]:
    s = v.required_text(subject, "subject", max_length=MAX_SUBJECT)
    b = v.required_text(body, "body", max_length=MAX_BODY)
    _check_one(s, kind, "subject", require=False)
    _check_one(b, kind, "body", require=True)
    _try_render(s, kind, "subject")
    _try_render(b, kind, "body")
    return s, b


def render(text: str, values: dict[str, Any]) -> str:
    return _ENV.from_string(text).render(**values).strip()


@dataclass(frozen=True)
class Effective:
    kind: MessageKind
    locale: str
    subject: str
    body: str
    is_default: bool
    updated_at: datetime | None = None
    updated_by: uuid.UUID | None = None


async def tenant_template(session: AsyncSession) -> str | None:
    from services.core.tenancy import Tenant

    found = await session.scalar(select(Tenant.template).where(
        Tenant.schema_name == str(session.sync_session.info.get("tenant_schema", ""))))
    return str(found) if found is not None else None


async def effective(session: AsyncSession, *, locale: str | None = None) -> list[Effective]:
    """Every message's wording in ``locale`` (both when None): the tenant's own, else the template's default."""
    locales = LOCALES if locale is None else (check_locale(locale),)
    template = await tenant_template(session)
    own = {(t.kind, t.locale): t for t in (await session.scalars(select(MessageTemplate))).all()}
    out: list[Effective] = []
    for loc in locales:
        for kind in MessageKind:
            row = own.get((kind.value, loc))
            if row is not None:
                out.append(Effective(kind, loc, row.subject, row.body, False, row.updated_at, row.updated_by))
            else:
                subject, body = default_for(template, kind, loc)
                out.append(Effective(kind, loc, subject, body, True))
    return out


async def wording(session: AsyncSession, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, locale) -> (subject, body) for a delivery batch (one statement)."""
    template = await tenant_template(session)
    own = {(t.kind, t.locale): (t.subject, t.body) for t in (await session.scalars(select(MessageTemplate))).all()}
    return {key: own.get(key) or default_for(template, MessageKind(key[0]), key[1]) for key in wanted}


def check_locale(locale: str | None, field: str = "locale") -> str:
    if locale not in LOCALES:
        raise DomainError(ErrorCode.INVALID, msg("{field} must be one of {locales}", field=field,
                                                 locales=", ".join(LOCALES)), [field])
    return locale


async def update_template(
    session: AsyncSession, *, actor: Actor, now: datetime, kind: MessageKind, locale: str, subject: str | None,
    body: str | None, reset: bool = False,
) -> Effective:
    """The tenant's own wording of one message (checked: ``validate``), or back to the default (``reset``)."""
    loc = check_locale(locale)
    row = (await session.scalars(select(MessageTemplate).where(
        MessageTemplate.kind == kind.value, MessageTemplate.locale == loc).with_for_update())).first()
    if reset:
        if row is not None:
            await session.delete(row)
            await record_event(session, actor=actor, action="reset_message_template", subject_type="MessageTemplate",
                               subject_id=row.id, now=now, changes={"kind": kind.value, "locale": loc})
        subject_, body_ = default_for(await tenant_template(session), kind, loc)
        return Effective(kind, loc, subject_, body_, True)
    s, b = validate(kind, subject or "", body or "")
    if row is None:
        row = MessageTemplate(id=uuid.uuid4(), kind=kind.value, locale=loc, subject=s, body=b)
        session.add(row)
    row.subject, row.body, row.updated_by, row.updated_at = s, b, actor.user_id, now
    await session.flush()
    await record_event(session, actor=actor, action="update_message_template", subject_type="MessageTemplate",
                       subject_id=row.id, now=now, changes={"kind": kind.value, "locale": loc})
    return Effective(kind, loc, s, b, False, now, actor.user_id)
