"""The jobs the work queue runs, the same whether in a Celery worker or in-process.

Each job takes one id, re-reads the rows and calls the service. Errors are sorted here:

- *transient* (`is_transient`: database unreachable or locked, broker or network down, storage
  volume unavailable) propagate, and the caller retries with backoff (Celery's autoretry, or
  `with_retries` in-process);
- anything else stopping a page is *permanent*: recorded on the page as ``failed`` with a code
  and a plain message (``internal_error``), logged with the page id and the exception's type only
  (exception messages may quote personal data).
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from intake.batches import assembly, processing
from intake.batches.service import sweep
from intake.config import Settings, get_settings
from intake.db.models import Page, PageState
from intake.db.session import get_db
from intake.errors import OriginalMissing, StorageError

log = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # server gone, connection refused, "database is locked"
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # connection pool exhausted
    sa_exc.IntegrityError,  # lost a race with a concurrent writer: the retry sees its row
    ConnectionError,
    TimeoutError,
    StorageError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OriginalMissing):
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


def _log_unexpected(what: str, exc: BaseException) -> None:
    frames = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    log.error("%s stopped by %s at\n%s", what, type(exc).__name__, frames)


INTERNAL_ERROR = ("internal_error",
                  "an unexpected error stopped the reading of this page; a supervisor can re-run it")
TIMEOUT = ("timeout", "reading this page took longer than the time limit; check the scan, then re-run it")


def run_page(page_id: int, *, settings: Settings | None = None, worker: str | None = None,
             delivery_id: str | None = None, timeout_errors: tuple[type[BaseException], ...] = ()) -> str:
    """Read page `page_id`. `timeout_errors` (Celery's soft time limit) record ``timeout``."""
    try:
        return processing.process_page(page_id, settings=settings, worker=worker, delivery_id=delivery_id)
    except Exception as exc:
        return _page_error(page_id, exc, settings, worker, timeout_errors)


def _page_error(page_id: int, exc: Exception, settings: Settings | None, worker: str | None,
                timeout_errors: tuple[type[BaseException], ...]) -> str:
    if timeout_errors and isinstance(exc, timeout_errors):
        log.warning("page %s: out of time (INTAKE_PAGE_TIME_LIMIT_S)", page_id)
        record_timeout(page_id, settings=settings, worker=worker)
        return "timeout"
    if is_transient(exc):
        raise exc
    _log_unexpected(f"page {page_id}", exc)
    processing.record_page_failure(page_id, *INTERNAL_ERROR, settings=settings, worker=worker)
    return "failed"


def run_next_page(*, settings: Settings | None = None, worker: str | None = None, delivery_id: str | None = None,
                  timeout_errors: tuple[type[BaseException], ...] = ()) -> tuple[str, int | None, int | None]:
    """What a page message does: read the next page in fair order (`processing.process_next`).
    Returns (outcome, page id, batch id); (``idle``, None, None) when no page waits. Errors are
    sorted as `run_page` sorts them; a transient one propagates and the retry, under the same
    `delivery_id`, takes over the page this run held."""
    settings = settings or get_settings()
    claim = processing.claim_next(settings, worker, processing.run_id_for(delivery_id))
    if claim is None:
        return "idle", None, None
    try:
        outcome = processing.read_claimed(claim, settings, worker)
    except Exception as exc:
        outcome = _page_error(claim.page_id, exc, settings, worker, timeout_errors)
    return outcome, claim.page_id, claim.batch_id


def fail_held_page(delivery_id: str, code: str, message: str, *, settings: Settings | None = None) -> int | None:
    """Mark failed the page that the run of message `delivery_id` holds, if any (retries ran out)."""
    settings = settings or get_settings()
    run_id = processing.run_id_for(delivery_id)
    with get_db(settings).read_session() as s:
        page_id = s.scalar(select(Page.id).where(Page.run_id == run_id, Page.status == PageState.PROCESSING))
    if page_id is not None:
        processing.record_page_failure(page_id, code, message, settings=settings)
    return page_id


def record_timeout(page_id: int, *, settings: Settings | None = None, worker: str | None = None) -> None:
    processing.record_page_failure(page_id, *TIMEOUT, settings=settings, worker=worker)


def run_assembly(batch_id: int, *, settings: Settings | None = None) -> dict[str, Any]:
    return assembly.assemble_batch(batch_id, settings=settings)


def batch_of_page(page_id: int, *, settings: Settings | None = None) -> int | None:
    with get_db(settings or get_settings()).read_session() as s:
        page = s.get(Page, page_id)
        return page.batch_id if page is not None else None


def run_assembly_for_page(page_id: int, *, settings: Settings | None = None) -> dict[str, Any] | None:
    batch_id = batch_of_page(page_id, settings=settings)
    return None if batch_id is None else run_assembly(batch_id, settings=settings)


def with_retries(fn: Callable[..., T], *args: Any, attempts: int = 5, **kwargs: Any) -> T:
    """Run `fn`, retrying transient errors with exponential backoff (in-process workers)."""
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if not is_transient(exc) or attempt == attempts - 1:
                raise
            log.warning("%s: transient %s, retry %d", fn.__name__, type(exc).__name__, attempt + 1)
            time.sleep(min(30.0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")


def run_page_chain(page_id: int, *, settings: Settings | None = None, worker: str | None = None) -> None:
    """Read page `page_id`, then assemble its batch (`intake process`: pages in upload order)."""
    with_retries(run_page, page_id, settings=settings, worker=worker)
    with_retries(run_assembly_for_page, page_id, settings=settings)


def run_next_page_then_assembly(*, settings: Settings | None = None, worker: str | None = None) -> str:
    """In-process equivalent of a page message: the next page in fair order, then its batch's
    assembly. Retries keep one delivery id, so a retry takes over the page its try held."""
    delivery_id = uuid.uuid4().hex
    outcome, _, batch_id = with_retries(run_next_page, settings=settings, worker=worker, delivery_id=delivery_id)
    if batch_id is not None:
        with_retries(run_assembly, batch_id, settings=settings)
    return outcome


def run_sweep(*, settings: Settings | None = None) -> dict[str, int]:
    return sweep(settings=settings)
