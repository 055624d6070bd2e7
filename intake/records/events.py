"""Record events: one row per change to a record, in the transaction that made the change.

`record_event(session, record, kind, actor, **detail)` is called by every code path that gives a
record a new revision (assembly: created, updated, superseded; the review station: corrected,
approved, rejected, reopened), after the record's new revision and status are set. The rows are
the record's revision history (``GET /records/{id}/history``) and the outbox from which changes
are delivered downstream: because they are written in the same transaction as the change, a
change that is rolled back leaves no event, and a committed change always has one.

`detail` holds ids, codes, counts and field paths only, never field values (like the audit log).

It also writes the webhook outbox (`intake.webhooks.outbox.add_deliveries`): one delivery per
matching active subscription, in this same transaction, sent after it commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.auth.audit import check_detail
from intake.db.models import Record, RecordEvent, RecordEventKind, utcnow
from intake.webhooks.outbox import add_deliveries


def record_event(session: Session, record: Record, kind: RecordEventKind, actor: str, **detail: Any) -> RecordEvent:
    """Add the event for a change just made to `record` (its revision and status already set)."""
    ev = RecordEvent(record_id=record.id, revision=record.revision, kind=str(kind), status=str(record.status),
                     actor=actor, at=utcnow(), detail=check_detail(detail))
    session.add(ev)
    add_deliveries(session, ev, record)
    return ev
