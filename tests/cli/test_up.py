"""`complaintdesk up` on embedded servers: first start, data and keys kept, Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from helpers import ROOT

LOGIN = """mutation ($email: String!, $password: String!) {
  login(input: {tenant: "demo", email: $email, password: $password}) { accessToken userErrors { code } }
}"""
OPERATOR_LOGIN = """mutation ($password: String!) {
  operatorLogin(input: {name: "operator", password: $password}) { accessToken userErrors { code } }
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _processes_using(folder: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(folder) in cmdline and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(f"{proc.info['pid']}: {cmdline}")
    return found


def _start(data_dir: Path, port: int, log: object, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "COMPLAINTDESK_ENV") and not k.startswith("COMPLAINTDESK_JWT_")}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("complaintdesk")), "up", "--port", str(port),
         "--data-dir", str(data_dir), *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,  # type: ignore[arg-type]
    )


def _wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "up exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("up did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    return proc.wait(timeout=60)


def _gql(port: int, query: str, token: str | None = None, variables: dict[str, str] | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables or {}},
                          headers=headers, timeout=10.0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body


def _login(port: int, email: str, password: str) -> str:
    payload = _gql(port, LOGIN, variables={"email": email, "password": password})["data"]["login"]
    assert payload["userErrors"] == [], payload
    return str(payload["accessToken"])


def _credentials(data_dir: Path) -> dict[str, str]:
    kept: dict[str, str] = json.loads((data_dir / "demo-credentials.json").read_text(encoding="utf-8"))
    return kept


INTROSPECTION = "{ __schema { queryType { name } } }"


def _introspect(port: int) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": INTROSPECTION},
                      headers={"accept": "application/json"}, timeout=10.0)


def test_up_first_and_second_start(tmp_path: Path) -> None:
    """The first start runs in production mode (no COMPLAINTDESK_ENV, no --dev); the second with --dev."""
    data_dir = tmp_path / "data"
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        first = _start(data_dir, port, log)
        try:
            _wait_up(port, first)
            credentials = _credentials(data_dir)
            assert (data_dir / "jwt-signing-key.pem").stat().st_mode & 0o077 == 0  # the key is the owner's only
            admin = _login(port, "admin@demo.example", credentials["staff"])
            body = _gql(port, "{ me { email } users { email roles } orgUnits { code } }", admin)
            assert body["data"]["me"] == {"email": "admin@demo.example"}
            assert {"email": "receiver@demo.example", "roles": ["receiver"]} in body["data"]["users"]
            created = _gql(port, 'mutation { createOrgUnit(input: {name: "Kept Store", kind: STORE, code: "KEPT"})'
                                 " { orgUnit { code } userErrors { code } } }", admin)
            assert created["data"]["createOrgUnit"]["userErrors"] == []
            wrong = _gql(port, LOGIN, variables={"email": "receiver@demo.example", "password": "not-the-password"})
            assert wrong["data"]["login"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
            operator = _gql(port, OPERATOR_LOGIN, variables={"password": credentials["operator"]})
            assert operator["data"]["operatorLogin"]["userErrors"] == []
            refused = _introspect(port).json()  # production: no introspection, no GraphiQL page
            assert refused.get("data") is None and "introspection" in refused["errors"][0]["message"].lower()
            page = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"accept": "text/html"}, timeout=10.0)
            assert "graphiql" not in page.text.lower()
        finally:
            assert _stop(first) == 0
        log.seek(0)
        output = log.read().decode()
    assert f"http://127.0.0.1:{port}/graphql" in output
    assert "Authorization: Bearer <accessToken>" in output
    assert "X-Tenant: demo" in output
    assert "receiver@demo.example" in output
    assert credentials["staff"] in output and credentials["operator"] in output
    assert "(demo tenant created)" in output
    assert "mode:     production (use --dev for GraphiQL and introspection)" in output
    assert _processes_using(data_dir) == [], "embedded servers left running after Ctrl-C"

    with tempfile.TemporaryFile() as log:
        second = _start(data_dir, port, log, "--dev")
        try:
            _wait_up(port, second)
            assert _introspect(port).json()["data"]["__schema"]["queryType"] == {"name": "Query"}
            # the first start's token still verifies: the signing key was kept, not made anew
            codes = [u["code"] for u in _gql(port, "{ orgUnits { code } }", admin)["data"]["orgUnits"]]
            assert "KEPT" in codes
            assert _credentials(data_dir) == credentials
            _login(port, "receiver@demo.example", credentials["staff"])
        finally:
            assert _stop(second) == 0
        log.seek(0)
        output = log.read().decode()
    assert "(existing data reused)" in output
    assert "mode:     development" in output
    assert credentials["staff"] in output
    assert _processes_using(data_dir) == []
