"""BOLA: every ID argument of every query and mutation, with the other tenant's IDs and with random ones.

The ID arguments are found by walking the schema (top level, and inside input objects at any depth), not by a
hand-kept list: a new field with an ID argument is probed the day it appears, or the test fails asking which
type its IDs name (``ID_TYPES``). For each position, signed in to tenant alpha with every right:

(a) an ID of the same type that belongs to tenant beta (look-alike objects made there first),
(b) a random well-formed ID of that type,
(c) a malformed ID;

(a) and (b) must get the same answer (status, data and nulls, userError codes and messages, top-level error codes;
only the request id differs), and (b) must have reached the lookup (a NOT_FOUND naming the argument, or an empty
answer of a query), so the comparison means something; (c) is refused cleanly (no 5xx, no internal error). And
nothing changes in beta: every table of its schema (row count and a digest of all rows, so its audit chain too)
and its wake-ups are compared before and after each field.
"""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from accountability import fresh_audit
from conftest import DEFAULT_USER, TENANT_A, TENANT_B, GraphQLClient
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from graphql.pyutils import Undefined
from helpers import rows
from lifecycle import EXTEND, REQUEST_EXTENSION, directory, ok, record

from services.core import authz
from services.core.diagnostics.service import request_worker_check
from services.core.outbox.service import dispatch_due, notify
from services.core.reporting.models import FileFormat, ReportKind, TransferKind
from services.core.reporting.service import request_report
from services.core.reporting.transfers import request_transfer
from services.core.tenancy import resolve_tenant, tenant_session

RECEIVER = "receiver@test.example"
ADMIN = "admin@test.example"

# Which object type the IDs of an argument name, by the argument's own name, or by "field.path" when the name alone
# does not tell. A new ID argument fails `test_every_id_argument_is_typed` until it is added here.
ID_TYPES_BY_NAME = {
    "complaintId": "Complaint", "repeatOfId": "Complaint",
    "userId": "User", "ownerId": "User", "investigatorId": "User", "newOwnerId": "User", "reviewerId": "User",
    "requestId": "DeadlineExtensionRequest",
    "orgUnitId": "OrgUnit", "departmentId": "OrgUnit", "storeId": "OrgUnit", "parentId": "OrgUnit",
    "categoryId": "Category",
    "externalBodyId": "ExternalBody",
    "providerId": "IdentityProvider",
    "notificationId": "Notification",
    "businessTypeId": "ClassificationCode", "causeId": "ClassificationCode", "businessChannelId": "ClassificationCode",
    "areaId": "ClassificationCode", "codeIds": "ClassificationCode",
    "personId": "User", "penaltyId": "Penalty", "planId": "ReviewPlan", "findingId": "ReviewFinding",
    "entryId": "OpinionBookEntry", "majorCategoryIds": "Category", "actionId": "ImprovementAction",
}
ID_TYPES_BY_PATH = {
    "complaint.id": "Complaint",
    "workerCheck.id": "WorkerCheck",
    "keyRotation.id": "KeyRotation",
    "upsertExternalBody.input.id": "ExternalBody",
    "retryOutboxItems.input.ids": "OutboxItem",
    "report.id": "Report",
    "dataTransfer.id": "DataTransfer",
    "node.id": "*",  # any type: every kind of beta object is tried
}
# Types whose IDs are raw UUIDs rather than Relay global IDs.
RAW_UUID_TYPES = {"WorkerCheck", "KeyRotation"}

# Positions that cannot be probed from tenant alpha, each with why. The test asserts each is still needed.
EXEMPT = {
    # Operators' key rotations are platform objects, not a tenant's; a tenant user is refused FORBIDDEN whatever
    # the ID (asserted below), and operators see every tenant's rotations by design.
    "keyRotation.id": "FORBIDDEN",
}


def _gid(type_name: str, value: Any) -> str:
    if type_name in RAW_UUID_TYPES:
        return str(value)
    return base64.b64encode(f"{type_name}:{value}".encode()).decode()


@functools.cache
def _schema() -> Any:
    from services.api.schema import build_schema

    return build_schema(development=True)._schema


def _id_paths(t: GraphQLInputType, path: tuple[str, ...], seen: frozenset[str]) -> Iterator[tuple[str, ...]]:
    named = get_named_type(t)
    if isinstance(named, GraphQLScalarType) and named.name == "ID":
        yield path
    elif isinstance(named, GraphQLInputObjectType) and named.name not in seen:
        for name, field in named.fields.items():
            yield from _id_paths(field.type, (*path, name), seen | {named.name})


def id_positions() -> list[tuple[str, str, tuple[str, ...]]]:
    """(operation type, field, path to the ID) for every ID argument of the schema."""
    schema = _schema()
    out = []
    for op, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for fname, field in root.fields.items():
            for aname, arg in field.args.items():
                out.extend((op, fname, p) for p in _id_paths(arg.type, (aname,), frozenset()))
    return out


def _id_type(field: str, path: tuple[str, ...]) -> str | None:
    return ID_TYPES_BY_PATH.get(".".join((field, *path))) or ID_TYPES_BY_NAME.get(path[-1])


def test_every_id_argument_is_typed() -> None:
    untyped = [f"{f}.{'.'.join(p)}" for _, f, p in id_positions() if _id_type(f, p) is None]
    assert untyped == [], f"add these ID arguments to ID_TYPES_BY_NAME or ID_TYPES_BY_PATH: {untyped}"
    assert len(id_positions()) >= 45  # the walk finds the nested ones too (49 when this was written)


# Values for required non-ID input fields, so a request reaches the ID it probes (by "Input.field", else by type).
FIELD_VALUES: dict[str, Any] = {
    "SignInWithOidcInput.tenant": "alpha", "SignInWithOidcInput.codeVerifier": "v" * 43,
    "SignInWithOidcInput.redirectUri": "http://console.test.example/oidc/callback",
    "SignInWithOidcInput.nonce": "n" * 16,
    "canI.action": "complaint.read",
    # a year up to today: the probes' complaints (made now) are counted, so alpha's own IDs can answer otherwise
    "StatisticsPeriod.from": (datetime.now(UTC) - timedelta(days=365)).date().isoformat(),
    "StatisticsPeriod.to": (datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
    "CreateUserInput.email": "bola-probe@test.example",
    "SetPasswordInput.password": "a long enough password 1",
    "AttachEvidenceInput.contentBase64": base64.b64encode(b"evidence").decode(),
    "AttachEvidenceInput.contentType": "text/plain",
    "AttachEvidenceInput.filename": "note.txt",
    "AssignRoleInput.roles": ["receiver"],
    "SubmitInvestigationInput.valid": True,
    "RouteComplaintInput.mode": "CUSTOMER_TOLD",
    "UpsertSlaProfileInput.rules": [{"kind": "RESOLUTION", "basis": "CALENDAR", "days": 15, "startsOn": "RECORDED",
                                     "metOn": ["CLOSED"]}],
}
SCALARS: dict[str, Any] = {
    "String": "probe", "Int": 1, "Float": 1.0, "Boolean": False, "Date": "2026-10-01",
    "DateTime": "2026-10-01T10:00:00+08:00", "Decimal": "1", "JSON": {}, "Time": "10:00:00",
}


def _fill(t: GraphQLInputType, owner: str, name: str, own: dict[str, str]) -> Any:
    """A valid value for a required input field (``own``: alpha's IDs by type, for the other ID fields)."""
    key = f"{owner}.{name}"
    if key in FIELD_VALUES:
        return FIELD_VALUES[key]
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if isinstance(t, GraphQLList):
        return [_fill(t.of_type, owner, name, own)]
    if isinstance(t, GraphQLInputObjectType):
        return {n: _fill(f.type, t.name, n, own) for n, f in t.fields.items()
                if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    assert isinstance(t, GraphQLScalarType)
    if t.name == "ID":
        return own[ID_TYPES_BY_NAME[name]]
    return SCALARS[t.name]


def _selection(t: Any, depth: int = 0) -> str:
    """Every scalar field of the answer, and the id (or the scalars) of its objects, two levels down."""
    named = get_named_type(t)
    if isinstance(named, GraphQLInterfaceType):
        return "__typename id"
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = ["__typename"]
    for name, field in named.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined for a in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if isinstance(inner, GraphQLObjectType):
            if depth < 2:
                parts.append(f"{name} {{ {_selection(inner, depth + 1)} }}")
        elif depth < 2 or name in ("id", "code", "field", "message"):
            parts.append(name)
    return " ".join(parts)


def _request(op: str, field: str, path: tuple[str, ...], value: Any, own: dict[str, str]) -> tuple[str, dict]:
    """The document and variables calling ``field`` with ``value`` at ``path``, every other argument filled."""
    schema = _schema()
    root = schema.query_type if op == "query" else schema.mutation_type
    f = root.fields[field]
    variables: dict[str, Any] = {}
    for aname, arg in f.args.items():
        if aname == path[0]:
            variables[aname] = _put(arg.type, path[1:], value, own, field)
        elif isinstance(arg.type, GraphQLNonNull):
            variables[aname] = _fill(arg.type, field, aname, own)
    decl = ", ".join(f"${a}: {f.args[a].type}" for a in variables)
    args = ", ".join(f"{a}: ${a}" for a in variables)
    doc = f"{op} ({decl}) {{ {field}({args}) {{ {_selection(f.type)} }} }}" if decl else \
        f"{op} {{ {field} {{ {_selection(f.type)} }} }}"
    if not isinstance(get_named_type(f.type), GraphQLObjectType | GraphQLInterfaceType):
        doc = f"{op} ({decl}) {{ {field}({args}) }}"
    return doc, variables


def _put(t: Any, rest: tuple[str, ...], value: Any, own: dict[str, str], owner: str) -> Any:
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    if not rest:
        return [value] if isinstance(t, GraphQLList) else value
    assert isinstance(t, GraphQLInputObjectType)
    filled = {n: _fill(f.type, t.name, n, own) for n, f in t.fields.items()
              if n != rest[0] and isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined}
    filled[rest[0]] = _put(t.fields[rest[0]].type, rest[1:], value, own, t.name)
    return filled


def _normal(body: Any) -> Any:
    """The answer without the request id (different on every request)."""
    if isinstance(body, dict):
        return {k: _normal(v) for k, v in body.items() if k != "requestId"}
    if isinstance(body, list):
        return [_normal(v) for v in body]
    return body


async def _beta_state() -> list[Any]:
    """Every table of beta's schema (rows and a digest of them) and beta's wake-ups: what a probe must not change."""
    schema = f"tenant_{TENANT_B}"
    tables = [r[0] for r in await rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_type = 'BASE TABLE' "
        "ORDER BY table_name", s=schema)]
    parts = [f"""SELECT '{t}', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), ''))
                 FROM "{schema}"."{t}" x""" for t in tables]
    parts.append(f"""SELECT 'sweep_wakeups', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), ''))
                     FROM public.sweep_wakeups x WHERE x.schema_name = '{schema}'""")
    return [tuple(r) for r in await rows(" UNION ALL ".join(parts))]


@pytest.fixture(scope="module")
async def ids(tenants: Any, app: Any) -> AsyncIterator[dict[str, dict[str, str]]]:
    """Look-alike objects in both tenants: their IDs by type (beta's are the probes; alpha's fill the arguments
    not under probe). Alpha also gets complaints in the states its steps need to reach their other IDs."""
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        gql = GraphQLClient(http)
        found: dict[str, dict[str, str]] = {}
        for tenant in (TENANT_A, TENANT_B):
            units, users = await directory(gql, tenant)
            cats = (await gql("query { categories { id } }", tenant=tenant))["categories"]
            causes = (await gql("query { classificationCodes(dimension: CAUSE) { id } }",
                                tenant=tenant))["classificationCodes"]
            body = (await gql(UPSERT_BODY, {"i": {"name": "BOLA Price Bureau", "kind": "PRICE_BUREAU"}},
                              tenant=tenant, user=ADMIN))["upsertExternalBody"]
            assert body["userErrors"] == []
            complaint = await record(gql, tenant, title="BOLA twin")
            ref = await resolve_tenant(tenant)
            receiver = uuid.UUID(base64.b64decode(users[RECEIVER]).decode().split(":")[1])
            now = datetime.now(UTC)
            async with tenant_session(ref) as session, session.begin():
                # one notification the receiver gets, one to a user that does not exist (a failed outbox item)
                await notify(session, user_ids=[receiver, uuid.uuid4()], key=f"bola:{uuid.uuid4()}", kind="TEST",
                             title="Hello", now=now)
                check = await request_worker_check(session)
            for _ in range(50):  # other tests' items may be due in the shared tenant too: a batch at a time
                async with tenant_session(ref) as session:
                    await dispatch_due(session, now=now, attempts_max=1)
                failed = await rows(f"""SELECT id FROM "{ref.schema}".outbox WHERE state = 'failed'
                                        ORDER BY created_at DESC LIMIT 1""")
                if failed:
                    break
            note = await rows(f'SELECT id FROM "{ref.schema}".notifications WHERE user_id = :u '
                              "ORDER BY created_at DESC LIMIT 1", u=receiver)
            assert note and failed
            # accountability: a penalty on the complaint, a review plan with a finding, an opinion-book entry
            store = units["ST-001" if tenant == TENANT_A else "BR-SH-01"]
            penalty = (await gql(PROPOSE_PENALTY, {"i": {"target": "UNIT", "kind": "WARNING", "orgUnitId": store,
                                                         "reason": "BOLA twin", "complaintId": complaint["id"]}},
                                 tenant=tenant))["proposePenalty"]
            assert penalty["userErrors"] == []
            today = now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
            # an audit department of its own (the template's AUDIT is shared with tests that may make it handle cases)
            audit, _, auditor = await fresh_audit(gql, tenant)
            plan = (await gql(CREATE_PLAN, {"i": {"name": "BOLA twin", "periodFrom": today, "periodTo": today,
                                                  "sampleRule": "RANDOM_PERCENT", "samplePercent": 100,
                                                  "departmentId": audit}}, tenant=tenant))["createReviewPlan"]
            assert plan["userErrors"] == []
            finding = (await gql(RECORD_FINDING, {"i": {"planId": plan["reviewPlan"]["id"], "complaintId":
                                                        complaint["id"], "outcome": "CONFORMING", "note": "BOLA"}},
                                 tenant=tenant, user=auditor))["recordReviewFinding"]
            assert finding["userErrors"] == []
            action = (await gql(ADD_ACTION, {"i": {"planId": plan["reviewPlan"]["id"], "findingId":
                                                   finding["finding"]["id"], "description": "BOLA twin",
                                                   "ownerId": users[RECEIVER], "dueDate": "2099-12-31"}},
                                tenant=tenant, user=auditor))["addImprovementAction"]
            assert action["userErrors"] == []
            entry = (await gql(RECORD_ENTRY, {"i": {"storeId": store, "entryDate": today, "text": "BOLA twin"}},
                               tenant=tenant))["recordOpinionBookEntry"]
            assert entry["userErrors"] == []
            provider = (await gql(UPSERT_PROVIDER, {"i": {
                "issuer": "https://bola-twin.test.example/", "audience": "bola-twin", "displayName": "BOLA twin",
                "jwksUri": "https://bola-twin.test.example/jwks.json", "active": False}}, tenant=tenant,
            ))["upsertIdentityProvider"]
            assert provider["userErrors"] == []
            found[tenant] = {
                "IdentityProvider": provider["identityProvider"]["id"],
                "Penalty": penalty["penalty"]["id"], "ReviewPlan": plan["reviewPlan"]["id"],
                "ReviewFinding": finding["finding"]["id"], "OpinionBookEntry": entry["entry"]["id"],
                "ImprovementAction": action["improvementAction"]["id"],
                "Complaint": complaint["id"], "User": users[RECEIVER], "OrgUnit": units["QA" if tenant == TENANT_A
                                                                                     else "OPS"],
                "Category": cats[0]["id"], "ExternalBody": body["externalBody"]["id"],
                "ClassificationCode": causes[0]["id"],
                "Notification": _gid("Notification", note[0].id), "OutboxItem": _gid("OutboxItem", failed[0].id),
                "WorkerCheck": str(check.id),
            }
            # a report and an export of the all-rights user (recorded, not sent: no worker runs here)
            subject = authz.Subject(user_id=uuid.UUID(base64.b64decode(users[DEFAULT_USER]).decode().split(":")[1]),
                                    tenant=tenant)
            async with tenant_session(ref) as session, session.begin():
                report = await request_report(session, subject=subject, kind=ReportKind.MANAGEMENT,
                                              period_from=date(2026, 1, 1), period_to=date(2026, 3, 31), now=now)
                transfer = await request_transfer(session, subject=subject, kind=TransferKind.EXPORT_ORG_UNITS,
                                                  fmt=FileFormat.CSV, now=now)
            found[tenant]["Report"] = _gid("Report", report.id)
            found[tenant]["DataTransfer"] = _gid("DataTransfer", transfer.id)
        # an extension request: the bank's second extension needs one (retail's profile has none, so alpha's
        # stand-in is a random ID, and node() answers alike for it: OWN_LIKE_RANDOM)
        bank = await record(gql, TENANT_B, title="BOLA extension")
        extended = (await gql(EXTEND, {"input": {"complaintId": bank["id"], "reason": "Records", "complex": True}},
                              tenant=TENANT_B))["extendDeadline"]
        assert extended["userErrors"] == []
        asked = (await gql(REQUEST_EXTENSION, {"input": {"complaintId": bank["id"], "reason": "Court",
                                                         "complex": True}},
                           tenant=TENANT_B))["requestDeadlineExtension"]
        assert asked["userErrors"] == []
        found[TENANT_B]["DeadlineExtensionRequest"] = asked["extensionRequest"]["id"]
        found[TENANT_A]["DeadlineExtensionRequest"] = _gid("DeadlineExtensionRequest", uuid.uuid4())
        # alpha's complaints in the states where a step looks its other IDs up
        investigating = await record(gql, TENANT_A, title="BOLA investigating")
        await ok(gql, "startInvestigation", TENANT_A, DEFAULT_USER, complaintId=investigating["id"])
        valid = await record(gql, TENANT_A, title="BOLA valid")
        await ok(gql, "startInvestigation", TENANT_A, DEFAULT_USER, complaintId=valid["id"])
        await ok(gql, "submitInvestigation", TENANT_A, DEFAULT_USER, complaintId=valid["id"], valid=True,
                 findings="Leaks")
        closed = await record(gql, TENANT_A, title="BOLA closed")
        await ok(gql, "resolveOnTheSpot", TENANT_A, DEFAULT_USER, complaintId=closed["id"], resolution="Refunded")
        found["states"] = {"startInvestigation": found[TENANT_A]["Complaint"],
                           "submitInvestigation": investigating["id"], "assignResponsibleDepartment": valid["id"],
                           "escalateComplaint": closed["id"]}
        yield found


PROPOSE_PENALTY = """mutation ($i: ProposePenaltyInput!) { proposePenalty(input: $i) {
  penalty { id } userErrors { code } } }"""
CREATE_PLAN = """mutation ($i: CreateReviewPlanInput!) { createReviewPlan(input: $i) {
  reviewPlan { id } userErrors { code } } }"""
ADD_ACTION = """mutation ($i: AddImprovementActionInput!) { addImprovementAction(input: $i) {
  improvementAction { id } userErrors { code } } }"""
RECORD_FINDING = """mutation ($i: RecordReviewFindingInput!) { recordReviewFinding(input: $i) {
  finding { id } userErrors { code } } }"""
RECORD_ENTRY = """mutation ($i: RecordOpinionBookEntryInput!) { recordOpinionBookEntry(input: $i) {
  entry { id } userErrors { code } } }"""
UPSERT_PROVIDER = """mutation ($i: UpsertIdentityProviderInput!) { upsertIdentityProvider(input: $i) {
  identityProvider { id } userErrors { code } } }"""
UPSERT_BODY = """mutation ($i: UpsertExternalBodyInput!) { upsertExternalBody(input: $i) {
  externalBody { id } userErrors { code } } }"""


def _reached(op: str, field: str, path: tuple[str, ...], status: int, body: dict[str, Any]) -> bool:
    """Did the random ID reach its lookup? A NOT_FOUND naming the argument, or a query answered without error."""
    if status != 200 or body.get("errors"):
        return False
    answer = body["data"][field]
    if op == "query":
        return True
    return any(e["code"] == "NOT_FOUND" and path[-1] in (e["field"] or [])
               for e in (answer or {}).get("userErrors", []))


def _probes(type_name: str, beta: dict[str, str]) -> list[tuple[str, str, str]]:
    """(type, beta's ID, a random ID of that type) for an argument of ``type_name`` ("*": every type)."""
    names = [t for t in beta if t not in RAW_UUID_TYPES] if type_name == "*" else [type_name]
    return [(t, beta[t], _gid(t, uuid.uuid4())) for t in names]


def _raw(global_id: str) -> str:
    """The UUID inside a global ID (or the raw UUID itself)."""
    try:
        return str(uuid.UUID(global_id))
    except ValueError:
        return base64.b64decode(global_id).decode().split(":", 1)[1]


# Query positions where alpha's own object answers like a random ID (so those probes prove less). The structural
# ones are asserted exactly, so a change either way is looked at.
OWN_LIKE_RANDOM = {
    # not Node types: node() answers null for them whoever owns them
    "node.id (Notification)", "node.id (ExternalBody)", "node.id (DataTransfer)",
    # alpha (retail) holds no extension request: its filler is a random ID
    "node.id (DeadlineExtensionRequest)",
    # accountability records are not Node types either
    "node.id (Penalty)", "node.id (ReviewPlan)", "node.id (ReviewFinding)", "node.id (OpinionBookEntry)",
    "node.id (ImprovementAction)",
    # the filler unit (QA) is no store: no opinion-book entries
    "opinionBookEntries.storeId (OrgUnit)",
}
# Filters whose answer for alpha's own ID depends on what other tests left in the shared tenant: while no complaint
# of alpha has the filler unit as its store or department (or the first category, or the filler classification
# code), alpha's own ID answers like a random one; once another test files one there, it answers otherwise. Either
# is fine: the filter still runs on the probe, and beta's complaints carry those IDs, so a leak would show them.
OWN_LIKE_RANDOM_UNTIL_USED = {
    "complaints.filter.storeId (OrgUnit)", "complaints.filter.departmentId (OrgUnit)",
    "complaints.filter.categoryId (Category)",
    "statistics.filter.storeId (OrgUnit)", "statistics.filter.departmentId (OrgUnit)",
    "statistics.filter.categoryId (Category)", "statistics.filter.codeIds (ClassificationCode)",
}

MALFORMED = ["not an id", base64.b64encode(b"Complaint:not-a-uuid").decode(), "", "Q29tcGxhaW50"]


async def test_other_tenants_ids_answer_like_random_ones_and_change_nothing(
    gql: GraphQLClient, ids: dict[str, dict[str, str]]
) -> None:
    alpha, beta = ids[TENANT_A], ids[TENANT_B]
    probed, not_reached, exempt_seen, own_like_random = [], [], {}, set()
    for op, field, path in id_positions():
        where = ".".join((field, *path))
        type_name = _id_type(field, path)
        assert type_name is not None
        own = {**alpha, "Complaint": ids["states"].get(field, alpha["Complaint"])}
        before = await _beta_state()
        # an exempt position has no beta object to probe with: a random ID stands in (its answer is asserted below)
        probes = [(type_name, _gid(type_name, uuid.uuid4()), _gid(type_name, uuid.uuid4()))] if where in EXEMPT \
            else _probes(type_name, beta)
        for probe_type, theirs, random_id in probes:
            answers = []
            for value in (theirs, random_id):
                doc, variables = _request(op, field, path, value, own)
                response = await gql.post(doc, variables, tenant=TENANT_A)
                answers.append((response.status_code, _normal(response.json())))
            assert answers[0] == answers[1], f"{where} ({probe_type}): beta's ID answers unlike a random one"
            status, body = answers[1]
            if op == "query" and where not in EXEMPT:  # read-only: alpha's own ID must answer otherwise
                doc, variables = _request(op, field, path, _gid(probe_type, _raw(alpha[probe_type])), own)
                if _normal((await gql.post(doc, variables, tenant=TENANT_A)).json()) == body:
                    own_like_random.add(f"{where} ({probe_type})")
            if where in EXEMPT:
                exempt_seen[where] = [e["extensions"]["code"] for e in body.get("errors", [])]
            elif not _reached(op, field, path, status, body):
                not_reached.append((where, body))
        for value in MALFORMED:
            doc, variables = _request(op, field, path, value, own)
            response = await gql.post(doc, variables, tenant=TENANT_A)
            assert response.status_code < 500, (where, value, response.text)
            assert "INTERNAL_SERVER_ERROR" not in response.text, (where, value, response.text)
        assert await _beta_state() == before, f"{where}: a probe changed tenant beta"
        probed.append(where)
    assert not_reached == [], "these probes never reached the ID's lookup (fill their inputs better):\n" + \
        "\n".join(f"{w}: {b}" for w, b in not_reached)
    # each exemption still needed: the field still refuses a tenant user outright
    assert exempt_seen == {w: [code] for w, code in EXEMPT.items()}
    assert len(probed) == len(id_positions())
    assert own_like_random - OWN_LIKE_RANDOM_UNTIL_USED == OWN_LIKE_RANDOM
