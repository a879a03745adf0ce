"""Upgrading a tenant that holds plaintext (revision t0003) encrypts what is there: nothing is lost, nothing
plain is left, and exact lookup works through the blind indexes the migration computed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from conftest import GraphQLClient
from helpers import rows, run_cli, scalar
from sqlalchemy import text

from services.core.db import get_engine
from services.core.tenancy import schema_for
from tenants.migrate import upgrade_tenant_schema

pytestmark = pytest.mark.usefixtures("tenants")

LIST = """query ($f: ComplaintFilter) { complaints(filter: $f, first: 10) { totalCount edges { node {
  number description resolution complainant { name phone email idNumber address masked }
  investigation { findings } } } } }"""


async def test_plaintext_rows_are_encrypted_by_the_migration(gql: GraphQLClient) -> None:
    slug = f"old-{uuid.uuid4().hex[:6]}"
    schema = schema_for(slug)
    user, person, complaint = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    plain = {"name": "Old Plaintext Person", "phone": "139 0000 1111", "email": "old.person@example.org",
             "id_number": "11010519491231002X", "address": "Old Street 1", "description": "Old plaintext story",
             "resolution": "Old resolution text", "findings": "Old findings text"}
    async with get_engine().begin() as conn:
        await conn.execute(text("INSERT INTO public.tenants (slug, display_name, status, template, schema_name) "
                                "VALUES (:s, 'Old', 'active', 'retail', :schema)"), {"s": slug, "schema": schema})
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await upgrade_tenant_schema(conn, schema, target="t0003")
        await conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        await conn.execute(text("INSERT INTO users (id, email, display_name, roles) VALUES "
                                "(:id, 'desk@old.example', 'desk', ARRAY['complaint_desk'])"), {"id": user})
        await conn.execute(text(
            "INSERT INTO complainants (id, name, phone, email, id_number, address, phone_key, id_number_key) "
            "VALUES (:id, :name, :phone, :email, :id_number, :address, '13900001111', :id_number)"),
            {"id": person, **{k: plain[k] for k in ("name", "phone", "email", "id_number", "address")}})
        await conn.execute(text(
            "INSERT INTO complaints (id, number, status, channel, title, description, resolution, complainant_id, "
            "scope, owner_id, created_at, updated_at) VALUES (:id, '2611000001', 'INVESTIGATING', 'PHONE', "
            "'Old title', :description, :resolution, :person, 'DOMESTIC', :user, :now, :now)"),
            {"id": complaint, "description": plain["description"], "resolution": plain["resolution"],
             "person": person, "user": user, "now": now})
        await conn.execute(text(
            "INSERT INTO investigations (complaint_id, valid, findings, investigator_id, started_at) "
            "VALUES (:id, true, :findings, :user, :now)"),
            {"id": complaint, "findings": plain["findings"], "user": user, "now": now})

    migrated = run_cli("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert f"{slug}: t0003 -> " in migrated.stdout  # up to the head (t0004 encrypts; later revisions add tables)

    # nothing plain is left in the schema ...
    parts = []
    for (table,) in await rows("SELECT tablename FROM pg_tables WHERE schemaname = :s", s=schema):
        parts.append(str(await scalar(f'SELECT string_agg(t::text, E\'\\n\') FROM "{schema}"."{table}" t') or ""))
    dump = "\n".join(parts)
    for value in plain.values():
        assert value not in dump and value.encode().hex() not in dump, value
    assert "13900001111" not in dump  # the old plaintext lookup key became an HMAC
    # ... and everything reads back, and exact lookup works
    data = (await gql(LIST, {"f": {"complainantPhone": "+86 139-0000-1111", "complainantIdNumber": plain["id_number"]}},
                      tenant=slug, user="desk@old.example"))["complaints"]
    assert data["totalCount"] == 1
    node = data["edges"][0]["node"]
    assert node["description"] == plain["description"] and node["resolution"] == plain["resolution"]
    assert node["investigation"]["findings"] == plain["findings"]
    assert node["complainant"] == {"name": plain["name"], "phone": plain["phone"], "email": plain["email"],
                                   "idNumber": plain["id_number"], "address": plain["address"], "masked": False}
    assert run_cli("migrate").stdout.count(f"{slug}: up to date") == 1
