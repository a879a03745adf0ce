"""What a customer is told about the procedure (seed III item 5: transparency), per tenant, in zh-CN and en.

``complaintProcedure`` shows the tenant's content (``tenant_settings.procedure``, edited with
``update_procedure``), else its template's defaults below, taken from the seeds: the channels and how to reach
them (hotline, address, web), the expected times, the steps, and where to re-complain (the text here; the
bodies themselves are the tenant's external bodies with an escalation level). Every text is
``{"zh-CN": ..., "en": ...}``; the reader gets their locale's (``services.core.i18n.localized``).

Expected dates count working days on weekends only and say so (``provisional``) where a case has no planned
deadlines; the status texts (``next_step``) and labels are message ids, translated where they are shown.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import i18n
from services.core import validation as v
from services.core.audit.service import Actor, record_event
from services.core.complaints.models import Channel, ComplaintStatus
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, localized, msg
from services.core.org.models import TenantSettings

S = ComplaintStatus


@dataclass(frozen=True)
class Numbers:
    """The template's figures the fallback estimate of expected dates uses (a case without deadline rows)."""

    reply_working_days: int | None
    resolution_days: int


NUMBERS = {"retail": Numbers(5, 15), "bank": Numbers(None, 15)}


def _t(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


_ONLINE = _t("本页的在线投诉表(提交后您会得到投诉编号和查询码)",
             "The online form on this page (you get a complaint number and an access code)")
_RETAIL: dict[str, Any] = {
    "summary": _t("我们在5个工作日内给您答复;整个投诉在15天内处理完毕(国外投诉18天)。",
                  "An answer within 5 working days; the whole case within 15 days (18 for foreign cases)."),
    "hotline": None,
    "address": _t("任一门店的客户服务台", "The customer service desk of any of our stores"),
    "web": None,
    "channels": [
        {"channel": "PHONE", "contact": _t("客户服务热线", "Our customer service hotline")},
        {"channel": "STORE", "contact": _t("任一门店的客户服务台", "The customer service desk of any store")},
        {"channel": "OPINION_BOOK", "contact": _t("门店的顾客意见簿", "The opinion book in each store")},
        {"channel": "WEB", "contact": _ONLINE},
        {"channel": "APP", "contact": _t("我们的应用程序", "Our app")},
        {"channel": "LETTER", "contact": _t("寄往客户服务部的信函", "A letter to our customer service department")},
        {"channel": "EMAIL", "contact": _t("发给客户服务部的电子邮件", "An e-mail to our customer service department")},
    ],
    "expectedTimes": [
        {"key": "FIRST_ANSWER", "label": _t("答复", "First answer"),
         "time": _t("5个工作日内", "Within 5 working days")},
        {"key": "RESOLUTION", "label": _t("处理完毕", "Resolution"),
         "time": _t("15天内(国外投诉18天)", "Within 15 days (18 for foreign cases)")},
        {"key": "FOLLOW_UP", "label": _t("回访", "Follow-up"),
         "time": _t("方案实施完毕后5个工作日内", "Within 5 working days after implementation")},
    ],
    "steps": [
        {"key": "RECEIVE", "name": _t("接受投诉", "Received"),
         "description": _t("客户服务部记录您的投诉,并给您投诉编号和查询码。",
                           "We record your complaint and give you a number and an access code."),
         "expectedTime": _t("当即", "At once")},
        {"key": "INVESTIGATE", "name": _t("调查", "Investigation"),
         "description": _t("我们核实事实(订单、商品、证据)。", "We check the facts (order, product, evidence)."),
         "expectedTime": _t("5个工作日内答复", "Answer within 5 working days")},
        {"key": "TRANSFER", "name": _t("传递", "Responsible department"),
         "description": _t("投诉属实的,由责任部门提出解决方案。",
                           "If your complaint is valid, the responsible department proposes a solution."),
         "expectedTime": _t("3个工作日内", "Within 3 working days")},
        {"key": "CONSULT", "name": _t("沟通", "Your opinion"),
         "description": _t("我们向您说明经批准的方案,您表示同意与否。",
                           "We present the approved solution; you agree or not."),
         "expectedTime": _t("您答复时", "When you answer")},
        {"key": "IMPLEMENT", "name": _t("实施", "Implementation"),
         "description": _t("责任部门实施解决方案。", "The department carries out the solution."),
         "expectedTime": _t("按约定", "As agreed")},
        {"key": "FOLLOW_UP", "name": _t("回访", "Follow-up"),
         "description": _t("我们询问您是否满意。", "We ask whether you are satisfied."),
         "expectedTime": _t("实施完毕后5个工作日内", "Within 5 working days after implementation")},
    ],
    "furtherComplaint": _t("对处理结果不满意的,您可以向以下机构投诉。",
                           "Not satisfied with the outcome? You may complain to the bodies below."),
}
_BANK: dict[str, Any] = {
    "summary": _t("自受理之日起15日内作出处理决定,情况复杂的可延长至30日,并向您说明原因。",
                  "A decision within 15 days of receipt, extendable to 30 for complex cases with the reason given."),
    "hotline": None,
    "address": _t("我行任一营业网点", "Any of our branches"),
    "web": None,
    "channels": [
        {"channel": "PHONE", "contact": _t("客户服务热线", "Our customer service hotline")},
        {"channel": "STORE", "contact": _t("我行任一营业网点", "Any of our branches")},
        {"channel": "WEB", "contact": _ONLINE},
        {"channel": "APP", "contact": _t("手机银行", "Our mobile banking app")},
        {"channel": "LETTER", "contact": _t("寄往客户投诉处理部门的信函", "A letter to our complaints department")},
        {"channel": "EMAIL", "contact": _t("发给客户投诉处理部门的电子邮件", "An e-mail to our complaints department")},
        {"channel": "REGULATOR_TRANSFER",
         "contact": _t("经银行业监管机构转办", "Passed on to us by the banking regulator")},
    ],
    "expectedTimes": [
        {"key": "DECISION", "label": _t("处理决定", "Decision"),
         "time": _t("受理之日起15日内", "Within 15 days of receipt")},
        {"key": "COMPLEX", "label": _t("复杂投诉", "Complex cases"),
         "time": _t("最长30日,并说明原因", "Up to 30 days, and we tell you why")},
    ],
    "steps": [
        {"key": "RECEIVE", "name": _t("受理", "Received"),
         "description": _t("我们记录您的投诉,并给您投诉编号和查询码。",
                           "We record your complaint and give you a number and an access code."),
         "expectedTime": _t("当即", "At once")},
        {"key": "INVESTIGATE", "name": _t("调查", "Investigation"),
         "description": _t("由独立于被投诉人员的人员调查。",
                           "We investigate independently of the people complained about."),
         "expectedTime": _t("及时", "Promptly")},
        {"key": "DECIDE", "name": _t("处理决定", "Decision"),
         "description": _t("我们作出决定,并告诉您结果和理由。", "We decide and tell you the outcome and its reasons."),
         "expectedTime": _t("受理之日起15日内(复杂投诉30日,并说明原因)",
                            "Within 15 days of receipt (30 for complex cases, and we tell you why)")},
        {"key": "FOLLOW_UP", "name": _t("回访", "Follow-up"),
         "description": _t("我们询问您是否满意。", "We ask whether you are satisfied."),
         "expectedTime": _t("作出决定后", "After the decision")},
        {"key": "ESCALATE", "name": _t("再投诉", "Further complaint"),
         "description": _t("不满意的,您可以向银行业协会投诉,乃至向银行业监管机构投诉。",
                           "Not satisfied? You may complain to the banking association, then the regulator."),
         "expectedTime": _t("随时", "Any time")},
    ],
    "furtherComplaint": _t("对处理结果不满意的,您可以向相关行业协会乃至银行业监管机构投诉。",
                           "Not satisfied with the outcome? You may complain to the banking association, and then "
                           "to the banking regulator."),
}
DEFAULTS: dict[str, dict[str, Any]] = {"retail": _RETAIL, "bank": _BANK}


def default_content(template: str) -> dict[str, Any]:
    return copy.deepcopy(DEFAULTS.get(template, _RETAIL))


@dataclass(frozen=True)
class Step:
    key: str
    name: str
    description: str
    expected_time: str


@dataclass(frozen=True)
class ChannelShown:
    channel: Channel
    contact: str | None


@dataclass(frozen=True)
class ExpectedTime:
    key: str
    label: str
    time: str


@dataclass(frozen=True)
class Procedure:
    """The procedure page in one locale."""

    locale: str
    summary: str
    hotline: str | None
    address: str | None
    web: str | None
    channels: tuple[ChannelShown, ...]
    expected_times: tuple[ExpectedTime, ...]
    steps: tuple[Step, ...]
    further_complaint: str


def _opt(value: Any, locale: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return localized(value, locale) or None


def render(content: dict[str, Any], locale: str) -> Procedure:
    return Procedure(
        locale=locale,
        summary=localized(content.get("summary"), locale),
        hotline=_opt(content.get("hotline"), locale),
        address=_opt(content.get("address"), locale),
        web=_opt(content.get("web"), locale),
        channels=tuple(ChannelShown(Channel(c["channel"]), _opt(c.get("contact"), locale))
                       for c in content.get("channels") or ()),
        expected_times=tuple(ExpectedTime(t["key"], localized(t["label"], locale), localized(t["time"], locale))
                             for t in content.get("expectedTimes") or ()),
        steps=tuple(Step(s["key"], localized(s["name"], locale), localized(s["description"], locale),
                         localized(s["expectedTime"], locale)) for s in content.get("steps") or ()),
        further_complaint=localized(content.get("furtherComplaint"), locale),
    )


async def content_of(session: AsyncSession, template: str) -> dict[str, Any]:
    """The tenant's procedure content: what it edited, else its template's defaults."""
    stored = await session.scalar(select(TenantSettings.procedure).where(TenantSettings.id == 1))
    return dict(stored) if stored else default_content(template)


MAX_ITEMS = 20
MAX_TEXT = 1000
MAX_SHORT = 200
_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


def _text(value: Any, path: list[str], *, max_length: int, required: bool = True) -> dict[str, str] | None:
    """A text in both languages (``{"zh-CN": ..., "en": ...}``), each 1-``max_length`` plain characters."""
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise DomainError(ErrorCode.REQUIRED, msg("{field} is required", field=".".join(path)), path)
    out: dict[str, str] = {}
    for locale, key in (("zh-CN", "zhCN"), ("en", "en")):
        field = [*path, key]
        cleaned = v.text(value.get(locale), ".".join(field), max_length=max_length)
        if not cleaned:
            raise DomainError(ErrorCode.REQUIRED, msg("{field} is required", field=".".join(field)), field)
        out[locale] = cleaned
    return out


def _items(value: Any, path: list[str]) -> list[dict[str, Any]]:
    items = [dict(x) for x in value or ()]
    if not items:
        raise DomainError(ErrorCode.REQUIRED, msg("{field} is required", field=".".join(path)), path)
    if len(items) > MAX_ITEMS:
        raise DomainError(ErrorCode.OUT_OF_RANGE, msg("at most {count} items", count=MAX_ITEMS), path)
    return items


def _keys(items: list[dict[str, Any]], path: list[str]) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = str(item.get("key") or "").strip()
        if not _KEY.fullmatch(key):
            raise DomainError(ErrorCode.INVALID, N_("a key is 1-32 capital letters, digits or _"),
                              [*path, str(i), "key"])
        if key in seen:
            raise DomainError(ErrorCode.DUPLICATE, N_("each key may appear once"), [*path, str(i), "key"])
        seen.add(key)
        item["key"] = key


def validated_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The content fields ``changes`` sets (None: left as they are), checked; refused naming the field at fault."""
    out: dict[str, Any] = {}
    if changes.get("summary") is not None:
        out["summary"] = _text(changes["summary"], ["summary"], max_length=MAX_TEXT)
    for name in ("hotline", "web"):
        if changes.get(name) is not None:
            out[name] = v.text(changes[name], name, max_length=MAX_SHORT)
    if changes.get("address") is not None:
        out["address"] = _text(changes["address"], ["address"], max_length=MAX_SHORT)
    if changes.get("furtherComplaint") is not None:
        out["furtherComplaint"] = _text(changes["furtherComplaint"], ["furtherComplaint"], max_length=MAX_TEXT)
    if changes.get("channels") is not None:
        seen: set[str] = set()
        channels = []
        for i, c in enumerate(_items(changes["channels"], ["channels"])):
            channel = str(c.get("channel"))
            if channel not in Channel.__members__:
                raise DomainError(ErrorCode.INVALID, N_("not a channel"), ["channels", str(i), "channel"])
            if channel in seen:
                raise DomainError(ErrorCode.DUPLICATE, N_("each channel may appear once"),
                                  ["channels", str(i), "channel"])
            seen.add(channel)
            channels.append({"channel": channel, "contact": _text(c.get("contact"), ["channels", str(i), "contact"],
                                                                  max_length=MAX_SHORT, required=False)})
        out["channels"] = channels
    if changes.get("expectedTimes") is not None:
        times = _items(changes["expectedTimes"], ["expectedTimes"])
        _keys(times, ["expectedTimes"])
        out["expectedTimes"] = [{"key": t["key"],
                                 "label": _text(t.get("label"), ["expectedTimes", str(i), "label"],
                                                max_length=MAX_SHORT),
                                 "time": _text(t.get("time"), ["expectedTimes", str(i), "time"],
                                               max_length=MAX_SHORT)} for i, t in enumerate(times)]
    if changes.get("steps") is not None:
        steps = _items(changes["steps"], ["steps"])
        _keys(steps, ["steps"])
        out["steps"] = [{"key": s["key"],
                         "name": _text(s.get("name"), ["steps", str(i), "name"], max_length=MAX_SHORT),
                         "description": _text(s.get("description"), ["steps", str(i), "description"],
                                              max_length=MAX_TEXT),
                         "expectedTime": _text(s.get("expectedTime"), ["steps", str(i), "expectedTime"],
                                               max_length=MAX_SHORT)} for i, s in enumerate(steps)]
    if not out:
        raise DomainError(ErrorCode.REQUIRED, "nothing to change", ["input"])
    return out


async def _settings(session: AsyncSession) -> TenantSettings:
    settings = await session.get(TenantSettings, 1, with_for_update=True)
    if settings is None:
        raise DomainError(ErrorCode.NOT_FOUND, "the tenant has no settings", ["input"])
    return settings


async def update_procedure(session: AsyncSession, *, actor: Actor, now: datetime, template: str,
                           changes: dict[str, Any]) -> dict[str, Any]:
    """Change the fields of the procedure page ``changes`` gives (the others keep their content); one audit
    event naming the fields changed. The caller has checked ``procedure.manage``."""
    checked = validated_changes(changes)
    settings = await _settings(session)
    content = dict(settings.procedure) if settings.procedure else default_content(template)
    changed = sorted(k for k, value in checked.items() if content.get(k) != value)
    content.update(checked)
    if changed:
        settings.procedure = content
        await record_event(session, actor=actor, action="update_complaint_procedure", subject_type="Tenant",
                           subject_id=None, now=now, changes={"fields": changed})
    return content


async def set_default_locale(session: AsyncSession, *, actor: Actor, now: datetime, locale: str) -> str:
    """The tenant's default language (for readers without a preference or an Accept-Language they ask for)."""
    if locale not in i18n.LOCALES:
        raise DomainError(ErrorCode.INVALID, N_("the language must be zh-CN or en"), ["defaultLocale"])
    settings = await _settings(session)
    if settings.locale != locale:
        before, settings.locale = settings.locale, locale
        await record_event(session, actor=actor, action="update_tenant_locale", subject_type="Tenant",
                           subject_id=None, now=now, changes={"locale": {"from": before, "to": locale}})
    return locale


def add_weekdays(start: date, days: int) -> date:
    """``days`` working days after ``start`` (the day of receipt is not counted), weekends only."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


@dataclass(frozen=True)
class ExtensionShown:
    """An extension of a date the customer waits on, as the customer may see it: the new date and why."""
    new_due_on: date
    added_days: int
    reason: str


@dataclass(frozen=True)
class ExpectedDate:
    label: str  # a message id (translated where it is shown)
    due_on: date
    provisional: bool
    extensions: tuple[ExtensionShown, ...] = ()


def expected_dates(template: str, received_at: datetime, tz: ZoneInfo, *, foreign: bool) -> list[ExpectedDate]:
    numbers = NUMBERS.get(template, NUMBERS["retail"])
    received = received_at.astimezone(tz).date()
    dates: list[ExpectedDate] = []
    if numbers.reply_working_days is not None:
        dates.append(ExpectedDate(N_("first answer"), add_weekdays(received, numbers.reply_working_days), True))
    days = numbers.resolution_days + (3 if foreign and template == "retail" else 0)
    dates.append(ExpectedDate(N_("resolution"), received + timedelta(days=days), True))
    return dates


_NEXT = {
    S.RECEIVED: N_("We have your complaint and will start looking into it."),
    S.INVESTIGATING: N_("We are checking the facts."),
    S.UNFOUNDED: N_("Our investigation did not confirm the complaint; you may tell us if you disagree."),
    S.ASSIGNED: N_("The responsible department is preparing a solution."),
    S.SOLUTION_PROPOSED: N_("A solution is being reviewed for approval."),
    S.APPROVED: N_("We will contact you with the approved solution."),
    S.AWAITING_CUSTOMER: N_("Please tell us whether you agree with the proposed solution."),
    S.IMPLEMENTING: N_("The agreed solution is being carried out."),
    S.FOLLOW_UP: N_("Please tell us whether you are satisfied."),
    S.CLOSED: N_("Your complaint is closed. Thank you."),
    S.REOPENED: N_("Your complaint has been reopened and will be handled again."),
    S.ESCALATED: N_("Your complaint has been passed to an external body."),
    S.WITHDRAWN: N_("Your complaint was withdrawn."),
    S.UNDER_REVIEW: N_("Your request for a review is being handled by someone independent of the first decision."),
    S.REFERRED: N_("Your complaint is for another authority: we told you which one and how to reach it."),
}

STATUS_LABELS = {
    S.RECEIVED: N_("Received"),
    S.INVESTIGATING: N_("Investigating"),
    S.UNFOUNDED: N_("Not confirmed"),
    S.ASSIGNED: N_("With the responsible department"),
    S.SOLUTION_PROPOSED: N_("Solution proposed"),
    S.APPROVED: N_("Solution approved"),
    S.AWAITING_CUSTOMER: N_("Awaiting your answer"),
    S.IMPLEMENTING: N_("Being carried out"),
    S.FOLLOW_UP: N_("Follow-up"),
    S.CLOSED: N_("Closed"),
    S.REOPENED: N_("Reopened"),
    S.ESCALATED: N_("Escalated"),
    S.WITHDRAWN: N_("Withdrawn"),
    S.UNDER_REVIEW: N_("Under review"),
    S.REFERRED: N_("Referred to another authority"),
}
"""What a person reads for a status (message ids; ``statusLabel`` translates them)."""


def next_step(status: ComplaintStatus) -> str:
    """A message id: what happens next, for the customer (translated where it is shown)."""
    return _NEXT[status]


def status_label(status: ComplaintStatus) -> str:
    return STATUS_LABELS[status]
