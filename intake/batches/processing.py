"""Processing one page: load it from storage, read it, store the result, mark it final.

`process_page(page_id)` is idempotent and safe to run twice at once:

1. *claim* (one short transaction): return at once if the page is gone or already final, or if
   another live run holds it (see `process_page`); count the attempt (a page that has killed or timed out a worker `max_page_attempts` times fails with
   ``too_many_attempts`` instead of looping forever); mark it ``processing`` with a *lease*:
   `claimed_by` (worker and process id) and `lease_until`, now + ``page_lease_s`` (20 s).
2. *work* (no transaction open; a `Lease` thread renews `lease_until` every quarter of the
   lease, so a live reader of a slow page keeps it and a dead one loses it within a lease): original from storage -> `load_page` -> `read_page`, or, for a
   page a supervisor placed (`PagePlacement`: a template page, perhaps four points), `read_placed`
   with that placement instead of the pipeline's own search; the preview and field crops are
   written under keys derived from the original's SHA-256 and page number, so a re-run replaces
   them.
3. *finish* (one short transaction, page row locked): if the page became final meanwhile (another
   run finished first, or the batch was cancelled) the result is dropped; otherwise the result is
   stored and the page marked final. So a page's final state is written once per run request,
   whatever the number of deliveries of its message.

A page that cannot be decoded ends ``unreadable_file`` with the pipeline's code and message.
Permanent problems that are not about the page (OCR engine broken, original missing) end
``failed`` with a code. Transient errors (database, storage) propagate for the caller to retry.

`process_next()` claims the next page in *fair order* instead of a given one (`fair_batch_order`:
round-robin across owners, then a user's batch with the fewest pages left): with a broker and in `intake serve`
a page message is only a token meaning "one page waits", and the database decides which.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from intake.batches.progress import add_events
from intake.config import Settings, get_settings
from intake.db.models import (
    FINAL_PAGE_STATES,
    Batch,
    BatchFile,
    BatchState,
    Original,
    Page,
    PagePlacement,
    PageStage,
    PageState,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import InputError, OcrEngineError, OriginalMissing, TemplateError
from intake.forms.registry import Registry, registry_at
from intake.pipeline.extract import read_page
from intake.pipeline.load import load_page
from intake.pipeline.place import Placement, read_placed
from intake.pipeline.types import PageResult, PageStatus
from intake.storage import crop_key, get_storage, preview_key

log = logging.getLogger(__name__)
PREVIEW_LONG_SIDE = 1600


def registry_for(settings: Settings) -> Registry:
    return registry_at(settings.templates_dir)


@dataclass
class Claim:
    page_id: int
    run_id: str
    filename: str
    sha256: str
    storage_key: str
    index: int
    placement: Placement | None = None
    batch_id: int | None = None


def claimant(worker: str | None) -> str:
    """Who holds a lease: the worker's name and this process's id (no personal data)."""
    return f"{worker or 'in-process'}:{os.getpid()}"[-64:]


def _claim(page_id: int, settings: Settings, worker: str | None, run_id: str) -> Claim | str:
    """Claim page `page_id` for run `run_id` (one short transaction)."""
    with get_db(settings).session() as s:
        page = s.get(Page, page_id, with_for_update=True)
        if page is None:
            return "gone"
        return _take(s, page, settings, worker, run_id)


def _take(s: Session, page: Page, settings: Settings, worker: str | None, run_id: str) -> Claim | str:
    """Claim the locked `page` for run `run_id` in session `s`, with a lease of `page_lease_s`."""
    if page.status in FINAL_PAGE_STATES:
        return "already_final"
    batch = s.get(Batch, page.batch_id)
    assert batch is not None
    now = utcnow()
    if (page.status == PageState.PROCESSING and page.run_id != run_id
            and page.lease_until is not None and now < page.lease_until):
        return "busy"  # another run holds a live lease (it renews it while it reads)
    if batch.status == BatchState.CANCELLED:
        page.status, page.stage, page.updated_at = PageState.CANCELLED, PageStage.CANCELLED, now
        page.lease_until = None
        add_events(s, [page], worker=worker)
        return "cancelled"
    page.attempts += 1
    if page.attempts > settings.max_page_attempts:
        _mark_failed(page, "too_many_attempts",
                     f"reading this page stopped a worker or ran out of time {page.attempts - 1} times; "
                     "check the scan, then re-run the page")
        add_events(s, [page], worker=worker)
        return "failed"
    file = s.get(BatchFile, page.file_id)
    assert file is not None
    original = s.get(Original, file.sha256)
    assert original is not None
    page.status, page.stage, page.run_id = PageState.PROCESSING, PageStage.READING, run_id
    page.claimed_by, page.lease_until = claimant(worker), now + timedelta(seconds=settings.page_lease_s)
    page.started_at = page.updated_at = now  # (the batch row is not touched: see assembly)
    add_events(s, [page], worker=worker)
    placed = s.scalar(select(PagePlacement).where(PagePlacement.page_id == page.id))
    placement = None if placed is None else Placement(
        placed.template_id, placed.template_version, placed.template_page,
        None if placed.points is None else tuple((float(x), float(y)) for x, y in placed.points))
    return Claim(page.id, page.run_id, file.filename, file.sha256, original.storage_key, page.index, placement,
                 page.batch_id)


# ---------------------------------------------------------------- fair order
def _owner(batch_id: int, user_id: int | None, token_id: int | None) -> tuple[str, int]:
    return ("user", user_id) if user_id is not None else ("token", token_id) if token_id is not None \
        else ("batch", batch_id)


def fair_batch_order(s: Session) -> list[int]:
    """Batches with queued pages, in the order their next page is read.

    Round-robin across owners (the user, else the API token, else the batch itself): first the
    owner whose batches in progress had a page claimed least recently (never: first of all); among
    that owner's batches, the one with the fewest pages left, then the older. So one user's flood
    (one big batch or many small ones) and another user's small batch take turns page by page,
    and within one user's work a batch nearly done is finished before new ones are started
    (records appear sooner than if every batch advanced at once)."""
    waiting = dict(s.execute(select(Page.batch_id, func.count()).where(Page.status == PageState.QUEUED)
                             .group_by(Page.batch_id)).all())
    if not waiting:
        return []
    # every batch still in progress counts for its owner's last claim (one whose pages are all
    # claimed too), so an owner's new batch does not jump the turn
    active = or_(Batch.id.in_(sorted(waiting)), Batch.status == BatchState.PROCESSING)
    batches = s.execute(select(Batch.id, Batch.created_by_user_id, Batch.created_by_token_id, Batch.created_at)
                        .where(active)).all()
    last = dict(s.execute(select(Page.batch_id, func.max(Page.started_at)).join(Batch, Batch.id == Page.batch_id)
                          .where(active, Page.started_at.is_not(None)).group_by(Page.batch_id)).all())
    by_owner: dict[tuple[str, int], float] = {}
    for b, user, token, _ in batches:
        key = _owner(b, user, token)
        t = last[b].timestamp() if last.get(b) is not None else float("-inf")
        by_owner[key] = max(by_owner.get(key, float("-inf")), t)
    rows = [row for row in batches if row[0] in waiting]

    def rank(row: Any) -> tuple[Any, ...]:
        b, user, token, created = row
        return (by_owner[_owner(b, user, token)], waiting[b], created, b)

    return [row[0] for row in sorted(rows, key=rank)]


def claim_next(settings: Settings, worker: str | None, run_id: str) -> Claim | None:
    """Claim the next page in fair order (`fair_batch_order`, then the batch's first queued page by
    position) for run `run_id`; or the page this run already held, when the run's message is a
    redelivery after its worker died (a page the run holds is taken over at once). None when no
    page waits. Concurrent claimers never take the same page (PostgreSQL: ``SKIP LOCKED``;
    SQLite: one writer at a time)."""
    for _ in range(20):  # each turn settles one page (claimed, or found cancelled or failed)
        with get_db(settings).session() as s:
            held = s.scalar(select(Page).where(Page.status == PageState.PROCESSING, Page.run_id == run_id)
                            .limit(1).with_for_update())
            if held is not None:
                taken = _take(s, held, settings, worker, run_id)
                if isinstance(taken, Claim):
                    return taken
                continue
            page = None
            for batch_id in fair_batch_order(s):
                page = s.scalar(select(Page).where(Page.batch_id == batch_id, Page.status == PageState.QUEUED)
                                .order_by(Page.position).limit(1).with_for_update(skip_locked=True))
                if page is not None:
                    break
            if page is None:
                return None
            taken = _take(s, page, settings, worker, run_id)
            if isinstance(taken, Claim):
                return taken
    return None


# ---------------------------------------------------------------- the lease
class Lease:
    """Renews the claim of a page being read every quarter of `page_lease_s`, on a thread of its
    own, until stopped (a context manager). If the process dies the renewals stop, the lease
    lapses and the sweeper puts the page back in the queue."""

    def __init__(self, claim: Claim, settings: Settings) -> None:
        self.claim, self.settings = claim, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{claim.page_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        every = self.settings.page_lease_s / 4
        while not self._stop.wait(every):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - the next renewal tries again
                log.warning("page %s: lease not renewed (%s)", self.claim.page_id, type(exc).__name__)

    def renew(self) -> bool:
        with get_db(self.settings).session() as s:
            done = s.execute(update(Page).where(
                Page.id == self.claim.page_id, Page.run_id == self.claim.run_id,
                Page.status == PageState.PROCESSING).values(
                lease_until=utcnow() + timedelta(seconds=self.settings.page_lease_s)))
            return bool(done.rowcount)


def _mark_failed(page: Page, code: str, message: str) -> None:
    now = utcnow()
    page.status, page.stage = PageState.FAILED, PageStage.FAILED
    page.error_code, page.error_message = code, message
    page.needs_assembly, page.finished_at, page.updated_at = True, now, now
    page.lease_until = None


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _preview(img: np.ndarray) -> bytes:
    h, w = img.shape[:2]
    scale = min(1.0, PREVIEW_LONG_SIDE / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


def _read(claim: Claim, settings: Settings) -> tuple[PageResult, str | None, list[str]]:
    """The page's result, its preview key (if decoded) and the field paths whose crops were kept."""
    storage = get_storage(settings)
    data = storage.get(claim.storage_key)
    try:
        loaded = load_page(data, claim.filename, claim.index, settings)
    except InputError as exc:
        return PageResult(claim.filename, claim.index, PageStatus.UNREADABLE, reason=exc.message,
                          error_code=exc.code), None, []
    if claim.placement is not None:
        result = read_placed(loaded, claim.placement, registry_for(settings), keep_crops=True)
    else:
        result = read_page(loaded, registry_for(settings), keep_crops=True)
    pkey = None
    if loaded.image is not None:
        pkey = preview_key(claim.sha256, claim.index)
        storage.put(pkey, _preview(loaded.image))
    for path, crop in result.crops.items():
        storage.put(crop_key(claim.sha256, claim.index, path), _png(crop))
    return result, pkey, sorted(result.crops)


def _finish(claim: Claim, result: PageResult, pkey: str | None, crops: list[str],
            settings: Settings, worker: str | None) -> str:
    with get_db(settings).session() as s:
        page = s.get(Page, claim.page_id, with_for_update=True)
        if page is None:
            return "gone"
        if page.status in FINAL_PAGE_STATES:
            return "already_final"
        now = utcnow()
        page.status, page.stage = str(result.status), PageStage.DONE
        page.error_code, page.error_message = result.error_code, result.reason
        page.template_id, page.template_version = result.form_id, result.version
        page.template_page, page.pages_in_form = result.template_page, result.pages_in_form
        page.alignment = result.alignment
        data = result.to_dict()
        data["crops"] = crops  # which fields have a stored crop (not a PageResult field)
        page.result = data
        page.preview_key = pkey
        page.needs_assembly, page.finished_at, page.updated_at = True, now, now
        page.lease_until = None
        add_events(s, [page], worker=worker)
        return "done"


def process_page(page_id: int, *, settings: Settings | None = None, worker: str | None = None,
                 delivery_id: str | None = None) -> str:
    """Read one page (see the module docstring). Returns what happened: ``done``,
    ``already_final``, ``gone``, ``cancelled``, ``failed`` or ``busy``.

    `delivery_id` names the message (the Celery task id): a redelivery of the message whose run
    died (worker lost) takes the page over at once and counts an attempt, while another message
    for a page that a live run holds (the sweeper's copy of a message that was only slow) returns
    ``busy`` and counts nothing."""
    settings = settings or get_settings()
    claim = _claim(page_id, settings, worker, run_id_for(delivery_id))
    if isinstance(claim, str):
        return claim
    return read_claimed(claim, settings, worker)


def process_next(*, settings: Settings | None = None, worker: str | None = None,
                 delivery_id: str | None = None) -> tuple[str, int | None, int | None]:
    """Read the next page in fair order (`claim_next`): what one page message does with a broker
    and in `intake serve`, where a message only says "a page waits" and the database says which.
    Returns (outcome as `process_page`'s or ``idle`` when no page waits, page id, batch id)."""
    settings = settings or get_settings()
    claim = claim_next(settings, worker, run_id_for(delivery_id))
    if claim is None:
        return "idle", None, None
    return read_claimed(claim, settings, worker), claim.page_id, claim.batch_id


def run_id_for(delivery_id: str | None) -> str:
    return (delivery_id or uuid.uuid4().hex).replace("-", "")[:32]


def read_claimed(claim: Claim, settings: Settings, worker: str | None) -> str:
    page_id = claim.page_id
    with Lease(claim, settings):
        try:
            result, pkey, crops = _read(claim, settings)
        except (OcrEngineError, TemplateError, OriginalMissing) as exc:
            log.error("page %s failed: %s", page_id, exc.code)
            record_page_failure(page_id, exc.code, exc.message, settings=settings, worker=worker)
            return "failed"
        outcome = _finish(claim, result, pkey, crops, settings, worker)
    log.info("page %s %s: %s", page_id, outcome, result.status)
    return outcome


def record_page_failure(page_id: int, code: str, message: str, *, settings: Settings | None = None,
                        worker: str | None = None) -> bool:
    """Mark a page failed with a code and a plain message, unless it is already final."""
    with get_db(settings or get_settings()).session() as s:
        page = s.get(Page, page_id, with_for_update=True)
        if page is None or page.status in FINAL_PAGE_STATES:
            return False
        _mark_failed(page, code, message)
        add_events(s, [page], worker=worker)
        return True


def stored_result(page: Page, filename: str) -> PageResult:
    """The page's last result as a `PageResult` (a failed page as an unreadable one)."""
    if page.result is not None and page.status != PageState.FAILED:
        data = {k: v for k, v in page.result.items() if k != "crops"}
        return PageResult.from_dict(data)
    return PageResult(filename, page.index, PageStatus.UNREADABLE,
                      reason=page.error_message, error_code=page.error_code or "failed")


def lapsed_pages(settings: Settings, now=None) -> list[int]:  # noqa: ANN001
    """Ids of pages ``processing`` whose lease lapsed: the run reading them stopped renewing it,
    so its worker died (or lost the database for a whole lease). A row claimed before leases
    existed (no `lease_until`) counts as lapsed after the hard time limit."""
    now = now or utcnow()
    legacy_before = now - timedelta(seconds=settings.task_time_limit_s + 30)
    with get_db(settings).read_session() as s:
        return list(s.scalars(select(Page.id).where(
            Page.status == PageState.PROCESSING,
            or_(Page.lease_until < now, and_(Page.lease_until.is_(None), Page.updated_at < legacy_before)))
            .order_by(Page.id)))
