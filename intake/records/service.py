"""Reading records, and the change feed.

The feed (``GET /records?after=CURSOR``) lists records with ``revision > after`` in revision order.
Its promise — a client that stores ``next`` and asks again misses nothing — holds only if no
record can become visible with a revision *smaller* than one a client has already seen. That is
why revisions come from `intake.db.session.next_values` (a counter row updated, and so locked,
inside the transaction that writes the record) rather than from an autoincrement column or a
sequence: a sequence hands out numbers when rows are *inserted*, not when they are *committed*.
With a sequence, transaction A takes revision 41, transaction B takes 42 and commits first; a
client reads the feed, sees 42 and stores it as its cursor; then A commits 41 — behind the cursor,
so the client never sees it. With the locked counter, B cannot take a revision until A has
committed, so commit order is revision order and a cursor never jumps over an uncommitted record.

The cursor is opaque (``base64url("r:<revision>")``) so its form can change later.
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.db.models import BatchFile, FormInstance, Page, Record, RecordField
from intake.errors import InvalidRequest, NotFound
from intake.forms.registry import Registry
from intake.forms.revisions import convert, field_names
from intake.records.schemas import (
    ConversionNote,
    Correction,
    FieldOut,
    Provenance,
    RecordItem,
    RecordOut,
    RecordPage,
)

API = "/api/v1"


def encode_cursor(revision: int) -> str:
    return base64.urlsafe_b64encode(f"r:{revision}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "r" or not value.isdigit():
            raise ValueError
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("the cursor is not one this server gave out; start again without 'after'") from None


def feed(session: Session, after: str | None, limit: int, status: str | None = None,
         template: str | None = None) -> tuple[list[Record], str]:
    """Records changed after the cursor, oldest change first, and the cursor to ask with next.

    With a filter, ``next`` still moves past the records returned only; with no items it is the
    cursor given, so the client simply asks again later."""
    since = decode_cursor(after)
    q = select(Record).where(Record.revision > since).order_by(Record.revision).limit(limit)
    if status:
        q = q.where(Record.status == status)
    if template:
        q = q.where(Record.template_id == template)
    items = list(session.scalars(q))
    return items, encode_cursor(items[-1].revision if items else since)


def item_out(r: Record, as_version: int | None = None, registry: Registry | None = None) -> RecordItem:
    """A record as the feed gives it; with `as_version`, its data in that version's shape
    (`intake.forms.revisions.convert`), so a consumer written for that version keeps working."""
    data, version, notes = r.data, r.template_version, None
    if as_version is not None and as_version != r.template_version:
        assert registry is not None
        data, raw = convert(registry, r.template_id, r.data, r.template_version, as_version)
        version, notes = as_version, [ConversionNote(**n) for n in raw]
    elif as_version is not None:
        notes = []
    return RecordItem(id=r.id, revision=r.revision, status=r.status, template=r.template_id,
                      template_version=version, read_version=r.template_version, conversion=notes,
                      batch_id=r.batch_id, created_at=r.created_at, updated_at=r.updated_at, data=data,
                      errors=r.errors, url=f"{API}/records/{r.id}")


def get_record(session: Session, record_id: int) -> Record:
    rec = session.get(Record, record_id)
    if rec is None:
        raise NotFound(f"there is no record {record_id}")
    return rec


def record_out(session: Session, rec: Record, as_version: int | None = None,
               registry: Registry | None = None) -> RecordOut:
    fields = list(session.scalars(select(RecordField).where(RecordField.record_id == rec.id).order_by(RecordField.id)))
    page_ids = {f.page_id for f in fields if f.page_id is not None}
    inst = session.get(FormInstance, rec.instance_id)
    page_ids |= set(inst.page_ids if inst else [])
    pages = {p.id: p for p in session.scalars(select(Page).where(Page.id.in_(page_ids)))} if page_ids else {}
    files = {f.id: f for f in session.scalars(select(BatchFile).where(
        BatchFile.id.in_({p.file_id for p in pages.values()})))} if pages else {}
    out_pages = [RecordPage(page_id=p.id, batch_id=p.batch_id, file=files[p.file_id].filename, index=p.index,
                            template_page=p.template_page)
                 for pid in (inst.page_ids if inst else []) if (p := pages.get(pid)) is not None]
    item = item_out(rec, as_version, registry)
    names: dict[str, str | None] = {}
    if item.template_version != rec.template_version:
        assert registry is not None
        names = field_names(registry, rec.template_id, rec.template_version, item.template_version)
    out_fields = {}
    for f in fields:
        top, sep, rest = f.path.partition("[")
        path, value = f.path, f.value
        if names:
            if names.get(top) is None:
                continue  # a field the asked version does not have
            path = names[top] + sep + rest
            if not sep:
                value = item.data.get(path)
        crop = f"{API}/records/{rec.id}/fields/{f.path}/crop" if f.crop_key else None
        correction = (Correction(original_value=f.original_value, corrected_by=f.corrected_by_id,
                                 corrected_at=f.corrected_at) if f.corrected_at else None)
        out_fields[path] = FieldOut(
            value=value, type=f.type, status=f.status, errors=f.errors, correction=correction,
            provenance=Provenance(page_id=f.page_id, template_page=f.template_page + 1, box=f.box,
                                  confidence=round(f.confidence, 4), engine=f.engine, text=f.text, crop_url=crop))
    return RecordOut(**item.model_dump(), pages=out_pages, fields=out_fields)


def field_crop_key(session: Session, record_id: int, path: str) -> str:
    get_record(session, record_id)
    f = session.scalar(select(RecordField).where(RecordField.record_id == record_id, RecordField.path == path))
    if f is None or not f.crop_key:
        raise NotFound(f"record {record_id} has no crop for field {path!r}")
    return f.crop_key
