"""One mutation per lifecycle step (names fixed by api.md); each calls one core function.

A refusal is a ``userError`` and the step's transaction is rolled back, so nothing changes.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from services.api.authz import require
from services.api.classification.types import ClassificationInput, decode_classification
from services.api.complaints.types import ComplaintType, EvidenceFile
from services.api.context import Context, Info, Viewer
from services.api.errors import UserError, user_error
from services.api.ids import decode_id, decode_optional
from services.api.messages.types import ContactInput
from services.api.mutations import mutate
from services.api.ratelimit import SUBMIT, RateLimited, hit
from services.core.audit.service import Actor
from services.core.authz import Action
from services.core.complaints import erasure, models, review
from services.core.complaints import service as svc
from services.core.complaints.queries import EvidenceMeta
from services.core.errors import DomainError, ErrorCode
from services.core.messages.service import ContactInput as ContactChoice
from services.core.org.models import CategoryCause


@strawberry.type(description="The complaint after the step, or the reasons it was refused")
class ComplaintPayload:
    complaint: ComplaintType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ComplainantInput:
    name: str
    phone: str | None = None
    email: str | None = None
    id_number: str | None = None
    address: str | None = None


@strawberry.input(description="投诉记录表: everything known when the complaint is received")
class RecordComplaintInput:
    complainant: ComplainantInput
    title: str
    description: str
    channel: models.Channel
    scope: models.Scope = models.Scope.DOMESTIC
    store_id: relay.GlobalID | None = None
    category_id: relay.GlobalID | None = None
    cause: CategoryCause | None = None
    order_number: str | None = None
    material_number: str | None = None
    quantity: int | None = None
    delivery_date: date | None = None
    defective_quantity: int | None = None
    amount: Decimal | None = None
    repeat_of_id: relay.GlobalID | None = strawberry.field(
        default=None, description="the earlier complaint on the same matter (二次投诉)"
    )
    classification: ClassificationInput | None = strawberry.field(
        default=None, description="a code per dimension of the tenant's lists (classificationCodes)")
    preferred_contact: ContactInput | None = strawberry.field(
        default=None, description="how the customer wants to hear from us (default: e-mail if given, else SMS)")


@strawberry.type
class RecordComplaintPayload:
    complaint: ComplaintType | None = None
    access_code: str | None = strawberry.field(
        default=None, description="for the customer's own tracking; shown once, stored only as a hash"
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _complaint_input(i: RecordComplaintInput) -> svc.ComplaintInput:
    p = i.complainant
    return svc.ComplaintInput(
        complainant=svc.ComplainantInput(
            name=p.name, phone=p.phone, email=p.email, id_number=p.id_number, address=p.address
        ),
        title=i.title,
        description=i.description,
        channel=i.channel,
        scope=i.scope,
        store_id=decode_optional(i.store_id, "OrgUnit", "storeId"),
        category_id=decode_optional(i.category_id, "Category", "categoryId"),
        cause=i.cause,
        order_number=i.order_number,
        material_number=i.material_number,
        quantity=i.quantity,
        delivery_date=i.delivery_date,
        defective_quantity=i.defective_quantity,
        amount=i.amount,
        repeat_of_id=decode_optional(i.repeat_of_id, "Complaint", "repeatOfId"),
        classification=decode_classification(i.classification) or None,  # type: ignore[arg-type]
        contact=_contact(i.preferred_contact),
    )


def _contact(c: ContactInput | None) -> ContactChoice | None:
    return None if c is None else ContactChoice(c.channel, c.address, c.locale)


async def _reload(ctx: Context, complaint_id: uuid.UUID) -> ComplaintType | None:
    """The complaint as the viewer may now see it (null if the step took their access away)."""
    ctx.reset_loaders()  # what the step changed must not be served from a loader's cache
    view = await ctx.loaders.complaint_by_id.load(complaint_id)
    return ComplaintType.from_view(view) if view is not None else None


async def _step(
    info: Info,
    complaint_id: relay.GlobalID,
    action: Action,
    step: Callable[..., Awaitable[Any]],
    decoded: Callable[[], dict[str, Any]] | None = None,
    **form: Any,
) -> ComplaintPayload:
    """Authorize ``action`` on the complaint, then run the core step, in one transaction (``mutations.mutate``).

    Every core step is called as ``step(session, actor=, now=, complaint_id=, **form, **decoded())``;
    ``decoded`` turns the input's other global IDs into UUIDs, inside the refusal handling (NOT_FOUND).
    """
    ctx = info.context

    async def work(session: AsyncSession, viewer: Viewer) -> uuid.UUID:
        cid = decode_id(complaint_id, "Complaint", "complaintId")
        await require(ctx, session, action, cid)  # authorization first, then the form's other IDs
        values = {**form, **(decoded() if decoded is not None else {})}
        await step(session, actor=viewer.actor, now=ctx.now(), complaint_id=cid, **values)
        return cid

    async def done(cid: uuid.UUID) -> ComplaintPayload:
        return ComplaintPayload(complaint=await _reload(ctx, cid))

    return await mutate(info, ComplaintPayload, work, done)


@strawberry.input(description="Erase who complained (crypto-shredding): the case and its statistics stay")
class EraseComplainantInput:
    complaint_id: relay.GlobalID
    reason: str = strawberry.field(description="why (a request, a legal ground); kept on the audit trail")
    include_matches: bool = strawberry.field(
        default=False,
        description="also erase every other complainant record with the same phone, e-mail or ID number",
    )


@strawberry.input
class ResolveOnTheSpotInput:
    complaint_id: relay.GlobalID
    resolution: str


@strawberry.input
class StartInvestigationInput:
    complaint_id: relay.GlobalID
    investigator_id: relay.GlobalID | None = strawberry.field(default=None, description="default: you")


@strawberry.input(description="调查表: the findings, and whether the complaint is valid (投诉成立)")
class SubmitInvestigationInput:
    complaint_id: relay.GlobalID
    valid: bool
    findings: str
    cause: CategoryCause | None = None
    category_id: relay.GlobalID | None = None
    order_number: str | None = None
    material_number: str | None = None
    quantity: int | None = None
    delivery_date: date | None = None
    defective_quantity: int | None = None
    amount: Decimal | None = None


@strawberry.input
class AttachEvidenceInput:
    complaint_id: relay.GlobalID
    filename: str
    content_type: str
    content_base64: str = strawberry.field(description="the file, base64-encoded (at most 512 KiB)")
    note: str | None = None


@strawberry.type
class AttachEvidencePayload:
    evidence: EvidenceFile | None = None
    complaint: ComplaintType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="传递单: send the valid complaint to the responsible department")
class AssignResponsibleDepartmentInput:
    complaint_id: relay.GlobalID
    department_id: relay.GlobalID
    instructions: str | None = None


@strawberry.input(description="The department's solution, written up as the handling form for approval")
class ProposeSolutionInput:
    complaint_id: relay.GlobalID
    solution: str
    customer_reply: str = strawberry.field(description="exactly what the customer may be told once approved")
    cause_analysis: str | None = None
    compensation_amount: Decimal | None = None


@strawberry.input(description="向客户返回调查意见: the unfounded complaint's written opinion, for approval")
class ProposeOpinionInput:
    complaint_id: relay.GlobalID
    opinion: str = strawberry.field(description="exactly what the customer may be told once approved")
    cause_analysis: str | None = None


@strawberry.input(description="复核: the customer asks for a review of the decision within the review window. "
                  "Staff send complaintId (signed in); a customer sends number and accessCode (no sign-in)")
class RequestReviewInput:
    reason: str
    complaint_id: relay.GlobalID | None = None
    number: str | None = None
    access_code: str | None = None


@strawberry.type
class RequestReviewPayload:
    complaint: ComplaintType | None = strawberry.field(default=None, description="staff only")
    status: models.ComplaintStatus | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Name the independent reviewer (never one of the case's handlers)")
class AssignReviewerInput:
    complaint_id: relay.GlobalID
    reviewer_id: relay.GlobalID


@strawberry.input(description="The reviewer's answer: UPHELD closes the case, REVISED has it handled again")
class AnswerReviewInput:
    complaint_id: relay.GlobalID
    outcome: models.ReviewOutcome
    answer: str = strawberry.field(description="what the customer is told")


@strawberry.input
class DecideHandlingFormInput:
    complaint_id: relay.GlobalID
    note: str | None = strawberry.field(default=None, description="required when rejecting")


@strawberry.input
class SendCustomerMessageInput:
    complaint_id: relay.GlobalID
    body: str | None = strawberry.field(default=None, description="default: the approved reply")


@strawberry.input(description="客户意见表")
class RecordCustomerOpinionInput:
    complaint_id: relay.GlobalID
    agreed: bool
    comment: str | None = None


@strawberry.input
class CompleteImplementationInput:
    complaint_id: relay.GlobalID
    note: str | None = None


@strawberry.input(description="满意度调查表")
class RecordFollowUpInput:
    complaint_id: relay.GlobalID
    rating: models.Satisfaction
    comment: str | None = None


@strawberry.input
class ReasonInput:
    complaint_id: relay.GlobalID
    reason: str


@strawberry.input(description="An independent review of a case; reviewers must not have handled it")
class ReviewComplaintInput:
    complaint_id: relay.GlobalID
    findings: str


@strawberry.input
class WithdrawComplaintInput:
    complaint_id: relay.GlobalID
    reason: str | None = None


@strawberry.input
class MarkLitigationInput:
    complaint_id: relay.GlobalID
    litigation: bool = True


@strawberry.input
class TransferOwnershipInput:
    complaint_id: relay.GlobalID
    new_owner_id: relay.GlobalID
    reason: str


@strawberry.input(description="A complaint submitted by the customer (no sign-in)")
class SubmitComplaintInput:
    complainant: ComplainantInput
    title: str
    description: str
    channel: models.Channel = models.Channel.WEB
    scope: models.Scope = models.Scope.DOMESTIC
    order_number: str | None = None
    amount: Decimal | None = None
    preferred_contact: ContactInput | None = strawberry.field(
        default=None, description="how you want to hear from us (default: e-mail if given, else SMS)")


@strawberry.type
class SubmitComplaintPayload:
    number: str | None = None
    access_code: str | None = strawberry.field(default=None, description="keep it: it opens your complaint")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class SubmitCustomerOpinionInput:
    number: str
    access_code: str
    agreed: bool
    comment: str | None = None


@strawberry.input
class SubmitSatisfactionSurveyInput:
    number: str
    access_code: str
    rating: models.Satisfaction
    comment: str | None = None


@strawberry.type
class PublicAnswerPayload:
    status: models.ComplaintStatus | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


PUBLIC_CHANNELS = (models.Channel.WEB, models.Channel.APP)
_NOT_FOUND = DomainError(ErrorCode.NOT_FOUND, "no complaint with this number and access code", ["number"])


async def _public_answer(
    info: Info, number: str, access_code: str, answer: Callable[[AsyncSession, uuid.UUID], Awaitable[Any]]
) -> PublicAnswerPayload:
    ctx = info.context
    try:
        await hit(ctx.redis, SUBMIT, tenant=ctx.tenant.slug, client=ctx.client_ip)
        async with ctx.transaction() as session:
            complaint = await svc.complaint_by_access(session, number[:32], access_code[:64])
            if complaint is None:
                raise _NOT_FOUND
            await answer(session, complaint.id)
            status = models.ComplaintStatus(complaint.status)
    except RateLimited as exc:
        ctx.throttled(exc.retry_after_s)
        return PublicAnswerPayload(
            user_errors=[UserError(field=None, message=exc.message, code=ErrorCode.RATE_LIMITED)])
    except DomainError as exc:
        return PublicAnswerPayload(user_errors=[user_error(exc)])
    return PublicAnswerPayload(status=status)


@strawberry.type
class ComplaintMutations:
    @strawberry.mutation(description="接受投诉: record a complaint; you become its owner (首问负责制)")
    async def record_complaint(self, info: Info, input: RecordComplaintInput) -> RecordComplaintPayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            data = _complaint_input(input)
            async with ctx.transaction() as session:
                await require(ctx, session, Action.COMPLAINT_RECORD)
                recorded = await svc.record_complaint(session, actor=viewer.actor, now=ctx.now(), data=data)
        except DomainError as exc:
            return RecordComplaintPayload(user_errors=[user_error(exc)])
        return RecordComplaintPayload(
            complaint=await _reload(ctx, recorded.complaint.id), access_code=recorded.access_code
        )

    @strawberry.mutation(description="Erase the complainant's identity for good (their key is destroyed)")
    async def erase_complainant(self, info: Info, input: EraseComplainantInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.ERASE_COMPLAINANT, erasure.erase_complainant,
                           reason=input.reason, include_matches=input.include_matches)

    @strawberry.mutation(description="Solved at once: closed, and still on record")
    async def resolve_on_the_spot(self, info: Info, input: ResolveOnTheSpotInput) -> ComplaintPayload:
        return await _step(
            info, input.complaint_id, Action.RESOLVE_ON_THE_SPOT, svc.resolve_on_the_spot, resolution=input.resolution
        )

    @strawberry.mutation
    async def start_investigation(self, info: Info, input: StartInvestigationInput) -> ComplaintPayload:
        return await _step(
            info,
            input.complaint_id,
            Action.START_INVESTIGATION,
            svc.start_investigation,
            lambda: {"investigator_id": decode_optional(input.investigator_id, "User", "investigatorId")},
        )

    @strawberry.mutation(description="调查表: valid goes on to a responsible department, else UNFOUNDED")
    async def submit_investigation(self, info: Info, input: SubmitInvestigationInput) -> ComplaintPayload:
        def form() -> dict[str, Any]:
            return {
                "form": svc.InvestigationInput(
                    valid=input.valid,
                    findings=input.findings,
                    cause=input.cause,
                    category_id=decode_optional(input.category_id, "Category", "categoryId"),
                    order_number=input.order_number,
                    material_number=input.material_number,
                    quantity=input.quantity,
                    delivery_date=input.delivery_date,
                    defective_quantity=input.defective_quantity,
                    amount=input.amount,
                )
            }

        return await _step(info, input.complaint_id, Action.SUBMIT_INVESTIGATION, svc.submit_investigation, form)

    @strawberry.mutation(description="Attach an evidence file (who, when and its SHA-256 are recorded)")
    async def attach_evidence(self, info: Info, input: AttachEvidenceInput) -> AttachEvidencePayload:
        ctx = info.context
        viewer = await ctx.require_viewer()
        try:
            cid = decode_id(input.complaint_id, "Complaint", "complaintId")
            try:
                content = base64.b64decode(input.content_base64, validate=True)
            except (binascii.Error, ValueError):
                raise DomainError(ErrorCode.INVALID, "contentBase64 is not valid base64", ["contentBase64"]) from None
            async with ctx.transaction() as session:
                await require(ctx, session, Action.ATTACH_EVIDENCE, cid)
                e = await svc.attach_evidence(
                    session,
                    actor=viewer.actor,
                    now=ctx.now(),
                    complaint_id=cid,
                    filename=input.filename,
                    content_type=input.content_type,
                    content=content,
                    note=input.note,
                )
                meta = EvidenceMeta(
                    e.id,
                    e.complaint_id,
                    e.filename,
                    e.content_type,
                    e.size,
                    e.sha256,
                    e.note,
                    e.uploaded_by,
                    e.uploaded_at,
                )
        except DomainError as exc:
            return AttachEvidencePayload(user_errors=[user_error(exc)])
        return AttachEvidencePayload(evidence=EvidenceFile.from_meta(meta), complaint=await _reload(ctx, cid))

    @strawberry.mutation(description="传递单: send a valid complaint to the responsible department")
    async def assign_responsible_department(
        self, info: Info, input: AssignResponsibleDepartmentInput
    ) -> ComplaintPayload:
        return await _step(
            info,
            input.complaint_id,
            Action.ASSIGN_DEPARTMENT,
            svc.assign_responsible_department,
            lambda: {"department_id": decode_id(input.department_id, "OrgUnit", "departmentId")},
            instructions=input.instructions,
        )

    @strawberry.mutation(description="The department's solution, as a handling form awaiting approval")
    async def propose_solution(self, info: Info, input: ProposeSolutionInput) -> ComplaintPayload:
        return await _step(
            info,
            input.complaint_id,
            Action.PROPOSE_SOLUTION,
            svc.propose_solution,
            solution=input.solution,
            customer_reply=input.customer_reply,
            cause_analysis=input.cause_analysis,
            compensation_amount=input.compensation_amount,
        )

    @strawberry.mutation(description="向客户返回调查意见: write the unfounded complaint's opinion for approval")
    async def propose_opinion(self, info: Info, input: ProposeOpinionInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.PROPOSE_SOLUTION, svc.propose_opinion,
                           opinion=input.opinion, cause_analysis=input.cause_analysis)

    @strawberry.mutation(description="复核: record the customer's request for a review of the decision (staff, "
                         "with complaintId), or ask for it yourself with your number and access code")
    async def request_review(self, info: Info, input: RequestReviewInput) -> RequestReviewPayload:
        ctx = info.context
        if input.complaint_id is not None:
            payload = await _step(info, input.complaint_id, Action.REQUEST_REVIEW, review.request_review,
                                  reason=input.reason)
            return RequestReviewPayload(complaint=payload.complaint, user_errors=payload.user_errors,
                                        status=payload.complaint.status if payload.complaint else None)
        if not input.number or not input.access_code:
            return RequestReviewPayload(user_errors=[UserError(
                field=["complaintId"], message="send complaintId, or number and accessCode",
                code=ErrorCode.REQUIRED)])
        answer = await _public_answer(info, input.number, input.access_code, lambda s, c: review.request_review(
            s, actor=Actor.customer(), now=ctx.now(), complaint_id=c, reason=input.reason,
            source=models.Source.CUSTOMER))
        return RequestReviewPayload(status=answer.status, user_errors=answer.user_errors)

    @strawberry.mutation(description="Name the review's independent reviewer")
    async def assign_reviewer(self, info: Info, input: AssignReviewerInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.ASSIGN_REVIEWER, review.assign_reviewer,
                           lambda: {"reviewer_id": decode_id(input.reviewer_id, "User", "reviewerId")})

    @strawberry.mutation(description="The assigned reviewer answers the review")
    async def answer_review(self, info: Info, input: AnswerReviewInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.ANSWER_REVIEW, review.answer_review,
                           outcome=input.outcome, answer=input.answer)

    @strawberry.mutation(description="Written approval of the handling form")
    async def approve_handling_form(self, info: Info, input: DecideHandlingFormInput) -> ComplaintPayload:
        return await _step(
            info, input.complaint_id, Action.APPROVE, svc.decide_handling_form, approve=True, note=input.note
        )

    @strawberry.mutation(description="Reject the handling form: back to the responsible department")
    async def reject_handling_form(self, info: Info, input: DecideHandlingFormInput) -> ComplaintPayload:
        return await _step(
            info, input.complaint_id, Action.REJECT, svc.decide_handling_form, approve=False, note=input.note
        )

    @strawberry.mutation(description="Tell the customer the approved reply; refused before written approval")
    async def send_customer_message(self, info: Info, input: SendCustomerMessageInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.SEND_MESSAGE, svc.send_customer_message, body=input.body)

    @strawberry.mutation(description="客户意见表: agree (implement) or disagree (back to the department)")
    async def record_customer_opinion(self, info: Info, input: RecordCustomerOpinionInput) -> ComplaintPayload:
        return await _step(
            info,
            input.complaint_id,
            Action.RECORD_OPINION,
            svc.record_customer_opinion,
            agreed=input.agreed,
            comment=input.comment,
        )

    @strawberry.mutation
    async def complete_implementation(self, info: Info, input: CompleteImplementationInput) -> ComplaintPayload:
        return await _step(
            info, input.complaint_id, Action.COMPLETE_IMPLEMENTATION, svc.complete_implementation, note=input.note
        )

    @strawberry.mutation(description="回访: closes when (very) satisfied, otherwise reopens")
    async def record_follow_up(self, info: Info, input: RecordFollowUpInput) -> ComplaintPayload:
        return await _step(
            info,
            input.complaint_id,
            Action.RECORD_FOLLOW_UP,
            svc.record_follow_up,
            rating=input.rating,
            comment=input.comment,
        )

    @strawberry.mutation(description="The customer disputes the outcome: handle it again")
    async def reopen_complaint(self, info: Info, input: ReasonInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.REOPEN, svc.reopen_complaint, reason=input.reason)

    @strawberry.mutation
    async def withdraw_complaint(self, info: Info, input: WithdrawComplaintInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.WITHDRAW, svc.withdraw_complaint, reason=input.reason)

    @strawberry.mutation(description="The case turned into litigation (or no longer is)")
    async def mark_litigation(self, info: Info, input: MarkLitigationInput) -> ComplaintPayload:
        return await _step(
            info, input.complaint_id, Action.MARK_LITIGATION, svc.mark_litigation, litigation=input.litigation
        )

    @strawberry.mutation(description="Hand the case to another owner; recorded")
    async def transfer_ownership(self, info: Info, input: TransferOwnershipInput) -> ComplaintPayload:
        return await _step(
            info,
            input.complaint_id,
            Action.TRANSFER_OWNERSHIP,
            svc.transfer_ownership,
            lambda: {"new_owner_id": decode_id(input.new_owner_id, "User", "newOwnerId")},
            reason=input.reason,
        )

    @strawberry.mutation(description="Record an independent review (not by its handlers or their departments)")
    async def review_complaint(self, info: Info, input: ReviewComplaintInput) -> ComplaintPayload:
        return await _step(info, input.complaint_id, Action.REVIEW, svc.review_complaint, findings=input.findings)

    # ------------------------------------------------------------ public (no sign-in)

    @strawberry.mutation(description="Public: submit a complaint; returns its number and your access code")
    async def submit_complaint(self, info: Info, input: SubmitComplaintInput) -> SubmitComplaintPayload:
        ctx = info.context
        try:
            if input.channel not in PUBLIC_CHANNELS:
                raise DomainError(ErrorCode.INVALID, "channel must be WEB or APP", ["channel"])
            await hit(ctx.redis, SUBMIT, tenant=ctx.tenant.slug, client=ctx.client_ip)
            data = svc.ComplaintInput(
                complainant=svc.ComplainantInput(
                    name=input.complainant.name,
                    phone=input.complainant.phone,
                    email=input.complainant.email,
                    id_number=input.complainant.id_number,
                    address=input.complainant.address,
                ),
                title=input.title,
                description=input.description,
                channel=input.channel,
                scope=input.scope,
                order_number=input.order_number,
                amount=input.amount,
                contact=_contact(input.preferred_contact),
            )
            async with ctx.transaction() as session:
                owner = await svc.intake_owner(session)
                recorded = await svc.record_complaint(
                    session, actor=Actor.customer(), now=ctx.now(), data=data, owner_id=owner.id, require_contact=True
                )
        except RateLimited as exc:
            ctx.throttled(exc.retry_after_s)
            return SubmitComplaintPayload(
                user_errors=[UserError(field=None, message=exc.message, code=ErrorCode.RATE_LIMITED)]
            )
        except DomainError as exc:
            return SubmitComplaintPayload(user_errors=[user_error(exc)])
        return SubmitComplaintPayload(number=recorded.complaint.number, access_code=recorded.access_code)

    @strawberry.mutation(description="Public: agree or not with the proposed solution (客户意见表)")
    async def submit_customer_opinion(self, info: Info, input: SubmitCustomerOpinionInput) -> PublicAnswerPayload:
        ctx = info.context
        return await _public_answer(
            info,
            input.number,
            input.access_code,
            lambda s, c: svc.record_customer_opinion(
                s,
                actor=Actor.customer(),
                now=ctx.now(),
                complaint_id=c,
                agreed=input.agreed,
                comment=input.comment,
                source=models.Source.CUSTOMER,
            ),
        )

    @strawberry.mutation(description="Public: the satisfaction survey (满意度调查表)")
    async def submit_satisfaction_survey(self, info: Info, input: SubmitSatisfactionSurveyInput) -> PublicAnswerPayload:
        ctx = info.context
        return await _public_answer(
            info,
            input.number,
            input.access_code,
            lambda s, c: svc.record_follow_up(
                s,
                actor=Actor.customer(),
                now=ctx.now(),
                complaint_id=c,
                rating=input.rating,
                comment=input.comment,
                source=models.Source.CUSTOMER,
            ),
        )
