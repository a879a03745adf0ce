"""Why the customer is told something (``CustomerNotice``), in the reader's language.

A notice the platform words itself (a deadline missed, where to re-complain, a referral) keeps a message key and
its values (``reason_key``, ``reason_params``; ids and organisational names, no personal data) and is written in
the reader's language where it is read: the customer's message in the message's locale, the owner's task in the
owner's. A reason a person wrote (a deadline extension's, a review's answer) is kept as written (``reason``,
sealed). ``reason`` holds the English text of a keyed notice too, for what reads the column itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.core import i18n
from services.core.deadlines.models import CustomerNotice
from services.core.deadlines.tracking import KIND_LABELS
from services.core.i18n import N_, Both, When, msg

DEADLINE_BREACHED = "DEADLINE_BREACHED"
RECOMPLAINT_GUIDANCE = "RECOMPLAINT_GUIDANCE"
RECOMPLAINT_GUIDANCE_GENERAL = "RECOMPLAINT_GUIDANCE_GENERAL"
REFERRED = "REFERRED"

REASONS: dict[str, str] = {
    DEADLINE_BREACHED: N_("The {deadline} deadline (due {due}) has passed: tell the customer the reason for the "
                          "delay and when to expect an answer."),
    RECOMPLAINT_GUIDANCE: N_("If you are not satisfied, you may complain further to: {where}."),
    RECOMPLAINT_GUIDANCE_GENERAL: N_("If you are not satisfied, you may complain further to the industry "
                                     "association or the regulator."),
    REFERRED: N_("This matter is for {body}: please contact them; your complaint with us is closed."),
}
"""The keys a notice's reason may have, and their messages (in the catalogs)."""


def breached(kind: str, stage: str | None, due_at: datetime) -> tuple[str, dict[str, Any]]:
    return DEADLINE_BREACHED, {"kind": kind, "stage": stage, "due": due_at.isoformat()}


def guidance(lines: list[str]) -> tuple[str, dict[str, Any]]:
    return (RECOMPLAINT_GUIDANCE, {"where": lines}) if lines else (RECOMPLAINT_GUIDANCE_GENERAL, {})


def referred(line: str) -> tuple[str, dict[str, Any]]:
    return REFERRED, {"body": line}


def reason_message(key: str, params: dict[str, Any], tz: ZoneInfo | None = None) -> i18n.Msg:
    """The keyed reason as a marked message (translated where it is read)."""
    if key == DEADLINE_BREACHED:
        kind, stage = str(params.get("kind") or ""), params.get("stage")
        suffix = f" ({stage})" if stage else ""
        deadline = Both(kind + suffix, i18n.translate(KIND_LABELS.get(kind, kind), "zh-CN") + suffix)
        return msg(REASONS[key], deadline=deadline,
                   due=When(datetime.fromisoformat(str(params["due"])), tz or ZoneInfo("Asia/Shanghai")))
    if key == RECOMPLAINT_GUIDANCE:
        return msg(REASONS[key], where="; ".join(str(line) for line in params.get("where") or ()))
    if key == REFERRED:
        return msg(REASONS[key], body=str(params.get("body") or ""))
    return msg(REASONS[key])


def reason_of(notice: CustomerNotice, tz: ZoneInfo) -> str:
    """The notice's reason: a marked message (keyed) or the text a person wrote."""
    if notice.reason_key in REASONS:
        return reason_message(notice.reason_key, notice.reason_params or {}, tz)
    return notice.reason or ""


def reason_in(notice: CustomerNotice, locale: str, tz: ZoneInfo) -> str:
    """The notice's reason in ``locale`` (a reason a person wrote: as written)."""
    return i18n.translate(reason_of(notice, tz), locale)


def keyed(key: str, params: dict[str, Any], tz: ZoneInfo | None = None) -> dict[str, Any]:
    """A new notice's reason columns: the key, its values and the English text (``reason``)."""
    return {"reason_key": key, "reason_params": params, "reason": str(reason_message(key, params, tz))}
