"""Tenant templates: what a new tenant starts with.

A template is data (roles, org units, categories, the external-body directory's entries to complete; the SLA
profiles and policies are seeded by the migrations from ``services.core.deadlines.rules`` and
``policies/<template>.csv``); ``seed`` writes it through the core services, in the tenant's creation
transaction.

The directory entries are the standard kinds of body a complaint may go to (seed II and III), inactive and
without a webhook, so nothing is ever sent to them until a tenant admin completes one (contact, webhook and
secret) and activates it with ``upsertExternalBody``. Tenant migration t0011 gives the same entries (a frozen
copy) to tenants created before it whose directory was still empty.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.authz import keep_seeded_version
from services.core.clock import system_clock
from services.core.escalation.models import ExternalBody, ExternalBodyKind
from services.core.escalation.service import ExternalBodyInput, upsert_external_body
from services.core.org.models import CategoryCause, CategoryDimension, OrgUnitKind
from services.core.org.service import create_org_unit, create_role, upsert_category


@dataclass(frozen=True)
class UnitSpec:
    code: str
    name: str
    kind: OrgUnitKind
    parent: str | None = None


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    parent: str | None = None
    cause: CategoryCause | None = None
    dimension: CategoryDimension | None = None


@dataclass(frozen=True)
class BodySpec:
    """An external body to complete: its kind and, for escalation, its level (1 association, 2 regulator)."""

    name: str
    kind: ExternalBodyKind
    escalation_level: int | None = None


TO_COMPLETE = "To complete: contact, webhook (https) and secret, what it handles; then activate it."


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    roles: tuple[tuple[str, str], ...]
    org_units: tuple[UnitSpec, ...] = field(default_factory=tuple)
    categories: tuple[CategorySpec, ...] = field(default_factory=tuple)
    external_bodies: tuple[BodySpec, ...] = field(default_factory=tuple)


_COMMON_ROLES = (
    ("tenant_admin", "configures the organisation, users, categories, deadlines and policies"),
    ("receiver", "records complaints from every channel and owns what they receive (首问负责制)"),
    ("investigator", "investigates, gathers evidence and vouches for its truth (质量检验、取证)"),
    ("complaint_desk", "analyses causes, decides validity and the responsible department, fills the handling form"),
    ("handler", "answers the transfer slip with a solution and implements it (责任部门)"),
    ("approver", "approves the handling form in writing before anything is promised (主管副总经理)"),
    ("general_manager", "decides responsibility and penalties in serious cases (总经理)"),
    ("reviewer", "independent periodic review; never of cases they or their department handled"),
    ("manager", "supervises a unit; may transfer ownership of its complaints"),
    ("report_reader", "reads statistics and reports"),
)

Q, NQ = CategoryCause.QUALITY, CategoryCause.NON_QUALITY

RETAIL = Template(
    name="retail",
    description="Retail chain: customer service, marketing, production, sales branches and stores (seed I, IV)",
    roles=(*_COMMON_ROLES, ("store_manager", "organises analysis and adjudication for a store (店经理)")),
    org_units=(
        UnitSpec("CS", "客户服务部 Customer Service", OrgUnitKind.DEPARTMENT),
        UnitSpec("MKT", "市场部 Marketing", OrgUnitKind.DEPARTMENT),
        UnitSpec("QA", "质量检验部 Quality Inspection", OrgUnitKind.DEPARTMENT),
        UnitSpec("PROD", "生产部 Production", OrgUnitKind.DEPARTMENT),
        UnitSpec("PROD-T1", "加工一组 Processing Team 1", OrgUnitKind.PRODUCTION_TEAM, "PROD"),
        UnitSpec("AUDIT", "审计部 Internal Audit", OrgUnitKind.DEPARTMENT),
        UnitSpec("BR-EAST", "华东销售分公司 East Sales Branch", OrgUnitKind.BRANCH),
        UnitSpec("ST-001", "一号专卖店 Store 001", OrgUnitKind.STORE, "BR-EAST"),
    ),
    categories=(
        CategorySpec("QUALITY", "品质异常 Quality problem", cause=Q),
        CategorySpec("Q-DEFECT", "产品缺陷 Product defect", "QUALITY", cause=Q),
        CategorySpec("Q-SPEC", "规格不符 Not to specification", "QUALITY", cause=Q),
        CategorySpec("Q-PACK", "包装破损 Damaged packaging", "QUALITY", cause=Q),
        CategorySpec("NON-QUALITY", "非品质异常（人为因素） Non-quality (human factor)", cause=NQ),
        CategorySpec("NQ-SERVICE", "服务态度 Service attitude", "NON-QUALITY", cause=NQ),
        CategorySpec("NQ-DELIVERY", "交货延误 Late delivery", "NON-QUALITY", cause=NQ),
        CategorySpec("NQ-PRICE", "价格收费 Pricing and charges", "NON-QUALITY", cause=NQ),
    ),
    external_bodies=(
        BodySpec("（待完善）消费者协会 Consumer association — to complete", ExternalBodyKind.CONSUMER_ASSOCIATION, 1),
        BodySpec("（待完善）行业协会 Industry association — to complete", ExternalBodyKind.INDUSTRY_ASSOCIATION, 1),
        BodySpec("（待完善）市场监督管理局 Market regulator — to complete", ExternalBodyKind.MARKET_REGULATOR, 2),
        BodySpec("（待完善）卫生健康委员会 Health administration — to complete",
                 ExternalBodyKind.HEALTH_ADMINISTRATION),
        BodySpec("（待完善）价格主管部门 Price bureau — to complete", ExternalBodyKind.PRICE_BUREAU),
    ),
)

D = CategoryDimension
BANK = Template(
    name="bank",
    description="Bank: consumer protection as the complaint desk, operations, audit, branches (seed III)",
    roles=(*_COMMON_ROLES, ("regulator_liaison", "reports major complaints to the regulator")),
    org_units=(
        UnitSpec("CP", "消费者权益保护部 Consumer Protection", OrgUnitKind.DEPARTMENT),
        UnitSpec("RETAIL", "零售银行部 Retail Banking", OrgUnitKind.DEPARTMENT),
        UnitSpec("CARD", "信用卡中心 Card Center", OrgUnitKind.DEPARTMENT),
        UnitSpec("OPS", "运营管理部 Operations", OrgUnitKind.DEPARTMENT),
        UnitSpec("AUDIT", "内审部 Internal Audit", OrgUnitKind.DEPARTMENT),
        UnitSpec("BR-SH", "上海分行 Shanghai Branch", OrgUnitKind.BRANCH),
        UnitSpec("BR-SH-01", "上海分行营业部 Shanghai Main Office", OrgUnitKind.STORE, "BR-SH"),
    ),
    categories=(
        CategorySpec("PRODUCT", "产品 Product", dimension=D.PRODUCT),
        CategorySpec("PRODUCT-CARD", "信用卡 Credit cards", "PRODUCT", dimension=D.PRODUCT),
        CategorySpec("PRODUCT-WEALTH", "理财 Wealth management", "PRODUCT", dimension=D.PRODUCT),
        CategorySpec("SERVICE", "服务 Service", dimension=D.SERVICE),
        CategorySpec("CHANNEL", "渠道 Channel", dimension=D.CHANNEL),
        CategorySpec("CHANNEL-APP", "手机银行 Mobile banking", "CHANNEL", dimension=D.CHANNEL),
        CategorySpec("STAFF", "员工行为 Staff behaviour", dimension=D.STAFF_BEHAVIOUR),
        CategorySpec("INTERNAL", "内部管理 Internal management", dimension=D.INTERNAL_MANAGEMENT),
        CategorySpec("CRIME", "金融犯罪 Financial crime", dimension=D.FINANCIAL_CRIME),
    ),
    external_bodies=(
        BodySpec("（待完善）银行业协会 Banking association — to complete", ExternalBodyKind.INDUSTRY_ASSOCIATION, 1),
        BodySpec("（待完善）金融监管总局派出机构 NFRA local office (regulator) — to complete",
                 ExternalBodyKind.REGULATOR, 2),
        BodySpec("（待完善）中国人民银行分支机构 People's Bank of China branch — to complete",
                 ExternalBodyKind.REGULATOR),
        BodySpec("（待完善）消费者协会 Consumer association — to complete", ExternalBodyKind.CONSUMER_ASSOCIATION),
        BodySpec("（待完善）价格主管部门 Price bureau — to complete", ExternalBodyKind.PRICE_BUREAU),
    ),
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (RETAIL, BANK)}


async def seed_directory(session: AsyncSession, template: Template, *, now: datetime) -> int:
    """The template's external bodies to complete (inactive, no webhook), if the directory is empty; how many."""
    if await session.scalar(select(ExternalBody.id).limit(1)) is not None:
        return 0
    for body in template.external_bodies:
        await upsert_external_body(session, now=now, data=ExternalBodyInput(
            name=body.name, kind=body.kind, handles_text=TO_COMPLETE, escalation_level=body.escalation_level,
            active=False))
    return len(template.external_bodies)


async def seed(session: AsyncSession, template: Template) -> None:
    for name, description in template.roles:
        await create_role(session, name=name, description=description)
    ids: dict[str, uuid.UUID] = {}
    for spec in template.org_units:
        parent_id = ids[spec.parent] if spec.parent else None
        unit = await create_org_unit(session, name=spec.name, kind=spec.kind, code=spec.code, parent_id=parent_id)
        ids[spec.code] = unit.id
    for cat in template.categories:
        await upsert_category(
            session, code=cat.code, name=cat.name, parent_code=cat.parent, cause=cat.cause, dimension=cat.dimension
        )
    await seed_directory(session, template, now=system_clock.now())
    # the template's policy rules (seeded by the tenant migrations) are the tenant's first policy version
    await keep_seeded_version(session, now=system_clock.now())
