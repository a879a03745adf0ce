"""Errors: user errors in payloads, request errors, and masking of everything unexpected."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.relay.types import GlobalIDValueError

from services.core import i18n
from services.core.errors import REQUEST_MESSAGES, UNTRANSLATED, DomainError, ErrorCode, RequestCode
from services.core.faults import UNAVAILABLE_MESSAGE, unavailable_cause
from services.core.i18n import translate
from services.core.logs import request_id_var

logger = logging.getLogger("complaintdesk.api")

# Registers the core's ErrorCode as the GraphQL enum UserErrorCode (the same class).
strawberry.enum(ErrorCode, name="UserErrorCode", description="Why a mutation was refused")

INTERNAL_MESSAGE = REQUEST_MESSAGES[RequestCode.INTERNAL_SERVER_ERROR]
INTERNAL = "INTERNAL_SERVER_ERROR"
UNAVAILABLE = "SERVICE_UNAVAILABLE"


def masked(original: BaseException | None) -> tuple[str, str]:
    """The message and code a client sees for an unexpected error: a dependency that is down says so
    (``SERVICE_UNAVAILABLE``: retry later), anything else is ``INTERNAL_SERVER_ERROR``."""
    if original is not None and unavailable_cause(original) is not None:
        return UNAVAILABLE_MESSAGE, UNAVAILABLE
    return INTERNAL_MESSAGE, INTERNAL


def header_locale(accept_language: str | None) -> str:
    """The language of an answer given before anyone is known (the edge, HTTP-level refusals): what the request's
    ``Accept-Language`` asks for, else the platform's default (zh-CN)."""
    return i18n.from_accept_language(accept_language) or i18n.DEFAULT_LOCALE


def localize(text: str, locale: str) -> str:
    """A top-level error's message in ``locale`` (a text a standard fixes, e.g. ``PersistedQueryNotFound``, and an
    unmarked one, e.g. GraphQL's own validation messages, stay as they are)."""
    if str(text) in UNTRANSLATED:
        return str(text)
    return translate(text, locale)


def localize_errors(errors: Any, locale: str) -> None:
    """The ``message`` of each error of a response body (a list of dicts), in ``locale``; codes unchanged."""
    for error in errors or ():
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            error["message"] = localize(error["message"], locale)


@strawberry.type(description="A business-rule or validation refusal; nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path to the input field at fault, if any")
    text: strawberry.Private[str]
    code: ErrorCode

    def __init__(self, *, field: list[str] | None, message: str, code: ErrorCode) -> None:
        self.field = field
        self.text = message
        self.code = code

    @strawberry.field(description="For a person, in the reader's locale (the code is the same in every language)")
    async def message(self, info: strawberry.Info) -> str:
        return translate(self.text, await info.context.locale())


def user_error(exc: DomainError) -> UserError:
    return UserError(field=exc.field, message=exc.message, code=exc.code)


class RequestError(Exception):
    """An expected, client-facing error outside payloads (e.g. not found on a top-level field)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.text = message  # a marked text (``N_``, ``msg``): translated with the response (services/api/app.py)
        self.extensions = {"code": code}


def is_unexpected(error: GraphQLError) -> bool:
    """True for faults raised while executing a resolver, except our client-facing errors.

    Parse, validation and variable-coercion errors have no path: they describe the
    request, never the server, and are returned as they are.
    """
    if error.path is None:
        return False
    original = error.original_error
    if original is None:
        return False
    return not isinstance(original, (RequestError, GlobalIDValueError))


class MaskUnexpectedErrors(MaskErrors):
    """Strawberry's MaskErrors, limited to unexpected errors, with a code and the request id."""

    def __init__(self, should_mask_error: Callable[[GraphQLError], bool] = is_unexpected) -> None:
        super().__init__(should_mask_error=should_mask_error, error_message=INTERNAL_MESSAGE)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        """As Strawberry's, and when one error of the response is a dependency outage, the response's other
        unexpected errors are its effects (a connection lost under several resolvers at once fails them in ways
        the driver does not always name): all answer ``SERVICE_UNAVAILABLE``, so the client retries."""
        masking = [self.should_mask_error(e) for e in errors]
        outage = any(m and e.original_error is not None and unavailable_cause(e.original_error) is not None
                     for m, e in zip(masking, errors, strict=True))
        return [self._masked(e, outage=outage) if m else e for m, e in zip(masking, errors, strict=True)]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return self._masked(error, outage=False)

    def _process_result(self, result: object) -> None:
        """As Strawberry's, without its ``isinstance`` against a runtime-checkable protocol (``errors``): that check
        reads the protocol's members on every call, several microseconds of every request."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def _masked(self, error: GraphQLError, *, outage: bool) -> GraphQLError:
        message, code = (UNAVAILABLE_MESSAGE, UNAVAILABLE) if outage else masked(error.original_error)
        extensions: dict[str, Any] = {"code": code}
        request_id = request_id_var.get()
        if request_id:
            extensions["requestId"] = request_id
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions=extensions,
        )
