"""statistics(period, groupBy, filter): figures over a fixture of 260 complaints in two tenants of their own.

The fixture is built through the core's step functions (the same ones the mutations call) from a plan drawn
with a fixed seed; every expected figure is computed here from the plan (received, verified, final answers,
referrals, litigation, re-complaints, escalations, satisfaction, handling days counted on weekdays: the months
used hold no public holiday nor adjusted working day), never by the code under test. Breaches come from the real
sweeper and are recounted from the deadlines table. A second test recounts the figures from the audit trail.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import rows
from sqlalchemy import select

from services.core.audit.service import Actor
from services.core.classification.models import ClassificationCode, ClassificationDimension
from services.core.complaints import service as svc
from services.core.complaints.models import Channel, Satisfaction
from services.core.deadlines.sweep import sweep_deadlines
from services.core.escalation import service as escalation
from services.core.escalation.models import ExternalBodyKind
from services.core.org.models import OrgUnit, User
from services.core.org.service import create_user
from services.core.tenancy import tenant_session

SH = ZoneInfo("Asia/Shanghai")
MONTHS = (3, 7, 8, 11)  # 2026: no public holiday and no adjusted working day in these months
PER_TENANT = 130
READER = "reader@stats.example"
STORE_MANAGER = "storemanager@stats.example"
FATES = ("open", "spot", "valid", "unfounded", "referred", "withdrawn", "full")
STORES = {"retail": ("ST-001", "BR-EAST"), "bank": ("BR-SH-01", "BR-SH")}
SWEEP_AT = datetime(2027, 2, 1, 10, tzinfo=SH)


def weekdays_after(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end``, counted on weekends alone."""
    return sum(1 for i in range(1, (end - start).days + 1) if (start + timedelta(days=i)).weekday() < 5)


def percentile(values: list[float], p: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    s = sorted(values)
    pos = p * (len(s) - 1)
    low = int(pos)
    high = min(low + 1, len(s) - 1)
    return s[low] + (s[high] - s[low]) * (pos - low)


@dataclass
class Planned:
    received: datetime
    store: str | None
    cause: str
    fate: str
    litigation: bool
    repeat: bool
    escalate: bool
    answered_after: int = 0
    rating: Satisfaction | None = None
    id: uuid.UUID | None = None

    @property
    def month(self) -> str:
        return f"{self.received.year}-{self.received.month:02d}"

    @property
    def final_answer(self) -> bool:
        return self.fate == "spot" or (self.fate == "full" and self.rating is not None and self.rating.closes)

    @property
    def handling_days(self) -> int | None:
        if not self.final_answer:
            return None
        return weekdays_after(self.received.date(), (self.received + timedelta(days=self.answered_after)).date())


@dataclass
class Built:
    slug: str
    schema: str
    template: str
    plan: list[Planned] = field(default_factory=list)
    units: dict[str, uuid.UUID] = field(default_factory=dict)
    codes: dict[str, uuid.UUID] = field(default_factory=dict)


def draw(rnd: random.Random, template: str, causes: list[str]) -> list[Planned]:
    plan = []
    for _ in range(PER_TENANT):
        month = rnd.choice(MONTHS)
        day = rnd.choice([d for d in range(1, 21) if date(2026, month, d).weekday() < 5])
        fate = rnd.choices(FATES, weights=(3, 4, 2, 2, 1, 1, 3))[0]
        p = Planned(
            received=datetime(2026, month, day, 10, rnd.randrange(60), tzinfo=SH),
            store=rnd.choice([*STORES[template], None]), cause=rnd.choice(causes), fate=fate,
            litigation=fate not in ("referred", "withdrawn") and rnd.random() < 0.1,
            repeat=bool(plan) and rnd.random() < 0.1, escalate=fate == "spot" and rnd.random() < 0.3,
        )
        if fate == "spot":
            p.answered_after = rnd.randrange(0, 7)
        elif fate == "full":
            p.answered_after = 5
            p.rating = rnd.choice(list(Satisfaction))
            # the bank template escalates a final dissatisfaction at once (auto_escalate_on_final_dissatisfaction)
            p.escalate = template == "bank" and not p.rating.closes
        plan.append(p)
    return plan


async def build(template: str, seed: int) -> Built:
    tenant = await new_tenant("stats", template)
    built = Built(slug=tenant.slug, schema=tenant.schema, template=template)
    rnd = random.Random(seed)
    async with tenant_session(tenant) as session, session.begin():
        built.units = {c: i for c, i in (await session.execute(select(OrgUnit.code, OrgUnit.id))).all()}
        built.codes = {c: i for c, i in (await session.execute(
            select(ClassificationCode.code, ClassificationCode.id)
            .where(ClassificationCode.dimension == ClassificationDimension.CAUSE.value))).all()}
        users = {e: i for e, i in (await session.execute(select(User.email, User.id))).all()}
        await create_user(session, email=READER, display_name="reader", roles=["report_reader"])
        store = STORES[template][0]
        await create_user(session, email=STORE_MANAGER, display_name="store manager",
                          roles=["store_manager" if template == "retail" else "manager"],
                          org_unit_id=built.units[store])
        actor = Actor(user_id=users["all@test.example"], label="all")
        second = Actor(user_id=users["all2@test.example"], label="all2")
        body = await escalation.upsert_external_body(session, now=datetime(2026, 1, 1, tzinfo=SH), data=(
            escalation.ExternalBodyInput(name="Stats Association", kind=ExternalBodyKind.CONSUMER_ASSOCIATION,
                                         escalation_level=1, webhook_url="https://stats.example/dossiers")))
        department = built.units["QA" if template == "retail" else "OPS"]
        built.plan = draw(rnd, template, sorted(built.codes))
        for p in built.plan:
            now = p.received
            earlier = [q.id for q in built.plan if q.id is not None]
            recorded = await svc.record_complaint(session, actor=actor, now=now, data=svc.ComplaintInput(
                complainant=svc.ComplainantInput(name="Wang Fang", phone="+86 138 0013 8000"),
                title="Statistics fixture", description="What happened.", channel=Channel.STORE,
                store_id=built.units[p.store] if p.store else None,
                repeat_of_id=rnd.choice(earlier) if p.repeat else None,
                classification={ClassificationDimension.CAUSE: built.codes[p.cause]}))
            cid = p.id = recorded.complaint.id
            later = now + timedelta(hours=1)
            if p.litigation:
                await svc.mark_litigation(session, actor=actor, now=later, complaint_id=cid)
            if p.fate == "spot":
                at = now + timedelta(days=p.answered_after, hours=2)
                await svc.resolve_on_the_spot(session, actor=actor, now=at, complaint_id=cid, resolution="Refunded")
                if p.escalate:
                    await escalation.escalate_complaint(session, actor=actor, now=at + timedelta(hours=1),
                                                        complaint_id=cid, reason="Still unhappy", body_id=body.id)
            elif p.fate in ("valid", "unfounded", "full"):
                await svc.start_investigation(session, actor=actor, now=later, complaint_id=cid)
                await svc.submit_investigation(session, actor=actor, now=later + timedelta(hours=1), complaint_id=cid,
                                               form=svc.InvestigationInput(valid=p.fate != "unfounded",
                                                                           findings="Facts"))
                if p.fate == "full":
                    assert p.rating is not None
                    step = later + timedelta(hours=2)
                    await svc.assign_responsible_department(session, actor=actor, now=step, complaint_id=cid,
                                                            department_id=department)
                    await svc.propose_solution(session, actor=actor, now=step, complaint_id=cid,
                                               solution="Replace", customer_reply="We replace it")
                    await svc.decide_handling_form(session, actor=second, now=step, complaint_id=cid, approve=True)
                    await svc.record_customer_opinion(session, actor=actor, now=step, complaint_id=cid, agreed=True)
                    await svc.complete_implementation(session, actor=actor, now=step, complaint_id=cid)
                    await svc.record_follow_up(session, actor=actor, now=now + timedelta(days=5, hours=2),
                                               complaint_id=cid, rating=p.rating)
            elif p.fate == "referred":
                await escalation.refer_complaint(session, actor=actor, now=later, complaint_id=cid, body_id=body.id)
            elif p.fate == "withdrawn":
                await svc.withdraw_complaint(session, actor=actor, now=later, complaint_id=cid, reason="Solved")
    async with tenant_session(tenant) as session:
        while (await sweep_deadlines(session, now=SWEEP_AT, limit=500)).full:
            pass
    return built


@pytest.fixture(scope="module")
async def fixture(tenants: Any) -> AsyncIterator[tuple[Built, Built]]:
    retail = await build("retail", 15)
    bank = await build("bank", 16)
    try:
        yield retail, bank
    finally:
        await drop_tenant(retail.slug)
        await drop_tenant(bank.slug)


STATISTICS = """
query ($period: StatisticsPeriod!, $groupBy: [StatisticsGroupBy!], $filter: StatisticsFilter) {
  statistics(period: $period, groupBy: $groupBy, filter: $filter) {
    periodFrom periodTo timezone groupBy
    rows {
      keys { groupBy value code label labelEn }
      received verified finalAnswer referred litigation reComplaints escalated closedWithinDeadline breached
      satisfaction { rating count } medianHandlingDays p90HandlingDays
    }
  }
}
"""
YEAR = {"from": "2026-01-01", "to": "2026-12-31"}


def expected(plan: list[Planned], breached: set[uuid.UUID]) -> dict[str, Any]:
    days = [float(d) for p in plan if (d := p.handling_days) is not None]
    ratings = Counter(p.rating.value for p in plan if p.rating is not None)
    return {
        "received": len(plan),
        "verified": sum(p.fate in ("valid", "full") for p in plan),
        "finalAnswer": sum(p.final_answer for p in plan),
        "referred": sum(p.fate == "referred" for p in plan),
        "litigation": sum(p.litigation for p in plan),
        "reComplaints": sum(p.repeat for p in plan),
        "escalated": sum(p.escalate for p in plan),
        "closedWithinDeadline": sum(p.final_answer and p.id not in breached for p in plan),
        "breached": sum(p.id in breached for p in plan),
        "satisfaction": [{"rating": s.value, "count": ratings.get(s.value, 0)} for s in Satisfaction],
        "medianHandlingDays": _round(percentile(days, 0.5)),
        "p90HandlingDays": _round(percentile(days, 0.9)),
    }


async def breached_ids(built: Built) -> set[uuid.UUID]:
    """Complaints with a company deadline the sweeper breached: read from the deadlines table itself."""
    return {r[0] for r in await rows(
        f"""SELECT DISTINCT complaint_id FROM "{built.schema}".deadlines
            WHERE party = 'COMPANY' AND breached_at IS NOT NULL""")}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def figures(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "keys"}
    return {**out, "medianHandlingDays": _round(out["medianHandlingDays"]),
            "p90HandlingDays": _round(out["p90HandlingDays"])}


async def test_totals_and_months_match_the_plan_in_each_tenant(
    gql: GraphQLClient, fixture: tuple[Built, Built]
) -> None:
    for built in fixture:
        breached = await breached_ids(built)
        assert breached, "the sweeper breached nothing: the breach figures would prove nothing"
        data = (await gql(STATISTICS, {"period": YEAR}, tenant=built.slug, user=READER))["statistics"]
        assert data["timezone"] == "Asia/Shanghai" and data["groupBy"] == []
        assert [figures(r) for r in data["rows"]] == [expected(built.plan, breached)]
        data = (await gql(STATISTICS, {"period": YEAR, "groupBy": ["MONTH"]}, tenant=built.slug,
                          user=READER))["statistics"]
        months = sorted({p.month for p in built.plan})
        assert [r["keys"][0]["value"] for r in data["rows"]] == months
        for r in data["rows"]:
            month = r["keys"][0]["value"]
            assert figures(r) == expected([p for p in built.plan if p.month == month], breached), month


async def test_grouped_by_cause_and_store_with_labels(gql: GraphQLClient, fixture: tuple[Built, Built]) -> None:
    for built in fixture:
        breached = await breached_ids(built)
        data = (await gql(STATISTICS, {"period": YEAR, "groupBy": ["CAUSE", "STORE"]}, tenant=built.slug,
                          user=READER))["statistics"]
        unit_codes = {str(i): c for c, i in built.units.items()}
        seen = set()
        for r in data["rows"]:
            cause, store = r["keys"]
            assert cause["groupBy"] == "CAUSE" and store["groupBy"] == "STORE"
            store_code = None if store["value"] is None else unit_codes[_raw(store["value"])]
            assert store["code"] == store_code
            group = [p for p in built.plan if p.cause == cause["code"] and p.store == store_code]
            assert figures(r) == expected(group, breached), (cause["code"], store_code)
            assert cause["label"] and cause["labelEn"] and cause["label"] != cause["labelEn"]
            seen.add((cause["code"], store_code))
        assert seen == {(p.cause, p.store) for p in built.plan}


def _raw(global_id: str) -> str:
    import base64

    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def test_a_store_viewer_gets_only_their_store(gql: GraphQLClient, fixture: tuple[Built, Built]) -> None:
    retail, bank = fixture
    breached = await breached_ids(retail)
    store = STORES["retail"][0]
    data = (await gql(STATISTICS, {"period": YEAR}, tenant=retail.slug, user=STORE_MANAGER))["statistics"]
    mine = [p for p in retail.plan if p.store == store]
    assert 0 < len(mine) < len(retail.plan)
    assert [figures(r) for r in data["rows"]] == [expected(mine, breached)]
    # grouped by store, only theirs appears
    data = (await gql(STATISTICS, {"period": YEAR, "groupBy": ["STORE"]}, tenant=retail.slug,
                      user=STORE_MANAGER))["statistics"]
    assert [r["keys"][0]["code"] for r in data["rows"]] == [store]
    # the bank's manager (any complaint) sees the whole bank, and nothing of the retail tenant
    data = (await gql(STATISTICS, {"period": YEAR}, tenant=bank.slug, user=STORE_MANAGER))["statistics"]
    assert data["rows"][0]["received"] == len(bank.plan)


async def test_filters_and_period_bounds(gql: GraphQLClient, fixture: tuple[Built, Built]) -> None:
    retail, _ = fixture
    breached = await breached_ids(retail)
    import base64

    from helpers import raw_id  # noqa: F401  (global IDs below are built by hand)

    def gid(kind: str, value: uuid.UUID) -> str:
        return base64.b64encode(f"{kind}:{value}".encode()).decode()

    cause = sorted({p.cause for p in retail.plan})[0]
    data = (await gql(STATISTICS, {"period": YEAR, "filter": {
        "codeIds": [gid("ClassificationCode", retail.codes[cause])], "litigation": False}},
        tenant=retail.slug, user=READER))["statistics"]
    assert [figures(r) for r in data["rows"]] == [
        expected([p for p in retail.plan if p.cause == cause and not p.litigation], breached)]
    # one month, its first and last days included (the tenant's time zone)
    data = (await gql(STATISTICS, {"period": {"from": "2026-07-01", "to": "2026-07-31"}},
                      tenant=retail.slug, user=READER))["statistics"]
    assert data["rows"][0]["received"] == sum(p.month == "2026-07" for p in retail.plan)
    # nothing received: one row of zeros
    data = (await gql(STATISTICS, {"period": {"from": "2025-01-01", "to": "2025-12-31"}},
                      tenant=retail.slug, user=READER))["statistics"]
    assert data["rows"][0]["received"] == 0 and data["rows"][0]["medianHandlingDays"] is None


async def test_refusals(gql: GraphQLClient, fixture: tuple[Built, Built]) -> None:
    retail, _ = fixture
    # a receiver may not read statistics
    response = await gql.post(STATISTICS, {"period": YEAR}, tenant=retail.slug, user="receiver@test.example")
    body = response.json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for period, group_by in (({"from": "2026-02-01", "to": "2026-01-01"}, []),
                             ({"from": "2020-01-01", "to": "2026-12-31"}, []),
                             (YEAR, ["MONTH", "MONTH"]),
                             (YEAR, ["MONTH", "STORE", "CAUSE", "AREA"])):
        response = await gql.post(STATISTICS, {"period": period, "groupBy": group_by}, tenant=retail.slug,
                                  user=READER)
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (period, group_by, body)


async def test_figures_recount_from_the_audit_trail(gql: GraphQLClient, fixture: tuple[Built, Built]) -> None:
    """The lifecycle's own record (the audit events of the steps) gives the same figures, month by month."""
    for built in fixture:
        schema = built.schema
        recount = {r.month: r for r in await rows(f"""
            WITH received AS (
              SELECT subject_id AS id, to_char(occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
                     changes->>'repeatOfId' IS NOT NULL AS repeat
              FROM "{schema}".audit_events WHERE action = 'record_complaint')
            SELECT r.month, count(*) AS received, count(*) FILTER (WHERE r.repeat) AS re_complaints,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "{schema}".audit_events e WHERE e.subject_id = r.id
                AND e.action = 'submit_investigation' AND e.changes->>'valid' = 'true')) AS verified,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "{schema}".audit_events e WHERE e.subject_id = r.id
                AND e.to_status = 'CLOSED')) AS final_answer,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "{schema}".audit_events e WHERE e.subject_id = r.id
                AND e.to_status = 'REFERRED')) AS referred,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "{schema}".audit_events e WHERE e.subject_id = r.id
                AND e.to_status = 'ESCALATED')) AS escalated,
              count(*) FILTER (WHERE (SELECT e.changes->>'litigation' FROM "{schema}".audit_events e
                WHERE e.subject_id = r.id AND e.action = 'mark_litigation' ORDER BY e.seq DESC LIMIT 1) = 'true')
                AS litigation
            FROM received r GROUP BY r.month""")}
        data = (await gql(STATISTICS, {"period": YEAR, "groupBy": ["MONTH"]}, tenant=built.slug,
                          user=READER))["statistics"]
        assert sorted(recount) == [r["keys"][0]["value"] for r in data["rows"]]
        for r in data["rows"]:
            a = recount[r["keys"][0]["value"]]
            assert (r["received"], r["reComplaints"], r["verified"], r["finalAnswer"], r["referred"],
                    r["escalated"], r["litigation"]) == (a.received, a.re_complaints, a.verified, a.final_answer,
                                                         a.referred, a.escalated, a.litigation)



async def test_every_relation_counts_what_the_complaints_list_shows(fixture: tuple[Built, Built]) -> None:
    """The viewer's predicate is said of the facts rows (not joined to complaints): for each relation a rule can
    name, the statistics count exactly the complaints the list counts with the same predicate."""
    from services.core import authz
    from services.core.complaints.queries import ComplaintFilter, count_complaints
    from services.core.statistics import service as stats
    from services.core.tenancy import resolve_tenant

    for built in fixture:
        tenant = await resolve_tenant(built.slug)
        async with tenant_session(tenant) as session, session.begin():
            users = {e: (i, u) for e, i, u in (await session.execute(select(User.email, User.id, User.org_unit_id)))}
            for email in ("all@test.example", "all2@test.example", STORE_MANAGER):
                user_id, unit = users[email]
                for relation in ("owner", "handler", "handling_department", "responsible_department", "store",
                                 "owner&approved", "!owner", "handler&!store"):
                    read = authz.expression_clause(relation, user_id, unit)
                    listed = await count_complaints(session, filter=ComplaintFilter(), read=read)
                    rows_ = (await session.execute(stats.statement(
                        tz="Asia/Shanghai", period_from=date(2000, 1, 1), period_to=date(2002, 12, 31), groups=[],
                        filter=stats.StatisticsFilter(), read=read))).all()
                    assert rows_[0][0] == 0  # nothing received then: the period bounds hold too
                    counted = (await session.execute(stats.statement(
                        tz="Asia/Shanghai", period_from=date(2026, 1, 1), period_to=date(2026, 12, 31), groups=[],
                        filter=stats.StatisticsFilter(), read=read))).all()[0][0]
                    assert counted == listed, (built.template, email, relation)
