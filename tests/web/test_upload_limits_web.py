"""The upload page and the size limit, in Chromium: with JavaScript the page refuses a file over
the limit before sending anything; without it the server's 413 (the upload stopped at the
limit) comes back as the upload page with the reason in MiB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from intake.db.models import Batch
from intake.db.session import get_db
from tests.web.test_web import Server, launch, sign_in

LIMIT = 60_000


@pytest.fixture
def small_limit(server: Server) -> Iterator[None]:
    saved = server.settings.max_upload_bytes
    server.settings.max_upload_bytes = LIMIT  # the app reads its settings object on every request
    yield
    server.settings.max_upload_bytes = saved


def batches(server: Server) -> int:
    with get_db(server.settings).read_session() as s:
        return s.scalar(select(func.count()).select_from(Batch)) or 0


def big_file(name: str = "big-scan.tif") -> dict:
    return {"name": name, "mimeType": "image/tiff", "buffer": b"II*\0" + b"\0" * (3 * LIMIT)}


def test_the_page_refuses_a_file_over_the_limit_before_sending_it(page, server: Server, small_limit) -> None:  # noqa: ANN001
    sign_in(page, server)
    page.goto(f"{server.url}/upload")
    before = batches(server)
    page.set_input_files("#files", [big_file()])
    page.get_by_role("button", name="上傳 Upload").click()
    alert = page.locator("#upload-result .alert-bad")
    alert.wait_for()
    text = alert.inner_text()
    assert "big-scan.tif (0.2 MiB)" in text and "0.1 MiB a file" in text
    assert page.locator("#file-list li").count() == 1  # still listed: it can be removed and the rest sent
    assert batches(server) == before


def test_without_javascript_the_servers_413_is_the_upload_page_with_the_reason(pw, server: Server, small_limit,  # noqa: ANN001
                                                                               tmp_path_factory) -> None:
    ctx = launch(pw, tmp_path_factory.mktemp("chromium-nojs-limit"), java_script_enabled=False)
    try:
        page = ctx.new_page()
        sign_in(page, server)
        page.goto(f"{server.url}/upload")
        before = batches(server)
        page.set_input_files("#files", [big_file()])
        page.get_by_role("button", name="上傳 Upload").click()
        error = page.locator("#server-error")
        error.wait_for()
        assert "檔案太大" in error.inner_text() and "limit of 0.1 MiB a file" in error.inner_text()
        assert batches(server) == before
    finally:
        ctx.close()
