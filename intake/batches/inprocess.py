"""Running the jobs in this process, without a broker (the embedded defaults).

- `ThreadDispatcher`: one background thread runs the work in order (`intake serve`), pages in
  fair order (a page job is a token, as with Celery: `run_next_page_job`);
- `InlineDispatcher`: collects the work; the caller runs it with `run_next` (`intake process`).

Webhook deliveries are sent by a thread of their own (`intake.webhooks.runner.WebhookThread`,
which also polls for due retries), started by the `ThreadDispatcher` on first use, so a slow
receiver never holds up the reading of pages; `InlineDispatcher` leaves them in the outbox for
the next ``intake serve`` or worker.

Both run the same job functions as the Celery tasks (`intake.batches.jobs`), looked up in `JOBS`,
the in-process job table (`INLINE_JOBS` for `InlineDispatcher`, whose page job reads the page it
names). The thread also runs the sweeper every `sweep_interval_s`, as beat does for Celery. It lives here, on the jobs' side of the seam: `intake.dispatch` only
hands work to whatever dispatcher the process installed (`install_thread`, or
`dispatch.install`), so the services that enqueue work never import the jobs that call them.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from intake import dispatch
from intake.batches import jobs
from intake.config import Settings

log = logging.getLogger(__name__)


def run_page_job(page_id: int, settings: Settings) -> None:
    """Page `page_id` read, then its batch assembled (`intake process`: in upload order)."""
    jobs.run_page_chain(page_id, settings=settings, worker="in-process")


def run_next_page_job(page_id: int, settings: Settings) -> None:
    """A page token (`page_id` is only a hint): the next page in fair order, then its batch's
    assembly, as a Celery worker does it (`intake serve`)."""
    jobs.run_next_page_then_assembly(settings=settings, worker="in-process")


def run_assembly_job(batch_id: int, settings: Settings) -> None:
    jobs.with_retries(jobs.run_assembly, batch_id, settings=settings)


# kind of work -> what runs it: "page" and "assembly", the two methods of `dispatch.Dispatcher`
# ("page": a token, the next page in fair order; `InlineDispatcher` reads the page it names instead)
JOBS: dict[str, Callable[[int, Settings], None]] = {"page": run_next_page_job, "assembly": run_assembly_job}
INLINE_JOBS: dict[str, Callable[[int, Settings], None]] = {"page": run_page_job, "assembly": run_assembly_job}


def run_job(kind: str, obj_id: int, settings: Settings) -> None:
    JOBS[kind](obj_id, settings)


class ThreadDispatcher:
    """One background thread running jobs in order (embedded `intake serve`). A page job is a
    token, as with Celery: it reads the next page in fair order (`run_next_page_job`), and
    `waiting` counts the tokens not yet taken, for the sweeper."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._webhooks: Any = None
        self._tokens = 0  # page tokens in the queue

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="intake-worker", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        """Jobs in order, and the sweeper every `sweep_interval_s` (as beat runs it for Celery):
        a page left ``processing`` after its job gave up on a transient error, or ``queued``
        with no token, is taken up again while the server runs, not only at its next start."""
        every = self.settings.sweep_interval_s
        last_sweep = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=every)
            except queue.Empty:
                item = ("sweep", 0)
            if item is None:
                return
            if time.monotonic() - last_sweep >= every or item[0] == "sweep":
                last_sweep = time.monotonic()
                try:
                    jobs.run_sweep(settings=self.settings)
                except Exception as exc:  # noqa: BLE001 - the next sweep tries again
                    log.error("in-process sweep failed: %s", type(exc).__name__)
                if item[0] == "sweep":
                    continue
            if item[0] == "page":
                with self._lock:
                    self._tokens -= 1
            try:
                run_job(item[0], item[1], self.settings)
            except Exception as exc:  # noqa: BLE001 - keep the worker thread alive; sweeper retries
                log.error("in-process job %s %s failed: %s", item[0], item[1], type(exc).__name__)
            finally:
                self._queue.task_done()

    def page(self, page_id: int) -> None:
        self._ensure_started()
        with self._lock:
            self._tokens += 1
        self._queue.put(("page", page_id))

    def waiting(self) -> int:
        with self._lock:
            return self._tokens

    def assembly(self, batch_id: int) -> None:
        self._ensure_started()
        self._queue.put(("assembly", batch_id))

    def webhooks(self) -> Any:
        """The thread that sends webhooks and polls for due retries (started on first use)."""
        from intake.webhooks.runner import WebhookThread

        with self._lock:
            if self._webhooks is None:
                self._webhooks = WebhookThread(self.settings)
            return self._webhooks

    def webhook(self, delivery_id: int, delay_s: float = 0.0) -> None:
        self.webhooks().put(delivery_id, delay_s)

    def stop(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            webhooks, self._webhooks = self._webhooks, None
        if webhooks is not None:
            webhooks.stop(timeout)
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)


class InlineDispatcher:
    """Collects work; the caller runs it with `run_next` (used by `intake process`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: collections.deque[tuple[str, int]] = collections.deque()

    def page(self, page_id: int) -> None:
        self.pending.append(("page", page_id))

    def assembly(self, batch_id: int) -> None:
        self.pending.append(("assembly", batch_id))

    def webhook(self, delivery_id: int, delay_s: float = 0.0) -> None:
        """Left in the outbox: the next `intake serve` or worker sends it (it polls for due ones)."""

    def run_next(self) -> tuple[str, int] | None:
        if not self.pending:
            return None
        item = self.pending.popleft()
        INLINE_JOBS[item[0]](item[1], self.settings)
        return item


def install_thread(settings: Settings) -> dispatch.Dispatcher:
    """Without a broker: the dispatcher installed for these settings, or a new `ThreadDispatcher`
    installed now. With a broker there is nothing to install (Celery workers run the work)."""
    if settings.broker_url:
        return dispatch.dispatcher_for(settings)
    current = dispatch.installed(settings)
    if current is None:
        current = ThreadDispatcher(settings)
        dispatch.install(settings, current)
    return current


def stop(settings: Settings) -> None:
    """Stop and uninstall the in-process dispatcher of these settings, if there is one."""
    d = dispatch.installed(settings)
    if isinstance(d, ThreadDispatcher):
        d.stop()
    if isinstance(d, ThreadDispatcher | InlineDispatcher):
        dispatch.install(settings, None)
