"""Progress as typed records: page events as work happens, and a batch's {done, total, eta}.

Every change of a page's state is written as a `PageEvent` in the same transaction as the change.
Its `seq` comes from the commit-ordered ``event`` counter, so a client that has seen event ``n``
(Server-Sent Events ``Last-Event-ID``) resumes with ``seq > n`` and misses nothing.

The ETA is honest: ``None`` until at least one page of *this* batch has been processed; then it is
the remaining pages divided by the rate observed in this batch (pages finished per second since
its first page started), which already accounts for how many workers there are and for other
batches sharing them. A batch with nothing left has ``eta_seconds == 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.db.models import FINAL_PAGE_STATES, Batch, Page, PageEvent, PageState, utcnow
from intake.db.session import next_values


def add_events(session: Session, pages: Sequence[Page], *, worker: str | None = None) -> None:
    """Record the current state of `pages` as events. Call last in the transaction (it locks the
    event counter until commit)."""
    if not pages:
        return
    session.flush()
    for page, seq in zip(pages, next_values(session, "event", len(pages)), strict=True):
        session.add(PageEvent(
            seq=seq, batch_id=page.batch_id, page_id=page.id, status=page.status, stage=page.stage,
            attempt=page.attempts, error_code=page.error_code, message=page.error_message, worker=worker,
        ))


@dataclass
class Progress:
    done: int
    total: int
    eta_seconds: float | None
    counts: dict[str, int] = field(default_factory=dict)
    rate_per_minute: float | None = None

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def batch_progress(session: Session, batch: Batch, now: datetime | None = None) -> Progress:
    rows = session.execute(
        select(Page.status, func.count(), func.count(Page.finished_at))
        .where(Page.batch_id == batch.id).group_by(Page.status)
    ).all()
    started = batch.started_at or session.scalar(select(func.min(Page.started_at)).where(Page.batch_id == batch.id))
    counts = {status: n for status, n, _ in rows}
    total = sum(counts.values())
    done = sum(n for status, n in counts.items() if status in FINAL_PAGE_STATES)
    processed = sum(fin for status, _, fin in rows if status in FINAL_PAGE_STATES and status != PageState.CANCELLED)
    if not processed or started is None:
        return Progress(done, total, 0.0 if done >= total else None, counts)
    end = batch.finished_at if batch.finished_at and done >= total else (now or utcnow())
    rate = processed / max((end - started).total_seconds(), 1e-3)
    eta = 0.0 if done >= total else round((total - done) / rate, 1)
    return Progress(done, total, eta, counts, round(rate * 60, 2))
