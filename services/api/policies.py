"""Tenant policies over GraphQL: read, replace, every version kept and restorable, and ``canI`` (allowed, and
the rule that decided)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import strawberry
from strawberry import relay

from services.api.authz import require, require_query, subject_of
from services.api.complaints.types import PageInfo
from services.api.context import Info
from services.api.errors import RequestError, UserError, user_error
from services.api.ids import decode_id
from services.api.org.types import UserType, load_user
from services.core import authz
from services.core.auth.models import PolicyVersion
from services.core.complaints import actions
from services.core.errors import DomainError
from services.core.errors import ErrorCode as UserErrorCode
from services.core.i18n import N_, msg

strawberry.enum(authz.PolicySource, name="PolicySource",
                description="SEED (the template's, at creation), SET (setPolicies), RESTORE (restorePolicies), "
                            "RESET (an operator's `complaintdesk policies reset`)")

COMPLAINT_NOT_FOUND = N_("complaint not found")


@strawberry.type(description="One policy line: the role may (or may not) do the action on resources in the relation")
class PolicyRule:
    role: str
    action: str
    relation: str = strawberry.field(description="any, or relation names joined by & (each may be negated with !)")
    effect: str = strawberry.field(description="allow or deny; a matching deny wins")

    @classmethod
    def from_rule(cls, r: authz.Rule) -> PolicyRule:
        return cls(role=r.role, action=r.action, relation=r.relation, effect=r.effect)


@strawberry.type
class PolicySet:
    version: int
    rules: list[PolicyRule]
    actions: list[str] = strawberry.field(description="every action the platform knows")
    relations: list[str] = strawberry.field(description="every relation a rule may name")


@strawberry.input
class PolicyRuleInput:
    role: str
    action: str
    relation: str = "any"
    effect: str = "allow"


@strawberry.input(description="Replace all of the tenant's rules (an invalid set is refused; the old one stays)")
class SetPoliciesInput:
    rules: list[PolicyRuleInput]


@strawberry.type
class SetPoliciesPayload:
    policies: PolicySet | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(name="PolicyVersion", description="One rule set the tenant has had; the newest is the one in force")
class PolicyVersionType:
    version: int
    rules: list[PolicyRule]
    source: authz.PolicySource
    restored_from: int | None = strawberry.field(description="RESTORE: the version it brought back")
    created_at: datetime
    created_by_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Who made it (null for SEED and RESET)")
    async def created_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.created_by_id)

    @classmethod
    def from_model(cls, v: PolicyVersion) -> PolicyVersionType:
        return cls(version=v.version, rules=[PolicyRule.from_rule(authz.Rule(*line)) for line in v.rules],
                   source=authz.PolicySource(v.source), restored_from=v.restored_from, created_at=v.created_at,
                   created_by_id=v.created_by)


@strawberry.type
class PolicyVersionEdge:
    cursor: str
    node: PolicyVersionType


@strawberry.type
class PolicyVersionConnection:
    edges: list[PolicyVersionEdge]
    page_info: PageInfo

    @strawberry.field(description="All versions")
    async def total_count(self, info: Info) -> int:
        async with info.context.db() as session:
            return await authz.count_versions(session)


def _cursor(version: int) -> str:
    return base64.urlsafe_b64encode(f"pv:{version}".encode()).decode()


def _parse_cursor(cursor: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "pv":
            raise ValueError(kind)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise RequestError("after is not a cursor of this list", "BAD_USER_INPUT") from None


@strawberry.input(description="Put an earlier policy version's rules back in force (as a new version)")
class RestorePoliciesInput:
    version: int


@strawberry.type(description="Whether you may do an action, and the rule that decided")
class CanIResult:
    allowed: bool
    rule: PolicyRule | None
    reason: str
    code: UserErrorCode | None = strawberry.field(
        default=None, description="set when a rule of the platform that no policy can switch off refuses you: "
        "SEPARATION_OF_DUTIES (four eyes: you proposed the form, asked for the extension, or handled the case)")


async def _policy_set(info: Info) -> PolicySet:
    async with info.context.db() as session:
        rules = await authz.load_rules(session)
        version = await authz.policy_version(session)
    return PolicySet(
        version=version,
        rules=[PolicyRule.from_rule(r) for r in rules],
        actions=[a.value for a in authz.Action],
        relations=[r.value for r in authz.Relation],
    )


@strawberry.type
class PolicyQueries:
    @strawberry.field(description="The tenant's policy rules")
    async def policies(self, info: Info) -> PolicySet:
        await require_query(info.context, authz.Action.POLICY_READ)
        return await _policy_set(info)

    @strawberry.field(description="Every rule set the tenant has had, newest first (the first is in force)")
    async def policy_versions(self, info: Info, first: int = 20, after: str | None = None) -> PolicyVersionConnection:
        await require_query(info.context, authz.Action.POLICY_READ)
        before = _parse_cursor(after) if after is not None else None
        async with info.context.db() as session:
            try:
                page, more = await authz.list_versions(session, first=first, before=before)
            except DomainError as exc:
                raise RequestError(exc.message, "BAD_USER_INPUT") from None
        edges = [PolicyVersionEdge(cursor=_cursor(v.version), node=PolicyVersionType.from_model(v)) for v in page]
        return PolicyVersionConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, has_previous_page=after is not None,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(description="May I do this action (on this complaint)? Hides buttons; explains refusals")
    async def can_i(self, info: Info, action: str, complaint_id: relay.GlobalID | None = None) -> CanIResult:
        subject = await subject_of(info.context)
        translate = info.context.translate
        if action not in {a.value for a in authz.Action}:
            return CanIResult(allowed=False, rule=None,
                              reason=await translate(msg("unknown action {action!r}", action=action)))
        cid = None
        if complaint_id is not None:
            try:
                cid = decode_id(complaint_id, "Complaint", "complaintId")
            except DomainError:
                return CanIResult(allowed=False, rule=None, reason=await translate(COMPLAINT_NOT_FOUND))
        async with info.context.db() as session:
            decision = await actions.decide(session, subject, action, cid, info.context.now())
            if decision is None:
                return CanIResult(allowed=False, rule=None, reason=await translate(COMPLAINT_NOT_FOUND))
            reason: str = decision.reason
            if not decision.allowed and decision.code is None:  # the policy refuses: say what, as a refusal would
                reason = await authz.refusal(session, subject, action,
                                             authz.Decision(False, decision.rule, decision.reason))
        return CanIResult(allowed=decision.allowed,
                          rule=PolicyRule.from_rule(decision.rule) if decision.rule else None,
                          reason=await translate(reason),
                          code=UserErrorCode(decision.code) if decision.code else None)


@strawberry.type
class PolicyMutations:
    @strawberry.mutation(description="Replace the tenant's policy rules (kept as a new version); refused with "
                                     "POLICY_LOCKOUT when no active user could then change policies or manage users; "
                                     "audited")
    async def set_policies(self, info: Info, input: SetPoliciesInput) -> SetPoliciesPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        rules = [authz.Rule(r.role.strip(), r.action.strip(), r.relation.strip(), r.effect.strip())
                 for r in input.rules]
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, authz.Action.POLICY_WRITE)
                await authz.set_rules(session, actor=viewer.actor, now=ctx.now(), rules=rules)
        except DomainError as exc:
            return SetPoliciesPayload(user_errors=[user_error(exc)])
        ctx.reset_loaders()
        return SetPoliciesPayload(policies=await _policy_set(info))

    @strawberry.mutation(description="Put an earlier version's rules back in force, as a new version (policy.write; "
                                     "checked like setPolicies); audited")
    async def restore_policies(self, info: Info, input: RestorePoliciesInput) -> SetPoliciesPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            async with ctx.transaction() as session:
                await require(ctx, session, authz.Action.POLICY_WRITE)
                await authz.restore_rules(session, actor=viewer.actor, now=ctx.now(), version=input.version)
        except DomainError as exc:
            return SetPoliciesPayload(user_errors=[user_error(exc)])
        ctx.reset_loaders()
        return SetPoliciesPayload(policies=await _policy_set(info))
