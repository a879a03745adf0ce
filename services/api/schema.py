"""The GraphQL schema: one Query and one Mutation composed from the domain folders."""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

from services.api.complaints.mutations import ComplaintMutations
from services.api.complaints.queries import ComplaintQueries
from services.api.context import Info
from services.api.diagnostics.schema import DiagnosticsMutations, DiagnosticsQueries
from services.api.errors import MaskUnexpectedErrors, is_unexpected
from services.api.org.mutations import OrgMutations
from services.api.org.queries import OrgQueries

logger = logging.getLogger("complaintdesk.api.errors")

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 2_000


@strawberry.type
class Query(ComplaintQueries, OrgQueries, DiagnosticsQueries):
    @strawberry.field(description="Any object of this tenant by its global ID, or null")
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        # A plain resolver rather than relay.node(): that field is consumed by the first schema built
        # from it, and the API builds one schema per configuration.
        try:
            node_type = id.resolve_type(info)
        except (KeyError, ValueError):
            return None
        if not issubclass(node_type, relay.Node):
            return None
        resolved = await await_maybe(node_type.resolve_nodes(info=info, node_ids=[id.node_id], required=False))
        return next(iter(resolved), None)


@strawberry.type
class Mutation(ComplaintMutations, OrgMutations, DiagnosticsMutations):
    pass


class ComplaintdeskSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_unexpected(error):
                # Logged in full here (with the request id from the logging filter); masked in the response.
                logger.error(
                    "unexpected error at %s: %s",
                    ".".join(str(p) for p in error.path or ()),
                    error.message,
                    exc_info=error.original_error,
                )
            else:
                logger.debug("request error: %s", error.message)


def build_schema(*, development: bool = False) -> strawberry.Schema:
    # Factories: Strawberry builds fresh extensions per request; the parser and validation
    # caches live at module level, so they are shared all the same.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        MaskUnexpectedErrors,
    ]
    if not development:
        extensions.append(DisableIntrospection)
    return ComplaintdeskSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not development),
    )
