"""Assembling a batch's read pages into form instances and records.

Pages are assembled in upload order (file order, then page order) by the pipeline's `assemble`,
one *segment* at a time: a run of consecutive final pages between certain boundaries (before a
page that is a form's first page or not a known form, after a form's last page or an unknown
page). A segment next to a page still being read is *unsettled* and waits (that page may continue
the form); a form whose pages are all there is settled at once, so records appear while the rest
of the batch is still being read. Only segments with a page read since the last assembly are
redone, so assembling after every page costs little.

Idempotent: an instance is keyed by ``"<batch id>:<first page id>"``; running again with the
same pages finds the same instance and record, and a record's revision changes only when the
machine's content (status, data, errors, fields, pages) changes. Fields a supervisor verified
keep their values when the content changes (`_write_fields`), the record is rebuilt from its
fields by `intake.records.state.refresh`, and an approved or rejected record goes back to review
(`_status_after_reading`). A new record read straight through may be sampled as a spot check
(``review_spot_check_share``). An instance whose pages now belong to
another one (after a re-run) has its record marked ``superseded`` (a change, so a new revision).
Assemblies of one batch are serialised by locking the batch row. Lock order everywhere: batch
row, then page rows (by id), then the revision counter, then the event counter, then (PostgreSQL)
the families advisory lock taken by `intake.families.service.relink`.

Blank pages and pages a supervisor set aside are *transparent*: assembly skips them, so the blank
back of a sheet scanned on both sides does not split a form in two. When a page becomes
transparent (or stops being so), the pages on either side of it are assembled again, and an
instance it alone belonged to is superseded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from intake.batches.processing import registry_for, stored_result
from intake.batches.progress import add_events
from intake.config import Settings, get_settings
from intake.db.models import (
    FINAL_PAGE_STATES,
    Batch,
    BatchFile,
    BatchState,
    Page,
    PageStage,
    PageState,
    Record,
    RecordEventKind,
    RecordField,
    RecordState,
    utcnow,
)
from intake.db.models import FormInstance as InstanceRow
from intake.db.session import get_db, next_values
from intake.errors import TemplateError
from intake.families.service import relink
from intake.pipeline.extract import FormInstance, assemble
from intake.pipeline.types import jsonable
from intake.records.events import record_event
from intake.records.state import refresh
from intake.storage import crop_key

log = logging.getLogger(__name__)
TRANSPARENT_STATES = frozenset({PageState.BLANK, PageState.SET_ASIDE})


def _starts_clean(p: Page) -> bool:
    return p.status == PageState.CANCELLED or p.template_id is None or p.template_page == 1


def _ends_clean(p: Page) -> bool:
    return (p.status == PageState.CANCELLED or p.template_id is None
            or (p.template_page is not None and p.pages_in_form is not None
                and p.template_page >= p.pages_in_form))


def settled_segments(pages: list[Page]) -> list[list[Page]]:
    """Segments (see module docstring) that are settled and must be assembled: those holding a
    page read since the last assembly, and those sharing an instance with such a segment (a page
    that was the middle of a form may now split it)."""
    segments = _settled(pages)
    chosen = [any(p.needs_assembly for p in seg) for seg in segments]
    while True:
        instances = {p.instance_id for seg, c in zip(segments, chosen, strict=True) if c for p in seg} - {None}
        more = [not c and any(p.instance_id in instances for p in seg) for seg, c in zip(segments, chosen, strict=True)]
        if not any(more):
            return [seg for seg, c in zip(segments, chosen, strict=True) if c]
        chosen = [c or m for c, m in zip(chosen, more, strict=True)]


def _settled(pages: list[Page]) -> list[list[Page]]:
    out: list[list[Page]] = []
    final = [p.status in FINAL_PAGE_STATES for p in pages]
    i, n = 0, len(pages)
    while i < n:
        if not final[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and final[j + 1] and not (_ends_clean(pages[j]) or _starts_clean(pages[j + 1])):
            j += 1
        seg = pages[i : j + 1]
        left_open = i > 0 and not final[i - 1] and not _starts_clean(pages[i])
        right_open = j + 1 < n and not final[j + 1] and not _ends_clean(pages[j])
        if not (left_open or right_open):
            out.append(seg)
        i = j + 1
    return out


@dataclass
class _Plan:
    key: str
    inst: FormInstance
    pages: list[Page]
    row: InstanceRow | None
    record: Record | None
    content: dict[str, Any]
    digest: str

    @property
    def changed(self) -> bool:
        r = self.record
        return r is None or r.content_hash != self.digest or r.status == RecordState.SUPERSEDED


def _content(inst: FormInstance, pages: list[Page]) -> tuple[dict[str, Any], str]:
    assert inst.template is not None
    fields = {path: {k: v for k, v in r.to_dict().items() if k != "details"} for path, r in inst.fields.items()}
    content = jsonable({"template": inst.template.id, "version": inst.template.version, "status": inst.status,
                        "data": inst.data, "errors": inst.errors, "pages": [p.id for p in pages],
                        "fields": fields})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return content, digest


def _plan_segment(s: Session, batch: Batch, seg: list[Page], files: dict[int, BatchFile],
                  settings: Settings) -> list[_Plan] | None:
    results = [stored_result(p, files[p.file_id].filename) for p in seg if p.status != PageState.CANCELLED]
    by_result = {id(r): p for r, p in zip(results, [p for p in seg if p.status != PageState.CANCELLED], strict=True)}
    try:
        instances = assemble(results, registry_for(settings))
    except TemplateError as exc:
        log.error("batch %s: assembly of pages %s failed: %s", batch.id, [p.id for p in seg], exc.code)
        return None
    plans = []
    for inst in instances:
        pages = [by_result[id(r)] for r in inst.pages]
        if inst.template is None:
            continue
        key = f"{batch.id}:{pages[0].id}"
        row = s.scalar(select(InstanceRow).where(InstanceRow.key == key))
        record = s.scalar(select(Record).where(Record.instance_id == row.id)) if row else None
        content, digest = _content(inst, pages)
        plans.append(_Plan(key, inst, pages, row, record, content, digest))
    return plans


def _write_fields(s: Session, plan: _Plan, record: Record, files: dict[int, BatchFile]) -> list[RecordField]:
    """Upsert the record's fields from the machine's readings, with provenance. A field a person
    confirmed or corrected keeps their value (the machine's new value goes to original_value);
    every field keeps the machine's reading as read (`reading`). Returns the fields in template
    order."""
    existing = {f.path: f for f in s.scalars(select(RecordField).where(RecordField.record_id == record.id))}
    by_template_page = {p.template_page: p for p in plan.pages}
    out = []
    for path, r in plan.inst.readings.items():
        page = by_template_page.get(r.page + 1)
        kept = set((page.result or {}).get("crops", [])) if page is not None else set()
        f = existing.pop(path, None)
        if f is None:
            f = RecordField(record_id=record.id, path=path, errors=[])
            s.add(f)
        machine = jsonable(r.value)
        if f.corrected_at is not None:
            f.original_value = machine
        else:
            f.value = machine
        f.reading = {k: v for k, v in r.to_dict().items() if k not in ("path", "page", "box")}
        f.type, f.text, f.confidence, f.engine = r.type, r.text, float(r.confidence), r.engine
        f.template_page, f.box = r.page, list(r.box)
        f.page_id = page.id if page is not None else None
        f.crop_key = (crop_key(files[page.file_id].sha256, page.index, path)
                      if page is not None and path in kept else None)
        out.append(f)
    for gone in existing.values():
        s.delete(gone)
    return out


def _status_after_reading(rec: Record, previous: str | None, ready: bool) -> str:
    """A record's status after its pages were read (again) with new content. Straight through when
    nothing is left for a person; a spot check waits for its supervisor; an approved or rejected
    record whose reading changed goes back to review (its verified values are kept), so nothing
    a person signed off changes without a person seeing it."""
    if not ready or rec.spot_check or previous in (RecordState.APPROVED, RecordState.REJECTED):
        return RecordState.NEEDS_REVIEW
    return RecordState.ACCEPTED


def _apply(s: Session, batch: Batch, plans: list[_Plan], stale: list[InstanceRow],
           files: dict[int, BatchFile], settings: Settings) -> int:
    stale_records = [r for r in (s.scalar(select(Record).where(Record.instance_id == row.id)) for row in stale)
                     if r is not None and r.status != RecordState.SUPERSEDED]
    changed = [p for p in plans if p.changed]
    revisions = iter(next_values(s, "revision", len(changed) + len(stale_records)))
    now = utcnow()
    for plan in plans:
        inst, t = plan.inst, plan.inst.template
        assert t is not None
        row = plan.row or InstanceRow(key=plan.key, batch_id=batch.id, template_id=t.id, template_version=t.version)
        row.template_id, row.template_version, row.status = t.id, t.version, inst.status
        row.errors, row.page_ids = jsonable(inst.errors), [p.id for p in plan.pages]
        if plan.row is None:
            s.add(row)
            s.flush()
        for p in plan.pages:
            p.instance_id = row.id
        if not plan.changed:
            continue
        rec = plan.record
        previous = rec.status if rec is not None else None
        if rec is None:
            rec = Record(instance_id=row.id, batch_id=batch.id, created_at=now, spot_check=False, urgent=False,
                         reason_codes="")
        rec.template_id, rec.template_version = t.id, t.version
        rec.errors, rec.content_hash = jsonable(inst.errors), plan.digest
        rec.revision, rec.updated_at = next(revisions), now
        if plan.record is None:
            rec.status, rec.data = str(inst.status), {}
            s.add(rec)
            s.flush()
        fields = _write_fields(s, plan, rec, files)
        ready = refresh(rec, t, fields)
        if plan.record is None and ready and random.random() < settings.review_spot_check_share:
            rec.spot_check = True  # sampled: a person checks what the machine accepted
            ready = refresh(rec, t, fields)
        rec.status = _status_after_reading(rec, previous, ready)
        record_event(s, rec, RecordEventKind.CREATED if plan.record is None else RecordEventKind.UPDATED, "system",
                     pages=[p.id for p in plan.pages])
        relink(s, rec)
    for row in stale:
        row.page_ids = []
    for rec in stale_records:
        rec.status, rec.revision, rec.updated_at = RecordState.SUPERSEDED, next(revisions), now
        rec.content_hash = "superseded"
        record_event(s, rec, RecordEventKind.SUPERSEDED, "system")
        relink(s, rec)  # a superseded record leaves its family
    return len(changed) + len(stale_records)


def touch_neighbours(session: Session, page: Page) -> None:
    """Before a transparent page is read again: the pages on either side of it (joined across it
    into one form) must be assembled again once it is read, as it may now split them. Call with
    the batch row locked."""
    if page.status not in TRANSPARENT_STATES:
        return
    for cond, order in ((Page.position < page.position, Page.position.desc()),
                        (Page.position > page.position, Page.position.asc())):
        n = session.scalar(select(Page).options(defer(Page.result)).where(
            Page.batch_id == page.batch_id, cond, Page.status.not_in([str(x) for x in TRANSPARENT_STATES]))
            .order_by(order).limit(1))
        if n is not None:
            n.needs_assembly = True


def _reassemble_neighbours(pages: list[Page], moved: list[Page]) -> None:
    """A page that became transparent may join the pages on either side of it into one form."""
    positions = [p.position for p in pages]
    for m in moved:
        i = bisect_left(positions, m.position)
        for k in (i - 1, i):
            if 0 <= k < len(pages):
                pages[k].needs_assembly = True


def assemble_batch(batch_id: int, *, settings: Settings | None = None) -> dict[str, Any]:
    """Assemble what can be assembled now (see module docstring); mark the batch done when all
    its pages are final and assembled. Returns counts for logs and tests."""
    settings = settings or get_settings()
    with get_db(settings).session() as s:
        batch = s.get(Batch, batch_id, with_for_update=True)
        if batch is None:
            return {"batch": batch_id, "gone": True}
        every = list(s.scalars(select(Page).options(defer(Page.result))
                               .where(Page.batch_id == batch_id).order_by(Page.position)))
        pages = [p for p in every if p.status not in TRANSPARENT_STATES]
        moved = [p for p in every if p.status in TRANSPARENT_STATES and p.needs_assembly]
        _reassemble_neighbours(pages, moved)
        segments = settled_segments(pages)
        files = {f.id: f for f in s.scalars(select(BatchFile).where(BatchFile.batch_id == batch_id))}
        plans: list[_Plan] = []
        touched: list[Page] = []
        for seg in segments:
            seg_plans = _plan_segment(s, batch, seg, files, settings)
            if seg_plans is None:
                continue
            plans.extend(seg_plans)
            touched.extend(seg)
        new_keys = {p.key for p in plans}
        old_ids = {p.instance_id for p in touched + moved if p.instance_id is not None}
        stale = [row for row in s.scalars(select(InstanceRow).where(InstanceRow.id.in_(old_ids)))
                 if row.key not in new_keys] if old_ids else []
        for p in touched + moved:
            p.instance_id = None  # set again by _apply for the pages of a template instance
        changed = _apply(s, batch, plans, stale, files, settings)
        for p in touched + moved:
            p.needs_assembly = False
            if p.instance_id is not None:
                p.stage = PageStage.ASSEMBLED
        s.flush()
        left = s.scalar(select(func.count()).select_from(Page).where(
            Page.batch_id == batch_id,
            or_(Page.status.not_in([str(x) for x in FINAL_PAGE_STATES]), Page.needs_assembly.is_(True))))
        if batch.started_at is None:  # set here, under the batch lock, not by every page claim
            batch.started_at = min((p.started_at for p in every if p.started_at), default=None)
        done = False
        if not left and batch.status == BatchState.PROCESSING:
            batch.status, batch.finished_at, done = BatchState.DONE, utcnow(), True
        add_events(s, touched)
    log.info("batch %s assembled: %d segment(s), %d record change(s)%s", batch_id, len(segments), changed,
             ", batch done" if done else "")
    return {"batch": batch_id, "segments": len(segments), "records_changed": changed, "done": done}
