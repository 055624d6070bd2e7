"""Errors at the edges: ids beyond what the database stores, unknown paths, unexpected failures —
the API answers its one problem shape (`{error, detail}`), the web routes an HTML page; never a
plain-text 500. On SQLite (64-bit integers) and PostgreSQL (32-bit `integer` columns)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from intake.api import create_app
from intake.config import Settings
from tests.conftest import make_users, session_headers
from tests.test_api import PASSWORD

API = "/api/v1"
HUGE = [str(2**64), str(2**63), str(2**31), "99999999999999999999999999", "-1", "-99999999999999999999999"]


@pytest.fixture
def app_client(any_settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    make_users(any_settings)
    app = create_app(any_settings)

    @app.get(f"{API}/test-boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a value that must not be shown: 王小明")

    @app.get("/test-boom", include_in_schema=False)
    def boom_page() -> None:
        raise RuntimeError("a value that must not be shown: 王小明")

    with TestClient(app, raise_server_exceptions=False) as c:
        headers = session_headers(c.post(f"{API}/auth/login", json={"name": "admin", "password": PASSWORD}))
        c.cookies.clear()
        yield c, headers


def problem(r, status: int) -> dict:  # noqa: ANN001
    assert r.status_code == status, (r.request.url, r.text[:200])
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    body = r.json()
    assert isinstance(body["error"], str) and isinstance(body["detail"], str) and body["detail"], body
    return body


def html_page(r, status: int) -> str:  # noqa: ANN001
    assert r.status_code == status, (r.request.url, r.text[:200])
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    assert "Content-Security-Policy" in r.headers
    return r.text


def test_ids_out_of_range_are_404_or_422_never_500(app_client) -> None:  # noqa: ANN001
    client, admin = app_client
    for n in HUGE:
        for url in (f"/batches/{n}", f"/records/{n}", f"/pages/{n}/preview", f"/batches/{n}/events",
                    f"/records/{n}/history", f"/webhooks/{n}", f"/families/{n}", f"/pages/{n}/placement"):
            assert problem(client.get(API + url, headers=admin), 404)["error"] == "not_found"
        for method, url, body in (("POST", f"/batches/{n}/cancel", None), ("POST", f"/pages/{n}/rerun", None),
                                  ("PATCH", f"/users/{n}", {"role": "clerk"}), ("DELETE", f"/tokens/{n}", None),
                                  ("POST", f"/records/{n}/approve", {"revision": 1}),
                                  ("PATCH", f"/records/{n}/fields/child_name", {"value": "x", "revision": 1})):
            r = client.request(method, API + url, headers=admin, json=body)
            assert r.status_code in (404, 422), (url, r.status_code, r.text[:200])
            problem(r, r.status_code)
        # the pages: an HTML page, signed in
        client.cookies.set("intake_session", admin["Cookie"].split("=", 1)[1])
        for url in (f"/batches/{n}", f"/records/{n}", f"/review/records/{n}", f"/pages/{n}/place",
                    f"/batches/{n}/cancel"):
            html_page(client.get(url), 404)
        client.cookies.clear()


def test_unknown_paths_and_unexpected_failures(app_client) -> None:  # noqa: ANN001
    client, admin = app_client
    assert problem(client.get(f"{API}/nothing-here", headers=admin), 404)["error"] == "not_found"
    assert problem(client.delete(f"{API}/batches", headers=admin), 405)["error"] == "method_not_allowed"
    assert "找不到" in html_page(client.get("/nothing-here"), 404)
    html_page(client.put("/batches"), 405)
    body = problem(client.get(f"{API}/test-boom"), 500)
    assert body["error"] == "internal_error" and "王小明" not in body["detail"]
    assert "王小明" not in html_page(client.get("/test-boom"), 500)
