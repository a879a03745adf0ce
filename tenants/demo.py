"""The demo tenant that `complaintdesk up` creates on its first start, and the demo operator.

Every demo user signs in with the same password, and the demo operator with its own; both are
made up by `up` on its first start and kept in its data folder (never in the repository).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from services.core.audit.service import Actor
from services.core.auth import operators
from services.core.auth.models import Operator
from services.core.auth.passwords import hash_password_async, validate_password
from services.core.clock import system_clock
from services.core.complaints import service as complaints
from services.core.complaints.models import Channel
from services.core.db import platform_session
from services.core.org import service as org_service
from services.core.org.models import OrgUnit, User
from services.core.tenancy import TenantNotFound, TenantRef, schema_for, tenant_session
from tenants.provision import TenantInfo, create_tenant, get_tenant

DEMO_SLUG = "demo"
DEMO_OPERATOR = "operator"


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


def _ref(info: TenantInfo) -> TenantRef:
    return TenantRef(slug=info.slug, schema=schema_for(info.slug), template=info.template)


async def ensure_demo_tenant(password: str | None = None) -> tuple[TenantInfo, bool]:
    """Create the demo tenant and its users unless it exists; returns (tenant, created).

    With ``password``, the users created sign in with it.
    """
    try:
        return await get_tenant(DEMO_SLUG), False
    except TenantNotFound:
        pass
    password_hash = await hash_password_async(validate_password(password)) if password is not None else None
    info = await create_tenant(DEMO_SLUG, display_name="Demo Retail Co.", template="retail")
    async with tenant_session(_ref(info)) as session, session.begin():
        units = {u.code: u.id for u in (await session.scalars(select(OrgUnit))).all()}
        users = {}
        for user in DEMO_USERS:
            created = await org_service.create_user(
                session, email=user.email, display_name=user.display_name, roles=user.roles,
                org_unit_id=units.get(user.unit_code),
            )
            created.password_hash = password_hash  # one hash (its own salt) for the one shared demo password
            users[user.email] = created
        await _demo_complaints(session, users, units)
    return info, True


async def set_demo_passwords(password: str) -> None:
    """Give every demo user ``password`` (when `up` made a new one for an existing demo tenant)."""
    password_hash = await hash_password_async(validate_password(password))
    info = await get_tenant(DEMO_SLUG)
    async with tenant_session(_ref(info)) as session, session.begin():
        await session.execute(
            update(User).where(User.email.in_([u.email for u in DEMO_USERS])).values(password_hash=password_hash)
        )


async def ensure_demo_operator(password: str, *, reset: bool) -> bool:
    """The demo platform operator, created with ``password`` if missing (or given it with ``reset``).

    Returns True when the password was set.
    """
    async with platform_session() as session:
        exists = await session.get(Operator, DEMO_OPERATOR) is not None
    if exists and not reset:
        return False
    await operators.set_operator_password(DEMO_OPERATOR, password, create=True)
    return True


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
