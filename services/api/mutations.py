"""The shape the mutations share, written once: a signed-in viewer, one write transaction (authorization first),
the core call, and a refusal (``DomainError``) turned into the payload's ``userErrors``, the transaction rolled
back so that nothing changed. The payload is built after the commit.

``complaints.mutations._step`` (the lifecycle steps) is this with the complaint's ID decoded and authorized, and
the complaint reloaded as the viewer may now see it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.api.authz import require
from services.api.context import Info, Viewer
from services.api.errors import user_error
from services.core.authz import Action
from services.core.errors import DomainError

P = TypeVar("P")
T = TypeVar("T")


async def mutate(
    info: Info,
    payload: Callable[..., P],
    work: Callable[[AsyncSession, Viewer], Awaitable[T]],
    done: Callable[[T], P | Awaitable[P]],
    *,
    action: Action | None = None,
) -> P:
    """Run ``work(session, viewer)`` in one transaction, after ``action`` is authorized (None: ``work`` asks
    itself); ``done(result)`` makes the payload after the commit. A ``DomainError`` (the IDs ``work`` decodes,
    the authorization, the core's rules, the commit) answers ``payload(user_errors=[...])``."""
    ctx = info.context
    viewer = await ctx.require_viewer()
    try:
        async with ctx.transaction() as session:
            if action is not None:
                await require(ctx, session, action)
            result = await work(session, viewer)
    except DomainError as exc:
        return payload(user_errors=[user_error(exc)])
    answer = done(result)
    if inspect.isawaitable(answer):
        return cast(P, await answer)
    return answer
