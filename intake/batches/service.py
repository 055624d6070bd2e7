"""Batches: the service the API, the CLI and the workers call.

- `create_batch(uploads, principal, settings)` — see `intake.batches.upload`.
- `process_page(page_id)` — see `intake.batches.processing`; `assemble_batch(batch_id)` — see
  `intake.batches.assembly`. Both idempotent; both what the work queue runs (`jobs`).
- `cancel_batch`, `rerun_page`: state changes, audited, work enqueued after commit.
- `sweep()`: re-enqueues work whose message was lost (broker restarted, worker host died).
- `batch_view`, `list_batches`, `page_events_since`: what the endpoints return.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from intake import dispatch
from intake.auth.audit import audit
from intake.auth.service import Principal
from intake.batches.assembly import assemble_batch
from intake.batches.processing import process_page, record_page_failure, stuck_pages
from intake.batches.progress import Progress, add_events, batch_progress
from intake.batches.schemas import (
    BatchOut,
    BatchSummary,
    DuplicateOf,
    ErrorOut,
    FileOut,
    PageOut,
    ProgressOut,
)
from intake.batches.upload import create_batch
from intake.config import Settings, get_settings
from intake.db.models import (
    FINAL_PAGE_STATES,
    Batch,
    BatchFile,
    BatchState,
    Page,
    PageEvent,
    PageStage,
    PageState,
    Record,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import Conflict, NotFound

__all__ = [
    "assemble_batch", "batch_view", "cancel_batch", "create_batch", "get_batch_for", "list_batches",
    "page_events_since", "process_page", "record_page_failure", "rerun_page", "sweep",
]
log = logging.getLogger(__name__)
API = "/api/v1"


def get_batch_for(session: Session, batch_id: int, principal: Principal, *, lock: bool = False) -> Batch:
    """The batch if `principal` may see it: their own, or any with ``batches:read_all``."""
    batch = session.get(Batch, batch_id, with_for_update=lock)
    if batch is None:
        raise NotFound(f"there is no batch {batch_id}")
    if principal.can("batches:read_all"):
        return batch
    mine = (batch.created_by_user_id == principal.id if principal.kind == "user"
            else batch.created_by_token_id == principal.id)
    if not mine:
        raise NotFound(f"there is no batch {batch_id}")  # do not reveal other clerks' batches
    return batch


def cancel_batch(batch_id: int, principal: Principal, settings: Settings) -> None:
    """Stop a batch: pages not yet final become ``cancelled``; pages being read finish but their
    result is dropped. Records already made are kept."""
    with get_db(settings).session() as s:
        batch = get_batch_for(s, batch_id, principal, lock=True)
        if batch.status != BatchState.PROCESSING:
            raise Conflict(f"the batch is already {batch.status}")
        pages = list(s.scalars(select(Page).options(defer(Page.result)).where(
            Page.batch_id == batch_id, Page.status.not_in([str(x) for x in FINAL_PAGE_STATES]))
            .order_by(Page.id).with_for_update()))
        now = utcnow()
        for p in pages:
            p.status, p.stage, p.updated_at = PageState.CANCELLED, PageStage.CANCELLED, now
        batch.status, batch.cancelled_at, batch.finished_at = BatchState.CANCELLED, now, now
        audit(s, principal.actor, "batch.cancel", "batch", batch_id, pages=len(pages))
        add_events(s, pages)


def rerun_page(page_id: int, principal: Principal, settings: Settings) -> None:
    """Read a final page again (its previous result stays until the new one replaces it)."""
    with get_db(settings).session() as s:
        batch_id = s.scalar(select(Page.batch_id).where(Page.id == page_id))
        if batch_id is None:
            raise NotFound(f"there is no page {page_id}")
        batch = get_batch_for(s, batch_id, principal, lock=True)  # batch row first, then the page
        page = s.get(Page, page_id, with_for_update=True)
        assert page is not None
        if batch.status == BatchState.CANCELLED:
            raise Conflict("the batch was cancelled; upload the file again to read it")
        if page.status not in FINAL_PAGE_STATES:
            raise Conflict("the page is still waiting or being read")
        now = utcnow()
        page.status, page.stage, page.attempts = PageState.QUEUED, PageStage.QUEUED, 0
        page.error_code = page.error_message = None
        page.enqueued_at = page.updated_at = now
        page.finished_at = None
        if batch.status == BatchState.DONE:
            batch.status, batch.finished_at = BatchState.PROCESSING, None
        audit(s, principal.actor, "page.rerun", "page", page_id)
        add_events(s, [page])
        dispatch.enqueue_page(page_id, settings=settings, session=s)


def sweep(*, settings: Settings | None = None) -> dict[str, int]:
    """Re-enqueue work whose message was lost. Safe to run anywhere, any number of times: a page
    enqueued twice is read once (the second delivery finds it final).

    - pages ``queued`` for longer than `stuck_after_s` (message lost with a broker restart);
    - pages ``processing`` for longer than the hard task time limit (worker host died): put back
      to ``queued`` (their attempt was counted, so a page that keeps killing workers fails);
    - batches with read pages that were not assembled for `stuck_after_s` (assembly lost).
    """
    settings = settings or get_settings()
    queued, processing = stuck_pages(settings)
    ids = queued + processing
    assemble: Sequence[int] = []
    with get_db(settings).session() as s:
        now = utcnow()
        pages = list(s.scalars(select(Page).options(defer(Page.result)).where(Page.id.in_(ids))
                               .order_by(Page.id).with_for_update())) if ids else []
        for p in pages:
            if p.status in (PageState.QUEUED, PageState.PROCESSING):
                p.status, p.stage, p.updated_at, p.enqueued_at = PageState.QUEUED, PageStage.REQUEUED, now, now
                dispatch.enqueue_page(p.id, settings=settings, session=s)
        cutoff = now.timestamp() - settings.stuck_after_s
        waiting = s.execute(select(Page.batch_id, Page.finished_at).join(Batch, Batch.id == Page.batch_id).where(
            Page.needs_assembly.is_(True), Page.status.in_([str(x) for x in FINAL_PAGE_STATES]),
            Batch.status == BatchState.PROCESSING)).all()
        assemble = sorted({b for b, fin in waiting if fin is None or fin.timestamp() < cutoff})
        for batch_id in assemble:
            dispatch.enqueue_assembly(batch_id, settings=settings, session=s)
        add_events(s, [p for p in pages if p.stage == PageStage.REQUEUED])
    if ids or assemble:
        log.warning("sweeper: re-enqueued %d queued and %d processing page(s), %d assembly(ies)",
                    len(queued), len(processing), len(assemble))
    return {"queued": len(queued), "processing": len(processing), "assemblies": len(assemble)}


# ---------------------------------------------------------------- views
def progress_out(p: Progress) -> ProgressOut:
    return ProgressOut(done=p.done, total=p.total, eta_seconds=p.eta_seconds, counts=p.counts,
                       rate_per_minute=p.rate_per_minute)


def _record_ids(session: Session, pages: Sequence[Page]) -> dict[int, int]:
    inst = {p.instance_id for p in pages if p.instance_id is not None}
    if not inst:
        return {}
    return dict(session.execute(select(Record.instance_id, Record.id).where(Record.instance_id.in_(inst))).all())


def page_out(p: Page, file: BatchFile, record_id: int | None) -> PageOut:
    error = ErrorOut(code=p.error_code, message=p.error_message) if p.error_code else None
    return PageOut(
        id=p.id, batch_id=p.batch_id, file_id=p.file_id, file=file.filename, index=p.index, position=p.position,
        status=p.status, stage=p.stage, attempts=p.attempts, template=p.template_id,
        template_version=p.template_version, template_page=p.template_page, alignment=p.alignment, error=error,
        record_id=record_id, record_url=f"{API}/records/{record_id}" if record_id else None,
        preview_url=f"{API}/pages/{p.id}/preview" if p.preview_key else None, updated_at=p.updated_at,
    )


def pages_out(session: Session, pages: Sequence[Page], files: dict[int, BatchFile]) -> list[PageOut]:
    records = _record_ids(session, pages)
    return [page_out(p, files[p.file_id], records.get(p.instance_id) if p.instance_id else None) for p in pages]


def _pages_of(session: Session, where) -> list[Page]:  # noqa: ANN001 - a SQL condition
    return list(session.scalars(select(Page).options(defer(Page.result)).where(where).order_by(Page.position)))


def summary(session: Session, b: Batch) -> BatchSummary:
    return BatchSummary(id=b.id, status=b.status, created_at=b.created_at, started_at=b.started_at,
                        finished_at=b.finished_at, cancelled_at=b.cancelled_at, files_count=b.files_count,
                        pages_count=b.pages_count, progress=progress_out(batch_progress(session, b)),
                        url=f"{API}/batches/{b.id}")


def batch_view(session: Session, batch: Batch) -> BatchOut:
    files = list(session.scalars(select(BatchFile).where(BatchFile.batch_id == batch.id).order_by(BatchFile.position)))
    by_id = {f.id: f for f in files}
    pages = pages_out(session, _pages_of(session, Page.batch_id == batch.id), by_id)
    out_files = []
    for f in files:
        fo = FileOut(id=f.id, position=f.position, filename=f.filename, size=f.size, sha256=f.sha256, kind=f.kind,
                     pages=f.pages, status=f.status,
                     error=ErrorOut(code=f.error_code, message=f.error_message) if f.error_code else None)
        if f.duplicate_of_id is not None:
            first = session.get(BatchFile, f.duplicate_of_id)
            assert first is not None
            fo.duplicate_of = DuplicateOf(batch_id=first.batch_id, file_id=first.id)
            fo.linked_pages = pages_out(session, _pages_of(session, Page.file_id == first.id), {first.id: first})
        out_files.append(fo)
    return BatchOut(**summary(session, batch).model_dump(), files=out_files, pages=pages)


def list_batches(session: Session, principal: Principal, limit: int, before: int | None) -> list[Batch]:
    q = select(Batch).order_by(Batch.id.desc()).limit(limit)
    if before is not None:
        q = q.where(Batch.id < before)
    if not principal.can("batches:read_all"):
        q = q.where(Batch.created_by_user_id == principal.id if principal.kind == "user"
                    else Batch.created_by_token_id == principal.id)
    return list(session.scalars(q))


def page_events_since(session: Session, batch_id: int, after: int, limit: int = 500) -> list[tuple[int, PageOut]]:
    """Pages of the batch that changed after event `after`, with the seq of their last change."""
    rows = session.execute(select(PageEvent.seq, PageEvent.page_id).where(
        PageEvent.batch_id == batch_id, PageEvent.seq > after).order_by(PageEvent.seq).limit(limit)).all()
    if not rows:
        return []
    last: dict[int, int] = {}
    for seq, page_id in rows:
        last[page_id] = seq
    pages = {p.id: p for p in _pages_of(session, Page.id.in_(list(last)))}
    files = {f.id: f for f in session.scalars(select(BatchFile).where(BatchFile.batch_id == batch_id))}
    outs = {o.id: o for o in pages_out(session, list(pages.values()), files)}
    return sorted(((seq, outs[pid]) for pid, seq in last.items() if pid in outs), key=lambda x: x[0])
