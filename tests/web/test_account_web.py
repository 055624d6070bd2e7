"""The account and users pages in a real browser (Chromium through Playwright): a clerk changes
their password and their session elsewhere ends; an admin deactivates a user, whose open page
then leads back to sign-in; the sign-out button ends the session on the server. Each step goes
through the pages' own forms, with their CSRF tokens."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD
from tests.web.test_web import Server, launch, sign_in

NEW = "a brand new password"


def test_password_change_and_deactivation_end_sessions(page, pw, server: Server, tmp_path) -> None:  # noqa: ANN001
    other = launch(pw, tmp_path / "other-browser")  # the same clerk signed in on a second device
    try:
        elsewhere = other.new_page()
        sign_in(elsewhere, server, "clerk2")
        sign_in(page, server, "clerk2")
        page.get_by_role("link", name="帳號 Account").click()
        page.get_by_label("目前的密碼").fill(PASSWORD)
        page.get_by_label("新密碼（至少 10 個字元）").fill(NEW)
        page.get_by_label("再輸入一次新密碼").fill(NEW)
        page.get_by_role("button", name="變更密碼 Change password").click()
        assert "other sessions have ended" in page.locator("#pw-done").inner_text()
        page.goto(f"{server.url}/batches")
        assert page.url == f"{server.url}/batches"  # this session stays
        elsewhere.goto(f"{server.url}/batches")
        assert elsewhere.url.startswith(f"{server.url}/login")  # the other one ended

        sign_in(elsewhere, server, "admin")
        elsewhere.get_by_role("link", name="使用者 Users").click()
        row = elsewhere.locator('#users tr[data-name="clerk2"]')
        row.get_by_role("button", name="停用 Deactivate").click()
        elsewhere.wait_for_url("**/admin/users?done=deactivate*")
        assert elsewhere.locator('#users tr[data-name="clerk2"]').get_attribute("data-active") == "false"
        page.reload()
        assert page.url.startswith(f"{server.url}/login")  # deactivated: the clerk's page leads to sign-in
        elsewhere.locator('#users tr[data-name="clerk2"]').get_by_role("button", name="啟用 Reactivate").click()
        elsewhere.wait_for_url("**/admin/users?done=reactivate*")

        cookie = next(c["value"] for c in other.cookies() if c["name"] == "intake_session")
        elsewhere.get_by_role("button", name="登出").click()
        elsewhere.wait_for_url(f"{server.url}/login")
        r = httpx.get(f"{server.url}/api/v1/auth/me", cookies={"intake_session": cookie})
        assert r.status_code == 401  # the admin's cookie, replayed after signing out
    finally:
        other.close()


def test_the_api_docs_send_the_csrf_token_when_trying_a_change(page, server: Server) -> None:  # noqa: ANN001
    """Swagger UI's "Try it out" with the session cookie: its request interceptor adds the page's
    token, and a change made with it (signing out) is accepted."""
    sign_in(page, server, "supervisor")
    page.goto(f"{server.url}/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    sent = page.evaluate("""() => window.ui.getConfigs().requestInterceptor(
        {method: 'POST', url: '/api/v1/auth/logout', headers: {}}).headers['X-CSRF-Token']""")
    assert sent and len(sent) == 40
    status = page.evaluate("""(token) => fetch('/api/v1/auth/logout', {method: 'POST',
        headers: {'X-CSRF-Token': token}}).then(r => r.status)""", sent)
    assert status == 204
    assert page.evaluate("() => fetch('/api/v1/auth/me').then(r => r.status)") == 401
