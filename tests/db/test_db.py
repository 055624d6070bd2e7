"""The database on SQLite and PostgreSQL: migrations, models, and the change feed's ordering."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select

from intake.config import Settings
from intake.db.models import (
    Base,
    Batch,
    BatchFile,
    FormInstance,
    Original,
    Page,
    Record,
    RecordField,
    User,
)
from intake.db.session import (
    alembic_config,
    current_revision,
    forget_db,
    get_db,
    next_values,
    upgrade,
)
from intake.records.service import decode_cursor, encode_cursor, feed
from tests.conftest import make_settings, pg_url_with_schema


def test_migrations_build_the_models_schema_on_an_empty_sqlite_db(tmp_path: Path) -> None:
    s = make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    upgrade(s)
    try:
        assert current_revision(s) == _head()
        names = set(inspect(get_db(s).engine).get_table_names())
        assert set(Base.metadata.tables) <= names
        command.check(alembic_config(s.database_url or ""))  # models and migrations agree
        command.downgrade(alembic_config(s.database_url or ""), "base")
        assert set(inspect(get_db(s).engine).get_table_names()) <= {"alembic_version"}
    finally:
        forget_db(s.database_url or "")


@pytest.mark.postgres
def test_migrations_build_the_models_schema_on_an_empty_postgres_schema(tmp_path: Path,
                                                                        pg_schema_url: str) -> None:
    import uuid

    from sqlalchemy import create_engine, text

    from tests.conftest import POSTGRES_URL

    schema = f"intake_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = pg_url_with_schema(schema)
    try:
        s = make_settings(tmp_path, url)
        upgrade(s)
        assert current_revision(s) == _head()
        assert set(Base.metadata.tables) <= set(inspect(get_db(s).engine).get_table_names())
        command.check(alembic_config(url))
        command.downgrade(alembic_config(url), "base")
        upgrade(s)  # and up again
    finally:
        forget_db(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _head() -> str:
    """The newest migration (migrations form one line: exactly one head)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads
    return heads[0]


def _batch_with_record(session, revision: int, data: dict) -> Record:  # noqa: ANN001
    batch = Batch(status="processing")
    session.add(batch)
    session.flush()
    inst = FormInstance(key=f"{batch.id}:0", batch_id=batch.id, template_id="t", template_version=1,
                        status="accepted")
    session.add(inst)
    session.flush()
    rec = Record(instance_id=inst.id, batch_id=batch.id, template_id="t", template_version=1,
                 status="accepted", data=data, errors=[], revision=revision, content_hash="x" * 64)
    session.add(rec)
    session.flush()
    return rec


def test_models_round_trip(any_settings: Settings) -> None:
    db = get_db(any_settings)
    data = {"child_name": "陳小明", "abuse_types": ["physical", "neglect"], "child_grade": 10, "consent": True}
    with db.session() as s:
        user = User(name="ana", password_hash="h", role="supervisor")
        s.add(user)
        s.add(Original(sha256="a" * 64, size=10, kind="pdf", pages=2, storage_key="originals/aa/" + "a" * 62))
        rec = _batch_with_record(s, next_values(s, "revision")[0], data)
        f = BatchFile(batch_id=rec.batch_id, position=0, filename="掃描.pdf", size=10, sha256="a" * 64,
                      kind="pdf", pages=2, status="accepted")
        s.add(f)
        s.flush()
        s.add(Page(batch_id=rec.batch_id, file_id=f.id, position=0, index=1, result={"fields": [{"v": None}]}))
        s.add(RecordField(record_id=rec.id, path="household_members[0].name", type="name", value=None, text="",
                          confidence=0.5, status="needs_review", errors=["required"], template_page=1,
                          box=[1.0, 2.0, 3.0, 4.0], engine="tesseract:chi_tra", original_value="王",
                          corrected_by_id=None, corrected_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
        rec_id = rec.id
    with db.read_session() as s:
        rec = s.get(Record, rec_id)
        assert rec is not None and rec.data == data and rec.revision == 1
        assert rec.created_at.tzinfo is not None
        field = s.scalar(select(RecordField).where(RecordField.record_id == rec_id))
        assert field is not None and field.box == [1.0, 2.0, 3.0, 4.0] and field.value is None
        assert field.corrected_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        page = s.scalar(select(Page))
        assert page is not None and page.result == {"fields": [{"v": None}]} and page.status == "queued"
        assert s.scalar(select(BatchFile.filename)) == "掃描.pdf"


def test_constraints_refuse_bad_rows(any_settings: Settings) -> None:
    from sqlalchemy.exc import IntegrityError

    db = get_db(any_settings)
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(User(name="x", password_hash="h", role="superuser"))
    with pytest.raises(IntegrityError), db.session() as s:
        _batch_with_record(s, 7, {})
        _batch_with_record(s, 7, {})  # two records with one revision


def test_cursor_is_opaque_and_checked() -> None:
    from intake.errors import InvalidRequest

    assert decode_cursor(encode_cursor(12345)) == 12345
    assert "12345" not in encode_cursor(12345)
    assert decode_cursor(None) == 0
    for bad in ("nonsense!", encode_cursor(1)[:-2] + "??", "cjoxMg"[:3]):
        with pytest.raises(InvalidRequest):
            decode_cursor(bad)


def test_feed_misses_nothing_under_concurrent_writers(any_settings: Settings) -> None:
    """Writers take a revision and then dawdle before committing, in random order; a reader
    following the feed with its cursor must still see every record exactly once."""
    db = get_db(any_settings)
    writers, per_writer = 4, 6
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write(n: int) -> None:
        rnd = random.Random(n)
        try:
            for i in range(per_writer):
                with db.session() as s:
                    batch = Batch(status="processing")
                    s.add(batch)
                    s.flush()
                    rev = next_values(s, "revision")[0]
                    time.sleep(rnd.uniform(0, 0.02))  # hold the revision, uncommitted
                    inst = FormInstance(key=f"w{n}-{i}", batch_id=batch.id, template_id="t",
                                        template_version=1, status="accepted")
                    s.add(inst)
                    s.flush()
                    s.add(Record(instance_id=inst.id, batch_id=batch.id, template_id="t", template_version=1,
                                 status="accepted", data={"w": n, "i": i}, errors=[], revision=rev,
                                 content_hash="x" * 64))
                time.sleep(rnd.uniform(0, 0.01))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def read() -> None:
        cursor = None
        try:
            while True:
                finished = done.is_set()
                with db.read_session() as s:
                    items, cursor = feed(s, cursor, 3)
                seen.extend(r.revision for r in items)
                if finished and not items:
                    return
                time.sleep(0.002)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(60)
    assert not errors, errors
    assert sorted(seen) == seen, "the feed went back in revision order"
    assert len(seen) == len(set(seen)) == writers * per_writer


def test_updating_a_record_moves_it_to_the_end_of_the_feed(any_settings: Settings) -> None:
    db = get_db(any_settings)
    with db.session() as s:
        a = _batch_with_record(s, next_values(s, "revision")[0], {"n": 1})
    with db.session() as s:
        _batch_with_record(s, next_values(s, "revision")[0], {"n": 2})
    with db.read_session() as s:
        items, cursor = feed(s, None, 10)
    assert [r.data["n"] for r in items] == [1, 2]
    with db.session() as s:
        rec = s.get(Record, a.id)
        assert rec is not None
        rec.data, rec.revision = {"n": 3}, next_values(s, "revision")[0]
    with db.read_session() as s:
        items, cursor2 = feed(s, cursor, 10)
        again, cursor3 = feed(s, cursor2, 10)
    assert [(r.id, r.data["n"]) for r in items] == [(a.id, 3)]
    assert again == [] and cursor3 == cursor2


def test_cli_upgrades_the_database_and_adds_users(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_NEW_PASSWORD": "a long password"}
    intake = [sys.executable, "-c", "from intake.cli import main; main()"]
    out = subprocess.run([*intake, "db", "upgrade"], env=env, capture_output=True, text=True, check=True)
    assert f"at revision {_head()}" in out.stdout
    out = subprocess.run([*intake, "users", "add", "mei", "--role", "supervisor"], env=env, capture_output=True,
                         text=True, check=True)
    assert "mei (supervisor) created" in out.stdout
    bad = subprocess.run([*intake, "users", "add", "mei", "--role", "supervisor"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "already exists" in bad.stderr
    s = make_settings(tmp_path, f"sqlite:///{tmp_path / 'intake.db'}")
    try:
        with get_db(s).read_session() as session:
            user = session.scalar(select(User).where(User.name == "mei"))
            assert user is not None and user.role == "supervisor" and user.password_hash.startswith("$argon2")
    finally:
        forget_db(s.database_url or "")
