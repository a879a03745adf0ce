"""Faults of the servers the platform depends on, told apart from bugs.

``unavailable_cause(exc)`` answers ``"postgres"``, ``"redis"`` (``"network"`` for a bare connection error)
when an exception (or one in its chain) says that server cannot be reached or is not serving now: refused or
reset connections, timeouts, a server starting up or shutting down, no connection slot, the pool exhausted.
Anything else is ``None``: a bug or bad data, not an outage. The API answers the former 503
``SERVICE_UNAVAILABLE`` with ``Retry-After``; ``ServiceUnavailable`` is what the core raises itself when it
finds a dependency down (the sign-in throttle without Redis).
"""

from __future__ import annotations

import socket

import asyncpg
import redis.exceptions
import sqlalchemy.exc

from services.core.i18n import N_

UNAVAILABLE_MESSAGE = N_("the service is temporarily unavailable")
RETRY_AFTER_S = 5

# SQLSTATEs of a server that cannot serve now: class 08 (connection exceptions), admin/crash shutdown, "cannot
# connect now" (starting up, shutting down, recovery), too many connections.
_UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}
_POSTGRES_ERRORS = (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError,
                    asyncpg.exceptions.PostgresConnectionError, sqlalchemy.exc.TimeoutError)
_NETWORK_ERRORS = (ConnectionError, TimeoutError, socket.gaierror)


class ServiceUnavailable(Exception):
    """A dependency (``cause``: ``"postgres"``, ``"redis"``) is down; the operation did not happen."""

    def __init__(self, cause: str, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        stack.extend([current.__cause__, current.__context__, getattr(current, "orig", None)])
    return seen


def unavailable_cause(exc: BaseException) -> str | None:
    """``"postgres"``, ``"redis"`` or None (see the module's docstring)."""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, ServiceUnavailable):
            return item.cause
        if isinstance(item, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return "redis"
        if isinstance(item, _POSTGRES_ERRORS):
            return "postgres"
        sqlstate = getattr(item, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES):
            return "postgres"
        if isinstance(item, sqlalchemy.exc.DBAPIError) and item.connection_invalidated:
            return "postgres"
    for item in chain:  # an OS error the driver did not wrap (a unix socket gone: FileNotFoundError)
        if isinstance(item, OSError):
            raised_in = _raised_in(item)
            if raised_in is not None:
                return raised_in
            if isinstance(item, _NETWORK_ERRORS):
                return "network"
    return None


def _raised_in(exc: BaseException) -> str | None:
    """``postgres`` or ``redis`` when ``exc`` was raised inside that server's client library."""
    tb = exc.__traceback__
    found: str | None = None
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith("asyncpg"):
            found = "postgres"
        elif module.startswith("redis"):
            found = "redis"
        tb = tb.tb_next
    return found


# SQLSTATEs of a value PostgreSQL cannot store in text or jsonb: U+0000 (character_not_in_repertoire, and
# untranslatable_character for "\\u0000" inside jsonb).
_UNSTORABLE_SQLSTATES = {"22021", "22P05"}


def unstorable_text(exc: BaseException) -> bool:
    """PostgreSQL refused a string it can never store (a NUL character): the input's fault, not the server's."""
    return any(getattr(item, "sqlstate", None) in _UNSTORABLE_SQLSTATES for item in _chain(exc))
