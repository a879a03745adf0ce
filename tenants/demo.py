"""The demo tenant that `complaintdesk up` creates on its first start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from services.core.org import service as org_service
from services.core.org.models import OrgUnit
from services.core.tenancy import TenantNotFound, TenantRef, schema_for, tenant_session
from tenants.provision import TenantInfo, create_tenant, get_tenant

DEMO_SLUG = "demo"


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    roles: tuple[str, ...]
    unit_code: str


DEMO_USERS = (
    DemoUser("admin@demo.example", "Tenant Admin", ("tenant_admin",), "CS"),
    DemoUser("receiver@demo.example", "王芳 (receiver)", ("receiver",), "CS"),
    DemoUser("inspector@demo.example", "李强 (investigator)", ("investigator",), "QA"),
    DemoUser("marketing@demo.example", "张伟 (complaint desk)", ("complaint_desk",), "MKT"),
    DemoUser("handler@demo.example", "赵磊 (responsible department)", ("handler",), "PROD"),
    DemoUser("approver@demo.example", "陈静 (approver)", ("approver",), "MKT"),
    DemoUser("store@demo.example", "刘洋 (store manager)", ("store_manager",), "ST-001"),
    DemoUser("reviewer@demo.example", "周敏 (reviewer)", ("reviewer",), "AUDIT"),
)


async def ensure_demo_tenant() -> tuple[TenantInfo, bool]:
    """Create the demo tenant and its users unless it exists; returns (tenant, created)."""
    try:
        return await get_tenant(DEMO_SLUG), False
    except TenantNotFound:
        pass
    info = await create_tenant(DEMO_SLUG, display_name="Demo Retail Co.", template="retail")
    ref = TenantRef(slug=info.slug, schema=schema_for(info.slug), template=info.template)
    async with tenant_session(ref) as session, session.begin():
        units = {u.code: u.id for u in (await session.scalars(select(OrgUnit))).all()}
        for user in DEMO_USERS:
            await org_service.create_user(
                session, email=user.email, display_name=user.display_name, roles=user.roles,
                org_unit_id=units.get(user.unit_code),
            )
    return info, True
