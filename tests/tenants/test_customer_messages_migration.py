"""t0014 on a tenant that exists (at t0013b): the contact columns and the messages' tables come, the outbox takes
kind 'message', the two new actions' default rules are added for the template's roles it has (and only once);
downgrade takes it all back."""

from __future__ import annotations

import uuid

import pytest
from helpers import rows, scalar
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")


async def test_existing_tenant_gets_contacts_messages_and_rules_and_downgrade_takes_them_back() -> None:
    slug = f"mig14-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'bank', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0013b")
        # as a tenant created before this revision: no rule of the new actions (t0003 seeds today's files), and
        # its roles (the template's seed) but the complaint desk's: no rule for that one
        await conn.execute(text(f"DELETE FROM \"{schema}\".policy_rules WHERE v2 IN "
                                "('complaint.update_contact', 'message_template.manage')"))
        for role in ("tenant_admin", "receiver", "approver"):
            await conn.execute(text(f'INSERT INTO "{schema}".roles (name, description) VALUES (:r, :r)'), {"r": role})
        # the tenant's own rule for one of them already: kept once, not doubled
        await conn.execute(text(f"INSERT INTO \"{schema}\".policy_rules (ptype, v0, v1, v2, v3, v4) VALUES "
                                "('p', 'receiver', '*', 'complaint.update_contact', 'owner', 'allow')"))
    version = await scalar(f'SELECT version FROM "{schema}".policy_state')
    try:
        async with get_engine().begin() as conn:
            await upgrade_tenant_schema(conn, schema, target="t0014")
        got = await rows(f"SELECT v0, v2, v3, v4 FROM \"{schema}\".policy_rules WHERE v2 IN "
                         "('complaint.update_contact', 'message_template.manage') ORDER BY v0, v2")
        assert [tuple(r) for r in got] == [("receiver", "complaint.update_contact", "owner", "allow"),  # once
                                           ("tenant_admin", "message_template.manage", "any", "allow")]
        assert await scalar(f'SELECT version FROM "{schema}".policy_state') == version + 1
        assert [r.column_name for r in await rows(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = 'complaints' "
            "AND column_name LIKE 'contact_%' ORDER BY 1", s=schema)] == ["contact_channel", "contact_locale"]
        async with get_engine().begin() as conn:
            await conn.execute(text(f"INSERT INTO \"{schema}\".outbox (id, kind, idempotency_key, target, payload, "
                                    "state, attempts, next_attempt_at, created_at) VALUES (gen_random_uuid(), "
                                    "'message', 'k1', 'complaint:x', '\\x00', 'pending', 0, now(), now())"))
        with pytest.raises(IntegrityError):
            async with get_engine().begin() as conn:
                await conn.execute(text(f"INSERT INTO \"{schema}\".outbox (id, kind, idempotency_key, target, "
                                        "payload, state, attempts, next_attempt_at, created_at) VALUES "
                                        "(gen_random_uuid(), 'carrier_pigeon', 'k2', 'x', '\\x00', 'pending', 0, "
                                        "now(), now())"))
        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: _downgrade(sync, schema))
        assert await scalar(f"SELECT count(*) FROM \"{schema}\".policy_rules WHERE v2 IN "
                            "('complaint.update_contact', 'message_template.manage')") == 0
        assert await scalar(f'SELECT count(*) FROM "{schema}".outbox') == 0
        assert await rows("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name IN "
                          "('outgoing_messages', 'message_templates')", s=schema) == []
        assert await rows("SELECT 1 FROM information_schema.columns WHERE table_schema = :s AND "
                          "table_name = 'complaints' AND column_name LIKE 'contact_%'", s=schema) == []
    finally:
        async with get_engine().begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await conn.execute(text("DELETE FROM public.tenants WHERE slug = :s"), {"s": slug})


def _downgrade(sync: object, schema: str) -> None:
    from alembic import command

    from tenants.migrate import TENANT_TREE, _config

    command.downgrade(_config(TENANT_TREE, sync, schema), "-1")  # type: ignore[arg-type]
