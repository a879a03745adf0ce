"""The audit hash chain: verified through GraphQL and the CLI; tampering is found at the first broken event."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import GraphQLClient, add_staff
from helpers import raw, rows, run_cli, scalar
from lifecycle import ok, record
from sqlalchemy import text

from tenants.provision import create_tenant


def _schema(slug: str) -> str:
    return "tenant_" + slug.replace("-", "_")


VERIFY = "{ auditVerification { ok checked firstBrokenSeq reason } }"


@pytest.fixture
async def audited(gql: GraphQLClient, own_slug: Callable[[str], str]) -> str:
    """A tenant of the test's own with six events on its chain; dropped when the test ends (it may be tampered)."""
    slug = own_slug("audited")
    await create_tenant(slug, template="retail")
    await add_staff(slug)
    for _ in range(3):
        c = await record(gql, slug)
        await ok(gql, "startInvestigation", slug, "investigator@test.example", complaintId=c["id"])
    return slug


async def test_intact_chain_verifies(gql: GraphQLClient, audited: str) -> None:
    actions = await rows(f"SELECT action FROM {_schema(audited)}.audit_events ORDER BY seq")
    assert [a.action for a in actions] == ["set_policies", *["record_complaint", "start_investigation"] * 3]
    events = len(actions)
    result = (await gql(VERIFY, tenant=audited))["auditVerification"]
    assert result == {"ok": True, "checked": events, "firstBrokenSeq": None, "reason": None}
    cli = run_cli("audit", "verify", "--tenant", audited)
    assert cli.returncode == 0, cli.stderr
    assert f"{audited}: ok ({events} events)" in cli.stdout


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        ("UPDATE {s}.audit_events SET to_status = 'CLOSED' WHERE seq = 4", 4, "event content does not match its hash"),
        ("UPDATE {s}.audit_events SET actor_label = 'someone@else' WHERE seq = 2", 2,
         "event content does not match its hash"),
        ("DELETE FROM {s}.audit_events WHERE seq = 3", 3, "event missing (sequence gap)"),
    ],
)
async def test_tampering_is_reported_at_the_first_broken_event(
    gql: GraphQLClient, audited: str, tamper: str, seq: int, reason: str
) -> None:
    schema = _schema(audited)
    async with raw() as conn:
        await conn.execute(text(tamper.format(s=schema)))
        await conn.commit()
    result = (await gql(VERIFY, tenant=audited))["auditVerification"]
    assert result == {"ok": False, "checked": seq - 1, "firstBrokenSeq": seq, "reason": reason}
    cli = run_cli("audit", "verify", "--tenant", audited)
    assert cli.returncode == 1
    assert f"{audited}: BROKEN at event {seq}: {reason}" in cli.stderr


async def test_a_rehashed_forgery_breaks_the_next_link(gql: GraphQLClient, audited: str) -> None:
    """Someone who edits an event and recomputes its hash still breaks the link from the event after it."""
    from services.core.audit.models import AuditEvent
    from services.core.audit.service import content_hash
    from services.core.tenancy import resolve_tenant, tenant_session

    async with tenant_session(await resolve_tenant(audited)) as session, session.begin():
        event = await session.get(AuditEvent, 2)
        assert event is not None
        event.actor_label = "forger@test.example"
        event.hash = content_hash(event)
    result = (await gql(VERIFY, tenant=audited))["auditVerification"]
    assert result == {"ok": False, "checked": 2, "firstBrokenSeq": 3,
                      "reason": "link to the previous event is broken"}
    assert await scalar(f"SELECT count(*) FROM {_schema(audited)}.audit_events") == 7  # edited, none removed
