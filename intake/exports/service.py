"""Streaming exports: a generator of text chunks over a query read `CHUNK` rows at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import select

from intake.config import Settings
from intake.db.models import Record
from intake.db.session import get_db
from intake.exports.codebook import columns, flatten
from intake.forms.registry import Registry
from intake.forms.revisions import convert
from intake.records.service import API, decode_cursor

CHUNK = 1000
Format = Literal["csv", "jsonl"]
_COLS = (Record.id, Record.revision, Record.status, Record.template_id, Record.template_version, Record.batch_id,
         Record.created_at, Record.updated_at, Record.data)


def export_lines(settings: Settings, registry: Registry, template_id: str, version: int, fmt: Format,
                 status: str | None = None, after: str | None = None, all_versions: bool = False) -> Iterator[str]:
    """The export, as text chunks (a header line first for CSV), oldest change first.

    Filters as the feed's: `status`, and `after` (a feed cursor: only records changed since).
    Records of `version`, or with `all_versions` every version converted to `version`'s shape.
    Reads plain rows (no ORM objects, nothing kept in a session) `CHUNK` at a time."""
    t = registry.get(template_id, version)
    since = decode_cursor(after)
    cols = [c.name for c in columns(t)]
    q = select(*_COLS).where(Record.template_id == template_id, Record.revision > since).order_by(Record.revision)
    if not all_versions:
        q = q.where(Record.template_version == version)
    if status:
        q = q.where(Record.status == status)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\r\n", extrasaction="raise")
    if fmt == "csv":
        writer.writeheader()
        yield "\ufeff" + _take(buf)  # a BOM, so spreadsheet programs read the Chinese as UTF-8
    with get_db(settings).read_session() as s:
        result = s.execute(q.execution_options(yield_per=CHUNK))
        for part in result.partitions():
            for row in part:
                data = row.data
                if row.template_version != version:
                    data, _ = convert(registry, template_id, data, row.template_version, version)
                if fmt == "csv":
                    writer.writerow(_record_cells(row) | flatten(t, data))
                else:
                    buf.write(json.dumps(_json_item(row, data, version), ensure_ascii=False, default=str))
                    buf.write("\n")
            yield _take(buf)


def _take(buf: io.StringIO) -> str:
    out = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return out


def _record_cells(row: Any) -> dict[str, Any]:
    return {"record_id": row.id, "revision": row.revision, "status": row.status, "read_version": row.template_version,
            "batch_id": row.batch_id, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat()}


def _json_item(row: Any, data: dict[str, Any], version: int) -> dict[str, Any]:
    return {"id": row.id, "revision": row.revision, "status": row.status, "template": row.template_id,
            "template_version": version, "read_version": row.template_version, "batch_id": row.batch_id,
            "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(), "data": data,
            "url": f"{API}/records/{row.id}"}
