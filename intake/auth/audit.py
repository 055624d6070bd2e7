"""The audit log: every read of personal data through the API and every change.

`audit` adds an entry to the caller's transaction, so an entry exists exactly when the change it
describes was committed. `detail` must hold ids, codes and counts only — never field values, names
or file contents; that is what keeps personal data out of the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.db.models import AuditEntry

_ALLOWED = (int, float, bool, type(None))
# Keys whose strings are codes or names of things, never personal data: a field path such as
# "household_members[2].name" names where a value is, not the value.
_CODE_KEYS = ("code", "status", "scope", "role", "template", "kind", "field", "fields", "reason_code", "codes")


def check_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """`detail` unchanged if it holds ids, codes, counts and field paths only; ValueError otherwise."""
    for key, value in detail.items():
        items = value if isinstance(value, list) else [value]
        for v in items:
            if not isinstance(v, _ALLOWED) and not (isinstance(v, str) and key in _CODE_KEYS):
                raise ValueError(f"audit detail {key!r} must be ids, codes or counts")
    return detail


def audit(session: Session, actor: str, action: str, object_type: str, object_id: Any = None,
          **detail: Any) -> None:
    """Record `actor` (``user:3``, ``token:5``, ``system``) doing `action` to an object."""
    session.add(AuditEntry(actor=actor, action=action, object_type=object_type,
                           object_id=None if object_id is None else str(object_id),
                           detail=check_detail(detail)))
