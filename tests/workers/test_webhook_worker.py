"""Webhooks through Celery: the outbox row written with the change is sent by a real worker
(``intake.deliver_webhook`` on its own queue), retried with backoff after failures (the next
attempt scheduled by the service, picked up by the worker's countdown or the beat poller
``intake.webhooks_due``), and verified by the receiver with `standardwebhooks`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.config import Settings
from intake.db.models import WebhookAttempt, WebhookDelivery
from intake.db.session import get_db
from intake.webhooks.service import new_secret
from tests.factories import new_record
from tests.webhooks.receiver import Receiver
from tests.workers.test_workers import shared_redis, start, worker_cmd  # noqa: F401 - the fixture

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_celery_worker_delivers_retries_and_the_receiver_verifies(settings: Settings, shared_redis: str,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    sb = settings.model_copy(update={"broker_url": shared_redis})
    secret = new_secret()
    receiver = Receiver(secrets=[secret], fail_first=2)
    env = {**os.environ, "INTAKE_ENV": "test", "INTAKE_DATA_DIR": str(tmp_path), "INTAKE_BROKER_URL": shared_redis,
           "INTAKE_DATABASE_URL": settings.database_url or "", "INTAKE_STORAGE_DIR": str(settings.storage_dir),
           "INTAKE_WEBHOOK_BACKOFF_S": "0.3", "INTAKE_WEBHOOK_POLL_S": "1", "OMP_THREAD_LIMIT": "1",
           "PYTHONUNBUFFERED": "1"}
    worker = start("worker", worker_cmd(tmp_path, "wh", concurrency=1, beat=True), env, tmp_path)
    try:
        from intake.db.models import WebhookSubscription, utcnow

        with get_db(sb).session() as s:
            s.add(WebhookSubscription(name="celery", url=receiver.url, event_types=["record.created"], statuses=[],
                                      include_data=False, active=True, failure_run=0,
                                      secrets=[{"secret": secret, "created_at": utcnow().isoformat(),
                                                "expires_at": None}]))
        with get_db(sb).session() as s:  # the change and its outbox row; sent by the worker after commit
            rid = new_record(s).id
        got = receiver.wait_for(3, timeout=90)
        assert [g.status for g in got] == [500, 500, 200], worker.tail()
        payload = got[2].verified[secret]
        assert not isinstance(payload, Exception) and payload["data"]["record_id"] == rid
        end = time.monotonic() + 20
        while time.monotonic() < end:
            with get_db(sb).read_session() as s:
                d = s.scalar(select(WebhookDelivery))
                if d is not None and d.status == "succeeded":
                    break
            time.sleep(0.2)
        with get_db(sb).read_session() as s:
            d = s.scalar(select(WebhookDelivery))
            assert d is not None and d.status == "succeeded" and d.attempts == 3, worker.tail()
            outcomes = list(s.scalars(select(WebhookAttempt.outcome).order_by(WebhookAttempt.number)))
        assert outcomes == ["http_500", "http_500", "ok"]
    finally:
        worker.stop()
        receiver.close()
