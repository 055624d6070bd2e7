"""Shared fixtures: settings on a temporary data folder, clean SQLite and PostgreSQL databases
(schema made by the Alembic migrations, never create_all), storage, users and tokens, and
synthetic scans generated once per session.

Databases: SQLite — the migrated database is made once per session and copied for every test.
PostgreSQL (``INTAKE_TEST_POSTGRES_URL``, tests marked ``postgres``) — a fresh schema per session,
migrated once; every table is truncated (and the counters reset) before each test that uses it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from intake import dispatch
from intake.auth import service as auth_service
from intake.batches import inprocess
from intake.config import PROJECT_ROOT, Settings, limit_ocr_threads
from intake.db.session import forget_db, get_db, upgrade
from intake.forms import synth as synth_module

# The suite's fixtures and expectations were written against the classic synthetic forms; the
# harder variants (issue 13: pens, pencil, scribbles, fax thresholds, shadows) are measured by
# bench/accuracy and tested in tests/pipeline/test_marks.py and tests/forms/test_synth.py.
synth_module.DEFAULT_VARIANTS = False


limit_ocr_threads()
POSTGRES_URL = os.environ.get("INTAKE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("INTAKE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TABLES = ("webhook_attempts", "webhook_deliveries", "webhook_subscriptions", "family_links", "family_keys",
          "family_members", "families", "review_claims", "field_corrections", "record_events", "record_fields",
          "records", "page_events", "page_placements", "pages", "form_instances", "batch_files", "batches",
          "originals", "audit_log", "sessions", "sign_in_failures", "api_tokens", "users", "counters")
PASSWORD = "correct horse battery"
TESTS_DIR = Path(__file__).resolve().parent
RESOURCES = TESTS_DIR / "resources"  # documented sample files the tests use (see its README)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """Argon2 at its cheapest in tests (the production parameters cost ~50 ms a hash)."""
    saved = auth_service._hasher
    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth_service._hasher = saved


def make_settings(data_dir: Path, database_url: str, **extra) -> Settings:  # noqa: ANN003
    """Test settings. Spot checks are off unless a test asks for them (`review_spot_check_share`):
    a random 2% of straight-through records going to review would make other tests' counts vary."""
    extra.setdefault("review_spot_check_share", 0.0)
    return Settings(env="test", data_dir=data_dir, database_url=database_url, storage_dir=data_dir / "storage",
                    templates_dir=PROJECT_ROOT / "form_templates", broker_url=None, **extra)


# ---------------------------------------------------------------- SQLite
@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "intake.db"
    s = make_settings(path.parent, f"sqlite:///{path}")
    upgrade(s)
    forget_db(s.database_url or "")
    return path


@pytest.fixture
def settings(tmp_path: Path, _sqlite_template: Path) -> Iterator[Settings]:
    """Settings on a fresh, migrated SQLite database and an empty storage folder."""
    db_path = tmp_path / "intake.db"
    shutil.copy(_sqlite_template, db_path)
    s = make_settings(tmp_path, f"sqlite:///{db_path}")
    yield s
    _teardown(s)


def _teardown(s: Settings) -> None:
    inprocess.stop(s)
    dispatch.install(s, None)
    forget_db(s.database_url or "")


# ---------------------------------------------------------------- PostgreSQL
def pg_url_with_schema(schema: str) -> str:
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this test session, migrated with Alembic; dropped after."""
    schema = f"intake_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    url = pg_url_with_schema(schema)
    upgrade(make_settings(Path("/nonexistent"), url))
    yield url
    forget_db(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def truncate_pg(url: str) -> None:
    engine = get_db(make_settings(Path("/nonexistent"), url)).engine
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(text("INSERT INTO counters (name, value) VALUES ('revision', 0), ('event', 0)"))


@pytest.fixture
def pg_settings(tmp_path: Path, pg_schema_url: str) -> Iterator[Settings]:
    """Settings on the session's PostgreSQL schema, emptied for this test."""
    truncate_pg(pg_schema_url)
    s = make_settings(tmp_path, pg_schema_url)
    yield s
    _teardown(s)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_settings(request: pytest.FixtureRequest) -> Settings:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("settings" if request.param == "sqlite" else "pg_settings")


# ---------------------------------------------------------------- users and tokens
@pytest.fixture
def users(settings: Settings) -> dict[str, int]:
    return make_users(settings)


def make_users(s: Settings) -> dict[str, int]:
    with get_db(s).session() as session:
        return {role: auth_service.create_user(session, role, PASSWORD, role).id
                for role in ("clerk", "supervisor", "admin")} | {
            "clerk2": auth_service.create_user(session, "clerk2", PASSWORD, "clerk").id}


def session_headers(login_response) -> dict[str, str]:  # noqa: ANN001 - an httpx Response
    """Headers that act as the signed-in user of a ``POST /api/v1/auth/login`` answer: the session
    cookie, and the CSRF token that cookie-authenticated changes must carry (intake.auth.csrf)."""
    assert login_response.status_code == 200, login_response.text
    return {"Cookie": f"intake_session={login_response.cookies['intake_session']}",
            "X-CSRF-Token": login_response.json()["csrf_token"]}


def make_token(s: Settings, *scopes: str) -> str:
    with get_db(s).session() as session:
        return auth_service.create_token(session, "downstream", list(scopes), created_by=None)[1]


# ---------------------------------------------------------------- scans
def _synth(form_id: str, count: int, out: Path, seed: int, profile: str) -> list[Path]:
    from intake.forms.registry import load_registry

    reg = load_registry(PROJECT_ROOT / "form_templates")
    try:
        from intake.forms.synth import synthesize
    except ImportError:  # synth not there yet: blank rendered forms, one PDF per form
        from intake.forms.render import render_pdf

        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(1, count + 1):
            p = out / f"{form_id}-{i}.pdf"
            p.write_bytes(render_pdf(reg.get(form_id)))
            paths.append(p)
        return paths
    list(synthesize(reg.get(form_id), count=count, out_dir=out, seed=seed, profile=profile, fmt="pdf"))
    return sorted(p for p in out.iterdir() if p.suffix.lower() in (".pdf", ".png", ".tif", ".jpg"))


@pytest.fixture(scope="session")
def synth_forms(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three filled two-page child-protection forms (one PDF each), made once per session."""
    return _synth("child_protection", 3, tmp_path_factory.mktemp("synth-cp"), seed=7, profile="office")


@pytest.fixture(scope="session")
def blank_pages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The two pages of a blank child-protection form as PNG files (page 1, page 2)."""
    from intake.forms.registry import load_registry
    from intake.forms.render import render_pages

    out = tmp_path_factory.mktemp("blank")
    pages = render_pages(load_registry(PROJECT_ROOT / "form_templates").get("child_protection"), 200)
    paths = []
    for i, img in enumerate(pages, 1):
        p = out / f"blank-{i}.png"
        img.save(p, dpi=(200, 200))
        paths.append(p)
    return paths
