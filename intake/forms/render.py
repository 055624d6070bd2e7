"""Print-ready blank forms: a template drawn as a PDF (reportlab) and rasterised (pdfium).

The PDF is what clerks print and what the reader later finds on scans, so a few rules hold:

* all text is set in AR PL UMing TW (Debian package ``fonts-arphic-uming``), embedded as a
  TrueType subset, so the PDF prints the same everywhere;
* pages of a template with ``marks`` carry the four registration squares and the QR code exactly
  where `intake.forms.layout` says;
* nothing is printed inside a field's writing box except its border, comb lines and ruled lines:
  the reader measures ink there, so labels go beside, above or in the ``label_box``;
* the same template always gives the same bytes (reportlab ``invariant``).

Rasters are made by rendering the PDF with pdfium, never by redrawing with Pillow, so a raster
shows exactly what a printer would get. Geometry is exact: a point ``(x, y)`` mm from the page's
top-left corner is at pixel ``(x, y) / 25.4 * dpi``.
"""

from __future__ import annotations

import ctypes
import io
import logging
import threading
from functools import lru_cache
from pathlib import Path

from PIL import Image

from intake.errors import TemplateError
from intake.forms.layout import (
    MIN_QR_MODULE_MM,
    QR_LEVEL,
    QR_QUIET_MODULES,
    PageCode,
    mark_boxes,
    qr_box,
)
from intake.forms.model import TEXT_TYPES, Field, Label, Page, Section, Template, Text

log = logging.getLogger(__name__)

FONT_PATH = Path("/usr/share/fonts/truetype/arphic/uming.ttc")
FONT_PACKAGE = "fonts-arphic-uming"
FONT_FAMILY = b"AR PL UMing TW"
FONT_NAME = "UMingTW"  # the name registered with reportlab
FONT_SUBFONT_GUESS = 2  # the TTC's subfont for AR PL UMing TW (searched if this is wrong)

PT_PER_MM = 72.0 / 25.4

# Printing sizes in points, and gaps in millimetres.
LABEL_ZH_PT = 9.0
LABEL_EN_PT = 6.5
LABEL_EN_ALONE_PT = 8.0
INLINE_EN_PT = 7.5  # English after Chinese on one line (checkbox, option, section titles)
LABEL_GAP_MM = 1.5  # between a label and its box
LABEL_LINE_GAP_MM = 0.6  # between the zh line and the en line of a stacked label
LABEL_MIN_X_MM = 4.0  # labels never start closer to the page edge than this
HINT_PT = 6.0
HEADER_ZH_PT = 8.0
HEADER_EN_PT = 6.0
ROW_NO_PT = 8.0
TITLE_PT = 15.0
TITLE_EN_PT = 9.0
TITLE_LATER_PT = 10.0
TITLE_BASELINE_MM = 20.0
TITLE_EN_BASELINE_MM = 26.0
FOOTER_PT = 7.0
FOOTER_BASELINE_MM = 289.0  # on A4; other papers keep the same distance from the bottom edge
SECTION_BAND_MM = 5.5
TABLE_LABEL_GAP_MM = 2.0

BOX_LINE_PT = 0.6
MARK_BOX_LINE_PT = 0.8
THIN_LINE_PT = 0.4
COMB_LINE_PT = 0.4
RULE_LINE_PT = 0.35
BOLD_STROKE_PT = 0.3
GREY_TEXT = 0.4
HINT_GREY = 0.35
BAND_GREY = 0.88

# The visual centre of a line of CJK or Latin capitals, as a fraction of the font size above the
# baseline (UMing's ideographs span about -0.12 .. 0.88 em).
_MID = 0.37
# Glyph extent above / below the baseline, in em, for stacking lines.
_ASC_ZH, _DESC_ZH = 0.88, 0.12
_ASC_EN, _DESC_EN = 0.75, 0.2

_font_lock = threading.Lock()
_pdfium_lock = threading.Lock()  # pdfium is not thread-safe


# -- units ------------------------------------------------------------------------------------
def mm_to_px(v: float, dpi: float) -> float:
    """Millimetres to pixels at `dpi`."""
    return v / 25.4 * dpi


# -- font -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def font_name() -> str:
    """Register AR PL UMing TW with reportlab (once) and return its registered name."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    with _font_lock:
        if not FONT_PATH.is_file():
            raise TemplateError(
                f"the form font {FONT_PATH} is missing; install the Debian package "
                f"{FONT_PACKAGE} (apt-get install {FONT_PACKAGE})"
            )
        order = [FONT_SUBFONT_GUESS] + [i for i in range(8) if i != FONT_SUBFONT_GUESS]
        for index in order:
            try:
                font = TTFont(FONT_NAME, str(FONT_PATH), subfontIndex=index)
            except TTFError:
                continue
            if font.face.familyName == FONT_FAMILY:
                pdfmetrics.registerFont(font)
                return FONT_NAME
        raise TemplateError(
            f"{FONT_PATH} has no {FONT_FAMILY.decode()} face; reinstall the Debian package {FONT_PACKAGE}"
        )


def _width_mm(text: str, size: float) -> float:
    from reportlab.pdfbase import pdfmetrics

    return pdfmetrics.stringWidth(text, font_name(), size) / PT_PER_MM


def missing_glyphs(template: Template) -> list[str]:
    """Characters of the template's printed text that the form font cannot show (tofu)."""
    from reportlab.pdfbase import pdfmetrics

    face = pdfmetrics.getFont(font_name()).face
    chars: set[str] = set(template.id)
    for label in _labels(template):
        chars.update(label.text())
    for page in template.pages:
        for tx in page.texts:
            chars.update(tx.text)
    return sorted(c for c in chars if not c.isspace() and ord(c) not in face.charToGlyph)


def _labels(template: Template) -> list[Label]:
    out = [template.title]
    for page in template.pages:
        out += [s.title for s in page.sections]
        for f in page.fields:
            for g in [f, *f.columns]:
                out.append(g.label)
                if g.hint:
                    out.append(g.hint)
                out += [o.label for o in g.options]
    return out


# -- PDF ---------------------------------------------------------------------------------------
class _Page:
    """Drawing helpers in template coordinates (mm from the top-left) on one reportlab page."""

    def __init__(self, canvas, page_h_mm: float) -> None:
        self.c = canvas
        self.h = page_h_mm
        self.font = font_name()

    def _x(self, x: float) -> float:
        return x * PT_PER_MM

    def _y(self, y: float) -> float:
        return (self.h - y) * PT_PER_MM

    def rect(
        self,
        box: tuple[float, float, float, float],
        line_pt: float,
        *,
        stroke: float | None = 0.0,
        fill: float | None = None,
    ) -> None:
        x, y, w, h = box
        c = self.c
        c.setLineWidth(line_pt)
        if stroke is not None:
            c.setStrokeGray(stroke)
        if fill is not None:
            c.setFillGray(fill)
        c.rect(
            self._x(x),
            self._y(y + h),
            w * PT_PER_MM,
            h * PT_PER_MM,
            stroke=int(stroke is not None),
            fill=int(fill is not None),
        )

    def line(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        line_pt: float,
        dash: list[float] | None = None,
    ) -> None:
        c = self.c
        c.saveState()
        c.setLineWidth(line_pt)
        c.setStrokeGray(0)
        if dash:
            c.setDash(dash, 0)
        c.line(self._x(x0), self._y(y0), self._x(x1), self._y(y1))
        c.restoreState()

    def text(
        self,
        x: float,
        baseline: float,
        s: str,
        size: float,
        *,
        align: str = "left",
        grey: float = 0.0,
        bold: bool = False,
    ) -> float:
        """Draw `s`; returns its width in mm. `x` is the left, centre or right end per `align`."""
        w = _width_mm(s, size)
        if align == "right":
            x -= w
        elif align == "centre":
            x -= w / 2
        c = self.c
        c.saveState()  # the text render mode is graphics state: keep bold from leaking
        t = c.beginText()
        t.setFont(self.font, size)
        t.setFillGray(grey)
        if bold:
            t.setTextRenderMode(2)  # fill, then stroke: the font has no bold face
            c.setStrokeGray(grey)
            c.setLineWidth(BOLD_STROKE_PT)
        else:
            t.setTextRenderMode(0)
        t.setTextOrigin(self._x(x), self._y(baseline))
        t.textOut(s)
        c.drawText(t)
        c.restoreState()
        return w


Box = tuple[float, float, float, float]


CRAMPED = 0.75  # a label shrunk below this share of its size is logged: the layout is too tight


def _fit(widths: list[float], room: float, floor: float = 0.55) -> float:
    """The factor (<= 1) that makes the widest of `widths` fit in `room` mm."""
    widest = max(widths, default=0.0)
    if widest <= room or widest <= 0:
        return 1.0
    return max(floor, room / widest)


def _note_cramped(text: str, k: float) -> None:
    if k < CRAMPED:
        log.warning(
            "label %r printed at %.0f%% of its size: not enough room beside its box", text, k * 100
        )


class _Obstacles:
    """What a label beside a box must not run into: the page's boxes and labels already placed."""

    def __init__(self, page_w: float) -> None:
        self.page_w = page_w
        self.rects: list[Box] = []
        self.wanted: list[Box] = []  # labels right of squares, at their natural size

    def add(self, box: Box) -> None:
        self.rects.append(box)

    def room_left(self, right: float, y0: float, y1: float, want: float) -> float:
        """Width free to the left of `right` in the band y0..y1, keeping a label gap.

        A label that wants `want` mm and meets a label right of a square (still to be drawn)
        shares the gap with it in proportion to what each wants."""
        edge = LABEL_MIN_X_MM
        for x, y, w, h in self.rects:
            if y < y1 and y + h > y0 and x + w <= right + 1e-6:
                edge = max(edge, x + w + LABEL_GAP_MM)
        room = right - edge
        for x, y, w, h in self.wanted:
            if (
                y < y1
                and y + h > y0
                and edge - 1e-6 <= x < right
                and x + w + LABEL_GAP_MM > right - want
            ):
                share = (right - x - LABEL_GAP_MM) * want / (want + w)
                room = min(room, share)
        return room

    def room_right(self, left: float, y0: float, y1: float) -> float:
        edge = self.page_w - LABEL_MIN_X_MM
        for x, y, _w, h in self.rects:
            if y < y1 and y + h > y0 and x >= left - 1e-6:
                edge = min(edge, x - LABEL_GAP_MM)
        return edge - left


def _stack(
    label: Label, zh_pt: float = LABEL_ZH_PT, en_pt: float = LABEL_EN_PT
) -> list[tuple[str, float, float, float]]:
    """The lines of a stacked label: (text, size pt, ascent mm, descent mm)."""
    lines = []
    if label.zh:
        lines.append((label.zh, zh_pt, _ASC_ZH, _DESC_ZH))
    if label.en:
        size = en_pt if label.zh else LABEL_EN_ALONE_PT * en_pt / LABEL_EN_PT
        lines.append((label.en, size, _ASC_EN, _DESC_EN))
    return [(s, size, a * size / PT_PER_MM, d * size / PT_PER_MM) for s, size, a, d in lines]


def _stack_height(lines: list[tuple[str, float, float, float]]) -> float:
    return sum(a + d for _, _, a, d in lines) + LABEL_LINE_GAP_MM * (len(lines) - 1)


def _draw_stack(
    p: _Page,
    label: Label,
    x: float,
    centre_y: float,
    *,
    align: str,
    room: float,
    zh_pt: float = LABEL_ZH_PT,
    en_pt: float = LABEL_EN_PT,
    max_h: float | None = None,
) -> Box:
    """A label as zh over en, vertically centred on `centre_y`, fitted into `room` mm of width.

    Returns the area it covers."""
    lines = _stack(label, zh_pt, en_pt)
    widths = [_width_mm(s, size) for s, size, _, _ in lines]
    k = _fit(widths, room)
    if max_h is not None:
        h = _stack_height(lines)
        if h > max_h:
            k = min(k, max(0.55, max_h / h))
    _note_cramped(label.text(), k)
    lines = [(s, size * k, a * k, d * k) for s, size, a, d in lines]
    total = _stack_height(lines) + LABEL_LINE_GAP_MM * (k - 1) * (len(lines) - 1)
    top = centre_y - total / 2
    for s, size, a, d in lines:
        p.text(x, top + a, s, size, align=align)
        top += a + d + LABEL_LINE_GAP_MM * k
    w = max(widths, default=0.0) * k
    x0 = x - w if align == "right" else x - w / 2 if align == "centre" else x
    return (x0, centre_y - total / 2, w, total)


def _inline_parts(
    label: Label, zh_pt: float, en_pt: float
) -> tuple[list[tuple[str, float]], float]:
    parts = []
    if label.zh:
        parts.append((label.zh, zh_pt))
    if label.en:
        parts.append((label.en, en_pt if label.zh else zh_pt))
    space = _width_mm(" ", en_pt)
    return parts, sum(_width_mm(s, size) for s, size in parts) + space * (len(parts) - 1)


def _inline(
    p: _Page,
    label: Label,
    x: float,
    baseline: float,
    zh_pt: float,
    en_pt: float,
    room: float | None = None,
) -> float:
    """A label on one line, "zh en", the English a little smaller. Returns its width in mm."""
    parts, total = _inline_parts(label, zh_pt, en_pt)
    space = _width_mm(" ", en_pt)
    k = 1.0 if room is None else _fit([total], room)
    _note_cramped(label.text(), k)
    for s, size in parts:
        x += p.text(x, baseline, s, size * k) + space * k
    return total * k


def _label_left_of(p: _Page, label: Label, box: Box, obst: _Obstacles) -> None:
    x, y, _, h = box
    right = x - LABEL_GAP_MM
    centre = y + h / 2
    lines = _stack(label)
    half = _stack_height(lines) / 2
    want = max(_width_mm(s, size) for s, size, _, _ in lines)
    room = obst.room_left(right, centre - half, centre + half, want)
    obst.add(_draw_stack(p, label, right, centre, align="right", room=room))


def _label_in_box(p: _Page, label: Label, box: Box) -> None:
    x, y, w, h = box
    p.rect(box, THIN_LINE_PT)
    _draw_stack(p, label, x + 1.0, y + h / 2, align="left", room=w - 2.0, max_h=h - 1.0)


def _writing_box(p: _Page, f: Field, box: Box, *, hint: bool = True) -> None:
    """The printed writing area of a text-like or signature field: border, comb, rules, hint."""
    x, y, w, h = box
    p.rect(box, BOX_LINE_PT)
    if f.cells:
        step = w / f.cells
        for i in range(1, f.cells):
            p.line(x + i * step, y, x + i * step, y + h, COMB_LINE_PT)
    if f.lines > 1:
        step = h / f.lines
        for i in range(1, f.lines):
            p.line(x + 1.0, y + i * step, x + w - 1.0, y + i * step, RULE_LINE_PT, dash=[1.0, 1.5])
    if hint and f.hint:
        size = HINT_PT
        p.text(x, y + h + 0.4 + _ASC_ZH * size / PT_PER_MM, f.hint.text(), size, grey=HINT_GREY)


def _square(p: _Page, box: Box) -> None:
    p.rect(box, MARK_BOX_LINE_PT, stroke=0.0, fill=1.0)


def _right_label_area(label: Label, box: Box) -> Box:
    """Where a label right of a square goes at its natural size."""
    x, y, w, h = box
    half = LABEL_ZH_PT / PT_PER_MM / 2
    _, width = _inline_parts(label, LABEL_ZH_PT, INLINE_EN_PT)
    return (x + w + LABEL_GAP_MM, y + h / 2 - half, width, 2 * half)


def _right_labels(f: Field) -> list[tuple[Label, Box]]:
    """The labels printed right of a field's squares, with their squares."""
    if f.type == "checkbox" and not f.label_box:
        assert f.box is not None
        return [(f.label, f.box)]
    if f.type == "choice":
        return [(o.label, o.box) for o in f.options]
    return []


def _label_right_of(p: _Page, label: Label, box: Box, obst: _Obstacles) -> None:
    x, y, w, h = box
    left = x + w + LABEL_GAP_MM
    half = LABEL_ZH_PT / PT_PER_MM / 2
    centre = y + h / 2
    room = obst.room_right(left, centre - half, centre + half)
    width = _inline(
        p,
        label,
        left,
        centre + _MID * LABEL_ZH_PT / PT_PER_MM,
        LABEL_ZH_PT,
        INLINE_EN_PT,
        room=room,
    )
    obst.add((left, centre - half, width, 2 * half))


def _field_boxes(f: Field) -> list[Box]:
    """Every box printed for a field (tables expanded to all rows), its label_box included."""
    out: list[Box] = []
    if f.type == "table":
        assert f.rows and f.row_pitch
        for r in range(f.rows):
            for c in f.columns:
                if c.box is not None:
                    x, y, w, h = c.box
                    out.append((x, y + r * f.row_pitch, w, h))
    elif f.type == "choice":
        out += [o.box for o in f.options]
    elif f.box is not None:
        out.append(f.box)
    if f.label_box is not None:
        out.append(f.label_box)
    return out


def _draw_field(p: _Page, f: Field, obst: _Obstacles, option_texts: frozenset[str] = frozenset()) -> None:
    """A field's boxes and the labels left of or above them (labels right of boxes come later).

    A field that is an option's "other: ___" text (`option_texts`) gets no label of its own: the
    option's label, printed just before it, says what to write."""
    t = f.type
    if t in TEXT_TYPES or t == "signature":
        assert f.box is not None
        _writing_box(p, f, f.box)
        if f.label_box:
            _label_in_box(p, f.label, f.label_box)
        elif f.name not in option_texts:
            _label_left_of(p, f.label, f.box, obst)
    elif t == "checkbox":
        assert f.box is not None
        _square(p, f.box)
        if f.label_box:
            _label_in_box(p, f.label, f.label_box)
    elif t == "choice":
        for o in f.options:
            _square(p, o.box)
        if f.label_box:
            _label_in_box(p, f.label, f.label_box)
        else:
            _label_left_of(p, f.label, f.options[0].box, obst)
    elif t == "table":
        _draw_table(p, f)
    else:  # pragma: no cover - the model forbids other types
        raise TemplateError(f"cannot print a field of type {t!r}")


def _draw_right_labels(p: _Page, f: Field, obst: _Obstacles) -> None:
    for label, box in _right_labels(f):
        _label_right_of(p, label, box, obst)


def _draw_table(p: _Page, f: Field) -> None:
    assert f.rows and f.row_pitch
    cols = [c for c in f.columns if c.box is not None]
    for r in range(f.rows):
        dy = r * f.row_pitch
        for c in cols:
            assert c.box is not None
            x, y, w, h = c.box
            box = (x, y + dy, w, h)
            if c.type == "checkbox":
                _square(p, box)
            else:
                _writing_box(p, c, box, hint=False)
        first = min(cols, key=lambda c: c.box[0])  # type: ignore[index]
        x, y, _, h = first.box  # type: ignore[misc]
        p.text(
            x - LABEL_GAP_MM,
            y + dy + h / 2 + _MID * ROW_NO_PT / PT_PER_MM,
            f"{r + 1}.",
            ROW_NO_PT,
            align="right",
        )
    # column headers, directly above the row-0 boxes, on one common baseline
    row_top = min(c.box[1] for c in cols)  # type: ignore[index]
    header_top = row_top
    for c in cols:
        x, _, w, _ = c.box  # type: ignore[misc]
        lines = _stack(c.label, HEADER_ZH_PT, HEADER_EN_PT)
        k = _fit([_width_mm(s, size) for s, size, _, _ in lines], max(w + 6.0, 12.0))
        bottom = row_top - 0.8
        for s, size, a, d in reversed(lines):
            p.text(x + w / 2, bottom - d * k, s, size * k, align="centre")
            bottom -= (a + d + LABEL_LINE_GAP_MM) * k
        header_top = min(header_top, bottom + LABEL_LINE_GAP_MM * k)
    # the table's label above the headers
    x0 = min(c.box[0] for c in cols)  # type: ignore[index]
    if f.label_box:
        _label_in_box(p, f.label, f.label_box)
    else:
        baseline = header_top - TABLE_LABEL_GAP_MM - _DESC_ZH * LABEL_ZH_PT / PT_PER_MM
        _inline(p, f.label, x0, baseline, LABEL_ZH_PT, INLINE_EN_PT)


def _draw_section(p: _Page, s: Section) -> None:
    x, y, w, h = s.box
    band = min(SECTION_BAND_MM, h)
    p.rect((x, y, w, band), THIN_LINE_PT, stroke=None, fill=BAND_GREY)
    p.c.setFillGray(0)
    p.rect(s.box, THIN_LINE_PT)
    p.line(x, y + band, x + w, y + band, THIN_LINE_PT)
    size = min(LABEL_ZH_PT, band * PT_PER_MM * 0.7)
    _inline(
        p,
        s.title,
        x + 2.0,
        y + band / 2 + _MID * size / PT_PER_MM,
        size,
        size * INLINE_EN_PT / LABEL_ZH_PT,
        room=w - 4.0,
    )


def _draw_text(p: _Page, tx: Text) -> None:
    p.text(tx.at[0], tx.at[1], tx.text, tx.size, bold=tx.bold)


def _qr_widget(payload: str):
    from reportlab.graphics.barcode.qr import QrCodeWidget

    return QrCodeWidget(payload, barLevel=QR_LEVEL, barBorder=QR_QUIET_MODULES)


def _draw_qr(p: _Page, payload: str, box: tuple[float, float, float, float]) -> float:
    """The QR code filling `box` (quiet zone included). Returns the module size in mm."""
    from reportlab.graphics.shapes import Rect

    x, y, w, h = box
    widget = _qr_widget(payload)
    bx0, by0, bx1, by1 = widget.getBounds()  # the symbol with its quiet zone, in widget units
    sx = w * PT_PER_MM / (bx1 - bx0)
    sy = h * PT_PER_MM / (by1 - by0)
    modules = widget.qr.getModuleCount()
    module_mm = min(w, h) / (modules + 2 * QR_QUIET_MODULES)
    if module_mm < MIN_QR_MODULE_MM - 1e-9:
        raise TemplateError(
            f"the page code {payload!r} needs a {modules}x{modules} QR code whose modules would be "
            f"{module_mm:.2f} mm, under the {MIN_QR_MODULE_MM} mm a fax or phone photo still reads; "
            "use a shorter form id"
        )
    p.rect(box, 0, stroke=None, fill=1.0)  # white under the whole symbol
    # The widget's dark modules as one filled path (drawn directly rather than through
    # renderPDF, which would add an unused, unembedded Helvetica to the page resources).
    c = p.c
    c.saveState()
    c.translate(p._x(x), p._y(y + h))
    c.scale(sx, sy)
    c.translate(-bx0, -by0)
    path = c.beginPath()
    for shape in widget.draw().contents:
        if isinstance(shape, Rect) and shape.fillColor is not None:
            path.rect(shape.x, shape.y, shape.width, shape.height)
    c.setFillGray(0)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()
    return module_mm


def _fit_size(text: str, size: float, room: float) -> float:
    return size * _fit([_width_mm(text, size)], room)


def _draw_furniture(p: _Page, t: Template, page_no: int, pages: int) -> None:
    """Marks, QR code, title and footer of one page (page_no from 1)."""
    pw, ph = t.page_size_mm
    cx = pw / 2
    if t.marks:
        for box in mark_boxes(pw, ph):
            p.rect(box, 0, stroke=None, fill=0.0)
        _draw_qr(p, PageCode(t.id, t.version, page_no, pages).payload(), qr_box(pw, ph))
        half_room = min(cx - (mark_boxes(pw, ph)[0][0] + 8.0), qr_box(pw, ph)[0] - 2.0 - cx)
    else:
        half_room = cx - 10.0
    main = t.title.zh or t.title.en or ""
    if page_no == 1:
        size = _fit_size(main, TITLE_PT, 2 * half_room)
        p.text(cx, TITLE_BASELINE_MM, main, size, align="centre", bold=True)
        if t.title.zh and t.title.en:
            size = _fit_size(t.title.en, TITLE_EN_PT, 2 * half_room)
            p.text(cx, TITLE_EN_BASELINE_MM, t.title.en, size, align="centre")
    else:
        size = _fit_size(main, TITLE_LATER_PT, 2 * half_room)
        p.text(cx, TITLE_BASELINE_MM, main, size, align="centre")
    footer = f"{t.id} v{t.version} · 第 {page_no} / {pages} 頁 page {page_no} of {pages}"
    baseline = ph - (297.0 - FOOTER_BASELINE_MM)
    # between the bottom marks, with 3 mm to spare on each side
    left_mark = mark_boxes(pw, ph)[3]
    room = pw - 2 * (left_mark[0] + left_mark[2] + 3.0)
    p.text(cx, baseline, footer, _fit_size(footer, FOOTER_PT, room), align="centre", grey=GREY_TEXT)


def _draw_page(p: _Page, t: Template, page: Page, page_no: int) -> None:
    pw, _ = t.page_size_mm
    _draw_furniture(p, t, page_no, len(t.pages))
    for s in page.sections:
        _draw_section(p, s)
    for tx in page.texts:
        _draw_text(p, tx)
    # Labels beside boxes are fitted (shrunk if need be) into the room left free by the boxes and
    # by the labels placed before them: first those left of boxes, then those right of squares.
    obst = _Obstacles(pw)
    for f in page.fields:
        for box in _field_boxes(f):
            obst.add(box)
        obst.wanted += [_right_label_area(label, box) for label, box in _right_labels(f)]
    option_texts = frozenset(o.text_field for _, f in t.fields() for o in f.options if o.text_field)
    for f in page.fields:
        _draw_field(p, f, obst, option_texts)
    for f in page.fields:
        _draw_right_labels(p, f, obst)


def render_pdf(template: Template) -> bytes:
    """The template's blank form as a PDF, one PDF page per template page.

    The font is embedded (a subset of AR PL UMing TW); the same template gives the same bytes.
    Raises `TemplateError` if the font is not installed.
    """
    from reportlab.pdfgen.canvas import Canvas

    font_name()
    missing = missing_glyphs(template)
    if missing:
        log.warning("%s: the form font has no glyph for %s", template.key, " ".join(missing))
    pw, ph = template.page_size_mm
    buf = io.BytesIO()
    c = Canvas(
        buf,
        pagesize=(pw * PT_PER_MM, ph * PT_PER_MM),
        invariant=1,
        pageCompression=1,
        initialFontName=font_name(),  # no unembedded Helvetica in the resources
        initialFontSize=LABEL_ZH_PT,
    )
    c.setTitle(template.title.text())
    c.setSubject(template.key)
    c.setCreator("form-intake")
    c.setAuthor("")
    for i, page in enumerate(template.pages):
        c.saveState()
        _draw_page(_Page(c, ph), template, page, i + 1)
        c.restoreState()
        c.showPage()
    c.save()
    return buf.getvalue()


# -- rasters ------------------------------------------------------------------------------------
def _rasterise(
    pdf: bytes, size_mm: tuple[float, float], dpi: float, pages: list[int] | None, grey: bool
) -> list[Image.Image]:
    """Render PDF pages with pdfium at exactly `dpi` (no stretch to whole pixels)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    w_px = round(mm_to_px(size_mm[0], dpi))
    h_px = round(mm_to_px(size_mm[1], dpi))
    scale = dpi / 72.0
    fmt = pdfium_c.FPDFBitmap_Gray if grey else pdfium_c.FPDFBitmap_BGR
    flags = pdfium_c.FPDF_ANNOT | (
        pdfium_c.FPDF_GRAYSCALE if grey else pdfium_c.FPDF_REVERSE_BYTE_ORDER
    )
    out = []
    with _pdfium_lock:
        doc = pdfium.PdfDocument(pdf)
        try:
            for i in pages if pages is not None else range(len(doc)):
                page = doc[i]
                try:
                    bitmap = pdfium.PdfBitmap.new_native(w_px, h_px, fmt, rev_byteorder=not grey)
                    bitmap.fill_rect((255, 255, 255, 255), 0, 0, w_px, h_px)
                    matrix = pdfium_c.FS_MATRIX(scale, 0, 0, scale, 0, 0)
                    clip = pdfium_c.FS_RECTF(0, 0, w_px, h_px)
                    pdfium_c.FPDF_RenderPageBitmapWithMatrix(
                        bitmap, page, ctypes.byref(matrix), ctypes.byref(clip), flags
                    )
                    out.append(bitmap.to_pil().copy())  # not backed by the bitmap's buffer
                finally:
                    page.close()
        finally:
            doc.close()
    return out


def render_pages(template: Template, dpi: int = 300, *, grey: bool = True) -> list[Image.Image]:
    """The blank form's pages as images (mode "L" when `grey`, else "RGB"), rendered from the PDF.

    Each image is the page size in mm / 25.4 * dpi, rounded (A4 at 300 dpi: 2480 x 3508).
    """
    return _rasterise(render_pdf(template), template.page_size_mm, dpi, None, grey)


@lru_cache(maxsize=8)
def _cached_pdf(template: _ByKey) -> bytes:
    return render_pdf(template.t)


class _ByKey:
    """A template compared and hashed by its content fingerprint, for the caches."""

    __slots__ = ("t",)

    def __init__(self, t: Template) -> None:
        self.t = t

    def __hash__(self) -> int:
        return hash(self.t.fingerprint)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByKey) and other.t.fingerprint == self.t.fingerprint


@lru_cache(maxsize=16)
def _cached_blank(template: _ByKey, page: int, dpi: int) -> Image.Image:
    t = template.t
    return _rasterise(_cached_pdf(template), t.page_size_mm, dpi, [page], True)[0]


def blank_page(template: Template, page: int, dpi: int) -> Image.Image:
    """The blank printed page `page` (0-based) of `template` at `dpi`, mode "L". Cached.

    The image is shared between callers, cached by ``template.key`` (a template version never
    changes once published), page and dpi: call ``.copy()`` before drawing on it or changing it.
    """
    if not 0 <= page < len(template.pages):
        raise TemplateError(f"{template.key} has no page {page + 1} (it has {len(template.pages)})")
    return _cached_blank(_ByKey(template), page, int(dpi))
