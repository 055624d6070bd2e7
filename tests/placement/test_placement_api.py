"""The placement endpoints over HTTP on embedded defaults (the app's own thread reads the pages):
who may do what (a clerk, a clerk's API token and a downstream token are refused every
placement write, on the API and on the web pages), the error shape, the OpenAPI document, and
the SSE progress events carrying what needs a person."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from intake.api import create_app
from intake.config import Settings
from intake.db.models import AuditEntry
from intake.db.session import get_db
from tests.conftest import PASSWORD, make_token, make_users, session_headers
from tests.placement.scans import make_blank_sheet
from tests.test_api import _validator, assert_error, files, read_events, wait_done

API = "/api/v1"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def logins(settings: Settings, client: TestClient) -> dict[str, dict[str, str]]:
    make_users(settings)
    out = {}
    for name in ("clerk", "supervisor", "admin"):
        r = client.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        out[name] = session_headers(r)
        client.cookies.clear()
    out["scanner"] = {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read')}"}
    out["reader"] = {"Authorization": f"Bearer {make_token(settings, 'records:read', 'batches:read', 'templates:read')}"}
    return out


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blank_sheet(tmp_path_factory.mktemp("sheet-api") / "back-of-page-1.png")


def _csrf(client: TestClient, url: str, headers: dict[str, str]) -> str:
    html = client.get(url, headers=headers).text
    m = re.search(r'data-csrf="([0-9a-f]+)"', html)
    assert m, "the batch page carries the session's CSRF token"
    return m.group(1)


def test_placement_writes_are_for_supervisors_and_admins_only(client: TestClient, logins, settings: Settings,
                                                              blank_pages: list[Path], sheet: Path) -> None:
    r = client.post(f"{API}/batches", files=files(blank_pages[0], sheet, blank_pages[1]), headers=logins["clerk"])
    batch_id = r.json()["id"]
    body = wait_done(client, batch_id, logins["clerk"])
    blank = body["pages"][1]
    assert blank["status"] == "blank" and blank["thumbnail_url"]
    assert body["review"]["pages_to_place"] == 1
    place = {"template": "child_protection", "version": 1, "page": 2,
             "points": [[0.05, 0.04], [0.95, 0.04], [0.95, 0.96], [0.05, 0.96]]}
    writes = [("PUT", f"{API}/pages/{blank['id']}/placement", place),
              ("DELETE", f"{API}/pages/{blank['id']}/placement", None),
              ("POST", f"{API}/pages/{blank['id']}/set-aside", None)]
    reads = [f"{API}/pages/{blank['id']}/placement", f"{API}/pages/to-place", f"{API}/pages/to-place?batch={batch_id}"]
    for who in ("clerk", "scanner", "reader"):
        for method, url, data in writes:
            assert_error(client.request(method, url, json=data, headers=logins[who]), 403, "forbidden")
        for url in reads:
            assert_error(client.get(url, headers=logins[who]), 403, "forbidden")
    # the clerk's own pages: the thumbnail yes, the placement pages and their forms no
    assert client.get(blank["thumbnail_url"], headers=logins["clerk"]).headers["content-type"] == "image/jpeg"
    assert client.get(f"/pages/{blank['id']}/place", headers=logins["clerk"]).status_code == 403
    assert client.get("/place", headers=logins["clerk"]).status_code == 403
    token = _csrf(client, f"/batches/{batch_id}", logins["clerk"])
    for url, data in ((f"/pages/{blank['id']}/place", {"csrf": token, "target": "child_protection:1:2"}),
                      (f"/pages/{blank['id']}/set-aside", {"csrf": token})):
        r = client.post(url, data=data, headers=logins["clerk"], follow_redirects=False)
        assert r.status_code == 403 and "沒有權限" in r.text
    # nothing changed
    again = client.get(f"{API}/batches/{batch_id}", headers=logins["clerk"]).json()
    assert again["pages"][1]["status"] == "blank" and again["pages"][1]["placement"] is None

    sup = logins["supervisor"]
    view = client.get(f"{API}/pages/{blank['id']}/placement", headers=sup).json()
    assert view["can_place"] and view["can_set_aside"] and view["placement"] is None
    assert {(t["template"], t["page"]) for t in view["targets"]} >= {("child_protection", 1), ("child_protection", 2)}
    target = next(t for t in view["targets"] if (t["template"], t["page"]) == ("child_protection", 2))
    assert target["points_kind"] == "marks" and target["points_mm"][0] == [11.0, 11.0]
    assert client.get(target["image_url"], headers=sup).headers["content-type"] == "image/png"
    listed = client.get(f"{API}/pages/to-place?batch={batch_id}", headers=sup).json()
    assert [p["id"] for p in listed["items"]] == [blank["id"]] and listed["next"] is None

    # bad placements are named
    bow_tie = dict(place, points=[[0.05, 0.04], [0.95, 0.96], [0.95, 0.04], [0.05, 0.96]])
    for data, status, code in [(bow_tie, 422, "placement_invalid"),
                               (dict(place, template="nope"), 422, "placement_invalid"),
                               (dict(place, page=3), 422, "placement_invalid"),
                               (dict(place, points=[[0.1, 0.1]] * 3), 422, "invalid_request")]:
        assert_error(client.put(f"{API}/pages/{blank['id']}/placement", json=data, headers=sup), status, code)
    read_page = body["pages"][0]
    assert_error(client.put(f"{API}/pages/{read_page['id']}/placement", json=place, headers=sup), 409, "conflict")
    assert_error(client.delete(f"{API}/pages/{blank['id']}/placement", headers=sup), 404, "not_found")

    # a supervisor sets it aside with the batch page's form (no JavaScript): back to the same screen
    token = _csrf(client, f"/batches/{batch_id}?problems=1", sup)
    r = client.post(f"/pages/{blank['id']}/set-aside", headers=sup, follow_redirects=False,
                    data={"csrf": token, "next": f"/batches/{batch_id}?problems=1"})
    assert r.status_code == 303 and r.headers["location"] == f"/batches/{batch_id}?problems=1#page-{blank['id']}"
    assert_error(client.post(f"{API}/pages/{blank['id']}/set-aside", headers=logins["admin"]), 409, "conflict")
    after = wait_done(client, batch_id, sup)
    assert after["review"]["pages_to_place"] == 0
    with get_db(settings).read_session() as s:
        actions = [(e.action, e.actor) for e in s.scalars(select(AuditEntry).where(AuditEntry.action.like("page.%")))]
    assert ("page.set_aside", "user:2") in actions and ("page.placement", "user:2") in actions
    assert not any(a == "page.place" for a, _ in actions)  # every refused write left nothing behind


def test_openapi_describes_placement_and_the_sse_progress_carries_review(client: TestClient, logins,
                                                                         blank_pages: list[Path],
                                                                         sheet: Path) -> None:
    doc = client.get(f"{API}/openapi.json").json()
    paths = doc["paths"]
    for path, method in [("/api/v1/pages/{page_id}/placement", "put"), ("/api/v1/pages/{page_id}/placement", "get"),
                         ("/api/v1/pages/{page_id}/placement", "delete"), ("/api/v1/pages/{page_id}/set-aside", "post"),
                         ("/api/v1/pages/to-place", "get"), ("/api/v1/pages/{page_id}/thumbnail", "get"),
                         ("/api/v1/templates/{form_id}/versions/{version}/pages/{page}/image", "get")]:
        op = paths[path][method]
        assert op.get("description") or op.get("summary"), (path, method)
    assert "403" in paths["/api/v1/pages/{page_id}/placement"]["put"]["responses"]
    points = doc["components"]["schemas"]["PlacementIn"]["properties"]["points"]
    assert "clockwise from the form's top-left" in points["description"]

    clerk = logins["clerk"]
    batch_id = client.post(f"{API}/batches", files=files(blank_pages[1], sheet), headers=clerk).json()["id"]
    events = read_events(client, f"{API}/batches/{batch_id}/events", clerk)
    last = [e["data"] for e in events if e["event"] == "progress"][-1]
    assert last["final"] and last["review"]["pages_to_place"] == 1 and last["review"]["records_needs_review"] == 1
    body = client.get(f"{API}/batches/{batch_id}?problems=true&limit=1", headers=clerk).json()
    assert [p["status"] for p in body["pages"]] == ["read"] and body["pages_next_start"] == 1
    assert body["pages_matching"] == 2 and body["pages"][0]["record_status"] == "needs_review"
    schema = paths["/api/v1/batches/{batch_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    errors = list(_validator(doc, schema).iter_errors(body))
    assert not errors, errors[0].message
    view = client.get(f"{API}/pages/{body['pages'][0]['id']}/placement", headers=logins["supervisor"]).json()
    schema = paths["/api/v1/pages/{page_id}/placement"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    errors = list(_validator(doc, schema).iter_errors(view))
    assert not errors, errors[0].message
    assert view["can_place"] is False  # a read page is placed by the pipeline
