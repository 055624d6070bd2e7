"""Processing one page: load it from storage, read it, store the result, mark it final.

`process_page(page_id)` is idempotent and safe to run twice at once:

1. *claim* (one short transaction): return at once if the page is gone or already final, or if
   another live run holds it (see `process_page`); count the attempt (a page that has killed or timed out a worker `max_page_attempts` times fails with
   ``too_many_attempts`` instead of looping forever); mark it ``processing``.
2. *work* (no transaction open): original from storage -> `load_page` -> `read_page`, or, for a
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
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import cv2
import numpy as np
from sqlalchemy import select

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


def _claim(page_id: int, settings: Settings, worker: str | None, run_id: str) -> Claim | str:
    with get_db(settings).session() as s:
        page = s.get(Page, page_id, with_for_update=True)
        if page is None:
            return "gone"
        if page.status in FINAL_PAGE_STATES:
            return "already_final"
        batch = s.get(Batch, page.batch_id)
        assert batch is not None
        now = utcnow()
        alive_until = (page.started_at or now) + timedelta(seconds=settings.task_time_limit_s + 30)
        if page.status == PageState.PROCESSING and page.run_id != run_id and now < alive_until:
            return "busy"  # another message (e.g. the sweeper's copy) is being worked on right now
        if batch.status == BatchState.CANCELLED:
            page.status, page.stage, page.updated_at = PageState.CANCELLED, PageStage.CANCELLED, now
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
        page.started_at = page.updated_at = now  # (the batch row is not touched: see assembly)
        add_events(s, [page], worker=worker)
        placed = s.scalar(select(PagePlacement).where(PagePlacement.page_id == page.id))
        placement = None if placed is None else Placement(
            placed.template_id, placed.template_version, placed.template_page,
            None if placed.points is None else tuple((float(x), float(y)) for x, y in placed.points))
        return Claim(page.id, page.run_id, file.filename, file.sha256, original.storage_key, page.index, placement)


def _mark_failed(page: Page, code: str, message: str) -> None:
    now = utcnow()
    page.status, page.stage = PageState.FAILED, PageStage.FAILED
    page.error_code, page.error_message = code, message
    page.needs_assembly, page.finished_at, page.updated_at = True, now, now


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
    run_id = (delivery_id or uuid.uuid4().hex).replace("-", "")[:32]
    claim = _claim(page_id, settings, worker, run_id)
    if isinstance(claim, str):
        return claim
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


def stuck_pages(settings: Settings, now=None) -> tuple[list[int], list[int]]:  # noqa: ANN001
    """Ids of pages queued for longer than `stuck_after_s`, and of pages processing for longer
    than a task can possibly run (the hard time limit) — their messages were lost."""
    now = now or utcnow()
    queued_before = now - timedelta(seconds=settings.stuck_after_s)
    processing_before = now - timedelta(seconds=settings.task_time_limit_s + 30)
    with get_db(settings).read_session() as s:
        queued = s.scalars(select(Page.id).where(Page.status == PageState.QUEUED,
                                                 Page.updated_at < queued_before)).all()
        processing = s.scalars(select(Page.id).where(Page.status == PageState.PROCESSING,
                                                     Page.updated_at < processing_before)).all()
    return list(queued), list(processing)

