"""Tenant templates: what a new tenant starts with.

A template is data (org units, and later categories, roles, SLA profiles and
policies); ``seed`` writes it through the core services, in the tenant's
creation transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.org.models import OrgUnitKind
from services.core.org.service import create_org_unit


@dataclass(frozen=True)
class UnitSpec:
    code: str
    name: str
    kind: OrgUnitKind
    parent: str | None = None


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    org_units: tuple[UnitSpec, ...] = field(default_factory=tuple)


RETAIL = Template(
    name="retail",
    description="Retail chain: customer service, marketing, production, sales branches and stores (seed I, IV)",
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
)

BANK = Template(
    name="bank",
    description="Bank: consumer protection as the complaint desk, operations, audit, branches (seed III)",
    org_units=(
        UnitSpec("CP", "消费者权益保护部 Consumer Protection", OrgUnitKind.DEPARTMENT),
        UnitSpec("RETAIL", "零售银行部 Retail Banking", OrgUnitKind.DEPARTMENT),
        UnitSpec("CARD", "信用卡中心 Card Center", OrgUnitKind.DEPARTMENT),
        UnitSpec("OPS", "运营管理部 Operations", OrgUnitKind.DEPARTMENT),
        UnitSpec("AUDIT", "内审部 Internal Audit", OrgUnitKind.DEPARTMENT),
        UnitSpec("BR-SH", "上海分行 Shanghai Branch", OrgUnitKind.BRANCH),
        UnitSpec("BR-SH-01", "上海分行营业部 Shanghai Main Office", OrgUnitKind.STORE, "BR-SH"),
    ),
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (RETAIL, BANK)}


async def seed(session: AsyncSession, template: Template) -> None:
    ids: dict[str, uuid.UUID] = {}
    for spec in template.org_units:
        parent_id = ids[spec.parent] if spec.parent else None
        unit = await create_org_unit(
            session, name=spec.name, kind=spec.kind, code=spec.code, parent_id=parent_id
        )
        ids[spec.code] = unit.id
