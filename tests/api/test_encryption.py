"""Encryption at rest, through the public surface: what the database holds, moved ciphertexts, blind indexes,
erasure (crypto-shredding) and retention, in two tenants."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import uuid
from typing import Any

import pytest
from conftest import SECOND_USER, TENANT_A, TENANT_B, GraphQLClient
from helpers import execute, rows, run_cli, scalar, server_pg_dump
from lifecycle import RECORD, complaint_input, record

pytestmark = pytest.mark.usefixtures("tenants")

DETAIL = """
query ($id: ID!) { complaint(id: $id) {
  id number status description resolution
  complainant { name phone email idNumber address masked erased }
  investigation { findings } transferSlip { instructions }
  handlingForm { solution customerReply causeAnalysis }
  evidence { filename note sha256 }
} }
"""
LIST = """
query ($f: ComplaintFilter) { complaints(filter: $f, first: 100) { totalCount edges { node { id number } } } }
"""
ERASE = """
mutation ($input: EraseComplainantInput!) { eraseComplainant(input: $input) {
  complaint { id status complainant { name phone email idNumber address masked erased } }
  userErrors { field message code } } }
"""


def _mutation(name: str, input_type: str) -> str:
    return (f"mutation ($input: {input_type}!) {{ {name}(input: $input) {{ "
            "complaint { id status } userErrors { field message code } } }")


async def _step(gql: GraphQLClient, name: str, input_type: str, tenant: str, **input_: Any) -> None:
    data = await gql(_mutation(name, input_type), {"input": input_}, tenant=tenant)
    assert data[name]["userErrors"] == [], data


def _secrets(tag: str) -> dict[str, str]:
    digits = str(int(uuid.uuid4().hex[:12], 16))[-8:].rjust(8, "7")
    return {
        "name": f"Shredme Person {tag}", "phone": f"139{digits}", "email": f"secret.{tag}@example.org",
        "idNumber": "11010519491231002X", "address": f"Hidden Street {tag}", "description": f"Private story {tag}",
        "findings": f"Investigator notes {tag}", "instructions": f"Department please {tag}",
        "solution": f"Internal solution {tag}", "customerReply": f"Dear customer {tag}",
        "causeAnalysis": f"Root cause {tag}", "evidence": f"EVIDENCE-BYTES-{tag}", "filename": f"scan-{tag}.txt",
        "evidenceNote": f"Evidence note {tag}", "review": f"Reviewer findings {tag}",
    }


async def _full_case(gql: GraphQLClient, tenant: str, s: dict[str, str]) -> dict[str, Any]:
    """A complaint with every kind of sealed field written through the API."""
    recorded = await gql(RECORD, {"input": complaint_input(
        complainant={k: s[k] for k in ("name", "phone", "email", "idNumber", "address")},
        description=s["description"])}, tenant=tenant)
    payload = recorded["recordComplaint"]
    assert payload["userErrors"] == [], payload
    cid = payload["complaint"]["id"]
    await _step(gql, "attachEvidence", "AttachEvidenceInput", tenant, complaintId=cid, filename=s["filename"],
                contentType="text/plain", contentBase64=base64.b64encode(s["evidence"].encode()).decode(),
                note=s["evidenceNote"])
    await _step(gql, "startInvestigation", "StartInvestigationInput", tenant, complaintId=cid)
    await _step(gql, "submitInvestigation", "SubmitInvestigationInput", tenant, complaintId=cid, valid=True,
                findings=s["findings"])
    dept = (await gql("query { orgUnits(kind: DEPARTMENT) { id } }", tenant=tenant))["orgUnits"][0]["id"]
    await _step(gql, "assignResponsibleDepartment", "AssignResponsibleDepartmentInput", tenant, complaintId=cid,
                departmentId=dept, instructions=s["instructions"])
    await _step(gql, "proposeSolution", "ProposeSolutionInput", tenant, complaintId=cid, solution=s["solution"],
                customerReply=s["customerReply"], causeAnalysis=s["causeAnalysis"])
    review = await gql("mutation ($input: ReviewComplaintInput!) { reviewComplaint(input: $input) "
                       "{ userErrors { code } } }", {"input": {"complaintId": cid, "findings": s["review"]}},
                       tenant=tenant, user=SECOND_USER)  # not one of the case's handlers: four eyes
    assert review["reviewComplaint"]["userErrors"] == []
    detail = (await gql(DETAIL, {"id": cid}, tenant=tenant))["complaint"]
    return detail


async def _schema_dump(slug: str) -> str:
    """Every row of every table of the tenant's schema, as PostgreSQL prints it (bytea as hex)."""
    schema = f"tenant_{slug}"
    tables = await rows("SELECT tablename FROM pg_tables WHERE schemaname = :s", s=schema)
    assert len(tables) > 10
    parts = []
    for (table,) in tables:
        parts.append(str(await scalar(f'SELECT string_agg(t::text, E\'\\n\') FROM "{schema}"."{table}" t') or ""))
    return "\n".join(parts)


def _needles(s: dict[str, str]) -> list[str]:
    values = [v for k, v in s.items()]
    # as text, and as the hex PostgreSQL prints bytea in (plaintext stored as bytes would show up so)
    return values + [v.encode().hex() for v in values]


async def test_a_raw_dump_holds_none_of_the_personal_values(gql: GraphQLClient, servers: dict[str, str]) -> None:
    written = {}
    for tenant in (TENANT_A, TENANT_B):
        s = _secrets(uuid.uuid4().hex[:10])
        detail = await _full_case(gql, tenant, s)
        # everything reads back decrypted for a viewer with the right
        assert detail["description"] == s["description"]
        assert detail["complainant"] == {"name": s["name"], "phone": s["phone"], "email": s["email"],
                                         "idNumber": s["idNumber"], "address": s["address"], "masked": False,
                                         "erased": False}
        assert detail["investigation"]["findings"] == s["findings"]
        assert detail["transferSlip"]["instructions"] == s["instructions"]
        assert detail["handlingForm"] == {"solution": s["solution"], "customerReply": s["customerReply"],
                                          "causeAnalysis": s["causeAnalysis"]}
        assert detail["evidence"][0]["filename"] == s["filename"] and detail["evidence"][0]["note"] == s["evidenceNote"]
        written[tenant] = s
    for tenant, s in written.items():
        dump = await _schema_dump(tenant)
        assert dump.count("\\x01") > 5  # ciphertexts are there ...
        for needle in [*_needles(s), s["idNumber"].lower()]:
            assert needle not in dump, (tenant, needle)  # ... and no plaintext
    # and what pg_dump writes: the server's own pg_dump (a client of another major version refuses to dump)
    out = subprocess.run([str(await server_pg_dump()), "--data-only", f"--schema=tenant_{TENANT_A}", "--dbname",
                          servers["database_url"]], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "COPY tenant_alpha.complaints " in out.stdout and "COPY tenant_alpha.complainants " in out.stdout
    assert out.stdout.count("\\\\x01") > 5  # the ciphertexts, as COPY writes bytea
    for needle in _needles(written[TENANT_A]):
        assert needle not in out.stdout


async def test_a_moved_ciphertext_does_not_decrypt(gql: GraphQLClient, caplog: pytest.LogCaptureFixture) -> None:
    a = await _full_case(gql, TENANT_A, _secrets(uuid.uuid4().hex[:10]))
    b = await _full_case(gql, TENANT_A, _secrets(uuid.uuid4().hex[:10]))
    other = await _full_case(gql, TENANT_B, _secrets(uuid.uuid4().hex[:10]))
    s = f"tenant_{TENANT_A}"
    kept = await rows(f'SELECT id, description, resolution FROM "{s}".complaints WHERE number IN (:a, :b)',
                      a=a["number"], b=b["number"])
    try:
        await _moved(gql, caplog, s, a, b, other)
    finally:  # put the real ciphertexts back: the tenant is shared with the other tests
        for row in kept:
            await execute(f'UPDATE "{s}".complaints SET description = :d, resolution = :r WHERE id = :id',
                          d=row.description, r=row.resolution, id=row.id)
    assert (await gql(DETAIL, {"id": b["id"]}))["complaint"]["description"] == b["description"]


async def _moved(gql: GraphQLClient, caplog: pytest.LogCaptureFixture, s: str, a: dict[str, Any],
                 b: dict[str, Any], other: dict[str, Any]) -> None:
    # another row of the same column, then another tenant's row of the same column
    for source_schema, source in ((s, a), (f"tenant_{TENANT_B}", other)):
        assert await execute(f'UPDATE "{s}".complaints SET description = (SELECT description FROM '
                             f'"{source_schema}".complaints WHERE number = :src) WHERE number = :dst',
                             src=source["number"], dst=b["number"]) == 1
        with caplog.at_level(logging.ERROR, logger="services.core.crypto.fields"):
            caplog.clear()
            body = (await gql.post(DETAIL, {"id": b["id"]})).json()
        assert body["data"]["complaint"] is None
        assert [e["message"] for e in body["errors"]] == ["Internal server error"]
        assert a["description"] not in str(body) and other["description"] not in str(body)
        logged = [r.getMessage() for r in caplog.records]
        assert any("does not decrypt" in m and "complaints|description" in m for m in logged), logged
        assert not any(a["description"] in m or other["description"] in m for m in logged)
    # another column of the same row: the description in place of the resolution
    assert await execute(f'UPDATE "{s}".complaints SET resolution = description WHERE number = :n',
                         n=a["number"]) == 1
    body = (await gql.post(DETAIL, {"id": a["id"]})).json()
    assert body["data"]["complaint"]["resolution"] is None  # a nullable field: only it is lost, with an error
    errors = [(e["message"], e["path"]) for e in body["errors"]]
    assert errors == [("Internal server error", ["complaint", "resolution"])]
    assert body["data"]["complaint"]["description"] == a["description"]


PAGE = """
query ($f: ComplaintFilter) { complaints(filter: $f, first: 10) {
  edges { node { number description complainant { name phone masked } } } } }
"""


async def test_a_page_opens_its_sealed_values_together_and_a_bad_one_fails_its_own_row(
        gql: GraphQLClient, caplog: pytest.LogCaptureFixture) -> None:
    tag = uuid.uuid4().hex[:10]
    made = [await record(gql, TENANT_A, title=f"Page {tag} {i}", description=f"Story {tag} {i}",
                         complainant={"name": f"Person {tag} {i}", "phone": f"1390000000{i}"}) for i in range(3)]
    numbers = [m["number"] for m in made]
    found = {"f": {"text": f"Page {tag}"}}
    edges = (await gql(PAGE, found))["complaints"]["edges"]  # newest first: every row's own values
    assert [(e["node"]["number"], e["node"]["description"], e["node"]["complainant"]) for e in edges] == [
        (numbers[i], f"Story {tag} {i}", {"name": f"Person {tag} {i}", "phone": f"1390000000{i}", "masked": False})
        for i in (2, 1, 0)]
    s = f"tenant_{TENANT_A}"
    kept = await rows(f'SELECT c.id, c.description, p.id AS person, p.identity FROM "{s}".complaints c '
                      f'JOIN "{s}".complainants p ON p.id = c.complainant_id WHERE c.number = ANY(:n)', n=numbers)
    try:
        # the first complaint's description onto the second: the second row fails (row 1, newest first), alone
        assert await execute(f'UPDATE "{s}".complaints SET description = (SELECT description FROM "{s}".complaints '
                             f'WHERE number = :src) WHERE number = :dst', src=numbers[0], dst=numbers[1]) == 1
        await _page_fails(gql, caplog, found, tag, ["complaints", "edges", 1, "node", "description"],
                          "complaints|description")
        # and the first complainant's identity onto the third's: the third row (row 0) fails first
        assert await execute(
            f'UPDATE "{s}".complainants SET identity = (SELECT p.identity FROM "{s}".complainants p JOIN '
            f'"{s}".complaints c ON c.complainant_id = p.id WHERE c.number = :src) WHERE id = (SELECT complainant_id '
            f'FROM "{s}".complaints WHERE number = :dst)', src=numbers[0], dst=numbers[2]) == 1
        await _page_fails(gql, caplog, found, tag, ["complaints", "edges", 0, "node", "complainant"],
                          "complainants|identity")
    finally:  # the real ciphertexts back: the tenant is shared with the other tests
        for row in kept:
            await execute(f'UPDATE "{s}".complaints SET description = :d WHERE id = :id', d=row.description,
                          id=row.id)
            await execute(f'UPDATE "{s}".complainants SET identity = :i WHERE id = :id', i=row.identity,
                          id=row.person)
    edges = (await gql(PAGE, found))["complaints"]["edges"]
    assert [e["node"]["description"] for e in edges] == [f"Story {tag} {i}" for i in (2, 1, 0)]


async def _page_fails(gql: GraphQLClient, caplog: pytest.LogCaptureFixture, variables: dict[str, Any], tag: str,
                      path: list[Any], where: str) -> None:
    with caplog.at_level(logging.ERROR, logger="services.core.crypto.fields"):
        caplog.clear()
        body = (await gql.post(PAGE, variables)).json()
    # the first failing row's field, alone; its non-null fields take the list with it (as a row-by-row open did)
    assert [(e["message"], e["path"]) for e in body["errors"]] == [("Internal server error", path)]
    assert body["data"] is None
    logged = [r.getMessage() for r in caplog.records]
    assert sum(where in m for m in logged) == 1, logged  # once, when the page's column was opened
    assert not any(tag in m for m in logged)  # where, never what


async def test_exact_lookup_goes_through_per_tenant_blind_indexes(gql: GraphQLClient) -> None:
    tag = uuid.uuid4().hex[:10]
    phone = f"138{str(int(tag, 16))[-8:].rjust(8, '5')}"
    email = f"Look.Up.{tag}@Example.org"
    ids = {}
    for tenant in (TENANT_A, TENANT_B):
        recorded = await gql(RECORD, {"input": complaint_input(complainant={
            "name": "Lookup", "phone": phone, "email": email, "idNumber": "11010519491231002X"})}, tenant=tenant)
        ids[tenant] = recorded["recordComplaint"]["complaint"]["id"]
    for tenant in (TENANT_A, TENANT_B):
        for f in ({"complainantPhone": f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"},
                  {"complainantEmail": email.upper()}, {"complainantEmail": f"  {email.lower()} "},
                  {"complainantPhone": phone, "complainantEmail": email}):
            found = (await gql(LIST, {"f": f}, tenant=tenant))["complaints"]
            assert [e["node"]["id"] for e in found["edges"]] == [ids[tenant]], (tenant, f)
        nothing = (await gql(LIST, {"f": {"complainantPhone": phone, "complainantEmail": "other@example.org"}},
                             tenant=tenant))["complaints"]
        assert nothing["totalCount"] == 0
    stored = {t: await rows(f'SELECT phone_key, email_key FROM "tenant_{t}".complainants p '
                            f'JOIN "tenant_{t}".complaints c ON c.complainant_id = p.id WHERE c.id = :id',
                            id=_uuid(ids[t])) for t in ids}
    (a_phone, a_email), (b_phone, b_email) = stored[TENANT_A][0], stored[TENANT_B][0]
    assert len(a_phone) == 64 and phone not in a_phone and a_phone != b_phone and a_email != b_email


def _uuid(global_id: str) -> uuid.UUID:
    return uuid.UUID(base64.b64decode(global_id).decode().split(":", 1)[1])


async def test_erasing_a_complainant_keeps_the_case_and_its_statistics(gql: GraphQLClient) -> None:
    s = _secrets(uuid.uuid4().hex[:10])
    case = await _full_case(gql, TENANT_A, s)
    twin = await _full_case(gql, TENANT_A, {**s, "name": "Same Phone Other Record"})
    beta = await _full_case(gql, TENANT_B, s)  # the same person in another tenant
    by_phone = {"complainantPhone": s["phone"]}
    before = (await gql(LIST, {"f": by_phone}))["complaints"]["totalCount"]
    assert before == 2
    everything = (await gql(LIST, {"f": {}}))["complaints"]["totalCount"]
    events = await scalar(f'SELECT count(*) FROM "tenant_{TENANT_A}".audit_events')

    # refusals change nothing: no reason, a role without the right, another tenant's complaint
    refused = (await gql(ERASE, {"input": {"complaintId": case["id"], "reason": " "}}))["eraseComplainant"]
    assert [e["code"] for e in refused["userErrors"]] == ["REQUIRED"]
    forbidden = (await gql(ERASE, {"input": {"complaintId": case["id"], "reason": "asked"}},
                           user="investigator@test.example"))["eraseComplainant"]
    assert [e["code"] for e in forbidden["userErrors"]] == ["NOT_ALLOWED"]
    cross = (await gql(ERASE, {"input": {"complaintId": beta["id"], "reason": "asked"}}))["eraseComplainant"]
    assert [e["code"] for e in cross["userErrors"]] == ["NOT_FOUND"]
    assert await scalar(f'SELECT count(*) FROM "tenant_{TENANT_A}".audit_events') == events
    assert (await gql(DETAIL, {"id": case["id"]}))["complaint"]["complainant"]["name"] == s["name"]

    erased = (await gql(ERASE, {"input": {"complaintId": case["id"], "reason": "the customer asked (PIPL art. 47)"}},
                        user="admin@test.example"))["eraseComplainant"]  # the template's tenant_admin may
    assert erased["userErrors"] == []
    assert erased["complaint"]["complainant"] == {"name": "[erased]", "phone": None, "email": None,
                                                  "idNumber": None, "address": None, "masked": True, "erased": True}
    detail = (await gql(DETAIL, {"id": case["id"]}))["complaint"]
    assert detail["status"] == case["status"] and detail["description"] == s["description"]  # the case stays
    assert detail["handlingForm"]["solution"] == s["solution"]
    # the statistics still count it; the blind index no longer finds it; the other record is untouched
    assert (await gql(LIST, {"f": {}}))["complaints"]["totalCount"] == everything
    assert [e["node"]["id"] for e in (await gql(LIST, {"f": by_phone}))["complaints"]["edges"]] == [twin["id"]]
    assert (await gql(DETAIL, {"id": twin["id"]}))["complaint"]["complainant"]["erased"] is False
    assert (await gql(DETAIL, {"id": beta["id"]}, tenant=TENANT_B))["complaint"]["complainant"]["name"] == s["name"]
    # in the database: the subject key and the blind indexes are gone; the ciphertexts stay, unreadable
    (row,) = await rows(f'SELECT p.subject_key, p.phone_key, p.email_key, p.id_number_key, p.identity, p.erased_at '
                        f'FROM "tenant_{TENANT_A}".complainants p JOIN "tenant_{TENANT_A}".complaints c '
                        f'ON c.complainant_id = p.id WHERE c.id = :id', id=_uuid(case["id"]))
    assert row.subject_key is None and row.phone_key is row.email_key is row.id_number_key is None
    assert row.identity is not None and row.identity[:1] == b"\x02" and row.erased_at is not None
    assert await scalar(f"SELECT count(*) FROM \"tenant_{TENANT_A}\".audit_events WHERE action = 'erase_complainant' "
                        "AND subject_id = :id", id=_uuid(case["id"])) == 1
    # twice: refused, nothing changes
    trail = await scalar(f'SELECT count(*) FROM "tenant_{TENANT_A}".audit_events')
    again = (await gql(ERASE, {"input": {"complaintId": case["id"], "reason": "again"}}))["eraseComplainant"]
    assert [e["code"] for e in again["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert await scalar(f'SELECT count(*) FROM "tenant_{TENANT_A}".audit_events') == trail
    # with includeMatches, the other record with the same phone goes too
    matched = (await gql(ERASE, {"input": {"complaintId": twin["id"], "reason": "asked", "includeMatches": True}}
                         ))["eraseComplainant"]
    assert matched["userErrors"] == [] and matched["complaint"]["complainant"]["erased"] is True
    assert (await gql(LIST, {"f": by_phone}))["complaints"]["totalCount"] == 0
    assert (await gql(DETAIL, {"id": beta["id"]}, tenant=TENANT_B))["complaint"]["complainant"]["erased"] is False
    # the audit trail is still whole
    verified = await gql("query { auditVerification { ok } }")
    assert verified["auditVerification"]["ok"] is True


RETENTION = """mutation ($days: Int) { setRetentionPeriod(input: {days: $days}) {
  retentionDays userErrors { field message code } } }"""


async def test_retention_erases_complainants_whose_cases_ended_long_ago(gql: GraphQLClient) -> None:
    old = await _full_case(gql, TENANT_B, _secrets(uuid.uuid4().hex[:10]))
    recent = await _full_case(gql, TENANT_B, _secrets(uuid.uuid4().hex[:10]))
    alpha = await _full_case(gql, TENANT_A, _secrets(uuid.uuid4().hex[:10]))
    bad = (await gql(RETENTION, {"days": 0}, tenant=TENANT_B))["setRetentionPeriod"]
    assert bad["userErrors"] == [{"field": ["days"], "message": "days must be between 1 and 36500",
                                  "code": "OUT_OF_RANGE"}]
    forbidden = (await gql(RETENTION, {"days": 30}, tenant=TENANT_B, user="receiver@test.example"))
    assert [e["code"] for e in forbidden["setRetentionPeriod"]["userErrors"]] == ["NOT_ALLOWED"]
    assert await scalar(f'SELECT retention_days FROM "tenant_{TENANT_B}".tenant_settings') is None
    assert (await gql(RETENTION, {"days": 30}, tenant=TENANT_B))["setRetentionPeriod"] == {
        "retentionDays": 30, "userErrors": []}
    # a fixture, not the workflow: both cases withdrawn, one of them 40 days ago; alpha's as old, but alpha keeps all
    for tenant, case, days in ((TENANT_B, old, 40), (TENANT_B, recent, 5), (TENANT_A, alpha, 400)):
        assert await execute(f"UPDATE \"tenant_{tenant}\".complaints SET status = 'WITHDRAWN', "
                             f"updated_at = now() - make_interval(days => :d) WHERE id = :id",
                             d=days, id=_uuid(case["id"])) == 1
    result = run_cli("retention", "run")
    assert result.returncode == 0, result.stderr
    assert f"{TENANT_B}: 1 complainant(s) erased" in result.stdout and f"{TENANT_A}: 0" in result.stdout
    for tenant, case, gone in ((TENANT_B, old, True), (TENANT_B, recent, False), (TENANT_A, alpha, False)):
        person = (await gql(DETAIL, {"id": case["id"]}, tenant=tenant))["complaint"]["complainant"]
        assert person["erased"] is gone, (tenant, case["number"])
    assert run_cli("retention", "run").stdout.count("0 complainant(s) erased") >= 2
    # the worker's sweep does the same on its own (here forced; by itself at most every 10 minutes)
    from services.core.outbox.sweeper import sweep_all

    later = await _full_case(gql, TENANT_B, _secrets(uuid.uuid4().hex[:10]))
    assert await execute(f"UPDATE \"tenant_{TENANT_B}\".complaints SET status = 'CLOSED', closed_at = now() - "
                         "interval '31 days' WHERE id = :id", id=_uuid(later["id"])) == 1
    swept = await sweep_all(retention=True)
    assert swept.erased == 1
    assert (await gql(DETAIL, {"id": later["id"]}, tenant=TENANT_B))["complaint"]["complainant"]["erased"] is True
    assert (await gql(DETAIL, {"id": recent["id"]}, tenant=TENANT_B))["complaint"]["complainant"]["erased"] is False


def test_master_key_generation_prints_a_usable_key() -> None:
    result = run_cli("keys", "generate-master")
    assert result.returncode == 0
    assert len(base64.b64decode(result.stdout.strip())) == 32
    assert os.environ["COMPLAINTDESK_MASTER_KEY"] != result.stdout.strip()
