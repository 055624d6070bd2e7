"""Import an OMRChecker bubble-sheet template (``template.json``, OMRChecker v1 format).

Semantics follow OMRChecker's ``src/template.py``: each field block has an ``origin`` (top-left
of its first bubble), ``fieldLabels`` (``"q1..4"`` expands to q1, q2, q3, q4), bubble values from
its ``fieldType`` (QTYPE_MCQ4: A-D horizontal, QTYPE_INT: 0-9 vertical, ...) or its own
``bubbleValues`` and ``direction`` (default vertical). The bubbles of one field advance by
``bubblesGap`` along the direction (right for horizontal, down for vertical) and successive
fields by ``labelsGap`` across it; a bubble is ``bubbleDimensions`` wide and high from its
rounded top-left point. All in OMRChecker's page space (see `omr_pages`).

Each OMR field becomes a single ``choice`` with ``mark_style: bubble``, one option per bubble;
a field with a single bubble (a yes-only block) becomes a ``checkbox`` with ``mark_style: bubble``.
Each option's value is the bubble's own value (``A``, ``0``, ``HT``), so a record matches what
OMRChecker itself reports for the sheet (as queXF's answer codes are kept); a value that is not a
plain code (letters, digits, ``_ . -``), or a repeat within the field, gets a name and a note.
The option's label holds the value as printed (``label.en``).
``customLabels`` (several fields read as one string, e.g. a roll number) have no counterpart in
the template model: the fields are kept one by one and the custom labels are listed in the file's
head comment, as are ``emptyValue`` and what was done with each preprocessor.

With a sample sheet as `reference`, the template's preprocessors are reproduced on it
(`omr_pages.page_space`), its lighting is evened out, each field's bubbles are moved onto the
bubbles printed on it (hand-made templates are often a millimetre off: a gap slightly too large,
a column shifted; `snap_bubbles` fits a line through the found bubbles of each field), and its
own marked bubbles are whitened, so that the reference shows the printed form only: other
sheets' answers must not count as missing form ink in their alignment score.

Page size: OMRChecker's page space has no physical size. The sheet is taken to be 210 mm wide
(A4 width), so dpi = pageDimensions width / (210 / 25.4); the reference image is stored at an
integer multiple of the page space when that would be below 150 dpi (a 300 x 400 page space is
36 dpi), so that the reader's 200 dpi view is not made of 5 x 5 px blocks.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intake.errors import TemplateError
from intake.forms.importers import common as c
from intake.forms.importers.omr_pages import flatten, page_space, snap_bubbles, synthetic_page
from intake.pipeline.bubbles import read_sheet

FIELD_TYPES = {  # OMRChecker src/constants.py FIELD_TYPES
    "QTYPE_INT": (list("0123456789"), "vertical"),
    "QTYPE_INT_FROM_1": (list("1234567890"), "vertical"),
    "QTYPE_MCQ4": (list("ABCD"), "horizontal"),
    "QTYPE_MCQ5": (list("ABCDE"), "horizontal"),
    "QTYPE_MCQ4_RTL": (list("DCBA"), "horizontal"),
    "QTYPE_MCQ5_RTL": (list("EDCBA"), "horizontal"),
}
PAPER_WIDTH_MM = 210.0
MIN_REFERENCE_DPI = 150.0
_RANGE = re.compile(r"^([^.\d]+)(\d+)\.{2,3}(\d+)$")


@dataclass
class OmrField:
    label: str  # OMRChecker's field label, e.g. "q1", "roll3"
    block: str
    values: list[str]
    boxes: list[tuple[float, float, float, float]]  # page-space px: x, y, w, h
    empty: str


def parse_labels(labels: list[str]) -> list[str]:
    """OMRChecker's parse_fields: "q1..4" -> q1, q2, q3, q4; anything else as it is."""
    out: list[str] = []
    for s in labels:
        m = _RANGE.match(s.strip())
        if m:
            prefix, a, b = m.group(1), int(m.group(2)), int(m.group(3))
            if b < a:
                raise TemplateError(f"field label range {s!r} runs backwards")
            out += [f"{prefix}{n}" for n in range(a, b + 1)]
        else:
            out.append(s)
    return out


def parse_template(data: dict) -> tuple[tuple[int, int], list[OmrField]]:
    try:
        page = (int(data["pageDimensions"][0]), int(data["pageDimensions"][1]))
        blocks = data["fieldBlocks"]
    except (KeyError, TypeError, IndexError) as exc:
        raise TemplateError("not an OMRChecker template.json: pageDimensions and fieldBlocks are needed") from exc
    global_dims = data.get("bubbleDimensions")
    global_empty = data.get("emptyValue", "")
    fields: list[OmrField] = []
    for name, b in blocks.items():
        values, direction = FIELD_TYPES.get(b.get("fieldType", ""), (None, "vertical"))
        values = [str(v) for v in b.get("bubbleValues", values) or []]
        direction = b.get("direction", direction)
        dims = b.get("bubbleDimensions", global_dims)
        if not values or dims is None or "origin" not in b:
            raise TemplateError(f"field block {name!r}: needs origin, bubble values (fieldType or bubbleValues) and bubbleDimensions")
        bw, bh = float(dims[0]), float(dims[1])
        along, across = (1, 0) if direction == "vertical" else (0, 1)
        lead = [float(b["origin"][0]), float(b["origin"][1])]
        for label in parse_labels(b.get("fieldLabels", [])):
            point, boxes = list(lead), []
            for _ in values:
                boxes.append((float(round(point[0])), float(round(point[1])), bw, bh))
                point[along] += float(b.get("bubblesGap", 0))
            fields.append(OmrField(label, name, values, boxes, str(b.get("emptyValue", global_empty))))
            lead[across] += float(b.get("labelsGap", 0))
    if not fields:
        raise TemplateError("the template has no fields")
    return page, fields


def _field_yaml(f: OmrField, names: c.Names, mm_per_px: float, notes: list[str]) -> dict:
    def box(b: tuple[float, float, float, float]) -> list[float]:
        return [c.mm(v * mm_per_px) for v in b]

    out: dict = {"name": names.take(c.slug(f.label, prefix="q")), "label": c.label(f.label, f.label)}
    if len(f.values) == 1:
        out.update(type="checkbox", mark_style="bubble", box=box(f.boxes[0]))
        return out
    values = c.Names()
    out.update(type="choice", mark_style="bubble", options=[
        {"value": c.option_value(v, values, notes, f"{f.label}: bubble {i + 1}"), "label": {"en": v}, "box": box(b)}
        for i, (v, b) in enumerate(zip(f.values, f.boxes, strict=True))])
    return out


def erase_marks(image: np.ndarray, fields: list[OmrField], k: int) -> int:
    """Whiten the bubbles of a sample sheet that are marked (in place); return how many."""
    groups = [[(x * k, y * k, w * k, h * k) for x, y, w, h in f.boxes] for f in fields]
    paper = int(np.percentile(image, 95))
    n = 0
    for boxes, marks in zip(groups, read_sheet(image, groups, 1.0), strict=True):
        for (x, y, w, h), marked in zip(boxes, marks, strict=True):
            if marked:
                g = 0.15 * max(w, h)
                image[max(0, int(y - g)):int(y + h + g) + 1, max(0, int(x - g)):int(x + w + g) + 1] = paper
                n += 1
    return n


def import_omrchecker(template_json: Path, form_id: str, version: int, out_dir: Path,
                      reference: Path | None = None) -> Path:
    """Write ``<out_dir>/<form_id>/v<version>.yaml`` and its reference page; return the YAML path.

    `reference`: a sample sheet (blank or filled); the template's preprocessors are reproduced on
    it to bring it into OMRChecker's page space. Without one, a synthetic page (the bubbles drawn
    as circles on white) is written: it has little printed structure, so registering real sheets
    against it by image features is weak (see the file's head comment)."""
    template_json = Path(template_json)
    try:
        data = json.loads(template_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"{template_json}: not a readable template.json ({exc})") from exc
    (pw, ph), fields = parse_template(data)
    page_dpi = pw / (PAPER_WIDTH_MM / c.MM_PER_INCH)
    k = max(1, math.ceil(MIN_REFERENCE_DPI / page_dpi - 1e-9))
    size = (pw * k, ph * k)
    notes = [f"page space {pw} x {ph} px taken as {PAPER_WIDTH_MM:g} mm wide ({page_dpi:.1f} dpi); "
             f"reference image stored at {k}x ({page_dpi * k:.1f} dpi)"]
    unsnapped: list[list[tuple[float, float, float, float]]] = []
    if reference is not None:
        scans = c.load_scan_pages(Path(reference))
        image, pre_notes = page_space(scans[0][0], data.get("preProcessors", []), template_json.parent, size)
        image = flatten(image, page_dpi * k / c.MM_PER_INCH)
        pre_notes.append("lighting evened out (paper to white)")
        snapped, moved = snap_bubbles(image, [[(x * k, y * k, w * k, h * k) for x, y, w, h in f.boxes] for f in fields])
        unsnapped = [f.boxes for f in fields]
        for f, boxes in zip(fields, snapped, strict=True):
            f.boxes = [(max(0.0, x / k), max(0.0, y / k), w / k, h / k) for x, y, w, h in boxes]
        if moved:
            mm_px = c.MM_PER_INCH / (page_dpi * k)
            pre_notes.append(f"{len(moved)} of {sum(len(f.boxes) for f in fields)} bubbles moved onto the bubbles printed on "
                             f"the sample sheet: {np.median(moved) * mm_px:.2f} mm (median), {max(moved) * mm_px:.2f} mm at most")
        erased = erase_marks(image, fields, k)
        notes += [f"reference: {Path(reference).name}, brought into OMRChecker's page space"] + pre_notes
        notes.append(f"{erased} marked bubble(s) of the sample sheet were whitened in the reference image "
                     "(other sheets' answers must not count against their alignment)")
    else:
        image = synthetic_page(size, [(x * k, y * k, w * k, h * k, v) for f in fields
                                      for (x, y, w, h), v in zip(f.boxes, f.values, strict=True)])
        notes.append("reference: none given; a synthetic page (bubbles drawn on white) was written. "
                     "Registration by image features against it is weak: import again with --reference SHEET")
    custom = data.get("customLabels") or {}
    for label, parts in custom.items():
        notes.append(f"customLabels {label!r} = concatenation of {', '.join(parse_labels(parts))} "
                     "(kept as separate fields)")
    empties = sorted({f.empty for f in fields if f.empty})
    if empties:
        notes.append(f"emptyValue {', '.join(map(repr, empties))}: an unmarked field reads as null here")
    mm_per_px = c.MM_PER_INCH / page_dpi
    ref_name = c.reference_name(version, 1)

    def write(fields: list[OmrField], notes: list[str]) -> Path:
        names, notes = c.Names(), list(notes)  # the fields add their own notes
        yaml_fields = [_field_yaml(f, names, mm_per_px, notes) for f in fields]
        renamed = ", ".join(f"{f.label}->{y['name']}" for f, y in zip(fields, yaml_fields, strict=True) if f.label != y["name"])
        tpl = {
            "id": form_id, "version": version,
            "title": {"en": f"OMR sheet {template_json.parent.name}"},
            "paper": [PAPER_WIDTH_MM, c.mm(ph * mm_per_px)],
            "languages": ["eng"],
            "source": f"OMRChecker template {template_json.name} (sha256 {c.sha256_of(template_json)})",
            "marks": False,
            "reference": {"pages": [ref_name], "dpi": round(page_dpi * k, 4)},
            "pages": [{"fields": yaml_fields}],
        }
        comments = [f"Imported by `intake templates import omrchecker` from {template_json}.",
                    "Option values are the bubble values as OMRChecker reports them; label.en holds the value as printed.", *notes,
                    *([f"field names: {renamed}"] if renamed else [])]
        return c.write_template(tpl, comments, Path(out_dir), {ref_name: image})

    try:
        return write(fields, notes)
    except TemplateError:
        if not unsnapped:
            raise
    # the bubbles moved onto the sample sheet overlap or leave the page: keep the template's own
    for f, boxes in zip(fields, unsnapped, strict=True):
        f.boxes = boxes
    return write(fields, [n for n in notes if "moved onto the bubbles" not in n]
                 + ["the bubbles were left where the template puts them (moved onto the sample sheet they would overlap)"])
