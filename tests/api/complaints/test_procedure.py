"""The procedure as the seeds write it, walked through GraphQL by the templates' real roles (issue: four eyes, the
unfounded answer, the review, referral, return and archive, stores).

Each refusal is asserted with its exact code, and the case is read again to show nothing changed. Tenants are
the test's own (``tenant_of``), so directories and settings never leak between tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conftest import STAFF, TENANT_A, TENANT_B, GraphQLClient
from deadline_cases import SH, at, schema, tenant_of
from helpers import raw_id, rows, scalar
from lifecycle import APPROVE_EXTENSION, EXTEND, REQUEST_EXTENSION, directory, ok, record, step

from services.core.clock import FixedClock

CLOCK_START = datetime(2026, 11, 2, 10, tzinfo=SH)  # Monday

RECEIVER, INVESTIGATOR, DESK = "receiver@test.example", "investigator@test.example", "desk@test.example"
HANDLER, APPROVER, MANAGER = "handler@test.example", "approver@test.example", "manager@test.example"
REVIEWER, ADMIN = "reviewer@test.example", "admin@test.example"

CASE = """
query ($id: ID!) { complaint(id: $id) {
  id number status archived closedAt
  handlingForm { version kind status customerReply proposedBy { email } decidedBy { email } }
  customerMessages { body }
  customerOpinions { agreed source }
  satisfactionSurvey { rating }
  review { state outcome answer reason source reviewer { email } }
  routings { mode body { name } }
  deadlines { kind dueAt metAt cancelledAt }
  availableActions { mutation action input nextStatuses }
} }
"""
TRACK = """
query ($n: String!, $c: String!) { trackComplaint(number: $n, accessCode: $c) {
  status nextStep canGiveOpinion canRequestReview reviewRequestableUntil
  messages { body }
  review { state outcome answer }
  referredTo { name kind contact }
  furtherComplaint { name kind contact }
} }
"""
OPINION = """
mutation ($input: SubmitCustomerOpinionInput!) { submitCustomerOpinion(input: $input) {
  status userErrors { code } } }
"""
REVIEW_PUBLIC = """
mutation ($input: RequestReviewInput!) { requestReview(input: $input) { status userErrors { code field } } }
"""
CAN_I = """
query ($a: String!, $c: ID) { canI(action: $a, complaintId: $c) { allowed reason code rule { role relation } } }
"""
CREATE_USER = """
mutation ($input: CreateUserInput!) { createUser(input: $input) { user { id email } userErrors { code } } }
"""
BODY = """
mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) {
  externalBody { id name } userErrors { code message } } }
"""
REFER = """
mutation ($input: ReferComplaintInput!) { referComplaint(input: $input) {
  complaint { status } routing { mode } userErrors { code field } } }
"""
SETTINGS = """
mutation ($input: UpdateEscalationSettingsInput!) { updateEscalationSettings(input: $input) {
  settings { autoEscalateOnFinalDissatisfaction afterFinalAnswer } userErrors { code } } }
"""


async def case(gql: GraphQLClient, t: str, cid: str, user: str = ADMIN) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(CASE, {"id": cid}, tenant=t, user=user))["complaint"]
    return found


async def audit_count(t: str, cid: str) -> int:
    return int(await scalar(f'SELECT count(*) FROM "{schema(t)}".audit_events WHERE subject_id = :c',
                            c=raw_id(cid)))


async def refused(gql: GraphQLClient, name: str, t: str, user: str, code: str, cid: str, **input_: Any) -> None:
    """The step is refused with ``code``, and the case, its trail and its deadlines are exactly as before."""
    before, events = await case(gql, t, cid), await audit_count(t, cid)
    payload = await step(gql, name, t, user, complaintId=cid, **input_)
    assert [e["code"] for e in payload["userErrors"]] == [code], payload
    assert payload["complaint"] is None
    assert await case(gql, t, cid) == before
    assert await audit_count(t, cid) == events


async def add_user(gql: GraphQLClient, t: str, email: str, roles: list[str], unit: str) -> str:
    units, _ = await directory(gql, t)
    payload = (await gql(CREATE_USER, {"input": {"email": email, "displayName": email.split("@")[0],
                                                 "roles": roles, "orgUnitId": units[unit]}},
                         tenant=t, user=ADMIN))["createUser"]
    assert payload["userErrors"] == [], payload
    return str(payload["user"]["id"])


async def add_body(gql: GraphQLClient, t: str, name: str, kind: str, contact: str, level: int | None = None) -> str:
    payload = (await gql(BODY, {"input": {"name": name, "kind": kind, "contact": contact,
                                          "escalationLevel": level}}, tenant=t, user=ADMIN))["upsertExternalBody"]
    assert payload["userErrors"] == [], payload
    return str(payload["externalBody"]["id"])


async def investigate(gql: GraphQLClient, t: str, cid: str, *, valid: bool) -> dict[str, Any]:
    await ok(gql, "startInvestigation", t, INVESTIGATOR, complaintId=cid)
    return await ok(gql, "submitInvestigation", t, INVESTIGATOR, complaintId=cid, valid=valid,
                    findings="Checked the order and the product.")


async def to_decision(gql: GraphQLClient, t: str, cid: str, department: str) -> None:
    """Investigated, valid, sent to ``department``, solution proposed by its handler and approved."""
    units, _ = await directory(gql, t)
    await investigate(gql, t, cid, valid=True)
    await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=cid, departmentId=units[department])
    await ok(gql, "proposeSolution", t, HANDLER, complaintId=cid, solution="Refund the amount.",
             customerReply="We refund the amount in full.")
    await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)


def mutations(c: dict[str, Any]) -> set[str]:
    return {a["mutation"] for a in c["availableActions"]}


# ---------------------------------------------------------------- retail: seed I steps 1-7


async def test_retail_walk_to_closure_returns_the_survey_and_archives(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "walk")
    units, users = await directory(gql, t)
    c = await record(gql, t, RECEIVER)  # 1 接受投诉: the receiver owns it
    cid = c["id"]
    await to_decision(gql, t, cid, "PROD")  # 2-3 调查, 传递单; the handling form approved in writing
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=cid)  # 4 沟通客户意见
    await ok(gql, "recordCustomerOpinion", t, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", t, HANDLER, complaintId=cid)  # 5 实施
    closed = await ok(gql, "recordFollowUp", t, RECEIVER, complaintId=cid, rating="SATISFIED")  # 6 回访
    assert closed["status"] == "CLOSED"
    # 7 the survey goes back to the responsible department (recorded, its people told) and the case is archived
    survey = await rows(f'SELECT returned_to_department_id, returned_at FROM "{schema(t)}".satisfaction_surveys')
    assert [str(s.returned_to_department_id) for s in survey] == [str(raw_id(units["PROD"]))]
    assert survey[0].returned_at is not None
    told = await rows(f'SELECT target FROM "{schema(t)}".outbox o JOIN "{schema(t)}".audit_events e '
                      "ON o.idempotency_key LIKE 'handoff:event-' || e.seq || ':notify:%' "
                      "WHERE e.action = 'record_follow_up' ORDER BY target")
    production = [u.id for u in await rows(f'SELECT id FROM "{schema(t)}".users WHERE org_unit_id = :u AND active',
                                            u=raw_id(units["PROD"]))]
    assert sorted(r.target for r in told) == sorted(f"user:{u}" for u in production) and production
    after = await case(gql, t, cid)
    assert after["archived"] is True
    # archived: read-only (evidence, ownership, withdrawal refused; nothing changes) ...
    await refused(gql, "withdrawComplaint", t, RECEIVER, "ILLEGAL_TRANSITION", cid)
    await refused(gql, "transferOwnership", t, MANAGER, "ILLEGAL_TRANSITION", cid, newOwnerId=users[DESK],
                  reason="Holiday")
    attach = await gql("""mutation ($input: AttachEvidenceInput!) { attachEvidence(input: $input) {
        userErrors { code } } }""", {"input": {"complaintId": cid, "filename": "late.txt", "contentType": "text/plain",
                                               "contentBase64": "bGF0ZQ=="}}, tenant=t, user=RECEIVER)
    assert [e["code"] for e in attach["attachEvidence"]["userErrors"]] == ["ILLEGAL_TRANSITION"]
    assert await case(gql, t, cid) == after
    # ... except what the rules allow after a final answer: a reopen by the owner
    assert "reopenComplaint" in mutations(await case(gql, t, cid, RECEIVER))
    reopened = await ok(gql, "reopenComplaint", t, RECEIVER, complaintId=cid, reason="The kettle leaks again.")
    assert reopened["status"] == "REOPENED"
    assert (await case(gql, t, cid))["archived"] is False


async def test_retail_unfounded_opinion_is_approved_relayed_and_disputed(gql: GraphQLClient,
                                                                        clock: FixedClock) -> None:
    t = await tenant_of("retail", "unfounded")
    c = await record(gql, t, RECEIVER)
    cid, number, code = c["id"], c["number"], c["accessCode"]
    assert (await investigate(gql, t, cid, valid=False))["status"] == "UNFOUNDED"
    # nothing is told before the written opinion is approved: the owner's policy needs it approved, and the core
    # refuses even a role the tenant allowed everything
    await refused(gql, "sendCustomerMessage", t, RECEIVER, "NOT_ALLOWED", cid)
    await refused(gql, "sendCustomerMessage", t, "all@test.example", "APPROVAL_REQUIRED", cid)
    written = await ok(gql, "proposeOpinion", t, DESK, complaintId=cid,
                       opinion="The product met its specification; the marks come from use.")
    assert written["status"] == "UNFOUNDED"
    form = (await case(gql, t, cid))["handlingForm"]
    assert (form["kind"], form["status"], form["proposedBy"]["email"]) == ("OPINION", "PENDING_APPROVAL", DESK)
    await refused(gql, "sendCustomerMessage", t, "all@test.example", "APPROVAL_REQUIRED", cid)
    await refused(gql, "proposeOpinion", t, DESK, "ILLEGAL_TRANSITION", cid, opinion="Again")
    # the public page shows nothing of the draft
    tracked = (await gql(TRACK, {"n": number, "c": code}, tenant=t, user=None))["trackComplaint"]
    assert (tracked["messages"], tracked["canGiveOpinion"]) == ([], False)
    await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)
    approved = await case(gql, t, cid)
    assert (approved["status"], approved["handlingForm"]["status"]) == ("UNFOUNDED", "APPROVED")
    # relayed by the owner only as approved
    await refused(gql, "sendCustomerMessage", t, RECEIVER, "APPROVAL_REQUIRED", cid, body="Something else")
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=cid)
    tracked = (await gql(TRACK, {"n": number, "c": code}, tenant=t, user=None))["trackComplaint"]
    assert tracked["messages"] == [{"body": "The product met its specification; the marks come from use."}]
    assert tracked["canGiveOpinion"] is True and tracked["status"] == "UNFOUNDED"
    # the customer disputes it: investigated again
    answer = (await gql(OPINION, {"input": {"number": number, "accessCode": code, "agreed": False,
                                            "comment": "I did not drop it"}}, tenant=t, user=None))
    assert answer["submitCustomerOpinion"] == {"status": "REOPENED", "userErrors": []}
    again = await case(gql, t, cid)
    assert again["customerOpinions"] == [{"agreed": False, "source": "CUSTOMER"}]
    assert "startInvestigation" in mutations(await case(gql, t, cid, INVESTIGATOR))
    await ok(gql, "startInvestigation", t, INVESTIGATOR, complaintId=cid)


async def test_unfounded_customer_who_agrees_closes_the_case(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "unfounded-agree")
    cid = (await record(gql, t, RECEIVER))["id"]
    await investigate(gql, t, cid, valid=False)
    await refused(gql, "recordCustomerOpinion", t, RECEIVER, "ILLEGAL_TRANSITION", cid, agreed=True)  # not told yet
    await ok(gql, "proposeOpinion", t, DESK, complaintId=cid, opinion="Not a defect.")
    await ok(gql, "rejectHandlingForm", t, APPROVER, complaintId=cid, note="Explain the test result")
    assert (await case(gql, t, cid))["handlingForm"]["status"] == "REJECTED"
    await ok(gql, "proposeOpinion", t, DESK, complaintId=cid, opinion="Not a defect: the lab found no crack.")
    await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=cid)
    closed = await ok(gql, "recordCustomerOpinion", t, RECEIVER, complaintId=cid, agreed=True)
    assert closed["status"] == "CLOSED"


# ---------------------------------------------------------------- four eyes on the person


async def test_four_eyes_whatever_roles_and_canI_names_the_rule(gql: GraphQLClient, clock: FixedClock) -> None:
    for template, department in (("retail", "PROD"), ("bank", "CARD")):
        t = await tenant_of(template, "four-eyes")
        units, _ = await directory(gql, t)
        both = f"desk-approver-{template}@test.example"
        await add_user(gql, t, both, ["complaint_desk", "approver"], "MKT" if template == "retail" else "CP")
        cid = (await record(gql, t, RECEIVER))["id"]
        await investigate(gql, t, cid, valid=True)
        await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=cid, departmentId=units[department])
        await ok(gql, "proposeSolution", t, both, complaintId=cid, solution="Refund.", customerReply="We refund.")
        # the policy allows it (both roles), the person rule does not
        verdict = (await gql(CAN_I, {"a": "complaint.approve", "c": cid}, tenant=t, user=both))["canI"]
        assert (verdict["allowed"], verdict["code"], verdict["rule"]) == (False, "SEPARATION_OF_DUTIES", None)
        assert "four eyes" in verdict["reason"]
        assert not {"approveHandlingForm", "rejectHandlingForm"} & mutations(await case(gql, t, cid, both))
        await refused(gql, "approveHandlingForm", t, both, "SEPARATION_OF_DUTIES", cid)
        await refused(gql, "rejectHandlingForm", t, both, "SEPARATION_OF_DUTIES", cid, note="No")
        # someone else with the same rights may
        other = (await gql(CAN_I, {"a": "complaint.approve", "c": cid}, tenant=t, user=APPROVER))["canI"]
        assert (other["allowed"], other["code"], other["rule"]["role"]) == (True, None, "approver")
        assert "approveHandlingForm" in mutations(await case(gql, t, cid, APPROVER))
        await ok(gql, "approveHandlingForm", t, APPROVER, complaintId=cid)


async def test_four_eyes_cannot_be_switched_off_by_policy(gql: GraphQLClient, clock: FixedClock) -> None:
    """A tenant admin's policy that allows everything to everyone changes nothing about the person rules."""
    t = await tenant_of("retail", "four-eyes-policy")
    cid = (await record(gql, t))["id"]  # the all-rights user records and handles everything
    await ok(gql, "startInvestigation", t, "all@test.example", complaintId=cid)
    review = await step(gql, "reviewComplaint", t, "all@test.example", complaintId=cid, findings="Fine")
    assert [e["code"] for e in review["userErrors"]] == ["SEPARATION_OF_DUTIES"]
    assert (await step(gql, "reviewComplaint", t, "all2@test.example", complaintId=cid,
                       findings="Fine"))["userErrors"] == []


# ---------------------------------------------------------------- bank: review (复核) and re-complaint


async def test_bank_review_by_the_customer_and_an_independent_reviewer(gql: GraphQLClient,
                                                                      clock: FixedClock) -> None:
    t = await tenant_of("bank", "review")
    _, users = await directory(gql, t)
    await add_body(gql, t, "银行业协会 Banking Association", "INDUSTRY_ASSOCIATION", "hotline 12378-1", level=1)
    await add_body(gql, t, "金融监管局 Regulator", "REGULATOR", "hotline 12378", level=2)
    c = await record(gql, t, RECEIVER)
    cid, number, code = c["id"], c["number"], c["accessCode"]
    # the decision's two extensions: the first (a complex case) by the desk, the second asked for and approved
    first = (await gql(EXTEND, {"input": {"complaintId": cid, "reason": "Needs the card network's records",
                                          "complex": True}}, tenant=t, user=DESK))["extendDeadline"]
    assert first["userErrors"] == [] and first["deadline"]["extensionCount"] == 1
    asked = (await gql(REQUEST_EXTENSION, {"input": {"complaintId": cid, "reason": "Awaiting the court",
                                                     "complex": True}}, tenant=t,
                       user=DESK))["requestDeadlineExtension"]
    assert asked["userErrors"] == [] and asked["extensionRequest"]["state"] == "PENDING"
    assert "approveDeadlineExtension" in mutations(await case(gql, t, cid, APPROVER))
    approved = (await gql(APPROVE_EXTENSION, {"input": {"requestId": asked["extensionRequest"]["id"]}}, tenant=t,
                          user=APPROVER))["approveDeadlineExtension"]
    assert approved["userErrors"] == [] and approved["extensionRequest"]["decidedBy"]["email"] == APPROVER
    await to_decision(gql, t, cid, "CARD")
    tracked = (await gql(TRACK, {"n": number, "c": code}, tenant=t, user=None))["trackComplaint"]
    assert tracked["canRequestReview"] is False  # not told the decision yet
    clock.at = at(2026, 11, 4)
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=cid)  # the decision, told
    tracked = (await gql(TRACK, {"n": number, "c": code}, tenant=t, user=None))["trackComplaint"]
    assert tracked["canRequestReview"] is True
    # 30 days from the decision: Dec 4 ends the window (the end of the day in Shanghai)
    assert tracked["reviewRequestableUntil"].startswith("2026-12-04")
    clock.at = at(2026, 11, 10)
    asked = (await gql(REVIEW_PUBLIC, {"input": {"number": number, "accessCode": code,
                                                 "reason": "The fee was not explained to me."}},
                       tenant=t, user=None))["requestReview"]
    assert asked == {"status": "UNDER_REVIEW", "userErrors": []}
    again = (await gql(REVIEW_PUBLIC, {"input": {"number": number, "accessCode": code, "reason": "Twice"}},
                       tenant=t, user=None))["requestReview"]
    assert [e["code"] for e in again["userErrors"]] == ["ILLEGAL_TRANSITION"]
    under = await case(gql, t, cid)
    assert (under["review"]["state"], under["review"]["source"]) == ("REQUESTED", "CUSTOMER")
    d = {x["kind"]: x for x in under["deadlines"] if x["metAt"] is None and x["cancelledAt"] is None}
    assert d["REVIEW"]["dueAt"].startswith("2026-12-10")  # its own 30 days from the request
    # independence: whoever handled the case may not review it (the approver of the decision, the owner)
    for handler in (APPROVER, RECEIVER):
        await refused(gql, "assignReviewer", t, DESK, "SEPARATION_OF_DUTIES", cid, reviewerId=users[handler])
    await ok(gql, "assignReviewer", t, DESK, complaintId=cid, reviewerId=users[REVIEWER])
    assert "answerReview" in mutations(await case(gql, t, cid, REVIEWER))
    assert "answerReview" not in mutations(await case(gql, t, cid, MANAGER))  # not the assigned reviewer
    await refused(gql, "answerReview", t, MANAGER, "NOT_ALLOWED", cid, outcome="UPHELD", answer="Stands.")
    clock.at = at(2026, 11, 20)
    closed = await ok(gql, "answerReview", t, REVIEWER, complaintId=cid, outcome="UPHELD",
                      answer="The fee follows the card agreement, clause 7; the decision stands.")
    assert closed["status"] == "CLOSED"
    answered = await case(gql, t, cid)
    assert (answered["review"]["state"], answered["review"]["outcome"],
            answered["review"]["reviewer"]["email"]) == ("ANSWERED", "UPHELD", REVIEWER)
    review_deadline = next(x for x in answered["deadlines"] if x["kind"] == "REVIEW")
    assert review_deadline["metAt"] is not None
    # what follows is the tenant's setting (bank: guide and forward): the customer is told where to go ...
    tracked = (await gql(TRACK, {"n": number, "c": code}, tenant=t, user=None))["trackComplaint"]
    assert tracked["review"]["answer"].startswith("The fee follows the card agreement")
    assert [(b["name"], b["contact"]) for b in tracked["furtherComplaint"]] == [
        ("银行业协会 Banking Association", "hotline 12378-1"), ("金融监管局 Regulator", "hotline 12378")]
    notices = await rows(f'SELECT kind FROM "{schema(t)}".customer_notices ORDER BY created_at, kind')
    assert [n.kind for n in notices] == ["DEADLINE_EXTENDED", "DEADLINE_EXTENDED", "RECOMPLAINT_GUIDANCE",
                                         "REVIEW_ANSWERED"]
    # ... and the dossier forwarded: no body has a webhook here, so the owner is told it was not possible
    told = await rows(f'SELECT idempotency_key FROM "{schema(t)}".outbox WHERE idempotency_key LIKE :k',
                      k="auto-escalation-refused:review:%")
    assert len(told) == 1


async def test_bank_dissatisfied_follow_up_waits_for_the_review(gql: GraphQLClient, clock: FixedClock) -> None:
    """A dissatisfied follow-up no longer forwards at once while a review can still be asked for, and opens no
    REVIEW deadline: only a review request does."""
    t = await tenant_of("bank", "follow-up")
    await add_body(gql, t, "银行业协会 Banking Association", "INDUSTRY_ASSOCIATION", "12378", level=1)
    cid = (await record(gql, t, RECEIVER))["id"]
    await to_decision(gql, t, cid, "CARD")
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=cid)
    await ok(gql, "recordCustomerOpinion", t, RECEIVER, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", t, HANDLER, complaintId=cid)
    reopened = await ok(gql, "recordFollowUp", t, RECEIVER, complaintId=cid, rating="DISSATISFIED")
    assert reopened["status"] == "REOPENED"
    after = await case(gql, t, cid)
    assert not any(x["kind"] == "REVIEW" for x in after["deadlines"])
    assert await scalar(f'SELECT count(*) FROM "{schema(t)}".escalations') == 0
    assert "requestReview" in mutations(await case(gql, t, cid, RECEIVER))
    await ok(gql, "requestReview", t, RECEIVER, complaintId=cid, reason="Still unhappy with the fee.")
    assert any(x["kind"] == "REVIEW" for x in (await case(gql, t, cid))["deadlines"])


async def test_review_refused_outside_its_window_and_in_retail(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("bank", "review-late")
    c = await record(gql, t, RECEIVER)
    await to_decision(gql, t, c["id"], "CARD")
    await ok(gql, "sendCustomerMessage", t, RECEIVER, complaintId=c["id"])
    clock.at = at(2026, 12, 5)  # the window (30 days from Nov 2) ended on Dec 2
    await refused(gql, "requestReview", t, RECEIVER, "ILLEGAL_TRANSITION", c["id"], reason="Late")
    late = (await gql(REVIEW_PUBLIC, {"input": {"number": c["number"], "accessCode": c["accessCode"],
                                                "reason": "Late"}}, tenant=t, user=None))["requestReview"]
    assert [e["code"] for e in late["userErrors"]] == ["ILLEGAL_TRANSITION"]
    # retail has no review window: a disagreeing customer goes back to the department instead
    r = await tenant_of("retail", "review")
    rc = await record(gql, r, RECEIVER)
    await to_decision(gql, r, rc["id"], "PROD")
    await ok(gql, "sendCustomerMessage", r, RECEIVER, complaintId=rc["id"])
    await refused(gql, "requestReview", r, DESK, "ILLEGAL_TRANSITION", rc["id"], reason="Please review")
    assert (await ok(gql, "recordCustomerOpinion", r, RECEIVER, complaintId=rc["id"],
                     agreed=False))["status"] == "ASSIGNED"
    # a wrong access code looks like no complaint; a number of the other tenant too
    wrong = (await gql(REVIEW_PUBLIC, {"input": {"number": c["number"], "accessCode": "WRONGCODE234",
                                                 "reason": "x"}}, tenant=t, user=None))["requestReview"]
    assert [e["code"] for e in wrong["userErrors"]] == ["NOT_FOUND"]
    other = (await gql(REVIEW_PUBLIC, {"input": {"number": c["number"], "accessCode": c["accessCode"],
                                                 "reason": "x"}}, tenant=TENANT_B, user=None))["requestReview"]
    assert [e["code"] for e in other["userErrors"]] == ["NOT_FOUND"]


# ---------------------------------------------------------------- referral (seed II)


async def test_referral_ends_the_case_as_referred(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "referral")
    body = await add_body(gql, t, "卫生健康委员会 Health Commission", "HEALTH_ADMINISTRATION", "12320")
    c = await record(gql, t, RECEIVER, title="The hospital overcharged me")
    cid = c["id"]
    wrong = (await gql(REFER, {"input": {"complaintId": cid, "externalBodyId": body}}, tenant=t,
                       user=INVESTIGATOR))["referComplaint"]
    assert [e["code"] for e in wrong["userErrors"]] == ["NOT_ALLOWED"]
    done = (await gql(REFER, {"input": {"complaintId": cid, "externalBodyId": body, "note": "Hospital charges"}},
                      tenant=t, user=RECEIVER))["referComplaint"]
    assert done == {"complaint": {"status": "REFERRED"}, "routing": {"mode": "REFERRED"}, "userErrors": []}
    referred = await case(gql, t, cid)
    open_deadlines = [x for x in referred["deadlines"] if x["metAt"] is None and x["cancelledAt"] is None]
    assert open_deadlines == []  # the company's obligations end with the referral
    assert referred["availableActions"] == []  # (the admin's view: a referred case is over)
    tracked = (await gql(TRACK, {"n": c["number"], "c": c["accessCode"]}, tenant=t, user=None))["trackComplaint"]
    assert tracked["status"] == "REFERRED"
    assert tracked["referredTo"] == {"name": "卫生健康委员会 Health Commission", "kind": "HEALTH_ADMINISTRATION",
                                     "contact": "12320"}
    notice = await rows(f'SELECT kind FROM "{schema(t)}".customer_notices WHERE complaint_id = :c',
                        c=raw_id(cid))
    assert [n.kind for n in notice] == ["REFERRED"]
    await refused(gql, "withdrawComplaint", t, RECEIVER, "ILLEGAL_TRANSITION", cid)
    # counted apart from withdrawn ones
    listed = await gql('query { complaints(filter: {status: [REFERRED]}) { totalCount } }', tenant=t, user=ADMIN)
    assert listed["complaints"]["totalCount"] == 1
    # routeComplaint cannot make a referral without ending the case
    other = (await record(gql, t, RECEIVER))["id"]
    routed = await gql("""mutation ($input: RouteComplaintInput!) { routeComplaint(input: $input) {
        userErrors { code field } } }""", {"input": {"complaintId": other, "externalBodyId": body,
                                                     "mode": "REFERRED"}}, tenant=t, user=RECEIVER)
    assert routed["routeComplaint"]["userErrors"] == [{"code": "INVALID", "field": ["mode"]}]


# ---------------------------------------------------------------- stores


async def test_store_manager_records_for_the_store_and_owns_after_a_transfer(gql: GraphQLClient,
                                                                            clock: FixedClock) -> None:
    t = await tenant_of("retail", "stores")
    units, _ = await directory(gql, t)
    store_manager = "store-manager@test.example"
    sm_id = await add_user(gql, t, store_manager, ["store_manager"], "ST-001")
    book = await record(gql, t, store_manager, channel="OPINION_BOOK", storeId=units["ST-001"],
                        title="Entry 12 of the opinion book")
    assert book["owner"]["email"] == store_manager
    cid = (await record(gql, t, RECEIVER, storeId=units["ST-001"]))["id"]
    await to_decision(gql, t, cid, "PROD")
    await refused(gql, "sendCustomerMessage", t, store_manager, "NOT_ALLOWED", cid)  # not the owner (yet)
    await ok(gql, "transferOwnership", t, store_manager, complaintId=cid, newOwnerId=sm_id,
             reason="The store manager follows this case")
    assert "sendCustomerMessage" in mutations(await case(gql, t, cid, store_manager))
    await ok(gql, "sendCustomerMessage", t, store_manager, complaintId=cid)
    await ok(gql, "recordCustomerOpinion", t, store_manager, complaintId=cid, agreed=True)
    await ok(gql, "completeImplementation", t, HANDLER, complaintId=cid)
    closed = await ok(gql, "recordFollowUp", t, store_manager, complaintId=cid, rating="VERY_SATISFIED")
    assert closed["status"] == "CLOSED"


# ---------------------------------------------------------------- availableActions and canI


# what each status allows, written here from the procedure (not read from the code's table)
BY_STATUS = {
    "RECEIVED": {"resolveOnTheSpot", "startInvestigation", "withdrawComplaint", "referComplaint", "routeComplaint",
                 "attachEvidence", "markLitigation", "transferOwnership", "extendDeadline",
                 "startExternalAppraisal", "reviewComplaint", "requestDeadlineExtension"},
    "SOLUTION_PROPOSED": {"approveHandlingForm", "rejectHandlingForm", "sendCustomerMessage", "withdrawComplaint",
                          "referComplaint", "routeComplaint", "attachEvidence", "markLitigation",
                          "transferOwnership", "extendDeadline", "startExternalAppraisal", "reviewComplaint",
                          "requestDeadlineExtension"},
    "CLOSED": {"reopenComplaint", "escalateComplaint", "markLitigation", "reviewComplaint", "requestReview"},
}
# issue 16: a group or media mark on any case not ended; responsibility once the investigation found the case
# valid; a repeat proposal decided wherever recording found one (below, read from the database)
ACCOUNTABILITY = {
    "RECEIVED": {"markComplaintAttention", "confirmRepeat"},
    "SOLUTION_PROPOSED": {"markComplaintAttention", "confirmRepeat", "proposeResponsibility"},
    "CLOSED": {"markComplaintAttention", "confirmRepeat"},
}
for _status, _steps in ACCOUNTABILITY.items():
    BY_STATUS[_status] |= _steps
# issue 15: the classification of any case not withdrawn or referred elsewhere may be set or corrected
for _status in BY_STATUS:
    BY_STATUS[_status] |= {"classifyComplaint"}
PERMISSION = {
    "resolveOnTheSpot": "complaint.resolve_on_the_spot", "startInvestigation": "complaint.start_investigation",
    "withdrawComplaint": "complaint.withdraw", "referComplaint": "complaint.route",
    "routeComplaint": "complaint.route", "attachEvidence": "complaint.attach_evidence",
    "markLitigation": "complaint.mark_litigation", "transferOwnership": "complaint.transfer_ownership",
    "extendDeadline": "complaint.extend_deadline", "startExternalAppraisal": "complaint.extend_deadline",
    "reviewComplaint": "complaint.review", "approveHandlingForm": "complaint.approve",
    "rejectHandlingForm": "complaint.reject", "sendCustomerMessage": "complaint.send_message",
    "reopenComplaint": "complaint.reopen", "escalateComplaint": "complaint.escalate",
    "requestReview": "complaint.request_review", "requestDeadlineExtension": "complaint.extend_deadline",
    "markComplaintAttention": "complaint.flag_major", "confirmRepeat": "complaint.confirm_repeat",
    "proposeResponsibility": "complaint.propose_responsibility", "classifyComplaint": "complaint.classify",
}
# where the case's own condition rules a step out although the status allows it
NOT_NOW = {
    "SOLUTION_PROPOSED": {"sendCustomerMessage"},  # not approved yet
    "CLOSED": {"requestReview"},  # (retail: no review window; bank: within it — see the bank case below)
}


async def test_available_actions_match_canI_for_every_role(gql: GraphQLClient, clock: FixedClock) -> None:
    for template in ("retail", "bank"):
        t = await tenant_of(template, "actions")
        department = "PROD" if template == "retail" else "CARD"
        received = (await record(gql, t, RECEIVER))["id"]
        proposed = (await record(gql, t, RECEIVER))["id"]
        units, _ = await directory(gql, t)
        await investigate(gql, t, proposed, valid=True)
        await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=proposed, departmentId=units[department])
        await ok(gql, "proposeSolution", t, HANDLER, complaintId=proposed, solution="Fix.", customerReply="Fixed.")
        closed = (await record(gql, t, RECEIVER))["id"]
        await ok(gql, "resolveOnTheSpot", t, RECEIVER, complaintId=closed, resolution="Exchanged at the counter.")
        for status, cid in (("RECEIVED", received), ("SOLUTION_PROPOSED", proposed), ("CLOSED", closed)):
            for user in STAFF:
                c = (await gql(CASE, {"id": cid}, tenant=t, user=user))["complaint"]
                if c is None:  # may not read it: no actions, and canI says not found
                    verdict = (await gql(CAN_I, {"a": "complaint.read", "c": cid}, tenant=t, user=user))["canI"]
                    assert verdict["allowed"] is False
                    continue
                assert c["status"] == status
                expected = set()
                pending_repeat = await scalar(f"SELECT count(*) FROM {schema(t)}.repeat_proposals WHERE "
                                              "complaint_id = :c AND state = 'PROPOSED'", c=raw_id(cid))
                not_now = NOT_NOW.get(status, set()) | (set() if pending_repeat else {"confirmRepeat"})
                for mutation in BY_STATUS[status] - not_now:
                    verdict = (await gql(CAN_I, {"a": PERMISSION[mutation], "c": cid}, tenant=t,
                                         user=user))["canI"]
                    if verdict["allowed"]:
                        expected.add(mutation)
                got = mutations(c) - {"endExternalAppraisal"}
                assert got == expected, (template, status, user, got ^ expected)
                for a in c["availableActions"]:
                    assert a["action"] == PERMISSION[a["mutation"]]


async def test_available_actions_are_the_viewers_own_and_other_tenants_see_nothing(gql: GraphQLClient) -> None:
    cid = (await record(gql, TENANT_A, RECEIVER))["id"]
    mine = await case(gql, TENANT_A, cid, RECEIVER)
    assert {"resolveOnTheSpot", "withdrawComplaint"} <= mutations(mine)
    assert "startInvestigation" not in mutations(mine)  # a receiver does not investigate
    assert "startInvestigation" in mutations(await case(gql, TENANT_A, cid, INVESTIGATOR))
    assert (await gql(CASE, {"id": cid}, tenant=TENANT_B, user=RECEIVER))["complaint"] is None
