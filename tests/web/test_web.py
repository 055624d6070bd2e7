"""The clerk pages in a real browser: Debian's Chromium through Playwright, against the real app
served by uvicorn on a free port on embedded defaults (SQLite in a temporary folder, no broker:
the app's own background thread reads the pages).

The in-process worker is held behind a gate until the batch page is open, so the test sees every
page go from "waiting" to its final state through Server-Sent Events, without a reload. Screenshots
go to tests/artifacts/ (ignored by git).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from intake.api import create_app
from intake.batches import inprocess
from intake.config import PROJECT_ROOT, Settings
from tests.conftest import PASSWORD, _teardown, make_settings, make_users

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FINAL = ("read", "unidentified", "unregistered", "unreadable_file", "failed", "cancelled")


@dataclass
class Server:
    url: str
    settings: Settings
    gate: threading.Event


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[Server]:
    """The app on embedded defaults, served by uvicorn in a thread; page jobs wait for `gate`."""
    folder = tmp_path_factory.mktemp("web")
    shutil.copy(_sqlite_template, folder / "intake.db")
    settings = make_settings(folder, f"sqlite:///{folder / 'intake.db'}")
    make_users(settings)
    gate = threading.Event()
    gate.set()
    real_page_job = inprocess.JOBS["page"]

    def gated(page_id: int, s: Settings) -> None:
        gate.wait(60)
        real_page_job(page_id, s)

    mp = pytest.MonkeyPatch()
    mp.setitem(inprocess.JOBS, "page", gated)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name="uvicorn-test", daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not uv.started and thread.is_alive() and time.monotonic() < end:
        time.sleep(0.05)
    assert uv.started, "uvicorn did not start"
    yield Server(f"http://127.0.0.1:{port}", settings, gate)
    gate.set()
    uv.should_exit = True
    thread.join(15)
    mp.undo()
    _teardown(settings)


@pytest.fixture(scope="module")
def pw():  # noqa: ANN201 - Playwright's sync API object
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (scripts/setup --test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(pw, profile: Path, **options):  # noqa: ANN001, ANN003, ANN201 - a Playwright BrowserContext
    """Debian's Chromium with a fresh profile (Playwright downloads no browser here)."""
    ctx = pw.chromium.launch_persistent_context(
        profile, executable_path=str(CHROMIUM), args=ARGS, headless=True, locale="zh-TW",
        viewport={"width": 1280, "height": 900}, **options)
    ctx.set_default_timeout(15_000)
    return ctx


@pytest.fixture(scope="module")
def context(pw, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    ctx = launch(pw, tmp_path_factory.mktemp("chromium-profile"))
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, server: Server):  # noqa: ANN001, ANN201
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Two synthetic forms (a two-page PDF, and a form as two PNG files), a page that is not one of
    our forms, and a text file named .png."""
    from PIL import Image, ImageDraw

    from intake.forms.registry import load_registry
    from intake.forms.synth import synthesize

    out = tmp_path_factory.mktemp("scans")
    reg = load_registry(PROJECT_ROOT / "form_templates")
    list(synthesize(reg.get("child_protection"), count=1, out_dir=out / "cp", seed=11, profile="clean", fmt="pdf"))
    list(synthesize(reg.get("vulnerable_family"), count=1, out_dir=out / "vf", seed=12, profile="clean", fmt="png"))
    notes = out / "meeting-notes.png"
    img = Image.new("L", (1240, 1754), 255)
    ImageDraw.Draw(img).text((120, 120), "meeting notes - not a form", fill=0)
    img.save(notes)
    other = out / "other-notes.png"
    ImageDraw.Draw(img).text((120, 220), "another page", fill=0)
    img.save(other)
    bad = out / "not-a-scan.png"
    bad.write_text("this is a text file, not an image\n")
    return {"pdf": sorted((out / "cp").glob("*.pdf")), "png": sorted((out / "vf").glob("*.png")),
            "notes": [notes], "other": [other], "bad": [bad]}


def sign_in(page, server: Server, name: str = "clerk") -> None:  # noqa: ANN001
    page.context.clear_cookies()
    page.goto(f"{server.url}/login")
    page.get_by_label("帳號").fill(name)
    page.get_by_label("密碼").fill(PASSWORD)
    page.get_by_role("button", name="登入").click()
    page.wait_for_url(f"{server.url}/batches")


def shot(page, name: str) -> Path:  # noqa: ANN001
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


# ---------------------------------------------------------------- tests
def test_sign_in_and_out(page, server: Server) -> None:  # noqa: ANN001
    page.goto(f"{server.url}/batches/1")
    assert page.url == f"{server.url}/login?next=/batches/1"
    assert page.locator("html").get_attribute("lang") == "zh-Hant"
    page.get_by_label("帳號").fill("clerk")
    page.get_by_label("密碼").fill("wrong password")
    page.get_by_role("button", name="登入").click()
    assert "帳號或密碼錯誤" in page.locator("[role=alert]").inner_text()
    assert page.get_by_label("帳號").input_value() == "clerk"
    sign_in(page, server)
    assert page.get_by_role("heading", level=1).inner_text().startswith("批次")
    assert "clerk" in page.locator(".who").inner_text()
    page.get_by_role("button", name="登出").click()
    page.wait_for_url(f"{server.url}/login")
    page.goto(f"{server.url}/upload")
    assert page.url.startswith(f"{server.url}/login")


def test_upload_then_watch_every_page_move_live(page, server: Server, scans) -> None:  # noqa: ANN001
    sign_in(page, server)
    page.get_by_role("link", name="上傳 Upload").first.click()
    files = scans["pdf"] + scans["png"] + scans["notes"] + scans["bad"]
    page.set_input_files("#files", [str(p) for p in files])
    items = page.locator("#file-list li")
    assert items.count() == len(files)
    for item, f in zip(items.all(), files, strict=True):
        assert item.get_attribute("data-name") == f.name
        assert item.locator(".size").inner_text().endswith(("B", "KB", "MB"))

    server.gate.clear()  # hold the worker: the batch page must show every page move
    page.get_by_role("button", name="上傳 Upload").click()
    refused = page.locator('#file-list li[data-status="refused"]')
    refused.wait_for()
    assert refused.get_attribute("data-name") == "not-a-scan.png"
    assert "不是可讀取的掃描檔" in refused.inner_text()
    assert page.locator('#file-list li[data-status="accepted"]').count() == len(files) - 1
    shot(page, "upload-refused.png")
    page.locator("#go-to-batch").click()
    page.wait_for_url(f"{server.url}/batches/*")
    batch_id = int(page.url.rsplit("/", 1)[1])

    rows = page.locator("#pages tbody tr")
    total = 2 + 2 + 1
    assert rows.count() == total
    assert page.locator('#pages tbody tr[data-status="queued"]').count() == total
    assert "估算中" in page.locator("#eta").inner_text()
    assert "not-a-scan.png" in page.locator("#files-noted").inner_text()
    page.locator("#live").filter(has_text="即時更新中").wait_for()
    page.evaluate("window.__notReloaded = true")
    shot(page, "batch-waiting.png")

    started = time.monotonic()
    server.gate.set()
    page.locator('#pages tbody tr[data-status="processing"], #pages tbody tr[data-status="read"]').first.wait_for()
    page.wait_for_function(
        "() => document.getElementById('batch').getAttribute('data-status') === 'done'", timeout=90_000)
    took = time.monotonic() - started
    assert page.evaluate("window.__notReloaded") is True, "the page reloaded instead of updating live"
    assert int(page.locator("#batch").get_attribute("data-events")) >= total
    assert page.locator("#done").inner_text() == page.locator("#total").inner_text() == str(total)
    assert f"{total} of {total} pages done" in page.locator("#done-text").inner_text()
    assert page.locator("#bar").evaluate("b => [b.value, b.max]") == [total, total]
    assert "全部完成" in page.locator("#eta").inner_text()
    statuses = [r.get_attribute("data-status") for r in rows.all()]
    assert all(s in FINAL for s in statuses), statuses
    assert statuses.count("read") == 4, statuses
    for row in page.locator('#pages tbody tr[data-status="read"]').all():
        link = row.locator(".c-record a")
        assert link.get_attribute("href").startswith("/records/")
        assert row.locator(".form-meta code").inner_text() in ("child_protection", "vulnerable_family")
    odd = page.locator('#pages tbody tr[data-status="unidentified"]')
    assert "找不到表單的 QR 碼" in odd.locator(".c-detail").inner_text()
    assert odd.locator(".c-record a").count() == 0
    page.wait_for_timeout(1300)  # let the highlight of the last change fade
    shot(page, "batch-done.png")
    print(f"\n{total} pages read and shown live in {took:.1f} s")

    # re-run the page that could not be read: it goes back through the queue, live
    odd.get_by_role("button", name="重新讀取").click()
    page.locator("#action-message").filter(has_text="已重新排入讀取").wait_for()
    page.wait_for_function(
        "() => document.getElementById('batch').getAttribute('data-status') === 'done'", timeout=60_000)
    assert odd.get_attribute("data-status") == "unidentified"
    assert page.evaluate("window.__notReloaded") is True

    # a record's page: form and status, never the values
    first_record = page.locator('#pages tbody tr[data-status="read"] .c-record a').first
    first_record.click()
    page.wait_for_url(f"{server.url}/records/*")
    assert "Record" in page.get_by_role("heading", level=1).inner_text()
    assert f"#{batch_id}" in page.locator(".facts").inner_text()

    page.goto(f"{server.url}/batches")
    row = page.locator(f"#batch-{batch_id}")
    assert row.get_attribute("data-status") == "done"
    assert "已讀取" in row.inner_text() and f"{total} / {total}" in row.inner_text()
    shot(page, "batches.png")

    page.set_viewport_size({"width": 360, "height": 640})
    page.goto(f"{server.url}/batches/{batch_id}")
    shot(page, "batch-small-screen.png")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_cancel_asks_first_and_stops_the_batch(page, server: Server, scans) -> None:  # noqa: ANN001
    sign_in(page, server)
    server.gate.clear()
    try:
        page.goto(f"{server.url}/upload")
        page.set_input_files("#files", [str(scans["other"][0])])
        page.get_by_role("button", name="上傳 Upload").click()
        page.wait_for_url(f"{server.url}/batches/*")
        page.locator("#live").filter(has_text="即時更新中").wait_for()
        page.once("dialog", lambda d: d.dismiss())
        page.get_by_role("button", name="取消批次").click()
        assert page.locator("#batch").get_attribute("data-status") == "processing"
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="取消批次").click()
        page.wait_for_function("() => document.getElementById('batch').getAttribute('data-status') === 'cancelled'")
        assert page.locator('#pages tbody tr[data-status="cancelled"]').count() == 1
        assert page.get_by_role("button", name="取消批次").count() == 0 or \
            not page.get_by_role("button", name="取消批次").is_visible()
    finally:
        server.gate.set()


def test_drag_and_drop_adds_files(page, server: Server) -> None:  # noqa: ANN001
    sign_in(page, server)
    page.goto(f"{server.url}/upload")
    assert page.locator("#drop-hint").is_visible()
    dt = page.evaluate_handle("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(['%PDF-1.4 fake'], 'dropped-scan.pdf', {type: 'application/pdf'}));
        dt.items.add(new File([new Uint8Array(3000)], 'dropped-2.tif', {type: 'image/tiff'}));
        return dt;
    }""")
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": dt})
    assert "dragging" in page.locator("#dropzone").get_attribute("class")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dt})
    names = page.locator("#file-list li").evaluate_all("els => els.map(e => e.getAttribute('data-name'))")
    assert names == ["dropped-scan.pdf", "dropped-2.tif"]
    assert "3 KB" in page.locator("#file-list").inner_text()
    assert "dragging" not in page.locator("#dropzone").get_attribute("class")
    page.get_by_role("button", name="移除 Remove dropped-scan.pdf").click()
    assert page.locator("#file-list li").count() == 1


def test_keyboard_reaches_and_activates_upload(page, server: Server, scans) -> None:  # noqa: ANN001
    sign_in(page, server)
    page.goto(f"{server.url}/upload")
    page.set_input_files("#files", [str(scans["pdf"][0])])  # uploaded before: linked, not read again
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "upload-button":
            break
    else:
        raise AssertionError("Tab never reached the upload button")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/batches/*")
    notice = page.locator("#files-noted li")
    assert notice.get_attribute("data-file-status") == "duplicate"
    assert "之前已上傳過" in notice.inner_text()


def test_a_clerk_cannot_see_another_clerks_batch(page, server: Server) -> None:  # noqa: ANN001
    sign_in(page, server, "clerk")
    own = page.locator("#batches tbody tr").evaluate_all("rs => rs.map(r => r.getAttribute('data-batch-id'))")
    assert own, "the clerk's batches are listed"
    sign_in(page, server, "clerk2")
    assert page.locator("#batches").count() == 0
    assert "還沒有批次" in page.locator(".empty").inner_text()
    response = page.goto(f"{server.url}/batches/{own[0]}")
    assert response.status == 404
    assert "找不到" in page.get_by_role("heading", level=1).inner_text()
    assert page.goto(f"{server.url}/api/v1/batches/{own[0]}").status == 404
    sign_in(page, server, "supervisor")
    everyone = page.locator("#batches tbody tr").evaluate_all("rs => rs.map(r => r.getAttribute('data-batch-id'))")
    assert set(own) <= set(everyone)
    assert "clerk" in page.locator(f"#batch-{own[0]}").inner_text()


def test_pages_work_without_javascript(pw, server: Server, scans, tmp_path_factory) -> None:  # noqa: ANN001
    """Progressive enhancement: the same flows with JavaScript off (plain forms and links)."""
    ctx = launch(pw, tmp_path_factory.mktemp("chromium-nojs"), java_script_enabled=False)
    try:
        page = ctx.new_page()
        sign_in(page, server)
        page.goto(f"{server.url}/upload")
        page.set_input_files("#files", [str(scans["bad"][0]), str(scans["pdf"][0])])
        page.get_by_role("button", name="上傳 Upload").click()
        page.wait_for_url(f"{server.url}/batches/*")
        noted = page.locator("#files-noted li")
        assert [n.get_attribute("data-file-status") for n in noted.all()] == ["refused", "duplicate"]
        assert "不是可讀取的掃描檔" in noted.first.inner_text()
        page.goto(f"{server.url}/upload")
        page.set_input_files("#files", [str(scans["bad"][0])])
        page.get_by_role("button", name="上傳 Upload").click()
        assert "不是可讀取的掃描檔" in page.locator("#server-error").inner_text()
        assert "not-a-scan.png" in page.locator("#server-error").inner_text()
    finally:
        ctx.close()


def test_the_api_docs_load_swagger_ui_from_this_server_only(page, server: Server) -> None:  # noqa: ANN001
    """Offline (every request elsewhere is refused, as without internet) the docs page still
    works: Swagger UI comes from this server and renders the API's operations, under a
    Content-Security-Policy that allows scripts from this server only."""
    requests: list[str] = []
    refused: list[str] = []

    def only_here(route) -> None:  # noqa: ANN001 - a Playwright Route
        url = route.request.url
        requests.append(url)
        if url.startswith(server.url + "/"):
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.route("**/*", only_here)
    try:
        response = page.goto(f"{server.url}/api/v1/docs")
        assert response is not None and response.ok
        assert "script-src 'self';" in response.headers["content-security-policy"]
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() >= 15
        assert page.locator(".opblock-summary-path", has_text="/api/v1/batches/{batch_id}/cancel").count() == 1
    finally:
        page.unroute("**/*")
    assert refused == [] and blocked == []
    assert {u.rsplit("/", 1)[-1] for u in requests} >= {"docs", "swagger-ui.css", "swagger-ui-bundle.js", "start.js",
                                                       "openapi.json"}
