"""The HTTP API on embedded defaults (pages read on the app's own background thread): roles and
tokens, the error shape, the OpenAPI document, the SSE stream and the records feed."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from intake.api import create_app
from intake.config import Settings
from intake.db.models import AuditEntry, Record
from intake.db.session import get_db, next_values
from tests.conftest import PASSWORD, make_token, make_users, session_headers

API = "/api/v1"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def logins(settings: Settings, client: TestClient) -> dict[str, dict[str, str]]:
    """Headers for each kind of caller: session cookies for users, bearer tokens for systems."""
    make_users(settings)
    out = {}
    for name in ("clerk", "clerk2", "supervisor", "admin"):
        r = client.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        out[name] = session_headers(r)
        client.cookies.clear()
    out["reader"] = {"Authorization": f"Bearer {make_token(settings, 'records:read')}"}
    out["scanner"] = {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read')}"}
    return out


def files(*paths: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


def wait_done(client: TestClient, batch_id: int, headers: dict[str, str], timeout: float = 90) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body = client.get(f"{API}/batches/{batch_id}", headers=headers).json()
        if body["status"] != "processing":
            return body
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} not done in {timeout} s")


def assert_error(r, status: int, code: str) -> None:  # noqa: ANN001
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "detail"} and body["error"] == code, body
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10


# ---------------------------------------------------------------- auth and roles
def test_who_may_do_what(client: TestClient, logins, blank_pages) -> None:
    assert_error(client.get(f"{API}/batches"), 401, "not_authenticated")
    assert_error(client.get(f"{API}/records", headers={"Authorization": "Bearer itk_nope"}), 401,
                 "not_authenticated")
    assert_error(client.get(f"{API}/records", headers={"Authorization": "Basic eDp5"}), 401, "not_authenticated")
    r = client.post(f"{API}/batches", files=files(blank_pages[0]), headers=logins["clerk"])
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    assert_error(client.get(f"{API}/records", headers=logins["clerk"]), 403, "forbidden")
    assert_error(client.get(f"{API}/batches/{batch_id}", headers=logins["clerk2"]), 404, "not_found")
    assert [b["id"] for b in client.get(f"{API}/batches", headers=logins["clerk2"]).json()["items"]] == []
    assert [b["id"] for b in client.get(f"{API}/batches", headers=logins["supervisor"]).json()["items"]] == [batch_id]
    assert client.get(f"{API}/batches/{batch_id}", headers=logins["supervisor"]).status_code == 200
    assert client.get(f"{API}/records", headers=logins["reader"]).status_code == 200
    assert_error(client.post(f"{API}/batches", files=files(blank_pages[0]), headers=logins["reader"]), 403,
                 "forbidden")
    r = client.post(f"{API}/batches", files=files(blank_pages[1]), headers=logins["scanner"])
    assert r.status_code == 202
    assert client.get(f"{API}/batches/{r.json()['id']}", headers=logins["scanner"]).status_code == 200
    assert_error(client.get(f"{API}/batches/{batch_id}", headers=logins["scanner"]), 404, "not_found")
    assert_error(client.get(f"{API}/users", headers=logins["supervisor"]), 403, "forbidden")
    assert client.get(f"{API}/auth/me", headers=logins["reader"]).json()["scopes"] == ["records:read"]
    wait_done(client, batch_id, logins["clerk"])


def test_admin_manages_users_and_tokens(client: TestClient, logins) -> None:
    admin = logins["admin"]
    r = client.post(f"{API}/users", json={"name": "mei", "password": "a long enough one", "role": "supervisor"},
                    headers=admin)
    assert r.status_code == 201 and r.json()["role"] == "supervisor"
    assert_error(client.post(f"{API}/users", json={"name": "mei", "password": "a long enough one",
                                                   "role": "clerk"}, headers=admin), 409, "conflict")
    assert_error(client.post(f"{API}/users", json={"name": "x", "password": "short", "role": "clerk"},
                             headers=admin), 422, "invalid_request")
    r = client.post(f"{API}/tokens", json={"name": "case system", "scopes": ["records:read"]}, headers=admin)
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/records", headers=bearer).status_code == 200
    assert token not in client.get(f"{API}/tokens", headers=admin).text  # the secret is shown once
    assert_error(client.post(f"{API}/tokens", json={"name": "x", "scopes": ["admin"]}, headers=admin), 422,
                 "invalid_request")
    assert client.delete(f"{API}/tokens/{token_id}", headers=admin).json()["revoked_at"]
    assert_error(client.get(f"{API}/records", headers=bearer), 401, "not_authenticated")
    assert_error(client.post(f"{API}/auth/login", json={"name": "mei", "password": "wrong password"}), 401,
                 "not_authenticated")
    r = client.post(f"{API}/auth/login", json={"name": "mei", "password": "a long enough one"})
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=lax" in r.headers["set-cookie"].lower()


# ---------------------------------------------------------------- errors and OpenAPI
def test_errors_have_one_shape(client: TestClient, logins, tmp_path: Path) -> None:
    clerk = logins["clerk"]
    assert_error(client.get(f"{API}/nothing-here", headers=clerk), 404, "not_found")
    assert_error(client.get(f"{API}/batches/999", headers=clerk), 404, "not_found")
    assert_error(client.get(f"{API}/batches?limit=0", headers=clerk), 422, "invalid_request")
    assert_error(client.get(f"{API}/records?after=garbage!", headers=logins["reader"]), 422, "invalid_request")
    assert_error(client.post(f"{API}/batches", headers=clerk), 422, "invalid_request")
    text = tmp_path / "scan.png"
    text.write_text("this is not an image at all, only some words in a text file")
    r = client.post(f"{API}/batches", files=files(text), headers=clerk)
    assert_error(r, 415, "unsupported_file_type")
    assert "scan.png" in r.json()["detail"] and "text file" in r.json()["detail"]
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    assert_error(client.post(f"{API}/batches", files=files(empty), headers=clerk), 422, "empty_file")


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for one response schema, resolving its $refs into the OpenAPI document."""
    registry = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(doc))
    schema = json.loads(json.dumps(schema).replace('"#/components', '"urn:openapi#/components'))
    return Draft202012Validator(schema, registry=registry)


def test_openapi_is_served_and_describes_the_responses(client: TestClient, logins, blank_pages) -> None:
    doc = client.get(f"{API}/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    Draft202012Validator.check_schema(doc["components"]["schemas"]["BatchOut"])
    paths = doc["paths"]
    for path in ("/api/v1/batches", "/api/v1/batches/{batch_id}", "/api/v1/batches/{batch_id}/events",
                 "/api/v1/records", "/api/v1/records/{record_id}", "/api/v1/templates",
                 "/api/v1/templates/{form_id}/versions/{version}/schema", "/api/v1/pages/{page_id}/rerun",
                 "/api/v1/batches/{batch_id}/cancel"):
        assert path in paths, path
    assert {"HTTPBearer", "APIKeyCookie"} <= set(doc["components"]["securitySchemes"])
    docs = client.get(f"{API}/docs")
    assert docs.status_code == 200
    # every script, style and icon of the docs page from this server (the browser test loads it offline)
    urls = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert urls and all(u.startswith(f"{API}/docs/") for u in urls), urls
    for u in urls:
        assert client.get(u).status_code == 200, u
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    assert f'"{API}/openapi.json"' in client.get(f"{API}/docs/start.js").text
    r = client.post(f"{API}/batches", files=files(*blank_pages), headers=logins["clerk"])
    checks = [(r.json(), paths["/api/v1/batches"]["post"]["responses"]["202"])]
    wait_done(client, r.json()["id"], logins["clerk"])
    feed = client.get(f"{API}/records", headers=logins["reader"]).json()
    checks.append((feed, paths["/api/v1/records"]["get"]["responses"]["200"]))
    record = client.get(feed["items"][0]["url"], headers=logins["reader"]).json()
    checks.append((record, paths["/api/v1/records/{record_id}"]["get"]["responses"]["200"]))
    for body, response in checks:
        schema = response["content"]["application/json"]["schema"]
        errors = list(_validator(doc, schema).iter_errors(body))
        assert not errors, errors[0].message


# ---------------------------------------------------------------- SSE
def read_events(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    events, current = [], {}
    with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if current:
                    events.append(current)
                    if current.get("event") == "progress" and current["data"]["final"]:
                        break
                current = {}
                continue
            key, _, value = line.partition(": ")
            if key == "data":
                current["data"] = json.loads(value)
            elif key in ("event", "id"):
                current[key] = value
    return events


def test_sse_stream_follows_a_batch_to_the_end_and_resumes(client: TestClient, logins, blank_pages) -> None:
    clerk = logins["clerk"]
    batch_id = client.post(f"{API}/batches", files=files(*blank_pages), headers=clerk).json()["id"]
    events = read_events(client, f"{API}/batches/{batch_id}/events", clerk)
    progress = [e["data"] for e in events if e["event"] == "progress"]
    assert progress[0]["total"] == 2
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert progress[-1] | {"eta_seconds": 0.0} == progress[-1] and progress[-1]["done"] == 2
    assert progress[-1]["status"] == "done" and progress[-1]["final"] is True
    pages = [e for e in events if e["event"] == "page"]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)
    last = {e["data"]["id"]: e["data"] for e in pages}
    assert {p["status"] for p in last.values()} == {"read"}
    assert all(p["record_url"] for p in last.values())
    # reconnect after the first page event: only what came later, then the end
    resumed = read_events(client, f"{API}/batches/{batch_id}/events", clerk | {"Last-Event-ID": pages[0]["id"]})
    assert all(int(e["id"]) > int(pages[0]["id"]) for e in resumed if e["event"] == "page")
    assert {e["data"]["id"] for e in resumed if e["event"] == "page"} <= {e["data"]["id"] for e in pages[1:]}
    assert resumed[-1]["event"] == "progress" and resumed[-1]["data"]["final"]
    assert resumed[-1]["data"]["done"] == 2


# ---------------------------------------------------------------- records feed
def test_records_feed_cursor_semantics(client: TestClient, logins, blank_pages, settings: Settings) -> None:
    reader = logins["reader"]
    for paths in (blank_pages, list(reversed(blank_pages))):
        bid = client.post(f"{API}/batches", files=files(*[p for p in paths]), headers=logins["clerk"]).json()["id"]
        wait_done(client, bid, logins["clerk"])
    # (the second upload is the same files: linked, no new records)
    first = client.get(f"{API}/records?limit=1", headers=reader).json()
    assert len(first["items"]) == 1
    rest = client.get(f"{API}/records?after={first['next']}", headers=reader).json()
    assert rest["items"] == []
    assert client.get(f"{API}/records?after={rest['next']}", headers=reader).json() == rest
    record = client.get(first["items"][0]["url"], headers=reader).json()
    field = record["fields"]["child_name"]
    assert field["provenance"]["page_id"] and len(field["provenance"]["box"]) == 4
    assert field["provenance"]["engine"] and "confidence" in field["provenance"]
    assert record["pages"] and record["revision"] == first["items"][0]["revision"]
    crop = next(f["provenance"]["crop_url"] for f in record["fields"].values() if f["provenance"]["crop_url"])
    assert client.get(crop, headers=reader).headers["content-type"] == "image/png"
    # a change gives the record a new revision and moves it to the end; seen once more
    with get_db(settings).session() as s:
        rec = s.get(Record, record["id"])
        rec.status, rec.revision = "accepted", next_values(s, "revision")[0]
    changed = client.get(f"{API}/records?after={rest['next']}", headers=reader).json()
    assert [(i["id"], i["status"]) for i in changed["items"]] == [(record["id"], "accepted")]
    assert client.get(f"{API}/records?after={changed['next']}", headers=reader).json()["items"] == []
    assert client.get(f"{API}/records?status=needs_review", headers=reader).json()["items"] == []
    assert len(client.get(f"{API}/records?template=child_protection", headers=reader).json()["items"]) == 1
    assert client.get(f"{API}/records?template=domestic_violence", headers=reader).json()["items"] == []


def test_reads_and_changes_are_audited_without_personal_data(client: TestClient, logins, blank_pages,
                                                             settings: Settings) -> None:
    bid = client.post(f"{API}/batches", files=files(*blank_pages), headers=logins["clerk"]).json()["id"]
    batch = wait_done(client, bid, logins["clerk"])
    rec_url = batch["pages"][0]["record_url"]
    client.get(rec_url, headers=logins["supervisor"])
    client.get(f"{API}/records", headers=logins["reader"])
    client.get(batch["pages"][0]["preview_url"], headers=logins["clerk"])
    with get_db(settings).read_session() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = [(e.action, e.actor.split(":")[0]) for e in entries]
    for expected in [("batch.create", "user"), ("record.read", "user"), ("record.feed", "token"),
                     ("page.preview", "user")]:
        assert expected in actions
    dump = json.dumps([e.detail for e in entries], ensure_ascii=False)
    assert "blank-1.png" not in dump and "child_name" not in dump


def test_templates_cancel_and_rerun(client: TestClient, logins, blank_pages) -> None:
    clerk = logins["clerk"]
    templates = client.get(f"{API}/templates", headers=logins["reader"]).json()
    assert {"child_protection", "domestic_violence"} <= {t["id"] for t in templates}
    schema = client.get(templates[0]["schema_url"], headers=clerk).json()
    assert schema["$schema"].endswith("2020-12/schema")
    assert_error(client.get(f"{API}/templates/nope/versions/1/schema", headers=clerk), 404, "template_not_found")
    batch = client.post(f"{API}/batches", files=files(*blank_pages), headers=clerk).json()
    r = client.post(f"{API}/batches/{batch['id']}/cancel", headers=clerk)
    if r.status_code == 200:  # (unless both pages were read already)
        assert r.json()["status"] == "cancelled"
        assert_error(client.post(f"{API}/batches/{batch['id']}/cancel", headers=clerk), 409, "conflict")
    done = client.post(f"{API}/batches", files=files(blank_pages[0]), headers=logins["supervisor"]).json()
    done = wait_done(client, done["id"], logins["supervisor"]) if done["status"] == "processing" else done
    page_id = (done["pages"] or done["files"][0]["linked_pages"])[0]["id"]
    r = client.post(f"{API}/pages/{page_id}/rerun", headers=logins["supervisor"])
    if r.status_code == 202:
        assert r.json()["status"] in ("queued", "processing", "read")
    else:
        assert_error(r, 409, "conflict")  # its batch was cancelled above


def test_first_admin_is_created_once_with_a_random_password(settings: Settings, client: TestClient) -> None:
    from intake.auth.service import ensure_first_admin

    with get_db(settings).session() as s:
        password = ensure_first_admin(s)
    assert password and len(password) >= 12
    with get_db(settings).session() as s:
        assert ensure_first_admin(s) is None
    r = client.post(f"{API}/auth/login", json={"name": "admin", "password": password})
    assert r.json()["role"] == "admin"
    assert client.get(f"{API}/users").json()[0]["name"] == "admin"  # the session cookie works
    cookie = r.cookies["intake_session"]
    assert_error(client.post(f"{API}/auth/logout"), 403, "csrf_refused")  # a forged sign-out does nothing
    assert client.get(f"{API}/users").status_code == 200
    assert client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": r.json()["csrf_token"]}).status_code == 204
    assert_error(client.get(f"{API}/users"), 401, "not_authenticated")
    client.cookies.clear()  # the cookie kept and replayed after sign-out is refused: the session ended
    assert_error(client.get(f"{API}/users", headers={"Cookie": f"intake_session={cookie}"}), 401,
                 "not_authenticated")
