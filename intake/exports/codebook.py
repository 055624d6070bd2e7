"""The codebook of a template version: every export column with its type, labels in both
languages and allowed codes (see `intake.exports` for the column rules)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from functools import lru_cache
from typing import Any

from intake.forms.model import Field, Template

RECORD_COLUMNS: list[tuple[str, str, str, str]] = [
    ("record_id", "integer", "紀錄編號", "Record id"),
    ("revision", "integer", "版次", "Revision (grows with every change)"),
    ("status", "code", "狀態", "Status"),
    ("read_version", "integer", "表單版本", "Version of the form the record was read from"),
    ("batch_id", "integer", "批次編號", "Batch id"),
    ("created_at", "datetime", "建立時間", "Created at (UTC, ISO 8601)"),
    ("updated_at", "datetime", "更新時間", "Last changed at (UTC, ISO 8601)"),
]
STATUS_CODES = [("accepted", "自動通過", "Accepted straight through"), ("needs_review", "待審核", "Needs review"),
                ("approved", "已核可", "Approved"), ("rejected", "已退回", "Rejected"),
                ("superseded", "已取代", "Superseded")]
BOOL_CODES = [{"code": "1", "zh": "是", "en": "Yes"}, {"code": "0", "zh": "否", "en": "No"}]
TYPES = {"text": "string", "name": "string", "address": "string", "national_id": "string", "date": "date",
         "phone": "string", "number": "number", "checkbox": "boolean", "signature": "boolean", "choice": "code"}


@dataclass
class Column:
    name: str
    type: str  # integer, number, string, date, datetime, boolean, code
    label_zh: str
    label_en: str
    field: str | None = None  # the record field it comes from ("" for record columns)
    codes: list[dict[str, str]] = dc_field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(f: Field) -> tuple[str, str]:
    return f.label.zh or f.label.en or f.name, f.label.en or f.label.zh or f.name


def _field_columns(f: Field, prefix: str = "", label: tuple[str, str] = ("", "")) -> list[Column]:
    zh, en = _label(f)
    zh, en = label[0] + zh, label[1] + en
    name = prefix + f.name
    if f.type == "choice" and f.multiple:
        return [Column(f"{name}__{o.value}", "boolean", f"{zh}：{o.label.zh or o.value}",
                       f"{en}: {o.label.en or o.label.zh or o.value}", f.name, BOOL_CODES) for o in f.options]
    if f.type == "choice":
        return [Column(name, "code", zh, en, f.name,
                       [{"code": o.value, "zh": o.label.zh or "", "en": o.label.en or ""} for o in f.options])]
    if f.type == "table":
        assert f.rows is not None
        out = []
        for r in range(1, f.rows + 1):
            for c in f.columns:
                out += _field_columns(c, f"{name}__{r}__", (f"{zh}第{r}列 ", f"{en} row {r}: "))
        for col in out:
            col.field = f.name
        return out
    codes = BOOL_CODES if f.type in ("checkbox", "signature") else []
    return [Column(name, TYPES[f.type], zh, en, f.name, list(codes))]


def columns(t: Template) -> list[Column]:
    out = [Column(n, ty, zh, en, "", [{"code": c, "zh": z, "en": e} for c, z, e in STATUS_CODES]
                  if n == "status" else []) for n, ty, zh, en in RECORD_COLUMNS]
    for _, f in t.fields():
        out += _field_columns(f)
    for c in t.computed:
        out.append(Column(c.name, "integer", c.label.zh or c.name, c.label.en or c.name, c.name))
    names = [c.name for c in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:  # a field named like a flattened column would make the CSV ambiguous
        raise ValueError(f"{t.key}: export columns would repeat: {', '.join(dupes)}")
    return out


def codebook(t: Template) -> dict[str, Any]:
    return {"template": t.id, "version": t.version, "title": t.title.model_dump(),
            "columns": [c.to_dict() for c in columns(t)]}


def codebook_csv(t: Template) -> str:
    """One row per column; codes as ``code=zh/en`` joined by `` | ``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["column", "type", "label_zh", "label_en", "field", "codes"])
    for c in columns(t):
        w.writerow([c.name, c.type, c.label_zh, c.label_en, c.field or "",
                    " | ".join(f"{k['code']}={k['zh']}/{k['en']}" for k in c.codes)])
    return buf.getvalue()


def flatten(t: Template, data: dict[str, Any]) -> dict[str, Any]:
    """A record's data as export cells (see `intake.exports`): values as text, '' for empty."""
    out: dict[str, Any] = {}
    for f in _top_fields(t):
        _flatten_field(f, data.get(f.name), f.name, out)
    for c in t.computed:
        out[c.name] = _cell(data.get(c.name))
    return out


@lru_cache(maxsize=32)
def _top_fields(t: Template) -> tuple[Field, ...]:
    return tuple(f for _, f in t.fields())


def _flatten_field(f: Field, value: Any, name: str, out: dict[str, Any]) -> None:
    if f.type == "choice" and f.multiple:
        marked = set(value or [])
        for o in f.options:
            out[f"{name}__{o.value}"] = "1" if o.value in marked else "0"
    elif f.type == "table":
        rows = value or []
        assert f.rows is not None
        for r in range(f.rows):
            row = rows[r] if r < len(rows) else {}
            for c in f.columns:
                _flatten_field(c, row.get(c.name), f"{name}__{r + 1}__{c.name}", out)
    elif f.type in ("checkbox", "signature"):
        out[name] = "" if value is None else ("1" if value else "0")
    else:
        out[name] = _cell(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
