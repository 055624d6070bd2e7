"""The outbox: delivery rows written in the transaction of the record change they announce.

`add_deliveries` runs inside `intake.records.events.record_event`; it adds one `WebhookDelivery`
per active subscription whose template, statuses and event types match, and asks the dispatch
seam to send each after the transaction commits (`intake.dispatch.enqueue_webhook`: dropped on
rollback, together with the rows). If that message is lost, the due-delivery poller finds the
row (`sender.enqueue_due`), so a committed delivery is always attempted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import dispatch
from intake.db.models import (
    DeliveryState,
    Record,
    RecordEvent,
    WebhookDelivery,
    WebhookSubscription,
    utcnow,
)
from intake.db.session import session_settings
from intake.webhooks import EVENT_TYPES


def msg_id(subscription_id: int, event_id: int) -> str:
    """The ``webhook-id``: one per event and subscription, the same on every retry and replay."""
    return f"msg_{subscription_id}_{event_id}"


def matches(sub: WebhookSubscription, event_type: str, template_id: str, status: str) -> bool:
    return (event_type in (sub.event_types or [])
            and (sub.template_id is None or sub.template_id == template_id)
            and (not sub.statuses or status in sub.statuses))


def _new(session: Session, sub: WebhookSubscription, ev: RecordEvent, event_type: str, now: datetime,
         replay_of: int | None = None) -> WebhookDelivery:
    d = WebhookDelivery(subscription_id=sub.id, event_id=ev.id, record_id=ev.record_id, event_type=event_type,
                        msg_id=msg_id(sub.id, ev.id), status=DeliveryState.PENDING, attempts=0,
                        next_attempt_at=now, created_at=now, replay_of_id=replay_of)
    session.add(d)
    return d


def _send_after_commit(session: Session, deliveries: Iterable[WebhookDelivery]) -> None:
    settings = session_settings(session)
    for d in deliveries:
        dispatch.enqueue_webhook(d.id, settings=settings, session=session)


def add_deliveries(session: Session, ev: RecordEvent, record: Record) -> list[WebhookDelivery]:
    """One delivery per active subscription that wants this event (see module docstring)."""
    event_type = EVENT_TYPES[ev.kind]
    subs = [s for s in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
            if matches(s, event_type, record.template_id, ev.status)]
    if not subs:
        return []
    if ev.id is None:
        session.flush()
    now = utcnow()
    out = [_new(session, sub, ev, event_type, now) for sub in subs]
    session.flush()
    _send_after_commit(session, out)
    return out


def replay_delivery(session: Session, original: WebhookDelivery, sub: WebhookSubscription) -> WebhookDelivery:
    """A new delivery of the same message (same ``webhook-id``) to the same subscription."""
    ev = session.get(RecordEvent, original.event_id)
    assert ev is not None  # a delivery's event is deleted only with it (cascade)
    d = _new(session, sub, ev, original.event_type, utcnow(), replay_of=original.id)
    session.flush()
    _send_after_commit(session, [d])
    return d


def replay_since(session: Session, sub: WebhookSubscription, since: datetime, limit: int) -> int:
    """New deliveries of every event at or after `since` that the subscription wants now (also
    events from while it was disabled or did not exist yet), oldest first; at most `limit`."""
    rows = session.execute(
        select(RecordEvent, Record.template_id).join(Record, Record.id == RecordEvent.record_id)
        .where(RecordEvent.at >= since).order_by(RecordEvent.id)).all()
    now = utcnow()
    out = []
    for ev, template_id in rows:
        event_type = EVENT_TYPES[ev.kind]
        if matches(sub, event_type, template_id, ev.status):
            out.append(_new(session, sub, ev, event_type, now))
            if len(out) >= limit:
                break
    session.flush()
    _send_after_commit(session, out)
    return len(out)
