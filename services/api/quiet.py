"""Error messages that name nothing the client did not ask about.

graphql-core builds "Did you mean ...?" hints into its validation and coercion messages (unknown fields,
arguments, input fields, enum values and type names), which would list the schema's names to anyone probing
it. Outside development they are left out: graphql-core's own ``hide_suggestions`` switch, passed to
validation (``Validate``, which also caches results like Strawberry's ``ValidationCache``) and to execution
(``ComplaintdeskSchema``: variable values are coerced there).

Strawberry's Date, DateTime and Decimal scalars put the parser's exception text in their errors
(``invalid literal for int() with base 10``); ``SCALARS`` replaces them, in every mode, with the same scalars
giving a fixed message that says what is expected.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import dateutil.parser
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension
from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition, DecimalDefinition
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types.scalar import ScalarDefinition

from services.api.scalars import parse_decimal

VALIDATION_CACHE_SIZE = 256


class _Document:
    """A parsed document as the validation cache's key: equal when the text is (graphql-core's nodes are frozen
    dataclasses that hash their whole tree on every call, ~16 us for the complaints list; a string keeps its hash)."""

    __slots__ = ("document", "text")

    def __init__(self, text: str, document: DocumentNode) -> None:
        self.text, self.document = text, document

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Document) and other.text == self.text


@lru_cache(maxsize=VALIDATION_CACHE_SIZE)
def _validate(schema: GraphQLSchema, document: _Document | DocumentNode,
              rules: tuple[type[ASTValidationRule], ...], hide_suggestions: bool) -> list[GraphQLError]:
    # Strawberry's own rules come last, as in strawberry.schema.schema.validate_document
    node = document.document if isinstance(document, _Document) else document
    return validate(schema, node, (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
                    hide_suggestions=hide_suggestions)


class Validate(SchemaExtension):
    """Validation with graphql-core's suggestions on or off, cached per (document, rules) like ``ValidationCache``
    (the parser cache hands the same document object to repeated queries)."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        self.hide_suggestions = hide_suggestions

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        # the parser cache gives one text its document; a document of no text (none here) is its own key
        key = context.graphql_document if context.query is None else _Document(context.query,
                                                                                  context.graphql_document)
        context.pre_execution_errors = _validate(context.schema._schema, key, tuple(context.validation_rules),
                                                 self.hide_suggestions)
        yield


def _fixed(parser: Callable[[str], object], type_name: str, expected: str,
           exceptions: tuple[type[Exception], ...] = (ValueError, OverflowError),
           accept_non_string: bool = False) -> Callable[[object], object]:
    """A scalar's ``parse_value`` whose errors say what is expected, never why the parser failed."""
    message = f"Expected a value of type {type_name} ({expected})"

    def parse(value: object) -> object:
        if not isinstance(value, str):
            if not accept_non_string:
                raise StrawberryInputCoercionError(message)
            value = str(value)  # as Strawberry's: a number is parsed from its text
        try:
            return parser(value)
        except exceptions:
            raise StrawberryInputCoercionError(message) from None

    return parse


def _with_parser(definition: ScalarDefinition, parse_value: Callable[[object], object]) -> ScalarDefinition:
    return ScalarDefinition(
        name=definition.name, description=definition.description, specified_by_url=definition.specified_by_url,
        serialize=definition.serialize, parse_value=parse_value, parse_literal=definition.parse_literal,
        origin=definition.origin,
    )


SCALARS: dict[Any, ScalarDefinition] = {
    dt.date: _with_parser(DateDefinition, _fixed(dt.date.fromisoformat, "Date", "YYYY-MM-DD")),
    dt.datetime: _with_parser(DateTimeDefinition, _fixed(
        dateutil.parser.isoparse, "DateTime", "ISO 8601, e.g. 2026-09-22T10:00:00+08:00")),
    # finite, at most 30 digits and below 1e30 (services/api/scalars.py); money's scale is the domain's rule
    decimal.Decimal: _with_parser(DecimalDefinition, _fixed(
        parse_decimal, "Decimal", "a decimal number, e.g. 12.50", exceptions=(StrawberryInputCoercionError,),
        accept_non_string=True)),
}
