"""The review station in a real browser, keyboard only: Debian's Chromium through Playwright
against the real app (uvicorn, embedded defaults: SQLite, the app's own thread reads the pages
with the real pipeline). No mouse event is sent: pages are reached with `goto` (an address typed)
and everything else is keys.

A synthetic batch is uploaded; a supervisor opens the queue, starts, sets every field that needs
a person to what the form says (Enter when the suggestion is right, typing, Space, digits
otherwise), corrects a checkbox and a date among the fields the machine accepted, approves with
Ctrl+Enter; then the record, its history, the audit log and the change feed are checked through
the API. A group verification pass the same way; the pages without JavaScript; a clerk is
refused; axe-core finds no violation on any review page; a review page stays under 150 KB.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from intake.api import create_app
from intake.config import PROJECT_ROOT, Settings
from intake.db.models import AuditEntry
from intake.db.session import get_db
from tests.conftest import PASSWORD, _teardown, make_settings, make_token, make_users
from tests.web.test_web import CHROMIUM, _free_port, launch

pytestmark = pytest.mark.browser
API = "/api/v1"
AXE = Path(__file__).resolve().parents[1] / "resources" / "axe-core" / "axe.min.js"


@dataclass
class Server:
    url: str
    settings: Settings
    api: httpx.Client  # as the supervisor
    reader: str  # a records:read token (the change feed)

    def wait_batch(self, batch_id: int, timeout: float = 180) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            body = self.api.get(f"{API}/batches/{batch_id}").json()
            if body["status"] == "done":
                return body
            time.sleep(0.3)
        raise AssertionError(f"batch {batch_id} not read in {timeout} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("review-web")
    shutil.copy(_sqlite_template, folder / "intake.db")
    settings = make_settings(folder, f"sqlite:///{folder / 'intake.db'}")
    make_users(settings)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name="uvicorn-review", daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not uv.started and thread.is_alive() and time.monotonic() < end:
        time.sleep(0.05)
    assert uv.started
    url = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=url, timeout=30)
    r = api.post(f"{API}/auth/login", json={"name": "supervisor", "password": PASSWORD})
    assert r.status_code == 200
    api.headers["X-CSRF-Token"] = r.json()["csrf_token"]  # cookie-authenticated changes need it
    yield Server(url, settings, api, make_token(settings, "records:read"))
    api.close()
    uv.should_exit = True
    thread.join(15)
    _teardown(settings)


@pytest.fixture(scope="module")
def pw():  # noqa: ANN201
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def page(pw, tmp_path: Path):  # noqa: ANN001, ANN201
    ctx = launch(pw, tmp_path / "profile")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def upload(server: Server, files: list[Path]) -> tuple[int, dict[str, dict[str, Any]]]:
    """Upload scans as a clerk would (the API); the batch id and each file's truth by name."""
    clerk = httpx.Client(base_url=server.url, timeout=60)
    clerk.headers["X-CSRF-Token"] = clerk.post(f"{API}/auth/login", json={"name": "clerk", "password": PASSWORD}
                                               ).json()["csrf_token"]
    r = clerk.post(f"{API}/batches", files=[("files", (p.name, p.read_bytes(), "application/pdf")) for p in files])
    assert r.status_code == 202, r.text
    clerk.close()
    truths = {p.name: json.loads(p.with_suffix(".json").read_text())["fields"] for p in files}
    return r.json()["id"], truths


@pytest.fixture(scope="module")
def office_batch(server: Server, synth_forms: list[Path]) -> tuple[int, dict[str, dict[str, Any]]]:
    batch_id, truths = upload(server, synth_forms)
    server.wait_batch(batch_id)
    return batch_id, truths


@pytest.fixture(scope="module")
def clean_batch(server: Server, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, dict[str, Any]]]:
    """Four clean child-protection forms (seed 3): several have choice fields to check."""
    from intake.forms.registry import load_registry
    from intake.forms.synth import synthesize

    out = tmp_path_factory.mktemp("clean-cp")
    list(synthesize(load_registry(PROJECT_ROOT / "form_templates").get("child_protection"), count=4, out_dir=out,
                    seed=3, profile="clean", fmt="pdf"))
    batch_id, truths = upload(server, sorted(out.glob("*.pdf")))
    server.wait_batch(batch_id)
    return batch_id, truths


# ---------------------------------------------------------------- keyboard helpers
def sign_in(page, server: Server, name: str) -> None:  # noqa: ANN001
    page.context.clear_cookies()
    page.goto(f"{server.url}/login")
    assert page.evaluate("document.activeElement.id") == "name"  # autofocus
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/batches")


def tab_to(page, selector: str, limit: int = 80) -> None:  # noqa: ANN001
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def active_section(page) -> dict[str, Any]:  # noqa: ANN001
    return page.evaluate("""() => {
        const s = document.activeElement.closest('.rv-field');
        if (!s) return null;
        const ins = [...s.querySelectorAll('.rv-input')];
        return {path: s.dataset.path, kind: s.dataset.kind, status: s.dataset.status,
                multiple: s.dataset.multiple === 'true', text: ins[0].value,
                options: ins.map(i => [i.value, i.checked])};
    }""")


def roc_compact(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{int(y) - 1911:03d}{m}{d}"


def set_by_keyboard(page, sec: dict[str, Any], want: Any) -> int:  # noqa: ANN001
    """Put the active field to `want` with keys only; the number of keys pressed (0 when right)."""
    kind = sec["kind"]
    if kind == "checkbox":
        if bool(sec["options"][0][1]) != bool(want):
            page.keyboard.press("Space")
            return 1
        return 0
    if kind == "choice":
        keys = 0
        values = [v for v, _ in sec["options"]]
        if sec["multiple"]:
            for n, (v, checked) in enumerate(sec["options"], 1):
                if checked != (v in (want or [])):
                    page.keyboard.press(str(n))
                    keys += 1
            return keys
        current = next((v for v, c in sec["options"] if c), "")
        if (current or None) != want:
            page.keyboard.press(str(values.index(want) + 1) if want else "0")
            return 1
        return 0
    shown = (roc_compact(want) if want else "") if kind == "date" else ("" if want is None else str(want))
    current = sec["text"]
    if kind == "date" and current and want and current.replace("/", "") == f"{int(want[:4]) - 1911}{want[5:7]}{want[8:]}":
        return 0
    if current == shown or (want is None and current == ""):
        return 0
    if want is None:
        page.keyboard.press("Delete")
        return 1
    page.keyboard.type(shown)
    return len(shown)


def record_files(server: Server, record_id: int) -> str:
    return server.api.get(f"{API}/records/{record_id}").json()["pages"][0]["file"]


# ---------------------------------------------------------------- tests
def test_a_supervisor_reviews_a_record_with_the_keyboard_only(page, server: Server, office_batch) -> None:  # noqa: ANN001
    batch_id, truths = office_batch
    sign_in(page, server, "supervisor")
    page.goto(f"{server.url}/review?batch={batch_id}")
    queued = page.locator("#queue tbody tr").evaluate_all("rs => rs.map(r => +r.dataset.recordId)")
    assert queued, "the office forms leave records to review"
    tab_to(page, "#start")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/review/records/*")
    rid = int(page.url.split("/review/records/")[1].split("?")[0])
    assert rid == queued[0]  # oldest first (none is urgent)
    truth = truths[record_files(server, rid)]
    before = server.api.get(f"{API}/records/{rid}").json()
    to_check = [p for p, f in before["fields"].items() if f["status"] == "needs_review"]
    assert to_check and int(page.locator("#rv-left").inner_text()) == len(to_check)

    # every field that needs a person: keys until it shows what the form says, then Enter
    checked = []
    for _ in range(len(to_check)):
        sec = active_section(page)
        assert sec and sec["status"] == "needs_review", sec
        set_by_keyboard(page, sec, truth.get(sec["path"]))
        checked.append(sec["path"])
        page.keyboard.press("Enter")
    assert sorted(checked) == sorted(to_check)
    page.wait_for_function("() => window.__rv.pending() === 0")
    assert page.locator("#rv-left").inner_text() == "0"
    assert page.evaluate("document.activeElement.id") == "rv-approve"
    page.keyboard.press("?")
    assert page.locator("#rv-help").is_visible() and "Ctrl+Enter" in page.locator("#rv-help").inner_text()
    page.keyboard.press("Escape")
    assert not page.locator("#rv-help").is_visible()

    # among the fields the machine accepted: a checkbox corrected (and put back), a date typed
    # wrong (refused in words), then as on the form in ROC digits
    page.keyboard.press("Alt+a")
    assert page.evaluate("document.getElementById('rv-fine').open")

    def go_to(path: str) -> None:
        page.keyboard.press("Shift+Tab")
        for _ in range(250):
            if (active_section(page) or {}).get("path") == path:
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"never reached {path}")

    go_to("urgent")
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__rv.pending() === 0")
    go_to("urgent")
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__rv.pending() === 0")
    go_to("child_birth_date")
    page.keyboard.type("1130230")
    assert "沒有這個日期" in page.locator(".rv-current .rv-hint").inner_text()  # read as typed
    page.keyboard.press("Enter")
    page.locator(".rv-field[data-path='child_birth_date'] .rv-error").wait_for()
    assert "日期" in page.locator(".rv-field[data-path='child_birth_date'] .rv-error").inner_text()
    assert (active_section(page) or {}).get("path") == "child_birth_date"
    page.keyboard.type(roc_compact(truth["child_birth_date"]))
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__rv.pending() === 0")
    assert page.locator(".rv-field[data-path='child_birth_date'] .rv-error").count() == 0

    # approve: Ctrl+Enter, and the next record opens (or the queue, when none is left)
    page.keyboard.press("Control+Enter")
    page.wait_for_function("u => location.href !== u", arg=page.url)
    assert f"/review/records/{rid}" not in page.url

    # the record through the API
    rec = server.api.get(f"{API}/records/{rid}").json()
    assert rec["status"] == "approved"
    for path in to_check + ["urgent", "child_birth_date"]:
        assert rec["fields"][path]["status"] == "verified", path
        want = truth.get(path)
        assert rec["fields"][path]["value"] == (want if want is not None or rec["fields"][path]["type"] != "checkbox"
                                                else False), path
    hist = server.api.get(f"{API}/records/{rid}/history").json()
    assert [c["kind"] for c in hist["fields"]["urgent"]["corrections"]] == ["corrected", "corrected"]
    assert [c["by"] for c in hist["fields"]["urgent"]["corrections"]] == ["supervisor", "supervisor"]
    assert hist["fields"]["child_birth_date"]["corrections"][-1]["to"] == truth["child_birth_date"]
    kinds = [v["kind"] for v in hist["revisions"]]
    n_changes = len(to_check) + 3
    assert kinds[0] == "created" and kinds[-1] == "approved" and kinds.count("corrected") == n_changes
    # the audit log: every change, by the supervisor, codes only
    with get_db(server.settings).read_session() as s:
        audit = list(s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(rid),
                                                       AuditEntry.action.in_(["record.correct", "record.approve"]))))
    assert len([a for a in audit if a.action == "record.correct"]) == n_changes
    assert len([a for a in audit if a.action == "record.approve"]) == 1
    assert {a.actor for a in audit} == {f"user:{hist['revisions'][-1]['actor'].split(':')[1]}"}
    # the change feed: the record once, approved, at its last revision
    feed = httpx.get(f"{server.url}{API}/records?limit=500", headers={"Authorization": f"Bearer {server.reader}"}).json()
    mine = [i for i in feed["items"] if i["id"] == rid]
    assert [(i["status"], i["revision"]) for i in mine] == [("approved", rec["revision"])]


def test_a_group_verification_pass_with_the_keyboard(page, server: Server, clean_batch) -> None:  # noqa: ANN001
    batch_id, truths = clean_batch
    sign_in(page, server, "supervisor")
    page.goto(f"{server.url}/review?batch={batch_id}")
    tab_to(page, "#g-type")
    for _ in range(10):
        if page.evaluate("document.activeElement.value") == "choice":
            break
        page.keyboard.press("ArrowDown")
    tab_to(page, "form[action='/review/group'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/review/group?*")
    cells = page.locator(".gv-cell").evaluate_all(
        "cs => cs.map(c => ({record: +c.dataset.record, path: c.dataset.path, kind: c.dataset.kind}))")
    # the marks reader of issue 13 settles most of these boxes now: one uncertain choice may be left
    assert len(cells) >= 1 and all(c["kind"] in ("choice", "multi") for c in cells)
    files = {c["record"]: record_files(server, c["record"]) for c in cells}
    fixed = 0
    for i, c in enumerate(cells):
        assert page.evaluate("document.activeElement.closest('.gv-cell').id") == f"gv-{i}"
        opts = page.locator(f"#gv-{i} .gv-input").evaluate_all("ins => ins.map(x => [x.value, x.checked])")
        want = truths[files[c["record"]]].get(c["path"])
        for n, (v, on) in enumerate(opts, 1):
            should = v in (want or []) if c["kind"] == "multi" else v == (want or "")
            if on != should and (c["kind"] == "multi" or should):
                page.keyboard.press(str(n) if v else "0")
                fixed += 1
        page.keyboard.press("Tab")
    page.keyboard.press("Control+Enter")
    page.locator("#gv-form[data-done='true']").wait_for()
    assert page.locator(".gv-changed").count() <= fixed
    assert page.locator(".gv-result-bad").count() == 0
    for c in cells:
        f = server.api.get(f"{API}/records/{c['record']}").json()["fields"][c["path"]]
        want = truths[files[c["record"]]].get(c["path"])
        assert f["status"] == "verified" and (sorted(f["value"]) == sorted(want) if c["kind"] == "multi"
                                             else f["value"] == want), (c, f["value"], want)
        kinds = [x["kind"] for x in server.api.get(f"{API}/records/{c['record']}/history").json()["fields"][c["path"]]
                 ["corrections"]]
        assert kinds in (["confirmed"], ["corrected"])
    page.keyboard.press("Enter")  # the "next group" link has the focus
    page.wait_for_url(f"{server.url}/review/group?*")


def test_without_javascript_the_record_is_a_plain_form(pw, server: Server, clean_batch, tmp_path: Path) -> None:  # noqa: ANN001
    batch_id, truths = clean_batch
    ctx = launch(pw, tmp_path / "nojs", java_script_enabled=False)
    try:
        page = ctx.new_page()
        sign_in(page, server, "supervisor")
        page.goto(f"{server.url}/review?batch={batch_id}")
        if page.locator("#start[disabled]").count():
            pytest.skip("nothing left to review in the clean batch")
        tab_to(page, "#start")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server.url}/review/records/*")
        rid = int(page.url.split("/review/records/")[1].split("?")[0])
        truth = truths[record_files(server, rid)]
        assert page.locator(".rv-mini").count() >= 1  # the page with the field outlined, without script
        todo = page.locator(".rv-tocheck").evaluate_all("ss => ss.map(s => s.dataset.path)")
        rec = server.api.get(f"{API}/records/{rid}").json()
        # put the fields right with the keyboard (plain form controls), then "save and approve"
        for path in todo:
            i = page.locator(f".rv-field[data-path='{path}']").get_attribute("data-i")
            tab_to(page, f"#rv-f-{i} .rv-input")
            f = rec["fields"][path]
            if f["type"] not in ("choice", "checkbox", "signature") and f["value"] != truth.get(path):
                page.keyboard.press("Control+a")
                page.keyboard.type(str(truth.get(path) or ""))
        tab_to(page, "#rv-approve")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        after = server.api.get(f"{API}/records/{rid}").json()
        if after["status"] != "approved":  # a choice was wrong: the page says what is left
            assert page.locator(".alert-bad").count() == 1
        else:
            assert all(after["fields"][p]["status"] == "verified" for p in todo)
    finally:
        ctx.close()


def test_a_clerk_is_refused_everywhere_in_the_review_station(page, server: Server, office_batch) -> None:  # noqa: ANN001
    sign_in(page, server, "clerk")
    assert "審核" not in page.locator("header nav").inner_text()
    for url in ("/review", "/review/records/1", "/review/group?type=checkbox", "/review/stats"):
        r = page.goto(f"{server.url}{url}")
        assert r.status == 403, url
        assert "權限" in page.locator("main").inner_text()
    csrf = page.evaluate("fetch('/upload').then(r => r.text()).then(t => t.match(/name=\"csrf\" value=\"([^\"]+)/)[1])")
    for url, data in (("/review/next", {}), ("/review/records/1/save", {"revision": "1"}),
                      ("/review/records/1/reject", {"revision": "1", "reason": "x"}),
                      ("/review/records/1/release", {}), ("/review/group", {"cell": "1:urgent"})):
        status = page.evaluate("""([url, data]) => {
            const f = new FormData(); for (const [k, v] of Object.entries(data)) f.append(k, v);
            return fetch(url, {method: 'POST', body: f, redirect: 'manual'}).then(r => r.status); }""",
                               [url, {**data, "csrf": csrf}])
        assert status == 403, url
    for method, url in (("PATCH", "/records/1/fields/urgent"), ("POST", "/records/1/approve"),
                        ("POST", "/review/next"), ("POST", "/review/group")):
        status = page.evaluate("""([m, u]) => fetch(u, {method: m, headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({value: true, revision: 1, items: []})}).then(r => r.status)""", [method, f"{API}{url}"])
        assert status == 403, url


def test_review_pages_are_light_and_have_no_accessibility_violations(page, server: Server, office_batch) -> None:  # noqa: ANN001
    batch_id, _ = office_batch
    sign_in(page, server, "admin")
    axe = AXE.read_text(encoding="utf-8")
    # any batch's record: since issue 13's fourth pass only one office form needs a person, and
    # the keyboard test above finishes it
    q = server.api.get(f"{API}/review/queue").json()
    for item in q["items"]:  # what the supervisor of the other tests left open
        if item["mine"]:
            assert server.api.delete(f"{API}/review/records/{item['id']}/claim").status_code == 204
    free = [i["id"] for i in q["items"] if not i["claimed_by"]]
    assert free, "the other tests leave a record to review"
    rid = free[0]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit: nothing cached
    page.goto(f"{server.url}/review/records/{rid}")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(600)  # the prefetch after the page is shown
    sizes = page.evaluate("""() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).map(e => [e.name, e.transferSize, e.encodedBodySize])""")
    total = sum(t for _, t, _ in sizes)
    print(f"\nreview page, nothing cached: {total} bytes in {len(sizes)} responses")
    assert all(t > 0 for _, t, _ in sizes), sizes  # measured, not served from a cache
    assert total <= 150 * 1024, sizes
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
    for url in (f"/review/records/{rid}", f"/review?batch={batch_id}", "/review/group?type=choice", "/review/stats"):
        page.goto(f"{server.url}{url}")
        page.evaluate(axe + "\n;0")
        violations = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})"
                                   ".then(r => r.violations.map(v => [v.id, v.impact, v.nodes.map(n => n.target.join(' '))]))")
        assert violations == [], (url, violations)
        if url.startswith("/review/records/"):
            page.keyboard.press("Alt+/")  # (? itself is a character in a free-text field)
            assert page.locator("#rv-help").is_visible()
            page.evaluate(axe + "\n;0")
            assert page.evaluate("() => axe.run(document).then(r => r.violations.length)") == 0
            page.keyboard.press("Escape")
        # release what the admin opened, so the other tests find it
    server.api.delete(f"{API}/review/records/{rid}/claim")
    page.goto(f"{server.url}/batches")
