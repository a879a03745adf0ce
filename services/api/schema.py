"""The GraphQL schema: one Query and one Mutation composed from the domain folders."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry import relay
from strawberry.extensions import (
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.http import GraphQLRequestData
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from services.api import documents
from services.api.accountability.schema import AccountabilityMutations, AccountabilityQueries
from services.api.auth.mutations import AuthMutations, OperatorMutations
from services.api.auth.queries import AuthQueries
from services.api.auth.types import IdentityProviderType
from services.api.classification.schema import ClassificationMutations, ClassificationQueries
from services.api.classification.types import ClassificationCodeType
from services.api.complaints.mutations import ComplaintMutations
from services.api.complaints.procedure import ProcedureMutations
from services.api.complaints.queries import ComplaintQueries
from services.api.complaints.types import ComplaintType
from services.api.context import Info
from services.api.deadlines.schema import DeadlineMutations, DeadlineQueries
from services.api.deadlines.types import DeadlineExtensionRequestType
from services.api.diagnostics.schema import DiagnosticsMutations, DiagnosticsQueries
from services.api.errors import MaskUnexpectedErrors, is_unexpected
from services.api.escalation.schema import EscalationMutations, EscalationQueries
from services.api.execution import FastExecutor
from services.api.keys import KeyMutations, KeyQueries
from services.api.messages.schema import MessageMutations, MessageQueries
from services.api.nodes import Node
from services.api.notifications.schema import (
    NotificationMutations,
    NotificationQueries,
    NotificationSubscriptions,
    PreferenceMutations,
)
from services.api.observability import OperationMetrics
from services.api.org.mutations import OrgMutations
from services.api.org.queries import OrgQueries
from services.api.org.types import CategoryType, OrgUnitType, UserType
from services.api.outbox.schema import OutboxItemType, OutboxMutations, OutboxQueries
from services.api.policies import PolicyMutations, PolicyQueries
from services.api.quiet import SCALARS, Validate
from services.api.reports.schema import ReportMutations, ReportQueries, ReportType
from services.api.statistics.schema import StatisticsQueries
from services.core.logs import failures

logger = logging.getLogger("complaintdesk.api.errors")

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 2_000


@strawberry.type
class Query(ComplaintQueries, OrgQueries, PolicyQueries, AuthQueries, DiagnosticsQueries, KeyQueries,
            DeadlineQueries, EscalationQueries, NotificationQueries, OutboxQueries, ClassificationQueries,
            StatisticsQueries, ReportQueries, AccountabilityQueries, MessageQueries):
    @strawberry.field(description="Any object of this tenant by its global ID, or null")
    async def node(self, info: Info, id: relay.GlobalID) -> Node | None:
        resolve = NODE_TYPES.get(id.type_name)
        if resolve is None:
            return None
        resolved = await resolve.resolve_nodes(info=info, node_ids=[id.node_id], required=False)
        return next(iter(resolved), None)


NODE_TYPES: dict[str, Any] = {
    "Complaint": ComplaintType, "OrgUnit": OrgUnitType, "User": UserType, "Category": CategoryType,
    "IdentityProvider": IdentityProviderType, "OutboxItem": OutboxItemType,
    "DeadlineExtensionRequest": DeadlineExtensionRequestType, "ClassificationCode": ClassificationCodeType,
    "Report": ReportType,
}


@strawberry.type
class Mutation(ComplaintMutations, OrgMutations, PolicyMutations, AuthMutations, OperatorMutations,
               DiagnosticsMutations, KeyMutations, DeadlineMutations, EscalationMutations, NotificationMutations,
               OutboxMutations, PreferenceMutations, ClassificationMutations, ReportMutations,
               AccountabilityMutations, MessageMutations, ProcedureMutations):
    pass


@strawberry.type
class Subscription(NotificationSubscriptions):
    """Live feeds over graphql-transport-ws (services/api/app.py authenticates the connection)."""


class ComplaintdeskSchema(strawberry.Schema):
    hide_suggestions = True  # build_schema sets it per mode

    def _get_custom_context_kwargs(self, operation_extensions: dict[str, Any] | None = None, *,
                                   sync: bool = False) -> dict[str, Any]:
        """Execution's arguments: graphql-core coerces variable values there, with or without suggestions."""
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        return {**kwargs, "hide_suggestions": self.hide_suggestions}

    async def stream(
        self, query: str | None, variable_values: dict[str, Any] | None = None, context_value: Any | None = None,
        root_value: Any | None = None, operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """The WebSocket transport's entry: subscriptions only (queries and mutations go over HTTP, where the edge,
        the throttles and the per-request session apply); anything else is a request error on that operation.
        A tenant of registered documents only takes only a registered document's exact text here too."""
        tenant = getattr(context_value, "tenant_ref", None)
        if tenant is not None and tenant.registered_documents_only:
            try:
                documents.resolve(GraphQLRequestData(query=query, variables=variable_values,
                                                     operation_name=operation_name, extensions=operation_extensions),
                                  registered_only=True)
            except documents.PersistedQueryRefused as refused:
                return _refused(refused.message, refused.code)
        return await super().stream(query, variable_values, context_value, root_value, operation_name,
                                    operation_extensions, allowed_operation_types={OperationType.SUBSCRIPTION})

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_unexpected(error) and error.original_error is not None:
                # One line here (with the request id), a traceback once per cause a minute; masked in the response.
                failures.report(logger, error.original_error, ".".join(str(p) for p in error.path or ()))
            else:
                logger.debug("request error: %s", error.message)


class Limits(SchemaExtension):
    """Strawberry's AddValidationRules (depth, aliases, and outside development DisableIntrospection's rule) and
    MaxTokensLimiter in one hook: each extension's hook costs every request a few microseconds of Strawberry's
    machinery (a context manager made per request and hook)."""

    def __init__(self, rules: tuple[type[ASTValidationRule], ...], *, max_tokens: int) -> None:
        self.rules, self.max_tokens = rules, max_tokens

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = context.validation_rules + self.rules
        context.parse_options["max_tokens"] = self.max_tokens
        yield


async def _refused(message: str, code: str) -> AsyncGenerator[PreExecutionError, None]:
    """A subscription refused before execution: graphql-transport-ws answers it with an ``error`` message."""
    yield PreExecutionError(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def build_schema(*, development: bool = False) -> strawberry.Schema:
    # Factories: Strawberry builds fresh extensions per request. The limit rules are built once here:
    # the validation cache is keyed by the rule classes, and fresh classes per request never hit it.
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if not development:  # Strawberry's DisableIntrospection
        rules.append(NoSchemaIntrospectionCustomRule)
    limits = tuple(rules)
    extensions: list[Callable[[], SchemaExtension]] = [
        OperationMetrics,  # first, so it sees the answer as sent (masked errors included)
        lambda: Limits(limits, max_tokens=MAX_TOKENS),
        lambda: ParserCache(maxsize=256),
        lambda: Validate(hide_suggestions=not development),  # cached, like Strawberry's ValidationCache
        MaskUnexpectedErrors,
    ]
    schema = ComplaintdeskSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=FastExecutor,  # plain attribute fields completed without the per-field machinery
        # no "Did you mean" outside development (services/api/quiet.py); scalars with fixed coercion messages
        config=StrawberryConfig(disable_field_suggestions=not development, scalar_map=SCALARS),
    )
    schema.hide_suggestions = not development
    return schema
