"""Records written the way the services write them (assembly, the review station): the record
with a revision from the locked counter and its `record_event` in the same transaction. For tests
of what happens downstream of a change (webhooks, families, exports, statistics)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.db.models import Batch, FormInstance, Record, RecordEventKind, utcnow
from intake.db.session import next_values
from intake.records.events import record_event


def new_record(s: Session, template: str = "vulnerable_family", version: int = 1, status: str = "accepted",
               data: dict[str, Any] | None = None, event: bool = True) -> Record:
    """A new record (one batch, one form instance) and its ``created`` event."""
    batch = Batch(status="done")
    s.add(batch)
    s.flush()
    inst = FormInstance(key=f"{batch.id}:1", batch_id=batch.id, template_id=template, template_version=version,
                        status=status)
    s.add(inst)
    s.flush()
    now = utcnow()
    rec = Record(instance_id=inst.id, batch_id=batch.id, template_id=template, template_version=version,
                 status=status, data=data or {}, errors=[], revision=next_values(s, "revision")[0],
                 content_hash="x" * 64, created_at=now, updated_at=now)
    s.add(rec)
    s.flush()
    if event:
        record_event(s, rec, RecordEventKind.CREATED, "system")
    return rec


def change(s: Session, record_id: int, kind: RecordEventKind, status: str, actor: str = "user:2",
           data: dict[str, Any] | None = None) -> Record:
    """What the review service does for a correction, an approval, a rejection or a reopening."""
    rec = s.get(Record, record_id)
    assert rec is not None
    rec.status = status
    if data is not None:
        rec.data = data
    rec.revision, rec.updated_at = next_values(s, "revision")[0], utcnow()
    record_event(s, rec, kind, actor)
    return rec
