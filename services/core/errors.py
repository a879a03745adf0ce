"""Domain errors: the codes the API turns into ``userErrors``.

Every refusal of a business rule raises ``DomainError`` with a code from
``ErrorCode``; the caller's transaction is rolled back, so nothing changes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence


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


class DomainError(Exception):
    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None, *,
                 retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None
        self.retry_after_s = retry_after_s  # RATE_LIMITED: when to try again (the API's Retry-After)
