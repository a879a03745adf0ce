"""The web console in a real browser: Debian's Chromium driven by Playwright against a real `complaintdesk up`.

One `up` (embedded PostgreSQL and Redis, the demo tenant, development mode) serves the built console at `/`.
Through the screens only: the receiver signs in and records a complaint, the investigator, the complaint desk, the
responsible department's handler and the approver walk it to APPROVED with the buttons of `availableActions` (the
approver told live), the customer sees it on the public tracking page in zh-CN, the staff take it on to CLOSED and
the customer sees that too; the tenant admin edits an SLA profile. Screenshots of the
main screens go to $CONSOLE_ARTIFACTS (default `artifacts/console/`, gitignored); axe-core runs on each of them and
finds no serious or critical violation; no request leaves the origin; GraphiQL comes from local assets.

Needs Chromium (`apt-get install chromium`; .ci/run installs it) and the console's build (`scripts/build-console`;
.ci/run runs it). Without them the test is skipped, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow

DIST = ROOT / "console" / "dist"
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS", ROOT / "artifacts" / "console"))
TENANT = "demo"
# a 1x1 PNG, the evidence the investigator uploads
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8"
                    "cfc0f01f0005000201a5d4a3e90000000049454e44ae426082")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _require(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, base: str, data_dir: Path) -> None:
        self.base = base
        self.data_dir = data_dir
        self.password = json.loads((data_dir / "demo-credentials.json").read_text(encoding="utf-8"))["staff"]

    def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {"x-tenant": TENANT}
        response = httpx.post(f"{self.base}/graphql", json={"query": query, "variables": variables or {}},
                              headers=headers, timeout=10.0)
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]

    def token(self, email: str) -> str:
        data = self.gql("mutation ($i: LoginInput!) { login(input: $i) { accessToken userErrors { code } } }",
                        {"i": {"tenant": TENANT, "email": email, "password": self.password}})
        assert data["login"]["userErrors"] == []
        return str(data["login"]["accessToken"])


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    _require(_chromium() is not None, "Chromium is not installed (apt-get install chromium)")
    _require((DIST / "index.html").is_file() and AXE.is_file(), "the console is not built (scripts/build-console)")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as log:
        data_dir = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "COMPLAINTDESK_ENV")
               and not k.startswith("COMPLAINTDESK_JWT_")}
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("complaintdesk")), "up", "--port", str(port), "--data-dir",
             str(data_dir), "--dev"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, "up exited early"
                assert time.monotonic() < deadline, "up did not become ready"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.3)
            yield Server(f"http://127.0.0.1:{port}", data_dir)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A browser context on the console: every request watched, every page error kept."""

    def __init__(self, browser: Any, server: Server, locale: str, *, timezone_id: str | None = None,
                 navigates_to: tuple[str, ...] = ()) -> None:
        # bypass_csp: only so the test may inject axe-core (the page's own CSP allows no inline script)
        self.context = browser.new_context(locale=locale, bypass_csp=True, viewport={"width": 1280, "height": 900},
                                           timezone_id=timezone_id)
        self.navigates_to = navigates_to  # origins the browser is sent to (an identity provider's pages), not fetched
        self.context.add_init_script(f"localStorage.setItem('complaintdesk.locale', {json.dumps(locale)})")
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.server = server
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.server.base + "/") or url.startswith("ws://127.0.0.1:")
                or url.startswith("data:")):
            if any(url.startswith(o + "/") for o in self.navigates_to):
                return  # the identity provider's pages, where the browser is sent (the console fetches nothing there)
            self.foreign.append(url)

    def shoot(self, name: str) -> None:
        """A screenshot kept as an artifact, and axe-core's check of the screen: no serious or critical violation."""
        self.page.wait_for_load_state("networkidle")
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate("""async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
        }""")
        (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{name}: {serious}"

    def sign_in(self, email: str) -> None:
        page = self.page
        page.goto(self.server.base + "/")
        page.locator("#tenant").fill(TENANT)
        page.locator("#email").fill(email)
        page.locator("#password").fill(self.server.password)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/inbox$"))

    def open_case(self, number: str) -> None:
        page = self.page
        page.locator("input[type=search]").fill(number)
        page.get_by_role("link", name=number, exact=True).click()
        page.wait_for_selector("[data-testid=case-status]")

    def act(self, mutation: str, status: str, fill: dict[str, str] | None = None, check: tuple[str, ...] = (),
            select: dict[str, str] | None = None, shows: str | None = None,
            upload: dict[str, Any] | None = None) -> None:
        """Press the action's button, fill its form (fields by their ids), confirm; the form closes on success and
        the case, read again, has ``status`` (and shows the text ``shows``)."""
        from playwright.sync_api import expect

        page = self.page
        page.locator(f"button[data-action={mutation}]").click()
        if upload:
            page.locator("#f-file").set_input_files(upload)
        for field, value in (fill or {}).items():
            page.locator(f"#f-{field}").fill(value)
        for field in check:
            page.locator(f"#f-{field}").check()
        for field, text in (select or {}).items():
            option = page.locator(f"#f-{field} option", has_text=re.compile(text)).first
            option.wait_for(state="attached")  # the picker's list arrives with its own query
            page.locator(f"#f-{field}").select_option(value=option.get_attribute("value"))
        page.locator(".card.inner form button[type=submit]").click()
        page.locator(".card.inner form").wait_for(state="detached")
        assert page.locator(".errors").count() == 0, page.locator(".errors").all_inner_texts()
        if shows:
            page.get_by_text(shows).first.wait_for()
        expect(page.locator("[data-testid=case-status]")).to_have_text(status)

    def status(self) -> str:
        return str(self.page.locator("[data-testid=case-status]").inner_text())

    def sign_out(self) -> None:
        self.page.get_by_role("button", name=re.compile("Sign out|退出")).click()
        self.page.wait_for_selector("#password")

    def close(self) -> None:
        assert self.errors == [], self.errors
        assert self.foreign == [], f"requests to other origins: {self.foreign}"
        self.context.close()


def test_static_files_caching_and_csp(server: Server) -> None:
    index = httpx.get(server.base + "/", timeout=10.0)
    assert index.status_code == 200 and index.headers["cache-control"] == "no-cache"
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert not re.search(r"https?://|\*", csp), csp  # no other origin, no wildcard
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index.text)
    assert assets, index.text
    for asset in assets:
        response = httpx.get(server.base + asset, timeout=10.0)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    route = httpx.get(server.base + "/cases/Q29tcGxhaW50OjE=", timeout=10.0)  # an SPA route: the index again
    assert route.status_code == 200 and route.text == index.text
    assert httpx.get(server.base + "/assets/missing-0000.js", timeout=10.0).status_code == 404
    assert httpx.get(server.base + "/assets/../pyproject.toml", timeout=10.0).status_code == 404
    assert httpx.get(server.base + "/graphiql.html", timeout=10.0).status_code == 404  # only as /graphql, in dev
    assert httpx.post(server.base + "/inbox", timeout=10.0).status_code == 405
    # GraphiQL (development): the build's page, its scripts from this origin only
    ide = httpx.get(server.base + "/graphql", headers={"accept": "text/html"}, timeout=10.0)
    assert ide.status_code == 200 and 'id="graphiql"' in ide.text
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", ide.text), ide.text
    assert "https://" not in ide.headers["content-security-policy"]


def test_a_complaint_from_recording_to_closure_tracked_in_chinese(server: Server, browser: Any) -> None:
    staff = Visit(browser, server, "en")
    page = staff.page
    staff.page.goto(server.base + "/")
    staff.shoot("signin")

    # the receiver records the complaint
    staff.sign_in("receiver@demo.example")
    staff.shoot("inbox")
    page.get_by_role("link", name="New complaint").click()
    page.locator("#f-complainant-name").fill("Li Lei")
    page.locator("#f-complainant-phone").fill("13912345678")
    page.locator("#f-title").fill("Blender cracked on arrival")
    page.locator("#f-description").fill("The jug was cracked when the box was opened.")
    staff.shoot("record")
    page.locator("form button[type=submit]").click()
    recorded = page.locator("[role=status]")
    recorded.wait_for()
    number = re.search(r"\d{10}", recorded.inner_text())
    assert number, recorded.inner_text()
    number_text = number.group(0)
    access_code = page.locator("[data-testid=access-code]").inner_text().strip()
    assert access_code
    page.get_by_role("button", name="Open the complaint").click()
    page.wait_for_selector("[data-testid=case-status]")
    assert staff.status() == "Received"
    assert page.get_by_text("Li Lei").count() == 1  # the receiver sees the identity, as the API answers it
    staff.shoot("case-received")
    staff.sign_out()

    # the investigator investigates (founded)
    staff.sign_in("inspector@demo.example")
    staff.open_case(number_text)
    staff.act("startInvestigation", "Investigating")
    staff.act("attachEvidence", "Investigating", fill={"note": "Photo of the jug"}, shows="cracked-jug.png",
              upload={"name": "cracked-jug.png", "mimeType": "image/png", "buffer": PNG})
    staff.act("submitInvestigation", "Investigating", fill={"findings": "Cracked jug: a transport damage."},
              check=("valid",), shows="Cracked jug: a transport damage.")
    staff.sign_out()

    # the complaint desk assigns the responsible department (production)
    staff.sign_in("marketing@demo.example")
    staff.open_case(number_text)
    staff.act("assignResponsibleDepartment", "Assigned", select={"departmentId": r"\(PROD\)"})
    # and proposes who is responsible: the case's Responsibility section shows the proposal
    staff.act("proposeResponsibility", "Assigned", fill={"reason": "Packed without the foam insert."},
              select={"level": "^FACTORY$", "cause": "^PRODUCT$", "orgUnitId": r"\(PROD\)"},
              shows="Packed without the foam insert.")
    responsibility = page.locator("section[aria-label=Responsibility]")
    assert "Factory" in responsibility.inner_text() and "Proposed" in responsibility.inner_text()
    staff.sign_out()

    # the approver is signed in (another browser) while the department's handler proposes a solution
    approver = Visit(browser, server, "en")
    approver.sign_in("approver@demo.example")
    approver.page.wait_for_load_state("networkidle")
    staff.sign_in("handler@demo.example")
    staff.open_case(number_text)
    staff.act("proposeSolution", "Solution proposed",
              fill={"solution": "Replace the blender.", "customerReply": "We will replace it."})
    staff.sign_out()
    staff.close()

    # the approver is told at once (notificationReceived over the WebSocket), opens the case and approves
    toast = approver.page.locator(".toast")
    toast.wait_for(timeout=30_000)
    assert number_text in toast.inner_text() or "New notification" in toast.inner_text()
    approver.open_case(number_text)
    approver.shoot("case-detail")
    approver.act("approveHandlingForm", "Approved")
    timeline = approver.page.locator(".timeline li")
    assert timeline.count() >= 7  # recorded, and the six steps taken here
    approver.sign_out()
    approver.close()

    # the API agrees
    token = server.token("approver@demo.example")
    found = server.gql("query ($n: String!) { complaintByNumber(number: $n) { status handlingForm { solution } } }",
                       {"n": number_text}, token)
    assert found["complaintByNumber"] == {"status": "APPROVED", "handlingForm": {"solution": "Replace the blender."}}

    # the customer tracks it, in Chinese
    customer = Visit(browser, server, "zh-CN")
    cpage = customer.page
    cpage.goto(f"{server.base}/p/{TENANT}")
    cpage.wait_for_selector("ol li")
    customer.shoot("public-procedure")
    cpage.goto(f"{server.base}/p/{TENANT}/track")
    cpage.locator("#track-number").fill(number_text)
    cpage.locator("#track-code").fill(access_code)
    cpage.get_by_role("button", name="查询").click()
    cpage.wait_for_selector("[data-testid=tracking-status]")
    assert cpage.locator("[data-testid=tracking-status]").inner_text() == "已审批"
    assert cpage.locator("html").get_attribute("lang") == "zh-CN"
    assert cpage.get_by_text("Li Lei").count() == 0  # no identity on the public page
    customer.shoot("public-tracking")
    # a wrong access code finds nothing
    cpage.locator("#track-code").fill("WRONG-CODE")
    cpage.get_by_role("button", name="查询").click()
    cpage.get_by_text("编号或查询码不正确。").wait_for()

    # on to closure: the owner answers the customer and records the agreement, the department implements, the
    # owner records the follow-up
    closing = Visit(browser, server, "en")
    closing.sign_in("receiver@demo.example")
    closing.open_case(number_text)
    closing.act("sendCustomerMessage", "Awaiting customer")
    closing.act("recordCustomerOpinion", "Implementing", check=("agreed",))
    closing.sign_out()
    closing.sign_in("handler@demo.example")
    closing.open_case(number_text)
    closing.act("completeImplementation", "Follow-up")
    closing.sign_out()
    closing.sign_in("receiver@demo.example")
    closing.open_case(number_text)
    closing.act("recordFollowUp", "Closed", select={"rating": "^Satisfied$"})
    assert closing.page.locator("button[data-action]").count() == 0 or closing.status() == "Closed"
    closing.close()
    found = server.gql("query ($n: String!) { complaintByNumber(number: $n) { status satisfactionSurvey { rating } } }",
                       {"n": number_text}, server.token("receiver@demo.example"))
    assert found["complaintByNumber"] == {"status": "CLOSED", "satisfactionSurvey": {"rating": "SATISFIED"}}

    # the customer sees it closed, with the approved reply
    cpage.locator("#track-code").fill(access_code)
    cpage.get_by_role("button", name="查询").click()
    customer_status = cpage.locator("[data-testid=tracking-status]")
    customer_status.wait_for()
    from playwright.sync_api import expect

    expect(customer_status).to_have_text("已结案")
    cpage.get_by_text("We will replace it.").wait_for()
    customer.close()


def test_an_admin_edits_an_sla_profile(server: Server, browser: Any) -> None:
    admin = Visit(browser, server, "en")
    page = admin.page
    admin.sign_in("admin@demo.example")
    token = server.token("admin@demo.example")
    query = "{ slaProfiles { id name rules { kind days } } }"
    before = server.gql(query, token=token)["slaProfiles"][0]
    new_days = before["rules"][0]["days"] + 3
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="SLA profiles").click()
    editor = page.locator("form.card.inner").first
    editor.locator("input[type=number]").first.fill(str(new_days))
    admin.shoot("admin-sla")
    editor.locator("button[type=submit]").click()
    editor.get_by_text("Saved.").wait_for()
    after = server.gql(query, token=token)["slaProfiles"][0]
    assert after["id"] == before["id"]
    assert after["rules"] == [{**before["rules"][0], "days": new_days}, *before["rules"][1:]]
    for tab, name in (("users", "admin-users"), ("calendars", "admin-calendars"), ("policies", "admin-policies")):
        page.goto(f"{server.base}/admin/{tab}")
        page.locator("main table").first.wait_for()
        admin.shoot(name)
    page.goto(f"{server.base}/notifications")
    page.wait_for_selector("main h1")
    admin.shoot("notifications")
    admin.close()


def test_inbox_filters_ask_what_they_say(server: Server, browser: Any) -> None:
    """Each filter of the inbox shows the count the API gives for that filter, asked here directly."""
    from playwright.sync_api import expect

    token = server.token("receiver@demo.example")
    me = server.gql("{ me { id orgUnit { id } } }", token=token)["me"]

    def count(filter_: dict[str, Any]) -> int:
        data = server.gql("query ($f: ComplaintFilter) { complaints(filter: $f, first: 1) { totalCount } }",
                          {"f": filter_}, token)
        return int(data["complaints"]["totalCount"])

    visit = Visit(browser, server, "en")
    page = visit.page
    visit.sign_in("receiver@demo.example")
    shown = page.locator("main p[aria-live]")
    expect(shown).to_have_text(f"{count({})} complaints")
    page.get_by_label("Mine").check()
    expect(shown).to_have_text(f"{count({'ownerId': me['id']})} complaints")
    page.get_by_label("Mine").uncheck()
    page.get_by_label("My department").check()
    expect(shown).to_have_text(f"{count({'departmentId': me['orgUnit']['id']})} complaints")
    page.get_by_label("My department").uncheck()
    page.get_by_label("Due within (working days)").fill("2")
    expect(shown).to_have_text(f"{count({'dueWithinWorkingDays': 2})} complaints")
    page.get_by_label("Due within (working days)").fill("")
    page.get_by_label("Overdue").check()
    expect(shown).to_have_text(f"{count({'overdue': True})} complaints")
    page.get_by_label("Overdue").uncheck()
    page.get_by_label("Status").select_option("CLOSED")
    expect(shown).to_have_text(f"{count({'status': ['CLOSED']})} complaints")
    rows = page.locator("main tbody tr")
    expect(rows).to_have_count(min(count({"status": ["CLOSED"]}), 25))
    # the language switch: the same screen in Chinese
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.locator("main h1")).to_have_text("投诉收件箱")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(shown).to_have_text(f"共 {count({'status': ['CLOSED']})} 件投诉")
    visit.shoot("inbox-zh-CN")
    visit.close()


def test_management_statistics_figures_and_a_report_downloaded(server: Server, browser: Any) -> None:
    """The statistics page shows the figures the API gives for the same period and grouping; a report is generated
    (progress until COMPLETED) and its CSV downloaded through the signed link, the bytes the report's SHA-256 names;
    the management screens pass axe-core."""
    import hashlib

    from playwright.sync_api import expect

    submitted = server.gql(
        "mutation ($i: SubmitComplaintInput!) { submitComplaint(input: $i) { number userErrors { code } } }",
        {"i": {"complainant": {"name": "Han Meimei", "phone": "13700000000"}, "title": "Late delivery",
               "description": "The fridge came a week late."}})["submitComplaint"]
    assert submitted["userErrors"] == [] and submitted["number"]
    token = server.token("admin@demo.example")
    stats_query = """query ($p: StatisticsPeriod!, $g: [StatisticsGroupBy!]) {
        statistics(period: $p, groupBy: $g) { rows { received breached keys { value } } } }"""

    visit = Visit(browser, server, "en")
    page = visit.page
    visit.sign_in("admin@demo.example")
    page.get_by_role("link", name="Management").click()
    totals = page.locator("[data-testid=stats-totals]")
    totals.wait_for()
    period = {"from": page.locator("#stats-from").input_value(), "to": page.locator("#stats-to").input_value()}
    api_total = server.gql(stats_query, {"p": period, "g": []}, token)["statistics"]["rows"][0]
    assert api_total["received"] >= 1  # at least the complaint submitted above
    expect(totals.locator("dd[data-figure=received]")).to_have_text(str(api_total["received"]))
    expect(totals.locator("dd[data-figure=breached]")).to_have_text(str(api_total["breached"]))
    # grouped by channel: one table row per group, the received figures as the API gives them
    page.locator("#stats-group").select_option("CHANNEL")
    page.get_by_role("button", name="Show").click()
    by_channel = server.gql(stats_query, {"p": period, "g": ["CHANNEL"]}, token)["statistics"]["rows"]
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(len(by_channel))
    expect(page.get_by_role("img", name="Received by Intake channel")).to_be_visible()
    expect(page.get_by_role("img", name="Received per month")).to_be_visible()
    shown = sorted(int(rows.nth(i).locator("td").nth(1).inner_text()) for i in range(rows.count()))
    assert shown == sorted(r["received"] for r in by_channel)
    visit.shoot("management-statistics")

    # a report: generated by the worker, its progress shown until completed, its CSV downloaded
    page.get_by_role("link", name="Reports").click()
    page.get_by_role("button", name="Generate a report").click()
    report = page.locator("[data-testid=report]")
    expect(report.locator("[data-testid=job-state]")).to_have_text("Completed", timeout=60_000)
    link = report.locator("a[data-format=CSV]")
    with page.expect_download() as info:
        link.click()
    body = Path(info.value.path()).read_bytes()
    reports = server.gql("{ reports(first: 1) { edges { node { id state files { format sha256 size } } } } }",
                         token=token)["reports"]["edges"]
    node = reports[0]["node"]
    assert node["state"] == "COMPLETED"
    [csv_file] = [f for f in node["files"] if f["format"] == "CSV"]
    assert len(body) == csv_file["size"] and hashlib.sha256(body).hexdigest() == csv_file["sha256"]
    visit.shoot("management-reports")

    # an import of org units with a bad row: refused, the row's error shown, nothing applied; an export downloaded
    page.get_by_role("link", name="Exports and imports").click()
    page.locator("#import-into").select_option("orgUnits")
    page.locator("#import-file").set_input_files({
        "name": "units.csv", "mimeType": "text/csv",
        "buffer": b"code,name,kind,parent_code\nQA1,QA unit,DEPARTMENT,\nQA2,Bad kind,NOPE,\n"})
    page.locator("form[aria-label=Import] button[type=submit]").click()
    transfer = page.locator("[data-testid=transfer]")
    expect(transfer.locator("[data-testid=job-state]")).to_have_text("Failed", timeout=60_000)
    refused = transfer.locator("table tbody tr")
    expect(refused).to_have_count(1)
    assert [refused.locator("td").nth(i).inner_text() for i in (0, 1)] == ["3", "kind"]
    codes = {u["code"] for u in server.gql("{ orgUnits { code } }", token=token)["orgUnits"]}
    assert "QA1" not in codes and "QA2" not in codes
    visit.shoot("management-transfers-import")
    page.locator("#export-what").select_option("orgUnits")
    page.locator("form[aria-label=Export] button[type=submit]").click()
    expect(transfer.locator("[data-testid=job-state]")).to_have_text("Completed", timeout=60_000)
    with page.expect_download() as info:
        transfer.locator("a[data-format=CSV]").click()
    exported = Path(info.value.path()).read_text(encoding="utf-8-sig")
    assert exported.splitlines()[0].startswith("code,") and all(code in exported for code in codes)
    for tab in ("accountability", "reviews", "transfers"):
        page.goto(f"{server.base}/management/{tab}")
        page.locator("main section h2").first.wait_for()
        visit.shoot(f"management-{tab}")
    visit.close()


def test_sign_in_with_the_tenants_identity_provider(server: Server, browser: Any) -> None:
    """A real local OIDC provider: the console's button sends the browser there, its page signs the receiver in,
    the redirect back lands in the inbox; a redirect with a state this tab did not send is refused."""
    from oidc_provider import OidcProvider

    idp = OidcProvider(client_id="demo-console").start()
    try:
        admin = server.token("admin@demo.example")
        saved = server.gql("""mutation ($i: UpsertIdentityProviderInput!) {
              upsertIdentityProvider(input: $i) { identityProvider { id } userErrors { code message } } }""",
                           {"i": {"issuer": idp.issuer, "audience": idp.client_id, "jwksUri": f"{idp.base}/jwks.json",
                                  "displayName": "Demo SSO"}}, token=admin)["upsertIdentityProvider"]
        assert saved["userErrors"] == [], saved
        visit = Visit(browser, server, "en", navigates_to=(idp.base,))
        page = visit.page
        # the admin's screen lists it and names the redirect URI to register at the provider
        visit.sign_in("admin@demo.example")
        page.goto(server.base + "/admin/identityProviders")
        page.get_by_role("cell", name="Demo SSO", exact=True).wait_for()
        assert page.get_by_text(f"{server.base}/oidc/callback").count() == 1
        visit.shoot("admin-identity-providers")
        visit.sign_out()

        page.locator("#tenant").fill(TENANT)
        page.get_by_role("button", name="Sign in with Demo SSO").click()
        page.wait_for_url(re.compile(re.escape(idp.base) + r"/authorize\?"))
        page.locator("#login").fill("receiver@demo.example")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r"/inbox$"))
        page.get_by_text("王芳 (receiver)").first.wait_for()
        assert idp.token_requests == 1
        visit.shoot("oidc-inbox")
        visit.sign_out()

        # a redirect with another state than the one this tab sent signs nobody in
        page.locator("#tenant").fill(TENANT)
        page.get_by_role("button", name="Sign in with Demo SSO").click()
        page.wait_for_url(re.compile(re.escape(idp.base) + r"/authorize\?"))
        page.goto(server.base + "/oidc/callback?code=stolen&state=forged")
        page.locator("[data-testid=oidc-error]").wait_for()
        assert "state does not match" in page.locator("[data-testid=oidc-error]").inner_text()
        assert idp.token_requests == 1
        visit.shoot("oidc-state-refused")
        visit.close()
    finally:
        server.gql("""mutation ($i: UpsertIdentityProviderInput!) {
              upsertIdentityProvider(input: $i) { userErrors { code } } }""",
                   {"i": {"issuer": idp.issuer, "audience": idp.client_id, "jwksUri": f"{idp.base}/jwks.json",
                          "active": False}}, token=server.token("admin@demo.example"))
        idp.stop()


def test_the_tracking_page_shows_the_tenants_time_zone(server: Server, browser: Any) -> None:
    """A viewer in New York sees the complaint's times in the tenant's zone (Asia/Shanghai), as the staff do."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    submitted = server.gql(
        "mutation ($i: SubmitComplaintInput!) { submitComplaint(input: $i) { number accessCode userErrors { code } } }",
        {"i": {"complainant": {"name": "Han Meimei", "phone": "13700000001"}, "title": "Time zones",
               "description": "When was this received?"}})["submitComplaint"]
    assert submitted["userErrors"] == []
    info = server.gql("{ tenantInfo { name timeZone } }")["tenantInfo"]
    assert info["timeZone"] == "Asia/Shanghai"
    tracked = server.gql(
        "query ($n: String!, $c: String!) { trackComplaint(number: $n, accessCode: $c) { receivedAt } }",
        {"n": submitted["number"], "c": submitted["accessCode"]})["trackComplaint"]
    received = datetime.fromisoformat(tracked["receivedAt"])
    shanghai = received.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m/%d/%Y, %H:%M")
    new_york = received.astimezone(ZoneInfo("America/New_York")).strftime("%m/%d/%Y, %H:%M")
    assert shanghai != new_york

    visit = Visit(browser, server, "en", timezone_id="America/New_York")
    page = visit.page
    page.goto(f"{server.base}/p/{TENANT}/track?number={submitted['number']}")
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
    page.locator("[data-testid=tenant-name]").wait_for()
    page.locator("#track-code").fill(submitted["accessCode"])
    page.get_by_role("button", name="Look up").click()
    received_text = page.locator("[data-testid=tracking-received]")
    received_text.wait_for()
    assert received_text.inner_text() == shanghai
    assert page.get_by_text("Times are in Asia/Shanghai.").count() == 1
    visit.shoot("public-tracking-time-zone")
    visit.close()
