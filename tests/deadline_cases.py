"""What the deadline tests share: China's time zone, moments in it, and a tenant per case (expected dates are
counted by hand in the tests, never with the planner's calendar module).

The ``clock`` fixture (tests/conftest.py) freezes the API's clock; tests move it by setting ``clock.at``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from conftest import add_staff

from services.core.tenancy import schema_for as schema

SH = ZoneInfo("Asia/Shanghai")

_TENANTS: dict[str, str] = {}


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


async def tenant_of(template: str, key: str) -> str:
    """A tenant of ``template`` for ``key`` (one per key and run): calendar and profile changes stay inside it."""
    from tenants.provision import create_tenant

    name = f"{template}:{key}"
    if name not in _TENANTS:
        slug = f"dl{template[0]}-{uuid.uuid4().hex[:8]}"
        await create_tenant(slug, template=template)
        await add_staff(slug)
        _TENANTS[name] = slug
    return _TENANTS[name]


__all__ = ["SH", "at", "schema", "tenant_of"]
