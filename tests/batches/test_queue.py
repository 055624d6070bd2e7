"""The work queue's claims, leases and fair order, in-process on SQLite and PostgreSQL, and the
sweeper's count of page messages against a real Redis broker (issue 12, items 2 and 3).

A page message is a token (`intake.dispatch`): the worker that takes one claims the next page in
fair order (`processing.claim_next`) and holds it with a lease it renews (`processing.Lease`);
the sweeper requeues pages whose lease lapsed and sends as many tokens as queued pages outnumber
the waiting ones. The end-to-end checks with Celery worker processes are in
tests/workers/test_recovery.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from intake import dispatch
from intake.auth.service import SYSTEM
from intake.batches import processing, service
from intake.batches.inprocess import InlineDispatcher
from intake.config import Settings
from intake.db.models import Batch, Page, utcnow
from intake.db.session import get_db
from tests.conftest import REDIS_URL, make_users


def upload(settings: Settings, pages: list[Path], n: int, tag: int, owner: int | None = None) -> int:
    """A batch of `n` distinct one-page PNGs (blank form pages, a different trailing byte each,
    so none is a duplicate of another), owned by user `owner` (None: no user)."""
    data = [p.read_bytes() for p in pages]
    files = [(f"{tag}-{i}.png", data[i % 2] + bytes([tag]) * (i + 1)) for i in range(n)]
    batch_id = service.create_batch(iter(files), SYSTEM, settings)
    if owner is not None:
        with get_db(settings).session() as s:
            s.execute(update(Batch).where(Batch.id == batch_id).values(created_by_user_id=owner))
    return batch_id


def batch_of(settings: Settings, page_id: int) -> int:
    with get_db(settings).read_session() as s:
        return s.scalar(select(Page.batch_id).where(Page.id == page_id))


@pytest.fixture
def runner(any_settings: Settings) -> InlineDispatcher:
    r = InlineDispatcher(any_settings)
    dispatch.install(any_settings, r)
    return r


def test_pages_are_taken_round_robin_across_users_and_batches_small_first(any_settings: Settings, runner,
                                                                          blank_pages: list[Path]) -> None:
    settings = any_settings
    users = make_users(settings)
    a = upload(settings, blank_pages, 6, 1, users["clerk"])  # a flood from one clerk...
    a2 = upload(settings, blank_pages, 2, 2, users["clerk"])  # ...and a second batch of theirs
    b = upload(settings, blank_pages, 2, 3, users["clerk2"])  # another clerk's small batch
    s = upload(settings, blank_pages, 1, 4)  # a batch of nobody's (intake process)
    order = []
    while (claim := processing.claim_next(settings, "w", f"run{len(order)}")) is not None:
        order.append(claim.batch_id)
    # round-robin across owners (never served first); an owner's batch with the fewest pages left
    assert order == [s, a2, b, a2, b, a, a, a, a, a, a]


def test_concurrent_claims_never_take_the_same_page(any_settings: Settings, runner,
                                                    blank_pages: list[Path]) -> None:
    settings = any_settings
    for tag in range(3):
        upload(settings, blank_pages, 4, tag + 1)
    claimed: list[int] = []
    errors: list[BaseException] = []

    def claimer(i: int) -> None:
        try:
            n = 0
            while (claim := processing.claim_next(settings, f"w{i}", f"t{i}-{n}")) is not None:
                claimed.append(claim.page_id)
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(claimed) == len(set(claimed)) == 12
    with get_db(settings).read_session() as s:
        pages = list(s.scalars(select(Page)))
    assert {p.status for p in pages} == {"processing"} and all(p.attempts == 1 for p in pages)


def test_a_redelivered_message_takes_over_the_page_its_run_held(any_settings: Settings, runner,
                                                               blank_pages: list[Path]) -> None:
    settings = any_settings
    upload(settings, blank_pages, 2, 1)
    first = processing.claim_next(settings, "w1", "msgA")
    assert first is not None
    # the worker died; the broker delivers message A again: it takes the same page over at once
    again = processing.claim_next(settings, "w2", "msgA")
    assert again is not None and again.page_id == first.page_id
    other = processing.claim_next(settings, "w2", "msgB")  # a different message: the next page
    assert other is not None and other.page_id != first.page_id
    with get_db(settings).read_session() as s:
        page = s.get(Page, first.page_id)
    assert page.attempts == 2 and page.claimed_by.startswith("w2:")


def test_a_lease_is_renewed_while_the_page_is_read_and_lapses_when_its_reader_dies(
        any_settings: Settings, runner, blank_pages: list[Path]) -> None:
    settings = any_settings.model_copy(update={"page_lease_s": 4})  # renewed every second
    batch_id = upload(settings, blank_pages, 1, 1)
    runner.pending.clear()
    claim = processing.claim_next(settings, "w1", "run1")
    assert isinstance(claim, processing.Claim)
    with processing.Lease(claim, settings):
        time.sleep(6)  # longer than the lease: a slow reader, not a dead one
        assert processing.lapsed_pages(settings) == []
        assert service.sweep(settings=settings)["processing"] == 0
    # the reader stopped renewing (its process died): the page is requeued once the lease lapses
    with get_db(settings).read_session() as s:
        lease_until = s.get(Page, claim.page_id).lease_until
    time.sleep(max(0.0, (lease_until - utcnow()).total_seconds()) + 0.2)
    assert processing.lapsed_pages(settings) == [claim.page_id]
    assert service.sweep(settings=settings) == {"processing": 1, "queued": 0, "assemblies": 0}
    assert list(runner.pending) == [("page", claim.page_id)]
    while runner.run_next() is not None:
        pass
    with get_db(settings).read_session() as s:
        page = s.get(Page, claim.page_id)
        assert s.get(Batch, batch_id).status == "done"
    assert (page.status, page.attempts, page.lease_until) == ("read", 2, None)


@pytest.mark.redis
def test_the_sweeper_replaces_page_messages_a_broker_lost(settings: Settings, blank_pages: list[Path]) -> None:
    """Real Redis (this test's database only), no worker: the sweeper counts the waiting page
    messages and sends what the queued pages lack, and nothing more."""
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    try:
        r.ping()
    except redis.RedisError:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    r.flushdb()
    broker = settings.model_copy(update={"broker_url": REDIS_URL})
    try:
        upload(broker, blank_pages, 3, 1)
        assert dispatch.waiting(broker) == 3
        assert service.sweep(settings=broker) == {"processing": 0, "queued": 0, "assemblies": 0}
        r.flushdb()  # the broker restarted empty
        assert dispatch.waiting(broker) == 0
        assert service.sweep(settings=broker)["queued"] == 0  # just enqueued: their messages may be on the way
        with get_db(broker).session() as s:
            s.execute(update(Page).values(enqueued_at=utcnow() - timedelta(seconds=service.TOKEN_GRACE_S + 1)))
        assert service.sweep(settings=broker) == {"processing": 0, "queued": 3, "assemblies": 0}
        assert dispatch.waiting(broker) == 3
        assert service.sweep(settings=broker)["queued"] == 0  # enough now
    finally:
        dispatch.install(broker, None)
        r.flushdb()


def test_a_page_out_of_time_ends_timeout_and_the_message_takes_no_other_page(any_settings: Settings, runner,
                                                                             blank_pages: list[Path]) -> None:
    """What Celery's soft time limit does (an exception raised by a signal in the middle of the
    reading), with a real timer and a real page: the page ends ``failed`` with ``timeout``."""
    import signal

    from intake.batches import jobs

    class SoftLimit(Exception):
        pass

    def out_of_time(_: int, frame) -> None:  # noqa: ANN001 - the interrupted frame
        while frame is not None:  # only once the page is being read (not while it is claimed)
            if frame.f_code.co_name == "_read":
                raise SoftLimit
            frame = frame.f_back

    settings = any_settings
    upload(settings, blank_pages, 2, 1)
    old = signal.signal(signal.SIGALRM, out_of_time)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        outcome, page_id, _ = jobs.run_next_page(settings=settings, worker="w1", delivery_id="m1",
                                                 timeout_errors=(SoftLimit,))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert outcome == "timeout"
    with get_db(settings).read_session() as s:
        pages = {p.id: p for p in s.scalars(select(Page))}
    assert (pages[page_id].status, pages[page_id].error_code, pages[page_id].lease_until) == ("failed", "timeout", None)
    assert [p.status for p in pages.values() if p.id != page_id] == ["queued"]


def test_intake_serves_thread_sweeps_while_it_runs(any_settings: Settings, runner, blank_pages: list[Path]) -> None:
    """The in-process worker thread (`intake serve` without a broker) runs the sweeper every
    `sweep_interval_s`, as beat does: a page left ``processing`` by a run that stopped (its lease
    lapsed) is read while the server runs, not only at its next start."""
    from intake.batches.inprocess import ThreadDispatcher

    settings = any_settings.model_copy(update={"sweep_interval_s": 1})
    batch_id = upload(settings, blank_pages, 1, 1)
    runner.pending.clear()
    with get_db(settings).session() as s:
        s.execute(update(Page).values(status="processing", stage="reading", attempts=1, run_id="gone",
                                      lease_until=utcnow() - timedelta(seconds=1)))
    d = ThreadDispatcher(settings)
    dispatch.install(settings, d)
    try:
        d._ensure_started()  # started by the server's first work; nothing is enqueued here
        end = time.monotonic() + 60
        while time.monotonic() < end:
            with get_db(settings).read_session() as s:
                if s.get(Batch, batch_id).status == "done":
                    break
            time.sleep(0.2)
        with get_db(settings).read_session() as s:
            page = s.scalars(select(Page).where(Page.batch_id == batch_id)).one()
        assert (page.status, page.attempts) == ("read", 2)
    finally:
        d.stop()
        dispatch.install(settings, None)
