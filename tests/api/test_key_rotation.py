"""Key rotation: master key (re-wrap), data key (re-encrypt in batches while the API writes), through the
operator API, the CLI and a real worker; the tenant next door is never touched."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api.auth.authkit import bearer
from api.test_encryption import _full_case, _secrets
from conftest import DEFAULT_USER, TENANT_A, TENANT_B, GraphQLClient, add_staff
from helpers import ROOT, drain, execute, rows, run_cli, scalar
from lifecycle import RECORD, complaint_input

from services.core.tenancy import TENANT_CACHE_TTL_S
from services.worker.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("tenants")

ROTATE = """mutation ($input: RotateKeysInput!) { rotateKeys(input: $input) {
  rotation { id tenant state fromVersion toVersion rowsTotal rowsDone progress finishedAt }
  rewrappedKeys userErrors { field message code } } }"""
ROTATION = "query ($id: ID!) { keyRotation(id: $id) { id state rowsTotal rowsDone progress toVersion } }"
PAGE = """query ($after: String) { complaints(first: 100, after: $after) {
  pageInfo { hasNextPage endCursor }
  edges { node { id description resolution complainant { name phone erased }
    investigation { findings } handlingForm { solution customerReply } evidence { filename note } } } } }"""
SEALED = {  # table -> tenant-keyed columns (what a data-key rotation re-encrypts)
    "complaints": ["description", "resolution"], "complainants": ["subject_key"], "investigations": ["findings"],
    "evidence": ["filename", "content", "note"], "transfer_slips": ["instructions"],
    "handling_forms": ["cause_analysis", "solution", "customer_reply", "decision_note"],
    "customer_opinions": ["comment"], "satisfaction_surveys": ["comment"], "customer_messages": ["body"],
    "audit_events": ["note"],
}


def operator_token() -> str:
    from services.core.auth.tokens import issue_operator_token
    from services.core.clock import system_clock

    return issue_operator_token(name=_operator(), now=system_clock.now()).token


_OPERATOR: list[str] = []


def _operator() -> str:
    return _OPERATOR[0]


@pytest.fixture(scope="module", autouse=True)
async def _an_operator(tenants: tuple[str, str]) -> None:
    from services.core.auth.operators import create_operator

    name = f"keys-{uuid.uuid4().hex[:8]}"
    await create_operator(name, "operator passphrase for keys")
    _OPERATOR[:] = [name]


async def versions(slug: str) -> dict[int, int]:
    """How many tenant-keyed ciphertexts of ``slug`` are under each data-key version."""
    counts: dict[int, int] = {}
    for table, columns in SEALED.items():
        for column in columns:
            for version, n in await rows(
                f'SELECT substring("{column}" from 2 for 4), count(*) FROM "tenant_{slug.replace("-", "_")}"."{table}" '
                f'WHERE "{column}" IS NOT NULL AND get_byte("{column}", 0) = 1 GROUP BY 1'
            ):
                key = int.from_bytes(version, "big")
                counts[key] = counts.get(key, 0) + n
    return counts


async def data_keys(slug: str) -> list[tuple[int, str, bool]]:
    return [(r.version, r.state, r.wrapped is not None) for r in await rows(
        "SELECT version, state, wrapped FROM public.tenant_keys WHERE tenant_slug = :s AND purpose = 'data' "
        "ORDER BY version", s=slug)]


async def read_everything(gql: GraphQLClient, tenant: str, user: str = DEFAULT_USER) -> list[dict[str, Any]]:
    """Every complaint of the tenant with its sealed fields, page by page (fails on any error)."""
    out, after = [], None
    while True:
        page = (await gql(PAGE, {"after": after}, tenant=tenant, user=user))["complaints"]
        out += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return out
        after = page["pageInfo"]["endCursor"]


async def _record(gql: GraphQLClient, tenant: str, tag: str) -> str:
    data = await gql(RECORD, {"input": complaint_input(description=f"written during rotation {tag}",
                                                       complainant={"name": f"Writer {tag}"})}, tenant=tenant)
    assert data["recordComplaint"]["userErrors"] == []
    return str(data["recordComplaint"]["complaint"]["id"])


async def test_data_key_rotation_while_the_api_writes(gql: GraphQLClient) -> None:
    from services.core.crypto import keys
    from services.core.crypto.rotation import run_data_rotation

    for _ in range(3):
        await _full_case(gql, TENANT_A, _secrets(uuid.uuid4().hex[:10]))
    for i in range(20):
        await _record(gql, TENANT_A, f"seed-{i}")
    beta_before = await versions(TENANT_B)
    before = await versions(TENANT_A)
    (active,) = [v for v, state, _ in await data_keys(TENANT_A) if state == "active"]
    assert set(before) == {active}
    stale = await keys.get_keyring(TENANT_A)  # what a process that has not reloaded yet holds

    # refusals: no operator token, a tenant that does not exist, a malformed slug, DATA without a tenant
    keys_before = await data_keys(TENANT_A)
    refused = (await gql.post(ROTATE, {"input": {"kind": "DATA", "tenant": TENANT_A}})).json()
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    token = operator_token()
    for given, code in (({"tenant": "no-such-tenant"}, "NOT_FOUND"), ({"tenant": "Bad Slug"}, "INVALID"),
                        ({}, "REQUIRED")):
        body = (await bearer(gql, token, ROTATE, {"input": {"kind": "DATA", **given}})).json()
        assert [e["code"] for e in body["data"]["rotateKeys"]["userErrors"]] == [code]
    assert await data_keys(TENANT_A) == keys_before  # refused: no key changed state

    # start it by hand (the mutation would hand it to the workers; this test runs it here, in small batches,
    # interleaved with writes through the API)
    from services.core.crypto.rotation import start_data_rotation

    rotation, created = await start_data_rotation(TENANT_A, started_by="test")
    assert created and rotation.from_version == active and rotation.to_version == active + 1
    assert rotation.state == "running" and rotation.rows_total >= sum(before.values())

    # a process with a stale cache still seals new rows under the new key (its writer locks the active key's row)
    keys._cache[TENANT_A] = stale
    stale_write = await _record(gql, TENANT_A, "stale-cache")
    stale_version = await scalar(f'SELECT substring(description from 2 for 4) FROM "tenant_{TENANT_A}".complaints '
                                 f'WHERE id = :id', id=uuid.UUID(base64.b64decode(stale_write).decode().split(":")[1]))
    assert int.from_bytes(stale_version, "big") == active + 1

    progress: list[int] = []
    written: list[str] = []

    async def writer() -> None:
        for i in range(25):
            written.append(await _record(gql, TENANT_A, f"during-{i}"))
            await asyncio.sleep(0)

    async def rotate() -> None:
        await run_data_rotation(rotation.id, batch=7, on_progress=lambda info: progress.append(info.rows_done))

    await asyncio.gather(writer(), rotate())
    assert len(progress) > 5 and progress == sorted(progress)
    after = await versions(TENANT_A)
    assert set(after) == {active + 1}, after  # every ciphertext under the new key ...
    assert sum(after.values()) >= sum(before.values()) + 25
    assert (active, "retired", False) in await data_keys(TENANT_A)  # ... and the old key destroyed
    states = {s for _, s, _ in await data_keys(TENANT_A)}
    assert states == {"retired", "active", "next"}
    keys.forget_keyring()
    everything = await read_everything(gql, TENANT_A)  # every row readable
    ids = {c["id"] for c in everything}
    assert set(written) <= ids and stale_write in ids
    assert all(c["description"] for c in everything)
    assert await versions(TENANT_B) == beta_before  # the other tenant untouched
    body = (await bearer(gql, token, ROTATION, {"id": str(rotation.id)})).json()["data"]["keyRotation"]
    assert body["state"] == "done" and body["progress"] == 1.0 and body["rowsDone"] == body["rowsTotal"]


async def test_rotate_keys_through_the_workers(gql: GraphQLClient, tenants: Any) -> None:
    token = operator_token()
    await _record(gql, TENANT_B, "before-worker-rotation")
    before = await versions(TENANT_B)
    alpha = await versions(TENANT_A)
    time.sleep(1.1)  # the next key must be older than the key cache period (1 s in the tests)
    started = (await bearer(gql, token, ROTATE, {"input": {"kind": "DATA", "tenant": TENANT_B}})).json()
    payload = started["data"]["rotateKeys"]
    assert payload["userErrors"] == [] and payload["rotation"]["tenant"] == TENANT_B
    target = payload["rotation"]["toVersion"]
    # no worker has taken it yet, so it is still running: asking again resumes the same one, no second rotation
    again = (await bearer(gql, token, ROTATE, {"input": {"kind": "DATA", "tenant": TENANT_B}})).json()
    assert again["data"]["rotateKeys"]["userErrors"] == []
    assert again["data"]["rotateKeys"]["rotation"]["id"] == payload["rotation"]["id"]
    assert await scalar("SELECT count(*) FROM public.key_rotations WHERE tenant_slug = :s AND state = 'running'",
                        s=TENANT_B) == 1
    worker = WorkerProcess(threads=2)  # the workers start now
    worker.start()
    try:
        drain()
        deadline = time.monotonic() + 30
        while True:
            state = (await bearer(gql, token, ROTATION, {"id": payload["rotation"]["id"]})).json()["data"][
                "keyRotation"]
            if state["state"] == "done" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        worker.stop()
    assert state["state"] == "done" and state["rowsDone"] == state["rowsTotal"] == payload["rotation"]["rowsTotal"]
    assert await versions(TENANT_B) == {target: sum(before.values())}
    assert await versions(TENANT_A) == alpha
    assert len(await read_everything(gql, TENANT_B)) >= 1
    listed = (await bearer(gql, token, f'query {{ keyRotations(tenant: "{TENANT_B}") {{ id state }} }}')).json()
    assert listed["data"]["keyRotations"][0] == {"id": payload["rotation"]["id"], "state": "done"}


async def test_master_key_rotation_rewraps_without_touching_data(gql: GraphQLClient) -> None:
    from services.core.crypto import keys, master

    token = operator_token()
    old = os.environ[master.ENV_KEY]
    new = master.generate_master_key()
    wrapped_before = {r.id: r.wrapped for r in await rows("SELECT id, wrapped FROM public.tenant_keys "
                                                          "WHERE wrapped IS NOT NULL")}
    data_before = await rows(f'SELECT id, description FROM "tenant_{TENANT_A}".complaints ORDER BY id')
    os.environ[master.ENV_KEY] = new
    os.environ[master.ENV_PREVIOUS] = old
    master.reset_master_keys()
    try:
        body = (await bearer(gql, token, ROTATE, {"input": {"kind": "MASTER"}})).json()["data"]["rotateKeys"]
        assert body["userErrors"] == [] and body["rewrappedKeys"] == len(wrapped_before)
        after = {r.id: (r.wrapped, r.master_key_id) for r in await rows(
            "SELECT id, wrapped, master_key_id FROM public.tenant_keys WHERE wrapped IS NOT NULL")}
        assert set(after) == set(wrapped_before)
        assert all(after[k][0] != wrapped_before[k] for k in after)
        assert {m for _, m in after.values()} == {master.key_id_of(base64.b64decode(new))}
        assert await rows(f'SELECT id, description FROM "tenant_{TENANT_A}".complaints ORDER BY id') == data_before
        # the previous key can go now; everything still opens
        del os.environ[master.ENV_PREVIOUS]
        master.reset_master_keys()
        keys.forget_keyring()
        assert len(await read_everything(gql, TENANT_A)) == len(data_before)
        rewrapped = run_cli("keys", "rotate-master").stdout.strip()
        assert rewrapped == "0 tenant key(s) re-wrapped under the current master key"
        # and a process started with the old key alone refuses to start, saying why
        refused = run_cli("serve", "--port", "9", env={master.ENV_KEY: old}, timeout=60)
        assert refused.returncode == 1
        assert "does not match the stored tenant keys" in refused.stderr
        assert master.key_id_of(base64.b64decode(new)) in refused.stderr and old not in refused.stderr
        missing = run_cli("worker", env={master.ENV_KEY: ""}, timeout=60)
        assert missing.returncode == 1 and "no master key" in missing.stderr
        malformed = run_cli("migrate", env={master.ENV_KEY: "not a key"}, timeout=60)
        assert malformed.returncode == 1 and "32 random bytes in base64" in malformed.stderr
    except BaseException:
        os.environ[master.ENV_KEY] = new
        raise
    finally:
        master.reset_master_keys()
        keys.forget_keyring()


# ---------------------------------------------------------------- CLI: a rotation killed mid-way, tenant deletion


@pytest.fixture
def fresh_tenant() -> Iterator[str]:
    slug = f"rot-{uuid.uuid4().hex[:6]}"
    created = run_cli("tenant", "create", slug, "--template", "bank")
    assert created.returncode == 0, created.stderr
    yield slug


async def _seed(slug: str, n: int) -> None:
    from services.core.audit.service import Actor
    from services.core.clock import system_clock
    from services.core.complaints.models import Channel, Scope
    from services.core.complaints.service import ComplainantInput, ComplaintInput, record_complaint
    from services.core.org.models import User
    from services.core.tenancy import resolve_tenant, tenant_session

    await add_staff(slug)
    ref = await resolve_tenant(slug)
    async with tenant_session(ref) as session, session.begin():
        from sqlalchemy import select

        owner = (await session.scalars(select(User.id).where(User.email == DEFAULT_USER))).one()
        for i in range(n):
            await record_complaint(session, actor=Actor(user_id=owner, label=DEFAULT_USER), now=system_clock.now(),
                                   data=ComplaintInput(
                                       complainant=ComplainantInput(name=f"Seed {i}", phone="13800138000"),
                                       title=f"Seeded {i}", description=f"seeded description {i}",
                                       channel=Channel.PHONE, scope=Scope.DOMESTIC))


async def test_a_rotation_killed_mid_way_resumes_where_it_stopped(gql: GraphQLClient, fresh_tenant: str) -> None:
    slug = fresh_tenant
    await _seed(slug, 300)
    before = await versions(slug)
    total = sum(before.values())
    time.sleep(1.1)
    exe = Path(sys.executable).with_name("complaintdesk")
    with subprocess.Popen([str(exe), "keys", "rotate", "--tenant", slug, "--batch", "1"], cwd=ROOT,
                          env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("started rotation "), first
            for _ in range(20):  # progress lines, one a second, until rows under the new key are committed
                progress = proc.stdout.readline()
                assert " rows (" in progress and "running" in progress, progress
                if 2 in await versions(slug):
                    break
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    (state,) = await rows("SELECT state, rows_done, rows_total FROM public.key_rotations WHERE tenant_slug = :s",
                          s=slug)
    assert state.state == "running" and 0 < state.rows_done < state.rows_total
    mixed = await versions(slug)
    assert set(mixed) == {1, 2} and sum(mixed.values()) == total  # half way: both keys in use, nothing lost
    status = run_cli("keys", "status", "--tenant", slug)
    assert status.returncode == 0 and f"tenant {slug}: running, v1 -> v2" in status.stdout

    resumed = run_cli("keys", "rotate", "--tenant", slug)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("resuming rotation ") and "done, v1 -> v2" in resumed.stdout
    assert await versions(slug) == {2: total}
    assert await data_keys(slug) == [(1, "retired", False), (2, "active", True), (3, "next", True)]
    everything = await read_everything(gql, slug)
    assert sorted(c["description"] for c in everything) == sorted(f"seeded description {i}" for i in range(300))

    # deleting the tenant: refused while active (nothing changes), then schema and keys are gone
    refused = run_cli("tenant", "delete", slug, "--yes")
    assert refused.returncode == 1 and "suspend tenant" in refused.stderr and "TENANT_NOT_SUSPENDED" in refused.stderr
    assert len(await data_keys(slug)) == 3
    assert run_cli("tenant", "suspend", slug).returncode == 0
    deleted = run_cli("tenant", "delete", slug, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == f"tenant {slug} deleted; 4 key(s) destroyed"
    assert await rows("SELECT * FROM public.tenant_keys WHERE tenant_slug = :s", s=slug) == []
    schema = f"tenant_{slug.replace('-', '_')}"
    assert await scalar("SELECT count(*) FROM pg_namespace WHERE nspname = :n", n=schema) == 0
    assert await scalar("SELECT count(*) FROM public.tenants WHERE slug = :s", s=slug) == 0
    # the CLI is another process: this one may serve the tenant from its registry cache for TENANT_CACHE_TTL_S
    await asyncio.sleep(TENANT_CACHE_TTL_S)
    assert (await gql.post("{ me { id } }", tenant=slug, user=None)).json()["errors"][0]["extensions"]["code"] == (
        "TENANT_NOT_FOUND")


async def test_a_value_that_does_not_decrypt_stops_the_rotation_and_keeps_the_old_key(
    gql: GraphQLClient, fresh_tenant: str
) -> None:
    slug = fresh_tenant
    schema = f"tenant_{slug.replace('-', '_')}"
    await _seed(slug, 3)
    first, second, _ = await rows(f'SELECT id, description FROM "{schema}".complaints ORDER BY id')
    # tampering: one complaint's description copied onto another (its associated data no longer matches)
    await execute(f'UPDATE "{schema}".complaints SET description = :d WHERE id = :id', d=first.description,
                  id=second.id)
    time.sleep(1.1)
    stopped = run_cli("keys", "rotate", "--tenant", slug)
    assert stopped.returncode == 1
    assert "failed, v1 -> v2" in stopped.stdout and f"complaints|description|{second.id}" in stopped.stdout
    assert "the old key is kept" in stopped.stdout
    assert "seeded description" not in stopped.stdout + stopped.stderr
    assert await data_keys(slug) == [(1, "retiring", True), (2, "active", True), (3, "next", True)]
    token = operator_token()
    listed = (await bearer(gql, token, f'query {{ keyRotations(tenant: "{slug}") {{ state error }} }}')).json()
    assert listed["data"]["keyRotations"][0]["state"] == "failed"
    assert "does not decrypt" in listed["data"]["keyRotations"][0]["error"]
    # repaired (here: the right ciphertext put back), the same command resumes and finishes
    await execute(f'UPDATE "{schema}".complaints SET description = :d WHERE id = :id', d=second.description,
                  id=second.id)
    resumed = run_cli("keys", "rotate", "--tenant", slug)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.startswith("resuming rotation ") and "done, v1 -> v2" in resumed.stdout
    assert await data_keys(slug) == [(1, "retired", False), (2, "active", True), (3, "next", True)]
    assert sorted(c["description"] for c in await read_everything(gql, slug)) == [
        f"seeded description {i}" for i in range(3)]
