"""A statement's text per tenant schema is kept (services/core/db.py, ``_RememberedTranslations``): a kept text reads
the tenant it was made for and no other, and the store is bounded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from services.core import db
from services.core.org.models import User
from services.core.tenancy import resolve_tenant, tenant_session

EMAIL = "receiver@test.example"  # in both tenants (look-alike staff)


async def _own_id(schema: str) -> Any:
    async with db.platform_session() as session:
        return (await session.execute(text(f'SELECT id FROM "{schema}".users WHERE email = :e'), {"e": EMAIL})
                ).scalar_one()


async def test_each_tenant_reads_its_own_rows_through_the_kept_texts(tenants: tuple[str, str]) -> None:
    refs = [await resolve_tenant(slug) for slug in tenants]
    expected = {ref.schema: await _own_id(ref.schema) for ref in refs}
    assert len(set(expected.values())) == 2
    statement = select(User.id).where(User.email == EMAIL)  # one compiled statement for both tenants
    for _ in range(3):  # the first round makes the texts, the others are served from them
        for ref in refs:
            async with tenant_session(ref) as session:
                assert (await session.execute(statement)).scalar_one() == expected[ref.schema]
    kept = db.get_engine().sync_engine.dialect.identifier_preparer._cd_translations  # type: ignore[attr-defined]
    texts = {key[1:]: value for key, value in kept.items() if "FROM" in value and ".users" in value
             and "email" in value and "SCHEMA" not in value}
    for ref in refs:
        ours = [value for key, value in texts.items() if (db.TENANT_SCHEMA_PLACEHOLDER, ref.schema) in key]
        assert ours and all(f"{ref.schema}.users" in value for value in ours)
        assert not any(other.schema in value for value in ours for other in refs if other is not ref)


async def test_the_kept_texts_are_bounded(tenants: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "TRANSLATIONS_KEPT", 2)
    ref = await resolve_tenant(tenants[0])
    async with tenant_session(ref) as session:
        for n in range(5):  # five distinct texts
            await session.execute(select(User.id.label(f"id_{n}")).where(User.email == EMAIL))
    kept = db.get_engine().sync_engine.dialect.identifier_preparer._cd_translations  # type: ignore[attr-defined]
    assert 1 <= len(kept) <= 2
