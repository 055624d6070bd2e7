"""JSON Schema (draft 2020-12) of a record's `data` for one template version.

Every field of the template is a key of the record's data (``null`` when nothing was written), so
a consumer can rely on the keys; required fields are never ``null`` in an accepted record. Table
fields are arrays of row objects (rows left blank on paper are left out).
"""

from __future__ import annotations

from typing import Any

from intake.forms.model import Field, Template

NATIONAL_ID_PATTERN = r"^[A-Z][1289A-D][0-9]{8}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
PHONE_PATTERN = r"^0[0-9]{8,9}$"


def _nullable(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    if required:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def field_schema(f: Field) -> dict[str, Any]:
    title = f.label.text(" / ")
    t = f.type
    s: dict[str, Any]
    if t in ("text", "name", "address"):
        s = {"type": "string", "minLength": 1}
        if f.max_length:
            s["maxLength"] = f.max_length
    elif t == "national_id":
        s = {"type": "string", "pattern": NATIONAL_ID_PATTERN, "description": "Taiwan national ID or resident certificate number, checksum verified"}
    elif t == "date":
        s = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
    elif t == "phone":
        s = {"type": "string", "pattern": PHONE_PATTERN, "description": "Taiwan phone number, digits only"}
    elif t == "number":
        s = {"type": "number"}
    elif t in ("checkbox", "signature"):
        return {"type": "boolean", "title": title}
    elif t == "choice":
        values = [o.value for o in f.options]
        if f.multiple:
            s = {"type": "array", "items": {"enum": values}, "uniqueItems": True, "maxItems": len(values)}
            if f.required:
                s["minItems"] = 1
            s["title"] = title
            return s  # an unmarked multiple choice is []
        s = {"enum": values}
    elif t == "table":
        assert f.rows is not None
        row = {
            "type": "object",
            "properties": {c.name: field_schema(c) for c in f.columns},
            "required": [c.name for c in f.columns],
            "additionalProperties": False,
        }
        s = {"type": "array", "items": row, "maxItems": f.rows, "title": title}
        if f.required:
            s["minItems"] = 1
        return s
    else:  # pragma: no cover - the model's Literal makes this unreachable
        raise ValueError(t)
    s["title"] = title
    return _nullable(s, f.required)


def record_schema(t: Template) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for _, f in t.fields():
        props[f.name] = field_schema(f)
    for c in t.computed:
        props[c.name] = {
            "type": "integer",
            "minimum": 0,
            "maximum": len(c.count),
            "title": c.label.text(" / "),
            "description": f"computed: number of {', '.join(c.count)} equal to {c.equals!r}",
            "readOnly": True,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:form-intake:template:{t.id}:v{t.version}",
        "title": t.title.text(" / "),
        "description": f"Data of a record read from form {t.id} version {t.version}.",
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
