"""Helpers of the authentication tests: operations, users with passwords, client addresses."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from conftest import TENANT_A, GraphQLClient

ADMIN = "admin@test.example"
PASSWORD = "correct horse battery staple"

CREATE_USER = """
mutation ($input: CreateUserInput!) {
  createUser(input: $input) { user { id email roles } userErrors { field message code } }
}
"""
LOGIN = """
mutation ($input: LoginInput!) {
  login(input: $input) {
    accessToken refreshToken expiresAt refreshTokenExpiresAt user { id email roles }
    userErrors { field message code }
  }
}
"""
REFRESH = """
mutation ($token: String!) {
  refreshToken(input: {refreshToken: $token}) {
    accessToken refreshToken expiresAt user { email } userErrors { field message code }
  }
}
"""
LOGOUT = "mutation ($token: String!) { logout(input: {refreshToken: $token}) { ok userErrors { message code } } }"
ME = "{ me { id email roles } }"

_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test uses: the per-address login budget is the test's own."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass
class Staff:
    tenant: str
    email: str
    password: str
    id: str  # global ID


async def create_staff(gql: GraphQLClient, *, tenant: str = TENANT_A, roles: tuple[str, ...] = ("receiver",),
                       password: str | None = PASSWORD, email: str | None = None) -> Staff:
    """A new user of ``tenant`` with ``password``, through createUser as the tenant's admin."""
    email = email or f"u-{uuid.uuid4().hex[:12]}@test.example"
    fields: dict[str, Any] = {"email": email, "displayName": email.split("@")[0], "roles": list(roles)}
    if password is not None:
        fields["password"] = password
    data = await gql(CREATE_USER, {"input": fields}, tenant=tenant, user=ADMIN)
    assert data["createUser"]["userErrors"] == [], data
    return Staff(tenant=tenant, email=email, password=password or "", id=data["createUser"]["user"]["id"])


async def login(gql: GraphQLClient, tenant: str, email: str, password: str) -> dict[str, Any]:
    """The login payload (no token, no X-Tenant: the tenant is the argument)."""
    response = await gql.post(LOGIN, {"input": {"tenant": tenant, "email": email, "password": password}},
                              tenant=None, user=None)
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["login"]
    return payload


async def bearer(gql: GraphQLClient, token: str, query: str, variables: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> httpx.Response:
    """A request that carries ``token`` and nothing else (no X-Tenant unless ``headers`` says so)."""
    return await gql.post(query, variables, tenant=None, user=None,
                          headers={"authorization": f"Bearer {token}", **(headers or {})})
