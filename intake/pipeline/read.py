"""Reading every field of a registered page, by field type.

The page is first warped into template space at `CANON_DPI`; each field is then cut out at its
template box. Empty fields are recognised from their ink and never sent to OCR. Text is read by
two engines that work differently: Tesseract, with settings per type (language, whitelist,
single-line mode) on writing cut out and scaled to the height its models read best (~20 px), and
PP-OCRv6 (`engines/ppocr.py`) on the same writing at 28 px; a value is accepted only when both
read it alike (or, for dates, phones and numbers, on one confident valid Tesseract reading).
Comb fields are read cell by cell. Checkboxes are measured, not recognised: the share of the
square's inside covered by ink.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from intake.errors import OcrTimeout
from intake.forms.model import Field, Slot, Template
from intake.pipeline import confidence as conf
from intake.pipeline.engines.tesseract import PSM_SINGLE_CHAR, PSM_SINGLE_LINE, OcrResult
from intake.pipeline.ink import (
    InkBlob,
    digit_shape_agrees,
    find_square,
    line_digits_agree,
    line_image,
    paper_level,
    writing,
)
from intake.pipeline.types import FieldReading, FieldStatus
from intake.values import normalize

CANON_DPI = 200.0
PX_PER_MM = CANON_DPI / 25.4

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class OcrSetting:
    lang: str
    whitelist: str | None = None


# First setting, then the retry used when the first reading is empty or does not validate.
OCR_SETTINGS: dict[str, tuple[OcrSetting, ...]] = {
    "name": (OcrSetting("chi_tra"),),
    "text": (OcrSetting("chi_tra"),),
    "address": (OcrSetting("chi_tra"),),
    # eng before chi_tra: on 80 synthetic ID combs (seed 3) it read 76 exactly against 72, in half the time
    "national_id": (OcrSetting("eng", UPPER + DIGITS), OcrSetting("chi_tra", UPPER + DIGITS)),
    "date": (OcrSetting("chi_tra", DIGITS + "年月日民國/.-"), OcrSetting("eng", DIGITS + "/.-")),
    "phone": (OcrSetting("eng", DIGITS + "-()+ "), OcrSetting("chi_tra", DIGITS + "-()+")),
    "number": (OcrSetting("eng", DIGITS + "."), OcrSetting("chi_tra", DIGITS)),
}

# Empty: less ink than a short stroke. Marks: share of the square's inside covered by ink.
EMPTY_INK_MM2 = 0.6
MARK_MIN_FILL = 0.045
FILLED_MIN_FILL = 0.72
SIGNATURE_MIN_INK_MM2 = 4.0


@dataclass
class PageContext:
    """What the field readers need about one registered page."""

    canon: np.ndarray  # the page warped into template space at CANON_DPI, grey
    paper: float
    engine: Any  # TesseractEngine or CliEngine
    keep_crops: bool = False
    crops: dict[str, np.ndarray] = field(default_factory=dict)
    template: Template | None = None
    page: int = 0  # 0-based template page
    second: Any = None  # the independent reader (PPOCREngine "small"); this thread's own when None
    fast: Any = None  # its fast first pass (PPOCREngine "tiny"); this thread's own when None

    @property
    def ppocr(self) -> Any:
        if self.second is None:
            from intake.pipeline.engines.ppocr import default_ppocr

            self.second = default_ppocr("small")
        return self.second

    @property
    def ppocr_tiny(self) -> Any:
        if self.fast is None:
            from intake.pipeline.engines.ppocr import default_ppocr

            self.fast = default_ppocr("tiny")
        return self.fast


def warp_to_template(img: np.ndarray, H: np.ndarray, template: Template) -> np.ndarray:
    """The page in template space: mm * PX_PER_MM, white outside the scan."""
    w_mm, h_mm = template.page_size_mm
    S = np.diag([PX_PER_MM, PX_PER_MM, 1.0])
    size = (round(w_mm * PX_PER_MM), round(h_mm * PX_PER_MM))
    return cv2.warpPerspective(img, S @ H, size, flags=cv2.INTER_LINEAR, borderValue=255)


def _px(box: tuple[float, float, float, float], shrink_mm: float = 0.0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    s = shrink_mm
    return (round((x + s) * PX_PER_MM), round((y + s) * PX_PER_MM),
            round((x + w - s) * PX_PER_MM), round((y + h - s) * PX_PER_MM))


def _crop(ctx: PageContext, box: tuple[float, float, float, float], shrink_mm: float = 0.0) -> np.ndarray:
    x0, y0, x1, y1 = _px(box, shrink_mm)
    h, w = ctx.canon.shape
    return ctx.canon[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]


# ------------------------------------------------------------------------- marks
# How far around a checkbox's template box its printed square is looked for. A wider search
# (2 mm) found squares on pages registered 1.5 mm off but took neighbouring ink for edges on fax
# scans (3 marks accepted wrong on the seed-2 holdout instead of 0); a box whose square is not
# found and that has ink inside is sent to review instead (see `_mark`).
MARK_SEARCH_MM = 1.2


def measure_mark(ctx: PageContext, box: tuple[float, float, float, float]) -> tuple[float, bool]:
    """Share of the inside of a printed square covered by ink (0 empty .. 1 filled), and whether
    the square was found (when not, the inside is taken where the registration puts it)."""
    x, y, w, h = box
    margin = MARK_SEARCH_MM
    region = _crop(ctx, (x - margin, y - margin, w + 2 * margin, h + 2 * margin))
    sq = find_square(region, PX_PER_MM, min(w, h))
    if sq is not None:
        x0, y0, x1, y1 = sq
    else:  # the border is not visible (e.g. fully filled and bled): trust the registration
        x0, y0 = round(margin * PX_PER_MM), round(margin * PX_PER_MM)
        x1, y1 = x0 + round(w * PX_PER_MM), y0 + round(h * PX_PER_MM)
    inset = max(2, round(0.45 * PX_PER_MM))
    inner = region[y0 + inset:y1 - inset, x0 + inset:x1 - inset]
    if inner.size == 0:
        return 0.0, sq is not None
    level = min(ctx.paper * 0.62, 180.0)
    return float((inner < level).mean()), sq is not None


def mark_state(fill: float, fill_cancels: bool) -> tuple[str, float]:
    """('empty' | 'marked' | 'filled', margin 0..1 from the nearest threshold)."""
    if fill < MARK_MIN_FILL:
        return "empty", conf.mark_margin(fill, MARK_MIN_FILL, below=True)
    if fill_cancels and fill >= FILLED_MIN_FILL:
        return "filled", conf.mark_margin(fill, FILLED_MIN_FILL, below=False)
    if fill_cancels:
        return "marked", min(conf.mark_margin(fill, MARK_MIN_FILL, below=False),
                             conf.mark_margin(fill, FILLED_MIN_FILL, below=True))
    return "marked", conf.mark_margin(fill, MARK_MIN_FILL, below=False)


def _mark(ctx: PageContext, box: tuple[float, float, float, float], fill_cancels: bool
          ) -> tuple[float, str, float, bool]:
    """(fill, state, margin, doubtful) of one box. A box whose printed square was not found is
    measured where the registration puts it. That is trusted when the inside is clean (a scan
    that lost the square's faint sides, as on queXF's blank form) or filled past the border
    (where the border cannot show); ink in between may be the square's own edge: doubtful, a
    person looks."""
    fill, found = measure_mark(ctx, box)
    state, margin = mark_state(fill, fill_cancels)
    doubtful = not found and MARK_MIN_FILL / 3 <= fill < FILLED_MIN_FILL
    return fill, state, 0.0 if doubtful else margin, doubtful


def read_checkbox(ctx: PageContext, slot: Slot) -> FieldReading:
    f = slot.field
    fill, state, margin, doubtful = _mark(ctx, slot.box, f.fill_cancels)
    value = state == "marked"
    errors = ["mark.square_not_found"] if doubtful else []
    if state == "filled":
        errors.append("mark.cancelled")  # a cancelled mark with nothing else: a person decides
    c = conf.for_marks([margin])
    status = FieldStatus.ACCEPTED if not errors and c >= conf.MARK_ACCEPT else FieldStatus.NEEDS_REVIEW
    return FieldReading(slot.path, f.type, value, None, c, status, errors, slot.page, slot.box, "marks",
                        {"fill": round(fill, 4), "state": state})


def read_choice(ctx: PageContext, slot: Slot) -> FieldReading:
    f = slot.field
    fills: dict[str, float] = {}
    states: dict[str, str] = {}
    margins = []
    doubts = []
    for o in f.options:
        fill, state, margin, doubtful = _mark(ctx, o.box, f.fill_cancels)
        fills[o.value], states[o.value] = round(fill, 4), state
        margins.append(margin)
        doubts.append(doubtful)
    marked = [v for v, s in states.items() if s == "marked"]
    cancelled = [v for v, s in states.items() if s == "filled"]
    errors: list[str] = ["mark.square_not_found"] if any(doubts) else []
    if f.multiple:
        value: Any = marked
        if cancelled and not marked:
            errors.append("mark.cancelled_only")
    else:
        if len(marked) > 1:
            errors.append("choice.several_marked")
            value = None
        else:
            value = marked[0] if marked else None
            if cancelled and not marked:
                errors.append("mark.cancelled_only")
    c = conf.for_marks(margins)
    status = FieldStatus.ACCEPTED if not errors and c >= conf.MARK_ACCEPT else FieldStatus.NEEDS_REVIEW
    return FieldReading(slot.path, f.type, value, None, c, status, errors, slot.page, slot.box, "marks",
                        {"fills": fills, "states": states})


def read_signature(ctx: PageContext, slot: Slot) -> FieldReading:
    crop = _crop(ctx, slot.box, 0.8)
    blob = writing(crop, ctx.paper, PX_PER_MM)
    ink_mm2 = blob.area / PX_PER_MM**2
    present = ink_mm2 >= SIGNATURE_MIN_INK_MM2
    margin = conf.mark_margin(ink_mm2, SIGNATURE_MIN_INK_MM2, below=not present, scale=SIGNATURE_MIN_INK_MM2)
    c = conf.for_marks([margin])
    if ctx.keep_crops:
        ctx.crops[slot.path] = crop.copy()
    status = FieldStatus.ACCEPTED if c >= conf.MARK_ACCEPT else FieldStatus.NEEDS_REVIEW
    return FieldReading(slot.path, "signature", present, None, c, status, [], slot.page, slot.box, "ink",
                        {"ink_mm2": round(ink_mm2, 2)})


# ------------------------------------------------------------------------- text
def _ocr(ctx: PageContext, img: np.ndarray, s: OcrSetting, psm: int = PSM_SINGLE_LINE, symbols: bool = False) -> OcrResult:
    return ctx.engine.read(img, lang=s.lang, psm=psm, whitelist=s.whitelist, symbols=symbols)


def _cells(ctx: PageContext, slot: Slot) -> list[tuple[np.ndarray, InkBlob]]:
    x, y, w, h = slot.box
    n = slot.field.cells or 1
    cw = w / n
    out = []
    for i in range(n):
        crop = _crop(ctx, (x + i * cw, y, cw, h), 0.6)
        out.append((crop, writing(crop, ctx.paper, PX_PER_MM, min_speck_mm2=0.08)))
    return out


# Tesseract reads a line at FIRST; when PP-OCR's reading differs, once more at SECOND: its errors
# on small crops change with the scale. (ink height px, white border px); measured on synthetic
# crops, see bench/accuracy.
FIRST, SECOND = (20, 10), (16, 4)
# Digits on a line whose loops are checked against what was read (comb fields check every cell).
LOOP_CHECKED = frozenset({"number", "phone"})
# Types whose validators (checksums, formats) catch most misreadings: a confident valid first
# reading is not read by the second engine.
STRONG_TYPES = frozenset({"date", "phone", "number"})  # not IDs: 1 in 10 misreads passes a checksum
STRONG_SKIP_CONF = 90.0
# A value Tesseract and PP-OCR's tiny recogniser read alike settles a field only when both were
# at least this sure; below it the small recogniser reads too. Without a floor, 5 of the 7,308
# tiny agreements on the seed-7 calibration set were wrong (handwritten 4 read 1 by both, 宇 as
# 字, 古 as 占), 4 of them below 70; with a floor of 70 the seed-2 holdout had 2 wrong, at 77 and
# 78 (4 read 1 again, 三段 as 二段). At 80, 8.5% of the tiny agreements go on to the small one.
TINY_AGREE_MIN_CONF = 80.0


@dataclass
class Reading:
    text: str
    conf: float  # lowest word (or cell) confidence over the lines, 0..100
    value: Any = None
    problems: list[str] = field(default_factory=list)


def _filled_cells(cells: list[tuple[np.ndarray, InkBlob]]) -> list[tuple[np.ndarray, InkBlob]]:
    return [(crop, blob) for crop, blob in cells if blob.area / PX_PER_MM**2 >= EMPTY_INK_MM2 / 3]


# px of white between two cells' writing on the strip: Tesseract's symbols are placed back into
# their cells by position, so its strip keeps them well apart; PP-OCR reads the strip as one
# line and read as well with a narrower gap (79 of 80 IDs either way), in 18% less time
COMB_GAP, PPOCR_COMB_GAP = 14, 6


def _comb_strip(filled: list[tuple[np.ndarray, InkBlob]], ink_h: int, pad: int, gap: int = COMB_GAP
                ) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int]]]:
    """Each filled cell's writing placed on one strip: (strip, glyphs, x span of each glyph)."""
    glyphs = [line_image(crop, blob, target_h=ink_h, pad=0) for crop, blob in filled]
    height = max(g.shape[0] for g in glyphs) + 2 * pad
    width = sum(g.shape[1] for g in glyphs) + gap * (len(glyphs) - 1) + 2 * pad
    strip = np.full((height, width), 255, np.uint8)
    spans = []
    xcur = pad
    for g in glyphs:
        top = (height - g.shape[0]) // 2
        strip[top:top + g.shape[0], xcur:xcur + g.shape[1]] = g
        spans.append((xcur, xcur + g.shape[1]))
        xcur += g.shape[1] + gap
    return strip, glyphs, spans


def _digits_match_ink(f: Field, units: list[tuple[np.ndarray, InkBlob]], text: str) -> bool:
    """Whether every digit read has the loops of what is written there (3 read as 8, 0 as 5:
    a checksum cannot see a change by 5): cell by cell in a comb, piece by piece on the line
    of a number or phone."""
    if f.cells:
        filled = _filled_cells(units)
        return len(text) == len(filled) and all(
            digit_shape_agrees(c, blob.mask, PX_PER_MM) for c, (_, blob) in zip(text, filled, strict=True))
    if f.type in LOOP_CHECKED and len(units) == 1:
        return line_digits_agree(text, units[0][1].mask, PX_PER_MM)
    return True


def _read_comb(ctx: PageContext, cells: list[tuple[np.ndarray, InkBlob]], setting: OcrSetting,
               variant: tuple[int, int]) -> Reading:
    """Cell by cell: each cell's writing placed on one strip, read in one call, symbols mapped
    back to cells by position; a cell the strip reading cannot place is read alone."""
    filled = _filled_cells(cells)
    if not filled:
        return Reading("", 0.0)
    strip, glyphs, spans = _comb_strip(filled, variant[0] + 2, max(8, variant[1]))
    gap = COMB_GAP
    r = _ocr(ctx, strip, setting, symbols=True)
    chars: list[str | None] = [None] * len(glyphs)
    confs: list[float] = [0.0] * len(glyphs)
    for sym in r.symbols:
        cx = (sym.box[0] + sym.box[2]) / 2
        for k, (a, b) in enumerate(spans):
            if a - gap / 2 <= cx <= b + gap / 2:
                if chars[k] is None:
                    chars[k], confs[k] = sym.text, sym.conf
                else:  # two symbols in one cell: keep both, the lower confidence counts
                    chars[k] = (chars[k] or "") + sym.text
                    confs[k] = min(confs[k], sym.conf)
                break
    for k, ch in enumerate(chars):
        if ch is None or len(ch) != 1:
            single = _ocr(ctx, cv2.copyMakeBorder(glyphs[k], 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=255),
                          setting, psm=PSM_SINGLE_CHAR)
            chars[k] = single.text[:1] if single.text else "?"
            confs[k] = single.min_conf if single.text else 0.0
    text = "".join(c or "" for c in chars)
    return Reading(text, min(confs))


def _line_boxes(slot: Slot) -> list[tuple[float, float, float, float]]:
    x, y, w, h = slot.box
    n = slot.field.lines
    pitch = h / n
    return [(x, y + i * pitch, w, pitch) for i in range(n)]


def _writing_lines(ctx: PageContext, slot: Slot) -> tuple[list[tuple[np.ndarray, InkBlob]], float]:
    """The writing of each ruled line that has any, and the total ink in mm2."""
    lines, ink = [], 0.0
    for box in _line_boxes(slot):
        crop = _crop(ctx, box, 0.7)
        blob = writing(crop, ctx.paper, PX_PER_MM)
        mm2 = blob.area / PX_PER_MM**2
        ink += mm2
        if mm2 >= EMPTY_INK_MM2:
            lines.append((crop, blob))
    return lines, ink


def _read_lines(ctx: PageContext, lines: list[tuple[np.ndarray, InkBlob]], setting: OcrSetting,
                variant: tuple[int, int]) -> Reading:
    texts, confs = [], []
    for crop, blob in lines:
        r = _ocr(ctx, line_image(crop, blob, target_h=variant[0], pad=variant[1]), setting)
        texts.append(r.text)
        confs.append(r.min_conf)
    return Reading(" ".join(t for t in texts if t), min(confs) if confs else 0.0)


def _ppocr_lines(units: list[tuple[np.ndarray, InkBlob]], comb: bool) -> list[np.ndarray]:
    """What PP-OCR reads: each line's writing at its ink height, or the comb's filled cells on
    one strip (none when no cell is filled). Made once for both recognisers."""
    from intake.pipeline.engines.ppocr import INK_HEIGHT, PAD

    if comb:
        filled = _filled_cells(units)
        return [_comb_strip(filled, INK_HEIGHT, PAD, PPOCR_COMB_GAP)[0]] if filled else []
    return [line_image(crop, blob, target_h=INK_HEIGHT, pad=PAD) for crop, blob in units]


def _read_ppocr(eng: Any, lines: list[np.ndarray], comb: bool) -> Reading:
    """The independent reading: a PP-OCRv6 recogniser over each line (or over the comb's strip of
    cells); confidence is the lowest line score, on Tesseract's 0..100 scale."""
    if not lines:
        return Reading("", 0.0)
    results = [eng.read_line(img) for img in lines]
    if comb:
        return Reading("".join(results[0].text.split()), 100.0 * results[0].score)
    return Reading(" ".join(r.text for r in results if r.text), 100.0 * min(r.score for r in results))


def _normalised(ftype: str, r: Reading) -> Reading:
    value, problems = normalize(ftype, r.text)
    r.value, r.problems = value, [p.code for p in problems]
    if value is None and not r.problems:
        r.problems = ["unreadable"]  # there is ink but the engine read nothing
    return r


def _soft_flags(f: Field, value: Any) -> list[str]:
    """Reasons for a person to look although the value is valid."""
    from intake.gazetteer import known_surname, unknown_precincts, variant_surname

    if f.expected and value not in f.expected:
        return [f"{f.type}.unexpected_value"]
    if f.type == "text" and isinstance(value, str) and "警察局" in value and unknown_precincts(value):
        return ["text.unknown_precinct"]
    if f.type == "name" and isinstance(value, str) and "\u4e00" <= value[:1] <= "\u9fff":
        if not known_surname(value):
            return ["name.rare_surname"]
        if variant_surname(value):
            return ["name.variant_surname"]
    return []


def read_text(ctx: PageContext, slot: Slot) -> FieldReading:
    f = slot.field
    settings = OCR_SETTINGS[f.type]
    if f.ocr is not None:
        settings = (OcrSetting(f.ocr.lang or settings[0].lang, f.ocr.whitelist or settings[0].whitelist),) + settings[1:]
    if ctx.keep_crops:
        ctx.crops[slot.path] = _crop(ctx, slot.box).copy()
    if f.cells:
        units = _cells(ctx, slot)
        ink = sum(b.area for _, b in units) / PX_PER_MM**2
        reader = _read_comb
    else:
        units, ink = _writing_lines(ctx, slot)
        reader = _read_lines
    if ink < EMPTY_INK_MM2:  # nothing written: no OCR
        c = conf.for_empty(ink, EMPTY_INK_MM2)
        errors = ["required"] if f.required else []
        status = FieldStatus.ACCEPTED if not errors and c >= conf.EMPTY_ACCEPT else FieldStatus.NEEDS_REVIEW
        return FieldReading(slot.path, f.type, None, "", c, status, errors, slot.page, slot.box, "ink",
                            {"ink_mm2": round(ink, 2)})
    # Tesseract first: the first setting, then the retries while the reading does not validate
    attempts: list[dict[str, Any]] = []
    first: Reading | None = None
    first_setting = settings[0]
    for setting in settings:
        a = _normalised(f.type, reader(ctx, units, setting, FIRST))
        attempts.append({"engine": "tesseract", "lang": setting.lang, "text": a.text, "conf": a.conf})
        if first is None or (first.problems and not a.problems):
            first, first_setting = a, setting
        if not a.problems:
            break
    assert first is not None
    retried = len(attempts) > 1  # the first setting's reading did not validate
    chosen, agreement, engine = first, "single", f"tesseract:{first_setting.lang}"
    strong = f.type in STRONG_TYPES and not first.problems and first.conf >= STRONG_SKIP_CONF
    if not strong:
        agreeing: Reading | None = None
        agreed = "agree"
        pp_lines = _ppocr_lines(units, bool(f.cells))
        # PP-OCR's tiny recogniser first (a quarter of the time): its reading counts only when
        # it is the value Tesseract read and neither engine was unsure
        pp_engine = ctx.ppocr_tiny
        if not first.problems:
            q = _normalised(f.type, _read_ppocr(pp_engine, pp_lines, bool(f.cells)))
            attempts.append({"engine": pp_engine.name, "text": q.text, "conf": q.conf})
            if not q.problems and q.value == first.value and min(first.conf, q.conf) >= TINY_AGREE_MIN_CONF:
                agreeing, agreed, p = first, "agree_tiny", q
        # otherwise the small recogniser; when it differs too, Tesseract's second reading at
        # another scale gets a chance to agree with it
        if agreeing is None:
            pp_engine = ctx.ppocr
            p = _normalised(f.type, _read_ppocr(pp_engine, pp_lines, bool(f.cells)))
            attempts.append({"engine": pp_engine.name, "text": p.text, "conf": p.conf})
        if agreeing is None and not p.problems:
            if not first.problems and first.value == p.value:
                agreeing = first
            else:  # two readings of three agree: calibrated on its own, it is a weaker signal
                agreed = "agree_second"
                b = _normalised(f.type, reader(ctx, units, first_setting, SECOND))
                attempts.append({"engine": "tesseract", "lang": first_setting.lang, "text": b.text, "conf": b.conf,
                                 "scale": "second"})
                if not b.problems and b.value == p.value:
                    agreeing = b
        if agreeing is not None:
            chosen, agreement = agreeing, agreed
            chosen.conf = min(agreeing.conf, p.conf)
            engine = f"{pp_engine.name}+tesseract:{first_setting.lang}"
        else:
            agreement = "disagree"
            if not p.problems or first.problems:  # the engine that is right far more often
                chosen, engine = p, pp_engine.name
    errors = list(chosen.problems)
    valid = not errors
    # The loops guard one engine's digit swaps that a checksum cannot see (3/8, 0/5, 1/6); two
    # engines that read the same digits the first time are the stronger evidence: on the seed-2
    # and seed-7 sets all 185 such IDs whose loops disagreed were right.
    if valid and agreement not in ("agree", "agree_tiny") and not _digits_match_ink(f, units, chosen.text):
        errors.append(f"{f.type}.digit_shape")
    if valid:
        errors += _soft_flags(f, chosen.value)
    c = conf.text_confidence(f.type, chosen.conf, valid=valid, agreement=agreement, retried=retried)
    ok = not errors and conf.accept_text(f.type, chosen.conf, valid=valid, agreement=agreement)
    if not errors and not ok:
        errors = ["readings_disagree" if agreement == "disagree" else "low_confidence"]
    return FieldReading(slot.path, f.type, chosen.value, chosen.text, c,
                        FieldStatus.ACCEPTED if ok else FieldStatus.NEEDS_REVIEW, errors, slot.page, slot.box,
                        engine,
                        {"ink_mm2": round(ink, 2), "engine_conf": chosen.conf, "agreement": agreement,
                         "attempts": attempts})


# A checkbox's or choice's crop (for the review station): its squares with this much around them,
# and room on the right for the labels printed there (the renderer puts them right of squares).
MARK_CROP_MARGIN_MM = 2.0
MARK_CROP_LABEL_MM = 24.0


def _keep_mark_crop(ctx: PageContext, slot: Slot) -> None:
    x, y, w, h = slot.box
    m = MARK_CROP_MARGIN_MM
    ctx.crops[slot.path] = _crop(ctx, (max(0.0, x - m), max(0.0, y - m), w + 2 * m + MARK_CROP_LABEL_MM,
                                       h + 2 * m)).copy()


def read_slot(ctx: PageContext, slot: Slot) -> FieldReading:
    """One field's reading. A reading sent to review always names why (`low_confidence` when no
    check failed but the reading was too close to call)."""
    try:
        r = _read_slot(ctx, slot)
    except OcrTimeout as exc:  # one pathological field: a person reads it, the page goes on
        r = FieldReading(slot.path, slot.field.type, None, None, 0.0, FieldStatus.NEEDS_REVIEW, [exc.code],
                         slot.page, slot.box, "tesseract", {"reason": exc.message})
    if r.status == FieldStatus.NEEDS_REVIEW and not r.errors:
        r.errors = ["low_confidence"]
    if ctx.keep_crops and slot.field.type in ("checkbox", "choice") and slot.path not in ctx.crops:
        _keep_mark_crop(ctx, slot)
    return r


def _read_slot(ctx: PageContext, slot: Slot) -> FieldReading:
    t = slot.field.type
    if t in ("choice", "checkbox") and slot.field.mark_style == "bubble":
        from intake.pipeline.bubbles import read_bubble_choice

        return read_bubble_choice(ctx, slot)
    if t == "checkbox":
        return read_checkbox(ctx, slot)
    if t == "choice":
        return read_choice(ctx, slot)
    if t == "signature":
        return read_signature(ctx, slot)
    return read_text(ctx, slot)


def read_page_fields(img: np.ndarray, H: np.ndarray, template: Template, page: int, engine: Any,
                     keep_crops: bool = False) -> tuple[list[FieldReading], dict[str, np.ndarray]]:
    canon = warp_to_template(img, H, template)
    ctx = PageContext(canon, paper_level(canon), engine, keep_crops, template=template, page=page)
    readings = [read_slot(ctx, s) for s in template.slots() if s.page == page]
    return readings, ctx.crops


_ROW = re.compile(r"^(\w+)\[(\d+)\]\.(\w+)$")


def field_of(template: Template, path: str) -> Field:
    m = _ROW.match(path)
    if m:
        table = template.field(m.group(1))
        return next(c for c in table.columns if c.name == m.group(3))
    return template.field(path)
