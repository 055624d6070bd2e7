"""The change feed under concurrent writers, property-based on PostgreSQL: for random
interleavings drawn by Hypothesis — how many writers, what each does (create a record or change
one it made), how long it holds its revision uncommitted, how long it waits, how many records the
reader takes per page and how often it asks — a reader following the cursor loses nothing (it sees
every record's final revision) and repeats nothing (no revision twice, never going back)."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.config import Settings
from intake.db.models import Batch, FormInstance, Record
from intake.db.session import get_db, next_values
from intake.records.service import feed
from tests.conftest import truncate_pg

pytestmark = pytest.mark.postgres

op = st.tuples(st.sampled_from(["create", "update"]), st.integers(0, 12), st.integers(0, 6))  # kind, hold ms, gap ms
writer = st.lists(op, min_size=1, max_size=5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(writers=st.lists(writer, min_size=2, max_size=4), page=st.integers(1, 4), poll_ms=st.integers(0, 5))
def test_feed_loses_and_repeats_nothing(pg_settings: Settings, writers: list[list[tuple[str, int, int]]],
                                        page: int, poll_ms: int) -> None:
    truncate_pg(pg_settings.database_url or "")
    db = get_db(pg_settings)
    errors: list[BaseException] = []
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def write(n: int, ops: list[tuple[str, int, int]]) -> None:
        mine: list[int] = []
        try:
            for i, (kind, hold, gap) in enumerate(ops):
                with db.session() as s:
                    if kind == "update" and mine:
                        rec = s.get(Record, mine[i % len(mine)], with_for_update=True)
                        assert rec is not None
                        rec.data = {"w": n, "op": i}
                        rec.revision = next_values(s, "revision")[0]
                        time.sleep(hold / 1000)  # the revision is taken and not yet committed
                    else:
                        batch = Batch(status="processing")
                        s.add(batch)
                        s.flush()
                        inst = FormInstance(key=f"w{n}-{i}", batch_id=batch.id, template_id="t",
                                            template_version=1, status="accepted")
                        s.add(inst)
                        s.flush()
                        rev = next_values(s, "revision")[0]
                        time.sleep(hold / 1000)
                        rec = Record(instance_id=inst.id, batch_id=batch.id, template_id="t", template_version=1,
                                     status="accepted", data={"w": n, "op": i}, errors=[], revision=rev,
                                     content_hash="x" * 64)
                        s.add(rec)
                        s.flush()
                        mine.append(rec.id)
                time.sleep(gap / 1000)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def read() -> None:
        cursor = None
        try:
            while True:
                finished = done.is_set()
                with db.read_session() as s:
                    items, cursor = feed(s, cursor, page)
                    seen.extend((r.id, r.revision) for r in items)
                if finished and not items:
                    return
                time.sleep(poll_ms / 1000)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n, ops)) for n, ops in enumerate(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join(60)
    assert not errors, errors
    revisions = [r for _, r in seen]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions), "repeated or went back"
    with db.read_session() as s:
        final = {r.id: r.revision for r in s.query(Record)}
    got: dict[int, set[int]] = {}
    for rid, rev in seen:
        got.setdefault(rid, set()).add(rev)
    for rid, rev in final.items():
        assert rev in got.get(rid, set()), f"record {rid}: final revision {rev} never seen"
