"""Thin tasks: one id in, a call to `intake.batches.jobs`, nothing else.

Transient errors (database, broker, storage unavailable) are retried automatically with
exponential backoff and jitter, up to ``INTAKE_TASK_RETRY_MAX`` times; when retries run out, the
page is recorded ``failed`` (if the database lets us) and otherwise the sweeper picks it up later.
A soft time limit (``INTAKE_PAGE_TIME_LIMIT_S``) records the page as ``failed`` with code
``timeout``. Every other outcome is
decided and recorded by the service.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from intake.batches import jobs
from intake.config import PAGE_HARD_LIMIT_GRACE_S, get_settings
from intake.dispatch import (
    ASSEMBLE_AFTER_PAGE,
    ASSEMBLE_BATCH,
    DELIVER_WEBHOOK,
    PROCESS_PAGE,
    SWEEP,
    WEBHOOKS_DUE,
    enqueue_assembly,
)
from workers.app import celery_app

log = logging.getLogger(__name__)
_settings = get_settings()
RETRY = {
    "autoretry_for": jobs.TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": _settings.task_retry_max,
}


class PageTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries ran out on a transient error: say so on the page this message's run held, if
        the database answers."""
        try:
            page_id = jobs.fail_held_page(
                task_id, "transient_error",
                "the database or storage was unavailable too long while reading this page; re-run it")
        except Exception as err:  # noqa: BLE001 - the page's lease lapses and the sweeper requeues it
            log.warning("page message %s: could not record the failure (%s)", task_id, type(err).__name__)
        else:
            log.warning("page message %s: retries ran out; page %s failed", task_id, page_id)


# One page's reading is bounded by INTAKE_PAGE_TIME_LIMIT_S (soft: the page ends `timeout`), and
# killed PAGE_HARD_LIMIT_GRACE_S later (the page's lease lapses and it is read again, up to
# INTAKE_MAX_PAGE_ATTEMPTS times). A message reads one page, so the task's limits are the page's.
@celery_app.task(name=PROCESS_PAGE, bind=True, base=PageTask, soft_time_limit=_settings.page_time_limit_s,
                 time_limit=_settings.page_time_limit_s + PAGE_HARD_LIMIT_GRACE_S, **RETRY)
def process_page(self: Task, page_id: int) -> str:
    """A page token: reads the next page in fair order (`page_id` is a hint, see
    `intake.dispatch`), then enqueues the assembly of that page's batch."""
    outcome, _, batch_id = jobs.run_next_page(worker=self.request.hostname, delivery_id=self.request.id,
                                              timeout_errors=(SoftTimeLimitExceeded,))
    if batch_id is not None:
        enqueue_assembly(batch_id)
    return outcome


# no longer sent (a page message enqueues its batch's assembly itself); kept for the chains that
# versions before the page tokens left in a broker
@celery_app.task(name=ASSEMBLE_AFTER_PAGE, **RETRY)
def assemble_after_page(page_id: int) -> dict[str, Any] | None:
    return jobs.run_assembly_for_page(page_id)


@celery_app.task(name=ASSEMBLE_BATCH, **RETRY)
def assemble_batch(batch_id: int) -> dict[str, Any]:
    return jobs.run_assembly(batch_id)


@celery_app.task(name=SWEEP, **RETRY)
def sweep() -> dict[str, int]:
    return jobs.run_sweep()


@celery_app.task(name=DELIVER_WEBHOOK, **RETRY)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt of a webhook delivery; the next one is scheduled by the service, not Celery."""
    from intake.webhooks.sender import deliver

    return deliver(delivery_id)


@celery_app.task(name=WEBHOOKS_DUE, **RETRY)
def webhooks_due() -> int:
    from intake.webhooks.sender import enqueue_due

    return enqueue_due()
