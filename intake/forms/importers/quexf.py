"""Import a queXF form: its banding XML plus a blank scan of the printed form.

queXF (ACSPRI) describes a printed questionnaire in a "banding" XML: per page the expected
positions of the four L-shaped corner marks (``tlx..bly``, pixels of the printed original at
300 dpi: the inner corner of each L) and groups of boxes (``boxgroup``) with their pixel
rectangles. The scan of a real printout is never in that frame (printers and scanners shift,
scale and turn the page), so the importer finds the four L marks on each page of the blank scan
and computes the homography between them and the XML's marks. The blank scan is then
straightened with it (turned and stretched so that its marks sit where the XML puts them, at the
scan's own resolution and size) and saved as the template's reference page: a box of the XML is
then an upright rectangle over its printed box, even when the blank form was scanned at an angle
(a long comb of character boxes in a turned scan is a slanted strip, which no upright template
box could cover). Where the printout itself deviates locally from the layout (sheet-fed scanners
stretch parts of a page), each tick box is moved onto its printed square (`snap_rect`).

Box group types (queXF's ``boxgrouptypes`` table) and what they become:

====  ===============  ===================================================================
0     temporary        skipped (queXF's own work area)
1     single choice    ``choice`` with ``fill_cancels`` (cross to choose, fill to cancel);
                      each option's value is the box's own code (``1``, ``2``, ...)
2     multiple choice  ``choice`` with ``multiple: true`` and ``fill_cancels``
3     text             ``text`` over the union of its character boxes, ``cells: width``
4     number           ``number``, the same way
5     barcode          skipped: queXF's page id; pages are identified by their features
6     long text        ``text`` over the box, one writing line per ~9 mm of height
====  ===============  ===================================================================

A choice group with a single box becomes a ``checkbox``. Skipped groups are listed in the file's
head comment. Sections get a box: the union of their groups' boxes on the page, 3 mm wider.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from intake.errors import TemplateError
from intake.forms.importers import common as c
from intake.forms.importers.lmarks import find_l_marks, remove_scanner_border, snap_rect
from intake.forms.importers.quexf_xml import CORNERS, XML_DPI, QBox, QGroup, QPage, parse_banding

STANDARD_DPI = (150.0, 200.0, 240.0, 300.0, 400.0, 600.0)
SKIP_TYPES = {0: "temporary", 5: "barcode (queXF's page identifier)"}


def _scan_dpi(file_dpi: float, from_file: bool, marks: dict[str, np.ndarray], page: QPage) -> float:
    """The file's resolution, or (when the file does not say) the one the corner marks imply,
    rounded to a usual scanner setting."""
    if from_file:
        return file_dpi
    scan = np.float64([marks[k] for k in CORNERS])
    xml = np.float64([page.corners[k] for k in CORNERS])
    ratio = np.linalg.norm(scan[2] - scan[0]) / np.linalg.norm(xml[2] - xml[0])
    return min(STANDARD_DPI, key=lambda d: abs(d - XML_DPI * ratio))


def straighten(grey: np.ndarray, page: QPage, dpi: float) -> tuple[np.ndarray, str]:
    """The blank scan warped so that its corner marks land on the XML's (scaled to `dpi`), with
    its own size; and a note on what was done."""
    marks = find_l_marks(grey, dpi)
    k = dpi / XML_DPI
    src = np.float32([marks[n] for n in CORNERS])
    dst = np.float32([page.corners[n] for n in CORNERS]) * k
    H = cv2.getPerspectiveTransform(src, dst)
    clean = remove_scanner_border(grey, dpi)
    h, w = grey.shape
    paper = int(np.percentile(clean, 90))
    out = cv2.warpPerspective(clean, H, (w, h), flags=cv2.INTER_LINEAR, borderValue=paper)
    angle = np.degrees(np.arctan2(H[1, 0], H[0, 0]))
    shift = np.linalg.norm(dst - src, axis=1).max() * c.MM_PER_INCH / dpi
    note = ("corner marks at " + ", ".join(f"{n} ({x:.0f}, {y:.0f})" for n, (x, y) in zip(CORNERS, src, strict=True))
            + f" px; straightened by {angle:+.2f} degrees, corners moved up to {shift:.1f} mm")
    return out, note


def _px(b: QBox, k: float) -> tuple[float, float, float, float]:
    return b.x0 * k, b.y0 * k, b.x1 * k, b.y1 * k


def _place_page(ref: np.ndarray, groups: list[QGroup], dpi: float) -> tuple[list[list[list[float]]], list[float]]:
    """Every group's boxes in mm, and how far (mm) the tick boxes were moved onto their squares.

    Tick boxes are moved one by one; a strip of character boxes is moved as a whole onto the
    printed rectangle around it, or (when none is found: the comb is often a faint dotted line)
    by the shift of the tick boxes nearest above and below it, linear in y."""
    k = dpi / XML_DPI
    anchors: list[tuple[float, float, float]] = []  # (y, dx, dy) px
    placed: list[list[tuple[float, float, float, float]] | None] = []
    for g in groups:
        rects = [_px(b, k) for b in g.boxes]
        if g.type in (1, 2):
            out = []
            for r in rects:
                snapped = snap_rect(ref, r, dpi, max_shift_mm=1.5)
                if snapped is not None:
                    anchors.append(((r[1] + r[3]) / 2, snapped[0][0] - r[0], snapped[0][1] - r[1]))
                    r = snapped[0]
                out.append(r)
            placed.append(out)
            continue
        whole = (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects))
        snapped = snap_rect(ref, whole, dpi, max_shift_mm=1.5)
        if snapped is None:
            placed.append(None)
            continue
        dx, dy = snapped[0][0] - whole[0], snapped[0][1] - whole[1]
        placed.append([(a + dx, b + dy, cc + dx, d + dy) for a, b, cc, d in rects])
    anchors.sort()
    result = []
    for g, done in zip(groups, placed, strict=True):
        if done is None:
            rects = [_px(b, k) for b in g.boxes]
            dx, dy = _interpolate(anchors, (min(r[1] for r in rects) + max(r[3] for r in rects)) / 2)
            done = [(a + dx, b + dy, cc + dx, d + dy) for a, b, cc, d in rects]
        result.append([c.px_box_to_mm(*r, dpi) for r in done])
    return result, [float(np.hypot(dx, dy)) * c.MM_PER_INCH / dpi for _, dx, dy in anchors]


def _interpolate(anchors: list[tuple[float, float, float]], y: float) -> tuple[float, float]:
    if not anchors:
        return 0.0, 0.0
    above = [a for a in anchors if a[0] <= y]
    below = [a for a in anchors if a[0] > y]
    if not above or not below:
        a = above[-1] if above else below[0]
        return a[1], a[2]
    a, b = above[-1], below[0]
    f = (y - a[0]) / max(1e-6, b[0] - a[0])
    return a[1] + f * (b[1] - a[1]), a[2] + f * (b[2] - a[2])


def _option_value(b: QBox, i: int, names: c.Names, notes: list[str], varname: str) -> str:
    """The box's own answer code (queXF's ``1``, ``2``, ...) kept as the option's value, so a
    record matches the questionnaire's codebook (`common.option_value`); a box with no code is
    named after its place."""
    return c.option_value(b.value, names, notes, f"{varname}: box {i + 1}", unnamed=f"box{i + 1}")


def _field(g: QGroup, boxes: list[list[float]], names: c.Names, latin: bool, notes: list[str]) -> dict | None:
    name = names.take(c.slug(g.varname or f"group_{g.type}", prefix="q"))
    out: dict = {"name": name, "label": c.label(g.label, g.varname or name)}
    ocr = {"ocr": {"lang": "eng"}} if latin else {}
    if g.type in (1, 2):
        if len(boxes) == 1:
            out.update(type="checkbox", box=boxes[0], fill_cancels=True)
            notes.append(f"{g.varname}: a choice group with one box, imported as a checkbox")
            return out
        values = c.Names()
        out.update(type="choice", multiple=g.type == 2, fill_cancels=True, options=[
            {"value": _option_value(b, i, values, notes, g.varname), "label": c.label(b.label, b.value or f"box {i + 1}"), "box": bx}
            for i, (b, bx) in enumerate(zip(g.boxes, boxes, strict=True))])
        if not out["multiple"]:
            del out["multiple"]
        return out
    if g.type in (3, 4, 6):
        box = c.union(boxes)
        out.update(type="number" if g.type == 4 else "text", box=box)
        rows = {round(b.y0 / 10) for b in g.boxes}
        if g.type in (3, 4) and len(boxes) >= 2:
            if len(rows) == 1 and len(boxes) <= 40:
                out["cells"] = len(boxes)
            else:
                notes.append(f"{g.varname}: {len(boxes)} character boxes in {len(rows)} row(s); read as one text box")
        elif g.type == 6:
            out["lines"] = max(1, min(30, int(box[3] // 9)))
        if g.type != 4:
            out.update(ocr)
        return out
    return None


def import_quexf(banding: Path, reference: Path, form_id: str, version: int, out_dir: Path) -> Path:
    """Write ``<out_dir>/<form_id>/v<version>.yaml`` and its reference pages; return the YAML path.

    `reference` is the blank scan: a PDF, a multi-page TIFF, or one image per page named with a
    page number (``blank-page1.png`` finds ``blank-page2.png`` beside it)."""
    banding, reference = Path(banding), Path(reference)
    if not banding.is_file():
        raise TemplateError(f"banding XML {banding} not found")
    pages, sections = parse_banding(banding)
    scans = c.load_scan_pages(reference)
    if len(scans) < len(pages):
        raise TemplateError(f"the banding XML has {len(pages)} pages but the blank scan only {len(scans)}")
    notes: list[str] = []
    if len(scans) > len(pages):
        notes.append(f"the blank scan has {len(scans)} pages; the first {len(pages)} were used")
    texts = [g.label for p in pages for g in p.groups] + [b.label for p in pages for g in p.groups for b in g.boxes]
    latin = not c.has_cjk(texts)
    names = c.Names()
    grey0, dpi0, known0 = scans[0]
    dpi = _scan_dpi(dpi0, known0, find_l_marks(grey0, dpi0), pages[0])  # one resolution for all pages
    size_mm = (c.mm(grey0.shape[1] / dpi * c.MM_PER_INCH), c.mm(grey0.shape[0] / dpi * c.MM_PER_INCH))
    out_pages, images = [], {}
    for i, (page, (grey, _, _)) in enumerate(zip(pages, scans, strict=False)):
        if abs(grey.shape[0] - grey0.shape[0]) + abs(grey.shape[1] - grey0.shape[1]) > 0.01 * sum(grey0.shape):
            grey = cv2.resize(grey, (grey0.shape[1], grey0.shape[0]), interpolation=cv2.INTER_AREA)
            notes.append(f"page {i + 1} of the blank scan was resized to the size of page 1")
        ref, note = straighten(grey, page, dpi)
        notes.append(f"page {i + 1} (queXF page id {page.id}): {note}")
        groups = []
        for g in page.groups:
            if g.type in SKIP_TYPES or not g.boxes:
                notes.append(f"skipped box group {g.varname or '?'} on page {i + 1}: {SKIP_TYPES.get(g.type, 'no boxes')}")
            else:
                groups.append(g)
        placed, shifts = _place_page(ref, groups, dpi)
        if shifts:
            notes.append(f"page {i + 1}: {len(shifts)} tick boxes moved onto their printed squares by "
                         f"{np.median(shifts):.2f} mm (median), {max(shifts):.2f} mm at most")
        fields, by_section = [], {}
        for g, boxes in zip(groups, placed, strict=True):
            f = _field(g, boxes, names, latin, notes)
            if f is None:
                notes.append(f"skipped box group {g.varname or '?'} on page {i + 1}: unknown type {g.type}")
                continue
            fields.append(f)
            if g.section:
                by_section.setdefault(g.section, []).extend(boxes)
        out_page: dict = {}
        if by_section:
            out_page["sections"] = [
                {"title": c.label(sections.get(sid), f"section {sid}"), "box": _padded(c.union(bs), size_mm)}
                for sid, bs in by_section.items()]
        out_page["fields"] = fields
        out_pages.append(out_page)
        images[c.reference_name(version, i + 1)] = ref
    data = {
        "id": form_id, "version": version,
        "title": {"en": f"queXF questionnaire {banding.stem}"},
        "paper": list(size_mm),
        "languages": ["eng"] if latin else ["chi_tra", "eng"],
        "source": f"queXF banding XML {banding.name} (sha256 {c.sha256_of(banding)}), blank scan {reference.name}",
        "marks": False,
        "reference": {"pages": list(images), "dpi": dpi},
        "pages": out_pages,
    }
    comments = [f"Imported by `intake templates import quexf` from {banding.name} and {reference.name}.",
                f"Reference pages: the blank scan straightened onto the XML's corner marks, {dpi:g} dpi; "
                "geometry in mm of that frame.",
                "queXF convention: cross a box to choose it, fill it to cancel (fill_cancels).", *notes]
    return c.write_template(data, comments, Path(out_dir), images)


def _padded(box: list[float], page_mm: tuple[float, float], pad: float = 3.0) -> list[float]:
    x0, y0 = max(0.0, box[0] - pad), max(0.0, box[1] - pad)
    x1 = min(page_mm[0], box[0] + box[2] + pad)
    y1 = min(page_mm[1], box[1] + box[3] + pad)
    return [c.mm(x0), c.mm(y0), c.mm(x1 - x0), c.mm(y1 - y0)]
