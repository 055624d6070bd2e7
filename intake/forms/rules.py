"""Record-level validation: field values, required fields, "other" text, cross-field rules.

Works on a record's `data` (normalised values keyed by field name, tables as lists of row
objects), so the synthetic generator, the page reader and a supervisor's correction are all
checked by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from intake.forms.model import Field, Rule, Template, UrgentWhen
from intake.values import validate as validate_value


@dataclass(frozen=True)
class Violation:
    fields: tuple[str, ...]  # paths of the fields concerned (e.g. "household_members[2].name")
    code: str  # "required", "other_text_missing", "rule.not_after", "national_id.checksum", ...
    message: str  # English, for people
    message_zh: str | None = None


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def _value_problems(path: str, f: Field, value: Any) -> list[Violation]:
    if value is None:
        return []
    t = f.type
    if t == "choice":
        allowed = {o.value for o in f.options}
        values = value if f.multiple else [value]
        if f.multiple and not isinstance(value, list):
            return [Violation((path,), "choice.type", f"{path}: expected a list of options")]
        bad = [v for v in values if v not in allowed]
        if bad:
            return [Violation((path,), "choice.unknown", f"{path}: {bad[0]!r} is not an option")]
        return []
    if t in ("checkbox", "signature"):
        return [] if isinstance(value, bool) else [Violation((path,), f"{t}.type", f"{path}: expected true or false")]
    return [Violation((path,), p.code, f"{path}: {p.message}") for p in validate_value(t, value)]


def _marked(f: Field, value: Any, option: str) -> bool:
    if f.type == "choice":
        return option in value if f.multiple and isinstance(value, list) else value == option
    return value == option


def _equals(f: Field | None, value: Any, expected: Any) -> bool:
    if f is not None and f.type == "choice" and f.multiple:
        return isinstance(value, list) and expected in value
    return value == expected


def check_rule(rule: Rule, data: dict[str, Any], t: Template) -> Violation | None:
    msg_en = rule.message.en or rule.message.zh or rule.check
    v = lambda: Violation(tuple(rule.fields), f"rule.{rule.check}", msg_en, rule.message.zh)  # noqa: E731
    if rule.check == "not_after":
        a, b = (data.get(n) for n in rule.fields)
        if a and b:
            try:
                if date.fromisoformat(a) > date.fromisoformat(b):
                    return v()
            except (TypeError, ValueError):
                return None  # bad dates are reported by the field checks
        return None
    if rule.check == "required_if":
        assert rule.when is not None
        src = t.field(rule.when.field)
        if _equals(src, data.get(rule.when.field), rule.when.equals):
            if any(is_empty(data.get(n)) for n in rule.fields):
                return v()
        return None
    if rule.check == "at_least_one":
        if all(is_empty(data.get(n)) for n in rule.fields):
            return v()
        return None
    raise ValueError(rule.check)  # pragma: no cover


def record_violations(t: Template, data: dict[str, Any]) -> list[Violation]:
    """Everything wrong with a record's data; [] for a valid record."""
    out: list[Violation] = []
    fields = {f.name: f for _, f in t.fields()}
    for name, f in fields.items():
        value = data.get(name)
        if f.type == "table":
            rows = value or []
            if not isinstance(rows, list):
                out.append(Violation((name,), "table.type", f"{name}: expected a list of rows"))
                continue
            if f.required and not rows:
                out.append(Violation((name,), "required", f"{name}: at least one row is required"))
            for r, row in enumerate(rows):
                for c in f.columns:
                    out += _value_problems(f"{name}[{r}].{c.name}", c, row.get(c.name))
            continue
        if f.required and is_empty(value) and f.type not in ("checkbox",):
            out.append(Violation((name,), "required", f"{name}: required", "必填"))
        out += _value_problems(name, f, value)
        for o in f.options:
            if o.text_field and value is not None and _marked(f, value, o.value):
                if is_empty(data.get(o.text_field)):
                    out.append(
                        Violation((name, o.text_field), "other_text_missing", f"{name}: {o.value!r} is marked but {o.text_field} is empty", "勾選其他時請填寫說明")
                    )
    for rule in t.rules:
        viol = check_rule(rule, data, t)
        if viol:
            out.append(viol)
    return out


def computed_values(t: Template, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in t.computed:
        out[c.name] = sum(1 for n in c.count if data.get(n) == c.equals)
    return out


def empty_value(f: Field) -> Any:
    """What a field's value is when nothing was written or marked."""
    if f.type in ("checkbox", "signature"):
        return False
    if f.type == "choice" and f.multiple:
        return []
    if f.type == "table":
        return []
    return None


def urgent_condition_holds(t: Template, cond: UrgentWhen, data: dict[str, Any]) -> bool:
    value = data.get(cond.field)
    if cond.at_least is not None:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= cond.at_least
    f = next((f for _, f in t.fields() if f.name == cond.field), None)
    return _equals(f, value, cond.equals)


def is_urgent(t: Template, data: dict[str, Any]) -> bool:
    """Whether the template's `urgent_when` says this record is urgent (any condition holds)."""
    return any(urgent_condition_holds(t, c, data) for c in t.urgent_when)
