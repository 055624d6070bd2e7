"""Migration 0006 (sessions, sign-in failures, token expiry) up and down on SQLite and PostgreSQL,
with a token made before it: the token gets an expiry a year after it was made."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from intake.db.session import alembic_config, forget_db, get_db, upgrade
from tests.conftest import POSTGRES_URL, make_settings, pg_url_with_schema

MADE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        yield url
        forget_db(url)
        return
    request.getfixturevalue("pg_schema_url")  # skips when PostgreSQL is not there
    schema = f"intake_m6_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = pg_url_with_schema(schema)
    yield url
    forget_db(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_0006_upgrades_old_tokens_and_downgrades(empty_url: str, tmp_path: Path) -> None:
    s = make_settings(tmp_path, empty_url)
    upgrade(s, "0005")
    engine = get_db(s).engine
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO api_tokens (name, prefix, token_hash, scopes, created_at) "
                          "VALUES ('old', 'itk_x', :h, '[]', :at)"), {"h": "a" * 64, "at": MADE})
    upgrade(s, "0006")
    names = set(inspect(engine).get_table_names())
    assert {"sessions", "sign_in_failures"} <= names
    with engine.connect() as conn:
        expires = conn.execute(text("SELECT expires_at FROM api_tokens")).scalar_one()
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires)
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    assert expires == MADE + timedelta(days=365)
    command.downgrade(alembic_config(empty_url), "0005")
    inspector = inspect(engine)
    assert not {"sessions", "sign_in_failures"} & set(inspector.get_table_names())
    assert "expires_at" not in {c["name"] for c in inspector.get_columns("api_tokens")}
    upgrade(s)  # and up again to the head
