"""t0022 on a tenant whose complainants were erased before it: the opinion-book entries reconciled to their complaints
lose the customer's details (plain SQL), an erased complainant's major-complaint draft is scrubbed lazily by the
retention sweep (a migration holds no tenant key); what belongs to a complainant not erased stays. Downgrade drops
the markers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from accountability import ADMIN, DESK, RECEIVER, RECORD_ENTRY, RECORD_MAJOR, SETTINGS, row_id, unique_phone
from conftest import GraphQLClient, drop_tenant, new_tenant
from helpers import execute, rows
from lifecycle import complaint_input, directory
from sqlalchemy import select

from services.core.accountability.models import MajorComplaint
from services.core.complaints.erasure import erase_expired_in
from services.core.db import get_engine
from services.core.tenancy import resolve_tenant, schema_for, tenant_session
from tenants.migrate import upgrade_tenant_schema


async def _markers(schema: str) -> list[str]:
    return [r.column_name for r in await rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND column_name IN "
        "('customer_erased_at', 'complainant_erased_at') ORDER BY column_name", s=schema)]


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "t0021")  # type: ignore[arg-type]


async def test_t0022_clears_entries_of_complainants_erased_before_it(gql: GraphQLClient, tenants: Any) -> None:
    tenant = await new_tenant("mig22", "bank")
    slug, schema = tenant.slug, schema_for(tenant.slug)
    try:
        units, _ = await directory(gql, slug)
        store = units["BR-SH-01"]
        assert (await gql(SETTINGS, {"input": {"majorAmountAtLeast": "500.00"}}, tenant=slug, user=ADMIN))[
            "updateAccountabilitySettings"]["userErrors"] == []
        cases, entries = [], []
        for name in ("周一", "吴二"):
            phone = unique_phone()
            data = await gql(RECORD_MAJOR, {"input": complaint_input(
                complainant={"name": name, "phone": phone}, amount="800.00", storeId=store)}, tenant=slug, user=DESK)
            cases.append(data["recordComplaint"]["complaint"]["id"])
            payload = (await gql(RECORD_ENTRY, {"input": {
                "storeId": store, "entryDate": datetime.now(UTC).date().isoformat(), "text": "Complained",
                "customerName": name, "customerPhone": phone, "complaintId": cases[-1]}},
                tenant=slug, user=RECEIVER))["recordOpinionBookEntry"]
            assert payload["userErrors"] == []
            entries.append(row_id(payload["entry"]["id"]))
        # before t0022: the markers gone; the first complainant erased, their entry still naming them
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await _markers(schema) == []
        # (the erasure of that time, in SQL: the running code needs t0022's columns)
        await execute(f'UPDATE "{schema}".complainants p SET subject_key = NULL, phone_key = NULL, '
                      f'erased_at = now() FROM "{schema}".complaints c WHERE c.complainant_id = p.id AND c.id = :c',
                      c=row_id(cases[0]))
        await execute(f'UPDATE "{schema}".opinion_book_entries SET customer_name = \'\\x01\'::bytea, '
                      f'customer_phone = \'\\x01\'::bytea, phone_key = \'k\' WHERE id = :e', e=entries[0])
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0022")
        assert await _markers(schema) == ["complainant_erased_at", "customer_erased_at"]
        got = {str(r.id): r for r in await rows(
            f'SELECT e.id, e.customer_name, e.customer_phone, e.phone_key, e.customer_erased_at, p.erased_at '
            f'FROM "{schema}".opinion_book_entries e JOIN "{schema}".complaints c ON c.id = e.complaint_id '
            f'JOIN "{schema}".complainants p ON p.id = c.complainant_id')}
        erased, kept = got[entries[0]], got[entries[1]]
        assert (erased.customer_name, erased.customer_phone, erased.phone_key) == (None, None, None)
        assert erased.customer_erased_at == erased.erased_at
        assert kept.customer_name is not None and kept.phone_key is not None and kept.customer_erased_at is None

        # the draft: scrubbed by the retention sweep, not by the migration
        ref = await resolve_tenant(slug)
        async with tenant_session(ref) as session, session.begin():
            found = await session.get(MajorComplaint, row_id(cases[0]))
            assert found is not None and found.complainant_erased_at is None
            found.draft = {**dict(found.draft or {}), "complainant": {"name": "周一"},
                           "evidence": [{"sha256": "00", "filename": "周一.jpg"}], "personalDataIncluded": True}
        await erase_expired_in(ref, now=datetime.now(UTC))
        async with tenant_session(ref) as session:
            majors = {str(m.complaint_id): m for m in (await session.scalars(
                select(MajorComplaint))).all()}
            scrubbed, other = majors[row_id(cases[0])], majors[row_id(cases[1])]
            assert scrubbed.complainant_erased_at is not None and "周一" not in json.dumps(
                scrubbed.draft, ensure_ascii=False)
            assert (scrubbed.draft["personalDataIncluded"], scrubbed.draft["complainantErased"]) == (False, True)
            assert other.complainant_erased_at is None and "complainantErased" not in other.draft
    finally:
        await drop_tenant(tenant)
