"""Operations and helpers shared by the accountability tests (issue 16)."""

from __future__ import annotations

import uuid
from typing import Any

from conftest import GraphQLClient
from helpers import raw_id, scalar
from lifecycle import ok, record

RECEIVER = "receiver@test.example"
INVESTIGATOR = "investigator@test.example"
DESK = "desk@test.example"
HANDLER = "handler@test.example"
ADMIN = "admin@test.example"
REVIEWER = "reviewer@test.example"  # of the audit department (retail AUDIT, bank AUDIT)
REVIEWER_PROD = "reviewer-prod@test.example"  # a reviewer of a handling department (retail PROD, bank CARD)

CREATE_USER = """mutation ($input: CreateUserInput!) { createUser(input: $input) {
  user { id email } userErrors { code field message } } }"""

RESPONSIBILITY = """responsibility { level cause state outsideParty reason decisionNote orgUnit { code }
  person { email } proposedBy { email } decidedBy { email } }"""
PROPOSE_RESPONSIBILITY = f"""mutation ($input: ProposeResponsibilityInput!) {{ proposeResponsibility(input: $input) {{
  complaint {{ id status {RESPONSIBILITY} }} userErrors {{ code field message }} }} }}"""
DECIDE_RESPONSIBILITY = f"""mutation ($input: DecideResponsibilityInput!) {{ decideResponsibility(input: $input) {{
  complaint {{ id status {RESPONSIBILITY} }} userErrors {{ code field message }} }} }}"""
COMPLAINT_RESPONSIBILITY = f"query ($id: ID!) {{ complaint(id: $id) {{ id {RESPONSIBILITY} }} }}"

PENALTY = ("id target kind amount serious state source personName reason decisionNote publishedAt proposedAt "
           "decidedAt orgUnit { code } person { email } complaint { id }")
PROPOSE_PENALTY = f"""mutation ($input: ProposePenaltyInput!) {{ proposePenalty(input: $input) {{
  penalty {{ {PENALTY} }} userErrors {{ code field message }} }} }}"""
DECIDE_PENALTY = f"""mutation ($input: DecidePenaltyInput!) {{ decidePenalty(input: $input) {{
  penalty {{ {PENALTY} }} userErrors {{ code field message }} }} }}"""
PENALTIES = f"query ($complaintId: ID) {{ penalties(complaintId: $complaintId) {{ {PENALTY} }} }}"
NOTICES = "query { penaltyNotices { id kind amount personName publishedAt orgUnit { code } } }"

PLAN = """id name periodFrom periodTo sampleRule samplePercent department { code }
  coverage { sampled reviewed nonconforming improvementActions improvementActionsOpen }
  cases { id } findings { id outcome note complaintId reviewer { email } }
  improvementActions { id description dueDate owner { email } findingId }"""
CREATE_PLAN = f"""mutation ($input: CreateReviewPlanInput!) {{ createReviewPlan(input: $input) {{
  reviewPlan {{ {PLAN} }} userErrors {{ code field message }} }} }}"""
RECORD_FINDING = f"""mutation ($input: RecordReviewFindingInput!) {{ recordReviewFinding(input: $input) {{
  reviewPlan {{ {PLAN} }} finding {{ id outcome }} userErrors {{ code field message }} }} }}"""
ADD_ACTION = f"""mutation ($input: AddImprovementActionInput!) {{ addImprovementAction(input: $input) {{
  reviewPlan {{ {PLAN} }} improvementAction {{ id dueDate owner {{ email }} }}
  userErrors {{ code field message }} }} }}"""
PLANS = f"query {{ reviewPlans {{ {PLAN} }} }}"


async def new_user(gql: GraphQLClient, tenant: str, role: str, unit_id: str | None = None,
                   name: str = "王总经理") -> str:
    """A user of ``role`` created by the tenant admin through createUser (the templates' STAFF has none of some
    roles); returns the e-mail."""
    email = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}@test.example"
    data = await gql(CREATE_USER, {"input": {"email": email, "displayName": name, "roles": [role],
                                             "orgUnitId": unit_id}}, tenant=tenant, user=ADMIN)
    assert data["createUser"]["userErrors"] == [], data
    return email


async def valid_case(gql: GraphQLClient, tenant: str, department_id: str, **overrides: Any) -> str:
    """A complaint the investigation found valid, sent to ``department_id``, each step by its template role."""
    cid: str = (await record(gql, tenant, RECEIVER, **overrides))["id"]
    await ok(gql, "startInvestigation", tenant, INVESTIGATOR, complaintId=cid)
    await ok(gql, "submitInvestigation", tenant, INVESTIGATOR, complaintId=cid, valid=True, findings="Confirmed")
    await ok(gql, "assignResponsibleDepartment", tenant, DESK, complaintId=cid, departmentId=department_id)
    return cid


async def count(tenant: str, table: str) -> int:
    return int(await scalar(f"SELECT count(*) FROM tenant_{tenant}.{table}"))


def row_id(global_id: str) -> str:
    return str(raw_id(global_id))

REPEAT = """repeatProposal { matchedOn state leftUnanswered penaltyId earlier { id } countedAgainst { code } }"""
RECORD_WITH_REPEAT = f"""mutation ($input: RecordComplaintInput!) {{ recordComplaint(input: $input) {{
  complaint {{ id number {REPEAT} repeatOf {{ id }} }} userErrors {{ code field message }} }} }}"""
CONFIRM_REPEAT = f"""mutation ($input: ConfirmRepeatInput!) {{ confirmRepeat(input: $input) {{
  complaint {{ id {REPEAT} repeatOf {{ id }} }} userErrors {{ code field message }} }} }}"""
SETTINGS = """mutation ($input: UpdateAccountabilitySettingsInput!) { updateAccountabilitySettings(input: $input) {
  settings { repeatWindowDays majorAmountAtLeast } userErrors { code field message } } }"""
ENTRY = ("id entryDate text customerName customerPhone hasComplaint complaint { id } store { code } "
         "recordedBy { email }")
RECORD_ENTRY = f"""mutation ($input: RecordOpinionBookEntryInput!) {{ recordOpinionBookEntry(input: $input) {{
  entry {{ {ENTRY} }} userErrors {{ code field message }} }} }}"""
RECONCILE_ENTRY = f"""mutation ($input: ReconcileOpinionBookEntryInput!) {{ reconcileOpinionBookEntry(input: $input) {{
  entry {{ {ENTRY} }} userErrors {{ code field message }} }} }}"""
ENTRIES = f"""query ($storeId: ID, $spotCheck: Boolean!) {{
  opinionBookEntries(storeId: $storeId, spotCheck: $spotCheck) {{ {ENTRY} }} }}"""
MAJOR = "majorComplaint { reasons state draft draftSha256 approvedAt approvedBy { email } }"
RECORD_MAJOR = f"""mutation ($input: RecordComplaintInput!) {{ recordComplaint(input: $input) {{
  complaint {{ id number {MAJOR} }} userErrors {{ code field message }} }} }}"""
MARK_ATTENTION = f"""mutation ($input: MarkComplaintAttentionInput!) {{ markComplaintAttention(input: $input) {{
  complaint {{ id {MAJOR} }} userErrors {{ code field message }} }} }}"""
APPROVE_MAJOR = f"""mutation ($input: ApproveMajorComplaintReportInput!) {{
  approveMajorComplaintReport(input: $input) {{ complaint {{ id {MAJOR} }} userErrors {{ code field message }} }} }}"""


def unique_phone() -> str:
    """A mobile number no other test uses (the repeat detection reads the whole tenant)."""
    return "139" + str(uuid.uuid4().int)[:8]


CREATE_UNIT = """mutation ($input: CreateOrgUnitInput!) { createOrgUnit(input: $input) {
  orgUnit { id code } userErrors { code field message } } }"""


async def fresh_audit(gql: GraphQLClient, tenant: str) -> tuple[str, str, str]:
    """An audit department of the test's own and a reviewer in it: (unit id, unit code, reviewer's e-mail). The
    template's AUDIT is shared: another test may make it a handling department (a complaint sent to it, a member
    given a handling role), after which no plan may name it."""
    code = f"AUD-{uuid.uuid4().hex[:6].upper()}"
    data = await gql(CREATE_UNIT, {"input": {"name": f"Internal audit {code}", "kind": "DEPARTMENT", "code": code}},
                     tenant=tenant, user=ADMIN)
    assert data["createOrgUnit"]["userErrors"] == [], data
    unit = data["createOrgUnit"]["orgUnit"]["id"]
    return unit, code, await new_user(gql, tenant, "reviewer", unit, name="审计复核员")


async def dispatch_all(tenant: str) -> None:
    """Deliver every outbox item of ``tenant`` that is due now, batch after batch (the worker's sweep, in-process)."""
    from datetime import UTC, datetime

    from services.core.outbox.service import dispatch_due
    from services.core.tenancy import resolve_tenant, tenant_session

    ref = await resolve_tenant(tenant)
    async with tenant_session(ref) as session:
        while (await dispatch_due(session, now=datetime.now(UTC))).claimed:
            pass
