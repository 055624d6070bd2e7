"""Pages the pipeline could not place, and the clerk's side, in a real browser (Debian's Chromium
through Playwright, the app on embedded defaults; see test_web.py for the server and browser).

- An unregistered page (a steep photo) fixed by four clicks on its registration squares is read
  and becomes a record with the rest of its form; the clerk may not place it.
- Unidentified pages (printed from a template version not installed) placed with the picker,
  JavaScript off.
- A blank page shown as "空白頁 Blank page" and set aside by a supervisor.
- The problems-only filter and paging, server side, with live updates that respect them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.placement.scans import (
    SteepForm,
    make_blank_sheet,
    make_other_version_form,
    make_steep_form,
)
from tests.web.test_web import Server, launch, shot, sign_in

pytestmark = pytest.mark.browser
API = "/api/v1"


@pytest.fixture(scope="module")
def steep(tmp_path_factory: pytest.TempPathFactory) -> SteepForm:
    return make_steep_form(tmp_path_factory.mktemp("steep-web"))


@pytest.fixture(scope="module")
def other_version(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_other_version_form(tmp_path_factory.mktemp("v2-web"))[0]


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blank_sheet(tmp_path_factory.mktemp("sheet-web") / "back.png")


def upload(page, server: Server, paths: list[Path]) -> int:  # noqa: ANN001
    """Upload with the form (the page's script posts to the API) and open the batch."""
    page.goto(f"{server.url}/upload")
    page.set_input_files("#files", [str(p) for p in paths])
    page.get_by_role("button", name="上傳 Upload").click()
    page.wait_for_url(f"{server.url}/batches/*")  # every file accepted: the script opens the batch
    return int(page.url.rsplit("/", 1)[1].split("?")[0])


def wait_done(page, server: Server, batch_id: int, timeout: float = 120) -> dict:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = page.request.get(f"{server.url}{API}/batches/{batch_id}").json()
        if body["status"] != "processing":
            return body
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} not done in {timeout} s")


# ---------------------------------------------------------------- four clicks
def test_an_unregistered_page_fixed_by_four_clicks_becomes_a_record(page, server: Server, steep: SteepForm) -> None:  # noqa: ANN001
    sign_in(page, server, "clerk")
    batch_id = upload(page, server, steep.files)
    body = wait_done(page, server, batch_id)
    p1, p2 = body["pages"]
    assert (p1["status"], p2["status"]) == ("unregistered", "read")
    assert p1["template"] == "child_protection" and p1["template_page"] == 1 and p1["alignment"] < 0.8
    record_id = p2["record_id"]
    assert p1["record_id"] == record_id and p1["record_status"] == "needs_review"
    page.reload()
    row = page.locator(f"#page-{p1['id']}")
    assert row.get_attribute("data-status") == "unregistered"
    assert "無法對準表單" in row.locator(".c-status").inner_text()
    page.wait_for_function(f"() => {{ const i = document.querySelector('#page-{p1['id']} .thumb img'); "
                           "return i && i.complete && i.naturalWidth === 200; }")
    assert row.get_by_role("link", name="放置").count() == 0  # a clerk does not place pages
    read_row = page.locator(f"#page-{p2['id']}")
    assert read_row.locator(".c-status .badge").get_attribute("class") == "badge tone-off"  # not a green "Read"
    assert "待人工確認" in read_row.locator(".c-record").inner_text()
    assert "已讀完，待處理" in page.locator("#batch-status").inner_text()  # read, but not done for a person
    summary = page.locator(f"#review-{batch_id}")
    assert "1 筆紀錄待審核" in summary.inner_text() and "1 頁待督導放置" in summary.inner_text()
    assert summary.locator("a").count() == 0  # the ways to review and place are for supervisors
    # the clerk is refused, on the page and on the API
    assert page.goto(f"{server.url}/pages/{p1['id']}/place").status == 403
    points = {"template": "child_protection", "version": 1, "page": 1, "points": steep.marks}
    assert page.request.put(f"{server.url}{API}/pages/{p1['id']}/placement", data=points).status == 403

    sign_in(page, server, "supervisor")
    page.goto(f"{server.url}/batches/{batch_id}")
    assert page.locator(f"#review-{batch_id} a.review-link").get_attribute("href") == f"/review?batch={batch_id}"
    page.locator(f"#page-{p1['id']}").get_by_role("link", name="放置").click()
    page.wait_for_url(f"{server.url}/pages/{p1['id']}/place")
    assert page.locator("#target").input_value() == "child_protection:1:1"  # the form its QR code named
    nxt = page.locator("#next-point")
    assert "下一點：1 左上的定位方塊" in nxt.inner_text() and "top-left registration square" in nxt.inner_text()
    assert page.locator("#guide .guide-mark.next").inner_text() == "1"
    assert page.locator("#read-points").is_disabled()
    scan = page.locator("#scan")
    scan.wait_for()
    page.wait_for_function("() => document.getElementById('scan').complete")
    box = scan.bounding_box()

    # the keyboard: focus the scan, Enter sets a point at the cross-hair, Backspace undoes it
    page.locator("#corner-pad").focus()
    assert page.locator(".cross-hair").is_visible()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.locator("#place").get_attribute("data-points") == "1"
    page.keyboard.press("Backspace")
    assert page.locator("#place").get_attribute("data-points") == "0"
    # a click in the wrong place, undone with the button
    scan.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
    assert page.locator("#place").get_attribute("data-points") == "1"
    page.get_by_role("button", name="復原 Undo").click()
    assert page.locator("#place").get_attribute("data-points") == "0"
    # the four registration squares, clockwise from the form's top-left
    words = ["2 右上", "3 右下", "4 左下", "四點都已點選"]
    for (fx, fy), expect in zip(steep.marks, words, strict=True):
        scan.click(position={"x": fx * box["width"], "y": fy * box["height"]})
        assert expect in nxt.inner_text()
    assert page.locator(".point-marker").count() == 4
    assert page.locator("#read-points").is_enabled()
    shot(page, "place-four-clicks.png")
    page.get_by_role("button", name="用這四點讀取").click()
    page.wait_for_url(f"{server.url}/batches/{batch_id}?start=0#page-{p1['id']}")
    row = page.locator(f"#page-{p1['id']}")
    page.wait_for_function(f"() => document.getElementById('page-{p1['id']}').getAttribute('data-status') === 'read'",
                           timeout=90_000)
    page.wait_for_function(f"() => document.getElementById('page-{p1['id']}').hasAttribute('data-record-status')",
                           timeout=30_000)
    assert "由督導放置" in row.locator(".c-detail").inner_text()
    assert f"#{record_id}" in row.locator(".c-record").inner_text()
    shot(page, "place-read.png")

    after = page.request.get(f"{server.url}{API}/batches/{batch_id}").json()
    placed = after["pages"][0]
    assert placed["status"] == "read" and placed["alignment"] > 0.95
    clicked = placed["placement"]["points"]  # where the squares were clicked, to the screen's pixel
    assert all(abs(c[0] - m[0]) < 0.005 and abs(c[1] - m[1]) < 0.005 for c, m in zip(clicked, steep.marks, strict=True))
    assert placed["record_id"] == record_id  # the same record, with the rest of its form
    record = page.request.get(f"{server.url}{API}/records/{record_id}").json()
    assert [p["page_id"] for p in record["pages"]] == [p1["id"], p2["id"]]
    page1 = {k: f for k, f in record["fields"].items() if f["provenance"]["template_page"] == 1}
    assert page1 and not any("page_unreadable" in f["errors"] for f in page1.values())
    truth = steep.truth["fields"]
    wrong = [(k, f["value"]) for k, f in page1.items() if f["status"] == "accepted" and "[" not in k
             and f["value"] != truth.get(k)]
    assert wrong == []
    assert record["data"]["child_national_id"] == truth["child_national_id"]


# ---------------------------------------------------------------- the picker, without JavaScript
def test_unidentified_pages_are_placed_with_the_picker_without_javascript(
        pw, server: Server, other_version: list[Path], tmp_path_factory) -> None:  # noqa: ANN001
    ctx = launch(pw, tmp_path_factory.mktemp("chromium-nojs-place"), java_script_enabled=False)
    try:
        page = ctx.new_page()
        sign_in(page, server, "clerk")
        page.goto(f"{server.url}/upload")
        page.set_input_files("#files", [str(p) for p in other_version])
        page.get_by_role("button", name="上傳 Upload").click()
        page.wait_for_url(f"{server.url}/batches/*")
        batch_id = int(page.url.rsplit("/", 1)[1])
        body = wait_done(page, server, batch_id)
        assert [p["status"] for p in body["pages"]] == ["unidentified", "unidentified"]
        assert body["review"]["pages_to_place"] == 2

        sign_in(page, server, "supervisor")
        page.goto(f"{server.url}/place?batch={batch_id}")
        assert page.locator("#to-place tbody tr").count() == 2
        for n, p in enumerate(body["pages"], 1):
            page.goto(f"{server.url}/place?batch={batch_id}")
            page.locator(f"#page-{p['id']}").get_by_role("link", name="放置").click()
            page.wait_for_url(f"{server.url}/pages/{p['id']}/place")
            assert page.locator("#corners").is_hidden()  # four clicks need JavaScript; the picker does not
            assert "which is not installed" in page.locator(".reason-en").inner_text()
            page.select_option("#target", f"child_protection:1:{n}")
            page.get_by_role("button", name="依此頁讀取").click()
            page.wait_for_url(f"{server.url}/batches/{batch_id}?start={p['position']}#page-{p['id']}")
        body = wait_done(page, server, batch_id)
        assert [p["status"] for p in body["pages"]] == ["read", "read"]
        assert body["pages"][0]["record_id"] == body["pages"][1]["record_id"] is not None
        assert body["review"]["pages_to_place"] == 0
        page.goto(f"{server.url}/batches/{batch_id}")
        assert page.locator('#pages tbody tr[data-status="read"]').count() == 2
        shot(page, "place-picker-nojs.png")
    finally:
        ctx.close()


# ---------------------------------------------------------------- blank pages
def test_a_blank_page_is_shown_as_blank_and_set_aside(page, server: Server, blank_pages: list[Path],  # noqa: ANN001
                                                      sheet: Path) -> None:
    sign_in(page, server, "clerk")
    batch_id = upload(page, server, [blank_pages[0], sheet, blank_pages[1]])
    body = wait_done(page, server, batch_id)
    assert [p["status"] for p in body["pages"]] == ["read", "blank", "read"]
    blank = body["pages"][1]
    sign_in(page, server, "supervisor")
    page.goto(f"{server.url}/batches/{batch_id}")
    row = page.locator(f"#page-{blank['id']}")
    assert "空白頁" in row.inner_text() and "Blank page" in row.inner_text()
    assert "無法辨識表單" not in row.inner_text()
    assert page.locator(f"#review-{batch_id} [data-count=pages_to_place]").is_visible()
    row.get_by_role("button", name="略過").click()
    page.locator("#action-message").filter(has_text="已略過").wait_for()
    assert row.get_attribute("data-status") == "set_aside"
    assert "已略過" in row.locator(".c-status").inner_text()
    page.wait_for_function(f"() => document.querySelector('#review-{batch_id} [data-count=pages_to_place]').hidden")
    assert page.locator("#problems-n").inner_text() == "2"  # the two pages of the record that needs review
    page.reload()
    assert page.locator(f"#page-{blank['id']}").get_attribute("data-status") == "set_aside"
    page.goto(f"{server.url}/batches")
    listed = page.locator(f"#batch-{batch_id}")
    assert "1 筆紀錄待審核" in listed.inner_text() and "待督導放置" not in listed.inner_text()
    assert listed.get_by_role("link", name="只看問題頁").get_attribute("href") == f"/batches/{batch_id}?problems=1"
    shot(page, "batches-review.png")


# ---------------------------------------------------------------- problems only, paging, live
def test_problems_only_and_paging_with_live_updates(context, server: Server, sheet: Path,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    """A batch of 12 pages in one TIFF (a blank form and 10 blank sheets) watched twice at once
    while it is read: problems only (all 12 become problems: they appear live, in order) and all
    pages ten at a time (the two pages after that window never appear in it). Then the screens,
    by plain links."""
    from PIL import Image

    from intake.config import PROJECT_ROOT
    from intake.forms.registry import load_registry
    from intake.forms.render import render_pages

    form = render_pages(load_registry(PROJECT_ROOT / "form_templates").get("vulnerable_family"), 300)
    tif = tmp_path / "mixed.tif"
    img = Image.open(sheet)
    form[0].save(tif, save_all=True, append_images=[form[1]] + [img] * 10, dpi=(300, 300), compression="tiff_lzw")
    problems, window = context.new_page(), context.new_page()
    try:
        sign_in(problems, server, "clerk")
        server.gate.clear()
        batch_id = upload(problems, server, [tif])
        problems.goto(f"{server.url}/batches/{batch_id}?problems=1&limit=10")
        window.goto(f"{server.url}/batches/{batch_id}?limit=10")
        assert problems.locator("#pages tbody tr").count() == 0 and problems.locator("#no-rows").is_visible()
        assert window.locator("#pages tbody tr").count() == 10
        for p in (problems, window):
            p.locator("#live").filter(has_text="即時更新中").wait_for()
    finally:
        server.gate.set()
    for p in (problems, window):
        p.wait_for_function("() => document.getElementById('batch').getAttribute('data-status') === 'done'",
                            timeout=120_000)
    positions = problems.locator("#pages tbody tr").evaluate_all(
        "rs => rs.map(r => +r.getAttribute('data-position'))")
    assert positions == list(range(12))  # every page became a problem: inserted live, in batch order
    assert problems.locator("#no-rows").is_hidden()
    statuses = window.locator("#pages tbody tr").evaluate_all("rs => rs.map(r => r.getAttribute('data-status'))")
    assert statuses == ["read", "read"] + ["blank"] * 8  # updated live; the last two are not on this screen
    assert window.locator("#problems-n").inner_text() == "12"
    # the screens, by plain links
    problems.reload()
    assert problems.locator("#pages tbody tr").count() == 10
    assert "rows 1–10 of 12" in problems.locator("#pager").inner_text()
    problems.get_by_role("link", name="下一頁 Next").click()
    problems.wait_for_url(f"{server.url}/batches/{batch_id}?problems=1&start=10&limit=10")
    assert problems.locator("#pages tbody tr").evaluate_all(
        "rs => rs.map(r => +r.getAttribute('data-position'))") == [10, 11]
    problems.get_by_role("link", name="上一頁 Previous").click()
    problems.wait_for_url(f"{server.url}/batches/{batch_id}?problems=1&limit=10")
    problems.get_by_role("link", name="全部 All pages").click()
    problems.wait_for_url(f"{server.url}/batches/{batch_id}")
    assert problems.locator("#pages tbody tr").count() == 12
    shot(problems, "batch-all-pages.png")
    problems.close()
    window.close()
