"""DataLoaders, made per request: one statement per loader per page, whatever the page size."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from services.core.accountability import major, repeats, responsibility
from services.core.audit import service as audit
from services.core.audit.models import AuditEvent
from services.core.authz import UNRESTRICTED, ComplaintAccess
from services.core.classification import service as classification
from services.core.complaints import queries as q
from services.core.deadlines import appraisal, extension_requests
from services.core.deadlines import service as deadlines
from services.core.escalation import service as escalation
from services.core.messages import service as customer_messages

K = TypeVar("K")
V = TypeVar("V")

Fetch = Callable[[AsyncSession, Sequence[K]], Awaitable[dict[K, V]]]


@dataclass(frozen=True)
class HistoryKey:
    complaint_id: uuid.UUID
    limit: int
    after_seq: int | None
    newest_first: bool


AccessProvider = Callable[[], Awaitable[ComplaintAccess]]


class Loaders:
    def __init__(self, db: Callable[[], AbstractAsyncContextManager[AsyncSession]],
                 access: AccessProvider | None = None) -> None:
        self._db = db
        self._access = access

    # The load functions close over ``db`` and ``access``, never ``self``: the loaders hold their DataLoaders, so a
    # load function holding the loaders would make a cycle (freed only by the garbage collector, with the loads).
    def _batch(self, fetch: Fetch[Any, Any], default: Callable[[], Any] = lambda: None) -> DataLoader[Any, Any]:
        db = self._db

        async def load(keys: list[Any]) -> list[Any]:
            async with db() as session:
                found = await fetch(session, keys)
            return [found.get(k, default()) for k in keys]

        return DataLoader(load_fn=load)

    @cached_property
    def complaint_by_id(self) -> DataLoader[uuid.UUID, q.ComplaintView | None]:
        """Complaints the viewer may read (others load as None: "not found"), masked as their rights say."""

        db, viewer_access = self._db, self._access

        async def load(keys: list[uuid.UUID]) -> list[q.ComplaintView | None]:
            access = await viewer_access() if viewer_access is not None else UNRESTRICTED
            async with db() as session:
                found = await q.get_complaints(session, keys, read=access.read, identity=access.identity)
            return [found.get(k) for k in keys]

        return DataLoader(load_fn=load)

    @cached_property
    def user_by_id(self) -> DataLoader[uuid.UUID, q.UserRef | None]:
        return self._batch(q.users_by_id)

    @cached_property
    def org_unit_by_id(self) -> DataLoader[uuid.UUID, q.UnitRef | None]:
        return self._batch(q.units_by_id)

    @cached_property
    def classification_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(classification.classifications_for, dict)

    @cached_property
    def investigation_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(q.investigations_for)

    @cached_property
    def transfer_slip_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(q.latest_transfer_slips)

    @cached_property
    def handling_form_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(q.latest_handling_forms)

    @cached_property
    def survey_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(q.latest_surveys)

    @cached_property
    def opinions_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(q.opinions_for, list)

    @cached_property
    def evidence_by_complaint_id(self) -> DataLoader[uuid.UUID, list[q.EvidenceMeta]]:
        return self._batch(q.evidence_for, list)

    @cached_property
    def messages_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(q.messages_for, list)

    @cached_property
    def outgoing_messages_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(customer_messages.messages_for, list)

    @cached_property
    def contact_by_complaint_id(self) -> DataLoader[uuid.UUID, tuple[str | None, str | None]]:
        return self._batch(customer_messages.contacts_for, lambda: (None, None))

    @cached_property
    def deadlines_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(deadlines.deadlines_for, list)

    @cached_property
    def extensions_by_deadline_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(deadlines.extensions_for, list)

    @cached_property
    def extension_requests_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(extension_requests.requests_for, list)

    @cached_property
    def responsibility_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(responsibility.current_for)

    @cached_property
    def repeat_proposal_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(repeats.proposals_for)

    @cached_property
    def major_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(major.majors_for)

    @cached_property
    def extension_request_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(extension_requests.requests_by_id)

    @cached_property
    def appraisal_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        """The open external appraisal of a complaint, or None."""
        return self._batch(appraisal.current_appraisals)

    @cached_property
    def calendar(self) -> DataLoader[str, deadlines.CalendarInfo]:
        """The tenant's working-day calendar, read once per request (load("tenant"))."""

        async def fetch(session: AsyncSession, keys: Sequence[str]) -> dict[str, deadlines.CalendarInfo]:
            info = await deadlines.load_calendar(session)
            return dict.fromkeys(keys, info)

        return self._batch(fetch)

    @cached_property
    def review_by_complaint_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(q.latest_reviews)

    @cached_property
    def escalations_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(escalation.escalations_for, list)

    @cached_property
    def routings_by_complaint_id(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(escalation.routings_for, list)

    @cached_property
    def external_body_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._batch(escalation.bodies_by_id)

    @cached_property
    def event_count_by_complaint_id(self) -> DataLoader[uuid.UUID, int]:
        return self._batch(audit.count_events_for, int)

    @cached_property
    def history_by_key(self) -> DataLoader[HistoryKey, list[AuditEvent]]:
        db = self._db

        async def load(keys: list[HistoryKey]) -> list[list[AuditEvent]]:
            results: dict[HistoryKey, list[AuditEvent]] = {}
            async with db() as session:
                # keys without a cursor and with the same shape share one windowed statement
                groups: dict[tuple[int, bool], list[HistoryKey]] = {}
                for key in keys:
                    if key.after_seq is None:
                        groups.setdefault((key.limit, key.newest_first), []).append(key)
                    else:
                        results[key] = list(
                            await audit.events_for(session, key.complaint_id, limit=key.limit, after_seq=key.after_seq)
                        )
                for (limit, newest_first), members in groups.items():
                    pages = await audit.events_page_for(
                        session, [k.complaint_id for k in members], per_subject=limit, newest_first=newest_first
                    )
                    for key in members:
                        results[key] = pages.get(key.complaint_id, [])
            return [results[k] for k in keys]

        return DataLoader(load_fn=load)
