"""Domain errors: the codes the API turns into ``userErrors``.

Every refusal of a business rule raises ``DomainError`` with a code from
``ErrorCode``; the caller's transaction is rolled back, so nothing changes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from services.core.i18n import N_


class ErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    RATE_LIMITED = "RATE_LIMITED"
    NOT_ALLOWED = "NOT_ALLOWED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    KEY_ROTATION_TOO_SOON = "KEY_ROTATION_TOO_SOON"
    SEPARATION_OF_DUTIES = "SEPARATION_OF_DUTIES"
    POLICY_LOCKOUT = "POLICY_LOCKOUT"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 (an error code)
    TENANT_MISMATCH = "TENANT_MISMATCH"


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.INVALID: N_("the value is not valid"),
    ErrorCode.REQUIRED: N_("a value is required"),
    ErrorCode.TOO_LONG: N_("the value is too long"),
    ErrorCode.OUT_OF_RANGE: N_("the value is out of range"),
    ErrorCode.NOT_FOUND: N_("not found"),
    ErrorCode.DUPLICATE: N_("this already exists"),
    ErrorCode.ILLEGAL_TRANSITION: N_("this step is not possible in the complaint's current state"),
    ErrorCode.APPROVAL_REQUIRED: N_("this needs a written approval first"),
    ErrorCode.RATE_LIMITED: N_("too many attempts; try again later"),
    ErrorCode.NOT_ALLOWED: N_("you may not do this"),
    ErrorCode.INVALID_CREDENTIALS: N_("the e-mail address or the password is wrong"),
    ErrorCode.KEY_ROTATION_TOO_SOON: N_("the keys were rotated too recently; try again later"),
    ErrorCode.SEPARATION_OF_DUTIES: N_("someone else must do this step (four eyes)"),
    ErrorCode.POLICY_LOCKOUT: N_("no active user could then change the policies or manage users"),
    ErrorCode.INVALID_TOKEN: N_("the token is not valid"),
    ErrorCode.TENANT_MISMATCH: N_("the token is for another tenant"),
}
"""Each code's general message, in the catalogs: what a refusal says when its raiser gives no message of its own."""


class RequestCode(enum.StrEnum):
    """The ``extensions.code`` of top-level GraphQL errors (and of HTTP-level refusals, in the same shape)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    TENANT_REQUIRED = "TENANT_REQUIRED"
    TENANT_INVALID = "TENANT_INVALID"
    TENANT_NOT_FOUND = "TENANT_NOT_FOUND"
    TENANT_SUSPENDED = "TENANT_SUSPENDED"
    TENANT_MISMATCH = "TENANT_MISMATCH"
    RATE_LIMITED = "RATE_LIMITED"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    BAD_REQUEST = "BAD_REQUEST"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


REQUEST_MESSAGES: dict[RequestCode, str] = {
    RequestCode.UNAUTHENTICATED: N_("sign-in required"),
    RequestCode.FORBIDDEN: N_("you may not do this"),
    RequestCode.TENANT_REQUIRED: N_("a tenant is required"),
    RequestCode.TENANT_INVALID: N_("the tenant's name is not valid"),
    RequestCode.TENANT_NOT_FOUND: N_("unknown tenant"),
    RequestCode.TENANT_SUSPENDED: N_("the tenant is suspended"),
    RequestCode.TENANT_MISMATCH: N_("the access token is for another tenant than the request names"),
    RequestCode.RATE_LIMITED: N_("too many requests: over the request budget; try again later"),
    RequestCode.NOT_FOUND: N_("not found"),
    RequestCode.BAD_USER_INPUT: N_("a value of the request is not valid"),
    RequestCode.BAD_REQUEST: N_("the request is malformed"),
    RequestCode.INTERNAL_SERVER_ERROR: N_("Internal server error"),
    RequestCode.SERVICE_UNAVAILABLE: N_("the service is temporarily unavailable"),
    RequestCode.PAYLOAD_TOO_LARGE: N_("the request body is too large"),
    RequestCode.METHOD_NOT_ALLOWED: N_("GraphQL is served over GET and POST"),
    RequestCode.NOT_ACCEPTABLE: N_("none of the requested media types is available"),
    RequestCode.UNSUPPORTED_MEDIA_TYPE: N_("the request body must be JSON in UTF-8"),
    # Apollo's standard text, which clients match (services/api/documents.py): the same in every language
    RequestCode.PERSISTED_QUERY_NOT_FOUND: "PersistedQueryNotFound",
    RequestCode.PERSISTED_QUERY_NOT_IN_LIST: N_("this tenant accepts registered documents only"),
    RequestCode.IDEMPOTENCY_KEY_IN_USE: N_("a request with this Idempotency-Key is still running"),
    RequestCode.IDEMPOTENCY_KEY_REUSED: N_("this Idempotency-Key was used for a different request"),
}
"""Each top-level code's general message (in the catalogs, but ``PersistedQueryNotFound``, a protocol's text)."""

UNTRANSLATED = frozenset({"PersistedQueryNotFound", "provided sha does not match query"})
"""Texts a standard fixes (Apollo's automatic persisted queries): never translated."""


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str = "", field: Sequence[str] | None = None, *,
                 retry_after_s: int | None = None) -> None:
        message = message or MESSAGES[code]
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None
        self.retry_after_s = retry_after_s  # RATE_LIMITED: when to try again (the API's Retry-After)
