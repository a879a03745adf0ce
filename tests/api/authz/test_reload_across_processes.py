"""A policy change in one process is in force in another at once: a real `complaintdesk serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx
from conftest import GraphQLClient, access_token, add_staff
from helpers import ROOT, free_port

from tenants.provision import create_tenant

CAN_I = 'query { canI(action: "org.read") { allowed rule { role relation } } }'


async def test_set_policies_reaches_another_api_process(gql: GraphQLClient) -> None:
    slug = f"reload-{uuid.uuid4().hex[:6]}"
    await create_tenant(slug, template="bank")
    await add_staff(slug)
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [str(os.path.join(os.path.dirname(sys.executable), "complaintdesk")), "serve", "--port", str(port)],
            cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            token = await access_token(slug, "handler@test.example")
            headers = {"authorization": f"Bearer {token}", "accept": "application/json"}

            def ask() -> Any:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": CAN_I},
                                              headers=headers, timeout=5)
                        return response.json()["data"]["canI"]
                    except httpx.TransportError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)

            before = ask()  # the other process builds and caches this tenant's enforcer
            assert before == {"allowed": True, "rule": {"role": "handler", "relation": "any"}}
            rules = (await gql("{ policies { rules { role action relation effect } } }", tenant=slug,
                               user="admin@test.example"))["policies"]["rules"]
            kept = [r for r in rules if not (r["role"] == "handler" and r["action"] == "org.read")]
            done = await gql("mutation ($i: SetPoliciesInput!) { setPolicies(input: $i) { userErrors { code } } }",
                             {"i": {"rules": kept}}, tenant=slug, user="admin@test.example")
            assert done["setPolicies"]["userErrors"] == []
            after = ask()  # no restart, no wait: its next decision sees the new version
            assert after == {"allowed": False, "rule": None}
        finally:
            proc.terminate()
            proc.wait(timeout=15)
