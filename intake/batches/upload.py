"""Creating a batch from uploaded files.

Each file is judged on its own, by content (never by name), before anything is decoded: a file
that is empty, not a scan, too large, has too many pages, is encrypted, damaged, or is an image
whose header claims more pixels than a page can have (a decompression bomb) is *refused* with the
pipeline's named code and message; the other files of the same upload are accepted all the same.
Budgets, from headers only (`intake.pipeline.load.measure`): a file whose pages add up to more
than ``max_file_megapixels`` is refused (``over_budget``), and so is a file that would take the
upload past ``max_batch_pages`` or ``max_batch_megapixels`` (files count in upload order), before
any of its pages is queued — refused, never silently truncated.
Problems only visible when a page is decoded (a truncated image) are marked on that page later.

Accepted bytes are stored unmodified under their SHA-256 *before* the transaction that creates the
rows commits, so a committed page always has its original. A file whose bytes were already
accepted (earlier in this upload, in any batch not cancelled, or in a cancelled batch where a page
of it had been read) is a *duplicate*: it is linked to the first upload's file, its pages and
records, and not processed again — one form never becomes two records. Only bytes whose earlier
pages were all cancelled unread are read again. The upload's answer names the linked batch, pages
and records only to the same caller (`service.batch_view`); to anyone else a duplicate is just
"already received".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake import dispatch
from intake.auth.audit import audit
from intake.auth.service import Principal
from intake.batches.progress import add_events
from intake.config import Settings
from intake.db.models import (
    Batch,
    BatchFile,
    BatchState,
    FileState,
    Original,
    Page,
    PageStage,
    PageState,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import FileTooLarge, InputError, OverBudget, TooManyFiles
from intake.pipeline.load import measure
from intake.storage import get_storage, sha256_hex


@dataclass
class Judged:
    position: int
    filename: str
    size: int
    sha256: str
    kind: str | None = None
    pages: int = 0
    error: InputError | None = None
    storage_key: str | None = None
    megapixels: float = 0.0


def judge(position: int, filename: str, data: bytes, settings: Settings) -> Judged:
    """Accept or refuse one file by its content."""
    j = Judged(position, (filename or f"file-{position + 1}")[:255], len(data), sha256_hex(data))
    try:
        if len(data) > settings.max_upload_bytes:
            raise FileTooLarge(f"the file is {len(data) / 2**20:.1f} MiB; the limit is "
                               f"{settings.max_upload_bytes / 2**20:.1f} MiB")
        j.kind, j.pages, j.megapixels = measure(data, settings)
        if j.megapixels > settings.max_file_megapixels:
            raise OverBudget(f"the file's {j.pages} pages add up to {j.megapixels:,.0f} megapixels; the limit is "
                             f"{settings.max_file_megapixels:,.0f} a file (an A4 page at 300 dpi is 8.7) — split it "
                             "or scan at 300 dpi")
    except InputError as exc:
        j.error, j.kind, j.pages = exc, None, 0
    return j


class _Budget:
    """The batch's page and megapixel budget, spent file by file in upload order."""

    def __init__(self, settings: Settings) -> None:
        self.s, self.pages, self.megapixels = settings, 0, 0.0

    def spend(self, j: Judged) -> None:
        if self.pages + j.pages > self.s.max_batch_pages:
            j.error = OverBudget(f"with this file's {j.pages} pages the upload would have {self.pages + j.pages}; "
                                 f"a batch may have {self.s.max_batch_pages} — upload it in another batch")
        elif self.megapixels + j.megapixels > self.s.max_batch_megapixels:
            j.error = OverBudget(f"with this file the upload's pages would add up to "
                                 f"{self.megapixels + j.megapixels:,.0f} megapixels; a batch may have "
                                 f"{self.s.max_batch_megapixels:,.0f} — upload it in another batch")
        else:
            self.pages += j.pages
            self.megapixels += j.megapixels
            return
        j.kind, j.pages = None, 0


def _first_accepted(session: Session, sha: str) -> BatchFile | None:
    """The first acceptance of these bytes that was (or is being) read: in a batch not cancelled,
    or in a cancelled batch where a page of it was read before the cancel (its records were kept,
    so reading it again would make a second record of the same form). Bytes whose every earlier
    page was cancelled unread are read again."""
    read_before = (select(Page.id).where(Page.file_id == BatchFile.id, Page.status != PageState.CANCELLED)
                   .exists())
    return session.scalars(
        select(BatchFile).join(Batch, Batch.id == BatchFile.batch_id)
        .where(BatchFile.sha256 == sha, BatchFile.status == FileState.ACCEPTED,
               or_(Batch.status != BatchState.CANCELLED, read_before))
        .order_by(BatchFile.id).limit(1)
    ).first()


def _write(session: Session, judged: list[Judged], principal: Principal, settings: Settings) -> Batch:
    batch = Batch(status=BatchState.PROCESSING, files_count=len(judged),
                  created_by_user_id=principal.id if principal.kind == "user" else None,
                  created_by_token_id=principal.id if principal.kind == "token" else None)
    session.add(batch)
    session.flush()
    pages: list[Page] = []
    position = 0
    for j in judged:
        row = BatchFile(batch_id=batch.id, position=j.position, filename=j.filename, size=j.size,
                        sha256=j.sha256, kind=j.kind, pages=j.pages)
        if j.error is not None:
            row.status, row.error_code, row.error_message = FileState.REFUSED, j.error.code, j.error.message
            session.add(row)
            continue
        first = _first_accepted(session, j.sha256)
        purged = session.get(Original, j.sha256)
        if purged is not None and purged.purged_at is not None:
            purged.purged_at = None  # retention had deleted it; stored again above (purged again when due)
        session.add(row)
        if first is not None:
            row.status, row.duplicate_of_id = FileState.DUPLICATE, first.id
            session.flush()
            continue
        row.status = FileState.ACCEPTED
        if session.get(Original, j.sha256) is None:
            session.add(Original(sha256=j.sha256, size=j.size, kind=j.kind, pages=j.pages,
                                 storage_key=j.storage_key))
        session.flush()
        now = utcnow()
        for index in range(1, j.pages + 1):
            page = Page(batch_id=batch.id, file_id=row.id, position=position, index=index,
                        status=PageState.QUEUED, stage=PageStage.QUEUED, enqueued_at=now, updated_at=now)
            position += 1
            session.add(page)
            pages.append(page)
    batch.pages_count = len(pages)
    if not pages:
        batch.status, batch.finished_at = BatchState.DONE, utcnow()
    session.flush()
    audit(session, principal.actor, "batch.create", "batch", batch.id, files=len(judged), pages=len(pages),
          refused=sum(1 for j in judged if j.error is not None))
    add_events(session, pages)
    for page in pages:
        dispatch.enqueue_page(page.id, settings=settings, session=session)
    return batch


def create_batch(uploads: Iterable[tuple[str, bytes]], principal: Principal, settings: Settings) -> int:
    """Judge and store every upload, create the batch and its pages, enqueue them after commit.

    `uploads` yields (file name, bytes) and is consumed one file at a time. Raises the first file's
    `InputError` when no file at all could be accepted (nothing is created then), and
    `TooManyFiles` over the per-batch limit.
    """
    storage = get_storage(settings)
    budget = _Budget(settings)
    judged: list[Judged] = []
    for position, (name, data) in enumerate(uploads):
        if position >= settings.max_files_per_batch:
            raise TooManyFiles(f"an upload may hold at most {settings.max_files_per_batch} files; split it")
        j = judge(position, name, data, settings)
        if j.error is None:
            budget.spend(j)
        if j.error is None:
            _, j.storage_key = storage.put_original(data)
        judged.append(j)
    if not judged:
        raise InputError("the upload holds no files", code="invalid_request")
    if all(j.error is not None for j in judged):
        first = judged[0].error
        assert first is not None
        if len(judged) == 1:
            raise type(first)(f"{judged[0].filename}: {first.message}", code=first.code)
        names = "; ".join(f"{j.filename}: {j.error.message}" for j in judged if j.error)
        raise type(first)(f"no file could be accepted — {names}", code=first.code)
    db = get_db(settings)
    for attempt in range(3):  # a concurrent upload of the same bytes: retry and link to it
        try:
            with db.session() as session:
                return _write(session, judged, principal, settings).id
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
