"""Sessions that end, sign-in throttling and its audit, API tokens that expire, the admin's and the
user's changes (API, CLI, pages), and CSRF: through the real app on SQLite (and PostgreSQL where
the database matters)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from intake.api import create_app
from intake.config import Settings
from intake.db.models import ApiToken, AuditEntry, User, UserSession, utcnow
from intake.db.session import get_db
from tests.conftest import PASSWORD, make_token, make_users, session_headers

API = "/api/v1"
NEW_PASSWORD = "another long password"


@pytest.fixture
def client(any_settings: Settings) -> Iterator[TestClient]:
    make_users(any_settings)
    with TestClient(create_app(any_settings)) as c:
        yield c


def login(client: TestClient, name: str, password: str = PASSWORD, **headers: str):  # noqa: ANN201
    r = client.post(f"{API}/auth/login", json={"name": name, "password": password}, headers=headers)
    client.cookies.clear()
    return r


def signed_in(client: TestClient, name: str) -> dict[str, str]:
    return session_headers(login(client, name))


def status(client: TestClient, headers: dict[str, str]) -> int:
    return client.get(f"{API}/auth/me", headers=headers).status_code


def audit_rows(settings: Settings, action: str) -> list[AuditEntry]:
    with get_db(settings).read_session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def user_id(settings: Settings, name: str) -> int:
    with get_db(settings).read_session() as s:
        return s.scalar(select(User.id).where(User.name == name))


# ---------------------------------------------------------------- sessions
def test_sessions_end_at_logout_idle_and_absolute_expiry(any_settings: Settings, client: TestClient) -> None:
    a = signed_in(client, "clerk")
    assert status(client, a) == 200
    cookie = a["Cookie"].split("=", 1)[1]
    with get_db(any_settings).read_session() as s:
        row = s.scalar(select(UserSession))
        assert row is not None and cookie not in (row.token_hash, str(row.id))  # only a hash is stored
    assert client.post(f"{API}/auth/logout", headers=a).status_code == 204
    assert status(client, a) == 401  # the same cookie, replayed after sign-out
    assert client.post(f"{API}/batches", headers=a).status_code == 401

    idle = signed_in(client, "clerk")
    long = signed_in(client, "supervisor")
    with get_db(any_settings).session() as s:
        s.execute(update(UserSession).where(UserSession.user_id == user_id(any_settings, "clerk"))
                  .values(last_seen_at=utcnow() - timedelta(seconds=any_settings.session_idle_s + 5)))
        s.execute(update(UserSession).where(UserSession.user_id == user_id(any_settings, "supervisor"))
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = client.get(f"{API}/auth/me", headers=idle)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert status(client, long) == 401
    with get_db(any_settings).session() as s:  # a day after expiry a session row is deleted at the next sign-in
        s.execute(update(UserSession).values(expires_at=utcnow() - timedelta(days=2)))
    signed_in(client, "admin")
    with get_db(any_settings).read_session() as s:
        assert s.scalar(select(func.count()).select_from(UserSession)) == 1


def test_last_seen_is_written_at_most_once_a_minute(settings: Settings) -> None:
    make_users(settings)
    with TestClient(create_app(settings)) as client:
        h = signed_in(client, "clerk")
        past = utcnow() - timedelta(seconds=90)
        with get_db(settings).session() as s:
            s.execute(update(UserSession).values(last_seen_at=past))
        assert status(client, h) == 200
        with get_db(settings).read_session() as s:
            seen = s.scalar(select(UserSession.last_seen_at))
        assert seen > past + timedelta(seconds=60)
        assert status(client, h) == 200
        with get_db(settings).read_session() as s:
            assert s.scalar(select(UserSession.last_seen_at)) == seen  # not rewritten within the minute


def test_password_change_ends_the_other_sessions(any_settings: Settings, client: TestClient) -> None:
    here, elsewhere = signed_in(client, "clerk"), signed_in(client, "clerk")
    r = client.post(f"{API}/auth/password", json={"current_password": "wrong one!!", "new_password": NEW_PASSWORD},
                    headers=here)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = client.post(f"{API}/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                    headers=here)
    assert r.status_code == 204, r.text
    assert status(client, here) == 200 and status(client, elsewhere) == 401
    assert login(client, "clerk").status_code == 401 and login(client, "clerk", NEW_PASSWORD).status_code == 200
    token = {"Authorization": f"Bearer {make_token(any_settings, 'batches:read')}"}
    r = client.post(f"{API}/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                    headers=token)
    assert r.status_code == 403  # tokens have no password
    [entry] = audit_rows(any_settings, "user.password")
    assert entry.detail == {"sessions_ended": 1}


def test_admin_deactivates_changes_role_and_sets_password(any_settings: Settings, client: TestClient) -> None:
    admin, sup = signed_in(client, "admin"), signed_in(client, "supervisor")
    sup_id = user_id(any_settings, "supervisor")
    made = client.post(f"{API}/tokens", json={"name": "sup's system", "scopes": ["records:read"]}, headers=sup)
    assert made.status_code == 403  # only admins make tokens: make one as the admin, owned by a second admin
    r = client.patch(f"{API}/users/{sup_id}", json={"role": "admin"}, headers=admin)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    tok = client.post(f"{API}/tokens", json={"name": "case system", "scopes": ["records:read"]}, headers=sup).json()
    bearer = {"Authorization": f"Bearer {tok['token']}"}
    assert client.get(f"{API}/records", headers=bearer).status_code == 200
    assert client.get(f"{API}/users", headers=sup).status_code == 200  # the new role applies at once
    r = client.patch(f"{API}/users/{sup_id}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert status(client, sup) == 401 and login(client, "supervisor").status_code == 401
    assert client.get(f"{API}/records", headers=bearer).status_code == 401  # their token is revoked
    [entry] = audit_rows(any_settings, "user.deactivate")
    assert entry.detail == {"sessions_ended": 1, "tokens_revoked": 1}
    admin_id = user_id(any_settings, "admin")
    r = client.patch(f"{API}/users/{admin_id}", json={"active": False}, headers=admin)
    assert r.status_code == 409 and "last active admin" in r.json()["detail"]
    clerk = signed_in(client, "clerk")
    r = client.put(f"{API}/users/{user_id(any_settings, 'clerk')}/password", json={"password": NEW_PASSWORD},
                   headers=admin)
    assert r.status_code == 204 and status(client, clerk) == 401
    assert client.patch(f"{API}/users/{admin_id}", json={"role": "clerk"}, headers=clerk).status_code == 401
    assert client.patch(f"{API}/users/99999999999999999999", json={"role": "clerk"}, headers=admin).status_code == 404


# ---------------------------------------------------------------- throttling and audit
def test_sign_in_is_throttled_per_account_and_per_address(any_settings: Settings, client: TestClient) -> None:
    limit = any_settings.signin_max_failures_per_account
    for _ in range(limit):
        assert login(client, "clerk", "wrong password").status_code == 401
    r = login(client, "clerk")  # the right password, too late
    assert r.status_code == 429 and r.json()["error"] == "too_many_attempts"
    assert 0 < int(r.headers["Retry-After"]) <= any_settings.signin_window_s
    assert "try again in" in r.json()["detail"] and r.json()["retry_after"] == int(r.headers["Retry-After"])
    assert login(client, "supervisor").status_code == 200  # another account from the same address is fine
    # the address: failures spread over many names (most of them not users) from one client
    for i in range(any_settings.signin_max_failures_per_address - limit):
        assert login(client, f"nobody{i}", "wrong password").status_code in (401, 429)
    assert login(client, "admin").status_code == 429
    assert login(client, "admin", **{"X-Forwarded-For": "1.2.3.4"}).status_code == 429  # not a way round it
    failed = audit_rows(any_settings, "user.login_failed")
    assert {e.detail["reason_code"] for e in failed} == {"wrong_password", "unknown_user", "throttled"}
    assert len(audit_rows(any_settings, "user.login")) == 1
    for e in failed:  # no name typed, no password, no address in the audit
        assert e.actor == "anonymous" and set(e.detail) == {"reason_code"}
    with get_db(any_settings).session() as s:  # the window passes
        from intake.db.models import SignInFailure

        s.execute(update(SignInFailure).values(at=utcnow() - timedelta(seconds=any_settings.signin_window_s + 1)))
    assert login(client, "clerk").status_code == 200


def test_sign_in_page_says_when_to_try_again(settings: Settings) -> None:
    make_users(settings)
    with TestClient(create_app(settings)) as client:
        def post(password: str):  # noqa: ANN202
            page = client.get("/login").text
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
            return client.post("/login", data={"name": "clerk", "password": password, "csrf": token},
                               follow_redirects=False)

        for _ in range(settings.signin_max_failures_per_account):
            assert post("wrong password").status_code == 401
        r = post(PASSWORD)
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert "登入失敗次數太多" in r.text and "Too many failed sign-ins. Try again in 15 minutes." in r.text


# ---------------------------------------------------------------- API tokens
def test_tokens_expire_and_record_their_use(any_settings: Settings, client: TestClient) -> None:
    admin = signed_in(client, "admin")
    r = client.post(f"{API}/tokens", json={"name": "feed", "scopes": ["records:read"], "expires_days": 7},
                    headers=admin)
    assert r.status_code == 201
    body = r.json()
    assert body["last_used_at"] is None
    assert body["expires_at"].startswith((utcnow() + timedelta(days=7)).date().isoformat())
    too_long = client.post(f"{API}/tokens", json={"name": "x", "scopes": ["records:read"],
                                                  "expires_days": any_settings.token_max_days + 1}, headers=admin)
    assert too_long.status_code == 422 and "INTAKE_TOKEN_MAX_DAYS" in too_long.json()["detail"]
    default = client.post(f"{API}/tokens", json={"name": "y", "scopes": ["records:read"]}, headers=admin).json()
    assert default["expires_at"].startswith(
        (utcnow() + timedelta(days=any_settings.token_default_days)).date().isoformat())
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert client.get(f"{API}/records", headers=bearer).status_code == 200
    [listed] = [t for t in client.get(f"{API}/tokens", headers=admin).json() if t["id"] == body["id"]]
    assert listed["last_used_at"] is not None
    with get_db(any_settings).session() as s:
        s.execute(update(ApiToken).where(ApiToken.id == body["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = client.get(f"{API}/records", headers=bearer)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_cli_manages_users_and_tokens(tmp_path: Path, settings: Settings) -> None:
    make_users(settings)
    env = {**os.environ, "INTAKE_DATABASE_URL": settings.database_url or "", "INTAKE_DATA_DIR": str(tmp_path),
           "INTAKE_NEW_PASSWORD": NEW_PASSWORD}
    intake = [sys.executable, "-c", "from intake.cli import main; main()"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*intake, "users", *args], env=env, capture_output=True, text=True, timeout=120)

    out = run("token", "feed", "--scope", "records:read", "--expires-days", "3")
    assert out.returncode == 0 and out.stdout.startswith("itk_") and "expires" in out.stderr
    assert run("token", "feed", "--expires-days", "400").returncode == 2
    with TestClient(create_app(settings)) as client:
        clerk = signed_in(client, "clerk")
        assert run("role", "clerk", "supervisor").returncode == 0
        assert client.get(f"{API}/records", headers=clerk).status_code == 200
        out = run("passwd", "clerk")
        assert out.returncode == 0 and "1 session ended" in out.stdout
        assert status(client, clerk) == 401 and login(client, "clerk", NEW_PASSWORD).status_code == 200
        assert run("deactivate", "clerk").returncode == 0
        assert login(client, "clerk", NEW_PASSWORD).status_code == 401
        assert run("activate", "clerk").returncode == 0
        assert login(client, "clerk", NEW_PASSWORD).status_code == 200
        bad = run("role", "nobody", "clerk")
        assert bad.returncode == 2 and "no user" in bad.stderr
    with get_db(settings).read_session() as s:
        tok = s.scalar(select(ApiToken).where(ApiToken.name == "feed"))
        assert tok is not None and timedelta(days=2) < tok.expires_at - utcnow() <= timedelta(days=3)


# ---------------------------------------------------------------- CSRF
def test_cookie_changes_need_this_sites_origin_and_the_token(settings: Settings) -> None:
    make_users(settings)
    with TestClient(create_app(settings)) as client:
        clerk = signed_in(client, "clerk")
        cookie_only = {"Cookie": clerk["Cookie"]}
        batch = {"files": [("files", ("a.png", b"\x89PNG\r\n\x1a\n", "image/png"))]}
        evil = {"Origin": "https://evil.example"}
        for headers, why in ((cookie_only, "no token"), ({**clerk, **evil}, "another origin"),
                             ({**clerk, "Sec-Fetch-Site": "cross-site"}, "another site"),
                             ({**cookie_only, "X-CSRF-Token": "0" * 40}, "a wrong token")):
            r = client.post(f"{API}/batches", headers=headers, **batch)
            assert r.status_code == 403 and r.json()["error"] == "csrf_refused", why
            assert client.post(f"{API}/batches/1/cancel", headers=headers).status_code == 403, why
        own = {**clerk, "Origin": str(client.base_url), "Sec-Fetch-Site": "same-origin"}
        assert client.post(f"{API}/batches", headers=own, **batch).status_code in (202, 415, 422)
        assert client.get(f"{API}/batches", headers={**cookie_only, **evil}).status_code == 200  # reads are safe
        scanner = {"Authorization": f"Bearer {make_token(settings, 'batches:write', 'batches:read')}", **evil}
        assert client.post(f"{API}/batches", headers=scanner, **batch).status_code != 403  # bearer: exempt
        # sign-in from another site is refused too (API and page)
        r = client.post(f"{API}/auth/login", json={"name": "clerk", "password": PASSWORD}, headers=evil)
        assert r.status_code == 403 and "intake_session" not in r.cookies
        assert client.post("/login", data={"name": "clerk", "password": PASSWORD}, headers=evil,
                           follow_redirects=False).status_code == 403
        r = client.post("/login", data={"name": "clerk", "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 403 and "intake_session" not in r.cookies  # no sign-in token: refused
        # a page's form: the hidden field, or the header
        client.cookies.set("intake_session", clerk["Cookie"].split("=", 1)[1])
        page = client.get("/batches").text
        token = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page).group(1)
        assert token == clerk["X-CSRF-Token"]
        assert client.post("/logout", data={"csrf": token}, headers=evil, follow_redirects=False).status_code == 403
        assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
        assert client.get("/batches", follow_redirects=False).status_code == 200  # still signed in
        r = client.post("/logout", data={"csrf": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        client.cookies.set("intake_session", clerk["Cookie"].split("=", 1)[1])
        assert client.get("/batches", follow_redirects=False).status_code == 303  # ended on the server


def test_account_and_users_pages(settings: Settings) -> None:
    make_users(settings)
    with TestClient(create_app(settings)) as client:
        def page_sign_in(name: str, password: str = PASSWORD) -> None:
            client.cookies.clear()
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/login").text).group(1)
            r = client.post("/login", data={"name": name, "password": password, "csrf": token},
                            follow_redirects=False)
            assert r.status_code == 303, r.text

        page_sign_in("clerk")
        page = client.get("/account")
        assert page.status_code == 200 and "變更密碼" in page.text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        r = client.post("/account/password", data={"csrf": token, "current": PASSWORD, "new": NEW_PASSWORD,
                                                   "again": "something else"})
        assert r.status_code == 422 and "differ" in r.text
        r = client.post("/account/password", data={"csrf": token, "current": PASSWORD, "new": NEW_PASSWORD,
                                                   "again": NEW_PASSWORD})
        assert r.status_code == 200 and "other sessions have ended" in r.text
        assert client.get("/admin/users").status_code == 403
        page_sign_in("admin")
        page = client.get("/admin/users")
        assert page.status_code == 200 and 'data-name="clerk"' in page.text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        clerk_id = user_id(settings, "clerk")
        r = client.post(f"/admin/users/{clerk_id}", data={"csrf": token, "action": "deactivate"},
                        follow_redirects=False)
        assert r.status_code == 303
        assert f'id="user-{clerk_id}" data-name="clerk" data-active="false"' in client.get("/admin/users").text
        r = client.post("/admin/users", data={"csrf": token, "name": "mei", "password": "short", "role": "clerk"})
        assert r.status_code == 422 and "at least 10 characters" in r.text
        r = client.post("/admin/users", data={"csrf": token, "name": "mei", "password": NEW_PASSWORD,
                                              "role": "supervisor"}, follow_redirects=False)
        assert r.status_code == 303 and 'data-name="mei"' in client.get("/admin/users").text
        r = client.post(f"/admin/users/{user_id(settings, 'admin')}", data={"csrf": token, "action": "role",
                                                                            "role": "clerk"})
        assert r.status_code == 409 and "last active admin" in r.text
        assert client.get("/records/99999999999999999999999").status_code == 404  # an HTML page, not a 500
        assert "text/html" in client.get("/records/99999999999999999999999").headers["content-type"]
