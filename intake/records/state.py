"""A record's state derived from its fields: data, record-level errors, each field's status and
errors, the reasons it needs a person, and whether it is urgent.

Assembly (a page read, or read again) and the review station (a value confirmed or corrected)
both change fields and then call `refresh`, so one piece of code decides everywhere:

- the data is rebuilt from the fields' values with the pipeline's own `check_record` (tables keep
  only their rows with something written; computed values recomputed), never patched by index;
- the record-level checks (required fields, "other" text, cross-field rules) run on that data,
  and their codes go on the fields concerned *by printed row*; a correction can fix a rule or
  break one, on the field corrected or on another one;
- a field a person confirmed or corrected (``corrected_at`` set) is ``verified`` unless a
  record-level check now fails on it; any other field has the machine's own status and errors
  (kept in ``reading``, as read before the record checks) plus the checks' codes;
- in a spot-check record (a straight-through record sampled into the queue) every field the
  machine accepted is shown for checking like any other, with the reason `VERIFY`.

`refresh` sets no record status: callers decide that (assembly: accepted or needs_review;
review: stays needs_review until approved). It returns whether nothing is left to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from intake.db.models import FieldState, Record, RecordField
from intake.forms.model import Template
from intake.forms.rules import is_urgent
from intake.pipeline.extract import RECORD_CHECK_CODES, check_record
from intake.pipeline.types import jsonable

VERIFY = "verify"  # "compare it with the form": a field to check with no other reason (spot checks)


def machine_state(f: RecordField) -> tuple[str, list[str]]:
    """The machine's own status and errors for a field, before any record-level check."""
    reading = f.reading or {}
    status = reading.get("status") or (f.status if f.status != FieldState.VERIFIED else FieldState.NEEDS_REVIEW)
    errors = reading.get("errors")
    if errors is None:
        errors = [e for e in f.errors if not e.startswith(RECORD_CHECK_CODES) and e != VERIFY]
    return str(status), list(errors)


def field_state(f: RecordField, codes: list[str], spot_check: bool) -> tuple[str, list[str]]:
    """(status, errors) of a field given the record-level check codes that concern it now."""
    if f.corrected_at is not None:
        return (FieldState.NEEDS_REVIEW, list(codes)) if codes else (FieldState.VERIFIED, [])
    status, errors = machine_state(f)
    errors += [c for c in codes if c not in errors]
    if status == FieldState.ACCEPTED and not codes:
        return (FieldState.NEEDS_REVIEW, [VERIFY]) if spot_check else (FieldState.ACCEPTED, [])
    return FieldState.NEEDS_REVIEW, errors or ["low_confidence"]


def refresh(record: Record, template: Template, fields: Sequence[RecordField]) -> bool:
    """Recompute the record's data, errors, reasons and urgency and its fields' states from the
    fields' values (see the module docstring). True when nothing is left for a person."""
    check = check_record(template, {f.path: f.value for f in fields})
    for f in fields:
        status, errors = field_state(f, check.field_codes.get(f.path, []), bool(record.spot_check))
        f.status, f.errors = str(status), errors
    record.data = jsonable(check.data)
    kept = [e for e in (record.errors or []) if not str(e.get("code", "")).startswith(RECORD_CHECK_CODES)]
    record.errors = kept + jsonable(check.errors)
    reasons = sorted({c for f in fields if f.status == FieldState.NEEDS_REVIEW for c in f.errors}
                     | {str(e.get("code")) for e in record.errors})
    record.reason_codes = f" {' '.join(reasons)} " if reasons else ""
    record.urgent = is_urgent(template, check.data)
    return not reasons


def to_check(fields: Sequence[RecordField]) -> list[RecordField]:
    """The fields a person must look at, in template order (the order of `fields`)."""
    return [f for f in fields if f.status == FieldState.NEEDS_REVIEW]


def reason_list(record: Record) -> list[str]:
    return record.reason_codes.split()


def same_value(a: Any, b: Any) -> bool:
    """Whether two field values are the same value (a multiple choice in any order)."""
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (a in (None, False) and b in (None, False))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b
