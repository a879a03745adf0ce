from __future__ import annotations

from datetime import datetime

import strawberry

from services.api.authz import require_query
from services.api.context import Info
from services.api.errors import UserError
from services.api.org.types import parse_uuid
from services.core import queue
from services.core.authz import Action
from services.core.diagnostics import models
from services.core.diagnostics import service as diagnostics
from services.core.queue import Job


@strawberry.type(description="A round trip through the background queue for this tenant")
class WorkerCheck:
    id: strawberry.ID
    requested_at: datetime
    processed_at: datetime | None
    processed_in_schema: strawberry.Private[str | None]

    @strawberry.field(description="True once a worker has processed the check in this tenant")
    def processed(self) -> bool:
        return self.processed_at is not None

    @classmethod
    def from_model(cls, check: models.WorkerCheck) -> WorkerCheck:
        return cls(
            id=strawberry.ID(str(check.id)),
            requested_at=check.requested_at,
            processed_at=check.processed_at,
            processed_in_schema=check.processed_in_schema,
        )


@strawberry.input
class RequestWorkerCheckInput:
    client_mutation_id: str | None = None


@strawberry.type
class RequestWorkerCheckPayload:
    worker_check: WorkerCheck | None = None
    client_mutation_id: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DiagnosticsQueries:
    @strawberry.field(description="A worker check of this tenant, or null")
    async def worker_check(self, info: Info, id: strawberry.ID) -> WorkerCheck | None:
        await require_query(info.context, Action.DIAGNOSTICS_RUN)
        parsed = parse_uuid(str(id))
        if parsed is None:
            return None
        async with info.context.db() as session:
            check = await diagnostics.get_worker_check(session, parsed)
        return WorkerCheck.from_model(check) if check is not None else None


@strawberry.type
class DiagnosticsMutations:
    @strawberry.mutation(description="Ask a background worker to answer for this tenant")
    async def request_worker_check(
        self, info: Info, input: RequestWorkerCheckInput | None = None
    ) -> RequestWorkerCheckPayload:
        await require_query(info.context, Action.DIAGNOSTICS_RUN)
        async with info.context.transaction() as session:
            check = await diagnostics.request_worker_check(session)
        await queue.enqueue(Job.WORKER_CHECK, str(check.id))  # after the commit, so the worker finds the row
        return RequestWorkerCheckPayload(
            worker_check=WorkerCheck.from_model(check),
            client_mutation_id=input.client_mutation_id if input is not None else None,
        )
