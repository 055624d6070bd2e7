"""Retention: the stored files of forms that are finished with are deleted; records and the audit
log are kept.

An original (with its previews and crops) is *due* when every page cut from it is finished with:

- a page cancelled before it was read: its batch was cancelled more than
  ``retention_cancelled_days`` ago;
- a read page with a record: the record is decided — ``accepted`` (read straight through),
  ``approved``, ``rejected`` or ``superseded`` — and was last changed more than
  ``retention_days`` ago, and is not under a **legal hold**;
- a final page without a record (blank, set aside, unreadable, failed): its batch finished (or
  was cancelled) more than ``retention_days`` ago; a page a supervisor must still place
  (unidentified, unregistered) in a batch not cancelled is never due;
- a page still queued or being read: not due.

A record under a legal hold (set by an admin: ``PUT/DELETE /api/v1/records/{id}/legal-hold`` or
``intake retention hold RECORD_ID [--release]``, audited) keeps every original its pages came
from. `purge` deletes the due originals' stored objects (the original, ``previews/<sha>/...``,
``crops/<sha>/...``), sets ``originals.purged_at``, clears the pages' preview keys and the fields'
crop keys (the API then says there is no preview or crop), and writes one audit entry with the
counts. ``intake retention purge [--dry-run]`` runs it (a cron job, daily); `plan` says what it
would delete. Orphans and temporary files are `intake.collect`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.config import Settings
from intake.db.models import (
    FINAL_PAGE_STATES,
    Batch,
    BatchFile,
    BatchState,
    FieldCorrection,
    FileState,
    Original,
    Page,
    PageState,
    Record,
    RecordField,
    RecordState,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import NotFound
from intake.storage import get_storage

log = logging.getLogger(__name__)
DECIDED = frozenset({RecordState.ACCEPTED, RecordState.APPROVED, RecordState.REJECTED, RecordState.SUPERSEDED})
TO_PLACE = frozenset({PageState.UNIDENTIFIED, PageState.UNREGISTERED})


@dataclass
class Plan:
    due: list[str] = field(default_factory=list)  # SHA-256 of the originals to purge
    kept: int = 0  # originals not due yet (or held)
    held: int = 0  # of which kept by a legal hold


def _aware(d: datetime | None) -> datetime | None:
    from datetime import UTC

    return d if d is None or d.tzinfo else d.replace(tzinfo=UTC)


def _page_due(p: Page, b: Batch, rec: Record | None, now: datetime, s: Settings) -> tuple[bool, bool]:
    """(due, held) for one page."""
    cutoff = now - timedelta(days=s.retention_days)
    if p.status == PageState.CANCELLED:
        when = _aware(b.cancelled_at or b.finished_at)
        return when is not None and when < now - timedelta(days=s.retention_cancelled_days), False
    if p.status not in FINAL_PAGE_STATES:
        return False, False
    if rec is not None:
        if rec.legal_hold:
            return False, True
        return rec.status in DECIDED and _aware(rec.updated_at) < cutoff, False
    if p.status in TO_PLACE and b.status != BatchState.CANCELLED:
        return False, False
    when = _aware(b.finished_at or b.cancelled_at)
    return when is not None and when < cutoff, False


def plan(session: Session, settings: Settings, now: datetime | None = None) -> Plan:
    """Which originals `purge` would delete now."""
    now = now or utcnow()
    out = Plan()
    shas = list(session.scalars(select(Original.sha256).where(Original.purged_at.is_(None)).order_by(Original.sha256)))
    for i in range(0, len(shas), 200):
        chunk = shas[i:i + 200]
        rows = session.execute(
            select(BatchFile.sha256, Page, Batch)
            .join(Page, Page.file_id == BatchFile.id).join(Batch, Batch.id == BatchFile.batch_id)
            .where(BatchFile.sha256.in_(chunk), BatchFile.status == FileState.ACCEPTED)).all()
        instances = {p.instance_id for _, p, _ in rows if p.instance_id is not None}
        records = {r.instance_id: r for r in session.scalars(select(Record).where(Record.instance_id.in_(instances)))
                   } if instances else {}
        verdicts: dict[str, list[tuple[bool, bool]]] = {sha: [] for sha in chunk}
        for sha, p, b in rows:
            verdicts[sha].append(_page_due(p, b, records.get(p.instance_id) if p.instance_id else None, now, settings))
        for sha in chunk:
            v = verdicts[sha]
            if v and all(due for due, _ in v):
                out.due.append(sha)
            else:
                out.kept += 1
                out.held += any(held for _, held in v)
    return out


def purge(settings: Settings, *, dry_run: bool = False, now: datetime | None = None, actor: str = "system"
          ) -> dict[str, int]:
    """Delete the stored files of every due original (see the module docstring)."""
    storage = get_storage(settings)
    db = get_db(settings)
    with db.read_session() as s:
        p = plan(s, settings, now)
    counts = {"originals": len(p.due), "objects": 0, "kept": p.kept, "held": p.held}
    if dry_run or not p.due:
        return counts
    for sha in p.due:
        with db.session() as s:
            orig = s.get(Original, sha, with_for_update=True)
            if orig is None or orig.purged_at is not None:
                continue
            # checked again under the lock: a hold set, or the file uploaded again, since the plan
            if sha not in plan_one(s, settings, sha, now):
                counts["originals"] -= 1
                continue
            counts["objects"] += _delete_objects(storage, orig)
            orig.purged_at = utcnow()
            pages = select(Page.id).join(BatchFile, BatchFile.id == Page.file_id).where(BatchFile.sha256 == sha)
            s.execute(update(Page).where(Page.id.in_(pages)).values(preview_key=None))
            insts = select(Page.instance_id).where(Page.id.in_(pages), Page.instance_id.is_not(None))
            recs = select(Record.id).where(Record.instance_id.in_(insts))
            s.execute(update(RecordField).where(RecordField.record_id.in_(recs)).values(crop_key=None))
            s.execute(update(FieldCorrection).where(FieldCorrection.record_id.in_(recs)).values(crop_key=None))
    if counts["originals"]:
        with db.session() as s:
            audit(s, actor, "retention.purge", "original", None, originals=counts["originals"],
                  objects=counts["objects"])
        log.warning("retention: purged the stored files of %d original(s)", counts["originals"])
    return counts


def plan_one(session: Session, settings: Settings, sha: str, now: datetime | None) -> list[str]:
    """`plan` for one original (as a list holding its SHA-256 when it is due)."""
    now = now or utcnow()
    rows = session.execute(select(Page, Batch).join(BatchFile, BatchFile.id == Page.file_id)
                           .join(Batch, Batch.id == BatchFile.batch_id)
                           .where(BatchFile.sha256 == sha, BatchFile.status == FileState.ACCEPTED)).all()
    instances = {p.instance_id for p, _ in rows if p.instance_id is not None}
    records = {r.instance_id: r for r in session.scalars(select(Record).where(Record.instance_id.in_(instances)))
               } if instances else {}
    v = [_page_due(p, b, records.get(p.instance_id) if p.instance_id else None, now, settings) for p, b in rows]
    return [sha] if v and all(due for due, _ in v) else []


def _delete_objects(storage, orig: Original) -> int:  # noqa: ANN001 - a LocalStorage
    n = 0
    if storage.exists(orig.storage_key):
        storage.delete(orig.storage_key)
        n += 1
    for prefix in (f"previews/{orig.sha256[:2]}/{orig.sha256[2:]}", f"crops/{orig.sha256[:2]}/{orig.sha256[2:]}"):
        n += storage.delete_prefix(prefix)
    return n


def set_legal_hold(settings: Settings, record_id: int, on: bool, actor: str) -> None:
    """Put a record under a legal hold (or release it); audited."""
    with get_db(settings).session() as s:
        rec = s.get(Record, record_id, with_for_update=True)
        if rec is None:
            raise NotFound(f"there is no record {record_id}")
        rec.legal_hold = on
        audit(s, actor, "record.legal_hold" if on else "record.legal_hold_release", "record", record_id)
