"""Reading every field of a registered page, by field type.

The page is first warped into template space at `CANON_DPI`; each field is then cut out at its
template box. Empty fields are recognised from their ink and never sent to OCR. Text is read by
two engines that work differently: Tesseract, with settings per type (language, whitelist,
single-line mode) on writing cut out and scaled to the height its models read best (~20 px), and
PP-OCRv6 (`engines/ppocr.py`) on the same writing at 28 px; a value is accepted only when both
read it alike (or, for dates, phones and numbers, on one confident valid Tesseract reading).
Comb fields are read cell by cell. Checkboxes are measured, not recognised (`marks.py`).

A text field is read in three named steps (`read_text`): `first_readings` (Tesseract, with its
retry settings), `second_opinion` (PP-OCR's recognisers and Tesseract's second reading, giving
a typed `Verdict`: which readings agreed, and the value kept), and `route` (the checks and the
calibrated confidence that accept the value or send it to a person). The engines are used only
through their contract (`engines/contract.py`), so tests drive every branch with fake engines.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from intake.errors import OcrTimeout
from intake.forms.model import Field, Slot, Template
from intake.forms.registry import Registry
from intake.forms.rules import is_empty
from intake.pipeline import confidence as conf
from intake.pipeline.engines.contract import (
    PSM_SINGLE_CHAR,
    PSM_SINGLE_LINE,
    CharChoice,
    LineRecognizer,
    OcrResult,
    PageEngine,
)
from intake.pipeline.ink import (
    SPECK_MM2,
    InkBlob,
    digit_shape_agrees,
    ink_percentile,
    line_digits_agree,
    line_image,
    paper_level,
    writing,
)

# Tick boxes are judged in `marks` (illumination-normalised, by shape and faint ink as well as fill)
from intake.pipeline.marks import (
    faint_page,
    print_kept,
    read_checkbox,
    read_choice,
    speck_rate,
    text_traces,
    traces_exceed,
)
from intake.pipeline.quality import PageQuality, scan_dpi
from intake.pipeline.quality import measure as measure_quality
from intake.pipeline.types import Agreement, FieldReading, FieldStatus
from intake.values import has_ideograph, is_han, normalize

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

# Empty: less ink than a short stroke. (Tick boxes: see intake.pipeline.marks.)
EMPTY_INK_MM2 = 0.6
SIGNATURE_MIN_INK_MM2 = 4.0
# A text field with no dark ink but faint writing (light blue ballpoint, pencil) is read from the
# flattened, stretched page; True: such a reading always goes to a person (`faint_ink`). False
# since 2026-12-02: such a reading is routed like any other (the engines must agree, the checks
# pass, the calibrated cutoffs hold). On the tuning sets (bench/accuracy --count 8, seed 61 unseen
# faces 30% handwriting, seed 67 classic) the routing would have accepted 48 wholly faint readings
# that this sent to review, all 48 right (handwriting straight-through +7.6 points on seed 61).
# Writing only partly faint (`_reaches_further`: some strokes dark, the rest lighter) still always
# goes to a person: every engine then reads the dark part alike.
FAINT_TEXT_REVIEW = False


@dataclass
class PageContext:
    """What the field readers need about one registered page."""

    canon: np.ndarray  # the page warped into template space at CANON_DPI, grey
    paper: float
    engine: PageEngine | None  # Tesseract (None on a page with no text fields to read)
    keep_crops: bool = False
    crops: dict[str, np.ndarray] = field(default_factory=dict)
    template: Template | None = None
    page: int = 0  # 0-based template page
    second: LineRecognizer | None = None  # the independent reader (PP-OCR "small"); this thread's own when None
    fast: LineRecognizer | None = None  # its fast first pass (PP-OCR "tiny"); this thread's own when None
    quality: PageQuality | None = None  # the page's quality class (`quality.py`): marks and confidence tables
    registry: Registry | None = None  # whose blank pages the marks compare with; the default one when None

    @property
    def quality_cls(self) -> str | None:
        """The page's quality class (`quality.CLASSES`), None where it was not measured."""
        return self.quality.cls if self.quality is not None else None

    @property
    def tesseract(self) -> PageEngine:
        if self.engine is None:
            raise ValueError("this page context has no Tesseract engine to read text with")
        return self.engine

    @property
    def ppocr(self) -> LineRecognizer:
        if self.second is None:
            from intake.pipeline.engines.ppocr import default_ppocr

            self.second = default_ppocr("small")
        return self.second

    @property
    def ppocr_tiny(self) -> LineRecognizer:
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


def cut_out(ctx: PageContext, box: tuple[float, float, float, float], shrink_mm: float = 0.0) -> np.ndarray:
    x0, y0, x1, y1 = _px(box, shrink_mm)
    h, w = ctx.canon.shape
    return ctx.canon[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]


def read_signature(ctx: PageContext, slot: Slot) -> FieldReading:
    crop = cut_out(ctx, slot.box, 0.8)
    blob = writing(crop, ctx.paper, PX_PER_MM)
    ink_mm2 = blob.area / PX_PER_MM**2
    present = ink_mm2 >= SIGNATURE_MIN_INK_MM2
    margin = conf.mark_margin(ink_mm2, SIGNATURE_MIN_INK_MM2, below=not present, scale=SIGNATURE_MIN_INK_MM2)
    c = conf.for_marks([margin])
    if ctx.keep_crops:
        ctx.crops[slot.path] = crop.copy()
    status = FieldStatus.ACCEPTED if c >= conf.MARK_ACCEPT else FieldStatus.NEEDS_REVIEW
    return FieldReading(path=slot.path, type="signature", value=present, text=None, confidence=c, status=status,
                        errors=[], page=slot.page, box=slot.box, engine="ink", details={"ink_mm2": round(ink_mm2, 2)})


# ------------------------------------------------------------------------- text
def _ocr(ctx: PageContext, img: np.ndarray, s: OcrSetting, psm: int = PSM_SINGLE_LINE, symbols: bool = False) -> OcrResult:
    return ctx.tesseract.read(img, lang=s.lang, psm=psm, whitelist=s.whitelist, symbols=symbols)


def _cells(ctx: PageContext, slot: Slot) -> list[tuple[np.ndarray, InkBlob]]:
    x, y, w, h = slot.box
    n = slot.field.cells or 1
    cw = w / n
    out = []
    for i in range(n):
        crop = cut_out(ctx, (x + i * cw, y, cw, h), 0.6)
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
# ... nor, in a name, where the tiny recogniser chose a Chinese character by less than
# `SPLIT_MARGIN` over another one (not merely another form of it, 张 behind 張): the small one reads
# too (`_tiny_torn`). Fresh seed 811, an office scan: a typed 廖宜蓁 read 廖宜業 by Tesseract (at
# 90) and the tiny recogniser (業 0.43 over 萘 0.33), accepted as agreed. Over the names accepted
# on Tesseract's and the tiny recogniser's word on seeds 647-811, that one and one right name
# (江美華, 華 0.23 over 车) were so. Nor where the tiny recogniser read a character listed as
# confusable (`confusables.json`) with one it cannot read at all: `bench/rescans --seed 797`
# (yellow, pink and black-and-white copies): a handwritten 闕志文 read 關志文 by Tesseract (84-86)
# and the tiny recogniser, which has no 闕 (nor 29 other surnames), sure, accepted three times.


@dataclass(frozen=True)
class Reading:
    """One engine's reading of a text field, normalised (`_normalised`) once read."""

    text: str
    conf: float  # lowest word (or cell) confidence over the lines, 0..100
    value: Any = None
    problems: tuple[str, ...] = ()  # validation codes; empty: the value is valid
    chars: tuple[CharChoice, ...] = ()  # PP-OCR's: each character with its runner-up (lines joined by " ")
    charset: frozenset[str] | None = None  # the characters the recogniser can read at all, where it says

    @property
    def unspaced_chars(self) -> list[CharChoice]:
        """`chars` without the spaces (between lines, or read between words)."""
        return [c for c in self.chars if not c.text.isspace()]


def _cell_filled(blob: InkBlob) -> bool:
    return blob.area / PX_PER_MM**2 >= EMPTY_INK_MM2 / 3


def _filled_cells(cells: list[tuple[np.ndarray, InkBlob]]) -> list[tuple[np.ndarray, InkBlob]]:
    return [(crop, blob) for crop, blob in cells if _cell_filled(blob)]


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


def _digits_match_ink(f: Field, units: list[tuple[np.ndarray, InkBlob]], text: str, unchecked: bool = True) -> bool:
    """Whether every digit read has the loops of what is written there (3 read as 8, 0 as 5:
    a checksum cannot see a change by 5): cell by cell in a comb, piece by piece on the line
    of a number or phone. Where the line's ink cannot be matched to the characters read (its
    writing on more than one line, or split into more or fewer pieces than characters), the
    answer is `unchecked`; other types are not checked (True)."""
    if f.cells:
        filled = _filled_cells(units)
        return len(text) == len(filled) and all(
            digit_shape_agrees(c, blob.mask, PX_PER_MM) for c, (_, blob) in zip(text, filled, strict=True))
    if f.type in LOOP_CHECKED:
        if len(units) != 1:
            return unchecked
        return line_digits_agree(text, units[0][1].mask, PX_PER_MM, unchecked)
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
    near = ctx.quality_cls != "fax"  # a fax's pepper is no punctuation (ink.NEAR_GAP)
    for box in _line_boxes(slot):
        crop = cut_out(ctx, box, 0.7)
        blob = writing(crop, ctx.paper, PX_PER_MM, keep_near=near)
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


def _read_ppocr(eng: LineRecognizer, lines: list[np.ndarray], comb: bool) -> Reading:
    """The independent reading: a PP-OCRv6 recogniser over each line (or over the comb's strip of
    cells); confidence is the lowest line score, on Tesseract's 0..100 scale."""
    if not lines:
        return Reading("", 0.0)
    results = [eng.read_line(img) for img in lines]
    charset = getattr(eng, "characters", None)
    if comb:
        return Reading("".join(results[0].text.split()), 100.0 * results[0].score,
                       chars=tuple(c for c in results[0].chars if not c.text.isspace()), charset=charset)
    chars: list[CharChoice] = []
    for r in (r for r in results if r.text):
        if chars:
            chars.append(CharChoice(" ", 1.0))
        chars.extend(r.chars)
    return Reading(" ".join(r.text for r in results if r.text), 100.0 * min(r.score for r in results), chars=tuple(chars),
                   charset=charset)


# A character PP-OCR chose with less than this lead over its runner-up is listed in the field's
# attempts ("doubts": [position, character, probability, runner-up, its probability]).
DOUBT_MARGIN = 0.9


def _doubts(r: Reading) -> dict[str, Any]:
    d = [[i, c.text, c.prob, c.alt, c.alt_prob] for i, c in enumerate(r.chars) if c.margin < DOUBT_MARGIN]
    return {"doubts": d} if d else {}


def _ppocr_reads(eng: LineRecognizer, f: Field, lines: list[np.ndarray], comb: bool,
                 attempts: list[dict[str, Any]]) -> Reading:
    """One PP-OCR recogniser's reading of the field, normalised, and added to `attempts`."""
    r = _normalised(f.type, _read_ppocr(eng, lines, comb))
    attempts.append({"engine": eng.name, "text": r.text, "conf": r.conf, **_doubts(r)})
    return r


def _normalised(ftype: str, r: Reading) -> Reading:
    value, problems = normalize(ftype, r.text)
    codes = tuple(p.code for p in problems)
    if value is None and not codes:
        codes = ("unreadable",)  # there is ink but the engine read nothing
    return replace(r, value=value, problems=codes)


# A Latin stop or middle dot straight after Chinese punctuation, or ending a value after a Chinese
# character, is a speck read as a mark: 評估。. (bench/accuracy --seed 167, seen faces: an office
# scan's dust after the final 。, read "." by Tesseract and PP-OCR alike and accepted). Such readings
# came to 1-7 a run on that day's sets, all but that one in review already.
# Also where the value ends with the 。 the normaliser made of a stop the kept reading ended with
# after a Chinese character (fresh seed 673, an office scan: a handwritten 府中幼兒園 with a speck
# after it, read 府中幼兒園. by both recognisers, accepted by the pair as 府中幼兒園。). On seeds
# 577-673 the small recogniser ended 72 names, texts and addresses so, every one a speck on an
# office scan; among the accepted values ending in 。 no engine's reading ended so but that one.
STRAY_MARK = re.compile(r"[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20][.·,'`]|[\u3400-\u9fff\u3000-\u303f\uff01-\uff60][.·]$")


# A name in Chinese characters has no Latin letter in it: a broken character read as one (fresh
# seed 757, a fax: a typed 王俊銘, its 王 broken, read F俊銘 by both PP-OCR recognisers and, on its
# second reading, by Tesseract, accepted; the surname check looks only at a name that begins with
# a Chinese character). A name written both ways (王小明 Wang) has no spaces once normalised and
# is unusual enough on these forms for a person to confirm. On seeds 647-757 (8,640 names) no
# true name mixed the two; that was the only accepted value that did (one more, junk read in an
# empty field, was in review already).
LATIN_LETTER = re.compile(r"[A-Za-z]")


# Part of a handwritten value can go from a page as a whole one can (a light pen through a
# black-and-white scan, `bench/rescans --transforms bw`, seed 577: 陳博文 read 陳 and
# 新北市板橋區福德街321號 read 板, both accepted). No name in Chinese characters is one character,
# and every address the forms ask for begins with its county or city (after a postal code); a
# person confirms a surname alone, or an address given without its county.
def _soft_flags(f: Field, value: Any, text: str = "") -> list[str]:
    """Reasons for a person to look although the value is valid (`text`: as read)."""
    from intake.gazetteer import (
        known_surname,
        near_miss_places,
        split_county,
        unknown_precincts,
        variant_surname,
    )

    if f.expected and value not in f.expected:
        return [f"{f.type}.unexpected_value"]
    if f.type in ("name", "text", "address") and isinstance(value, str) and (
            STRAY_MARK.search(value) or (value.endswith("。") and STRAY_MARK.search(text.rstrip()))):
        return [f"{f.type}.stray_mark"]
    if f.type == "text" and isinstance(value, str) and "警察局" in value and unknown_precincts(value):
        return ["text.unknown_precinct"]
    if f.type == "text" and isinstance(value, str) and near_miss_places(value):
        return ["text.unknown_place"]
    if f.type == "name" and isinstance(value, str) and len(value) == 1 and is_han(value):
        return ["name.one_character"]
    if f.type == "address" and isinstance(value, str) and has_ideograph(value) and split_county(value.lstrip("0123456789")) is None:
        return ["address.no_county"]
    if f.type == "name" and isinstance(value, str) and has_ideograph(value) and LATIN_LETTER.search(value):
        return ["name.mixed_script"]
    if f.type == "name" and isinstance(value, str) and "\u4e00" <= value[:1] <= "\u9fff":
        if not known_surname(value):
            return ["name.rare_surname"]
        if variant_surname(value):
            return ["name.variant_surname"]
    if f.type == "date" and isinstance(value, str) and int(value[:4]) <= date.today().year - LONG_AGO_YEARS:
        return ["date.long_ago"]
    if f.type == "date" and PADDED_YEAR.match(text):
        return ["date.padded_year"]
    if f.type == "text" and isinstance(value, str) and SPACED_DIGITS.search(value) and has_ideograph(value):
        return ["text.spaced_digits"]
    if f.type == "name" and WIDE_GAP.search(text):
        return ["name.detached_character"]
    return []


# A name beginning with a standard surname (黃) is accepted without asking which form the form
# uses (gazetteer.SURNAME_FORMS: 黄 is 1 in 40 of them). But the engines read a printed 黄 as 黃
# (seed 103: 黄佳玲 read 黃佳玲 by Tesseract and PP-OCR in 7 fields, accepted); then PP-OCR's
# choice of the first character shows the other form as runner-up (0.16-0.33). Over the day's
# sets, all 18 黄 names read 黃 had it, and 150 of 651 黃 names read right: those go to a person.
# 鍾 and 鐘 (`gazetteer.TOLD_APART_SURNAMES`) likewise; also where a recogniser that can read both
# read the other one outright, or none that can read both read the field at all: the tiny
# recogniser has no 鍾, and its 鐘 says nothing (it read 鐘 for 128 of 140 鍾).
def _surname_form_doubted(pps: tuple[Reading, ...], value: str) -> bool:
    from intake.gazetteer import TOLD_APART_SURNAMES, other_surname_forms

    others = other_surname_forms(value)
    if not others:
        return False
    told_apart = value[:1] in TOLD_APART_SURNAMES

    def reads_both(p: Reading) -> bool:
        return p.charset is None or set(others + value[:1]) <= p.charset

    if told_apart and not any(reads_both(p) for p in pps):
        return True
    for p in pps:
        first = next(iter(p.unspaced_chars), None)
        if first is None:
            continue
        if first.text == value[:1] and first.alt in others and first.margin < DOUBT_MARGIN:
            return True
        if told_apart and first.text in others and reads_both(p):
            return True
    return False


# A surname the engines read alike, where a PP-OCR recogniser's runner-up for it was another
# surname close behind: 闕美華 typed on a phone photo read 關美華 by Tesseract (at 51) and both
# PP-OCR recognisers, the small one's 關 at 0.55 over 闕 at 0.44, and accepted (seed 269, unseen
# faces, a fresh set). A different surname is a different person to a downstream search; on that
# set's 428 accepted names and the 172 of seeds 257 and 263's faxes no other surname had another
# surname within 0.3 behind it (`name.surname_uncertain`).
SURNAME_MARGIN = 0.3


def _surname_doubted(pps: tuple[Reading, ...], value: str) -> bool:
    from intake.gazetteer import surnames

    known = surnames()
    for p in pps:
        first = next(iter(p.unspaced_chars), None)
        if first is not None and first.text == value[:1] and first.alt != first.text and first.alt in known \
                and first.margin < SURNAME_MARGIN:
            return True
    return False


# A date this many years back or more is a misreading far more often than a fact on these forms: a
# handwritten ROC year whose first digit was lost or read 1 (113 read 13, a referral "in 1924";
# 42 read 2, a birth "in 1913"), each read alike by two engines on bench/accuracy --count 8
# --seed 89 (clean scans). It goes to a person (`date.long_ago`), who can confirm a real one.
# 100 years until 2026-12-04, then 95: a ROC year 41-49 (born 1952-1960, the forms' grandparents)
# whose 4 is read 1, as faint or blurred handwriting has it read by every engine, is 11-19
# (1922-1930), 96-104 years back, half of them inside 100 (`bench/rescans --seed 743`, lowres and
# defocus: a light-pen 46/11/24 read 16/11/24 by Tesseract and the tiny recogniser, no doubt,
# accepted as 1927). On seeds 647-787 (22 sets) no true date lay 95 years back or more; the 21
# values read so were all wrong (in review already), and 15 right ones 90-95 years back.
LONG_AGO_YEARS = 95
# A year of three digits beginning with 0, then a separator: 019/05/19 is ROC 19 (1930) as written,
# or 2019/05/19 whose faint 2 neither engine saw (seed 587 through a defocused rescan,
# `bench/rescans --transforms defocus`: a household member's birth date accepted as 1930-05-19).
# Only the compact form pads an ROC year (0950101); fresh seeds 577-593 accepted no date read so.
PADDED_YEAR = re.compile(r"\s*0\d{2}\s*[/.\-年]")
# Chinese text has no space inside a number: fresh seed 601, a clean scan, a narrative's 保護專線113
# read 11 3 by the small recogniser (the space chosen at 0.53 over none) and by Tesseract's second
# reading, accepted. No text, address or name written on fresh seeds 577-613's forms has one.
SPACED_DIGITS = re.compile(r"\d \d")
# A name read with a character far from the rest (Tesseract's text, kept where engines agree, has
# two spaces or more between them): fresh seed 619, a fax, a typed 張春美 with a speck or rule
# fragment well after it read 張春美        一 by Tesseract and 張春美一 by the tiny recogniser,
# accepted. Over seeds 577-631 no other accepted name's kept reading had such a gap (the phone
# photos' far junk after a name was left out of the value by the engines that agreed).
WIDE_GAP = re.compile(r"\S {2,}\S")


@dataclass(frozen=True)
class Written:
    """What is written in a text field, cut out: the writing of each ruled line that has any, or
    every cell of a comb (filled or not: cells are read by position)."""

    units: list[tuple[np.ndarray, InkBlob]]
    ink_mm2: float
    comb: bool

    def read(self, ctx: PageContext, setting: OcrSetting, variant: tuple[int, int]) -> Reading:
        """Tesseract's reading at one scale (`FIRST` or `SECOND`), as read (not yet normalised)."""
        reader = _read_comb if self.comb else _read_lines
        return reader(ctx, self.units, setting, variant)


def _written(ctx: PageContext, slot: Slot) -> Written:
    if slot.field.cells:
        units = _cells(ctx, slot)
        return Written(units, sum(b.area for _, b in units) / PX_PER_MM**2, True)
    lines, ink = _writing_lines(ctx, slot)
    return Written(lines, ink, False)


def _settings(f: Field) -> tuple[OcrSetting, ...]:
    """Tesseract's settings for the field: its type's, the first one overridden by the field's
    own `ocr:` hints."""
    settings = OCR_SETTINGS[f.type]
    if f.ocr is not None:
        settings = (OcrSetting(f.ocr.lang or settings[0].lang, f.ocr.whitelist or settings[0].whitelist),) + settings[1:]
    return settings


# ------------------------------------------------------------------------- text, step by step
@dataclass(frozen=True)
class FirstReading:
    """Step 1's result: Tesseract's reading with the field's first setting, or with the first
    retry setting whose reading validated when the first one's did not."""

    reading: Reading
    setting: OcrSetting  # the setting that read it (the second reading uses it too)
    retried: bool  # the first setting's reading did not validate


@dataclass(frozen=True)
class Verdict:
    """Step 2's result, the typed agreement: how the readings relate and which one is kept."""

    agreement: Agreement
    reading: Reading  # the value kept; when engines agreed, its conf is the lower of theirs
    engine: str  # "ppocr_tiny+tesseract:chi_tra" (agreed), "ppocr" or "tesseract:eng" (one reading kept)
    ppocr: tuple[Reading, ...] = ()  # every PP-OCR reading made of the field (its characters' runner-ups)
    dissent: float = 0.0  # the highest confidence of a valid Tesseract reading of another value
    tesseract: tuple[Reading, ...] = ()  # where no two agreed: Tesseract's readings (first, second)


@dataclass(frozen=True)
class Routing:
    """Step 3's result: what a person must look at, how sure the reading is, and the status."""

    errors: list[str]
    confidence: float
    status: FieldStatus
    accepted_by: str | None = None  # a fixed acceptance path other than the calibrated one ("ppocr_pair")


def first_readings(ctx: PageContext, f: Field, written: Written, attempts: list[dict[str, Any]]) -> FirstReading:
    """Tesseract, with the type's first setting; while the reading does not validate, with the
    retry settings (an ID's `eng` then `chi_tra`). The first valid reading is kept, else the
    first setting's. Every reading is added to `attempts`."""
    settings = _settings(f)
    first: Reading | None = None
    first_setting = settings[0]
    for setting in settings:
        a = _normalised(f.type, written.read(ctx, setting, FIRST))
        attempts.append({"engine": "tesseract", "lang": setting.lang, "text": a.text, "conf": a.conf})
        if first is None or (first.problems and not a.problems):
            first, first_setting = a, setting
        if not a.problems:
            break
    assert first is not None
    return FirstReading(first, first_setting, retried=len(attempts) > 1)


# Page quality classes where no value is settled by Tesseract alone. On bench/accuracy's seeds 157
# (unseen and seen faces, 30% hand) and 163 (classic, 15% hand), six runs, 344 dates, phones and
# numbers on phone photos were settled alone, 2 wrong (0.58%: one typed phone whose 9 a blur made 0,
# at 91, twice; 9 and 0 have one loop each); on scans and faxes 1,448, none wrong. On a photo the
# tiny recogniser reads too, and most of these settle as agreements.
NOT_ALONE_ON = frozenset({"photo"})


# A phone or number is settled alone only where its loops could be checked (`_digits_match_ink` with
# `unchecked=False`): where the line's ink splits into more or fewer pieces than characters, the
# check elsewhere passes it unchecked. A fax breaks strokes into dashes: fresh seed 431 had two
# handwritten phones on faxes whose 3 Tesseract alone read 8 at 96 and 99 (034581938 as 084581938,
# 0220829388 as 0220829888; their ink in 12 and 15 pieces for 9 and 10 digits); the fax sets of
# fresh seeds 397-431 had settled 53 handwritten values alone, those 2 wrong, and 420 typed ones,
# none wrong. Handwritten digits touch: fresh seed 373's clean scans sent on at 100 dpi
# (`bench/rescans`), on a yellow carbon copy and on a dark copy, a phone 0960303829 whose 0 touched
# the 3 beside it read 0960393829 by Tesseract alone at 91 (one loop each). With the rule, on seeds
# 397-443's fax sets and on 433's and 439's clean, office and phone sets, no other field changed.
def settled_alone(f: Field, first: FirstReading, written: Written, quality: str | None = None) -> bool:
    """A date, phone or number that Tesseract read valid and confident with its first setting:
    its validator catches most misreadings, so no second engine reads it (see `STRONG_TYPES`).
    Not a retry's reading: the first setting already failed on that writing. On the seed-6 sets
    (bench/accuracy --count 6 --seed 6 --hand 0.3 --fonts seen|unseen) all three accepted errors
    were one handwritten ROC date, 43/08/16 read 49/08/76 by chi_tra (invalid) and 13/08/16 by
    the eng retry at 91-96, settled alone. Not on a page of a `quality` class in `NOT_ALONE_ON`.

    Nor one whose digits do not have the loops of the ink (`_digits_match_ink`): until
    2026-12-02 (third session) such a reading was settled alone and sent to a person for it (`<type>.digit_shape`);
    now PP-OCR reads it as any other, and what the engines then agree on routes it (an agreement at
    the first try is not checked against the loops again, see `route`). On the tuning sets
    (bench/accuracy --count 8 --jobs 1 --hand 0.3 --fonts unseen, seeds 113 and 127) the
    readings sent to a person for that alone were right 25 times of 26 (12 handwritten phones, 11
    typed, 2 typed numbers: the loops of a handwritten 0, 6 or 9 are often left open, and a thin
    face's too); with PP-OCR reading them, all 25 were accepted and the wrong one, a typed number
    PP-OCR read otherwise, still went to a person."""
    r = first.reading
    return (f.type in STRONG_TYPES and quality not in NOT_ALONE_ON and not first.retried and not r.problems
            and r.conf >= STRONG_SKIP_CONF and _digits_match_ink(f, written.units, r.text, unchecked=False))


def _agreed(agreement: Agreement, tesseract: Reading, ppocr: Reading, pp_engine: LineRecognizer,
            setting: OcrSetting, pps: tuple[Reading, ...]) -> Verdict:
    return Verdict(agreement, replace(tesseract, conf=min(tesseract.conf, ppocr.conf)),
                   f"{pp_engine.name}+tesseract:{setting.lang}", pps)


def second_opinion(ctx: PageContext, f: Field, written: Written, first: FirstReading,
                   attempts: list[dict[str, Any]]) -> Verdict:
    """PP-OCR's tiny recogniser (when Tesseract's reading validated), then its small one, then
    Tesseract once more at another scale, until two readings give the same valid value:

    - `single`: settled by Tesseract alone (`settled_alone`), nothing else reads;
    - `agree_tiny`: the tiny recogniser read Tesseract's value, both at least
      `TINY_AGREE_MIN_CONF` sure (the small one does not read);
    - `agree`: the small recogniser read Tesseract's value;
    - `agree_second`: the small recogniser read a valid value that Tesseract's first reading did
      not give, and Tesseract's second reading (at `SECOND`) gives it;
    - `disagree`: no two agree. The small recogniser's reading is kept (right far more often),
      unless it does not validate and Tesseract's does. Where Tesseract read nothing valid (so
      the tiny recogniser did not read first) and the small one read a sure valid value, the
      tiny one reads it too, for the PP-OCR pair rule (`ppocr_pair_agrees`), before
      `agree_second` is settled as well (the pair may accept that one too, `PAIR_SETTLES`);
      where the small one read nothing valid either, the tiny one reads and its valid reading
      is kept.

    Every reading is added to `attempts`."""
    t = first.reading
    if settled_alone(f, first, written, ctx.quality_cls):
        return Verdict(Agreement.SINGLE, t, f"tesseract:{first.setting.lang}")
    lines = _ppocr_lines(written.units, written.comb)
    pps: tuple[Reading, ...] = ()
    if not t.problems:
        tiny_engine = ctx.ppocr_tiny
        tiny = _ppocr_reads(tiny_engine, f, lines, written.comb, attempts)
        pps = (tiny,)
        if not tiny.problems and tiny.value == t.value and min(t.conf, tiny.conf) >= TINY_AGREE_MIN_CONF \
                and not _tiny_torn(f.type, tiny):
            return _agreed(Agreement.AGREE_TINY, t, tiny, tiny_engine, first.setting, pps)
    small_engine = ctx.ppocr
    small = _ppocr_reads(small_engine, f, lines, written.comb, attempts)
    pps = (*pps, small)
    if not small.problems:
        if not t.problems and t.value == small.value:
            return _agreed(Agreement.AGREE, t, small, small_engine, first.setting, pps)
        second = _normalised(f.type, written.read(ctx, first.setting, SECOND))
        attempts.append({"engine": "tesseract", "lang": first.setting.lang, "text": second.text, "conf": second.conf,
                         "scale": "second"})
        dissent = max([r.conf for r in (t, second) if not r.problems and r.value != small.value], default=0.0)
        if len(pps) == 1 and small.conf >= PAIR_MIN_CONF and dissent < PAIR_MAX_DISSENT:
            # Tesseract read nothing valid, so the tiny recogniser has not read yet: its reading
            # lets the PP-OCR pair (`ppocr_pair_agrees`) settle a value Tesseract could not read
            tiny = _ppocr_reads(ctx.ppocr_tiny, f, lines, written.comb, attempts)
            pps = (tiny, small)
        if not second.problems and second.value == small.value:
            return _agreed(Agreement.AGREE_SECOND, second, small, small_engine, first.setting, pps)
        return Verdict(Agreement.DISAGREE, small, small_engine.name, pps, dissent, (t, second))
    if t.problems and len(pps) == 1:
        # Neither Tesseract nor the small recogniser read a valid value, and the tiny one has not
        # read (it reads first only after a valid Tesseract reading): a valid reading of its own is
        # offered instead of an invalid one (to review: nothing agrees). On seed 113's fax and
        # phone sets (unseen faces, 48 forms) 6 more typed dates and IDs were offered right and 2
        # empty fields offered a value where an invalid reading had counted as empty; 16 empty
        # fields more were accepted, right, on fax pages whose required field now read valid.
        tiny = _ppocr_reads(ctx.ppocr_tiny, f, lines, written.comb, attempts)
        pps = (tiny, small)
        if not tiny.problems:
            return Verdict(Agreement.DISAGREE, tiny, ctx.ppocr_tiny.name, pps, 0.0)
    if not small.problems or t.problems:
        return Verdict(Agreement.DISAGREE, small, small_engine.name, pps, 0.0 if t.problems else t.conf)
    return Verdict(Agreement.DISAGREE, t, f"tesseract:{first.setting.lang}", pps)


# Agreement is weak evidence where both engines make the same mistake. An agreed reading goes to a
# person when a PP-OCR reading of the field (the tiny or the small recogniser: either may show the
# doubt the other hides) chose
# - in a name, text or address: a character listed in `confusables.json` with less than
#   `CONFUSABLE_MARGIN` lead over its runner-up (`<type>.confusable`);
# - in a structured value (date, phone, number, ID): a character with less than `DIGIT_MARGIN`
#   lead over another digit or letter (`<type>.uncertain_digit`: 4 or 1, the handwritten
#   confusion both engines made together on earlier sets).
# Measured on the seed-7 calibration set (bench/accuracy --count 6 --seed 7 --hand 0.3 --fonts
# seen, 72 forms: 951 accepted agreed readings, 3 wrong, each read alike by Tesseract and PP-OCR:
# 宇 read 字 (lead 0.14), 菸 read 於 (0.17, the pair learnt from that set), a handwritten 4 read 1
# (lead 0.16 over CTC's blank)): these rules flag 6 readings and catch the first two. Counting
# a close blank too would have caught the 4 but flagged 15 there and 25 on the seed-4 unseen-faces
# set (11 typed on clean and office scans, none wrong); a lead under 0.5, or any listed partner as
# runner-up, flagged 35 there (16 typed on clean and office scans, none wrong): both were dropped
# after that measurement, so figures are reported on a seed used by neither (README, "Measured").
# - in an ID: a letter where only a digit can stand (after the second character), other than the
#   straight ones a typeface draws as 1 or 0 (I, l, i, |, O, o): the recogniser did not see a
#   digit, and the value has the digit the letter is taken for (B as 8) on that engine's word
#   alone (`national_id.letter_for_digit`). Fresh seed 223, a phone photo: a typed 3 read B by the
#   tiny recogniser and 8 by Tesseract, O113878712 accepted as O118878712 (checksum passing).
# - in a name, text or address: a character one PP-OCR recogniser chose with less than
#   `SPLIT_MARGIN` lead over the character the other recogniser read at that place (the third
#   engine sides with the runner-up: `<type>.close_call`). Seed 277 (classic faces), a fax:
#   林苡安 read 林改安 by Tesseract (at 0) and the small recogniser (改 0.53 over 苡 0.46), the tiny
#   one reading 苡, accepted as agreed. Over the 3,600 agreed names, texts and addresses of seeds
#   257-277's dumps it flagged that one and one right reading.
# - in a name, text or address: the other PP-OCR recogniser read the value but for a listed
#   confusable partner at one place or more (`partner_read`; `<type>.confusable` too). Fresh seed
#   293, a phone photo: the typed 李冠宇 read 李冠字 by Tesseract and the small recogniser (字 0.86
#   over 宇), the tiny one reading 李冠宇, accepted as agreed. Over the 2,952 accepted names,
#   texts and addresses of seeds 281, 283, 293 and 307 (all profiles) a PP-OCR reading read a
#   partner in 4; in 3 (narratives, 菸 read 於) it also differed elsewhere, and is not counted.
CONFUSABLE_CHECKED = frozenset({"name", "text", "address"})
SPLIT_MARGIN = 0.3
DIGIT_CHECKED = frozenset({"date", "phone", "number", "national_id"})
CONFUSABLE_MARGIN = 0.3
DIGIT_MARGIN = 0.2
# ... and on a fax, less than `FAX_DIGIT_MARGIN`: a fax leaves of a 4 its upright, of a 9 its loop.
# On fresh seeds 467-523 (tenth session) the fax dates, phones, numbers and IDs accepted with a
# PP-OCR doubt at 0.2-0.5 were wrong 2 times of 7 (a handwritten 07-841-4173 read 07-811-4173 by
# all three engines, the small one's 1 at 0.71 over 4; a typed 1990 read 1981, 0.23); at 0.5-0.9
# 0 of 37. Elsewhere 0 of 25 at 0.2-0.5.
FAX_DIGIT_MARGIN = 0.5
# ... and, whatever the margin under `DOUBT_MARGIN`, a 1 whose runner-up is 4: what a fax or a
# hand leaves of a 4 (its upright) every engine reads 1. Fresh seed 617, a fax: a typed
# 0223414930 read 0223114930 by Tesseract (81) and the tiny recogniser (1 at 0.92 over 4),
# accepted. Over the accepted dates, phones, numbers and IDs of seeds 577-631 (all profiles) that
# was the only 1 a PP-OCR recogniser doubted for a 4.
FOUR_READ_ONE = ("1", "4")
# ... and so in an address's numbers, in the PP-OCR reading that gave the value (an address's
# digits are a house's, a lane's, a section's: no checksum, as in a phone). Fresh seed 787, a fax:
# a handwritten 東興路4段 read 東興路1段 by Tesseract (at 23) and the small recogniser (1 at 0.90
# over 4), accepted as agreed. Over the 2,537 accepted addresses with digits of seeds 647-787 (22
# sets, all profiles), a reading that gave the value had a 1 doubted for a 4 in that one only.
# ... and a phone whose PP-OCR reading, the value's, has a space before a 1 inside its digits where
# the writer set the groups apart by dashes: what a fax leaves of a 4 is its upright, after a gap
# where its diagonal was. Fresh seed 821, a fax: a typed 0930-805-540 read 0930-805-5 10 by
# Tesseract (89) and the tiny recogniser (its 1 at 0.61 over nothing, the space at 0.62),
# accepted as 0930805510. Over the 7,103 accepted phones of seeds 647-823 (sets read twice counted
# twice) no other PP-OCR reading had both; one had a space before another digit (0947 753-062,
# right). Dates often mix a slash and a space, and are not checked so.
GAP_IN_DASHED = re.compile(r"^(?=.*\d-\d).*\d 1")
ID_DIGIT_LOOKALIKES = frozenset("IliOo|")  # see `letter_for_digit`


def _tiny_torn(ftype: str, tiny: Reading) -> bool:
    """In a name, a Chinese character the tiny recogniser chose by less than `SPLIT_MARGIN` over
    another Chinese character that is not merely another form of it, or one listed as confusable
    with a character the tiny recogniser cannot read at all (關 for 闕: it had no choice)."""
    from intake.pipeline.confusables import partners

    if ftype != "name":
        return False
    if any(is_han(c.text) and is_han(c.alt) and _simplified(c.alt) != _simplified(c.text) and c.margin < SPLIT_MARGIN
           for c in tiny.chars):
        return True
    return tiny.charset is not None and any(p not in tiny.charset for c in tiny.unspaced_chars
                                            for p in partners(c.text, ftype))


def letter_for_digit(pp: Reading) -> bool:
    """Whether a PP-OCR reading of an ID has a letter in a digit-only place (its third character
    on) other than the straight look-alikes of 1 and 0 (`ID_DIGIT_LOOKALIKES`)."""
    t = "".join(pp.text.split())
    return len(t) == 10 and any(ch.isalpha() and ch not in ID_DIGIT_LOOKALIKES for ch in t[2:])


def _four_read_one(c: CharChoice) -> bool:
    """A 1 (or full-width １) chosen over a 4 by less than `DOUBT_MARGIN`."""
    return (unicodedata.normalize("NFKC", c.text), unicodedata.normalize("NFKC", c.alt)) == FOUR_READ_ONE \
        and c.margin < DOUBT_MARGIN


def weak_confusables(pp: Reading, ftype: str | None = None) -> list[CharChoice]:
    """The characters of a PP-OCR reading listed as confusable (in a field of type `ftype`) that
    it chose with a lead below `CONFUSABLE_MARGIN`."""
    from intake.pipeline.confusables import is_confusable

    return [c for c in pp.chars if is_confusable(c.text, ftype) and c.margin < CONFUSABLE_MARGIN]


def split_vote(pps: tuple[Reading, ...], value: Any) -> bool:
    """Whether a PP-OCR reading of the agreed `value` chose a character by less than
    `SPLIT_MARGIN` over the one the other PP-OCR recogniser read at the same place."""
    if len(pps) < 2:
        return False
    for a, b in ((pps[0], pps[1]), (pps[1], pps[0])):
        if a.value != value or not a.chars or len(a.chars) != len(b.chars):
            continue
        if any(c.alt and c.margin < SPLIT_MARGIN and o.text == c.alt for c, o in zip(a.chars, b.chars, strict=True)):
            return True
    return False


# An agreed name also goes to a person when both PP-OCR recognisers read it and doubted the same
# character for the same runner-up, the surer of the two by a lead under `SHARED_RUNNER_UP_MARGIN`
# (`name.shared_doubt`): the two are one family, and hesitating alike is no agreement. Fresh seed
# 541, a fax: a typed 陳佳玲 read 陳住玲 by all three engines, both recognisers' 住 at 0.76-0.77
# over 佳. Over the accepted names of seeds 467-557 (tenth session, 12 sets) that was the one name
# under 0.8; the right ones began at 0.86.
# Since the thirteenth session (2026-12-04) also over different runner-ups, both in Big5: fresh
# seed 809, a fax: a handwritten 呂淑惠 read 呂淑忠 by Tesseract (at 51) and the small recogniser
# (忠 0.71 over 患), the tiny one reading 吕淑忠 (忠 0.87 over 惠), accepted. Over the 11,742 names
# accepted on seeds 647-809 (with the sets read twice) the rule so widened flags that one and
# three right ones (a faxed 廖 over 鷹 and 塵 twice, a photo's 家 over 冢).
SHARED_RUNNER_UP_MARGIN = 0.8


def same_runner_up(pps: tuple[Reading, ...], value: Any) -> bool:
    """Whether both PP-OCR recognisers chose the agreed `value`'s Chinese character at a place,
    neither by `SHARED_RUNNER_UP_MARGIN` or more: over the same runner-up (not merely another form
    of it, `_other_script`), or over two runner-ups in use in Taiwan (Big5). A reading may differ
    from the value elsewhere by another form of a character (吕 for 呂): only its length counts."""
    if len(pps) < 2 or not isinstance(value, str):
        return False
    v = "".join(value.split())
    a_chars, b_chars = pps[0].unspaced_chars, pps[1].unspaced_chars
    if not len(a_chars) == len(b_chars) == len(v):
        return False
    return any(a.text == b.text == ch and a.alt and b.alt and max(a.margin, b.margin) < SHARED_RUNNER_UP_MARGIN
               and ((a.alt == b.alt and not _other_script(a)) or (is_han(ch) and not _outside_big5(a.alt + b.alt + ch)))
               for a, b, ch in zip(a_chars, b_chars, v, strict=True))


def partner_read(pps: tuple[Reading, ...], value: Any, ftype: str | None = None) -> bool:
    """Whether a PP-OCR reading differs from the agreed `value` only where it read a listed
    confusable partner (in a field of type `ftype`) of the value's character (宇 where the value
    has 字), at one place or more."""
    from intake.pipeline.confusables import partners

    if not isinstance(value, str):
        return False
    for p in pps:
        t = "".join((p.value if isinstance(p.value, str) else p.text).split())
        if len(t) != len(value) or t == value:
            continue
        if all(a == b or b in partners(a, ftype) for a, b in zip(value, t, strict=True)):
            return True
    return False


# A Latin stop between two Chinese characters that the PP-OCR reading kept chose over nothing at
# all (CTC's blank its runner-up, within `DOUBT_MARGIN`) is a speck as much as a stop: Chinese
# writing puts 。 there, and the normaliser makes the stop one. Fresh seed 647, an office scan: a
# speck between 收入 and 中斷 read "." by all three engines (the small recogniser's at 0.88 over
# nothing at 0.10) and accepted as 收入。中斷. In the accepted names, texts and addresses of that
# session's fifteen sets (577-659) the small recogniser chose a punctuation mark over nothing
# within that margin 27 times: 26 were full-width (、。，) and right, the one Latin stop was this.
SPECK_STOPS = frozenset(".·")
# ... and a semicolon a recogniser chose by less than `DOUBT_MARGIN` (over anything): a speck above
# a comma makes one. Fresh seed 827, an office scan: a typed 里長反映，案家 read 里長反映；案家 by
# Tesseract and the small recogniser (； at 0.67 over ;), accepted. No true value of seeds 647-839
# held a semicolon; the two values read with one were wrong.
SPECK_SEMICOLONS = frozenset(";；")


def speck_stop(pps: tuple[Reading, ...], value: Any) -> bool:
    """Whether a PP-OCR reading of `value` has a `SPECK_STOPS` character between two Chinese
    characters that it chose over nothing (runner-up "") by less than `DOUBT_MARGIN`, or a
    semicolon (`SPECK_SEMICOLONS`) it chose by less than that."""
    for p in pps:
        if p.value != value:
            continue
        chars = p.unspaced_chars
        if any(c.text in SPECK_STOPS and c.alt == "" and c.margin < DOUBT_MARGIN and is_han(a.text) and is_han(b.text)
               for a, c, b in zip(chars, chars[1:], chars[2:], strict=False)):
            return True
        if any(c.text in SPECK_SEMICOLONS and c.margin < DOUBT_MARGIN for c in chars):
            return True
    return False


def shared_doubts(ftype: str, pps: tuple[Reading, ...], value: Any = None, quality: str | None = None) -> list[str]:
    """Why an agreed reading still needs a person: the PP-OCR readings' close calls (see above),
    or, in free text, a confusable character the domain's bigrams do not know where its partner's
    they do (`bigrams.unlikely`: 人監 where 入監 is the form; `text.unlikely_characters`)."""
    if ftype in CONFUSABLE_CHECKED and any(weak_confusables(p, ftype) for p in pps):
        return [f"{ftype}.confusable"]
    if ftype in CONFUSABLE_CHECKED and split_vote(pps, value):
        return [f"{ftype}.close_call"]
    if ftype in CONFUSABLE_CHECKED and partner_read(pps, value, ftype):
        return [f"{ftype}.confusable"]
    if ftype == "name" and same_runner_up(pps, value):
        return ["name.shared_doubt"]
    if ftype in CONFUSABLE_CHECKED and speck_stop(pps, value):
        return [f"{ftype}.stray_mark"]
    if ftype == "text" and isinstance(value, str):
        from intake.pipeline.bigrams import unlikely

        if unlikely(value):
            return ["text.unlikely_characters"]
    margin = FAX_DIGIT_MARGIN if quality in WEAK_AGREEMENT_DOUBTED_ON else DIGIT_MARGIN

    def uncertain(c: CharChoice) -> bool:
        return c.alt.isalnum() and (c.margin < margin or _four_read_one(c))

    if ftype in DIGIT_CHECKED and any(uncertain(c) for p in pps for c in p.chars):
        return [f"{ftype}.uncertain_digit"]
    givers = [p for p in pps if value is not None and p.value == value]  # the readings that gave the value
    if ftype == "address" and any(_four_read_one(c) for p in givers for c in p.chars):
        return ["address.uncertain_digit"]
    if ftype == "phone" and any(GAP_IN_DASHED.search(p.text) for p in givers):
        return ["phone.uncertain_digit"]
    if ftype == "national_id" and any(letter_for_digit(p) for p in pps):
        return ["national_id.letter_for_digit"]
    return []


# Handwriting (issue 13 item 5): Tesseract reads handwriting badly (47% of handwritten names on
# the seed-7 set), so most handwritten fields had no two engines agreeing and went to review
# though PP-OCR read them right. A value no two engines agreed on is still accepted when PP-OCR's
# two recognisers (tiny and small, models of their own) read the same valid value, both at a
# score of at least `PAIR_MIN_CONF`, with no character of either chosen with a lead under
# `PAIR_MIN_MARGIN`; when nothing else sends it to a person (its digits' loops match the ink:
# `digit_shape`; surname known and not a variant; no confusable a bigram doubts); and, for an
# address, when it names a county and one of its districts (gazetteer). Measured on the seed-7
# calibration set (bench/accuracy --count 6 --seed 7 --hand 0.3 --fonts seen): of the fields
# sent to review whose two PP-OCR readings agreed, those meeting the score and lead floors were
# right 59 times of 59 (handwritten names 26, texts 12, dates 5, addresses 2, phones 2; typed 12);
# the one wrong pair (a typed name) was below both floors. The confidence given is the Laplace
# bound of that count, (59 + 1) / (59 + 2).
# Nor when Tesseract read another valid value at `PAIR_MAX_DISSENT` or more: the two recognisers
# are one family and share its preferences (on the seed-5 set both read 自强街, a form of 強 no
# address here uses, where Tesseract read 自強街 at 89 and 86; that was the rule's one silent
# error there, found after the rule was set). On seed 7, 49 of the 52 pairs it accepted had no
# Tesseract reading at 80 or more; the other three, right, now go to review.
#
# Widened on 2026-12-02, third session (issue 13: handwriting straight-through), from the fields the pair sent to
# a person on the tuning sets (bench/accuracy --count 8 --jobs 1 --hand 0.3 --fonts unseen, seeds
# 113 and 127), most of them handwritten addresses, names and texts the small recogniser read
# right at 97-100 while the tiny one, the weaker model, read one character otherwise:
# - the small recogniser's score must be at least `PAIR_MIN_CONF`, the tiny one's only
#   `PAIR_TINY_MIN_CONF` (the floor at which it settles a value with Tesseract);
# - in a name, text or address, a runner-up outside Big5 is no close call (時 over 时 is one
#   character in two scripts; such a runner-up could never be accepted); since the first fresh
#   sets after this (seed 131, 139) only where it is the same character (`_other_script`);
# - in a name, text or address, the tiny reading may differ from the small one in one character,
#   the same length, where it chose a character outside Big5 (访 for 訪; since then: another form
#   of the small one's) or, in an address only since seed 139, the small one's character is its
#   runner-up (卷 over 巷) (`_pair_difference`); every other character as sure.
# Replayed on those sets' outcomes, the three together accepted 19 and 27 more right values (14
# and 20 handwritten) and no wrong one; on seed 113's seen faces 19 right (8 handwritten) and
# classic faces (--hand 0.15) 30 right (17), none wrong. Allowing two differing characters gained
# 5 more on the unseen sets and let through two wrong (陳冠宇 read 陳冠字, a narrative with 摔
# read 抨); no floor on the tiny score gained 9 more there, none wrong, and was not taken. The wrong values that agreeing pairs still offer (a fax's handwritten names
# read 武物維, 徐人英 with a tiny score of 65-77; an address read with a trailing 。 at a lead of
# 0.17) stay with a person.
PAIR_MIN_CONF = 95.0
PAIR_TINY_MIN_CONF = TINY_AGREE_MIN_CONF
PAIR_MIN_MARGIN = 0.5
PAIR_MAX_DISSENT = 80.0
PAIR_CONFIDENCE = 0.984
# The pair settles a value Tesseract's second reading agreed with too (`agree_second`), not only one
# it read otherwise: until the twelfth session (2026-12-04) Tesseract agreeing at a low score (a
# face it reads poorly: 0-36 on seed 617's 宜蘭縣羅東鎮新莊路168號, which both recognisers read at
# 99.5-99.99 with no doubt) left the value with a person where Tesseract reading something else
# would have let the pair accept it. On that session's fifteen sets (577-659, 55,200 fields) the
# `agree_second` values sent to a person for their score alone that the pair's floors would have
# accepted were right 78 times of 78. Where Tesseract's first reading did not validate, the tiny
# recogniser now reads such a value as it does a disputed one, so that the pair can settle it.
PAIR_SETTLES = frozenset({Agreement.DISAGREE, Agreement.AGREE_SECOND})
# On a fax, a name the pair accepts has no character either recogniser doubted (a runner-up within
# `DOUBT_MARGIN`). On fresh seeds 467-503's faxes the pair accepted 101 names and 3 were wrong
# (廖美鳳 read 廖天鳳, 陳麗娟 read 陳麗姆, 阮氏玉 read 阮氏王; leads 0.68-0.88 in one of the two):
# 3%, where the pair's confidence stands for 1.6%. The 75 with no doubt were all right; read again
# with this, those sets sent the three and 18 right names to a person, and nothing else.
PAIR_FAX_NAME_MIN_MARGIN = DOUBT_MARGIN
# ... and so on a page of the "poor" quality class (a phone photo too dim, blurred or small for the
# "photo" tables), worse than a fax. Fresh seed 757, such a photo: a handwritten 江俊良 read 江俊艮
# by both recognisers (艮 0.70 over 民 in the tiny one, the small one sure), Tesseract reading
# nothing like it, accepted. On seeds 647-757 (18 sets) the names accepted on "poor" pages with
# Tesseract not agreeing first were wrong 1 time of 7 where a recogniser doubted a character, and
# 0 of 18 where neither did.
PAIR_SURE_NAMES_ON = frozenset({"fax", "poor"})


# Measured after the marks and text work were merged, on sets neither used (bench/accuracy --count 8
# --hand 0.3, seed 29 seen and unseen faces, seed 31 classic): of the pair's accepted values, the
# wrong ones were 中和户政事務所 for 中和戶政事務所 (户, the mainland form, three times: the
# recognisers' shared training prefers it) and handwritten phone digits 4 read 1 on faxes. So the
# pair accepts no value with a Han character outside Big5 (cp950: the characters in use in Taiwan;
# 户 强 黄 温 are not, which also covers the seed-5 自强街), and reads no digits on fax pages.
PAIR_NO_DIGITS_ON = frozenset({"fax"})


def _outside_big5(value: str) -> bool:
    for ch in value:
        if is_han(ch):
            try:
                ch.encode("cp950")
            except UnicodeEncodeError:
                return True
    return False


def ppocr_pair_agrees(ftype: str, verdict: Verdict, quality: str | None = None) -> bool:
    """Whether PP-OCR's tiny and small recognisers read the kept value alike (see
    `PAIR_MIN_CONF`, `PAIR_MIN_MARGIN`), in characters used in Taiwan, and not digits on a fax;
    in a name, text or address the tiny one may differ in one character it was unsure of
    (`_pair_difference`)."""
    from intake.gazetteer import district_of

    r = verdict.reading
    if len(verdict.ppocr) != 2 or r.problems or r.value is None or verdict.dissent >= PAIR_MAX_DISSENT:
        return False
    if _outside_big5(str(r.value)) or (quality in PAIR_NO_DIGITS_ON and ftype in DIGIT_CHECKED):
        return False
    tiny, small = verdict.ppocr
    if small.problems or small.value != r.value or small.conf < PAIR_MIN_CONF or tiny.conf < PAIR_TINY_MIN_CONF:
        return False
    if not tiny.problems and tiny.value == r.value:
        differs: int | None = None
    elif ftype in CONFUSABLE_CHECKED and (differs := _pair_difference(tiny, small, ftype)) is not None:
        pass
    else:
        return False
    min_margin = PAIR_FAX_NAME_MIN_MARGIN if quality in PAIR_SURE_NAMES_ON and ftype == "name" else PAIR_MIN_MARGIN
    for p in (tiny, small):
        if not p.chars:
            return False
        for i, c in enumerate(p.chars):
            if c.text.isspace() or (p is tiny and i == differs):
                continue
            if c.margin < min_margin and not (ftype in CONFUSABLE_CHECKED and _other_script(c)):
                return False
    if ftype == "address":
        where = district_of(str(r.value))
        if where is None or where[1] is None:
            return False
    if runner_up_read(verdict.ppocr, verdict.tesseract, r.value):
        return False
    if shared_doubts(ftype, verdict.ppocr, r.value, quality):
        # every type (until 2026-12-03 names, texts and addresses only): seed 307, a phone photo,
        # the handwritten ID C177439352 read C1771393D2 by both recognisers, the D taken for 0 in
        # a digit's place and the checksum passing: accepted as C177139302
        return False
    return True


# Nor where Tesseract read, at a place, the very character both recognisers had as their
# runner-up there: three engines then lean two ways, not one. Fresh seed 659, a fax: a handwritten
# 自強醫院 read 白強醫院 by both recognisers (白 at 0.84 and 0.88, 自 their runner-up at 0.16 and
# 0.09) and 自給醫院 by Tesseract (at 26), accepted by the pair. Over the pair's accepted values of
# that session's fifteen sets (577-659), it was the only one where Tesseract had read a runner-up
# both had within `DOUBT_MARGIN`; the 24 where it read one recogniser's such runner-up were right.
def runner_up_read(pps: tuple[Reading, ...], others: tuple[Reading, ...], value: Any) -> bool:
    """Whether one of `others` (Tesseract's readings), as long as `value` without spaces, has at
    some place where it differs the character that two PP-OCR readings of `value` chose theirs
    over (their runner-up there, both within `DOUBT_MARGIN`)."""
    if not isinstance(value, str) or len(pps) < 2:
        return False
    v = "".join(value.split())
    alts = []
    for p in pps[:2]:
        chars = p.unspaced_chars
        if len(chars) != len(v):
            return False
        alts.append([c.alt if c.margin < DOUBT_MARGIN else "" for c in chars])
    for o in others:
        t = "".join(str(o.value if isinstance(o.value, str) else o.text).split())
        if len(t) == len(v) and any(a != b and alts[0][i] == b == alts[1][i] for i, (a, b) in enumerate(zip(v, t, strict=True))):
            return True
    return False


# A runner-up is no doubt about the value where it is only another form of the chosen character,
# its simplified one or a variant (時 over 时, 鎮 over 镇 or 鎭: the same once simplified by OpenCC's
# Traditional-to-Simplified table). Until the first set read
# after the pair was widened (seed 131, unseen faces), any runner-up outside Big5 counted so, and a
# handwritten 內政部移民署... that both recognisers read without its 內 was accepted on a phone
# photo: the tiny one's 務 at 0.42 over 为 at 0.18 (the simplified form of 為, another character).
def _simplified(ch: str) -> str:
    return _t2s().convert(ch)


@lru_cache(maxsize=1)
def _t2s():  # noqa: ANN202 - an opencc.OpenCC
    import opencc

    return opencc.OpenCC("t2s")


def _other_script(c: CharChoice) -> bool:
    """A character whose runner-up is another form of it not used in Taiwan (outside Big5): its
    simplified form or a variant (時 over 时, 鎮 over 鎭), no other reading of the value."""
    return bool(c.alt) and _outside_big5(c.alt) and _simplified(c.alt) == _simplified(c.text)


def _pair_difference(tiny: Reading, small: Reading, ftype: str) -> int | None:
    """Where the tiny recogniser's reading differs from the small one's in one character only,
    and there gives no reading of its own: another form of the small one's character outside
    Big5 (访 for 訪, 邻 for 鄰, see `_other_script`), or, in an address (its district checked
    against the gazetteer, its 巷 弄 號 樓 a structure), one chosen over the small one's character
    as its runner-up (卷 over 巷, 鎖 over 鎮); that character's position in the tiny reading, else
    None. Not in a name: on seed 139 (unseen faces, a fresh set) the tiny recogniser read a faxed
    handwritten 詹心怡 right, 詹 at 0.50 over 唐 at 0.46, and the small one's 唐心怡 was accepted
    (of the 60 values the runner-up clause accepted on this session's sets, the one wrong; 57 of
    them addresses).

    Or, since 2026-12-02 (fourth session), any character the tiny recogniser cannot read at all
    (not in its dictionary: `Reading.charset`), which it then reads as something else (龔宇翔 as
    冀宇翔, 6,904 characters against the small one's 18,708). Replayed on that session's bench runs
    after its other changes (seeds 157, 163, 167 and 173, 96 forms each, and two phone-only runs),
    the fields in review it would let the pair settle (the scores, leads, Big5 and Tesseract's
    dissent checked; not the surname, district and bigram checks, which only refuse more) were
    right 112 times of 112; measured since on fresh sets (README, "Measured")."""
    if len(tiny.text) != len(small.text) or len(tiny.chars) != len(tiny.text):
        return None
    diffs = [i for i, (a, b) in enumerate(zip(tiny.text, small.text, strict=True)) if a != b]
    if len(diffs) != 1:
        return None
    i = diffs[0]
    c = tiny.chars[i]
    simplified = _outside_big5(c.text) and _simplified(small.text[i]) == _simplified(c.text)
    # a Chinese character the tiny recogniser cannot read at all (龔 吳 謝 盧: its dictionary lacks
    # them); not a space, a digit or a mark, which no dictionary question settles
    lacks = (tiny.charset is not None and is_han(small.text[i]) and small.text[i] not in tiny.charset
             and not _small_leans_to(small, i, c.text))
    return i if simplified or lacks or (ftype == "address" and c.alt == small.text[i]) else None


# ... unless the small recogniser's own runner-up there (within `DOUBT_MARGIN`) is the tiny one's
# character, a character of Taiwan's own (in Big5): then the tiny reading is a reading of its own
# that the small one nearly gave. Fresh seed 733, an office scan: a handwritten 魏美娟 read 魏美娟
# by the tiny recogniser and 魏美絹 by the small one (娟 its runner-up at 0.08; the tiny one has no
# 絹), accepted as 魏美絹. Of the 682 values the pair accepted on the session's sets with the two
# readings one character apart, the small one's runner-up was the tiny one's character 11 times:
# 10 the simplified form (吴 for 吳, 彦 for 彥), right, and this one.
def _small_leans_to(small: Reading, i: int, ch: str) -> bool:
    if len(small.chars) != len(small.text) or _outside_big5(ch):
        return False
    c = small.chars[i]
    return c.alt == ch and c.margin < DOUBT_MARGIN


# Dates, phones and numbers have no checksum. On faxes, a light setting or a pencil leaves of a
# handwritten 4 little but its upright stroke, and every engine then reads 1 alike (seed 61:
# 049 read 019 and 054 read 051 in two ROC birth dates; seed 67: a phone's 745 read 715). The two
# dates came with Tesseract's own confidence at 0 and 15: of the fax agreements on such values in
# the seed-61 and seed-67 sets, 2 of 10 under 30 were wrong, 1 of 21 at 30-70 (the phone, at 67,
# which this does not catch) and none of 22 above. On a fax an agreement on such a value is
# accepted only from `FAX_DIGITS_MIN_CONF`: 30 until 2026-12-02 (fifth session), when the fresh
# seed-197 set (unseen faces) accepted a typed ROC 114年 read 111年 by all three engines (Tesseract
# at 61) and a handwritten 104 read 101 (at 34), both on faxes sent light. On that session's five
# sets (191, 193, 197 unseen and seen, 199) the fax agreements on dates, phones and numbers with
# Tesseract at 30-70 were wrong 2 times of 44, at 70 or more 0 of 637; with seeds 61 and 67, 3 of
# 65 against 0 of 659: 4.6% wrong where the bound is 0.5%. From 70 they go to a person (fax typed
# straight-through on those five sets fell 0.5-2.4 points, to 81.5-93.6%; no fax value was accepted
# wrong on them after).
WEAK_AGREEMENT_DOUBTED_ON = frozenset({"fax"})
# PP-OCR's pair no longer overrules an ID's loops (`national_id.digit_shape`). From the third
# session of 2026-12-02 to the tenth (2026-12-03) it did: on the tuning sets (seeds 113, 127)
# the IDs sent to a person for their loops alone whose pair agreed were right 12 times of 12. Fresh
# seed 509, a phone photo: a handwritten F143994856 read F113991856 by both recognisers, the
# closed 4s read as 1 twice and the checksum passing, accepted over its loops. The ID errors
# recorded before were the same confusion (T254043292 read T251013292, F149859007 read
# E119859007). Without the overrule, seeds 509 and 541-571 sent that ID and 3 right ones to a
# person, nothing else; a wrong ID is another person.
NO_CHECK_DIGITS = frozenset({"date", "phone", "number"})
FAX_DIGITS_MIN_CONF = 70.0
# ... nor a number or phone that Tesseract's digits-only first setting did not read (`retried`),
# settled by its fallback's reading: fresh seed 599, a fax whose handwritten grade 4 kept only its
# upright and specks, read nothing by the digits setting and 1 by the fallback (at 91) and the tiny
# recogniser, accepted. On fresh seeds 577-607's faxes such numbers and phones were accepted 3
# times, 1 wrong; on the other profiles 25 of 25 right (10 numbers, 15 phones: the digits setting
# often reads nothing of one digit alone), where it stays.
FAX_FALLBACK_DOUBTED = frozenset({"phone", "number"})


def route(f: Field, written: Written, verdict: Verdict, retried: bool, quality: str | None = None) -> Routing:
    """Accept the kept value, or say why a person must look: it does not validate; its digits do
    not have the loops of the ink (checked unless the engines agreed the first time); a soft
    flag (`_soft_flags`); or its calibrated confidence is below the type's cutoff for this
    agreement (`low_confidence`, or `readings_disagree`), from the page quality class's tables."""
    r = verdict.reading
    errors = list(r.problems)
    valid = not errors
    # The loops guard one engine's digit swaps that a checksum cannot see (3/8, 0/5, 1/6); two
    # engines that read the same digits the first time are the stronger evidence: on the seed-2
    # and seed-7 sets all 185 such IDs whose loops disagreed were right. PP-OCR's pair is not.
    pair = verdict.agreement in PAIR_SETTLES and ppocr_pair_agrees(f.type, verdict, quality)
    if valid and not verdict.agreement.first_time and not _digits_match_ink(f, written.units, r.text):
        errors.append(f"{f.type}.digit_shape")
    if valid:
        errors += _soft_flags(f, r.value, r.text)
    if valid and not errors and verdict.agreement != Agreement.DISAGREE:
        errors += shared_doubts(f.type, verdict.ppocr, r.value, quality)
    if valid and not errors and f.type == "name" and _surname_form_doubted(verdict.ppocr, str(r.value)):
        errors.append("name.variant_surname")
    if valid and not errors and f.type == "name" and _surname_doubted(verdict.ppocr, str(r.value)):
        errors.append("name.surname_uncertain")
    c = conf.text_confidence(f.type, r.conf, valid=valid, agreement=verdict.agreement, retried=retried, quality=quality)
    ok = not errors and conf.accept_text(f.type, r.conf, valid=valid, agreement=verdict.agreement, quality=quality)
    if ok and quality in WEAK_AGREEMENT_DOUBTED_ON and ((f.type in NO_CHECK_DIGITS and r.conf < FAX_DIGITS_MIN_CONF)
                                                        or (f.type in FAX_FALLBACK_DOUBTED and retried)):
        ok = False  # both engines may read what a fax left of a 4 (its upright) as 1: a person looks
    if not errors and not ok and pair:
        return Routing([], PAIR_CONFIDENCE, FieldStatus.ACCEPTED, "ppocr_pair")
    if not errors and not ok:
        errors = ["readings_disagree" if verdict.agreement == Agreement.DISAGREE else "low_confidence"]
    return Routing(errors, c, FieldStatus.ACCEPTED if ok else FieldStatus.NEEDS_REVIEW)


# How much further (in multiples of the writing's height, about one character) the writing on the
# stretched page must reach than the dark ink before a field counts as partly faint. Found on
# `bench/accuracy --count 8 --seed 23 --hand 0.3 --fonts unseen`: three of its five silent errors
# were light-blue or pencil handwriting read with its first or last characters missing by every
# engine (復興幼兒園 read 兒園, 黃淑玲 read 黃淑, an address without its final 樓).
FAINT_REACH = 0.6
# ... or at one end of a line by more than this: a light pen's last digit whose dark ink stopped
# halfway through it (fresh seed 193, a phone photo: a handwritten 0902-749-066 whose final 6 was
# dark only in its left half, 19 px of 44 short, read 061 by all three engines and accepted; the
# whole line reached 21 px further, under 0.6 of its height). A pen's tapering strokes reach a few
# pixels further on the stretched page, not a third of a character. 0.2 since 2026-12-03: a light
# pen's 47年 whose 4 was dark only in its upright (seed 281, a phone photo) reached 10 px further
# at its start, 0.23 of its height; all three engines, shown the writing from the upright on, read
# 17年 and it was accepted (1958 as 1928). On seeds 281, 283, 293 and 307 (all profiles) 0.2
# against 0.35 sent 2 right line values to review and offered 4 right values where wrong ones
# (長碧珠, 三婦產科診所, 1928) had been.
FAINT_END_REACH = 0.2
# A comb's cell (`_cells_reach_further`): at 0.2 eight right IDs went to review there, and no ID
# read wrong was read right.
CELL_FAINT_REACH = 0.35


# Writing whose darkest ink (its 10th percentile: the cores of the strokes, as thin typefaces'
# anti-aliased edges make the median light) is lighter than this share of the paper's brightness
# is in a light pen or pencil (synth: those pens are 80-165 grey on 230-250 paper, ballpoints 20-70
# and print 0-30); only such writing is checked for strokes too faint to count as ink, so typed and
# ballpoint values (whose stretched page shows the form's own faint print) are not. On the seed-23
# set's 578 typed clean and office fields, the median at 0.35 sent 12 of them to review, the 10th
# percentile at 0.22 7, at 0.3 1 (straight-through 94.81% -> 94.64%); all three caught the three
# short readings.
LIGHT_INK_SHARE = 0.3


def _light_ink(w: Written, paper: float) -> bool:
    level = ink_percentile([(crop, b.mask) for crop, b in w.units if b.area], 10)
    return level is not None and level > LIGHT_INK_SHARE * paper


def _extent(w: Written) -> tuple[int, int, float]:
    """Lines with writing, the writing's total width over them (px), and its mean height (px)."""
    boxes = [b.bbox for _, b in w.units if b.bbox is not None]
    if not boxes:
        return 0, 0, 0.0
    return len(boxes), sum(x1 - x0 for x0, _, x1, _ in boxes), sum(y1 - y0 for _, y0, _, y1 in boxes) / len(boxes)


def _reaches_further(faint: Written, dark: Written) -> bool:
    """Whether the writing found on the stretched page has a line more than the dark ink's, or
    reaches further along its lines by more than `FAINT_REACH` of its height, or at one end of a
    line by more than `FAINT_END_REACH` of it."""
    fl, fw, fh = _extent(faint)
    dl, dw, _ = _extent(dark)
    if fl > dl:
        return True
    if fl < dl:
        return False
    if fw - dw > FAINT_REACH * max(fh, 1.0) * fl:
        return True
    for (_, f), (_, d) in zip(faint.units, dark.units, strict=False):
        if f.bbox is None or d.bbox is None:
            continue
        h = max(f.bbox[3] - f.bbox[1], 1)
        if max(d.bbox[0] - f.bbox[0], f.bbox[2] - d.bbox[2]) > FAINT_END_REACH * h:
            return True
    return False


def _cells_reach_further(faint: Written, dark: Written) -> bool:
    """Whether, in some cell of a comb, the writing found on the stretched page is wider or taller
    than the dark ink by more than `CELL_FAINT_REACH` of its height, or is there where no dark ink
    is: a light pen's 4 whose diagonal and bar fell under the ink threshold leaves a 1's upright
    stroke, and the engines, shown only what the dark ink spans, read 1 (fresh seed 307, a phone
    photo: the handwritten ID C177439352 read C1771393D2 by both PP-OCR recognisers, the 5 dark
    only in its lower half). Line fields have `_reaches_further`."""
    for (_, f), (_, d) in zip(faint.units, dark.units, strict=False):
        if f.bbox is None or not _cell_filled(f):
            continue
        if d.bbox is None or not _cell_filled(d):
            return True
        fh = max(f.bbox[3] - f.bbox[1], 1)
        grew_w = (f.bbox[2] - f.bbox[0]) - (d.bbox[2] - d.bbox[0])
        grew_h = fh - (d.bbox[3] - d.bbox[1])
        if max(grew_w, grew_h) > CELL_FAINT_REACH * fh:
            return True
    return False


# Ink just after a line's writing that the ink threshold broke into pixels too few to keep: a final
# 。 or ， (or digit) in a lighter stroke than the rest. Every engine then reads the line without it,
# alike (bench/accuracy --seed 157, seen faces: a handwritten 資訊。 on an office scan, its 。 left
# as seven scattered pixels, read 資訊 by all three and accepted). Where the pixels within
# `TAIL_REACH` of the line's height after its end clearly outnumber the page's specks
# (`marks.traces_exceed`), a person confirms the value (`faint_ink`). Not on faxes, whose pepper
# gathers at the edges of print.
TAIL_REACH = 0.8
# ... in pieces (each under `ink.SPECK_MM2`): a mark broken up, not one speck of dust (an office scan's 6-pixel speck after 蘇秀玉,
# seed 157, sent four right values to review before this)
TAIL_MIN_PIECES = 3
# every type read on ruled lines (IDs are read cell by cell): on seed 179 (seen faces, a fresh set
# when this was set) a handwritten birth date 70.1.26 whose 6 an office copy broke into 5 specks was
# read 70.1.2 by all three engines and accepted; the names, texts and addresses until then
TAIL_CHECKED = frozenset({"name", "text", "address", "date", "phone", "number"})


# A line's final 、，。 that PP-OCR's small recogniser leaves out, and Tesseract with it: fresh seed
# 503, a typed 言語威脅、 ending a line on a clean and an office scan, read 威脅 by both (with more
# room after it too) and accepted without its 、; the tiny recogniser read it. Where a PP-OCR
# reading ends a line with one of these and the kept one ends that line with no punctuation, a
# person confirms the value. On fresh seeds 467-503 (all profiles, 22,000 fields) the check
# flagged no value that was right and accepted.
LINE_END_MARKS = "、，。"
PUNCTUATION = frozenset("、，。,.;；:：!！?？」』）)")
LINE_END_CHECKED = frozenset({"text", "address"})


def _line_end_dropped(verdict: Verdict) -> bool:
    """Whether a PP-OCR reading ends some line with `LINE_END_MARKS` where the kept reading ends
    the same line (lines counted alike) with no punctuation."""
    kept = verdict.reading.text.split(" ")
    for p in verdict.ppocr:
        lines = p.text.split(" ")
        if len(lines) != len(kept):
            continue
        if any(a and b and a[-1] in LINE_END_MARKS and b[-1] not in PUNCTUATION for a, b in zip(lines, kept, strict=True)):
            return True
    return False


def _dropped_tail(ctx: PageContext, w: Written) -> bool:
    """Whether some line of `w` has more ink pixels taken out as specks just after its end (within
    `TAIL_REACH` of its height) than the page's speck rate explains."""
    rate = speck_rate(ctx)
    if rate is None or w.comb:
        return False
    speck = SPECK_MM2 * PX_PER_MM * PX_PER_MM
    for _, b in w.units:
        if b.bbox is None or b.removed is None:
            continue
        x0, y0, x1, y1 = b.bbox
        zone = b.removed[y0:y1, x1:x1 + round(TAIL_REACH * (y1 - y0))]
        if not zone.any():
            continue
        # specks only: a printed border the crop caught was taken out too, and is no mark
        n, _, stats, _ = cv2.connectedComponentsWithStats(zone.astype(np.uint8), connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]
        areas = areas[areas < speck]
        if areas.size >= TAIL_MIN_PIECES and traces_exceed(int(areas.sum()), rate * zone.size):
            return True
    return False


def _on_faint_page(ctx: PageContext, slot: Slot) -> tuple[PageContext, Written]:
    """The page with its light flattened and its darkness stretched (`marks.faint_page`: the
    page's faint level at the readers' ink threshold), and the field's writing on it."""
    fctx = replace(ctx, canon=faint_page(ctx), paper=255.0)
    return fctx, _written(fctx, slot)


def read_text(ctx: PageContext, slot: Slot) -> FieldReading:
    """A text field: nothing written (no OCR), or first readings -> second opinion -> routing."""
    f = slot.field
    if ctx.keep_crops:
        ctx.crops[slot.path] = cut_out(ctx, slot.box).copy()
    written = _written(ctx, slot)
    faint = partly = False
    if written.ink_mm2 < EMPTY_INK_MM2:
        # no dark ink; before calling it empty, look for writing in a light pen or pencil on the
        # page with its light flattened and its darkness stretched (marks.faint_page)
        fctx, fwritten = _on_faint_page(ctx, slot)
        if fwritten.ink_mm2 >= EMPTY_INK_MM2:
            ctx, written, faint = fctx, fwritten, True
    elif _light_ink(written, ctx.paper):
        # dark ink found, but in a light pen or pencil some strokes may be dark enough and others
        # not: the readers would then read the dark characters only (all three alike) and a value
        # with characters missing could go through. Where the stretched page shows writing
        # reaching clearly further than the dark ink does (in a comb: cell by cell), read that and
        # let a person confirm it.
        # (Only light ink is looked at again: cutting every typed field out twice cost ~5% a page.)
        fctx, fwritten = _on_faint_page(ctx, slot)
        further = _cells_reach_further if written.comb else _reaches_further
        if further(fwritten, written):
            ctx, written, faint, partly = fctx, fwritten, True, True
    if written.ink_mm2 < EMPTY_INK_MM2:  # nothing written: no OCR
        c = conf.for_empty(written.ink_mm2, EMPTY_INK_MM2)
        errors = ["required"] if f.required else []
        if traces_exceed(*text_traces(ctx, slot.box)):  # more specks than the page has: writing broken up?
            errors.append("faint_ink")
        status = FieldStatus.ACCEPTED if not errors and c >= conf.EMPTY_ACCEPT else FieldStatus.NEEDS_REVIEW
        return FieldReading(path=slot.path, type=f.type, value=None, text="", confidence=c, status=status,
                            errors=errors, page=slot.page, box=slot.box, engine="ink",
                            details={"ink_mm2": round(written.ink_mm2, 2)})
    attempts: list[dict[str, Any]] = []
    first = first_readings(ctx, f, written, attempts)
    verdict = second_opinion(ctx, f, written, first, attempts)
    routing = route(f, written, verdict, first.retried, ctx.quality_cls)
    r = verdict.reading
    status, errors = routing.status, routing.errors
    on_fax = ctx.quality_cls == "fax"  # a fax's pepper is no mark (ink.NEAR_GAP)
    if faint and (partly or FAINT_TEXT_REVIEW):  # partly faint: read in full, and a person confirms it
        status, errors = FieldStatus.NEEDS_REVIEW, [*errors, "faint_ink"]
    elif status == FieldStatus.ACCEPTED and f.type in TAIL_CHECKED and not on_fax and _dropped_tail(ctx, written):
        status, errors = FieldStatus.NEEDS_REVIEW, [*errors, "faint_ink"]
    elif status == FieldStatus.ACCEPTED and f.type in LINE_END_CHECKED and _line_end_dropped(verdict):
        status, errors = FieldStatus.NEEDS_REVIEW, [*errors, f"{f.type}.line_end_dropped"]
    return FieldReading(path=slot.path, type=f.type, value=r.value, text=r.text, confidence=routing.confidence,
                        status=status, errors=errors, page=slot.page, box=slot.box,
                        engine=verdict.engine,
                        details={"ink_mm2": round(written.ink_mm2, 2), "engine_conf": r.conf,
                                 "agreement": verdict.agreement.value, "attempts": attempts, "faint_ink": faint,
                                 **({"accepted_by": routing.accepted_by} if routing.accepted_by else {}),
                                 **({"ink_chars": _ink_chars(written)} if not written.comb else {})})


def _ink_chars(w: Written) -> float:
    """How many square characters the writing's extent holds: its width over its lines divided
    by its mean height (`fax.writing_partly_lost` compares it with the reading's length)."""
    _, width, height = _extent(w)
    return round(width / max(height, 1.0), 1)


# A checkbox's or choice's crop (for the review station): its squares with this much around them,
# and room on the right for the labels printed there (the renderer puts them right of squares).
MARK_CROP_MARGIN_MM = 2.0
MARK_CROP_LABEL_MM = 24.0


def _keep_mark_crop(ctx: PageContext, slot: Slot) -> None:
    x, y, w, h = slot.box
    m = MARK_CROP_MARGIN_MM
    ctx.crops[slot.path] = cut_out(ctx, (max(0.0, x - m), max(0.0, y - m), w + 2 * m + MARK_CROP_LABEL_MM,
                                         h + 2 * m)).copy()


def read_slot(ctx: PageContext, slot: Slot) -> FieldReading:
    """One field's reading. A reading sent to review always names why (`low_confidence` when no
    check failed but the reading was too close to call)."""
    try:
        r = _read_slot(ctx, slot)
    except OcrTimeout as exc:  # one pathological field: a person reads it, the page goes on
        r = FieldReading(path=slot.path, type=slot.field.type, value=None, text=None, confidence=0.0,
                         status=FieldStatus.NEEDS_REVIEW, errors=[exc.code], page=slot.page, box=slot.box,
                         engine="tesseract", details={"reason": exc.message})
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


def read_page_fields(img: np.ndarray, H: np.ndarray, template: Template, page: int, engine: PageEngine | None,
                     keep_crops: bool = False, registry: Registry | None = None
                     ) -> tuple[list[FieldReading], dict[str, np.ndarray], PageQuality]:
    """Every field of one registered page, the crops kept, and the page's measured quality.
    `registry`: the one the page was registered with (its blank pages); the default one if None."""
    canon = warp_to_template(img, H, template)
    quality = measure_quality(canon, CANON_DPI, scan_dpi(H), img)
    ctx = PageContext(canon, paper_level(canon), engine, keep_crops, template=template, page=page, quality=quality,
                      registry=registry)
    readings = [read_slot(ctx, s) for s in template.slots() if s.page == page]
    if quality.cls == "fax":
        quality = replace(quality, print_kept=print_kept(ctx))
        doubt_empties_on_fax(quality, template, page, readings)
    return readings, ctx.crops, quality


# A fax sent with a light setting breaks up its own print and can take writing in a light pen or
# pencil off the page altogether: nothing is left to measure, so each such field was read as
# empty and accepted (4 of the 11 silent errors of the 2026-12-02 fresh sets, and 4 of 9 on seed
# 61's unseen faces: one page whose handwriting, ticks and signature had all gone). What the page
# still shows is that it was sent light (`PageQuality.print_kept` under `LIGHT_FAX_PRINT_KEPT`:
# the seed-61 fax pages measured 0.60-0.79 (12 pages) and 0.91 against 1.01-2.04 for the other
# 43; one clean page faxed at thresholds 100, 112, 125 and 135, the synth's light settings, gave
# 0.60, 0.71, 0.84 and 0.94, and 1.09-1.60 at 150-200) with no tick on it read surely marked (a
# ballpoint's ticks come through a light setting whole), or that a required field on it came out
# empty (its writer's pen may be the one that vanished). On such a page an empty reading is not
# "clearly empty": every one goes to a person, who can ask for the fax again.
LIGHT_FAX_PRINT_KEPT = 0.95
WRITING_MAY_BE_LOST = "fax.writing_may_be_lost"
# On such a page a pen that is vanishing may also have left part of a field: of a handwritten
# 臺北市士林區福德國民小學 in pencil a black-and-white scan kept strokes scattered along the line
# (8.4 characters' length at their height), both PP-OCR recognisers read 市士民 and the pair rule
# accepted it over Tesseract (seed 251, `bench/rescans --transforms bw`); the page's right
# readings measured 3.0-3.2 for three characters, 20.5 for twenty. A name, text or address read
# shorter than its writing by more than `PARTLY_LOST_SPAN` (a character of Latin or digits
# counts half) goes to review there too. Sending every reading accepted over Tesseract instead
# cost 2-3 points of typed fax straight-through on seeds 257 and 263 and caught nothing there.
WRITING_PARTLY_LOST = "fax.writing_partly_lost"
PARTLY_LOST_SPAN = (1.5, 1.0)  # writing longer than 1.5 x the reading's characters + 1


# A name read as one character or an address without its county (`_soft_flags`), engines agreeing,
# on such a page is what a vanishing pen leaves of its writing (seed 577's black-and-white scan:
# 陳博文 read 陳, 新北市板橋區福德街321號 read 板, both agreed); the page's empties are then no
# surer than the rest of it. A handwritten address the engines read apart as garbage says
# nothing of the sort (on fresh seed 577's faxes five such put ten right empties in doubt).
PARTLY_READ = frozenset({"name.one_character", "address.no_county"})


def _read_in_part(r: FieldReading) -> bool:
    """A value read in part (`PARTLY_READ`) that two engines agreed on."""
    return bool(PARTLY_READ.intersection(r.errors)) and r.details.get("agreement") not in (None, Agreement.DISAGREE.value)


def _surely_marked(r: FieldReading) -> bool:
    """A tick box read marked (not only as faint ink) and accepted."""
    if r.type not in ("checkbox", "choice") or r.status != FieldStatus.ACCEPTED:
        return False
    states = r.details.get("states") or {"true": r.details.get("state")}
    return "marked" in states.values()


def _broken_mark(r: FieldReading) -> bool:
    """A tick box read as a mark a fax broke up (`marks.Evidence.broken`: on a fax page, a mark
    is found only as faint ink that way)."""
    return r.type in ("checkbox", "choice") and "faint_ink" in r.errors


def _row_partly_empty(template: Template, page: int, readings: list[FieldReading]) -> bool:
    """A table row on this page with a written cell and a cell read empty (tick boxes aside).

    An office scanner's black-and-white mode takes a pencil off the page as a light fax does,
    but sent at a normal setting: the print comes through whole and nothing on the page is
    broken up. On seed 251's forms scanned that way (`bench/rescans --transforms bw`), four of
    the seven silent errors were household-table cells in pencil read empty beside cells of the
    same row that were typed. A row is written by one hand at one time: a cell left empty beside
    written ones is worth a look on a page that can lose a pen."""
    by_path = {r.path: r for r in readings}
    rows: dict[tuple[str, int], list[FieldReading]] = {}
    for s in template.slots():
        r = by_path.get(s.path)
        if s.page == page and s.table is not None and s.row is not None and r is not None \
                and r.type not in ("checkbox", "choice", "signature"):
            rows.setdefault((s.table.name, s.row), []).append(r)
    return any(any(is_empty(r.value) for r in cells) and not all(is_empty(r.value) for r in cells)
               for cells in rows.values())


def _short_for_its_writing(r: FieldReading) -> bool:
    """A name, text or address read with clearly fewer characters than its writing holds."""
    span = r.details.get("ink_chars")
    if span is None or r.type not in ("name", "text", "address") or not isinstance(r.value, str):
        return False
    chars = sum(1.0 if is_han(c) or not c.isascii() else 0.5 for c in r.value if not c.isspace())
    factor, extra = PARTLY_LOST_SPAN
    return span > factor * chars + extra


def _option_left_empty(r: FieldReading) -> bool:
    """A multiple choice with an option read empty: on a page losing a pen, a tick may have gone
    from it as from any empty field (`bench/rescans --transforms bw`, seeds 577 and 593: three
    multiple choices accepted with one or two of their ticks gone, beside required fields read
    empty that had put the page in doubt)."""
    states = r.details.get("states") or {}
    return any(st in (None, "empty") for st in states.values())


def doubt_empties_on_fax(quality: PageQuality, template: Template, page: int, readings: list[FieldReading]) -> str | None:
    """On a fax page sent light, holding a mark the fax broke up, with a required field read
    empty, with a table row partly empty, or with a value read in part (`PARTLY_READ`), send
    every accepted empty reading to review (`WRITING_MAY_BE_LOST`; a multiple choice with an
    option left empty too), and every accepted name, text or address read short for its writing
    (`WRITING_PARTLY_LOST`); returns why ("light_print", "mark_broken", "required_empty",
    "row_partly_empty", "partly_read") or None when the page shows none of them. A mark broken
    into specks shows that a pen on the page is being lost, whatever else came through (since
    `marks.BROKEN_MIN` went to 4, such a tick is offered as a mark, no longer as an empty box that
    would have counted as a required field read empty). "Fax" is the page's quality class: any
    bilevel page, a black-and-white office scan too (`quality.classify`)."""
    light = quality.print_kept is not None and quality.print_kept < LIGHT_FAX_PRINT_KEPT
    if light and any(_surely_marked(r) for r in readings):
        light = False  # a tick came through whole: the pen that filled the page writes dark enough
    on_page = [s for s in template.slots() if s.page == page]
    required = {s.path for s in on_page if s.field.required}
    if light:
        why = "light_print"
    elif any(_broken_mark(r) for r in readings):
        why = "mark_broken"
    elif any(r.path in required and is_empty(r.value) for r in readings):
        why = "required_empty"
    elif _row_partly_empty(template, page, readings):
        why = "row_partly_empty"
    elif any(_read_in_part(r) for r in readings):
        why = "partly_read"
    else:
        return None
    multiple = {s.path for s in on_page if s.field.multiple}
    for r in readings:
        if r.status != FieldStatus.ACCEPTED:
            continue
        if is_empty(r.value) or (r.path in multiple and _option_left_empty(r)):
            code = WRITING_MAY_BE_LOST
        elif _short_for_its_writing(r):
            code = WRITING_PARTLY_LOST
        else:
            continue
        r.status = FieldStatus.NEEDS_REVIEW
        r.confidence = min(r.confidence, 0.5)
        r.errors = [*r.errors, code]
        r.details = {**r.details, "fax_page": why}
    return why
