"""`complaintdesk up` on embedded servers: first start, data kept, Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from helpers import ROOT


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


def _start(data_dir: Path, port: int, log: object) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "COMPLAINTDESK_ENV")}
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("complaintdesk")), "up", "--port", str(port),
         "--data-dir", str(data_dir)],
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


def _gql(port: int, query: str) -> dict[str, object]:
    response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query},
                          headers={"x-tenant": "demo", "x-user": "receiver@demo.example"}, timeout=10.0)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert "errors" not in body, body
    return body


def test_up_first_and_second_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        first = _start(data_dir, port, log)
        try:
            _wait_up(port, first)
            body = _gql(port, "{ users { email roles } orgUnits { code } }")
            users = body["data"]["users"]  # type: ignore[index]
            assert {"email": "receiver@demo.example", "roles": ["receiver"]} in users
            created = _gql(port, 'mutation { createOrgUnit(input: {name: "Kept Store", kind: STORE, code: "KEPT"})'
                                 " { orgUnit { code } userErrors { code } } }")
            assert created["data"]["createOrgUnit"]["userErrors"] == []  # type: ignore[index]
        finally:
            assert _stop(first) == 0
        log.seek(0)
        output = log.read().decode()
    assert f"http://127.0.0.1:{port}/graphql" in output
    assert "X-Tenant: demo" in output
    assert "X-User: <e-mail>" in output
    assert "receiver@demo.example" in output
    assert "(demo tenant created)" in output
    assert _processes_using(data_dir) == [], "embedded servers left running after Ctrl-C"

    with tempfile.TemporaryFile() as log:
        second = _start(data_dir, port, log)
        try:
            _wait_up(port, second)
            codes = [u["code"] for u in _gql(port, "{ orgUnits { code } }")["data"]["orgUnits"]]  # type: ignore[index]
            assert "KEPT" in codes
        finally:
            assert _stop(second) == 0
        log.seek(0)
        assert "(existing data reused)" in log.read().decode()
    assert _processes_using(data_dir) == []
