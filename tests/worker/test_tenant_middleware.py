"""Messages carry their tenant; the worker binds it, or refuses the message."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from conftest import TENANT_A, TENANT_B, GraphQLClient
from dramatiq.brokers.redis import RedisBroker
from helpers import drain, scalar

from services.core.config import get_settings
from services.core.tenancy import TenantRequired, TenantStatus
from tenants.provision import create_tenant, set_status

REQUEST = "mutation { requestWorkerCheck(input: {}) { workerCheck { id processed } userErrors { code } } }"
CHECK = "query ($id: ID!) { workerCheck(id: $id) { id processed processedAt } }"


async def _processed_in(schema: str, check_id: str) -> Any:
    return await scalar(f'SELECT processed_in_schema FROM "{schema}".worker_checks WHERE id = :i', i=check_id)


async def test_message_from_a_request_runs_in_that_tenant(gql: GraphQLClient, worker: Any) -> None:
    data = await gql(REQUEST, tenant=TENANT_A)
    check_id = data["requestWorkerCheck"]["workerCheck"]["id"]
    assert data["requestWorkerCheck"]["workerCheck"]["processed"] is False
    drain()
    assert (await gql(CHECK, {"id": check_id}, tenant=TENANT_A))["workerCheck"]["processed"] is True
    # it ran with tenant A's schema bound, and tenant B knows nothing of it
    assert await _processed_in("tenant_alpha", check_id) == "tenant_alpha"
    assert (await gql(CHECK, {"id": check_id}, tenant=TENANT_B))["workerCheck"] is None
    assert await scalar("SELECT count(*) FROM tenant_beta.worker_checks WHERE id = :i", i=check_id) == 0


async def test_both_tenants_interleaved(gql: GraphQLClient, worker: Any) -> None:
    sent = []
    for i in range(10):
        tenant = TENANT_A if i % 2 else TENANT_B
        data = await gql(REQUEST, tenant=tenant)
        sent.append((tenant, data["requestWorkerCheck"]["workerCheck"]["id"]))
    drain()
    for tenant, check_id in sent:
        schema = f"tenant_{tenant}"
        assert await _processed_in(schema, check_id) == schema


def test_sending_without_a_tenant_is_refused(tenants: Any) -> None:
    from services.worker.actors.diagnostics import run_worker_check

    with pytest.raises(TenantRequired):
        run_worker_check.send(str(uuid.uuid4()))


def _foreign_broker() -> RedisBroker:
    """A producer without our middleware (another service, an old release): it stamps nothing."""
    settings = get_settings()
    broker = RedisBroker(url=settings.redis_url, namespace=settings.queue_namespace, middleware=[])

    @dramatiq.actor(broker=broker, actor_name="run_worker_check", queue_name="default")
    def run_worker_check(check_id: str) -> None:  # pragma: no cover - never runs here
        raise AssertionError

    return broker


SUSPENDED = "<a suspended tenant>"


def _dead_letters(broker: RedisBroker) -> int:
    return int(broker.client.zcard(f"{broker.namespace}:default.XQ"))


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({}, "TENANT_REQUIRED"),
        ({"tenant": None}, "TENANT_REQUIRED"),
        ({"tenant": "../public"}, "TENANT_INVALID"),
        ({"tenant": "nowhere-co"}, "TENANT_NOT_FOUND"),
        ({"tenant": SUSPENDED}, "TENANT_SUSPENDED"),
    ],
)
async def test_worker_refuses_messages_without_a_valid_tenant(
    gql: GraphQLClient, worker: Any, caplog: pytest.LogCaptureFixture, options: dict[str, Any], code: str,
    own_slug: Callable[[str], str],
) -> None:
    if options.get("tenant") == SUSPENDED:  # a tenant of this test's own, suspended (dropped when the test ends)
        options = {"tenant": own_slug("frozen")}
        await create_tenant(options["tenant"])
        await set_status(options["tenant"], TenantStatus.SUSPENDED)
    # a real pending check in tenant A: a refused message must not touch it (or any default schema)
    check_id = (await gql(REQUEST, tenant=TENANT_A))["requestWorkerCheck"]["workerCheck"]["id"]
    drain()
    await _reset_check(check_id)
    foreign = _foreign_broker()
    dead_before = _dead_letters(foreign)
    caplog.set_level(logging.WARNING, logger="complaintdesk.worker.tenant")
    message = dramatiq.Message(
        queue_name="default", actor_name="run_worker_check", args=(check_id,), kwargs={}, options=dict(options)
    )
    foreign.enqueue(message)
    deadline = time.monotonic() + 15
    while _dead_letters(foreign) == dead_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead_letters(foreign) == dead_before + 1, "the refused message was not dead-lettered"
    assert await scalar("SELECT processed_at FROM tenant_alpha.worker_checks WHERE id = :i", i=check_id) is None
    refused = [r.getMessage() for r in caplog.records if r.name == "complaintdesk.worker.tenant"]
    assert any(message.message_id in line and code in line for line in refused), refused
    foreign.client.connection_pool.disconnect()


async def _reset_check(check_id: str) -> None:
    from helpers import raw
    from sqlalchemy import text

    async with raw() as conn:
        await conn.execute(
            text("UPDATE tenant_alpha.worker_checks SET processed_at = NULL, processed_in_schema = NULL "
                 "WHERE id = :i"), {"i": check_id}
        )
        await conn.commit()
