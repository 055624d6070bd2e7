"""The Celery app, configured from `intake.config.Settings` through `intake.dispatch.celery_config`
(the one place both producers and workers take their Celery settings from):

JSON messages carrying ids only; ``task_acks_late`` with ``task_reject_on_worker_lost`` (a task
whose worker process dies is delivered again, and the tasks are idempotent); hard and soft time
limits from ``INTAKE_TASK_TIME_LIMIT_S``; the Redis ``visibility_timeout`` from
``INTAKE_VISIBILITY_TIMEOUT_S`` (the settings refuse one not longer than the time limit, or Redis
would hand a running task to a second worker); prefetch of one task per process; and a beat
schedule running the sweeper every ``INTAKE_SWEEP_INTERVAL_S`` and the due-webhook poller every
``INTAKE_WEBHOOK_POLL_S`` (run it once: ``python -m workers beat``, or ``python -m workers worker
--beat`` on one worker). On a Redis broker the worker consumes through `workers.broker`'s
transport (kombu's, with the fault that stopped a worker after a Redis restart fixed).
"""

from __future__ import annotations

from celery import Celery
from celery.signals import after_setup_logger, worker_process_init

from intake.config import get_settings, limit_ocr_threads
from intake.dispatch import SWEEP, WEBHOOKS_DUE, celery_config
from workers import broker


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("intake", include=["workers.tasks"])
    app.conf.update(celery_config(settings))
    if (settings.broker_url or "").split("://", 1)[0] in ("redis", "rediss"):
        app.conf.broker_transport = broker.NAME  # kombu's, surviving a Redis restart (workers.broker)
    app.conf.beat_schedule = {
        "sweep-stuck-work": {"task": SWEEP, "schedule": float(settings.sweep_interval_s),
                             "options": {"expires": float(settings.sweep_interval_s)}},
        "send-due-webhooks": {"task": WEBHOOKS_DUE, "schedule": float(settings.webhook_poll_s),
                              "options": {"expires": float(settings.webhook_poll_s)}},
    }
    return app


@after_setup_logger.connect
def _quiet_libraries(**_: object) -> None:
    """Celery set the root logger's level (--loglevel): libraries that would log data (SQLAlchemy's
    result rows at DEBUG, ...) stay at WARNING (`intake.logs`)."""
    from intake import logs

    logs.quiet()


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    """In each pool process: drop database connections inherited from the parent (never share
    a connection across processes), use one OpenCV thread (parallelism comes from the processes;
    more threads only fight over the cores), load the templates and start Tesseract and both
    PP-OCR recognisers (so the first page does not wait for them)."""
    import cv2

    from intake.batches.processing import registry_for
    from intake.db import session
    from intake.pipeline.engines.ppocr import default_ppocr
    from intake.pipeline.engines.tesseract import default_engine

    for db in list(session._dbs.values()):
        db.engine.dispose(close=False)
    cv2.setNumThreads(1)

    registry_for(get_settings())
    default_engine()
    default_ppocr("tiny")
    default_ppocr("small")


limit_ocr_threads()
celery_app = make_celery()
