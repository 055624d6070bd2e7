"""Engines, sessions, migrations and the commit-ordered counters.

`get_db(settings)` returns the `Database` of ``settings.database_url`` (one per URL per process).
`Database.session()` is a unit of work: it commits when the block ends, rolls back on error.

SQLite (the embedded default) is opened in WAL mode with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so that two writers never deadlock on a lock upgrade
(a deferred transaction that read first would fail with "database is locked" instead of waiting).
`Database.read_session()` starts a plain deferred transaction for read-only work.

Engines hide statement parameters in their errors and logs (``hide_parameters``): a database error
that ends up in a log must not carry the personal data a statement was writing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from intake.config import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
COUNTERS = ("revision", "event")


def _private_file(path: Path) -> None:
    """Make the SQLite file (if missing) readable by the service's user only: it holds personal
    data (SQLite gives its -wal and -shm files the database file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    try:
        os.chmod(path, 0o600)
    except PermissionError:
        pass  # not ours to change (a read-only mount); SQLite reports what matters


def _sqlite_engine(url: str) -> Engine:
    u = make_url(url)
    if u.database and u.database != ":memory:":
        _private_file(Path(u.database))
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        readonly = conn.get_execution_options().get("intake_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


class Database:
    """One database: its engine and session factories. `settings` are those it was first opened
    with; its sessions carry them in ``session.info["intake_settings"]`` (code that only has a
    session, such as `intake.records.events.record_event`, finds where to send work from there)."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        self.url = url
        self.settings = settings
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                                        hide_parameters=True)
        info = {"intake_settings": settings}
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False, info=info)
        self._read_sessions = sessionmaker(
            bind=self.engine.execution_options(intake_readonly=True), expire_on_commit=False, info=info
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write unit of work: commit on success, rollback on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only unit of work. Objects read stay usable (detached) after the block."""
        with self._read_sessions() as s:
            yield s

    def new_session(self) -> Session:
        """A session the caller commits and closes itself (e.g. a request-scoped one)."""
        return self._sessions()

    def dispose(self) -> None:
        self.engine.dispose()


_dbs: dict[str, Database] = {}
_lock = threading.Lock()


def get_db(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    url = settings.database_url
    assert url is not None
    with _lock:
        db = _dbs.get(url)
        if db is None:
            db = _dbs[url] = Database(url, settings)
        return db


def session_settings(session: Session) -> Settings:
    """The settings of the database `session` belongs to (the process's settings otherwise)."""
    return session.info.get("intake_settings") or get_settings()


def forget_db(url: str) -> None:
    """Dispose of and forget a database (tests drop their databases)."""
    with _lock:
        db = _dbs.pop(url, None)
    if db is not None:
        db.dispose()


def next_values(session: Session, name: str, n: int = 1) -> list[int]:
    """Take `n` consecutive values of the named counter, in commit order.

    ``UPDATE counters SET value = value + n ... RETURNING value`` takes the counter row's lock
    (PostgreSQL) or the database write lock (SQLite) and holds it until this transaction ends, so
    a transaction that takes values later also commits later: whoever sees value v committed has
    already been able to see every smaller value. Call it as late in a transaction as possible.
    """
    if n <= 0:
        return []
    top = session.execute(
        text("UPDATE counters SET value = value + :n WHERE name = :name RETURNING value"),
        {"n": n, "name": name},
    ).scalar_one()
    return list(range(top - n + 1, top + 1))


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(settings: Settings | None = None, revision: str = "head") -> None:
    """Bring the database schema up to date (``intake db upgrade``)."""
    from alembic import command

    url = (settings or get_settings()).database_url
    assert url is not None
    if url.startswith("sqlite"):
        u = make_url(url)
        if u.database and u.database != ":memory:":
            _private_file(Path(u.database))
    command.upgrade(alembic_config(url), revision)


def current_revision(settings: Settings | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with get_db(settings).engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
