"""Queries of authentication: the tenant's identity providers (tenant admins), those offered for sign-in, and the
tenant as the public pages show it (public)."""

from __future__ import annotations

import strawberry

from services.api.auth.types import IdentityProviderType, SignInProvider, TenantInfo
from services.api.authz import require_query
from services.api.context import Info
from services.api.nodes import global_id
from services.core.auth import oidc, oidc_signin
from services.core.authz import Action
from services.core.i18n.tenant import public_tenant_info


@strawberry.type
class AuthQueries:
    @strawberry.field(description="The OpenID Connect issuers this tenant trusts, by issuer (tenant admins)")
    async def identity_providers(self, info: Info) -> list[IdentityProviderType]:
        await require_query(info.context, Action.ORG_MANAGE)
        async with info.context.db() as session:
            providers = await oidc.list_identity_providers(session)
        return [IdentityProviderType.from_model(p) for p in providers]

    @strawberry.field(description=(
        "Public (X-Tenant): the identity providers offered on the sign-in screen (active, with a display name, "
        "their discovery document answering); nothing secret"))
    async def sign_in_providers(self, info: Info) -> list[SignInProvider]:
        async with info.context.db() as session:
            offered = await oidc_signin.sign_in_providers(session)
        return [SignInProvider(id=strawberry.ID(str(global_id("IdentityProvider", p.id))), display_name=p.display_name,
                               authorization_endpoint=p.authorization_endpoint, client_id=p.client_id)
                for p in offered]

    @strawberry.field(description="Public (X-Tenant): the tenant's name, time zone and default language")
    async def tenant_info(self, info: Info) -> TenantInfo:
        ctx = info.context
        async with ctx.db() as session:
            found = await public_tenant_info(session, ctx.tenant.slug)
        return TenantInfo(name=found.name, time_zone=found.time_zone, locale=found.locale)
