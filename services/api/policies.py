"""Tenant policies over GraphQL: read, replace, and ``canI`` (allowed, and the rule that decided)."""

from __future__ import annotations

import strawberry
from strawberry import relay

from services.api.authz import require, require_query, subject_of
from services.api.context import Info
from services.api.errors import UserError, user_error
from services.api.ids import decode_id
from services.core import authz
from services.core.complaints import actions
from services.core.errors import DomainError
from services.core.errors import ErrorCode as UserErrorCode


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

    @strawberry.field(description="May I do this action (on this complaint)? Hides buttons; explains refusals")
    async def can_i(self, info: Info, action: str, complaint_id: relay.GlobalID | None = None) -> CanIResult:
        subject = await subject_of(info.context)
        if action not in {a.value for a in authz.Action}:
            return CanIResult(allowed=False, rule=None, reason=f"unknown action {action!r}")
        cid = None
        if complaint_id is not None:
            try:
                cid = decode_id(complaint_id, "Complaint", "complaintId")
            except DomainError:
                return CanIResult(allowed=False, rule=None, reason="complaint not found")
        async with info.context.db() as session:
            decision = await actions.decide(session, subject, action, cid, info.context.now())
        if decision is None:
            return CanIResult(allowed=False, rule=None, reason="complaint not found")
        return CanIResult(allowed=decision.allowed,
                          rule=PolicyRule.from_rule(decision.rule) if decision.rule else None,
                          reason=decision.reason, code=UserErrorCode(decision.code) if decision.code else None)


@strawberry.type
class PolicyMutations:
    @strawberry.mutation(description="Replace the tenant's policy rules; audited")
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
