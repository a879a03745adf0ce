"""Queries of authentication: the tenant's identity providers (tenant admins)."""

from __future__ import annotations

import strawberry

from services.api.auth.types import IdentityProviderType
from services.api.authz import require_query
from services.api.context import Info
from services.core.auth import oidc
from services.core.authz import Action


@strawberry.type
class AuthQueries:
    @strawberry.field(description="The OpenID Connect issuers this tenant trusts, by issuer (tenant admins)")
    async def identity_providers(self, info: Info) -> list[IdentityProviderType]:
        await require_query(info.context, Action.ORG_MANAGE)
        async with info.context.db() as session:
            providers = await oidc.list_identity_providers(session)
        return [IdentityProviderType.from_model(p) for p in providers]
