"""The accountability figures of a report (issue 16): seed IV 三.4 (results, attribution, improvements) in the
semi-annual summary, seed III item 10 (the review plans' coverage and findings) in the annual mechanism report,
and the periodic management report.

Every figure is one SQL aggregate:

- responsibility attributed by level, by cause and by unit: the statistics' own groupings (``RESPONSIBILITY_LEVEL``,
  ``RESPONSIBILITY_CAUSE``, ``RESPONSIBLE_UNIT``) over the complaints received in the period, as report tables;
  the totals (``attributed``, ``penalties`` on them, ``repeats_confirmed``, ``major_flagged``, ``major_reported``)
  come with the statistics' totals;
- penalties by kind and state: the penalties proposed in the period (the tenant's days), counted, amounts summed;
- review plans: the plans whose period overlaps the report's; their coverage (cases reviewed / cases in the
  sample), their findings by outcome, and their improvement actions open, completed and overdue (open, due before
  the day the report is made, in the tenant's time zone).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.accountability.models import (
    FindingOutcome,
    ImprovementAction,
    Penalty,
    PenaltyKind,
    PenaltyState,
    ReviewFinding,
    ReviewPlan,
    ReviewPlanCase,
)

TABLES = {"by_responsibility_level": ["RESPONSIBILITY_LEVEL"], "by_responsibility_cause": ["RESPONSIBILITY_CAUSE"],
          "by_responsible_unit": ["RESPONSIBLE_UNIT"]}
TABLE_TITLES: dict[str, tuple[str, str]] = {
    "by_responsibility_level": ("按责任归属层级", "by responsibility level"),
    "by_responsibility_cause": ("按责任原因 (产品/非产品)", "by responsibility cause (product / non-product)"),
    "by_responsible_unit": ("按责任单位", "by responsible unit"),
}
MEASURES: list[tuple[str, str, str]] = [
    ("attributed", "责任已认定", "responsibility attributed"),
    ("attributed_product", "其中产品原因", "of which product"),
    ("attributed_non_product", "其中非产品原因", "of which non-product"),
    ("penalties", "生效处分 (所涉投诉)", "effective penalties (on these complaints)"),
    ("repeats_confirmed", "确认二次投诉", "repeat complaints confirmed"),
    ("repeats_against_store", "其中计入门店", "of which counted against the store"),
    ("major_flagged", "重大投诉", "major complaints flagged"),
    ("major_reported", "已报送监管", "regulator notifications sent"),
]
LABELS: dict[str, tuple[str, str]] = {
    "PRODUCTION_TEAM": ("班组", "production team"), "FACTORY": ("工厂", "factory"),
    "INDIVIDUAL": ("个人", "individual"), "STORE": ("门店/分公司", "store or branch"),
    "OUTSIDE_PARTY": ("外部单位", "outside party"), "PRODUCT": ("产品", "product"),
    "NON_PRODUCT": ("非产品", "non-product"),
    PenaltyKind.WARNING: ("警告", "warning"), PenaltyKind.CRITICISM: ("通报批评", "criticism"),
    PenaltyKind.FINE: ("罚扣", "fine"), PenaltyKind.DEMERIT: ("记过", "demerit"),
    PenaltyState.PROPOSED: ("待审批", "proposed"), PenaltyState.EFFECTIVE: ("已生效", "effective"),
    PenaltyState.REJECTED: ("已驳回", "rejected"),
    FindingOutcome.CONFORMING: ("符合", "conforming"), FindingOutcome.NONCONFORMING: ("不符合", "nonconforming"),
}
REVIEW: list[tuple[str, str, str]] = [
    ("plans", "检查回顾计划", "review plans"),
    ("sampled", "抽样案件", "cases in the sample"),
    ("reviewed", "已复核案件", "cases reviewed"),
    ("coverage", "覆盖率", "coverage"),
    ("conforming", "符合", "findings: conforming"),
    ("nonconforming", "不符合", "findings: nonconforming"),
    ("actions_open", "改进措施未完成", "improvement actions open"),
    ("actions_completed", "改进措施已完成", "improvement actions completed"),
    ("actions_overdue", "改进措施逾期", "improvement actions overdue"),
]


def label(value: str | None, lang: str) -> str:
    if value is None:
        return "未认定" if lang == "zh" else "not attributed"
    pair = LABELS.get(value)
    return (pair[0] if lang == "zh" else pair[1]) if pair else value


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.2f}"


async def penalties(session: AsyncSession, zone: str, period_from: date, last: date) -> list[dict[str, Any]]:
    """Penalties proposed in the period by kind and state: count and amount (every kind and state listed)."""
    day = cast(func.timezone(zone, Penalty.proposed_at), Date)
    rows = (await session.execute(
        select(Penalty.kind, Penalty.state, func.count(), func.sum(Penalty.amount))
        .where(day >= period_from, day <= last).group_by(Penalty.kind, Penalty.state))).all()
    found = {(k, s): (n, a) for k, s, n, a in rows}
    return [{"kind": k.value, "state": s.value, "count": int(found.get((k.value, s.value), (0, None))[0]),
             "amount": _money(found.get((k.value, s.value), (0, None))[1])}
            for k in PenaltyKind for s in PenaltyState]


async def review(session: AsyncSession, period_from: date, last: date, today: date) -> dict[str, Any]:
    """The review plans overlapping the period: coverage, findings by outcome, improvement actions."""
    plans = select(ReviewPlan.id).where(ReviewPlan.period_from <= last, ReviewPlan.period_to >= period_from)
    plan_count = await session.scalar(select(func.count()).select_from(plans.subquery()))
    sampled = await session.scalar(select(func.count()).select_from(ReviewPlanCase)
                                   .where(ReviewPlanCase.plan_id.in_(plans)))
    reviewed = await session.scalar(
        select(func.count()).select_from(ReviewFinding).join(
            ReviewPlanCase, and_(ReviewPlanCase.plan_id == ReviewFinding.plan_id,
                                 ReviewPlanCase.complaint_id == ReviewFinding.complaint_id))
        .where(ReviewFinding.plan_id.in_(plans)))
    outcomes = dict((await session.execute(
        select(ReviewFinding.outcome, func.count()).where(ReviewFinding.plan_id.in_(plans))
        .group_by(ReviewFinding.outcome))).all())
    open_ = ImprovementAction.completed_at.is_(None)
    actions = (await session.execute(
        select(func.count().filter(open_), func.count().filter(~open_),
               func.count().filter(and_(open_, ImprovementAction.due_date < today)))
        .where(ImprovementAction.plan_id.in_(plans)))).one()
    sampled, reviewed = int(sampled or 0), int(reviewed or 0)
    return {
        "plans": int(plan_count or 0), "sampled": sampled, "reviewed": reviewed,
        "coverage": f"{Decimal(reviewed) / Decimal(sampled):.4f}" if sampled else None,
        "conforming": int(outcomes.get(FindingOutcome.CONFORMING.value, 0)),
        "nonconforming": int(outcomes.get(FindingOutcome.NONCONFORMING.value, 0)),
        "actions_open": int(actions[0]), "actions_completed": int(actions[1]), "actions_overdue": int(actions[2]),
    }


async def figures(session: AsyncSession, zone: str, period_from: date, last: date,
                  totals: dict[str, Any], *, today: date) -> dict[str, Any]:
    return {"totals": {key: totals.get(key, 0) for key, _, _ in MEASURES},
            "penalties": await penalties(session, zone, period_from, last),
            "review": await review(session, period_from, last, today)}


def improvements(acc: dict[str, Any]) -> list[dict[str, str]]:
    """Seed IV 三.4 / seed III item 10: what the accountability figures call for."""
    out: list[dict[str, str]] = []
    r = acc["review"]
    if r["nonconforming"]:
        out.append({"zh": f"检查回顾: {r['nonconforming']} 件不符合, 需落实改进措施",
                    "en": f"periodic review: {r['nonconforming']} nonconforming case(s); carry out the improvements"})
    if r["actions_overdue"]:
        out.append({"zh": f"{r['actions_overdue']} 项改进措施逾期未完成",
                    "en": f"{r['actions_overdue']} improvement action(s) overdue"})
    t = acc["totals"]
    if t["repeats_against_store"]:
        out.append({"zh": f"{t['repeats_against_store']} 件二次投诉计入门店, 需加强首问负责",
                    "en": f"{t['repeats_against_store']} repeat complaint(s) counted against stores; "
                          "strengthen first-receiver ownership"})
    return out


def lines(acc: dict[str, Any]) -> list[str]:
    """The PDF's lines: the totals, the penalties given, the review figures (zh-CN and en)."""
    out = [f"{zh} {en}: {acc['totals'][key]}" for key, zh, en in MEASURES]
    for p in acc["penalties"]:
        if p["count"]:
            out.append(f"处分 penalties {label(p['kind'], 'zh')}/{label(p['state'], 'zh')} "
                       f"{label(p['kind'], 'en')}/{label(p['state'], 'en')}: {p['count']} ({p['amount']})")
    r = acc["review"]
    out += [f"{zh} {en}: {'' if r[key] is None else r[key]}" for key, zh, en in REVIEW]
    return out
