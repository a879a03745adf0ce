"""Sign-in, token refresh and sign-out, passwords, identity providers; platform operators' mutations."""

from __future__ import annotations

import logging

import strawberry

from services.api.auth.types import (
    CreateTenantInput,
    CreateTenantPayload,
    IdentityProviderType,
    LoginInput,
    LoginPayload,
    LogoutInput,
    LogoutPayload,
    OperatorLoginInput,
    OperatorLoginPayload,
    PasswordSetup,
    RedeemPasswordTokenInput,
    RedeemPasswordTokenPayload,
    RefreshTokenInput,
    RefreshTokenPayload,
    ResumeTenantInput,
    SetPasswordInput,
    SetPasswordPayload,
    SignInWithOidcInput,
    SignInWithOidcPayload,
    SuspendTenantInput,
    TenantPayload,
    TenantType,
    UpsertIdentityProviderInput,
    UpsertIdentityProviderPayload,
)
from services.api.authz import require
from services.api.context import Context, Info
from services.api.errors import user_error
from services.api.ids import decode_id
from services.api.org.types import UserType
from services.core.audit.service import Actor
from services.core.auth import oidc, oidc_signin, password_tokens
from services.core.auth import operators as operator_service
from services.core.auth import service as auth_service
from services.core.auth.passwords import verify_password_async
from services.core.authz import Action
from services.core.errors import DomainError, ErrorCode
from services.core.org.models import User
from services.core.tenancy import TenantError, TenantStatus

logger = logging.getLogger("complaintdesk.api.auth")


def _pair(payload: type[LoginPayload], signed: auth_service.SignedIn, ctx: Context) -> LoginPayload:
    if ctx.tenant_ref is None:  # the request named no tenant: the user's fields (orgUnit ...) are read in theirs
        ctx.tenant_ref = signed.tenant
    return payload(
        access_token=signed.access.token,
        refresh_token=signed.refresh.token,
        expires_at=signed.access.expires_at,
        refresh_token_expires_at=signed.refresh.expires_at,
        user=UserType.from_model(signed.user),
    )


def _expected_tenant(ctx: Context) -> str | None:
    """A refresh token is only good for the tenant the request names, if it names one."""
    return ctx.tenant_ref.slug if ctx.tenant_ref is not None else None


async def _check_current_password(ctx: Context, user: User, current: str | None) -> None:
    if user.password_hash is None:
        return  # no password yet (a new user, or one who signs in through an identity provider)
    if current is None:
        raise DomainError(ErrorCode.REQUIRED, "give your current password to change it", ["currentPassword"])
    throttle = auth_service.Throttle(ctx.redis, scope="staff", realm=ctx.tenant.slug, account=user.email,
                                     client=ctx.client_ip)
    await throttle.begin()  # guesses here spend the same budget as sign-in
    if not (await verify_password_async(user.password_hash, current)).ok:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "the current password is wrong", ["currentPassword"])
    await throttle.succeeded()


@strawberry.type
class AuthMutations:
    @strawberry.mutation(description="Sign in with the tenant, e-mail and password (no token or X-Tenant needed)")
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        ctx = info.context
        tenant = input.tenant.strip().lower()
        if ctx.tenant_ref is not None and ctx.tenant_ref.slug != tenant:  # the user's fields would be read there
            return LoginPayload(user_errors=[user_error(DomainError(
                ErrorCode.TENANT_MISMATCH, "the request names another tenant than the sign-in", ["tenant"]))])
        try:
            signed = await auth_service.login(
                redis=ctx.redis, tenant=tenant, email=input.email, password=input.password,
                client=ctx.client_ip, now=ctx.now(),
            )
        except DomainError as exc:
            ctx.throttled(exc.retry_after_s)
            return LoginPayload(user_errors=[user_error(exc)])
        return _pair(LoginPayload, signed, ctx)

    @strawberry.mutation(description=(
        "Sign in with one of the tenant's identity providers (signInProviders): the server exchanges the code and "
        "PKCE verifier at the provider, checks the ID token (issuer, audience, keys, nonce) and answers as login. "
        "A provider the tenant does not have: NOT_FOUND; a refused code, a token that does not verify or an "
        "e-mail that is no active user: INVALID_CREDENTIALS"))
    async def sign_in_with_oidc(self, info: Info, input: SignInWithOidcInput) -> SignInWithOidcPayload:
        ctx = info.context
        tenant = input.tenant.strip().lower()
        try:
            if ctx.tenant_ref is not None and ctx.tenant_ref.slug != tenant:
                raise DomainError(ErrorCode.TENANT_MISMATCH, "the request names another tenant than the sign-in",
                                  ["tenant"])
            provider_id = decode_id(input.provider_id, "IdentityProvider", "providerId")
            signed = await oidc_signin.sign_in_with_oidc(
                redis=ctx.redis, tenant=tenant, provider_id=provider_id, code=input.code,
                code_verifier=input.code_verifier, redirect_uri=input.redirect_uri, nonce=input.nonce,
                client=ctx.client_ip, now=ctx.now(),
            )
        except DomainError as exc:
            ctx.throttled(exc.retry_after_s)
            return SignInWithOidcPayload(user_errors=[user_error(exc)])
        payload = _pair(SignInWithOidcPayload, signed, ctx)
        assert isinstance(payload, SignInWithOidcPayload)
        return payload

    @strawberry.mutation(description="Exchange a refresh token for a new pair; a used token revokes its sign-in")
    async def refresh_token(self, info: Info, input: RefreshTokenInput) -> RefreshTokenPayload:
        ctx = info.context
        try:
            signed = await auth_service.refresh(
                token=input.refresh_token, now=ctx.now(), expected_tenant=_expected_tenant(ctx)
            )
        except DomainError as exc:
            return RefreshTokenPayload(user_errors=[user_error(exc)])
        payload = _pair(RefreshTokenPayload, signed, ctx)
        assert isinstance(payload, RefreshTokenPayload)
        return payload

    @strawberry.mutation(description="Sign out: revoke the refresh token and every token refreshed from its sign-in")
    async def logout(self, info: Info, input: LogoutInput) -> LogoutPayload:
        ctx = info.context
        try:
            await auth_service.logout(token=input.refresh_token, now=ctx.now(), expected_tenant=_expected_tenant(ctx))
        except DomainError as exc:
            return LogoutPayload(user_errors=[user_error(exc)])
        return LogoutPayload(ok=True)

    @strawberry.mutation(description="Set a password: your own (with the current one), or any user's as tenant admin")
    async def set_password(self, info: Info, input: SetPasswordInput) -> SetPasswordPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            user_id = decode_id(input.user_id, "User", "userId")
            async with ctx.transaction() as session:
                if user_id == viewer.id:
                    me = await session.get(User, user_id)
                    assert me is not None
                    await _check_current_password(ctx, me, input.current_password)
                else:
                    await require(ctx, session, Action.ORG_MANAGE)  # another user's password: admins
                user = await auth_service.set_password(session, user_id=user_id, password=input.password,
                                                       now=ctx.now())
        except DomainError as exc:
            ctx.throttled(exc.retry_after_s)
            return SetPasswordPayload(user_errors=[user_error(exc)])
        ctx.reset_loaders()
        return SetPasswordPayload(user=UserType.from_model(user))

    @strawberry.mutation(description=(
        "Set a password with a one-time set-password token (a new tenant's first admin, a user an operator made "
        "or reset); no sign-in needed. A used, expired, revoked or unknown token is refused with INVALID_TOKEN"))
    async def redeem_password_token(self, info: Info, input: RedeemPasswordTokenInput) -> RedeemPasswordTokenPayload:
        ctx = info.context
        try:
            await password_tokens.redeem_password_token(redis=ctx.redis, tenant=input.tenant, token=input.token,
                                                        password=input.password, client=ctx.client_ip, now=ctx.now())
        except DomainError as exc:
            return RedeemPasswordTokenPayload(user_errors=[user_error(exc)])
        return RedeemPasswordTokenPayload(ok=True)

    @strawberry.mutation(description="Trust an OpenID Connect issuer's tokens for this tenant (tenant admins)")
    async def upsert_identity_provider(
        self, info: Info, input: UpsertIdentityProviderInput
    ) -> UpsertIdentityProviderPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, Action.ORG_MANAGE)
                provider = await oidc.upsert_identity_provider(
                    session, issuer=input.issuer, audience=input.audience, jwks_uri=input.jwks_uri, jwks=input.jwks,
                    email_claim=input.email_claim, active=input.active, display_name=input.display_name,
                    client_secret=input.client_secret, clear_client_secret=input.clear_client_secret,
                )
        except DomainError as exc:
            return UpsertIdentityProviderPayload(user_errors=[user_error(exc)])
        logger.info("identity provider %s of tenant %s saved by %s", provider.issuer, ctx.tenant.slug, viewer.id)
        return UpsertIdentityProviderPayload(identity_provider=IdentityProviderType.from_model(provider))


# ---- platform operators -----------------------------------------------------------------------------------------

_TENANT_ERRORS = {
    "TENANT_REQUIRED": (ErrorCode.REQUIRED, "slug"),
    "TENANT_INVALID": (ErrorCode.INVALID, "slug"),
    "TENANT_EXISTS": (ErrorCode.DUPLICATE, "slug"),
    "TENANT_NOT_FOUND": (ErrorCode.NOT_FOUND, "slug"),
    "TEMPLATE_UNKNOWN": (ErrorCode.INVALID, "template"),
    "TENANT_NAME_INVALID": (ErrorCode.INVALID, "displayName"),
}


def _tenant_domain_error(exc: TenantError) -> DomainError:
    code, field = _TENANT_ERRORS.get(exc.code, (ErrorCode.INVALID, "slug"))
    return DomainError(code, exc.message, [field])


def _tenant_error(exc: TenantError) -> TenantPayload:
    return TenantPayload(user_errors=[user_error(_tenant_domain_error(exc))])


@strawberry.type
class OperatorMutations:
    @strawberry.mutation(description="Sign in as a platform operator (no tenant)")
    async def operator_login(self, info: Info, input: OperatorLoginInput) -> OperatorLoginPayload:
        ctx = info.context
        try:
            issued = await operator_service.operator_login(
                redis=ctx.redis, name=input.name.strip(), password=input.password, client=ctx.client_ip,
                now=ctx.now(),
            )
        except DomainError as exc:
            ctx.throttled(exc.retry_after_s)
            return OperatorLoginPayload(user_errors=[user_error(exc)])
        return OperatorLoginPayload(access_token=issued.token, expires_at=issued.expires_at)

    @strawberry.mutation(description=(
        "Create a tenant, migrated and seeded from its template, with its first admin when adminEmail is given "
        "(operators)"))
    async def create_tenant(self, info: Info, input: CreateTenantInput) -> CreateTenantPayload:
        from tenants.provision import AdminSpec, provision_tenant

        operator = await info.context.require_operator()
        admin = AdminSpec(input.admin_email, input.admin_name) if input.admin_email is not None else None
        try:
            created = await provision_tenant(input.slug, display_name=input.display_name, template=input.template,
                                             admin=admin, actor=Actor(user_id=None, label=f"operator:{operator.name}"),
                                             now=info.context.now())
        except TenantError as exc:
            return CreateTenantPayload(user_errors=[user_error(_tenant_domain_error(exc))])
        except DomainError as exc:
            return CreateTenantPayload(user_errors=[user_error(exc)])
        logger.info("operator %s created tenant %s (%s)%s", operator.name, created.info.slug, created.info.template,
                    " with its first admin" if created.admin else "")
        setup = created.admin
        return CreateTenantPayload(
            tenant=TenantType.from_info(created.info),
            admin_setup=PasswordSetup(email=setup.email, token=setup.token, link=setup.link,
                                      expires_at=setup.expires_at) if setup else None,
        )

    @strawberry.mutation(description="Suspend a tenant: its requests, tokens and messages are refused (operators)")
    async def suspend_tenant(self, info: Info, input: SuspendTenantInput) -> TenantPayload:
        return await _set_status(info, input.slug, TenantStatus.SUSPENDED)

    @strawberry.mutation(description="Resume a suspended tenant (operators)")
    async def resume_tenant(self, info: Info, input: ResumeTenantInput) -> TenantPayload:
        return await _set_status(info, input.slug, TenantStatus.ACTIVE)


async def _set_status(info: Info, slug: str, status: TenantStatus) -> TenantPayload:
    from tenants.provision import set_status

    operator = await info.context.require_operator()
    try:
        changed_info, changed = await set_status(slug, status)
    except TenantError as exc:
        return _tenant_error(exc)
    if changed:
        logger.info("operator %s set tenant %s to %s", operator.name, slug, status.value)
    return TenantPayload(tenant=TenantType.from_info(changed_info))
