"""Schemathesis against the served OpenAPI document (/api/v1/openapi.json), with every check it
has: each operation is called with generated valid and invalid input, as an admin (a session
cookie), and every answer must be documented (status, content type, headers, body schema), no
answer may be a server error, invalid input must be refused and valid input accepted. Every case
runs signed in (`admin_session` signs in again after a case that ended the session).

Examples are derandomized (the same each run, so CI is stable); the app runs on its own migrated SQLite database in a temporary folder, made when the module is
collected (Schemathesis needs the schema then to make one test per operation)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from sqlalchemy import delete, select

from intake.api import create_app
from intake.auth.service import hash_password
from intake.db.models import SignInFailure, User
from intake.db.session import get_db, upgrade
from tests.conftest import PASSWORD, make_settings, make_users, session_headers

load_all_checks()
ALL_CHECKS = CHECKS.get_all()
# Where valid-looking input is refused for what no schema can say, `positive_data_acceptance`
# ("schema-valid input must be accepted") does not apply; every other check still does.
SEMANTIC = {
    "POST /api/v1/batches": "a file is accepted for its content (a readable scan), not its schema",
    "GET /api/v1/records": "`after` must be a cursor this server gave out (opaque by design)",
    "GET /api/v1/templates/{form_id}/versions/{version}/export": "`after` is an opaque feed cursor",
    "PUT /api/v1/pages/{page_id}/placement": "the template, version and page must be ones the server has, and "
                                             "four points must turn clockwise without crossing",
    "GET /api/v1/review/group": "`field` or `type` must be given: one of two parameters, which OpenAPI cannot say",
}

_DIR = Path(tempfile.mkdtemp(prefix="intake-schemathesis-"))
atexit.register(shutil.rmtree, _DIR, True)
SETTINGS = make_settings(_DIR, f"sqlite:///{_DIR / 'intake.db'}")
upgrade(SETTINGS)
make_users(SETTINGS)
APP = create_app(SETTINGS)
CLIENT = TestClient(APP)
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)
_signed_in: dict[str, str] = {}


def admin_session() -> dict[str, str]:
    """The admin's session headers, signed in again when a case ended the session (sign-out,
    a new password, ...): every case must run signed in, not be answered 401 unnoticed. Cases may
    also have changed the admin's password, role or state, or made sign-in throttled by failing
    it: all of that is put back first."""
    if _signed_in and CLIENT.get("/api/v1/auth/me", headers=_signed_in).status_code == 200:
        return _signed_in
    with get_db(SETTINGS).session() as s:
        admin = s.scalar(select(User).where(User.name == "admin"))
        admin.password_hash, admin.role, admin.active = hash_password(PASSWORD), "admin", True
        s.execute(delete(SignInFailure))
    r = CLIENT.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
    CLIENT.cookies.clear()
    _signed_in.clear()
    _signed_in.update(session_headers(r))
    return _signed_in


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_openapi_promises(case) -> None:  # noqa: ANN001 - a schemathesis Case
    excluded = [CHECKS.get_one("positive_data_acceptance")] if case.operation.label in SEMANTIC else []
    case.call_and_validate(headers=admin_session(), checks=ALL_CHECKS,
                           excluded_checks=excluded)
