"""The one seam between the domain and the work queue: `enqueue_page`, `enqueue_assembly`,
`enqueue_webhook`.

Work is named by task name and carries one id (JSON). Where it runs depends on the settings:

- ``INTAKE_BROKER_URL`` set: `CeleryDispatcher` sends one ``intake.process_page`` message per
  page (a token, below; ``intake.assemble_after_page`` is still run for messages sent by older
  versions) by name, so `intake` never imports `workers`; `celery_config` is the single source of the Celery settings both use.
- no broker (embedded defaults): the work runs in this process, through a dispatcher that the
  process installed (`install`): `intake serve` runs pages on a background thread,
  `intake process` drains the work itself, synchronously. Those dispatchers and the table of
  jobs they run belong to the jobs' side (`intake.batches.inprocess`): this module knows no job,
  so the services that enqueue work and the jobs that call the services never import each
  other in a circle.

Webhook deliveries (``intake.deliver_webhook``, `intake.webhooks.sender.deliver`) go to their own
queue in Celery, and on embedded defaults to a thread of their own (`intake.webhooks.runner`), so a
slow receiver never holds up the reading of pages; `InlineDispatcher` leaves them in the outbox
for the next ``intake serve`` or worker (the due-delivery poller sends them).

A page message is a *token*: the worker that takes one reads the next page in fair order from
the database (`intake.batches.processing.process_next`), not necessarily the page it names, and
then enqueues the assembly of that page's batch. So the broker's queue is first-in-first-out
while pages are read round-robin across users and batches, and a lost message is replaced by
any new one: the sweeper compares the pages ``queued`` in the database with the tokens waiting
(`waiting`) and sends the difference.

Given a ``session``, the enqueue functions defer sending until that session's transaction has
committed (and drop it on rollback), so a worker never looks for a row that is not there yet.
A failed send is logged (ids only) and not raised: the page stays ``queued`` in the database and
the sweeper re-enqueues it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from intake.config import Settings, get_settings
from intake.errors import ConfigError

log = logging.getLogger(__name__)

PROCESS_PAGE = "intake.process_page"
ASSEMBLE_AFTER_PAGE = "intake.assemble_after_page"
ASSEMBLE_BATCH = "intake.assemble_batch"
SWEEP = "intake.sweep"
DELIVER_WEBHOOK = "intake.deliver_webhook"
WEBHOOKS_DUE = "intake.webhooks_due"
QUEUE = "intake"  # pages: seconds each
QUICK_QUEUE = "intake.quick"  # assembly and the sweeper: milliseconds each, taken first
WEBHOOK_QUEUE = "intake.webhooks"  # one HTTP request each (at most INTAKE_WEBHOOK_TIMEOUT_S)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for producers (the API) and workers alike.

    Two queues, consumed in strict order (``queue_order_strategy: priority``): assembly and the
    sweeper go to `QUICK_QUEUE` so that a record appears as soon as its pages are read instead of
    waiting behind every page queued after them."""
    from kombu import Queue

    hard = settings.task_time_limit_s
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout_s,
                                     "queue_order_strategy": "priority"},
        "task_queues": [Queue(QUICK_QUEUE, routing_key=QUICK_QUEUE), Queue(WEBHOOK_QUEUE, routing_key=WEBHOOK_QUEUE),
                        Queue(QUEUE, routing_key=QUEUE)],
        "task_routes": {name: {"queue": QUICK_QUEUE, "routing_key": QUICK_QUEUE}
                        for name in (ASSEMBLE_AFTER_PAGE, ASSEMBLE_BATCH, SWEEP, WEBHOOKS_DUE)}
        | {DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE, "routing_key": WEBHOOK_QUEUE}},
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": hard,
        "task_soft_time_limit": max(1, hard - max(2, hard // 10)),
        "task_default_queue": QUEUE,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


class Dispatcher(Protocol):
    """Where work goes. Both methods return once the work is handed over (not done); a failure
    to hand it over raises, and `enqueue_page`/`enqueue_assembly` log it (the sweeper retries)."""

    def page(self, page_id: int) -> None: ...

    def assembly(self, batch_id: int) -> None: ...

    def webhook(self, delivery_id: int, delay_s: float = 0.0) -> None: ...

    # Optional: `waiting()`, how many page messages wait to be taken (each will read one queued
    # page, whichever is next), or None when unknown; a dispatcher whose page messages read the
    # page they name (`InlineDispatcher`) has none.


class CeleryDispatcher:
    """Sends work to Celery workers through the broker, by task name."""

    def __init__(self, settings: Settings) -> None:
        from celery import Celery

        self.app = Celery("intake-producer", set_as_current=False)
        self.app.conf.update(celery_config(settings))

    def page(self, page_id: int) -> None:
        """A token: the task reads the next page in fair order, then enqueues its assembly."""
        self.app.send_task(PROCESS_PAGE, args=[page_id])

    def waiting(self) -> int:
        """Page messages in the broker's page queue, not yet taken by a worker (a non-passive
        declare: passive fails on an empty Redis queue, and declaring an existing queue is a
        no-op)."""
        with self.app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(queue=QUEUE).message_count)

    def assembly(self, batch_id: int) -> None:
        self.app.send_task(ASSEMBLE_BATCH, args=[batch_id])

    def webhook(self, delivery_id: int, delay_s: float = 0.0) -> None:
        self.app.send_task(DELIVER_WEBHOOK, args=[delivery_id], countdown=delay_s or None)


_dispatchers: dict[str, Dispatcher] = {}
_lock = threading.Lock()


def _key(settings: Settings) -> str:
    return settings.broker_url or f"local:{settings.database_url}"


def install(settings: Settings, dispatcher: Dispatcher | None) -> None:
    """Use `dispatcher` for these settings (None: back to the default)."""
    with _lock:
        if dispatcher is None:
            _dispatchers.pop(_key(settings), None)
        else:
            _dispatchers[_key(settings)] = dispatcher


def installed(settings: Settings) -> Dispatcher | None:
    """The dispatcher installed or made for these settings, if any."""
    with _lock:
        return _dispatchers.get(_key(settings))


def dispatcher_for(settings: Settings | None = None) -> Dispatcher:
    """The installed dispatcher; with a broker and none installed, a `CeleryDispatcher`. Without a
    broker the process that runs the work must have installed one (`intake serve` and `intake
    process` do): a `ConfigError` otherwise, rather than work that silently goes nowhere."""
    s = settings or get_settings()
    with _lock:
        d = _dispatchers.get(_key(s))
        if d is None:
            if not s.broker_url:
                raise ConfigError("work cannot be queued: INTAKE_BROKER_URL is not set and this process runs no "
                                  "in-process worker (start `intake serve`, or use `intake process`)")
            d = _dispatchers[_key(s)] = CeleryDispatcher(s)
        return d


def waiting(settings: Settings | None = None) -> int | None:
    """Page messages waiting to be taken (`Dispatcher`'s optional `waiting`), None if unknown."""
    d = dispatcher_for(settings)
    count = getattr(d, "waiting", None)
    return None if count is None else count()


_AFTER_COMMIT = "intake_after_commit"


def _send(fn: Callable[[], None], what: str) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the row is committed; the sweeper re-enqueues it
        log.warning("could not enqueue %s (%s); the sweeper will retry", what, type(exc).__name__)


def _enqueue(fn: Callable[[], None], what: str, session: Session | None) -> None:
    if session is None:
        _send(fn, what)
    else:
        session.info.setdefault(_AFTER_COMMIT, []).append((fn, what))


def enqueue_page(page_id: int, *, settings: Settings | None = None, session: Session | None = None) -> None:
    """Process page `page_id` (then assemble its batch) after `session` commits."""
    d = dispatcher_for(settings)
    _enqueue(lambda: d.page(page_id), f"page {page_id}", session)


def enqueue_assembly(batch_id: int, *, settings: Settings | None = None, session: Session | None = None) -> None:
    """Assemble batch `batch_id`'s read pages into records after `session` commits."""
    d = dispatcher_for(settings)
    _enqueue(lambda: d.assembly(batch_id), f"assembly of batch {batch_id}", session)


def enqueue_webhook(delivery_id: int, *, settings: Settings | None = None, session: Session | None = None,
                    delay_s: float = 0.0) -> None:
    """Attempt webhook delivery `delivery_id` (after `delay_s`) once `session` commits."""
    d = dispatcher_for(settings)
    _enqueue(lambda: d.webhook(delivery_id, delay_s), f"webhook delivery {delivery_id}", session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for fn, what in session.info.pop(_AFTER_COMMIT, []):
        _send(fn, what)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
