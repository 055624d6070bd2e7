"""Batches: the service the API, the CLI and the workers call.

- `create_batch(uploads, principal, settings)` — see `intake.batches.upload`.
- `process_page(page_id)` — see `intake.batches.processing`; `assemble_batch(batch_id)` — see
  `intake.batches.assembly`. Both idempotent; both what the work queue runs (`jobs`).
- `cancel_batch`, `rerun_page`: state changes, audited, work enqueued after commit.
- `sweep()`: re-enqueues work whose message was lost (broker restarted, worker host died).
- `batch_view`, `list_batches`, `page_events_since`: what the endpoints return; `review_counts`
  (what still needs a person) and `page_window` (the "problems only" filter and paging of a
  batch's pages, by position so that a live page update knows whether it belongs on the page).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer

from intake import dispatch
from intake.auth.audit import audit
from intake.auth.service import Principal
from intake.batches.assembly import assemble_batch, touch_neighbours
from intake.batches.processing import lapsed_pages as processing_lapsed
from intake.batches.processing import process_page, record_page_failure
from intake.batches.progress import Progress, add_events, batch_progress
from intake.batches.schemas import (
    BatchOut,
    BatchSummary,
    DuplicateOf,
    ErrorOut,
    FileOut,
    PageOut,
    PlacementOut,
    ProgressOut,
    ReviewOut,
)
from intake.batches.upload import create_batch
from intake.config import Settings, get_settings
from intake.db.models import (
    FINAL_PAGE_STATES,
    Batch,
    BatchFile,
    BatchState,
    Original,
    Page,
    PageEvent,
    PagePlacement,
    PageStage,
    PageState,
    Record,
    RecordState,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import Conflict, NotFound

__all__ = [
    "assemble_batch", "batch_view", "cancel_batch", "create_batch", "get_batch_for", "get_page_for", "list_batches",
    "page_events_since", "page_out_for", "process_page", "record_page_failure", "rerun_page", "sweep",
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


def get_page_for(session: Session, page_id: int, principal: Principal) -> Page:
    """The page if `principal` may see its batch (`get_batch_for`); NotFound otherwise."""
    page = session.get(Page, page_id)
    if page is None:
        raise NotFound(f"there is no page {page_id}")
    get_batch_for(session, page.batch_id, principal)
    return page


def page_out_for(session: Session, page_id: int, principal: Principal) -> PageOut:
    """One page as the API shows it, for whoever may see its batch."""
    page = get_page_for(session, page_id, principal)
    file = session.get(BatchFile, page.file_id)
    assert file is not None
    return pages_out(session, [page], {file.id: file})[0]


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
        purged = s.scalar(select(Original.purged_at).join(BatchFile, BatchFile.sha256 == Original.sha256)
                          .where(BatchFile.id == page.file_id))
        if purged is not None:
            raise Conflict("the stored file of this page was deleted by retention (its record is kept); it cannot "
                           "be read again")
        touch_neighbours(s, page)
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


TOKEN_GRACE_S = 5.0  # a page queued this recently may have its message on the way: not counted


def sweep(*, settings: Settings | None = None, interrupted: bool = False) -> dict[str, int]:
    """Put lost work back in the queue. Safe to run anywhere, any number of times: a page enqueued
    twice is read once (the second message finds no page waiting, or the page final). Runs every
    `sweep_interval_s` (10 s) in Celery beat, at the start of `intake serve` (`interrupted`: this
    process is the only reader, so every page ``processing`` was interrupted).

    - pages ``processing`` whose lease lapsed (`processing.lapsed_pages`: the worker died): back
      to ``queued``; their attempt was counted, so a page that keeps killing workers fails;
    - page messages lost (a broker restarted empty): with a dispatcher that counts its waiting
      messages (Celery, `intake serve`), as many messages as pages ``queued`` (for more than
      `TOKEN_GRACE_S`) outnumber them are sent; otherwise (`intake process`) each page queued for
      longer than `stuck_after_s` is enqueued again;
    - batches with pages read more than `sweep_interval_s` ago but not assembled (assembly lost).
    Returns counts: ``processing`` pages requeued, ``queued`` page messages sent, ``assemblies``.
    """
    settings = settings or get_settings()
    now = utcnow()
    if interrupted:
        with get_db(settings).read_session() as s:
            lapsed = list(s.scalars(select(Page.id).where(Page.status == PageState.PROCESSING).order_by(Page.id)))
    else:
        lapsed = processing_lapsed(settings, now)
    waiting = dispatch.waiting(settings)
    assemble: Sequence[int] = []
    with get_db(settings).session() as s:
        pages = list(s.scalars(select(Page).options(defer(Page.result)).where(Page.id.in_(lapsed))
                               .order_by(Page.id).with_for_update())) if lapsed else []
        requeued = []
        for p in pages:
            # re-checked under the lock: a renewal may have come in since (a slow, not a dead, run)
            if p.status == PageState.PROCESSING and (interrupted or p.lease_until is None or p.lease_until < now):
                p.status, p.stage, p.updated_at, p.enqueued_at = PageState.QUEUED, PageStage.REQUEUED, now, now
                p.lease_until = None
                requeued.append(p)
        if waiting is None:
            before = now - timedelta(seconds=settings.stuck_after_s)
            stale = list(s.scalars(select(Page).options(defer(Page.result)).where(
                Page.status == PageState.QUEUED, func.coalesce(Page.enqueued_at, Page.updated_at) < before)
                .order_by(Page.id).with_for_update()))
            for p in stale:
                p.stage, p.updated_at, p.enqueued_at = PageStage.REQUEUED, now, now
            send = [p.id for p in requeued + stale]
        else:
            before = now if interrupted else now - timedelta(seconds=TOKEN_GRACE_S)
            queued = s.scalar(select(func.count()).select_from(Page).where(
                Page.status == PageState.QUEUED, func.coalesce(Page.enqueued_at, Page.updated_at) < before)) or 0
            missing = max(0, queued + len(requeued) - waiting)
            hints = [p.id for p in requeued] + list(s.scalars(select(Page.id).where(
                Page.status == PageState.QUEUED).order_by(Page.id).limit(max(0, missing - len(requeued)))))
            send = (hints + [0] * missing)[:missing]  # a token reads whichever page is next
        for page_id in send:
            dispatch.enqueue_page(page_id, settings=settings, session=s)
        cutoff = now.timestamp() - settings.sweep_interval_s
        waiting_asm = s.execute(select(Page.batch_id, Page.finished_at).join(Batch, Batch.id == Page.batch_id).where(
            Page.needs_assembly.is_(True), Page.status.in_([str(x) for x in FINAL_PAGE_STATES]),
            Batch.status == BatchState.PROCESSING)).all()
        assemble = sorted({b for b, fin in waiting_asm if fin is None or fin.timestamp() < cutoff})
        for batch_id in assemble:
            dispatch.enqueue_assembly(batch_id, settings=settings, session=s)
        add_events(s, [p for p in requeued + (stale if waiting is None else [])])
    report = {"processing": len(requeued), "queued": max(0, len(send) - len(requeued)), "assemblies": len(assemble)}
    if requeued or send or assemble:
        log.warning("sweeper: %d page(s) whose lease lapsed requeued, %d page message(s) sent, %d assembly(ies)",
                    report["processing"], len(send), report["assemblies"])
    return report


# ---------------------------------------------------------------- views
def progress_out(p: Progress) -> ProgressOut:
    return ProgressOut(done=p.done, total=p.total, eta_seconds=p.eta_seconds, counts=p.counts,
                       rate_per_minute=p.rate_per_minute)


def _records(session: Session, pages: Sequence[Page]) -> dict[int, tuple[int, str]]:
    """(record id, record status) by instance id."""
    inst = {p.instance_id for p in pages if p.instance_id is not None}
    if not inst:
        return {}
    rows = session.execute(select(Record.instance_id, Record.id, Record.status).where(Record.instance_id.in_(inst)))
    return {i: (r, st) for i, r, st in rows}


def _placements(session: Session, pages: Sequence[Page]) -> dict[int, PagePlacement]:
    ids = [p.id for p in pages]
    if not ids:
        return {}
    return {pl.page_id: pl for pl in session.scalars(select(PagePlacement).where(PagePlacement.page_id.in_(ids)))}


def placement_out(pl: PagePlacement) -> PlacementOut:
    return PlacementOut(template=pl.template_id, template_version=pl.template_version, template_page=pl.template_page,
                        points=pl.points, placed_by=pl.placed_by_id, placed_at=pl.placed_at)


def page_out(p: Page, file: BatchFile, record: tuple[int, str] | None, placement: PagePlacement | None = None
             ) -> PageOut:
    error = ErrorOut(code=p.error_code, message=p.error_message) if p.error_code else None
    record_id, record_status = record if record else (None, None)
    return PageOut(
        id=p.id, batch_id=p.batch_id, file_id=p.file_id, file=file.filename, index=p.index, position=p.position,
        status=p.status, stage=p.stage, attempts=p.attempts, template=p.template_id,
        template_version=p.template_version, template_page=p.template_page, alignment=p.alignment, error=error,
        record_id=record_id, record_status=record_status, record_url=f"{API}/records/{record_id}" if record_id else None,
        preview_url=f"{API}/pages/{p.id}/preview" if p.preview_key else None,
        thumbnail_url=f"{API}/pages/{p.id}/thumbnail" if p.preview_key else None,
        placement=placement_out(placement) if placement else None, updated_at=p.updated_at,
    )


def pages_out(session: Session, pages: Sequence[Page], files: dict[int, BatchFile]) -> list[PageOut]:
    records = _records(session, pages)
    placed = _placements(session, pages)
    return [page_out(p, files[p.file_id], records.get(p.instance_id) if p.instance_id else None, placed.get(p.id))
            for p in pages]


def _pages_of(session: Session, where) -> list[Page]:  # noqa: ANN001 - a SQL condition
    return list(session.scalars(select(Page).options(defer(Page.result)).where(where).order_by(Page.position)))


# Pages that need a person, besides those of records needing review (see `ReviewOut`).
TO_PLACE = (PageState.UNIDENTIFIED, PageState.UNREGISTERED, PageState.BLANK)
UNREADABLE = (PageState.UNREADABLE, PageState.FAILED)


def review_counts(session: Session, batch_ids: Sequence[int]) -> dict[int, ReviewOut]:
    """What still needs a person in each batch (two grouped queries for all of them)."""
    out = {b: ReviewOut() for b in batch_ids}
    if not batch_ids:
        return out
    recs = session.execute(select(Record.batch_id, Record.status, func.count()).where(
        Record.batch_id.in_(batch_ids), Record.status != RecordState.SUPERSEDED).group_by(Record.batch_id, Record.status))
    for b, status, n in recs:
        out[b].records[status] = n
    review_pages = session.execute(
        select(Page.batch_id, func.count()).join(Record, Record.instance_id == Page.instance_id)
        .where(Page.batch_id.in_(batch_ids), Page.status == PageState.READ, Record.status == RecordState.NEEDS_REVIEW)
        .group_by(Page.batch_id))
    for b, n in review_pages:
        out[b].pages_needs_review = n
    states = session.execute(select(Page.batch_id, Page.status, func.count()).where(
        Page.batch_id.in_(batch_ids), Page.status.in_([str(x) for x in TO_PLACE + UNREADABLE]))
        .group_by(Page.batch_id, Page.status))
    for b, status, n in states:
        if status in TO_PLACE:
            out[b].pages_to_place += n
        else:
            out[b].pages_unreadable += n
    for r in out.values():
        r.records_needs_review = r.records.get(RecordState.NEEDS_REVIEW, 0)
        r.problems = r.pages_needs_review + r.pages_to_place + r.pages_unreadable
    return out


def summary(session: Session, b: Batch, review: ReviewOut | None = None) -> BatchSummary:
    return BatchSummary(id=b.id, status=b.status, created_at=b.created_at, started_at=b.started_at,
                        finished_at=b.finished_at, cancelled_at=b.cancelled_at, files_count=b.files_count,
                        pages_count=b.pages_count, progress=progress_out(batch_progress(session, b)),
                        review=review or review_counts(session, [b.id])[b.id], url=f"{API}/batches/{b.id}")


def problem_condition(batch_id: int):  # noqa: ANN201 - a SQL condition
    """Pages the "problems only" filter shows: those a person must place, rescan or re-run, and
    read pages whose record needs review. Mirrored by `isProblem` in static/batch.js."""
    needs_review = select(Record.instance_id).where(Record.batch_id == batch_id,
                                                    Record.status == RecordState.NEEDS_REVIEW)
    return or_(Page.status.in_([str(x) for x in TO_PLACE + UNREADABLE]),
               and_(Page.status == PageState.READ, Page.instance_id.in_(needs_review)))


@dataclass
class Window:
    """One screen of a batch's pages: those matching the filter from position `start` on."""

    pages: list[Page]
    matching: int  # pages matching the filter in the whole batch
    first: int  # how many matching pages come before this window
    next_start: int | None  # the `start` of the next window, None at the end
    prev_start: int | None  # the `start` of the previous window, None at the beginning
    last: int | None  # the position of the window's last page when more follow (its end), else None


def page_window(session: Session, batch_id: int, *, problems: bool = False, start: int = 0,
                limit: int | None = None) -> Window:
    """Pages of the batch by position, from `start`, at most `limit`, problems only if asked."""
    where = [Page.batch_id == batch_id] + ([problem_condition(batch_id)] if problems else [])
    q = select(Page).options(defer(Page.result)).where(*where, Page.position >= start).order_by(Page.position)
    pages = list(session.scalars(q.limit(limit + 1) if limit else q))
    more = limit is not None and len(pages) > limit
    pages = pages[:limit] if limit else pages
    matching = session.scalar(select(func.count()).select_from(Page).where(*where)) or 0
    first = 0
    if start > 0:
        first = session.scalar(select(func.count()).select_from(Page).where(*where, Page.position < start)) or 0
    prev_start = None
    if first and limit:
        prev_start = session.scalar(select(Page.position).where(*where, Page.position < start)
                                    .order_by(Page.position.desc()).offset(limit - 1).limit(1)) or 0
    elif first:
        prev_start = 0
    return Window(pages, matching, first, pages[-1].position + 1 if more else None, prev_start,
                  pages[-1].position if more else None)


def _same_owner(a: Batch, b: Batch) -> bool:
    if a.created_by_user_id is not None or b.created_by_user_id is not None:
        return a.created_by_user_id == b.created_by_user_id
    return a.created_by_token_id == b.created_by_token_id


def batch_view(session: Session, batch: Batch, *, problems: bool = False, start: int = 0,
               limit: int | None = None, window: Window | None = None, viewer: Principal | None = None) -> BatchOut:
    """The batch with its files and the pages of `window` (by default: `page_window` of the
    other arguments).

    A duplicate file names the upload it is linked to (batch, file, its pages and records) only
    when that upload is the same caller's (or `viewer` may read every batch): a clerk re-sending
    a file another user sent learns only that it was already received."""
    files = list(session.scalars(select(BatchFile).where(BatchFile.batch_id == batch.id).order_by(BatchFile.position)))
    by_id = {f.id: f for f in files}
    window = window or page_window(session, batch.id, problems=problems, start=start, limit=limit)
    pages = pages_out(session, window.pages, by_id)
    out_files = []
    for f in files:
        fo = FileOut(id=f.id, position=f.position, filename=f.filename, size=f.size, sha256=f.sha256, kind=f.kind,
                     pages=f.pages, status=f.status,
                     error=ErrorOut(code=f.error_code, message=f.error_message) if f.error_code else None)
        if f.duplicate_of_id is not None:
            first = session.get(BatchFile, f.duplicate_of_id)
            assert first is not None
            first_batch = session.get(Batch, first.batch_id)
            assert first_batch is not None
            if not (_same_owner(first_batch, batch) or (viewer is not None and viewer.can("batches:read_all"))):
                out_files.append(fo)
                continue
            fo.duplicate_of = DuplicateOf(batch_id=first.batch_id, file_id=first.id)
            fo.linked_pages = pages_out(session, _pages_of(session, Page.file_id == first.id), {first.id: first})
        out_files.append(fo)
    return BatchOut(**summary(session, batch).model_dump(), files=out_files, pages=pages,
                    pages_matching=window.matching, pages_next_start=window.next_start)


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
