"""Retention: a purge run deletes exactly the stored files retention says are due (records and
audit kept); a legal hold keeps them; the API for holds is for admins."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from intake import dispatch
from intake.api import create_app
from intake.auth.service import SYSTEM
from intake.batches import service
from intake.batches.inprocess import InlineDispatcher
from intake.config import Settings
from intake.db.models import AuditEntry, Batch, BatchFile, Original, Page, Record, utcnow
from intake.db.session import get_db
from intake.errors import Conflict
from intake.retention import plan, purge
from intake.storage import get_storage
from tests.conftest import PASSWORD, make_users, session_headers


def drain(r: InlineDispatcher) -> None:
    while r.run_next() is not None:
        pass


def stored(settings: Settings, sha: str) -> list[str]:
    root = Path(settings.storage_dir)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and sha[2:] in p.as_posix())


def test_a_purge_removes_exactly_what_retention_says(any_settings: Settings, blank_pages) -> None:
    settings = any_settings
    runner = InlineDispatcher(settings)
    dispatch.install(settings, runner)
    page2 = blank_pages[1].read_bytes()  # a form's last page: one record per file
    files = {name: page2 + b"\0" * i for i, name in enumerate(
        ["old-approved", "old-held", "recent-approved", "old-in-review", "cancelled-long-ago", "cancelled-lately"])}
    read = service.create_batch(iter((n, files[n]) for n in list(files)[:4]), SYSTEM, settings)
    drain(runner)
    long_ago, lately = service.create_batch(iter([("c1", files["cancelled-long-ago"])]), SYSTEM, settings), \
        service.create_batch(iter([("c2", files["cancelled-lately"])]), SYSTEM, settings)
    runner.pending.clear()  # cancelled before they are read
    for b in (long_ago, lately):
        service.cancel_batch(b, SYSTEM, settings)
    now = utcnow()
    with get_db(settings).session() as s:
        sha = {f.filename: f.sha256 for f in s.scalars(select(BatchFile))}
        sha["cancelled-long-ago"], sha["cancelled-lately"] = sha.pop("c1"), sha.pop("c2")
        recs = {f.filename: r for f, r in s.execute(
            select(BatchFile, Record).join(Page, Page.file_id == BatchFile.id)
            .join(Record, Record.instance_id == Page.instance_id).where(BatchFile.batch_id == read))}
        assert len(recs) == 4
        for name, status, age, hold in (("old-approved", "approved", 100, False), ("old-held", "approved", 100, True),
                                        ("recent-approved", "approved", 10, False),
                                        ("old-in-review", "needs_review", 100, False)):
            recs[name].status, recs[name].updated_at, recs[name].legal_hold = status, now - timedelta(days=age), hold
        s.execute(update(Batch).where(Batch.id == long_ago).values(cancelled_at=now - timedelta(days=8)))
        s.execute(update(Batch).where(Batch.id == lately).values(cancelled_at=now - timedelta(days=2)))
        held_record = recs["old-held"].id
    before = {name: stored(settings, h) for name, h in sha.items()}
    assert all(before[n] for n in files) and any("previews/" in k for k in before["old-approved"])
    with get_db(settings).read_session() as s:
        p = plan(s, settings)
    assert sorted(p.due) == sorted([sha["old-approved"], sha["cancelled-long-ago"]]) and p.held == 1

    assert purge(settings, dry_run=True)["originals"] == 2
    assert {name: stored(settings, h) for name, h in sha.items()} == before  # a dry run deletes nothing
    counts = purge(settings)
    assert counts["originals"] == 2 and counts["held"] == 1
    after = {name: stored(settings, h) for name, h in sha.items()}
    assert after["old-approved"] == [] and after["cancelled-long-ago"] == []
    assert {n: after[n] for n in after if n not in ("old-approved", "cancelled-long-ago")} == {
        n: before[n] for n in before if n not in ("old-approved", "cancelled-long-ago")}
    with get_db(settings).read_session() as s:
        purged = {o.sha256 for o in s.scalars(select(Original).where(Original.purged_at.is_not(None)))}
        assert purged == {sha["old-approved"], sha["cancelled-long-ago"]}
        assert s.scalar(select(func.count()).select_from(Record)) == 4  # records are kept
        page = s.scalar(select(Page).join(BatchFile, BatchFile.id == Page.file_id)
                        .where(BatchFile.sha256 == sha["old-approved"]))
        assert page.preview_key is None  # the API says there is no preview, not a 500
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "retention.purge")) == 1
    assert purge(settings)["originals"] == 0  # nothing more is due
    with pytest.raises(Conflict) as exc:  # a page whose file is gone cannot be read again
        service.rerun_page(page.id, SYSTEM, settings)
    assert "deleted by retention" in exc.value.message

    # the hold, set and released by an admin through the API (clerks may not)
    make_users(settings)
    with TestClient(create_app(settings)) as c:
        heads = {}
        for name in ("clerk", "admin"):
            r = c.post("/api/v1/auth/login", json={"name": name, "password": PASSWORD})
            heads[name] = session_headers(r)
            c.cookies.clear()
        url = f"/api/v1/records/{held_record}/legal-hold"
        assert c.delete(url, headers=heads["clerk"]).status_code == 403
        r = c.delete(url, headers=heads["admin"])
        assert r.status_code == 200 and r.json() == {"record_id": held_record, "legal_hold": False}
        assert c.put("/api/v1/records/999999/legal-hold", headers=heads["admin"]).status_code == 404
    assert purge(settings)["originals"] == 1
    assert stored(settings, sha["old-held"]) == []
    assert not get_storage(settings).exists(f"originals/{sha['old-held'][:2]}/{sha['old-held'][2:]}")
