"""The transient-error rule (intake.batches.jobs): which failures are retried and which stop a page.

A transient error is retried (Celery's autoretry, `with_retries` in-process); anything else is
recorded on the page as failed. The errors here are real ones where they can be made real (a
database server nobody listens on, a unique constraint, a syntax error), not imitations.
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, text
from sqlalchemy import exc as sa_exc

from intake.batches import jobs
from intake.errors import InputError, OcrEngineError, OriginalMissing, StorageError, TemplateError


def _raised(fn) -> BaseException:  # noqa: ANN001
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the error is the result
        return exc
    raise AssertionError("nothing was raised")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_database_is_transient() -> None:
    engine = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/none", connect_args={"connect_timeout": 2})
    exc = _raised(engine.connect)
    assert isinstance(exc, sa_exc.OperationalError)
    assert jobs.is_transient(exc)


def test_a_lost_race_on_a_unique_row_is_transient() -> None:
    """A concurrent writer inserted the row first: the retry finds it."""
    engine = create_engine("sqlite://")
    t = Table("t", MetaData(), Column("id", Integer, primary_key=True))
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t).values(id=1))
    with engine.begin() as conn:
        race = _raised(lambda: conn.execute(insert(t).values(id=1)))
    assert isinstance(race, sa_exc.IntegrityError) and jobs.is_transient(race)


@pytest.mark.postgres
def test_a_statement_the_database_cannot_run_is_permanent() -> None:
    """It will not run on a retry either (PostgreSQL says so by class; SQLite reports syntax
    errors and a locked database alike as OperationalError, which is retried)."""
    from tests.conftest import POSTGRES_URL

    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            bad = _raised(lambda: conn.execute(text("SELEC 1")))
    finally:
        engine.dispose()
    assert isinstance(bad, sa_exc.ProgrammingError)
    assert not jobs.is_transient(bad)


def test_a_dropped_connection_is_transient_whatever_its_class() -> None:
    exc = sa_exc.DBAPIError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True)
    assert jobs.is_transient(exc)
    assert not jobs.is_transient(sa_exc.DBAPIError("SELECT 1", {}, Exception("no such column")))


def test_storage_that_is_away_is_transient_an_original_that_is_gone_is_not() -> None:
    """A storage volume not mounted comes back; a stored original that is missing does not (and
    OriginalMissing is a StorageError: the exception to the rule is checked first)."""
    assert jobs.is_transient(StorageError("the storage volume is not mounted"))
    assert issubclass(OriginalMissing, StorageError)
    assert not jobs.is_transient(OriginalMissing("the original of page 3 is missing"))


@pytest.mark.parametrize("exc", [ConnectionRefusedError("broker"), TimeoutError("read timed out"),
                                 sa_exc.TimeoutError("pool exhausted")])
def test_network_and_pool_timeouts_are_transient(exc: BaseException) -> None:
    assert jobs.is_transient(exc)


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("field"), InputError("bad scan"),
                                 OcrEngineError("Tesseract has no chi_tra data"), TemplateError("broken template"),
                                 RuntimeError("anything else")])
def test_everything_else_is_permanent(exc: BaseException) -> None:
    assert not jobs.is_transient(exc)


def test_with_retries_retries_transient_errors_and_gives_up_on_others() -> None:
    calls: list[int] = []

    def flaky(n: int) -> str:
        calls.append(n)
        if len(calls) < 3:
            raise ConnectionError("broker restarting")
        return "done"

    assert jobs.with_retries(flaky, 7, attempts=3) == "done" and calls == [7, 7, 7]

    calls.clear()

    def broken(n: int) -> str:
        calls.append(n)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        jobs.with_retries(broken, 1, attempts=3)
    assert calls == [1]  # not retried

    calls.clear()
    with pytest.raises(ConnectionError):
        jobs.with_retries(lambda: calls.append(0) or (_ for _ in ()).throw(ConnectionError("down")), attempts=2)
    assert calls == [0, 0]  # retried, then given up
