"""Whole-template checks that a schema cannot express.

Each problem is ``(key_path, reason)``, e.g. ``("pages[0].fields[3].box", "extends past the page")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from intake.forms.layout import MIN_QR_MODULE_MM, PageCode, qr_modules, reserved_boxes

if TYPE_CHECKING:
    from intake.forms.model import Field, Template

Box = tuple[float, float, float, float]

# Boxes may touch (a comb drawn edge to edge); they overlap when they share more than this.
OVERLAP_TOLERANCE_MM = 0.3


def _off_page(box: Box, size: tuple[float, float]) -> bool:
    x, y, w, h = box
    return x + w > size[0] + 1e-6 or y + h > size[1] + 1e-6


def _overlap(a: Box, b: Box) -> bool:
    ox = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    oy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return ox > OVERLAP_TOLERANCE_MM and oy > OVERLAP_TOLERANCE_MM


def _boxes(path: str, f: Field) -> Iterator[tuple[str, Box]]:
    """Every printed box of a field with its key path (tables expanded to all rows)."""
    if f.type == "table":
        assert f.rows and f.row_pitch
        for ci, c in enumerate(f.columns):
            assert c.box is not None
            for r in range(f.rows):
                x, y, w, h = c.box
                suffix = "" if r == 0 else f" (row {r + 1})"
                yield f"{path}.columns[{ci}].box{suffix}", (x, y + r * f.row_pitch, w, h)
        return
    if f.box is not None and f.type != "choice":
        yield f"{path}.box", f.box
    for oi, o in enumerate(f.options):
        yield f"{path}.options[{oi}].box", o.box


def template_problems(t: Template) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    size = t.page_size_mm
    names: dict[str, str] = {}

    def claim(name: str, path: str) -> None:
        if name in names:
            problems.append((path, f"duplicate name {name!r} (first used at {names[name]})"))
        else:
            names[name] = path

    text_fields_wanted: list[tuple[str, str, str]] = []  # (path, wanted name, owner)
    reserved = reserved_boxes(*size) if t.marks else []
    for pi, page in enumerate(t.pages):
        placed: list[tuple[str, Box]] = []
        for fi, f in enumerate(page.fields):
            path = f"pages[{pi}].fields[{fi}]"
            claim(f.name, f"{path}.name")
            if f.type == "table":
                seen: set[str] = set()
                for ci, c in enumerate(f.columns):
                    if c.name in seen:
                        problems.append((f"{path}.columns[{ci}].name", f"duplicate column {c.name!r}"))
                    seen.add(c.name)
            if f.type == "choice":
                values = [o.value for o in f.options]
                for oi, o in enumerate(f.options):
                    if values.count(o.value) > 1 and values.index(o.value) != oi:
                        problems.append((f"{path}.options[{oi}].value", f"duplicate option {o.value!r}"))
                    if o.text_field:
                        text_fields_wanted.append((f"{path}.options[{oi}].text_field", o.text_field, f.name))
            for bpath, box in _boxes(path, f):
                if _off_page(box, size):
                    problems.append((bpath, f"extends past the page ({size[0]:g} x {size[1]:g} mm)"))
                for other_path, other in placed:
                    if _overlap(box, other):
                        problems.append((bpath, f"overlaps {other_path}"))
                for what, area in reserved:
                    if _overlap(box, area):
                        problems.append((bpath, f"covers the {what}"))
                placed.append((bpath, box))
            if f.label_box is not None and _off_page(f.label_box, size):
                problems.append((f"{path}.label_box", "extends past the page"))
        for si, s in enumerate(page.sections):
            if _off_page(s.box, size):
                problems.append((f"pages[{pi}].sections[{si}].box", "extends past the page"))
        for ti, tx in enumerate(page.texts):
            if tx.at[0] > size[0] or tx.at[1] > size[1]:
                problems.append((f"pages[{pi}].texts[{ti}].at", "is off the page"))
    for ci, c in enumerate(t.computed):
        claim(c.name, f"computed[{ci}].name")

    fields = {f.name: f for _, f in t.fields()}
    for path, wanted, owner in text_fields_wanted:
        target = fields.get(wanted)
        if target is None:
            problems.append((path, f"text_field {wanted!r} is not a field of this template"))
        elif target.type not in ("text", "name", "address", "number"):
            problems.append((path, f"text_field {wanted!r} is a {target.type}, not a text field"))
        elif target.name == owner:
            problems.append((path, "text_field refers to its own choice"))

    for ri, rule in enumerate(t.rules):
        refs = list(rule.fields) + ([rule.when.field] if rule.when else [])
        for name in refs:
            if name not in fields:
                problems.append((f"rules[{ri}]", f"field {name!r} does not exist"))
        if rule.check == "not_after":
            for name in rule.fields:
                if name in fields and fields[name].type != "date":
                    problems.append((f"rules[{ri}]", f"not_after needs dates; {name!r} is a {fields[name].type}"))
        if rule.when and rule.when.field in fields:
            src = fields[rule.when.field]
            if src.type == "choice" and rule.when.equals not in [o.value for o in src.options]:
                problems.append((f"rules[{ri}].when.equals", f"{rule.when.equals!r} is not an option of {src.name!r}"))
    computed = {c.name for c in t.computed}
    for ui, cond in enumerate(t.urgent_when):
        path = f"urgent_when[{ui}]"
        src = fields.get(cond.field)
        if src is None and cond.field not in computed:
            problems.append((f"{path}.field", f"field {cond.field!r} does not exist"))
            continue
        if cond.at_least is not None:
            if src is not None and src.type != "number":
                problems.append((f"{path}.at_least", f"at_least needs a number or a computed value; "
                                                     f"{cond.field!r} is a {src.type}"))
            continue
        if src is None:
            if not isinstance(cond.equals, int) or isinstance(cond.equals, bool):
                problems.append((f"{path}.equals", f"{cond.field!r} is a computed count: compare it with a number"))
        elif src.type == "choice":
            if cond.equals not in [o.value for o in src.options]:
                problems.append((f"{path}.equals", f"{cond.equals!r} is not an option of {src.name!r}"))
        elif src.type in ("checkbox", "signature"):
            if not isinstance(cond.equals, bool):
                problems.append((f"{path}.equals", f"{cond.field!r} is a {src.type}: use true or false"))
        elif src.type == "table":
            problems.append((f"{path}.field", f"{cond.field!r} is a table; name one of its values instead"))
    if t.marks:
        _, module = qr_modules(PageCode(t.id, t.version, len(t.pages), len(t.pages)), *size)
        if module < MIN_QR_MODULE_MM:
            problems.append(("id", f"is too long: its page QR code would have {module:.2f} mm modules, "
                                   f"under the {MIN_QR_MODULE_MM} mm a fax still reads (use at most 17 characters)"))
    for ci, c in enumerate(t.computed):
        for name in c.count:
            if name not in fields:
                problems.append((f"computed[{ci}].count", f"field {name!r} does not exist"))
    if t.statistics is not None:  # what the open statistics count by (intake.stats)
        fields = {f.name: f for _, f in t.fields()}
        want = [("month", t.statistics.month, ("date",)), ("county", t.statistics.county, ("address",))]
        want += [(f"category[{i}]", n, ("choice",)) for i, n in enumerate(t.statistics.category)]
        for key, name, types in want:
            if name is not None and (name not in fields or fields[name].type not in types):
                problems.append((f"statistics.{key}", f"{name!r} is not a {' or '.join(types)} field of this template"))
    return problems
