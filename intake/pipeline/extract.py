"""The reading pipeline, top to bottom: file -> pages -> located -> fields -> form instances.

    load ─► blank? ─► locate (identify + register) ─► read fields ─► assemble pages into forms ─► validate

`read_page` is what a worker runs for one page; `assemble` turns the pages of one file into form
instances (a multi-page form from its pages in order, several forms in one file split by the page
numbers in their QR codes); `extract_files` does both for the `intake extract` command.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from intake.errors import InputError
from intake.forms.model import Template
from intake.forms.registry import Registry, default_registry
from intake.forms.rules import computed_values, empty_value, record_violations
from intake.pipeline.blank import could_be_blank, is_blank
from intake.pipeline.engines.contract import PageEngine
from intake.pipeline.load import LoadedPage, iter_pages
from intake.pipeline.read import read_page_fields
from intake.pipeline.register import Failure, locate
from intake.pipeline.types import FieldReading, FieldStatus, Located, PageResult, PageStatus


def rotation_of(H: np.ndarray) -> int:
    """Quarter turns (degrees) the scan was from upright, from the image->mm transform."""
    Hi = np.linalg.inv(H)
    a, b = cv2.perspectiveTransform(np.float64([[[100, 100]], [[150, 100]]]), Hi).reshape(2, 2)
    angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
    return int(round(angle / 90.0)) % 4 * 90


def read_page(page: LoadedPage, registry: Registry | None = None, engine: PageEngine | None = None,
              keep_crops: bool = False) -> PageResult:
    """Identify, register and read one page. Never raises for a bad page: the result says why."""
    if page.error is not None or page.image is None:
        return unreadable(page)
    registry = registry or default_registry()
    if engine is None:
        from intake.pipeline.engines.tesseract import default_engine

        engine = default_engine()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    maybe_blank = could_be_blank(page.image, page.dpi)  # a few ms; spares a blank sheet the form search
    if maybe_blank and is_blank(page.image, page.dpi):
        return _blank(page, timings, t0)
    loc = locate(page.image, page.dpi, registry, page.dpi_from_file)
    timings["locate"] = time.perf_counter() - t0
    if isinstance(loc, Failure):
        if loc.code == "unidentified" and not maybe_blank and is_blank(page.image, page.dpi):
            return _blank(page, timings, t0)  # a photo of a blank sheet: the desk is dark
        res = PageResult(page.file, page.index, PageStatus(loc.code), reason=loc.reason, error_code=loc.code,
                         timings=timings)
        if loc.located is not None:
            known = loc.located
            res.form_id, res.version = known.form_id, known.version
            res.template_page, res.pages_in_form = known.page + 1, known.pages
            res.alignment, res.method = known.alignment, known.method
        return res
    return read_registered(page, registry.get(loc.form_id, loc.version), loc, engine, keep_crops, timings, registry)


def unreadable(page: LoadedPage) -> PageResult:
    """The result of a page that could not be decoded, saying why."""
    err = page.error
    return PageResult(page.file, page.index, PageStatus.UNREADABLE,
                      reason=err.message if err else "the page could not be decoded",
                      error_code=err.code if err else "unreadable_file")


def read_registered(page: LoadedPage, template: Template, loc: Located, engine: PageEngine | None, keep_crops: bool,
                    timings: dict[str, float], registry: Registry | None = None) -> PageResult:
    """Read every field of a page registered on `template` by `loc` (also used by `place`)."""
    assert page.image is not None
    t1 = time.perf_counter()
    readings, crops, quality = read_page_fields(page.image, loc.homography, template, loc.page, engine, keep_crops,
                                                 registry)
    timings["read"] = time.perf_counter() - t1
    h, w = page.image.shape[:2]
    return PageResult(
        page.file, page.index, PageStatus.READ, form_id=template.id, version=template.version,
        template_page=loc.page + 1, pages_in_form=len(template.pages), alignment=loc.alignment, method=loc.method,
        rotation=rotation_of(loc.homography), fields=readings, timings=timings, crops=crops,
        image_size=[int(w), int(h)], corners=page_corners(loc.homography, template.page_size_mm),
        quality=quality.to_dict(),
    )


def page_corners(H: np.ndarray, size_mm: tuple[float, float]) -> list[list[float]]:
    """The template page's corners (mm: top-left, top-right, bottom-right, bottom-left) in image
    pixels, from the image->mm homography."""
    w, h = size_mm
    pts = np.float64([[[0, 0]], [[w, 0]], [[w, h]], [[0, h]]])
    return [[round(float(x), 2), round(float(y), 2)] for x, y in cv2.perspectiveTransform(pts, np.linalg.inv(H)).reshape(4, 2)]


def _blank(page: LoadedPage, timings: dict[str, float], t0: float) -> PageResult:
    timings["blank"] = time.perf_counter() - t0
    return PageResult(page.file, page.index, PageStatus.BLANK, error_code="blank", timings=timings,
                      reason="the page is blank: no printing or writing was found on it")


# ------------------------------------------------------------------------- assembly
@dataclass
class FormInstance:
    template: Template | None
    pages: list[PageResult]
    status: str = "needs_review"
    fields: dict[str, FieldReading] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    readings: dict[str, FieldReading] = field(default_factory=dict)  # as read, before record checks

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "template": self.template.id if self.template else None,
            "version": self.template.version if self.template else None,
            "status": self.status,
            "pages": [p.page_json() for p in self.pages],
            "fields": {k: r.to_json() for k, r in self.fields.items()},
        }
        if self.template is not None:
            out["data"] = self.data
        out["errors"] = self.errors
        return out


def group_pages(pages: list[PageResult]) -> Iterator[list[PageResult]]:
    """Consecutive pages of the same form, in page order; a new instance when the page number
    does not go up or the form changes. Pages that were not identified stand alone. A blank page
    (the back of a sheet scanned on both sides) does not split a form: it stands alone after the
    form around it."""
    current: list[PageResult] = []
    blanks: list[PageResult] = []
    for p in pages:
        if p.status == PageStatus.BLANK:
            blanks.append(p)
            continue
        known = p.form_id is not None and p.template_page is not None
        if current and known:
            last = current[-1]
            same = (last.form_id, last.version) == (p.form_id, p.version)
            if same and (p.template_page or 0) > (last.template_page or 0):
                current.append(p)
                continue
        if current:
            yield current
            current = []
        yield from ([b] for b in blanks)
        blanks = []
        if known:
            current.append(p)
        else:
            yield [p]
    if current:
        yield current
    yield from ([b] for b in blanks)


_ROW_PATH = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)$")


@dataclass
class RecordCheck:
    """A record's data built from its field values, and what the record-level checks found."""

    data: dict[str, Any]
    field_codes: dict[str, list[str]]  # slot path (tables by printed row) -> codes of the checks it fails
    errors: list[dict[str, Any]]  # record-level problems: rule.*, other_text_missing


def record_data(t: Template, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """A record's data from its values by slot path, and for each table the printed row of each
    row kept. The one place data is built (assembly, the review station): every field is a key
    (`empty_value` where nothing was read), a table keeps only its rows with something written,
    computed values are added."""
    data: dict[str, Any] = {}
    rows_kept: dict[str, list[int]] = {}
    for _, f in t.fields():
        if f.type == "table":
            rows, kept = [], []
            for r in range(f.rows or 0):
                row = {c.name: values.get(f"{f.name}[{r}].{c.name}") for c in f.columns}
                if any(v not in (None, "", False) for v in row.values()):
                    rows.append(row)
                    kept.append(r)
            data[f.name], rows_kept[f.name] = rows, kept
        else:
            v = values.get(f.name)
            data[f.name] = empty_value(f) if v is None and f.type in ("checkbox", "signature") else v
    data.update(computed_values(t, data))
    return data, rows_kept


def check_record(t: Template, values: Mapping[str, Any]) -> RecordCheck:
    """`record_data` and `record_violations` over it, with each violation's field paths turned
    back from data rows (blank rows left out) into printed rows: a problem in the second row kept
    is the field of the row it was written on."""
    data, rows_kept = record_data(t, values)
    codes: dict[str, list[str]] = {}
    errors: list[dict[str, Any]] = []
    for v in record_violations(t, data):
        paths = []
        for path in v.fields:
            m = _ROW_PATH.match(path)
            if m and m.group(1) in rows_kept and int(m.group(2)) < len(rows_kept[m.group(1)]):
                path = f"{m.group(1)}[{rows_kept[m.group(1)][int(m.group(2))]}].{m.group(3)}"
            paths.append(path)
            if v.code not in codes.setdefault(path, []):
                codes[path].append(v.code)
        if v.code.startswith("rule.") or v.code == "other_text_missing":
            errors.append({"code": v.code, "fields": paths, "message": v.message})
    return RecordCheck(data, codes, errors)


RECORD_CHECK_CODES = ("rule.", "other_text_missing")  # record-level errors `check_record` makes


def build_instance(t: Template, pages: list[PageResult]) -> FormInstance:
    inst = FormInstance(t, pages)
    readings: dict[str, FieldReading] = {}
    present = {p.template_page for p in pages if p.status == PageStatus.READ}
    for p in pages:
        if p.status == PageStatus.READ:
            for r in p.fields:
                readings[r.path] = r
    missing_pages = [n for n in range(1, len(t.pages) + 1) if n not in present]
    for slot in t.slots():
        if slot.path not in readings:
            readings[slot.path] = FieldReading(
                path=slot.path, type=slot.field.type,
                value=empty_value(slot.field) if slot.field.type != "choice" or slot.field.multiple else None,
                text=None, confidence=0.0, status=FieldStatus.NEEDS_REVIEW,
                errors=["page_missing" if (slot.page + 1) not in {p.template_page for p in pages} else "page_unreadable"],
                page=slot.page, box=slot.box)
    if missing_pages:
        inst.errors.append({"code": "pages_missing", "pages": missing_pages,
                            "message": f"page(s) {', '.join(map(str, missing_pages))} of {len(t.pages)} were not read"})
    inst.readings = {slot.path: readings[slot.path] for slot in t.slots()}
    check = check_record(t, {p: r.value for p, r in inst.readings.items()})
    inst.fields = {}
    for path, r in inst.readings.items():
        extra = [c for c in check.field_codes.get(path, []) if c not in r.errors]
        if path in check.field_codes:
            r = replace(r, errors=list(r.errors) + extra, status=FieldStatus.NEEDS_REVIEW)
        inst.fields[path] = r
    inst.errors += check.errors
    inst.data = check.data
    ok = not missing_pages and all(r.status == FieldStatus.ACCEPTED for r in inst.fields.values())
    inst.status = "accepted" if ok and not inst.errors else "needs_review"
    return inst


def assemble(pages: list[PageResult], registry: Registry | None = None) -> list[FormInstance]:
    registry = registry or default_registry()
    out = []
    for group in group_pages(pages):
        first = group[0]
        if first.form_id is None:
            inst = FormInstance(None, group, status=str(first.status))
            inst.errors.append({"code": first.error_code or str(first.status), "message": first.reason or ""})
            out.append(inst)
            continue
        out.append(build_instance(registry.get(first.form_id, first.version), group))
    return out


# ------------------------------------------------------------------------- files
def extract_files(paths: Iterable[Path], registry: Registry | None = None, engine: PageEngine | None = None
                  ) -> Iterator[dict[str, Any] | InputError]:
    """The form instances in these files, as JSON-ready dicts. Pages are assembled across files in
    the order given (a scanner may write one file per page); an InputError (with `.file`) is
    yielded for a file that cannot be read at all, and the other files are still read."""
    registry = registry or default_registry()
    results: list[PageResult] = []
    for path in paths:
        try:
            if not path.is_file():
                raise InputError(f"no such file: {path}", code="file_not_found")
            results.extend(read_page(p, registry, engine) for p in iter_pages(path, path.name))
        except InputError as exc:
            exc.file = str(path)  # type: ignore[attr-defined]
            yield exc
    for inst in assemble(results, registry):
        yield inst.to_json()


def format_instance_text(inst: dict[str, Any]) -> str:
    pages = ", ".join(f"{p['file']} p{p['page']}" for p in inst["pages"])
    head = f"{inst['template'] or '-'} v{inst['version'] or '-'}  {inst['status']}  ({pages})"
    lines = [head]
    for e in inst.get("errors", []):
        lines.append(f"  ! {e.get('code')}: {e.get('message')}")
    for name, f in inst["fields"].items():
        mark = " " if f["status"] == "accepted" else "?"
        errs = f" [{', '.join(f['errors'])}]" if f["errors"] else ""
        lines.append(f"  {mark} {name:36} {f['value']!s:30} {f['confidence']:.2f}{errs}")
    return "\n".join(lines)
