"""Input checks shared by the services: each failure names the input field."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,22}[0-9]$")
_ID_NUMBER = re.compile(r"^[0-9A-Za-z-]{4,32}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(value: str | None, field: str, *, max_length: int, required: bool = False) -> str | None:
    """Trimmed text or None; refuses control characters and over-long values."""
    if value is None or not value.strip():
        if required:
            raise DomainError(ErrorCode.REQUIRED, msg("{field} is required", field=field), [field])
        return None
    cleaned = value.strip()
    if len(cleaned) > max_length:
        raise DomainError(
            ErrorCode.TOO_LONG, msg("{field} is longer than {max_length} characters",
                field=field, max_length=max_length), [field])
    if _CONTROL.search(cleaned):
        raise DomainError(ErrorCode.INVALID, msg("{field} contains control characters", field=field), [field])
    return cleaned


def required_text(value: str | None, field: str, *, max_length: int) -> str:
    cleaned = text(value, field, max_length=max_length, required=True)
    assert cleaned is not None
    return cleaned


def email(value: str | None, field: str) -> str | None:
    cleaned = text(value, field, max_length=254)
    if cleaned is None:
        return None
    if not _EMAIL.fullmatch(cleaned):
        raise DomainError(ErrorCode.INVALID, msg("{field} is not a valid e-mail address", field=field), [field])
    return cleaned.lower()


def phone(value: str | None, field: str) -> str | None:
    cleaned = text(value, field, max_length=32)
    if cleaned is None:
        return None
    if not _PHONE.fullmatch(cleaned) or sum(c.isdigit() for c in cleaned) < 5:
        raise DomainError(ErrorCode.INVALID, msg("{field} is not a valid phone number", field=field), [field])
    return cleaned


def phone_key(value: str | None) -> str | None:
    """Digits only, without China's +86/0086 prefix: what exact lookup compares."""
    if value is None:
        return None
    digits = re.sub(r"\D", "", value)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
    return digits or None


def id_number(value: str | None, field: str) -> str | None:
    cleaned = text(value, field, max_length=32)
    if cleaned is None:
        return None
    compact = cleaned.replace(" ", "")
    if not _ID_NUMBER.fullmatch(compact):
        raise DomainError(
            ErrorCode.INVALID, msg("{field} is not a valid identity document number", field=field), [field])
    return compact.upper()


def email_key(value: str | None) -> str | None:
    """Trimmed and lower-cased: what exact lookup by e-mail compares."""
    return value.strip().lower() or None if value else None


def id_number_key(value: str | None) -> str | None:
    return value.replace(" ", "").replace("-", "").upper() if value else None


def non_negative_int(value: int | None, field: str, *, maximum: int = 1_000_000_000) -> int | None:
    if value is None:
        return None
    if value < 0 or value > maximum:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("{field} must be between 0 and {maximum}",
                field=field, maximum=maximum), [field])
    return value


def money(value: Decimal | None, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        quantized = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise DomainError(ErrorCode.INVALID, msg("{field} is not a valid amount", field=field), [field]) from None
    if quantized < 0 or quantized >= Decimal("1000000000000"):
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("{field} must be between 0 and 999999999999.99", field=field), [field])
    return quantized


def past_date(value: date | None, field: str, *, today: date) -> date | None:
    if value is None:
        return None
    if value.year < 1990 or value > today:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, msg("{field} must be a date between 1990 and today", field=field), [field])
    return value
