"""GraphQL types of authentication: token payloads, identity providers, tenants (for operators)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from services.api.context import Info
from services.api.errors import UserError
from services.api.nodes import Node, global_id
from services.api.org.types import UserType
from services.core.tenancy import TenantStatus

strawberry.enum(TenantStatus, name="TenantStatus")



# ---- staff sign-in ----------------------------------------------------------------------------------------------


@strawberry.input(description="Sign in as a user of a tenant")
class LoginInput:
    tenant: str = strawberry.field(description="the tenant's slug")
    email: str
    password: str


@strawberry.type(description="A signed-in session: a short-lived access token and a refresh token")
class LoginPayload:
    access_token: str | None = strawberry.field(
        default=None, description="send as 'Authorization: Bearer <accessToken>'; valid for 15 minutes"
    )
    refresh_token: str | None = strawberry.field(
        default=None, description="for refreshToken; single use (each refresh returns a new one), 30 days"
    )
    expires_at: datetime | None = strawberry.field(default=None, description="when the access token expires")
    refresh_token_expires_at: datetime | None = None
    user: UserType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A refresh token, exchanged for a new pair (the old one is used up)")
class RefreshTokenInput:
    refresh_token: str


@strawberry.type(description="A new token pair; the refresh token given is used up")
class RefreshTokenPayload(LoginPayload):
    pass


@strawberry.input(description="Sign out: the refresh token and every token refreshed from the same sign-in")
class LogoutInput:
    refresh_token: str


@strawberry.type
class LogoutPayload:
    ok: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Set a user's password (at least 10 characters); their other sessions end")
class SetPasswordInput:
    user_id: relay.GlobalID
    password: str
    current_password: str | None = strawberry.field(
        default=None, description="required to change your own password once you have one"
    )


@strawberry.type
class SetPasswordPayload:
    user: UserType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# ---- identity providers -----------------------------------------------------------------------------------------


@strawberry.type(name="IdentityProvider", description="An OpenID Connect issuer whose tokens this tenant accepts")
class IdentityProviderType(Node):
    issuer: str
    audience: str
    jwks_uri: str | None
    jwks: JSON | None = strawberry.field(description="the inline key set, when there is no jwksUri")
    email_claim: str
    active: bool
    created_at: datetime
    display_name: str | None = strawberry.field(
        default=None, description="the name of its button on the console's sign-in screen (null: not offered)")
    has_client_secret: bool = strawberry.field(
        default=False, description="whether a client secret is stored (sealed; it is never returned)")

    @classmethod
    def from_model(cls, provider: Any) -> IdentityProviderType:
        return cls(
            id=global_id("IdentityProvider", provider.id), issuer=provider.issuer, audience=provider.audience,
            jwks_uri=provider.jwks_uri, jwks=provider.jwks, email_claim=provider.email_claim, active=provider.active,
            created_at=provider.created_at, display_name=provider.display_name,
            has_client_secret=provider.has_client_secret,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        from services.api.authz import require_query
        from services.api.errors import RequestError
        from services.core.auth import oidc
        from services.core.authz import Action

        ids = list(node_ids)
        try:
            await require_query(info.context, Action.ORG_MANAGE)
        except RequestError:
            return [None for _ in ids]  # not found and not allowed look the same
        async with info.context.db() as session:
            providers = {str(p.id): p for p in await oidc.list_identity_providers(session)}
        return [cls.from_model(providers[n]) if n in providers else None for n in ids]  # type: ignore[misc]


@strawberry.input(description="Trust an OpenID Connect issuer (created, or updated when the issuer is known)")
class UpsertIdentityProviderInput:
    issuer: str = strawberry.field(description="the tokens' iss, exactly")
    audience: str = strawberry.field(description="the aud the tokens must carry (the SPA's client id)")
    jwks_uri: str | None = strawberry.field(default=None, description="the issuer's JWKS URL (https)")
    jwks: JSON | None = strawberry.field(default=None, description="or the public key set inline")
    email_claim: str = strawberry.field(default="email", description="the claim holding the user's e-mail")
    active: bool = True
    display_name: str | None = strawberry.field(default=None, description=(
        "offer sign-in with this provider on the console's sign-in screen under this name (null: not offered); "
        "register <console origin>/oidc/callback as a redirect URI of the client (audience) at the provider"))
    client_secret: str | None = strawberry.field(default=None, description=(
        "a confidential client's secret for the code exchange (sealed, never returned); null keeps the stored one"))
    clear_client_secret: bool = strawberry.field(default=False, description="remove the stored client secret")


@strawberry.type
class UpsertIdentityProviderPayload:
    identity_provider: IdentityProviderType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description=(
    "Public: an identity provider offered on the sign-in screen. Start the authorization-code flow with PKCE "
    "(S256) at authorizationEndpoint with client_id=clientId, scope 'openid email', a state and a nonce, and "
    "redirect_uri <console origin>/oidc/callback; then signInWithOidc with the code"))
class SignInProvider:
    id: strawberry.ID
    display_name: str
    authorization_endpoint: str
    client_id: str
    scope: str = "openid email"


@strawberry.input(description="Finish a sign-in with an identity provider: the code its redirect brought back")
class SignInWithOidcInput:
    tenant: str = strawberry.field(description="the tenant's slug")
    provider_id: relay.GlobalID = strawberry.field(description="the SignInProvider's id")
    code: str = strawberry.field(description="the authorization code from the redirect")
    code_verifier: str = strawberry.field(description="the PKCE verifier whose S256 challenge went to the provider")
    redirect_uri: str = strawberry.field(description="the redirect_uri sent to the provider, exactly")
    nonce: str = strawberry.field(description="the nonce sent to the provider; the ID token must carry it")


@strawberry.type(description="A signed-in session, as login answers")
class SignInWithOidcPayload(LoginPayload):
    pass


@strawberry.type(description="Public: the tenant as its public pages show it")
class TenantInfo:
    name: str
    time_zone: str = strawberry.field(description="the IANA zone the tenant's dates are in, e.g. Asia/Shanghai")
    locale: str = strawberry.field(description="the tenant's default language (zh-CN or en)")


# ---- platform operators -----------------------------------------------------------------------------------------


@strawberry.input(description="Sign in as a platform operator")
class OperatorLoginInput:
    name: str
    password: str


@strawberry.type(description="An operator's access token (15 minutes, no refresh token: sign in again)")
class OperatorLoginPayload:
    access_token: str | None = None
    expires_at: datetime | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(name="Tenant", description="A tenant of the platform (for operators)")
class TenantType:
    slug: str
    display_name: str
    status: TenantStatus
    template: str
    schema_revision: str | None
    created_at: datetime

    @classmethod
    def from_info(cls, info: Any) -> TenantType:
        return cls(
            slug=info.slug, display_name=info.display_name, status=TenantStatus(info.status),
            template=info.template, schema_revision=info.schema_revision,
            created_at=datetime.fromisoformat(info.created_at),
        )


@strawberry.input(description="Create a tenant: its schema, migrated and seeded from a template, and its first admin")
class CreateTenantInput:
    slug: str
    display_name: str | None = None
    template: str = strawberry.field(default="retail", description="retail or bank")
    admin_email: str | None = strawberry.field(default=None, description=(
        "the first admin's e-mail: a user with role tenant_admin and no password is created with the tenant, and "
        "adminSetup holds their one-time set-password link (without it the tenant has no user)"))
    admin_name: str | None = strawberry.field(default=None, description="the first admin's display name")


@strawberry.type(description="A one-time set-password token for a user without a password; give the link to the "
                             "user (redeemPasswordToken), it works once, until expiresAt")
class PasswordSetup:
    email: str
    token: str
    link: str
    expires_at: datetime


@strawberry.type
class CreateTenantPayload:
    tenant: TenantType | None = None
    admin_setup: PasswordSetup | None = strawberry.field(
        default=None, description="the first admin's set-password token and link (when adminEmail was given)")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Set your first password with a one-time token (the set-password link's tenant and "
                              "token); no sign-in needed")
class RedeemPasswordTokenInput:
    tenant: str
    token: str
    password: str = strawberry.field(description="at least 10 characters")


@strawberry.type
class RedeemPasswordTokenPayload:
    ok: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Suspend a tenant: its requests, tokens and messages are refused until resumed")
class SuspendTenantInput:
    slug: str


@strawberry.input(description="Resume a suspended tenant")
class ResumeTenantInput:
    slug: str


@strawberry.type
class TenantPayload:
    tenant: TenantType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)

