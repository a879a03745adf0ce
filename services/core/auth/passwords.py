"""Passwords: argon2id hashes (argon2-cffi), a length rule, and a dummy hash for unknown accounts.

Hashing and verifying take a noticeable fraction of a second on purpose; the async
helpers run them in a thread so the event loop keeps serving other requests. An
account that does not exist (or has no password) is verified against a dummy hash,
so the time an answer takes does not tell whether the account exists.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg

MIN_LENGTH = 10
MAX_LENGTH = 1024  # long enough for any passphrase, short enough to refuse a hashing denial of service

_hasher = PasswordHasher()


def validate_password(password: str, field: str = "password") -> str:
    """The password as given, or a ``DomainError`` saying what is wrong with it (never echoing it)."""
    if len(password) < MIN_LENGTH:
        raise DomainError(
            ErrorCode.INVALID, msg("the password must have at least {min_length} characters",
                min_length=MIN_LENGTH), [field])
    if len(password) > MAX_LENGTH:
        raise DomainError(
            ErrorCode.TOO_LONG, msg("the password must have at most {max_length} characters",
                max_length=MAX_LENGTH), [field])
    if not password.strip():
        raise DomainError(ErrorCode.INVALID, "the password must not be blank", [field])
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("complaintdesk-dummy-password-for-timing")


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used older parameters: store this one instead


def verify_password(stored_hash: str | None, password: str) -> Verification:
    """Check ``password`` against ``stored_hash`` (``None``: no account or no password -> always false)."""
    too_long = len(password) > MAX_LENGTH  # never stored, so never right; spend the same time all the same
    target = _dummy_hash() if stored_hash is None or too_long else stored_hash
    try:
        _hasher.verify(target, password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verification(ok=False)
    if stored_hash is None or too_long:
        return Verification(ok=False)
    if _hasher.check_needs_rehash(stored_hash):
        return Verification(ok=True, new_hash=_hasher.hash(password))
    return Verification(ok=True)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> Verification:
    return await asyncio.to_thread(verify_password, stored_hash, password)
