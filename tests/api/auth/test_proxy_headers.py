"""Whose address the sign-in throttle counts, on a real `complaintdesk serve` (issue 13, point 4).

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, so a client on the same host could name any
address and never be throttled. `serve` runs uvicorn without it; the app believes forwarded headers only from
``COMPLAINTDESK_TRUSTED_PROXIES`` (empty by default). Throttled answers say when to try again (``Retry-After``),
and the throttle's Redis keys hold a keyed hash of the address, never the address.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from api.auth.authkit import LOGIN
from conftest import TENANT_A
from helpers import ROOT

from services.core.ratelimit import digest

pytestmark = pytest.mark.usefixtures("tenants")

PER_CLIENT = 3  # COMPLAINTDESK_LIMIT_LOGIN_CLIENT for these servers: the fourth failure is refused
FORWARDED = [f"203.0.113.{i}" for i in range(1, PER_CLIENT + 3)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[tuple[int, str]]:
    """`complaintdesk serve` on 127.0.0.1 with a queue namespace of its own; yields (port, namespace)."""
    port, namespace = _free_port(), f"cdproxy-{uuid.uuid4().hex[:8]}"
    full = {**os.environ, "COMPLAINTDESK_QUEUE_NAMESPACE": namespace,
            "COMPLAINTDESK_LIMIT_LOGIN_CLIENT": f"{PER_CLIENT}/600", **env}
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("complaintdesk")), "serve", "--port", str(port)],
                                cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        yield port, namespace
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        client.close()


def _login(port: int, email: str, forwarded_for: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/graphql", timeout=10.0,
                      json={"query": LOGIN, "variables": {"input": {"tenant": TENANT_A, "email": email,
                                                                    "password": "wrong password!"}}},
                      headers={"x-forwarded-for": forwarded_for})


def _codes(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["login"]
    return [e["code"] for e in payload["userErrors"]]


def _keys(namespace: str) -> list[str]:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        return sorted(k.decode() for k in client.scan_iter(f"{namespace}:*"))
    finally:
        client.close()


def _guesses(port: int, forwarded: list[str]) -> list[httpx.Response]:
    """One wrong sign-in per address, each on an account of its own (no account reaches its own limit)."""
    return [_login(port, f"guess-{uuid.uuid4().hex[:8]}@test.example", address) for address in forwarded]


def _no_address_in(keys: list[str]) -> None:
    assert keys
    for key in keys:
        for address in ("127.0.0.1", *FORWARDED):
            assert address not in key, key
        assert "@" not in key, key


def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    with serve(tmp_path, COMPLAINTDESK_TRUSTED_PROXIES="") as (port, namespace):
        answers = _guesses(port, FORWARDED[:PER_CLIENT + 1])
        # whatever address each request claims, they all come from 127.0.0.1: the fourth is throttled
        assert [_codes(a) for a in answers] == [["INVALID_CREDENTIALS"]] * PER_CLIENT + [["RATE_LIMITED"]]
        assert "retry-after" not in answers[0].headers
        assert 0 < int(answers[-1].headers["retry-after"]) <= 600
        keys = _keys(namespace)
    _no_address_in(keys)
    assert f"{namespace}:login:staff:{TENANT_A}:client:{digest('127.0.0.1')}" in keys
    assert not any(digest(address) in key for address in FORWARDED for key in keys)


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    with serve(tmp_path, COMPLAINTDESK_TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8") as (port, namespace):
        # one guess from each of more addresses than the budget: each address is counted apart
        assert [_codes(a) for a in _guesses(port, FORWARDED)] == [["INVALID_CREDENTIALS"]] * len(FORWARDED)
        # the same forwarded address again and again is throttled like a direct client
        again = _guesses(port, [FORWARDED[0]] * PER_CLIENT)
        assert [_codes(a) for a in again] == [["INVALID_CREDENTIALS"]] * (PER_CLIENT - 1) + [["RATE_LIMITED"]]
        assert int(again[-1].headers["retry-after"]) > 0
        keys = _keys(namespace)
    _no_address_in(keys)
    client_keys = {k for k in keys if ":client:" in k}
    assert client_keys == {f"{namespace}:login:staff:{TENANT_A}:client:{digest(a)}" for a in FORWARDED}


def test_malformed_trusted_proxies_stop_serve() -> None:
    from helpers import run_cli

    refused = run_cli("serve", "--port", str(_free_port()), env={"COMPLAINTDESK_TRUSTED_PROXIES": "127.0.0.1, proxy"})
    assert refused.returncode == 1
    assert "COMPLAINTDESK_TRUSTED_PROXIES: 'proxy' is not an IP address or network" in refused.stderr
