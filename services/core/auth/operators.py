"""Platform operators: their own accounts (``public.operators``), not any tenant's users.

Operators create, suspend and resume tenants. They sign in with a name and a password
(argon2id, throttled like staff sign-in) and get an operator access token: no tenant,
``scope`` "operator", no refresh token.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.core.auth.models import Operator
from services.core.auth.passwords import hash_password_async, validate_password, verify_password_async
from services.core.auth.service import Throttle, invalid_credentials
from services.core.auth.tokens import OPERATOR_NAME, IssuedToken, issue_operator_token
from services.core.db import platform_session
from services.core.errors import DomainError, ErrorCode
from services.core.i18n import N_, msg

logger = logging.getLogger("complaintdesk.auth.operators")

INVALID_OPERATOR_MESSAGE = N_("name or password is wrong")


def validate_operator_name(name: str) -> str:
    if not OPERATOR_NAME.fullmatch(name):
        raise DomainError(
            ErrorCode.INVALID,
            "operator names are 2-64 lower-case letters, digits, '_', '.' or '-', starting with a letter",
            ["name"],
        )
    return name


async def create_operator(name: str, password: str) -> Operator:
    validate_operator_name(name)
    validate_password(password)
    password_hash = await hash_password_async(password)
    async with platform_session() as session:
        try:
            async with session.begin():
                if await session.get(Operator, name) is not None:
                    raise DomainError(ErrorCode.DUPLICATE, msg("operator {name} exists", name=repr(name)), ["name"])
                operator = Operator(name=name, password_hash=password_hash, active=True)
                session.add(operator)
        except IntegrityError:
            raise DomainError(ErrorCode.DUPLICATE, msg("operator {name} exists", name=repr(name)), ["name"]) from None
    return operator


async def set_operator_password(name: str, password: str, *, create: bool = False) -> bool:
    """Set an operator's password (and make it active); with ``create``, add a missing operator.

    Returns True when the operator was created.
    """
    validate_operator_name(name)
    validate_password(password)
    password_hash = await hash_password_async(password)
    async with platform_session() as session, session.begin():
        operator = await session.get(Operator, name, with_for_update=True)
        if operator is None:
            if not create:
                raise DomainError(ErrorCode.NOT_FOUND, msg("operator {name} not found", name=repr(name)), ["name"])
            session.add(Operator(name=name, password_hash=password_hash, active=True))
            return True
        operator.password_hash = password_hash
        operator.active = True
        return False


async def get_active_operator(name: str) -> Operator | None:
    if not OPERATOR_NAME.fullmatch(name):
        return None
    async with platform_session() as session:
        operator = (
            await session.scalars(select(Operator).where(Operator.name == name, Operator.active.is_(True)))
        ).first()
    return operator


async def operator_login(*, redis: Any, name: str, password: str, client: str, now: datetime) -> IssuedToken:
    """An operator access token, or ``INVALID_CREDENTIALS`` / ``RATE_LIMITED``: the same answer for every failure."""
    throttle = Throttle(redis, scope="operator", realm="platform", account=name[:64], client=client)
    await throttle.begin()
    operator = None
    if OPERATOR_NAME.fullmatch(name):
        async with platform_session() as session:
            operator = await session.get(Operator, name)
    verification = await verify_password_async(operator.password_hash if operator is not None else None, password)
    if operator is None or not verification.ok or not operator.active:
        raise invalid_credentials(INVALID_OPERATOR_MESSAGE)
    if verification.new_hash is not None:
        async with platform_session() as session, session.begin():
            current = await session.get(Operator, name, with_for_update=True)
            if current is not None:
                current.password_hash = verification.new_hash
    await throttle.succeeded()
    logger.info("operator sign-in: %s", name)
    return issue_operator_token(name=name, now=now)
