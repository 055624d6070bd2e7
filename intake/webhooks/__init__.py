"""Signed webhooks for downstream systems (Standard Webhooks), sent from an outbox.

- `outbox`: `add_deliveries(session, event, record)` is called by
  `intake.records.events.record_event`, so one delivery row per matching active subscription is
  written in the same transaction as the change itself: a change that is rolled back leaves no
  delivery, and a committed one always has its deliveries. Replays add rows the same way.
- `sender`: `deliver(delivery_id)` makes one attempt (claim, POST, record the attempt), schedules
  the next one with exponential backoff and jitter, and disables a subscription after a documented
  run of failures. Celery runs it as ``intake.deliver_webhook``; on embedded defaults
  `runner.WebhookThread` does, in the API process.
- `service`: subscriptions (admins), replay, the delivery log; `routes`: the API.

Event types: every record event kind ``k`` is sent as ``record.k`` (`EVENT_TYPES`):
``record.created``, ``record.updated`` (assembled again with other content after a page was read
again), ``record.corrected``, ``record.approved``, ``record.rejected``, ``record.reopened`` and
``record.superseded`` (its pages now belong to another record). A subscription chooses among them.
"""

from __future__ import annotations

from intake.db.models import RecordEventKind

EVENT_TYPES: dict[str, str] = {str(k): f"record.{k}" for k in RecordEventKind}
EVENT_TYPE_NAMES: tuple[str, ...] = tuple(EVENT_TYPES.values())
SECRET_PREFIX = "whsec_"
