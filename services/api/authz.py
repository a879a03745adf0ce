"""The API's side of authorization: who the subject is, and the core's ``authorize`` per request."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from services.api.errors import RequestError
from services.core import authz
from services.core.errors import DomainError

if TYPE_CHECKING:
    from services.api.context import Context

_ACCESS = "_complaint_access"


async def subject_of(ctx: Context) -> authz.Subject:
    viewer = await ctx.require_viewer()
    return authz.Subject(user_id=viewer.id, tenant=ctx.tenant.slug)


async def complaint_access(ctx: Context) -> authz.ComplaintAccess:
    """The viewer's complaint filters, computed once per request."""
    cached: authz.ComplaintAccess | None = ctx.__dict__.get(_ACCESS)
    if cached is None:
        viewer = await ctx.require_viewer()
        subject = authz.Subject(user_id=viewer.id, tenant=ctx.tenant.slug)
        async with ctx.db() as session:
            if ctx.policy_version is not None:  # read with the viewer, in this transaction
                cached = await authz.complaint_access(session, subject, version=ctx.policy_version,
                                                      unit=viewer.org_unit_id)
            else:
                cached = await authz.complaint_access(session, subject)
        ctx.__dict__[_ACCESS] = cached
    return cached


async def require(
    ctx: Context, session: AsyncSession, action: authz.Action, complaint_id: uuid.UUID | None = None
) -> None:
    """Inside a transaction: refuse with a DomainError (a userError) unless allowed."""
    await authz.require(session, await subject_of(ctx), action, complaint_id)


async def require_query(ctx: Context, action: authz.Action) -> None:
    """For queries and admin fields: a refusal is a top-level FORBIDDEN error."""
    subject = await subject_of(ctx)
    async with ctx.db() as session:
        try:
            await authz.require(session, subject, action)
        except DomainError as exc:
            raise RequestError(exc.message, "FORBIDDEN") from None
