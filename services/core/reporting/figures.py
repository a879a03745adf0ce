"""What a report holds: figures computed through ``statistics.compute`` (the one counting SQL), kept as JSON in the
report row, and the files made from them (CSV, XLSX, and a PDF with charts). Every label in zh-CN and en."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.reporting import accountability
from services.core.reporting.files import Chart, Sheet, to_csv, to_pdf, to_xlsx
from services.core.reporting.models import ReportKind
from services.core.statistics.service import compute

MEASURES: list[tuple[str, str, str]] = [
    ("received", "受理", "received"),
    ("verified", "成立", "verified"),
    ("final_answer", "最终答复", "final answer"),
    ("referred", "转交", "referred"),
    ("litigation", "诉讼", "litigation"),
    ("re_complaints", "二次投诉", "re-complaints"),
    ("escalated", "上报", "escalated"),
    ("closed_in_time", "按期办结", "closed within deadline"),
    ("breached", "超期", "deadline breached"),
    ("median_handling_days", "处理工作日中位数", "median working days"),
    ("p90_handling_days", "处理工作日P90", "p90 working days"),
]
SATISFACTION = [("VERY_SATISFIED", "非常满意", "very satisfied"), ("SATISFIED", "满意", "satisfied"),
                ("NEUTRAL", "一般", "neutral"), ("DISSATISFIED", "不满意", "dissatisfied"),
                ("VERY_DISSATISFIED", "非常不满意", "very dissatisfied")]
TITLES: dict[str, tuple[str, str]] = {
    ReportKind.SEMI_ANNUAL_SUMMARY: ("半年度投诉工作总结", "Semi-annual complaint summary"),
    ReportKind.MANAGEMENT: ("投诉管理定期报告", "Periodic management report"),
    ReportKind.ANNUAL_MECHANISM: ("投诉处理机制年度运行报告", "Annual report on the complaint mechanism"),
    ReportKind.REGULATOR_RETURN: ("金融消费者投诉统计报表 (JR/T 0169-2018)",
                                  "Regulator's complaint return (JR/T 0169-2018)"),
}
TABLE_TITLES: dict[str, tuple[str, str]] = {
    "by_month": ("按月趋势", "trend by month"),
    "by_quarter": ("按季度", "by quarter"),
    "by_department": ("按责任部门", "by responsible department"),
    "by_store": ("按门店/网点", "by store or branch"),
    "by_quality": ("质量/非质量", "quality / non-quality"),
    "by_channel": ("按渠道", "by channel"),
    "by_category": ("按类别", "by category"),
    "jrt0169": ("渠道 x 业务类型 x 原因 (JR/T 0169)", "channel x business type x cause (JR/T 0169)"),
    **accountability.TABLE_TITLES,
}
# the tables of each kind: name -> the statistics' groupings
TABLES: dict[str, dict[str, list[str]]] = {
    ReportKind.SEMI_ANNUAL_SUMMARY: {"by_month": ["MONTH"], "by_department": ["DEPARTMENT"],
                                     "by_quality": ["QUALITY"], "by_channel": ["CHANNEL"], "by_store": ["STORE"],
                                     **accountability.TABLES},
    ReportKind.MANAGEMENT: {"by_month": ["MONTH"], "by_department": ["DEPARTMENT"], "by_channel": ["CHANNEL"],
                            "by_store": ["STORE"], **accountability.TABLES},
    ReportKind.ANNUAL_MECHANISM: {"by_month": ["MONTH"], "by_quarter": ["QUARTER"], "by_department": ["DEPARTMENT"],
                                  "by_category": ["CATEGORY"], "by_channel": ["CHANNEL"], **accountability.TABLES},
    ReportKind.REGULATOR_RETURN: {"by_month": ["MONTH"], "by_department": ["DEPARTMENT"],
                                  "jrt0169": ["BUSINESS_CHANNEL", "BUSINESS_TYPE", "CAUSE"]},
}
WITH_ACCOUNTABILITY = frozenset({ReportKind.SEMI_ANNUAL_SUMMARY, ReportKind.MANAGEMENT, ReportKind.ANNUAL_MECHANISM})
"""the kinds that carry the accountability figures (issue 16; ``reporting.accountability``)"""


def _measures(m: Any) -> dict[str, Any]:
    out = asdict(m)
    return out


async def compute_figures(session: AsyncSession, tenant: str, kind: ReportKind, period_from: date,
                          period_to: date, progress: Callable[[int], Awaitable[None]], *,
                          now: datetime | None = None) -> dict[str, Any]:
    """The report's figures over [period_from, period_to) for the whole tenant (a report is the organisation's);
    ``now``: when it is made (the improvement actions overdue then)."""
    last = period_to - timedelta(days=1)
    totals = await compute(session, tenant, None, period_from=period_from, period_to=last)
    tables: dict[str, Any] = {}
    names = TABLES[kind]
    for i, (name, groups) in enumerate(names.items()):
        result = await compute(session, tenant, None, period_from=period_from, period_to=last, group_by=groups)
        tables[name] = {"group_by": result.group_by,
                        "rows": [{"keys": [asdict(k) for k in row.keys], "measures": _measures(row.measures)}
                                 for row in result.rows]}
        await progress(10 + 60 * (i + 1) // len(names))
    figures: dict[str, Any] = {
        "kind": kind.value, "period_from": period_from.isoformat(), "period_to": last.isoformat(),
        "timezone": totals.timezone, "totals": _measures(totals.rows[0].measures), "tables": tables,
    }
    if kind in WITH_ACCOUNTABILITY:
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(totals.timezone)).date()
        figures["accountability"] = await accountability.figures(session, totals.timezone, period_from, last,
                                                                 figures["totals"], today=today)
    if kind == ReportKind.SEMI_ANNUAL_SUMMARY:
        figures["improvements"] = improvements(figures)
    return figures


def _key_label(key: dict[str, Any], lang: str) -> str:
    if key.get("group") in ("RESPONSIBILITY_LEVEL", "RESPONSIBILITY_CAUSE"):
        return accountability.label(key.get("value"), lang)
    label = key.get("label_en") if lang == "en" else key.get("label")
    code = key.get("code")
    text = label or key.get("value") or ("未设" if lang == "zh" else "not set")
    return f"{code} {text}" if code and code != text else str(text)


def improvements(figures: dict[str, Any]) -> list[dict[str, str]]:
    """Seed IV 三.4: where to improve, read off the figures (the departments with breaches or re-complaints)."""
    out: list[dict[str, str]] = []
    for row in figures["tables"].get("by_department", {}).get("rows", []):
        m = row["measures"]
        name_zh, name_en = _key_label(row["keys"][0], "zh"), _key_label(row["keys"][0], "en")
        if m["breached"]:
            out.append({"zh": f"{name_zh}: {m['breached']} 件超期, 需加强时限管理",
                        "en": f"{name_en}: {m['breached']} deadline(s) breached; tighten deadline management"})
        if m["re_complaints"]:
            out.append({"zh": f"{name_zh}: {m['re_complaints']} 件二次投诉, 需复查处理质量",
                        "en": f"{name_en}: {m['re_complaints']} re-complaint(s); review the quality of answers"})
    if figures.get("accountability"):
        out += accountability.improvements(figures["accountability"])
    t = figures["totals"]
    if t["received"] and not out:
        out.append({"zh": "本期无超期及二次投诉", "en": "no breached deadline and no re-complaint this period"})
    return out


def _value(v: Any) -> Any:
    return "" if v is None else v


def sheets(figures: dict[str, Any]) -> list[Sheet]:
    totals = figures["totals"]
    rows: list[list[Any]] = [[key, zh, en, _value(totals[key])] for key, zh, en in MEASURES]
    rows += [[f"satisfaction.{key}", zh, en, totals["satisfaction"][key]] for key, zh, en in SATISFACTION]
    out = [Sheet("totals", ["measure", "指标", "label", "value"], rows)]
    acc = figures.get("accountability")
    for name, table in figures["tables"].items():
        responsibility = name in accountability.TABLES  # received and the accountability measures only
        measures = [MEASURES[0], *accountability.MEASURES] if responsibility else MEASURES
        ratings = [] if responsibility else SATISFACTION
        header = [*[f"{g}" for g in table["group_by"]], *[f"{zh} {en}" for _, zh, en in [*measures, *ratings]]]
        both = responsibility and table["group_by"] != ["RESPONSIBLE_UNIT"]  # enum values: zh-CN and en labels
        body = [[*[_key_label(k, "zh") + (" " + _key_label(k, "en") if both else "") for k in row["keys"]],
                 *[_value(row["measures"].get(c)) for c, _, _ in measures],
                 *[row["measures"]["satisfaction"][s] for s, _, _ in ratings]] for row in table["rows"]]
        out.append(Sheet(name, header, body))
    if acc:
        review = acc["review"]
        out.append(Sheet("accountability", ["measure", "指标", "label", "value"],
                         [[key, zh, en, _value(acc["totals"][key])] for key, zh, en in accountability.MEASURES]
                         + [[f"review.{key}", zh, en, _value(review[key])] for key, zh, en in accountability.REVIEW]))
        out.append(Sheet("penalties", ["kind", "state", "处分种类", "状态", "kind (en)", "state (en)", "count",
                                       "amount"],
                         [[p["kind"], p["state"], accountability.label(p["kind"], "zh"),
                           accountability.label(p["state"], "zh"), accountability.label(p["kind"], "en"),
                           accountability.label(p["state"], "en"), p["count"], p["amount"]]
                          for p in acc["penalties"]]))
    if figures.get("improvements"):
        out.append(Sheet("improvements", ["改进建议", "improvement"],
                         [[i["zh"], i["en"]] for i in figures["improvements"]]))
    return out


def _chart(figures: dict[str, Any], table: str, title: str, kind: str = "bar") -> Chart | None:
    rows = figures["tables"].get(table, {}).get("rows", [])
    if not rows:
        return None
    return Chart(title, [_key_label(r["keys"][0], "zh")[:14] for r in rows],
                 [float(r["measures"]["received"]) for r in rows], kind)


def render(figures: dict[str, Any]) -> dict[str, bytes]:
    """The report's files by format."""
    kind = figures["kind"]
    zh, en = TITLES[kind]
    t = figures["totals"]
    lines = [f"期间 period: {figures['period_from']} – {figures['period_to']} ({figures['timezone']})"]
    lines += [f"{label_zh} {label_en}: {_value(t[key])}" for key, label_zh, label_en in MEASURES]
    if figures.get("accountability"):
        lines += accountability.lines(figures["accountability"])
    lines += [f"{i['zh']} / {i['en']}" for i in figures.get("improvements", [])]
    charts = [c for c in (
        _chart(figures, "by_department", "按责任部门受理 received by department"),
        _chart(figures, "by_month", "按月趋势 trend by month", "line"),
        Chart("时限执行 deadline compliance", ["按期办结 in time", "超期 breached"],
              [float(t["closed_in_time"]), float(t["breached"])]),
    ) if c is not None]
    tables = sheets(figures)
    return {"CSV": to_csv(tables), "XLSX": to_xlsx(tables), "PDF": to_pdf(f"{zh} {en}", lines, tables, charts)}
