"""t0010 on a bank tenant that exists (at the revision before it) with a deadline extended the old way: the
``deadline_extension_requests`` table arrives (one pending request per deadline, enforced by the database too),
the extension granted before stays as it was; downgrade drops the table and keeps the extension."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from helpers import execute, rows
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import TENANT_TREE, _config, upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")

REVISION = "t0010"


def before_revision() -> str:
    script = ScriptDirectory.from_config(_config(TENANT_TREE, None))  # type: ignore[arg-type]
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down


async def tables(schema: str) -> set[str]:
    return {r.table_name for r in await rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s", s=schema)}


async def test_upgrade_adds_the_requests_and_downgrade_takes_them_away() -> None:
    slug = f"mig10-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    now = datetime(2026, 11, 30, 2, tzinfo=UTC)
    deadline, extension = uuid.uuid4(), uuid.uuid4()
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'bank', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target=before_revision())
        await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        user, person, complaint = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await conn.execute(text("INSERT INTO users (id, email, display_name, roles) VALUES "
                                "(:id, 'approver@old.example', 'approver', ARRAY['approver'])"), {"id": user})
        await conn.execute(text("INSERT INTO complainants (id, identity) VALUES (:id, '\\x00')"), {"id": person})
        await conn.execute(text(
            "INSERT INTO complaints (id, number, status, channel, title, description, complainant_id, scope, "
            "owner_id, created_at, updated_at) VALUES (:id, '2611000001', 'INVESTIGATING', 'PHONE', 'Old title', "
            "'\\x00', :person, 'DOMESTIC', :user, :now, :now)"), {"id": complaint, "person": person, "user": user,
                                                                  "now": now})
        await conn.execute(text(
            "INSERT INTO deadlines (id, complaint_id, kind, basis, period_days, started_at, due_at, extension_count, "
            "created_at) VALUES (:id, :c, 'DECISION', 'CALENDAR', 60, :now, :now, 2, :now)"),
            {"id": deadline, "c": complaint, "now": now})
        # the second extension, granted the old way: the approver alone, named as requester and approver
        await conn.execute(text(
            "INSERT INTO deadline_extensions (id, deadline_id, number, reason, complex, added_days, previous_due_at, "
            "new_due_at, requested_by, approved_by, created_at) VALUES (:id, :d, 2, '\\x00', false, 30, :now, :now, "
            ":u, :u, :now)"), {"id": extension, "d": deadline, "u": user, "now": now})
        assert "deadline_extension_requests" not in {r[0] for r in (await conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema})).all()}
        _, after = await upgrade_tenant_schema(conn, schema)
        assert after >= REVISION
    try:
        assert "deadline_extension_requests" in await tables(schema)
        assert await rows(f'SELECT id, requested_by, approved_by FROM "{schema}".deadline_extensions') == [
            (extension, user, user)]
        insert = (f'INSERT INTO "{schema}".deadline_extension_requests (complaint_id, deadline_id, kind, '
                  "extension_number, add_days, reason, complex, requested_by, requested_at) VALUES (:c, :d, "
                  "'DECISION', 3, 30, '\\x00', false, :u, :now)")
        await execute(insert, c=complaint, d=deadline, u=user, now=now)
        with pytest.raises(IntegrityError, match="uq_deadline_extension_requests_pending"):
            await execute(insert, c=complaint, d=deadline, u=user, now=now)
        with pytest.raises(IntegrityError, match="ck_deadline_extension_requests_decided"):
            await execute(f'UPDATE "{schema}".deadline_extension_requests SET state = \'APPROVED\'')

        async with get_engine().begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(_config(TENANT_TREE, sync, schema), before_revision()))
        assert "deadline_extension_requests" not in await tables(schema)
        assert await rows(f'SELECT id FROM "{schema}".deadline_extensions') == [(extension,)]
    finally:
        await execute(f'DROP SCHEMA "{schema}" CASCADE')
        await execute("DELETE FROM public.tenants WHERE slug = :s", s=slug)
