"""zh-CN and en (issue 14 points 3 and 4): the same case read in both languages through GraphQL (a refusal's message
with the same code, the status and deadline labels, nextStep and the tracking page's texts and dates, the hand-off
notification, the procedure page); the choice of language (the user's preference, else Accept-Language, else the
tenant's default); the procedure page edited per tenant (two tenants, different content) and refused, with nothing
changed, to whoever lacks ``procedure.manage``.

Expected texts are written out here (the catalogs' translations as a reader sees them), never taken from the code.
"""

from __future__ import annotations

from typing import Any

from conftest import GraphQLClient
from deadline_cases import SH, at, schema, tenant_of
from helpers import raw_id as raw
from helpers import rows, scalar
from lifecycle import RECORD, complaint_input, directory, ok, record, step_mutation

from services.core.clock import FixedClock
from services.core.outbox.service import dispatch_due
from services.core.tenancy import resolve_tenant, tenant_session

CLOCK_START = at(2026, 11, 2, 10)  # Monday, 10:00 in Shanghai
assert CLOCK_START.tzinfo is SH

ADMIN, RECEIVER, INVESTIGATOR = "admin@test.example", "receiver@test.example", "investigator@test.example"
RECEIVER2 = "receiver2@test.example"
DESK, HANDLER, REVIEWER_PROD = "desk@test.example", "handler@test.example", "reviewer-prod@test.example"

CASE = """query ($id: ID!) { complaint(id: $id) { status statusLabel deadlines { kind kindLabel } } }"""
TRACK = """
query ($n: String!, $c: String!) { trackComplaint(number: $n, accessCode: $c) {
  status statusLabel nextStep receivedAtText expectedDates { label dueOn dueOnText } } }
"""
PROCEDURE = """
query { complaintProcedure {
  locale summary channels hotline address web furtherComplaintText
  channelContacts { channel contact }
  expectedTimes { key label time }
  steps { key name description expectedTime }
  furtherComplaint { name kind contact }
} }
"""
UPDATE_PROCEDURE = """
mutation ($input: UpdateComplaintProcedureInput!) { updateComplaintProcedure(input: $input) {
  procedure { locale summary hotline steps { key name } } userErrors { field message code } } }
"""
TENANT_LOCALE = """
mutation ($input: UpdateTenantLocaleInput!) { updateTenantLocale(input: $input) {
  defaultLocale userErrors { field message code } } }
"""
PREFER = """
mutation ($input: UpdateMyPreferencesInput!) { updateMyPreferences(input: $input) {
  notificationPreference locale userErrors { field message code } } }
"""
ME = "query { me { email locale preferredLocale notificationPreference } }"
BODY = """
mutation ($input: UpsertExternalBodyInput!) { upsertExternalBody(input: $input) { userErrors { code } } }
"""
NOTIFICATIONS = "query { notifications(first: 20) { edges { node { kind title } } } }"


async def ask(gql: GraphQLClient, query: str, variables: dict[str, Any] | None = None, *, tenant: str,
              user: str | None = ADMIN, language: str | None = "en") -> dict[str, Any]:
    """``data`` of a request whose Accept-Language is ``language`` (None: no header at all)."""
    response = await gql.post(query, variables, tenant=tenant, user=user, headers={"accept-language": language})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def refused_title(gql: GraphQLClient, t: str, *, user: str = RECEIVER, language: str | None) -> dict[str, Any]:
    """recordComplaint with an over-long title: refused (TOO_LONG), its message in the request's language."""
    data = await ask(gql, RECORD, {"input": complaint_input(title="长" * 201)}, tenant=t, user=user,
                     language=language)
    payload = data["recordComplaint"]
    assert payload["complaint"] is None
    [error] = payload["userErrors"]
    return dict(error)


EN_TOO_LONG = {"field": ["title"], "code": "TOO_LONG", "message": "title is longer than 200 characters"}
ZH_TOO_LONG = {"field": ["title"], "code": "TOO_LONG", "message": "title超过200个字符"}


# ---------------------------------------------------------------- the same case in zh-CN and en


async def test_the_same_case_reads_in_zh_cn_and_en(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("retail", "i18n-case")
    c = await record(gql, t, RECEIVER)
    count = await scalar(f'SELECT count(*) FROM "{schema(t)}".complaints')

    # a refusal: the same code and field in both languages, the message in each
    assert await refused_title(gql, t, language="en") == EN_TOO_LONG
    assert await refused_title(gql, t, language="zh-CN") == ZH_TOO_LONG
    assert await scalar(f'SELECT count(*) FROM "{schema(t)}".complaints') == count  # nothing recorded
    # a step the lifecycle does not allow now: the step and the status named in the reader's language
    approve = step_mutation("approveHandlingForm", "DecideHandlingFormInput")
    for language, message in (("en", "cannot approve handling form: the complaint is RECEIVED"),
                              ("zh-CN", "不能批准处理表:投诉状态为已受理")):
        data = await ask(gql, approve, {"input": {"complaintId": c["id"]}}, tenant=t, user="all@test.example",
                         language=language)
        assert data["approveHandlingForm"]["complaint"] is None
        assert data["approveHandlingForm"]["userErrors"] == [
            {"field": None, "code": "ILLEGAL_TRANSITION", "message": message}]

    # the status and deadline labels
    en = (await ask(gql, CASE, {"id": c["id"]}, tenant=t, language="en"))["complaint"]
    zh = (await ask(gql, CASE, {"id": c["id"]}, tenant=t, language="zh-CN"))["complaint"]
    assert en["status"] == zh["status"] == "RECEIVED"
    assert (en["statusLabel"], zh["statusLabel"]) == ("Received", "已受理")
    kinds = {d["kind"] for d in en["deadlines"]}
    assert "CUSTOMER_REPLY" in kinds
    en_kinds = {d["kind"]: d["kindLabel"] for d in en["deadlines"]}
    zh_kinds = {d["kind"]: d["kindLabel"] for d in zh["deadlines"]}
    assert (en_kinds["CUSTOMER_REPLY"], zh_kinds["CUSTOMER_REPLY"]) == ("first answer to the customer", "首次答复客户")
    assert set(en_kinds) == set(zh_kinds) and all(zh_kinds[k] != en_kinds[k] for k in en_kinds)

    # the tracking page (public): nextStep, labels, the received time in the tenant's zone and the locale's format
    variables = {"n": c["number"], "c": c["accessCode"]}
    en_track = (await ask(gql, TRACK, variables, tenant=t, user=None, language="en"))["trackComplaint"]
    zh_track = (await ask(gql, TRACK, variables, tenant=t, user=None, language="zh-CN"))["trackComplaint"]
    assert en_track["nextStep"] == "We have your complaint and will start looking into it."
    assert zh_track["nextStep"] == "我们已收到您的投诉,将开始调查处理。"
    assert (en_track["statusLabel"], zh_track["statusLabel"]) == ("Received", "已受理")
    assert en_track["receivedAtText"].replace("\u202f", " ") == "Nov 2, 2026, 10:00:00 AM"  # 02:00 UTC
    assert zh_track["receivedAtText"] == "2026年11月2日 10:00:00"
    first_en, first_zh = en_track["expectedDates"][0], zh_track["expectedDates"][0]
    assert first_en["dueOn"] == first_zh["dueOn"] == "2026-11-09"  # 5 working days after Monday 2 November
    assert (first_en["label"], first_zh["label"]) == ("first answer", "首次答复")
    assert (first_en["dueOnText"], first_zh["dueOnText"]) == ("Nov 9, 2026", "2026年11月9日")


async def test_hand_off_notifications_reach_each_person_in_their_language(
    gql: GraphQLClient, clock: FixedClock,
) -> None:
    """The department gets the transfer slip's notification: the handler who chose en reads English, their
    colleague who chose nothing reads the tenant's default (zh-CN); the other tenant's namesakes get nothing."""
    t = await tenant_of("retail", "i18n-notify")
    other = await tenant_of("retail", "i18n-notify-other")
    chosen = (await ask(gql, PREFER, {"input": {"locale": "en"}}, tenant=t, user=HANDLER,
                        language="zh-CN"))["updateMyPreferences"]
    assert chosen == {"notificationPreference": "IN_APP", "locale": "en", "userErrors": []}
    units, _ = await directory(gql, t)
    c = await record(gql, t, RECEIVER)
    await ok(gql, "startInvestigation", t, INVESTIGATOR, complaintId=c["id"])
    await ok(gql, "submitInvestigation", t, INVESTIGATOR, complaintId=c["id"], valid=True, findings="Checked.")
    await ok(gql, "assignResponsibleDepartment", t, DESK, complaintId=c["id"], departmentId=units["PROD"])
    for slug in (t, other):
        async with tenant_session(await resolve_tenant(slug)) as session:
            await dispatch_due(session, now=clock.now())

    async def titles(slug: str, user: str) -> list[str]:
        data = await ask(gql, NOTIFICATIONS, tenant=slug, user=user, language="zh-CN")  # stored in their language
        return [e["node"]["title"] for e in data["notifications"]["edges"] if e["node"]["kind"] == "TRANSFER_SLIP"]

    number = c["number"]
    assert await titles(t, HANDLER) == [f"Complaint {number}: a transfer slip for your department"]
    assert await titles(t, REVIEWER_PROD) == [f"投诉{number}:有一份发给贵部门的传递单"]
    assert await titles(other, HANDLER) == [] and await titles(other, REVIEWER_PROD) == []
    stored = await rows(f'SELECT title FROM "{schema(t)}".notifications')
    assert all("张三" not in r.title and "13800138000" not in r.title for r in stored)


# ---------------------------------------------------------------- which language


async def test_preference_then_accept_language_then_the_tenant_default(gql: GraphQLClient, clock: FixedClock) -> None:
    t = await tenant_of("bank", "i18n-choice")

    async def me(user: str, language: str | None) -> dict[str, Any]:
        found: dict[str, Any] = (await ask(gql, ME, tenant=t, user=user, language=language))["me"]
        return found

    # no preference: Accept-Language decides (its best match by q-value), else the tenant's default zh-CN
    assert (await me(RECEIVER, "en"))["locale"] == "en"
    assert (await me(RECEIVER, "fr-FR, en-GB;q=0.7, zh;q=0.9"))["locale"] == "zh-CN"
    assert (await me(RECEIVER, "fr-FR, de;q=0.5"))["locale"] == "zh-CN"  # neither: the tenant's default
    assert (await me(RECEIVER, None))["locale"] == "zh-CN"
    assert (await me(RECEIVER, None))["preferredLocale"] is None
    assert await refused_title(gql, t, language=None) == ZH_TOO_LONG
    assert await refused_title(gql, t, language="en-US,en;q=0.9") == EN_TOO_LONG

    # the user's preference wins over Accept-Language; the notification preference stays as it was
    before = (await me(RECEIVER, "en"))["notificationPreference"]
    chosen = (await ask(gql, PREFER, {"input": {"locale": "en"}}, tenant=t, user=RECEIVER,
                        language="zh-CN"))["updateMyPreferences"]
    assert chosen == {"notificationPreference": before, "locale": "en", "userErrors": []}
    assert await me(RECEIVER, "zh-CN") == {"email": RECEIVER, "locale": "en", "preferredLocale": "en",
                                            "notificationPreference": before}
    assert await refused_title(gql, t, language="zh-CN") == EN_TOO_LONG
    assert await refused_title(gql, t, user=RECEIVER2, language=None) == ZH_TOO_LONG  # only theirs changed

    # the existing field alone still works; an unknown language is refused (its message in the caller's language)
    alone = (await ask(gql, PREFER, {"input": {"notifications": "EMAIL"}}, tenant=t, user=RECEIVER,
                       language=None))["updateMyPreferences"]
    assert alone == {"notificationPreference": "EMAIL", "locale": "en", "userErrors": []}
    bad = (await ask(gql, PREFER, {"input": {"locale": "fr"}}, tenant=t, user=RECEIVER,
                     language="zh-CN"))["updateMyPreferences"]
    assert bad["userErrors"] == [{"field": ["locale"], "code": "INVALID",
                                  "message": "the language must be zh-CN or en"}]  # they chose en
    assert (await me(RECEIVER, None))["preferredLocale"] == "en"

    # the tenant's default, set by its admin, serves whoever chose nothing and asks for neither language
    assert (await ask(gql, TENANT_LOCALE, {"input": {"defaultLocale": "en"}}, tenant=t,
                      language="zh-CN"))["updateTenantLocale"] == {"defaultLocale": "en", "userErrors": []}
    assert await refused_title(gql, t, user=RECEIVER2, language=None) == EN_TOO_LONG
    assert await refused_title(gql, t, user=RECEIVER2, language="zh-CN") == ZH_TOO_LONG  # the header still wins
    public = (await ask(gql, PROCEDURE, tenant=t, user=None, language=None))["complaintProcedure"]
    assert public["locale"] == "en"
    denied = (await ask(gql, TENANT_LOCALE, {"input": {"defaultLocale": "zh-CN"}}, tenant=t, user=RECEIVER,
                        language="en"))["updateTenantLocale"]
    assert denied["defaultLocale"] is None and [e["code"] for e in denied["userErrors"]] == ["NOT_ALLOWED"]
    assert await scalar(f'SELECT locale FROM "{schema(t)}".tenant_settings') == "en"


# ---------------------------------------------------------------- the procedure page


async def test_the_procedure_page_in_both_languages_from_the_seeds(gql: GraphQLClient) -> None:
    t = await tenant_of("bank", "i18n-page")
    for body, kind, level in (("银行业协会", "INDUSTRY_ASSOCIATION", 1), ("银行业监管机构", "REGULATOR", 2)):
        done = await ask(gql, BODY, {"input": {"name": body, "kind": kind, "contact": "12378",
                                              "escalationLevel": level}}, tenant=t)
        assert done["upsertExternalBody"]["userErrors"] == []
    en = (await ask(gql, PROCEDURE, tenant=t, user=None, language="en"))["complaintProcedure"]
    zh = (await ask(gql, PROCEDURE, tenant=t, user=None, language="zh-CN"))["complaintProcedure"]
    assert (en["locale"], zh["locale"]) == ("en", "zh-CN")
    assert en["summary"].startswith("A decision within 15 days of receipt")
    assert zh["summary"] == "自受理之日起15日内作出处理决定,情况复杂的可延长至30日,并向您说明原因。"
    assert [s["key"] for s in en["steps"]] == [s["key"] for s in zh["steps"]] == [
        "RECEIVE", "INVESTIGATE", "DECIDE", "FOLLOW_UP", "ESCALATE"]
    assert (en["steps"][0]["name"], zh["steps"][0]["name"]) == ("Received", "受理")
    assert en["channels"] == zh["channels"] == [c["channel"] for c in en["channelContacts"]]
    assert "REGULATOR_TRANSFER" in en["channels"]
    assert [t_["key"] for t_ in zh["expectedTimes"]] == ["DECISION", "COMPLEX"]
    assert zh["expectedTimes"][0]["time"] == "受理之日起15日内"
    assert zh["furtherComplaintText"] == "对处理结果不满意的,您可以向相关行业协会乃至银行业监管机构投诉。"
    assert en["furtherComplaint"] == zh["furtherComplaint"] == [
        {"name": "银行业协会", "kind": "INDUSTRY_ASSOCIATION", "contact": "12378"},
        {"name": "银行业监管机构", "kind": "REGULATOR", "contact": "12378"}]
    for page in (en, zh):
        for step in page["steps"]:
            assert all(step[k].strip() for k in ("name", "description", "expectedTime")), step
    assert all(zh["steps"][i][k] != en["steps"][i][k] for i in range(5) for k in ("name", "description"))


def text(zh: str, en: str) -> dict[str, str]:
    return {"zhCN": zh, "en": en}


EDIT = {
    "summary": text("我们在3个工作日内答复。", "We answer within 3 working days."),
    "hotline": "400-820-8820",
    "web": "https://alpha.example.com/complaints",
    "address": text("上海市南京东路1号", "1 East Nanjing Road, Shanghai"),
    "steps": [{"key": "RECEIVE", "name": text("受理", "Received"),
               "description": text("我们记录您的投诉。", "We record your complaint."),
               "expectedTime": text("当即", "At once")},
              {"key": "ANSWER", "name": text("答复", "Answer"),
               "description": text("我们给您答复。", "We answer you."),
               "expectedTime": text("3个工作日内", "Within 3 working days")}],
    "channels": [{"channel": "PHONE", "contact": text("热线 400-820-8820", "Hotline 400-820-8820")},
                 {"channel": "WEB"}],
}


async def test_each_tenant_edits_its_own_page(gql: GraphQLClient) -> None:
    mine, theirs = await tenant_of("retail", "i18n-edit"), await tenant_of("retail", "i18n-edit-other")
    theirs_before = (await ask(gql, PROCEDURE, tenant=theirs, user=None, language="zh-CN"))["complaintProcedure"]

    done = (await ask(gql, UPDATE_PROCEDURE, {"input": EDIT}, tenant=mine, language="zh-CN"))
    payload = done["updateComplaintProcedure"]
    assert payload["userErrors"] == []
    assert payload["procedure"] == {"locale": "zh-CN", "summary": "我们在3个工作日内答复。", "hotline": "400-820-8820",
                                    "steps": [{"key": "RECEIVE", "name": "受理"}, {"key": "ANSWER", "name": "答复"}]}

    en = (await ask(gql, PROCEDURE, tenant=mine, user=None, language="en"))["complaintProcedure"]
    zh = (await ask(gql, PROCEDURE, tenant=mine, user=None, language="zh-CN"))["complaintProcedure"]
    assert (en["summary"], zh["summary"]) == ("We answer within 3 working days.", "我们在3个工作日内答复。")
    assert (en["address"], zh["address"]) == ("1 East Nanjing Road, Shanghai", "上海市南京东路1号")
    assert en["hotline"] == zh["hotline"] == "400-820-8820"
    assert en["web"] == "https://alpha.example.com/complaints"
    assert en["channels"] == ["PHONE", "WEB"]
    assert en["channelContacts"] == [{"channel": "PHONE", "contact": "Hotline 400-820-8820"},
                                     {"channel": "WEB", "contact": None}]
    assert [s["description"] for s in zh["steps"]] == ["我们记录您的投诉。", "我们给您答复。"]
    # what was not given keeps the template's content
    assert [x["key"] for x in en["expectedTimes"]] == ["FIRST_ANSWER", "RESOLUTION", "FOLLOW_UP"]
    # the other tenant (same template) reads what it read before
    assert (await ask(gql, PROCEDURE, tenant=theirs, user=None, language="zh-CN"))["complaintProcedure"] \
        == theirs_before
    assert theirs_before["summary"] == "我们在5个工作日内给您答复;整个投诉在15天内处理完毕(国外投诉18天)。"
    assert theirs_before["hotline"] is None
    events = await rows(f'SELECT action, changes FROM "{schema(mine)}".audit_events '
                        "WHERE action = 'update_complaint_procedure'")
    assert len(events) == 1


async def _page_state(t: str) -> tuple[Any, int]:
    stored = await scalar(f'SELECT procedure FROM "{schema(t)}".tenant_settings')
    events = await scalar(f'SELECT count(*) FROM "{schema(t)}".audit_events')
    return stored, int(events)


async def test_editing_the_page_is_refused_without_the_right_and_changes_nothing(gql: GraphQLClient) -> None:
    t = await tenant_of("bank", "i18n-refused")
    page_before = (await ask(gql, PROCEDURE, tenant=t, user=None, language="en"))["complaintProcedure"]
    before = await _page_state(t)
    for user in (RECEIVER, HANDLER, "manager@test.example"):
        payload = (await ask(gql, UPDATE_PROCEDURE, {"input": EDIT}, tenant=t, user=user,
                             language="en"))["updateComplaintProcedure"]
        assert payload["procedure"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_ALLOWED"], payload
        assert await _page_state(t) == before
    assert (await ask(gql, PROCEDURE, tenant=t, user=None, language="en"))["complaintProcedure"] == page_before

    # the admin may, but a text without its English is refused, naming the field, and changes nothing either
    half = {"summary": {"zhCN": "只有中文", "en": "  "}}
    payload = (await ask(gql, UPDATE_PROCEDURE, {"input": half}, tenant=t,
                         language="zh-CN"))["updateComplaintProcedure"]
    assert payload["procedure"] is None
    assert payload["userErrors"] == [{"field": ["summary", "en"], "code": "REQUIRED", "message": "summary.en为必填项"}]
    twice = {"channels": [{"channel": "WEB"}, {"channel": "WEB"}]}
    payload = (await ask(gql, UPDATE_PROCEDURE, {"input": twice}, tenant=t, language="en"))["updateComplaintProcedure"]
    assert payload["userErrors"] == [{"field": ["channels", "1", "channel"], "code": "DUPLICATE",
                                      "message": "each channel may appear once"}]
    assert await _page_state(t) == before


async def test_the_right_reaches_existing_tenants_by_the_migration() -> None:
    """t0015 gave tenant_admin procedure.manage in both templates (and the policy files hold it for new ones)."""
    for template in ("retail", "bank"):
        t = await tenant_of(template, "i18n-rule")
        found = await rows(f'SELECT v0 FROM "{schema(t)}".policy_rules WHERE v2 = \'procedure.manage\'')
        assert "tenant_admin" in {r.v0 for r in found}  # (and the suite's all-rights test role)


async def test_other_notices_are_written_in_each_recipients_language(gql: GraphQLClient, clock: FixedClock) -> None:
    """The outbox writes any marked notification (a breach, an escalation, a failed delivery) in its recipient's
    language: the same notice to two people, one who chose en, one who did not (the tenant's default, zh-CN)."""
    from datetime import UTC, datetime

    from services.core.i18n import Both, When, msg
    from services.core.outbox.service import notify

    t = await tenant_of("bank", "i18n-notices")
    assert (await ask(gql, PREFER, {"input": {"locale": "en"}}, tenant=t, user=HANDLER,
                      language="zh-CN"))["updateMyPreferences"]["userErrors"] == []
    _, users = await directory(gql, t)
    title = msg("Complaint {number}: the {deadline} deadline passed ({due})", number="2611000009",
                deadline=Both("DECISION", "处理决定"),
                due=When(datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), SH))
    async with tenant_session(await resolve_tenant(t)) as session, session.begin():
        await notify(session, user_ids=[raw(users[HANDLER]), raw(users[RECEIVER])], key="test:i18n-notice",
                     kind="DEADLINE_BREACHED", title=title, now=clock.now())
    async with tenant_session(await resolve_tenant(t)) as session:
        await dispatch_due(session, now=clock.now())
    found = {r.email: r.title for r in await rows(
        f'SELECT u.email, n.title FROM "{schema(t)}".notifications n JOIN "{schema(t)}".users u ON u.id = n.user_id '
        "WHERE n.kind = 'DEADLINE_BREACHED'")}
    assert {k: v.replace("\u202f", " ") for k, v in found.items()} == {
        HANDLER: "Complaint 2611000009: the DECISION deadline passed (Nov 30, 2026, 11:59:59 PM)",
        RECEIVER: "投诉2611000009:处理决定期限已逾期(2026年11月30日 23:59:59)",
    }


ACCOUNTABILITY_SETTINGS = """
mutation ($input: UpdateAccountabilitySettingsInput!) { updateAccountabilitySettings(input: $input) {
  settings { repeatWindowDays } userErrors { field message code } } }
"""
MESSAGE_TEMPLATE = """
mutation ($input: UpdateMessageTemplateInput!) { updateMessageTemplate(input: $input) {
  template { body } userErrors { field message code } } }
"""


async def test_refusals_with_values_of_the_later_features_read_in_both_languages(gql: GraphQLClient) -> None:
    """Messages with values added by accountability and customer messages (``msg``, not f-strings) are looked up in
    the catalogs: the same code and field in both languages, the text translated, the values filled in."""
    t = await tenant_of("retail", "i18n-later-features")

    async def window(language: str) -> dict[str, Any]:
        payload = (await ask(gql, ACCOUNTABILITY_SETTINGS, {"input": {"repeatWindowDays": 0}}, tenant=t,
                             language=language))["updateAccountabilitySettings"]
        assert payload["settings"] is None
        [error] = payload["userErrors"]
        return dict(error)

    assert await window("zh-CN") == {"field": ["repeatWindowDays"], "code": "OUT_OF_RANGE",
                                     "message": "时间窗口须为1到730天"}
    assert await window("en") == {"field": ["repeatWindowDays"], "code": "OUT_OF_RANGE",
                                  "message": "the window is 1 to 730 days"}

    async def template(language: str) -> dict[str, Any]:
        payload = (await ask(gql, MESSAGE_TEMPLATE, {"input": {
            "kind": "ACKNOWLEDGEMENT", "locale": "en", "subject": "Hello", "body": "Your number is {{ number }}"}},
            tenant=t, language=language))["updateMessageTemplate"]
        assert payload["template"] is None
        [error] = payload["userErrors"]
        return dict(error)

    assert await template("zh-CN") == {"field": ["body"], "code": "REQUIRED",
                                       "message": "body必须包含以下占位符:access_code"}
    assert await template("en") == {"field": ["body"], "code": "REQUIRED",
                                    "message": "body must contain the placeholders: access_code"}
