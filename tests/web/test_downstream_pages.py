"""The public statistics page (SVG charts and tables, bilingual, no sign-in) and the admins'
webhook pages (plain forms with the CSRF token), through the app as a browser would post them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intake.api import create_app
from intake.config import Settings
from intake.db.session import get_db
from tests.conftest import PASSWORD, make_users
from tests.factories import new_record
from tests.stats.test_stats import PLAN, _data
from tests.webhooks.receiver import Receiver


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    make_users(settings)
    with TestClient(create_app(settings)) as c:
        yield c


def csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def sign_in(client: TestClient, name: str) -> None:
    token = csrf(client.get("/login").text)  # the sign-in form's token, bound to the cookie it sets
    r = client.post("/login", data={"name": name, "password": PASSWORD, "next": "/batches", "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303


def test_the_statistics_page_is_public_bilingual_and_draws_what_the_table_says(settings: Settings,
                                                                               client: TestClient) -> None:
    with get_db(settings).session() as s:
        n = 0
        for template, month, county, cats, count in PLAN:
            for _ in range(count):
                n += 1
                new_record(s, template=template, data=_data(template, month, county, cats, n), event=False)
    r = client.get("/stats")  # not signed in
    assert r.status_code == 200 and "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert "開放統計" in html and "Open statistics" in html and "依縣市" in html and "By county or city" in html
    assert html.count("<svg") == 2 and 'role="img"' in html  # month and county (all forms: no categories)
    assert "<script" not in html.split("</main>")[0]  # charts are drawn on the server
    api = client.get("/api/v1/stats").json()["scopes"]["all"]
    for c in api["by_county"]:  # the table beside the chart shows the release, × where withheld
        row = re.search(rf'<tr data-key="{re.escape(c["key"])}">.*?<td class="n">(.*?)</td>', html)
        if c["count"] or c["suppressed"]:
            assert row and row.group(1) == ("×" if c["suppressed"] else str(c["count"]))
    assert "class=\"bar-hidden\"" in html  # a withheld cell has no height in the chart
    cp = client.get("/stats", params={"template": "child_protection"}).text
    assert cp.count("<svg") == 3 and "依通報類別" in cp and "第49條" in cp
    assert client.get("/stats", params={"template": "nope"}).status_code == 404


def test_admins_manage_webhooks_on_their_pages(settings: Settings, client: TestClient) -> None:
    sign_in(client, "supervisor")
    assert client.get("/admin/webhooks").status_code == 403
    client.cookies.clear()
    sign_in(client, "admin")
    page = client.get("/admin/webhooks")
    assert page.status_code == 200 and "New subscription" in page.text
    token = csrf(page.text)
    bad = client.post("/admin/webhooks", data={"name": "x", "url": "ftp://nope", "csrf": token})
    assert bad.status_code == 422 and "alert-bad" in bad.text
    assert client.post("/admin/webhooks", data={"name": "x", "url": "http://x.org/", "csrf": "wrong"}).status_code == 403
    receiver = Receiver(fail_first=1000)
    try:
        created = client.post("/admin/webhooks", data={"name": "county", "url": receiver.url, "csrf": token,
                                                        "event_types": ["record.created"]})
        assert created.status_code == 200
        secret = re.search(r'<p class="secret" id="secret">(whsec_[^<]+)</p>', created.text)
        assert secret, "the secret is shown once, on creation"
        sub_id = int(re.search(r'action="/admin/webhooks/(\d+)/disable"', created.text).group(1))
        assert "whsec_" not in client.get(f"/admin/webhooks/{sub_id}").text  # and never again
        with get_db(settings).session() as s:
            new_record(s)
        receiver.wait_for(1)
        time.sleep(0.5)
        detail = client.get(f"/admin/webhooks/{sub_id}").text
        assert "http_500" in detail and 'data-status="pending"' in detail  # the log shows the failed try
        r = client.post(f"/admin/webhooks/{sub_id}/disable", data={"csrf": token}, follow_redirects=True)
        assert "disabled by an admin" in r.text and 'id="reason"' in r.text
        r = client.post(f"/admin/webhooks/{sub_id}/enable", data={"csrf": token}, follow_redirects=True)
        assert "啟用 <span lang=\"en\">active</span>" in r.text
        d_id = int(re.search(r'<tr data-id="(\d+)"', r.text).group(1))
        receiver.fail_first = 0
        r = client.post(f"/admin/webhooks/{sub_id}/replay", data={"csrf": token, "delivery": str(d_id)})
        assert f"delivery {d_id} queued again" in r.text
        assert receiver.wait_for(2)[-1].status == 200
        r = client.post(f"/admin/webhooks/{sub_id}/replay-since", data={"csrf": token, "since": "2000-01-01 00:00"})
        assert "1 deliveries queued" in r.text
        r = client.post(f"/admin/webhooks/{sub_id}/rotate", data={"csrf": token})
        assert re.search(r'id="secret">whsec_', r.text) and secret.group(1) not in r.text
        r = client.post(f"/admin/webhooks/{sub_id}/delete", data={"csrf": token}, follow_redirects=True)
        assert r.status_code == 200 and "No subscriptions yet" in r.text
    finally:
        receiver.close()
