"""GraphQL types of the complaint record (names fixed by api.md)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

import strawberry
from strawberry.scalars import JSON

from services.api.accountability.types import MajorComplaintType, RepeatProposalType, ResponsibilityType
from services.api.authz import subject_of
from services.api.classification.types import ComplaintClassification
from services.api.context import Info
from services.api.deadlines.types import Deadline, DeadlineExtensionRequestType, ExternalAppraisal
from services.api.escalation.types import Escalation, Routing
from services.api.loaders import HistoryKey
from services.api.messages.types import ComplaintMessage, PreferredContact
from services.api.nodes import Node, global_id
from services.api.org.types import CategoryType, OrgUnitType, UserType, load_org_unit, load_user, parse_uuid
from services.core.audit.models import AuditEvent as AuditEventModel
from services.core.authz import mask_address, mask_email, mask_id_number, mask_name, mask_phone
from services.core.complaints import actions, models, procedure
from services.core.complaints.queries import (
    MAX_PAGE,
    ComplainantView,
    ComplaintOrder,
    ComplaintView,
    EvidenceMeta,
    Page,
)
from services.core.messages.models import ContactChannel
from services.core.org.models import CategoryCause

ERASED_NAME = "[erased]"

_new_object = object.__new__  # types built once per row of a page fill their instance dict directly (from_view)

strawberry.enum(models.ComplaintStatus, name="ComplaintStatus")
strawberry.enum(models.Channel, name="Channel")
strawberry.enum(models.Scope, name="Scope")
strawberry.enum(models.HandlingFormStatus, name="HandlingFormStatus")
strawberry.enum(models.Satisfaction, name="Satisfaction")
strawberry.enum(models.Source, name="AnswerSource", description="Who recorded a customer's answer")
strawberry.enum(ComplaintOrder, name="ComplaintOrderBy")


# value -> member, for the columns every row of a page converts (a dict look-up, not Enum.__call__)
_STATUSES = {m.value: m for m in models.ComplaintStatus}
_CHANNELS = {m.value: m for m in models.Channel}
_SCOPES = {m.value: m for m in models.Scope}


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="Who the complaint is from; masked unless the viewer may see identity")
class Complainant:
    name: str = strawberry.field(description=f"{ERASED_NAME!r} once the complainant was erased")
    phone: str | None
    email: str | None
    id_number: str | None
    address: str | None
    masked: bool = strawberry.field(description="true when identity fields are masked for this viewer")
    erased: bool = strawberry.field(
        description="true when the complainant was erased (crypto-shredded): their identity is gone for good"
    )

    @classmethod
    def from_view(cls, p: ComplainantView, *, visible: bool) -> Complainant:
        if p.erased:
            return cls(name=ERASED_NAME, phone=None, email=None, id_number=None, address=None, masked=not visible,
                       erased=True)
        v = p.values()  # decrypted once (with the page's other complainants)
        if visible:  # every row of a list for most viewers: the instance dict directly (see ComplaintType)
            obj = _new_object(cls)
            obj.__dict__ = {"name": v.get("name") or "", "phone": v.get("phone"), "email": v.get("email"),
                            "id_number": v.get("id_number"), "address": v.get("address"), "masked": False,
                            "erased": False}
            return obj
        name, phone, email, id_number, address = (v.get("name") or "", v.get("phone"), v.get("email"),
                                                  v.get("id_number"), v.get("address"))
        return cls(
            name=mask_name(name),
            phone=mask_phone(phone) if phone else None,
            email=mask_email(email) if email else None,
            id_number=mask_id_number(id_number) if id_number else None,
            address=mask_address(address) if address else None,
            masked=True, erased=False,
        )


@strawberry.type(description="调查表: the investigation")
class Investigation:
    valid: bool | None
    findings: str | None
    started_at: datetime
    submitted_at: datetime | None
    investigator_id: strawberry.Private[uuid.UUID]
    complaint_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def investigator(self, info: Info) -> UserType | None:
        return await load_user(info, self.investigator_id)

    @strawberry.field(description="Evidence attached to the complaint (who, when, content hash)")
    async def evidence(self, info: Info) -> list[EvidenceFile]:
        return [EvidenceFile.from_meta(m) for m in await info.context.loaders.evidence_by_complaint_id.load(
            self.complaint_id)]


@strawberry.type(description="An evidence file: its content hash is kept in the audit trail")
class EvidenceFile:
    id: strawberry.ID
    filename: str
    content_type: str
    size: int
    sha256: str
    note: str | None
    uploaded_at: datetime
    uploaded_by_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_meta(cls, m: EvidenceMeta) -> EvidenceFile:
        return cls(id=strawberry.ID(str(m.id)), filename=m.filename, content_type=m.content_type, size=m.size,
                   sha256=m.sha256, note=m.note, uploaded_at=m.uploaded_at, uploaded_by_id=m.uploaded_by)

    @strawberry.field
    async def uploaded_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.uploaded_by_id)


@strawberry.type(description="传递单: the transfer slip to the responsible department")
class TransferSlip:
    instructions: str | None
    sent_at: datetime
    answered_at: datetime | None
    department_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def department(self, info: Info) -> OrgUnitType | None:
        return await load_org_unit(info, self.department_id)


@strawberry.type(description="顾客投诉处理表: internal; approved in writing before anything is promised")
class HandlingForm:
    version: int
    kind: models.HandlingFormKind = strawberry.field(
        description="SOLUTION (a valid complaint's handling form) or OPINION (an unfounded complaint's written "
        "investigation opinion); both approved by someone other than the proposer before the customer is told")
    status: models.HandlingFormStatus
    cause_analysis: str | None
    solution: str | None = strawberry.field(description="the solution (null on an OPINION)")
    customer_reply: str = strawberry.field(description="exactly what the customer may be told once approved "
                                           "(on an OPINION: the opinion)")
    compensation_amount: Decimal | None
    proposed_at: datetime
    decided_at: datetime | None
    decision_note: str | None
    proposed_by_id: strawberry.Private[uuid.UUID]
    decided_by_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def proposed_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.proposed_by_id)

    @strawberry.field
    async def decided_by(self, info: Info) -> UserType | None:
        return await load_user(info, self.decided_by_id)


@strawberry.type(description="客户意见表: the customer's answer to the approved solution")
class CustomerOpinion:
    agreed: bool
    comment: str | None
    source: models.Source
    recorded_at: datetime


@strawberry.type(description="满意度调查表, recorded at the follow-up visit")
class SatisfactionSurvey:
    rating: models.Satisfaction
    comment: str | None
    source: models.Source
    recorded_at: datetime


@strawberry.type(description="复核: the customer's request for a review of the decision, and its independent answer")
class Review:
    state: models.ReviewState
    reason: str
    source: models.Source
    requested_at: datetime
    assigned_at: datetime | None
    outcome: models.ReviewOutcome | None
    answer: str | None
    answered_at: datetime | None
    reviewer_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="the independent reviewer (never one of the case's handlers)")
    async def reviewer(self, info: Info) -> UserType | None:
        return await load_user(info, self.reviewer_id)


@strawberry.type(description="A step this viewer may take on the case now (the lifecycle, the case and canI)")
class AvailableAction:
    mutation: str = strawberry.field(description="the mutation that takes the step, e.g. approveHandlingForm")
    action: str = strawberry.field(description="the policy action it needs (as canI takes it)")
    input: str | None = strawberry.field(description="its input type (the form it carries)")
    label: str
    label_zh: str
    next_statuses: list[models.ComplaintStatus] = strawberry.field(
        description="where it may lead (empty: the status stays)")


@strawberry.type(description="What the customer was told, from the approved handling form")
class CustomerMessage:
    body: str
    sent_at: datetime


@strawberry.type(description="A change on the audit trail")
class AuditEvent:
    seq: int
    occurred_at: datetime
    actor: str
    action: str
    from_status: models.ComplaintStatus | None
    to_status: models.ComplaintStatus | None
    changes: JSON
    note: str | None
    hash: str
    prev_hash: str

    @classmethod
    def from_model(cls, e: AuditEventModel) -> AuditEvent:
        return cls(
            seq=e.seq, occurred_at=e.occurred_at, actor=e.actor_label, action=e.action,
            from_status=models.ComplaintStatus(e.from_status) if e.from_status else None,
            to_status=models.ComplaintStatus(e.to_status) if e.to_status else None,
            changes=JSON(e.changes), note=e.note, hash=e.hash, prev_hash=e.prev_hash,
        )


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


def _event_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"event:{seq}".encode()).decode()


def _event_seq(cursor: str) -> int | None:
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        return int(value) if kind == "event" else None
    except (ValueError, UnicodeDecodeError):
        return None


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo
    complaint_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def total_count(self, info: Info) -> int:
        return await info.context.loaders.event_count_by_complaint_id.load(self.complaint_id)


@strawberry.type(name="Complaint")
class ComplaintType(Node):
    number: str
    status: models.ComplaintStatus
    channel: models.Channel
    title: str
    category: CategoryType | None
    cause: CategoryCause | None
    scope: models.Scope
    store: OrgUnitType | None
    owner: UserType
    responsible_department: OrgUnitType | None
    order_number: str | None
    material_number: str | None
    quantity: int | None
    delivery_date: date | None
    defective_quantity: int | None
    amount: Decimal | None
    litigation: bool
    resolved_on_the_spot: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    repeat_of_id: strawberry.Private[uuid.UUID | None]
    uuid: strawberry.Private[uuid.UUID]
    view: strawberry.Private[ComplaintView]

    @strawberry.field(description="The status for a person, in the reader's locale (zh-CN or en)")
    async def status_label(self, info: Info) -> str:
        return await info.context.translate(procedure.status_label(self.status))
    # sealed fields: read from ``view`` (decrypted) only when a query selects them; see _lazy_fields below
    description: str = ""
    complainant: Complainant = strawberry.field(
        default=None, description="Who the complaint is from; masked unless the viewer may see identity"
    )
    resolution: str | None = None

    @classmethod
    def from_view(cls, c: ComplaintView, refs: dict[Any, Any] | None = None) -> ComplaintType:
        """``refs``: the owners, units and categories built for this page so far, by id (a page repeats them)."""
        if refs is None:
            refs = {}
        owner = refs.get(c.owner.id)
        if owner is None:
            owner = refs[c.owner.id] = UserType.from_model(c.owner)
        category = store = department = None
        if c.category is not None:
            category = refs.get(c.category.id)
            if category is None:
                category = refs[c.category.id] = CategoryType.from_model(c.category)
        if c.store is not None:
            store = refs.get(c.store.id)
            if store is None:
                store = refs[c.store.id] = OrgUnitType.from_model(c.store)
        if c.responsible_department is not None:
            department = refs.get(c.responsible_department.id)
            if department is None:
                department = refs[c.responsible_department.id] = OrgUnitType.from_model(c.responsible_department)
        # the fields straight into the instance: the dataclass ``__init__`` (28 keyword arguments, three of them
        # the lazy fields' setters) costs three to four times as much, once per row of a page. Every field but
        # the lazy ones (``_lazy_fields`` below) must be here (test_complaint_list.py reads them all)
        obj = _new_object(cls)
        obj.__dict__ = {
            "id": global_id("Complaint", c.id), "uuid": c.id, "number": c.number, "status": _STATUSES[c.status],
            "channel": _CHANNELS[c.channel], "title": c.title, "view": c,
            "category": category, "cause": CategoryCause(c.cause) if c.cause else None, "scope": _SCOPES[c.scope],
            "store": store, "owner": owner, "responsible_department": department,
            "order_number": c.order_number, "material_number": c.material_number, "quantity": c.quantity,
            "delivery_date": c.delivery_date, "defective_quantity": c.defective_quantity, "amount": c.amount,
            "litigation": c.litigation, "resolved_on_the_spot": c.resolved_on_the_spot,
            "created_at": c.created_at, "updated_at": c.updated_at, "closed_at": c.closed_at,
            "repeat_of_id": c.repeat_of_id,
        }
        return obj

    @strawberry.field(description="How the customer wants to hear from us (null: no usable contact: the owner "
                                  "tells them)")
    async def preferred_contact(self, info: Info) -> PreferredContact | None:
        channel, locale = await info.context.loaders.contact_by_complaint_id.load(self.uuid)
        if channel is None:
            return None
        person = self.view.complainant
        address = None if person.erased else person.values().get("contact")
        visible = self.view.identity_visible
        if address and not visible:
            address = (mask_email(address) if channel == ContactChannel.EMAIL.value else
                       mask_phone(address) if channel in (ContactChannel.SMS.value, ContactChannel.PHONE.value)
                       else mask_address(address))
        return PreferredContact(channel=ContactChannel(channel), address=address,
                                locale=locale or await _tenant_locale(info), masked=not visible)

    @strawberry.field(description="The messages to the customer (acknowledgement, answers, notices, survey) and "
                                  "how each delivery went, oldest first")
    async def messages(self, info: Info) -> list[ComplaintMessage]:
        return [ComplaintMessage.from_model(m)
                for m in await info.context.loaders.outgoing_messages_by_complaint_id.load(self.uuid)]

    @strawberry.field(description="The investigation (调查表), once started")
    async def investigation(self, info: Info) -> Investigation | None:
        i = await info.context.loaders.investigation_by_complaint_id.load(self.uuid)
        if i is None:
            return None
        return Investigation(valid=i.valid, findings=i.findings, started_at=i.started_at,
                             submitted_at=i.submitted_at, investigator_id=i.investigator_id, complaint_id=self.uuid)

    @strawberry.field(description="The current transfer slip (传递单)")
    async def transfer_slip(self, info: Info) -> TransferSlip | None:
        s = await info.context.loaders.transfer_slip_by_complaint_id.load(self.uuid)
        if s is None:
            return None
        return TransferSlip(instructions=s.instructions, sent_at=s.sent_at, answered_at=s.answered_at,
                            department_id=s.department_id)

    @strawberry.field(description="The current handling form (internal; never in the public view)")
    async def handling_form(self, info: Info) -> HandlingForm | None:
        f = await info.context.loaders.handling_form_by_complaint_id.load(self.uuid)
        if f is None:
            return None
        return HandlingForm(
            version=f.version, kind=models.HandlingFormKind(f.kind), status=models.HandlingFormStatus(f.status),
            cause_analysis=f.cause_analysis,
            solution=f.solution, customer_reply=f.customer_reply, compensation_amount=f.compensation_amount,
            proposed_at=f.proposed_at, decided_at=f.decided_at, decision_note=f.decision_note,
            proposed_by_id=f.proposed_by, decided_by_id=f.decided_by,
        )

    @strawberry.field
    async def customer_opinions(self, info: Info) -> list[CustomerOpinion]:
        return [
            CustomerOpinion(agreed=o.agreed, comment=o.comment, source=models.Source(o.source),
                            recorded_at=o.recorded_at)
            for o in await info.context.loaders.opinions_by_complaint_id.load(self.uuid)
        ]

    @strawberry.field(description="The latest satisfaction survey (满意度调查表)")
    async def satisfaction_survey(self, info: Info) -> SatisfactionSurvey | None:
        s = await info.context.loaders.survey_by_complaint_id.load(self.uuid)
        if s is None:
            return None
        return SatisfactionSurvey(rating=models.Satisfaction(s.rating), comment=s.comment,
                                  source=models.Source(s.source), recorded_at=s.recorded_at)

    @strawberry.field
    async def evidence(self, info: Info) -> list[EvidenceFile]:
        return [EvidenceFile.from_meta(m) for m in await info.context.loaders.evidence_by_complaint_id.load(
            self.uuid)]

    @strawberry.field(description="A closed case is archived (seed I step 7): read-only, but for a review request, "
                      "a reopen, an escalation or the litigation flag")
    def archived(self) -> bool:
        return self.status == models.ComplaintStatus.CLOSED

    @strawberry.field(description="The classification: a code per dimension of the tenant's lists")
    async def classification(self, info: Info) -> ComplaintClassification:
        return ComplaintClassification.from_codes(
            await info.context.loaders.classification_by_complaint_id.load(self.uuid))

    @strawberry.field(description="The latest review request (复核) and its answer")
    async def review(self, info: Info) -> Review | None:
        r = await info.context.loaders.review_by_complaint_id.load(self.uuid)
        if r is None:
            return None
        return Review(state=models.ReviewState(r.state), reason=r.reason, source=models.Source(r.source),
                      requested_at=r.requested_at, assigned_at=r.assigned_at,
                      outcome=models.ReviewOutcome(r.outcome) if r.outcome else None, answer=r.answer,
                      answered_at=r.answered_at, reviewer_id=r.reviewer_id)

    @strawberry.field(description="What you may do with this case now: the lifecycle's steps that its state "
                      "allows and your rights and the four-eyes rules permit (draw the buttons from this)")
    async def available_actions(self, info: Info) -> list[AvailableAction]:
        ctx = info.context
        subject = await subject_of(ctx)
        async with ctx.db() as session:
            found = await actions.available_actions(session, subject, self.uuid, ctx.now())
        return [AvailableAction(mutation=s.mutation, action=s.permission, input=s.form, label=s.label_in("en"),
                                label_zh=s.label_zh, next_statuses=list(s.targets)) for s in found or []]

    @strawberry.field
    async def customer_messages(self, info: Info) -> list[CustomerMessage]:
        return [CustomerMessage(body=m.body, sent_at=m.sent_at)
                for m in await info.context.loaders.messages_by_complaint_id.load(self.uuid)]

    @strawberry.field(description="The case's deadlines, oldest first (met, open, paused); batch-loaded per page")
    async def deadlines(self, info: Info) -> list[Deadline]:
        return [Deadline.from_model(d) for d in await info.context.loaders.deadlines_by_complaint_id.load(self.uuid)]

    @strawberry.field(description=(
        "Requests for extensions that need an approval (requestDeadlineExtension), oldest first, pending and "
        "decided; batch-loaded per page"))
    async def extension_requests(self, info: Info) -> list[DeadlineExtensionRequestType]:
        return [DeadlineExtensionRequestType.from_model(x)
                for x in await info.context.loaders.extension_requests_by_complaint_id.load(self.uuid)]

    @strawberry.field(description=(
        "The external appraisal the case waits on (鉴定/评估), while it lasts: the deadlines whose rules name "
        "EXTERNAL_APPRAISAL are paused meanwhile; null when the case is not on appraisal"))
    async def external_appraisal(self, info: Info) -> ExternalAppraisal | None:
        a = await info.context.loaders.appraisal_by_complaint_id.load(self.uuid)
        return ExternalAppraisal.from_model(a) if a is not None else None

    @strawberry.field(description="Re-complaint escalations to external bodies, step by step, with delivery")
    async def escalations(self, info: Info) -> list[Escalation]:
        return [Escalation.from_model(e) for e in await info.context.loaders.escalations_by_complaint_id.load(
            self.uuid)]

    @strawberry.field(description="Where the complaint was routed, or the customer told to go (seed II)")
    async def routings(self, info: Info) -> list[Routing]:
        return [Routing.from_model(r) for r in await info.context.loaders.routings_by_complaint_id.load(self.uuid)]

    @strawberry.field(description="责任归属: the newest responsibility attribution (proposed, or decided by the "
                      "general manager); null before any")
    async def responsibility(self, info: Info) -> ResponsibilityType | None:
        r = await info.context.loaders.responsibility_by_complaint_id.load(self.uuid)
        return ResponsibilityType.from_model(r) if r is not None else None

    @strawberry.field(description="二次投诉: the earlier complaint recording found this one may repeat, and the "
                      "desk's decision; null when none was found")
    async def repeat_proposal(self, info: Info) -> RepeatProposalType | None:
        p = await info.context.loaders.repeat_proposal_by_complaint_id.load(self.uuid)
        return RepeatProposalType.from_model(p) if p is not None else None

    @strawberry.field(description="重大投诉: set when the tenant's criteria flag the complaint, with the regulator "
                      "notification draft")
    async def major_complaint(self, info: Info) -> MajorComplaintType | None:
        m = await info.context.loaders.major_by_complaint_id.load(self.uuid)
        return MajorComplaintType.from_model(m) if m is not None else None

    @strawberry.field(description="The earlier complaint this one repeats (二次投诉)")
    async def repeat_of(self, info: Info) -> ComplaintType | None:
        return await load_complaint(info, self.repeat_of_id)

    @strawberry.field(description="The audit trail of this complaint, oldest first; `last` gives the newest")
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None
    ) -> AuditEventConnection:
        if first is not None and last is not None:
            raise _page_error("pass first or last, not both")
        size = last if last is not None else (first if first is not None else 20)
        if not 1 <= size <= MAX_PAGE:
            raise _page_error(f"first/last must be between 1 and {MAX_PAGE}")
        after_seq = None
        if after is not None:
            after_seq = _event_seq(after)
            if after_seq is None or last is not None:
                raise _page_error("after is not a cursor of this history")
        key = HistoryKey(self.uuid, size + 1, after_seq, newest_first=last is not None)
        events = await info.context.loaders.history_by_key.load(key)
        if last is not None:
            has_more = len(events) > size
            page = events[-size:] if has_more else events
            info_ = PageInfo(has_next_page=False, has_previous_page=has_more,
                             start_cursor=_event_cursor(page[0].seq) if page else None,
                             end_cursor=_event_cursor(page[-1].seq) if page else None)
        else:
            has_more = len(events) > size
            page = events[:size]
            info_ = PageInfo(has_next_page=has_more, has_previous_page=after is not None,
                             start_cursor=_event_cursor(page[0].seq) if page else None,
                             end_cursor=_event_cursor(page[-1].seq) if page else None)
        return AuditEventConnection(
            edges=[AuditEventEdge(cursor=_event_cursor(e.seq), node=AuditEvent.from_model(e)) for e in page],
            page_info=info_, complaint_id=self.uuid,
        )

    @classmethod
    async def resolve_nodes(
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self | None]:
        await info.context.require_viewer()
        parsed = [parse_uuid(n) for n in node_ids]
        views = await info.context.loaders.complaint_by_id.load_many([p for p in parsed if p is not None])
        found = {v.id: v for v in views if v is not None}
        return [cls.from_view(found[p]) if p in found else None for p in parsed]  # type: ignore[misc]


async def _tenant_locale(info: Info) -> str:
    from services.core.messages.service import tenant_locale

    async with info.context.db() as session:
        return await tenant_locale(session)


def _page_error(message: str) -> Exception:
    from services.api.errors import RequestError

    return RequestError(message, "BAD_USER_INPUT")


def _edge_cursor(root: ComplaintEdge) -> str:
    """Encoded only when asked for (most lists page with pageInfo.endCursor)."""
    return root.page.cursor(root.view)


def _lazy_fields(cls: type, **getters: Callable[[Any], Any]) -> None:
    """Turn plain fields into read-only properties over the object's view.

    GraphQL reads a plain field with ``getattr`` (the fast path of ``services.api.execution``), so a property
    is evaluated only for the rows and fields a query selects: the page is built without decrypting anything.
    The dataclass ``__init__`` still assigns the field's default; the setter ignores it.
    """
    for name, getter in getters.items():
        setattr(cls, name, property(getter, lambda self, value: None))


_lazy_fields(
    ComplaintType,
    description=lambda self: self.view.description,
    complainant=lambda self: Complainant.from_view(self.view.complainant, visible=self.view.identity_visible),
    resolution=lambda self: self.view.resolution,
)


@strawberry.type
class ComplaintEdge:
    cursor: str = strawberry.field(resolver=_edge_cursor)
    node: ComplaintType
    page: strawberry.Private[Page]
    view: strawberry.Private[ComplaintView]

    @classmethod
    def of(cls, node: ComplaintType, page: Page, view: ComplaintView) -> ComplaintEdge:
        """``ComplaintEdge(node=..., page=..., view=...)`` at a third of the cost (one per row of a page)."""
        obj = _new_object(cls)
        obj.__dict__ = {"node": node, "page": page, "view": view}
        return obj


@strawberry.type
class ComplaintConnection:
    edges: list[ComplaintEdge]
    page_info: PageInfo
    count: strawberry.Private[Any]

    @strawberry.field(description="All complaints matching the filter")
    async def total_count(self) -> int:
        return int(await self.count())


async def load_complaint(info: Info, complaint_id: uuid.UUID | None) -> ComplaintType | None:
    """The complaint by id through the request's loader, as the viewer may see it, or None."""
    view = await info.context.loaders.complaint_by_id.load(complaint_id) if complaint_id is not None else None
    return ComplaintType.from_view(view) if view is not None else None
