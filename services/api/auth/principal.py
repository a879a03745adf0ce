"""Who a request's bearer token says it is, as verified at the edge (before any resolver runs)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """A tenant user, by our own access token (the tenant is the token's)."""

    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ExternalPrincipal:
    """A tenant user, by a token of an identity provider the tenant trusts (the user is found by e-mail)."""

    email: str
    issuer: str


@dataclass(frozen=True, slots=True)
class OperatorPrincipal:
    """A platform operator (no tenant)."""

    name: str


Principal = StaffPrincipal | ExternalPrincipal | OperatorPrincipal
