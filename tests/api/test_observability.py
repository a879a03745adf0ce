"""Operating the platform from outside: a real `complaintdesk serve` and a real `complaintdesk worker` (its health
endpoint on, its connection URLs read from files), a full complaint case through GraphQL, then what an operator
sees: /metrics of both move, /livez and /readyz of the worker, JSON log lines with ids and never the personal
data the case wrote, and no start-up noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import TENANT_A, GraphQLClient
from helpers import ROOT, free_port, rows, run_cli
from lifecycle import directory, ok, record
from prometheus_client.parser import text_string_to_metric_families

RECEIVER = "receiver@test.example"
INVESTIGATOR = "investigator@test.example"
DESK = "desk@test.example"
HANDLER = "handler@test.example"
APPROVER = "approver@test.example"


class Worker:
    """`complaintdesk worker` with its health endpoint on a loopback port, DATABASE_URL and REDIS_URL given as
    files only (DATABASE_URL_FILE, REDIS_URL_FILE), its output kept."""

    def __init__(self, database_url: str, redis_url: str, secrets: Path, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (secrets / "databaseUrl").write_text(database_url + "\n", encoding="utf-8")
        (secrets / "redisUrl").write_text(redis_url + "\n", encoding="utf-8")
        full = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        full.update({"DATABASE_URL_FILE": str(secrets / "databaseUrl"), "REDIS_URL_FILE": str(secrets / "redisUrl"),
                     "COMPLAINTDESK_WORKER_HTTP_PORT": str(self.port),
                     "COMPLAINTDESK_QUEUE_NAMESPACE": f"cdobs-{uuid.uuid4().hex[:6]}", **env})
        self.log = secrets / "worker.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name("complaintdesk")), "worker", "--threads", "1",
                 "--sweep-interval", "0.2"], cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/livez", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.2)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10.0)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def worker_proc(servers: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def start(database_url: str | None = None, redis_url: str | None = None, **env: str) -> Worker:
        secrets = tmp_path / f"secrets-{len(started)}"
        secrets.mkdir()
        w = Worker(database_url or servers["database_url"], redis_url or servers["redis_url"], secrets, **env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


PERSONAL = {
    "name": lambda tag: f"测试客户{tag}",
    "phone": lambda tag: "139" + str(int(tag, 16))[-8:].rjust(8, "7"),
    "email": lambda tag: f"pd-{tag}@example.com",
    "description": lambda tag: f"The blender {tag} sparks when switched on",
    "customerReply": lambda tag: f"We refund the blender {tag} in full",
    "findings": lambda tag: f"Wiring fault {tag} confirmed",
}


async def full_case(gql: GraphQLClient, tenant: str, tag: str) -> dict[str, str]:
    """recordComplaint -> investigation -> department -> solution -> approval -> message -> opinion ->
    implementation -> follow-up (closed); the personal data it wrote, by field."""
    written = {field: make(tag) for field, make in PERSONAL.items()}
    units, _ = await directory(gql, tenant)
    c = await record(gql, tenant, complainant={"name": written["name"], "phone": written["phone"],
                                               "email": written["email"]},
                     description=written["description"])
    cid = c["id"]
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True,
             findings=written["findings"], cause="QUALITY")
    await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid, departmentId=units["PROD"])
    await ok(gql, "proposeSolution", tenant, HANDLER, complaintId=cid, solution="Refund",
             customerReply=written["customerReply"], compensationAmount="99.00")
    await ok(gql, "approveHandlingForm", tenant, APPROVER, complaintId=cid)
    await ok(gql, "sendCustomerMessage", tenant, RECEIVER, complaintId=cid)
    await ok(gql, "recordCustomerOpinion", tenant, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", tenant, HANDLER, complaintId=cid)
    closed = await ok(gql, "recordFollowUp", tenant, RECEIVER, complaintId=cid, rating="VERY_SATISFIED")
    assert closed["status"] == "CLOSED"
    written["number"] = c["number"]
    return written


CASE_OPERATIONS = ["recordComplaint", "startInvestigation", "submitInvestigation", "assignResponsibleDepartment",
                   "proposeSolution", "approveHandlingForm", "sendCustomerMessage", "recordCustomerOpinion",
                   "completeImplementation", "recordFollowUp"]


async def pending_outbox(tenant: str, number: str) -> int:
    """The case's items the worker should have delivered by now: pending and due (other tests' items in the shared
    tenant, a webhook waiting for a later retry say, are not this case's)."""
    return int((await rows(f"SELECT count(*) FROM tenant_{tenant}.outbox o JOIN tenant_{tenant}.complaints c "
                           "ON c.id = o.complaint_id WHERE c.number = :n AND o.state = 'pending' "
                           "AND o.next_attempt_at <= now()", n=number))[0][0])


async def sent_outbox(tenant: str) -> int:
    return int((await rows(f"SELECT count(*) FROM tenant_{tenant}.outbox WHERE state = 'sent'"))[0][0])


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


async def test_metrics_of_api_and_worker_move_during_a_full_case(
        servers: dict[str, str], tenants: Any, served: Any, worker_proc: Any) -> None:
    api = served(servers["database_url"], servers["redis_url"])
    worker = worker_proc()
    api_before = scrape(api.get("/metrics").text)
    worker_before = scrape(worker.get("/metrics").text)
    sent_before = await sent_outbox(TENANT_A)

    async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
        case = await full_case(GraphQLClient(http), TENANT_A, uuid.uuid4().hex[:12])
    # the hand-offs of the case (transfer slip, approval requested, ...) are outbox items the worker delivers
    import asyncio

    deadline = time.monotonic() + 60
    while await pending_outbox(TENANT_A, case["number"]):
        assert time.monotonic() < deadline, "the worker did not deliver the case's outbox items"
        await asyncio.sleep(0.2)
    delivered = await sent_outbox(TENANT_A) - sent_before
    assert delivered > 0
    wait_for(lambda: total(scrape(worker.get("/metrics").text), "complaintdesk_outbox_deliveries_total",
                           result="sent") - total(worker_before, "complaintdesk_outbox_deliveries_total",
                                                  result="sent") >= delivered, what="the deliveries counted")

    api_after = scrape(api.get("/metrics").text)
    for operation in CASE_OPERATIONS:
        labels = {"type": "mutation", "operation": operation, "outcome": "ok"}
        moved = (value(api_after, "complaintdesk_graphql_operations_total", **labels)
                 - value(api_before, "complaintdesk_graphql_operations_total", **labels))
        assert moved == 1, (operation, moved)
        latency = {"type": "mutation", "operation": operation}
        assert (value(api_after, "complaintdesk_graphql_operation_duration_seconds_count", **latency)
                - value(api_before, "complaintdesk_graphql_operation_duration_seconds_count", **latency)) >= 1
    requests = (value(api_after, "complaintdesk_http_requests_total", route="/graphql", method="POST", status="2xx")
                - value(api_before, "complaintdesk_http_requests_total", route="/graphql", method="POST",
                        status="2xx"))
    assert requests >= len(CASE_OPERATIONS) + 1  # the operations and the directory query
    assert value(api_after, "complaintdesk_http_requests_total", route="/metrics", method="GET", status="2xx") >= 1
    # the collector's pauses, timed from start-up (its full collection before the start-up objects are frozen)
    assert value(api_after, "complaintdesk_gc_pause_seconds_count", generation="2") >= 1
    assert value(api_after, "complaintdesk_gc_pause_seconds_sum", generation="2") > 0
    assert value(api_after, "complaintdesk_db_pool_connections", state="idle") >= 1
    assert value(api_after, "complaintdesk_db_session_slots") > 0
    assert value(api_after, "complaintdesk_postgres_connections", kind="max") > 0
    assert value(api_after, "complaintdesk_postgres_connections", kind="in_use") >= 1

    worker_after = scrape(worker.get("/metrics").text)
    assert (value(worker_after, "complaintdesk_sweep_passes_total", result="ok")
            > value(worker_before, "complaintdesk_sweep_passes_total", result="ok"))
    assert (value(worker_after, "complaintdesk_sweep_duration_seconds_count")
            > value(worker_before, "complaintdesk_sweep_duration_seconds_count"))
    assert value(worker_after, "complaintdesk_sweep_last_success_timestamp_seconds") > time.time() - 60
    assert (value(worker_after, "complaintdesk_sweep_tenants_visited_total")
            > value(worker_before, "complaintdesk_sweep_tenants_visited_total"))
    # the outbox figures, refreshed at each scrape of the API: the tenant's pending items as the database counts them
    # (other tests' items in the shared tenant, waiting for a later retry, included; read before and after)
    pending_sql = f"SELECT count(*) FROM tenant_{TENANT_A}.outbox WHERE state = 'pending'"
    low = int((await rows(pending_sql))[0][0])
    figures = scrape(api.get("/metrics").text)
    high = int((await rows(pending_sql))[0][0])
    assert ("complaintdesk_outbox_oldest_due_age_seconds", ()) in figures
    assert ("complaintdesk_outbox_pending", (("tenant", "_other"),)) in figures
    if ("complaintdesk_outbox_pending", (("tenant", TENANT_A),)) in figures:  # else folded into _other (top 10)
        assert min(low, high) <= value(figures, "complaintdesk_outbox_pending", tenant=TENANT_A) <= max(low, high)
    assert value(figures, "complaintdesk_sweep_wakeups_due", source="outbox") >= 0


async def test_metrics_count_refusals_and_request_errors_by_outcome(
        servers: dict[str, str], tenants: Any, served: Any) -> None:
    api = served(servers["database_url"], servers["redis_url"])
    before = scrape(api.get("/metrics").text)
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
        gql = GraphQLClient(http)
        # a refusal: a step on a complaint id that does not exist is a userError
        missing = "Q29tcGxhaW50OjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="
        response = await gql.post("mutation ($i: StartInvestigationInput!) { startInvestigation(input: $i) "
                                  "{ userErrors { code } } }", {"i": {"complaintId": missing}},
                                  tenant=TENANT_A, user=INVESTIGATOR)
        assert response.json()["data"]["startInvestigation"]["userErrors"][0]["code"] == "NOT_FOUND"
        # a request error: a field the schema does not have (the label stays bounded: "(none)")
        response = await gql.post("query { noSuchField }", tenant=TENANT_A, user=INVESTIGATOR)
        assert "data" not in response.json()
    after = scrape(api.get("/metrics").text)

    def moved(**labels: str) -> float:
        return (value(after, "complaintdesk_graphql_operations_total", **labels)
                - value(before, "complaintdesk_graphql_operations_total", **labels))

    assert moved(type="mutation", operation="startInvestigation", outcome="user_error") == 1
    assert moved(type="unknown", operation="(none)", outcome="request_error") == 1
    assert not [labels for name, labels in after if name == "complaintdesk_graphql_operations_total"
                and dict(labels)["operation"] == "noSuchField"]


def test_worker_health_endpoint(servers: dict[str, str], tenants: Any, worker_proc: Any) -> None:
    worker = worker_proc()
    live = worker.get("/livez")
    assert live.status_code == 200
    assert live.json()["sweep"] == "ok" and live.json()["worker_threads"] == 1
    ready = worker.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready",
                                                       "checks": {"redis": "ok", "postgres": "ok"}})
    assert worker.get("/nothing").status_code == 404
    # bound to loopback by default: the port is not open on another address of the machine
    assert "health endpoint on 127.0.0.1:" in worker.output()


def test_worker_readiness_fails_while_redis_is_unreachable(
        servers: dict[str, str], tenants: Any, worker_proc: Any) -> None:
    worker = worker_proc(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    ready = worker.get("/readyz")
    assert (ready.status_code, ready.json()) == (503, {"status": "unavailable",
                                                       "checks": {"redis": "unreachable", "postgres": "ok"}})
    assert worker.get("/livez").status_code == 200  # alive: restarting it would not bring Redis back


def test_a_url_file_that_cannot_be_read_stops_the_command(tmp_path: Path) -> None:
    result = run_cli("tenant", "list", env={"DATABASE_URL": "", "DATABASE_URL_FILE": str(tmp_path / "missing")})
    assert result.returncode != 0
    assert "DATABASE_URL_FILE: cannot read" in result.stderr + result.stdout


async def test_logs_are_json_lines_with_ids_and_no_personal_data(
        servers: dict[str, str], tenants: Any, served: Any, worker_proc: Any) -> None:
    import asyncio

    api = served(servers["database_url"], servers["redis_url"], COMPLAINTDESK_LOG_FORMAT="json",
                 COMPLAINTDESK_LOG_LEVEL="DEBUG")
    worker = worker_proc(COMPLAINTDESK_LOG_FORMAT="json", COMPLAINTDESK_LOG_LEVEL="DEBUG")
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
        written = await full_case(GraphQLClient(http), TENANT_A, uuid.uuid4().hex[:12])
    deadline = time.monotonic() + 60
    while await pending_outbox(TENANT_A, written["number"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    api_log, worker_log = api.output(), worker.output()
    for field, text in written.items():
        if field == "number":
            continue
        for where, log in (("api", api_log), ("worker", worker_log)):
            assert text not in log, (field, where)
            assert json.dumps(text) not in log, (field, where)  # nor JSON-escaped
    api_entries = _json_lines(api_log)
    _json_lines(worker_log)
    access = [e for e in api_entries if e["logger"] == "complaintdesk.access" and e["tenant"] == TENANT_A]
    operations = [e["operation"] for e in access]
    for operation in CASE_OPERATIONS:
        assert operation in operations, operation
    users = await rows(f"SELECT email, id FROM tenant_{TENANT_A}.users")
    ids = {email: str(user_id) for email, user_id in users}
    record_line = next(e for e in access if e["operation"] == "recordComplaint")
    assert record_line["user_id"] == ids[RECEIVER]
    assert len(record_line["request_id"]) == 32 and record_line["request_id"] != "-"
    assert record_line["level"] == "INFO" and record_line["message"].startswith("mutation recordComplaint: ok")
    # start-up noise: no Casbin model dump, whatever the level asked for below WARNING
    assert not [e for e in api_entries if e["logger"].startswith("casbin") and e["level"] == "INFO"]


def test_migrate_says_up_to_date_when_nothing_migrated(tenants: Any) -> None:
    result = run_cli("migrate")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("platform schema: up to date (p"), lines[0]
    assert "upgrading" not in result.stdout
    assert f"{TENANT_A}: up to date (" in result.stdout


def _json_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)  # every line is one JSON object
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


@pytest.fixture
def otlp() -> Iterator[Any]:
    from otlp_receiver import OtlpReceiver

    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


def _ancestors(span: Any, by_id: dict[str, Any]) -> list[Any]:
    chain = []
    while span.parent_span_id and span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


async def test_a_trace_runs_from_http_through_graphql_and_sql_to_the_workers_dispatch(
        servers: dict[str, str], tenants: Any, served: Any, worker_proc: Any, otlp: Any) -> None:
    import asyncio

    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    api = served(servers["database_url"], servers["redis_url"], **otel)
    worker_proc(**otel)
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
        gql = GraphQLClient(http)
        units, _ = await directory(gql, TENANT_A)
        c = await record(gql, TENANT_A)
        await ok(gql, "startInvestigation", TENANT_A, INVESTIGATOR, complaintId=c["id"])
        await ok(gql, "submitInvestigation", TENANT_A, INVESTIGATOR, complaintId=c["id"], valid=True,
                 findings="Confirmed", cause="QUALITY")
        # a hand-off: the department's users are notified through the outbox, delivered by the worker's sweep
        await ok(gql, "assignResponsibleDepartment", TENANT_A, DESK, complaintId=c["id"], departmentId=units["PROD"])
    # the hand-offs' items (the customer's acknowledgement, and any task its failed delivery gave the owner, are
    # written elsewhere: the first by recordComplaint, the second by the worker)
    handoffs = await rows(f"SELECT id, trace_context FROM tenant_{TENANT_A}.outbox WHERE complaint_id = :c "
                          "AND idempotency_key LIKE 'handoff:%'",
                          c=uuid.UUID(__import__("base64").b64decode(c["id"]).decode().split(":", 1)[1]))
    assert handoffs and all(r.trace_context and r.trace_context.startswith("00-") for r in handoffs)

    def spans_named(prefix: str) -> list[Any]:
        return [s for s in otlp.snapshot() if s.name.startswith(prefix)]

    def complete() -> bool:
        """Both processes export in batches: wait for the operations' spans and the worker's dispatch spans."""
        assigned = spans_named("graphql.mutation assignResponsibleDepartment")
        recorded = spans_named("graphql.mutation recordComplaint")
        return bool(recorded and assigned and len(
            [s for s in spans_named("outbox.dispatch") if s.trace_id == assigned[0].trace_id]) >= len(handoffs)
            and [s for s in spans_named("outbox.dispatch") if s.trace_id == recorded[0].trace_id])

    deadline = time.monotonic() + 60
    while not complete():
        assert time.monotonic() < deadline, sorted({s.name for s in otlp.snapshot()})
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # the SQL spans of the same requests, exported in the same or the next batch
    spans = otlp.snapshot()
    by_id = {s.span_id: s for s in spans}

    # recordComplaint: the HTTP request's span -> the operation's -> its SQL statements, one trace, in the api
    operation = spans_named("graphql.mutation recordComplaint")[0]
    assert operation.service == "complaintdesk-api"
    root = _ancestors(operation, by_id)
    assert root and root[-1].name.startswith("POST") and root[-1].parent_span_id == ""
    sql = [s for s in spans if s.trace_id == operation.trace_id and operation in _ancestors(s, by_id)
           and s.attributes.get("db.system") == "postgresql"]
    assert any(s.name.startswith("INSERT") for s in sql), [
        (s.name, s.service, by_id.get(s.parent_span_id, s).name, s.attributes.get("db.system"))
        for s in spans if s.trace_id == operation.trace_id][:30]

    # recordComplaint's trace reaches the worker too: the acknowledgement to the customer (an outbox message)
    acknowledged = [s for s in spans_named("outbox.dispatch") if s.trace_id == operation.trace_id]
    assert acknowledged and {s.service for s in acknowledged} == {"complaintdesk-worker"}  # retries: more than one
    assert {s.attributes["complaintdesk.outbox.kind"] for s in acknowledged} == {"message"}
    assert all(operation in _ancestors(s, by_id) for s in acknowledged)

    # the hand-off's trace reaches the worker: its dispatch span's parent is the api's span that wrote the row
    assigned = spans_named("graphql.mutation assignResponsibleDepartment")[0]
    dispatched = [s for s in spans_named("outbox.dispatch") if s.trace_id == assigned.trace_id]
    assert len(dispatched) == len(handoffs)
    for span in dispatched:
        assert span.service == "complaintdesk-worker"
        assert span.attributes["complaintdesk.outbox.id"] in {str(r.id) for r in handoffs}
        assert assigned in _ancestors(span, by_id)  # worker -> SQL/operation span of the api -> HTTP


async def test_metrics_in_multiprocess_mode(servers: dict[str, str], tenants: Any, served: Any,
                                            tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR set (several API processes behind one port): the counters go to files there and
    /metrics adds up every process's."""
    folder = tmp_path / "prom"
    folder.mkdir()
    api = served(servers["database_url"], servers["redis_url"], PROMETHEUS_MULTIPROC_DIR=str(folder))
    async with httpx.AsyncClient(base_url=api.base, timeout=30) as http:
        await directory(GraphQLClient(http), TENANT_A)
    samples = scrape(api.get("/metrics").text)
    assert value(samples, "complaintdesk_graphql_operations_total", type="query", operation="(multiple)",
                 outcome="ok") == 1  # orgUnits and users: two root fields
    assert value(samples, "complaintdesk_db_session_slots") > 0
    assert any(p.name.startswith("counter_") for p in folder.iterdir())


def test_a_message_is_processed_in_the_senders_trace_and_counted(
        servers: dict[str, str], tenants: Any, worker_proc: Any, otlp: Any) -> None:
    """A Dramatiq message carrying a trace context (the ``trace`` option the tracing middleware writes on enqueue)
    is processed in a span of that trace; the message is counted by actor and result."""
    from dramatiq import Message

    from services.worker.broker import get_broker

    worker = worker_proc(OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY="200",
                         COMPLAINTDESK_QUEUE_NAMESPACE=os.environ["COMPLAINTDESK_QUEUE_NAMESPACE"])
    before = scrape(worker.get("/metrics").text)
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    get_broker().enqueue(Message(queue_name="default", actor_name="sweep", args=(), kwargs={},
                                 options={"trace": {"traceparent": f"00-{trace_id}-{span_id}-01"}}))
    wait_for(lambda: [s for s in otlp.snapshot() if s.name == "dramatiq sweep"], what="the message's span")
    span = next(s for s in otlp.snapshot() if s.name == "dramatiq sweep")
    assert (span.service, span.trace_id, span.parent_span_id) == ("complaintdesk-worker", trace_id, span_id)
    wait_for(lambda: value(scrape(worker.get("/metrics").text), "complaintdesk_worker_messages_total",
                           actor="sweep", result="ok")
             == value(before, "complaintdesk_worker_messages_total", actor="sweep", result="ok") + 1,
             what="the message counted")
