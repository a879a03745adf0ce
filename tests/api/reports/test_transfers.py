"""Exports (masked by the viewer's rights, by link) and imports (every row or none, the bad row named)."""

from __future__ import annotations

import base64
import csv
import io
from typing import Any

import pytest
from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import drain, scalar
from lifecycle import record
from openpyxl import Workbook, load_workbook

ADMIN = "admin@test.example"
DESK = "desk@test.example"
RECEIVER = "receiver@test.example"
TRANSFER = ("dataTransfer { id kind format state progress rowsTotal rowsDone error "
            "rowErrors { row field code message } files { format filename size sha256 url expiresAt } }")
EXPORT_COMPLAINTS = f"""
mutation ($input: ExportComplaintsInput!) {{ exportComplaints(input: $input) {{ {TRANSFER}
  userErrors {{ field code message }} }} }}
"""
EXPORT_UNITS = f"""
mutation ($input: ExportInput!) {{ exportOrgUnits(input: $input) {{ {TRANSFER} userErrors {{ field code message }} }} }}
"""
IMPORT_UNITS = f"""
mutation ($input: ImportInput!) {{ importOrgUnits(input: $input) {{ {TRANSFER} userErrors {{ field code message }} }} }}
"""
IMPORT_USERS = f"""
mutation ($input: ImportInput!) {{ importUsers(input: $input) {{ {TRANSFER} userErrors {{ field code message }} }} }}
"""
GET_TRANSFER = "query ($id: ID!) { " + TRANSFER.replace("dataTransfer {", "dataTransfer(id: $id) {") + " }"


async def finished(gql: GraphQLClient, payload: dict[str, Any], tenant: str, user: str) -> dict[str, Any]:
    """The transfer once the worker is done with it."""
    assert payload["userErrors"] == [], payload
    drain()
    data = await gql(GET_TRANSFER, {"id": payload["dataTransfer"]["id"]}, tenant=tenant, user=user)
    transfer: dict[str, Any] = data["dataTransfer"]
    assert transfer["state"] in ("COMPLETED", "FAILED"), transfer
    return transfer


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_rows(content: bytes) -> list[dict[str, Any]]:
    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.usefixtures("worker")
async def test_complaint_export_is_masked_by_the_viewers_rights_in_csv_and_xlsx(gql: GraphQLClient,
                                                                                  client: Any) -> None:
    title = f"export-{await scalar('SELECT gen_random_uuid()')}"
    made = [await record(gql, TENANT_A, title=title, complainant={"name": "王小明", "phone": "13912345678"})
            for _ in range(3)]
    await record(gql, TENANT_B, title=title, complainant={"name": "王小明", "phone": "13912345678"})
    formula = await record(gql, TENANT_A, title=f"=HYPERLINK(\"http://evil.example\",\"{title}\")")
    numbers = sorted(c["number"] for c in made)
    seen: dict[str, list[dict[str, Any]]] = {}
    everything: dict[str, list[dict[str, Any]]] = {}
    for user, fmt in ((DESK, "CSV"), (ADMIN, "XLSX")):
        payload = (await gql(EXPORT_COMPLAINTS, {"input": {"format": fmt}}, user=user))["exportComplaints"]
        transfer = await finished(gql, payload, TENANT_A, user)
        assert transfer["state"] == "COMPLETED" and transfer["progress"] == 100, transfer
        [file] = transfer["files"]
        assert file["format"] == fmt
        response = await client.get(file["url"])
        assert response.status_code == 200
        table = csv_rows(response.content) if fmt == "CSV" else xlsx_rows(response.content)
        assert transfer["rowsTotal"] == len(table)
        seen[user] = [r for r in table if r["title"] == title]
        everything[user] = table
    # the desk may see who complained (complaint.read_identity), the tenant admin may not: masked
    assert sorted(r["number"] for r in seen[DESK]) == numbers
    assert {(r["complainant_name"], r["complainant_phone"]) for r in seen[DESK]} == {("王小明", "13912345678")}
    assert sorted(r["number"] for r in seen[ADMIN]) == numbers
    assert {(r["complainant_name"], r["complainant_phone"]) for r in seen[ADMIN]} == {("王**", "139****5678")}
    # a cell a spreadsheet would run as a formula is written as text
    assert [r["title"] for r in everything[DESK] if r["number"] == formula["number"]] == [
        f"'=HYPERLINK(\"http://evil.example\",\"{title}\")"]


@pytest.mark.usefixtures("worker")
async def test_export_filtered_by_a_store_of_another_tenant_is_not_found(gql: GraphQLClient) -> None:
    beta_store = (await gql("query { orgUnits { id code } }", tenant=TENANT_B))["orgUnits"][0]["id"]
    before = await scalar('SELECT count(*) FROM "tenant_alpha".data_transfers')
    payload = (await gql(EXPORT_COMPLAINTS, {"input": {"format": "CSV", "filter": {"storeId": beta_store}}},
                         user=DESK))["exportComplaints"]
    assert payload["dataTransfer"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", ["input", "filter", "storeId"])]
    assert await scalar('SELECT count(*) FROM "tenant_alpha".data_transfers') == before


async def test_export_without_the_right_is_refused_and_records_nothing(gql: GraphQLClient) -> None:
    before = await scalar('SELECT count(*) FROM "tenant_alpha".data_transfers')
    payload = (await gql(EXPORT_COMPLAINTS, {"input": {"format": "CSV"}}, user=RECEIVER))["exportComplaints"]
    assert payload["dataTransfer"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_ALLOWED"]
    payload = (await gql(IMPORT_UNITS, {"input": {"format": "CSV", "contentBase64": b64(b"code,name\nX,Y\n")}},
                         user=DESK))["importOrgUnits"]
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_ALLOWED"]
    assert await scalar('SELECT count(*) FROM "tenant_alpha".data_transfers') == before


@pytest.mark.usefixtures("worker")
async def test_org_unit_import_with_a_bad_row_applies_nothing_and_names_the_row(gql: GraphQLClient) -> None:
    tag = str(await scalar("SELECT substr(md5(random()::text), 1, 8)")).upper()
    units_before = await scalar('SELECT count(*) FROM "tenant_alpha".org_units')
    body = (f"code,name,kind,parent_code\n{tag}-A,华东分公司,BRANCH,\n{tag}-B,一号店,STORE,{tag}-A\n"
            f"{tag}-C,二号店,WAREHOUSE,{tag}-A\n{tag}-D,三号店,STORE,{tag}-NOPE\n").encode()
    payload = (await gql(IMPORT_UNITS, {"input": {"format": "CSV", "contentBase64": b64(body)}},
                         user=ADMIN))["importOrgUnits"]
    transfer = await finished(gql, payload, TENANT_A, ADMIN)
    assert transfer["state"] == "FAILED"
    assert [(e["row"], e["field"], e["code"]) for e in transfer["rowErrors"]] == [
        (4, "kind", "INVALID"), (5, "parent_code", "NOT_FOUND")]
    assert await scalar('SELECT count(*) FROM "tenant_alpha".org_units') == units_before
    assert await scalar(f"""SELECT count(*) FROM "tenant_alpha".org_units WHERE code LIKE '{tag}-%'""") == 0

    good = (f"code,name,kind,parent_code\n{tag}-A,华东分公司,BRANCH,\n{tag}-B,一号店,STORE,{tag}-A\n").encode()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in good.decode().splitlines():
        sheet.append(line.split(","))
    buf = io.BytesIO()
    book.save(buf)
    payload = (await gql(IMPORT_UNITS, {"input": {"format": "XLSX", "contentBase64": b64(buf.getvalue())}},
                         user=ADMIN))["importOrgUnits"]
    transfer = await finished(gql, payload, TENANT_A, ADMIN)
    assert (transfer["state"], transfer["rowsDone"], transfer["rowErrors"]) == ("COMPLETED", 2, [])
    assert await scalar('SELECT count(*) FROM "tenant_alpha".org_units') == units_before + 2
    assert await scalar(f"""SELECT count(*) FROM "tenant_beta".org_units WHERE code LIKE '{tag}-%'""") == 0

    exported = (await gql(EXPORT_UNITS, {"input": {"format": "CSV"}}, user=ADMIN))["exportOrgUnits"]
    transfer = await finished(gql, exported, TENANT_A, ADMIN)
    [file] = transfer["files"]
    return_rows = csv_rows((await gql.http.get(file["url"])).content)
    assert {(r["code"], r["name"], r["kind"], r["parent_code"]) for r in return_rows if r["code"].startswith(tag)} \
        == {(f"{tag}-A", "华东分公司", "BRANCH", ""), (f"{tag}-B", "一号店", "STORE", f"{tag}-A")}


@pytest.mark.usefixtures("worker")
async def test_user_import_with_a_duplicate_applies_nothing(gql: GraphQLClient) -> None:
    tag = str(await scalar("SELECT substr(md5(random()::text), 1, 8)"))
    users_before = await scalar('SELECT count(*) FROM "tenant_alpha".users')
    body = (f"email,display_name,roles,org_unit_code\nnew-{tag}@test.example,李四,receiver;handler,CS\n"
            f"{RECEIVER},重复,receiver,CS\nbad-{tag}@test.example,无角色,wizard,CS\n").encode()
    payload = (await gql(IMPORT_USERS, {"input": {"format": "CSV", "contentBase64": b64(body)}},
                         user=ADMIN))["importUsers"]
    transfer = await finished(gql, payload, TENANT_A, ADMIN)
    assert transfer["state"] == "FAILED"
    assert [(e["row"], e["field"], e["code"]) for e in transfer["rowErrors"]] == [
        (3, "email", "DUPLICATE"), (4, "roles", "NOT_FOUND")]
    assert await scalar('SELECT count(*) FROM "tenant_alpha".users') == users_before
    body = f"email,display_name,roles,org_unit_code\nnew-{tag}@test.example,李四,receiver;handler,CS\n".encode()
    payload = (await gql(IMPORT_USERS, {"input": {"format": "CSV", "contentBase64": b64(body)}},
                         user=ADMIN))["importUsers"]
    transfer = await finished(gql, payload, TENANT_A, ADMIN)
    assert transfer["state"] == "COMPLETED"
    found = await scalar(f"""SELECT array_to_string(roles, ';') FROM "tenant_alpha".users
                             WHERE email = 'new-{tag}@test.example'""")
    assert found == "handler;receiver"


@pytest.mark.usefixtures("worker")
async def test_export_links_are_refused_across_tenants_to_others_edited_and_expired(gql: GraphQLClient,
                                                                                    client: Any, clock: Any) -> None:
    payload = (await gql(EXPORT_UNITS, {"input": {"format": "CSV"}}, user=ADMIN))["exportOrgUnits"]
    transfer = await finished(gql, payload, TENANT_A, ADMIN)
    [file] = transfer["files"]
    url = file["url"]
    assert (await client.get(url)).status_code == 200
    assert (await client.get(url, headers={"x-tenant": TENANT_A})).status_code == 200
    # the same link named under another tenant (header or host), edited, or after it expired: 404, nothing served
    assert (await client.get(url, headers={"x-tenant": TENANT_B})).status_code == 404
    assert (await client.get(url, headers={"host": f"{TENANT_B}.complaints.example.com"})).status_code == 404
    assert (await client.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"))).status_code == 404
    # another user cannot read someone else's transfer (it holds what that user may see)
    other = await gql(GET_TRANSFER, {"id": transfer["id"]}, user=DESK)
    assert other["dataTransfer"] is None
    # beta's admin asking for alpha's transfer id gets nothing
    assert (await gql(GET_TRANSFER, {"id": transfer["id"]}, tenant=TENANT_B, user=ADMIN))["dataTransfer"] is None
    from datetime import timedelta

    clock.at = clock.at + timedelta(days=1)
    fresh = (await gql(GET_TRANSFER, {"id": transfer["id"]}, user=ADMIN))["dataTransfer"]["files"][0]["url"]
    assert (await client.get(fresh)).status_code == 200
    clock.at = clock.at + timedelta(minutes=6)
    assert (await client.get(fresh)).status_code == 404


@pytest.mark.usefixtures("worker")
async def test_uploaded_files_go_when_the_import_ends_and_export_files_after_a_week(gql: GraphQLClient,
                                                                                   client: Any) -> None:
    from datetime import UTC, datetime, timedelta

    from services.core.clock import FixedClock
    from services.core.reporting.service import sweep_jobs
    from services.core.tenancy import resolve_tenant

    tag = str(await scalar("SELECT substr(md5(random()::text), 1, 8)")).upper()
    body = f"code,name,kind\n{tag}-X,仓库,DEPARTMENT\n".encode()
    imported = await finished(gql, (await gql(IMPORT_UNITS, {"input": {"format": "CSV", "contentBase64": b64(body)}},
                                              user=ADMIN))["importOrgUnits"], TENANT_A, ADMIN)
    exported = await finished(gql, (await gql(EXPORT_UNITS, {"input": {"format": "XLSX"}},
                                              user=ADMIN))["exportOrgUnits"], TENANT_A, ADMIN)
    assert imported["state"] == exported["state"] == "COMPLETED"
    ids = {"i": raw(imported["id"]), "e": raw(exported["id"])}
    count = """SELECT count(*) FROM "tenant_alpha".report_files WHERE transfer_id = :t"""
    assert (await scalar(count, t=ids["i"]), await scalar(count, t=ids["e"])) == (1, 1)
    alpha = await resolve_tenant(TENANT_A)
    await sweep_jobs(alpha, now=FixedClock(datetime.now(UTC)).now, schedule=False)
    assert (await scalar(count, t=ids["i"]), await scalar(count, t=ids["e"])) == (0, 1)
    url = exported["files"][0]["url"]
    assert (await client.get(url)).status_code == 200
    await sweep_jobs(alpha, now=FixedClock(datetime.now(UTC) + timedelta(days=8)).now, schedule=False)
    assert await scalar(count, t=ids["e"]) == 0
    assert (await client.get(url)).status_code == 404
    # the transfer itself stays, with its counts
    again = (await gql(GET_TRANSFER, {"id": exported["id"]}, user=ADMIN))["dataTransfer"]
    assert (again["state"], again["files"]) == ("COMPLETED", [])


def raw(global_id: str) -> Any:
    import uuid

    return uuid.UUID(base64.b64decode(global_id).decode().split(":", 1)[1])
