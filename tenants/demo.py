"""The demo tenant that `complaintdesk up` creates on its first start."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from services.core.audit.service import Actor
from services.core.clock import system_clock
from services.core.complaints import service as complaints
from services.core.complaints.models import Channel
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
    DemoUser("manager@demo.example", "孙丽 (manager)", ("manager",), "CS"),
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
        users = {}
        for user in DEMO_USERS:
            created = await org_service.create_user(
                session, email=user.email, display_name=user.display_name, roles=user.roles,
                org_unit_id=units.get(user.unit_code),
            )
            users[user.email] = created
        await _demo_complaints(session, users, units)
    return info, True


async def _demo_complaints(session: Any, users: dict[str, Any], units: dict[Any, Any]) -> None:
    """A few complaints in different states, so the API has something to show."""
    receiver = users["receiver@demo.example"]
    actor = Actor(user_id=receiver.id, label=receiver.email)
    now = system_clock.now()
    samples = [
        ("电水壶底座漏水 Kettle leaks", "Bought last week; it leaks from the base.", Channel.PHONE, "13800138000"),
        ("门店服务态度差 Rude service", "Staff ignored me at the counter.", Channel.STORE, "13900139000"),
        ("送货延误 Late delivery", "Promised Monday, arrived Friday.", Channel.WEB, "13700137000"),
    ]
    recorded = []
    for title, description, channel, phone in samples:
        data = complaints.ComplaintInput(
            complainant=complaints.ComplainantInput(name="演示顾客 Demo Customer", phone=phone),
            title=title, description=description, channel=channel, store_id=units.get("ST-001"),
        )
        recorded.append((await complaints.record_complaint(session, actor=actor, now=now, data=data)).complaint)
    await complaints.resolve_on_the_spot(session, actor=actor, now=now, complaint_id=recorded[1].id,
                                         resolution="Apologised and served at once.")
    inspector = users["inspector@demo.example"]
    await complaints.start_investigation(session, actor=Actor(user_id=inspector.id, label=inspector.email),
                                         now=now, complaint_id=recorded[0].id)
