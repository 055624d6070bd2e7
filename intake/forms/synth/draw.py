"""Writing values and marks onto a blank page image, as a person or a printer would.

All drawing is at the blank page's resolution (300 dpi) in the template's millimetre coordinates.
Every value is drawn into a layer the size of its box and blended onto the page by multiplying
(ink on paper), so nothing written ever leaves its box; only check marks may overshoot their
square a little, as pens do.

* typed: one face per form (a form is printed by one program), from the chosen set of faces
  (`FONT_SETS`: the faces calibration sees, the ones it never sees, or all), near-black, ink
  55-65 % of the box (or line) height, left aligned with 1.5 mm padding, vertically centred;
  comb fields one character centred per cell. A value with a character the face lacks is typed
  in Noto Sans CJK TC, as a word processor falls back;
* hand: a Kai face (AR PL UKai TW, or cwTeX Kai unseen) character by character with jitter in
  size, rotation, baseline and spacing, a pen per form (see `INKS`: a dark ballpoint, grey 20-70
  and blue-black on colour scans, most of the time; otherwise a light blue ballpoint, a red pen
  or a pencil, grey and thin, whose strokes are far lighter than the printing) and a slight
  slant; Latin names in a handwriting-like Latin face (Comic Neue);
* marks: a check (two strokes), a cross or a dot; a cancelled box is filled almost completely or
  scribbled over (a dense zigzag, ``scribble``);
* signatures: a scribble of 2-4 Bezier strokes.

`fits_line` / `fits_lines` are the capacity checks the data generator uses so that the values it
makes always fit their boxes.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from intake.values import DATE_STYLES, PHONE_STYLES, format_date, format_phone, normalize_text

DPI = 300
PAD_MM = 1.5  # left padding of typed text
RIGHT_MARGIN_MM = 1.0  # text never comes closer than this to a box's right edge
INK_RATIO = (0.55, 0.65)  # typed ink height as a share of the box (or line) height

# name: (path, family, Debian package) of every face; a collection's face index is found by
# family name on first use.
FONT_FILES: dict[str, tuple[str, str, str]] = {
    # typed: sans (hei), Ming/Song (serif), Kai, FangSong, round
    "noto": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK TC", "fonts-noto-cjk"),
    "uming": ("/usr/share/fonts/truetype/arphic/uming.ttc", "AR PL UMing TW", "fonts-arphic-uming"),
    "noto_serif": ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "Noto Serif CJK TC", "fonts-noto-cjk"),
    "cwming": ("/usr/share/fonts/truetype/cwtex/cwming.ttf", "cwTeXMing", "fonts-cwtex-ming"),
    "cwfangsong": ("/usr/share/fonts/truetype/cwtex/cwfs.ttf", "cwTeXFangSong", "fonts-cwtex-fs"),
    "cwkai": ("/usr/share/fonts/truetype/cwtex/cwkai.ttf", "cwTeXKai", "fonts-cwtex-kai"),
    "cwyen": ("/usr/share/fonts/truetype/cwtex/cwyen.ttf", "cwTeXYen", "fonts-cwtex-yen"),
    # handwriting: Kai faces drawn with jitter; Latin handwriting
    "ukai": ("/usr/share/fonts/truetype/arphic/ukai.ttc", "AR PL UKai TW", "fonts-arphic-ukai"),
    "comic": ("/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf", "Comic Neue", "fonts-comic-neue"),
    "comic_italic": ("/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf", "Comic Neue", "fonts-comic-neue"),
}


@dataclass(frozen=True)
class FontSet:
    """The faces a form may be filled in: typed (one per form, with weights), Chinese handwriting
    and Latin handwriting (one of each per form)."""

    typed: dict[str, float]
    hand: tuple[str, ...]
    latin_hand: tuple[str, ...]


# `classic`: the faces the forms had before issue 13 (the default: a seed gives the same forms as
# before, so tests and figures that name a record keep it); `seen`: the faces calibration may be
# run on (bench/accuracy --calibrate: `classic` or `seen`), the classic ones and a Song face and
# Latin handwriting; `unseen`: faces calibration never sees, for reporting how the reader holds on
# print it was not tuned to (issue 13: both engines shared confusions most in a Song face neither
# was tuned on); `all`: seen and unseen.
CLASSIC_TYPED = {"noto": 0.6, "uming": 0.4}
FONT_SETS: dict[str, FontSet] = {
    "classic": FontSet(CLASSIC_TYPED, ("ukai",), ("ukai",)),
    "seen": FontSet({"noto": 0.45, "uming": 0.3, "noto_serif": 0.25}, ("ukai",), ("comic",)),
    "unseen": FontSet({"cwming": 0.35, "cwkai": 0.25, "cwfangsong": 0.2, "cwyen": 0.2}, ("cwkai",), ("comic_italic",)),
}
FONT_SETS["all"] = FontSet({**FONT_SETS["seen"].typed, **FONT_SETS["unseen"].typed},
                           FONT_SETS["seen"].hand + FONT_SETS["unseen"].hand,
                           FONT_SETS["seen"].latin_hand + FONT_SETS["unseen"].latin_hand)
TYPED_FONTS = tuple(FONT_SETS["all"].typed)  # every typed face
# The generator makes values fit their boxes in these faces (the classic ones, so a seed gives the
# same records as before); the others shrink a line that would not fit, as `draw_typed` does.
FIT_FONTS = tuple(CLASSIC_TYPED)
FALLBACK_FONT = "noto"  # types what another face lacks (Noto CJK TC covers every character used)

# ROC spellings are what Taiwanese forms mostly carry.
DATE_STYLE_WEIGHTS = {
    "roc_cjk": 4, "roc_cjk_padded": 2, "roc_slash": 4, "roc_compact": 1.5, "roc_dot": 1.5,
    "iso": 1, "gregorian_slash": 1, "gregorian_compact": 0.5,
}  # fmt: skip
PHONE_STYLE_WEIGHTS = {"plain": 2, "dashed": 4, "paren": 2.5, "spaced": 1, "intl": 0.5}
assert set(DATE_STYLE_WEIGHTS) == set(DATE_STYLES) and set(PHONE_STYLE_WEIGHTS) == set(PHONE_STYLES)

MARK_STYLES = ("check", "cross", "dot")
MARK_STYLE_WEIGHTS = (0.65, 0.25, 0.10)
CANCEL_STYLES = ("filled", "scribble")  # how a box is cancelled where the form allows it

# The pen a form is filled in with: share of forms, grey on grey scans, RGB range on colour ones.
# Light blue and pencil come out near the grey of a printed form's light lines (150-165): the
# reader must find them by their difference from the paper, not by a fixed darkness.
INKS = {
    "ballpoint": 0.72,  # dark: grey 20-70, blue-black or black on colour
    "light_blue": 0.10,  # grey 135-165; RGB ~ (100-140, 150-185, 215-245)
    "red": 0.06,  # grey 80-110; RGB ~ (185-225, 25-60, 35-70)
    "pencil": 0.12,  # grey 95-150, thin (0.2-0.3 mm marks), never broad
}

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]")
_NO_LINE_START = set("，。、；：！？）」』》〉．,.;:!?)")
_FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def px(mm: float) -> float:
    return mm / 25.4 * DPI


# ---------------------------------------------------------------------------------- fonts
class FontMissing(RuntimeError):
    """A face the synthetic forms need is not installed (it names the Debian package)."""


@cache
def _face_index(name: str) -> int:
    path, family, package = FONT_FILES[name]
    missing = FontMissing(f"font {family!r} ({path}) is not installed: install the Debian package {package} "
                          "(scripts/setup does)")
    if not os.path.isfile(path):  # Pillow would look for the file's name elsewhere and may find another
        raise missing
    for i in range(12):
        try:
            f = ImageFont.truetype(path, 20, index=i)
        except OSError:
            break
        if f.getname()[0] == family:
            return i
    raise missing


def check_fonts(fonts: str) -> None:
    """Fail clearly, before anything is drawn, when a face of the set `fonts` is missing."""
    fs = FONT_SETS[fonts]
    for name in (*fs.typed, *fs.hand, *fs.latin_hand, FALLBACK_FONT):
        _face_index(name)


@lru_cache(maxsize=512)
def font(name: str, size_px: int) -> ImageFont.FreeTypeFont:
    path = FONT_FILES[name][0]
    return ImageFont.truetype(path, max(4, int(size_px)), index=_face_index(name))


@cache
def _notdef(name: str) -> bytes:
    return _mask_bytes(name, "\U0010fffd")


def _mask_bytes(name: str, ch: str) -> bytes:
    f = font(name, 24)
    x0, _, x1, _ = f.getbbox(ch)
    return np.asarray(f.getmask(ch)).tobytes() if x1 > x0 else b""


@lru_cache(maxsize=65536)
def has_glyph(name: str, ch: str) -> bool:
    """Whether the face draws `ch` itself (not its missing-glyph box, nor nothing)."""
    if ch.isspace():
        return True
    return _mask_bytes(name, ch) != _notdef(name)


def face_for(name: str, text: str, fallback: str = FALLBACK_FONT) -> str:
    """`name`, or `fallback` when `name` lacks a character of `text` (cwTeX's faces cover Big5)."""
    return name if all(has_glyph(name, ch) for ch in text) else fallback


_REF = 200  # measuring size in px


@lru_cache(maxsize=65536)
def _char_ref(name: str, ch: str) -> tuple[float, int, int, int, int]:
    """(advance, left, top, right, bottom) of one character at the measuring size; top/bottom
    relative to the ascender line as Pillow's default anchor puts it."""
    f = font(name, _REF)
    x0, y0, x1, y1 = f.getbbox(ch)
    return f.getlength(ch), x0, y0, x1, y1


@lru_cache(maxsize=65536)
def _bbox_ref(name: str, text: str) -> tuple[float, float, float, float]:
    """Ink box of `text` at the measuring size from per-character metrics (no kerning: CJK forms
    and the digits they carry are set without it)."""
    x = 0.0
    left = top = 1e9
    right = bottom = -1e9
    for ch in text:
        adv, x0, y0, x1, y1 = _char_ref(name, ch)
        if x1 > x0:
            if x + x0 < left:
                left = x + x0
            if x + x1 > right:
                right = x + x1
            if y0 < top:
                top = y0
            if y1 > bottom:
                bottom = y1
        x += adv
    if right < left:
        return 0.0, 0.0, 0.0, 0.0
    return left, top, right, bottom


@lru_cache(maxsize=65536)
def _len_ref(name: str, text: str) -> float:
    return sum(_char_ref(name, ch)[0] for ch in text)


def _ink_h_ref(name: str, text: str) -> float:
    _, top, _, bottom = _bbox_ref(name, text)
    return max(1.0, bottom - top)


REF_GLYPH = "國"  # the height of a full ideograph sizes multi-line text


def size_for_ink(name: str, text: str, ink_px: float) -> float:
    """Font size (px) at which `text`'s ink is `ink_px` high."""
    return ink_px * _REF / _ink_h_ref(name, text)


def text_width_px(name: str, text: str, size: float) -> float:
    left, _, right, _ = _bbox_ref(name, text)
    return (right - left) * size / _REF


# ---------------------------------------------------------------------------------- capacity
def _line_size(name: str, text: str, box_h_mm: float, ratio: float) -> float:
    return size_for_ink(name, text, ratio * px(box_h_mm))


@lru_cache(maxsize=65536)
def fits_line(text: str, box_w_mm: float, box_h_mm: float, ratio: float = INK_RATIO[1]) -> bool:
    """Whether `text` typed on one line fits a box of that size in every typed font."""
    room = px(box_w_mm - PAD_MM - RIGHT_MARGIN_MM)
    for name in FIT_FONTS:
        size = _line_size(name, text, box_h_mm, ratio)
        if text_width_px(name, text, size) > room:
            return False
    return True


def fits_cells(text: str, cells: int) -> bool:
    return len(text) <= cells


@lru_cache(maxsize=8192)
def _is_cjk(ch: str) -> bool:
    return _CJK.match(ch) is not None


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    """Units a line may be broken between without changing the normalised text: single CJK
    characters, Latin/digit runs glued to their neighbours, spaces."""
    out: list[str] = []
    for ch in text:
        if ch == " ":
            out.append(ch)
        elif out and out[-1] != " " and not (_is_cjk(ch) and _is_cjk(out[-1][-1])):
            out[-1] += ch  # no break between Latin/digits and what touches them
        else:
            out.append(ch)
    # kinsoku: closing punctuation stays with the character before it
    merged: list[str] = []
    for tok in out:
        if merged and tok[0] in _NO_LINE_START and merged[-1] != " ":
            merged[-1] += tok
        else:
            merged.append(tok)
    return tuple(merged)


def wrap(text: str, advance, room_px: float) -> list[str] | None:
    """Greedy line breaking of `text` so that no line's advance width passes `room_px`.

    `advance(token)` is a token's width in px (additive: a line's width is the sum of its
    tokens'); None if one unbreakable unit alone is too wide.
    """
    lines: list[str] = []
    cur, cur_w = "", 0.0
    for tok in _tokens(text):
        if tok == " ":
            if cur:
                cur += " "
                cur_w += advance(" ")
            continue
        w = advance(tok)
        if w > room_px:
            return None
        if cur and cur_w + w > room_px:
            lines.append(cur.rstrip())
            cur, cur_w = tok, w
        else:
            cur, cur_w = cur + tok, cur_w + w
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def advance_px(name: str, text: str, size: float) -> float:
    return _len_ref(name, text) * size / _REF


def _multi_size(name: str, box_h_mm: float, lines: int, ratio: float) -> float:
    return size_for_ink(name, REF_GLYPH, ratio * px(box_h_mm / lines))


@lru_cache(maxsize=16384)
def fits_lines(text: str, box_w_mm: float, box_h_mm: float, lines: int, ratio: float = INK_RATIO[1]) -> bool:
    """Whether `text` typed into a ruled box of `lines` lines fits in every typed font."""
    room = px(box_w_mm - PAD_MM - RIGHT_MARGIN_MM)
    for name in FIT_FONTS:
        size = _multi_size(name, box_h_mm, lines, ratio)
        got = wrap(text, lambda s, n=name, z=size: advance_px(n, s, z), room)
        if got is None or len(got) > lines:
            return False
    return True


def fits_box(text: str, box_w_mm: float, box_h_mm: float, *, lines: int = 1, cells: int | None = None) -> bool:
    if cells:
        return fits_cells(text, cells)
    if lines > 1:
        return fits_lines(text, box_w_mm, box_h_mm, lines)
    return fits_line(text, box_w_mm, box_h_mm)


# ---------------------------------------------------------------------------------- canvas
class Canvas:
    """A page as a numpy array (H, W) or (H, W, 3), drawn on by multiplying ink layers."""

    def __init__(self, image: Image.Image, colour: bool) -> None:
        self.colour = colour
        img = image.convert("RGB") if colour else image.convert("L")
        self.a = np.array(img)
        self.h, self.w = self.a.shape[:2]

    def image(self) -> Image.Image:
        return Image.fromarray(self.a)

    def blend(self, x0: int, y0: int, mask: np.ndarray, ink) -> None:
        """Multiply the page under `mask` (uint8 coverage, 255 = full ink) by the ink colour."""
        h, w = mask.shape
        x1, y1 = x0 + w, y0 + h
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(self.w, x1), min(self.h, y1)
        if cx0 >= cx1 or cy0 >= cy1:
            return
        m = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0].astype(np.float32) / 255.0
        region = self.a[cy0:cy1, cx0:cx1].astype(np.float32)
        if self.colour:
            ink_v = np.asarray(ink if isinstance(ink, tuple) else (ink, ink, ink), np.float32) / 255.0
            factor = 1.0 - m[..., None] * (1.0 - ink_v[None, None, :])
        else:
            g = ink if not isinstance(ink, tuple) else int(round(0.299 * ink[0] + 0.587 * ink[1] + 0.114 * ink[2]))
            factor = 1.0 - m * (1.0 - g / 255.0)
        self.a[cy0:cy1, cx0:cx1] = np.clip(region * factor + 0.5, 0, 255).astype(np.uint8)


def _box_px(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = int(round(px(x))), int(round(px(y)))
    return x0, y0, int(round(px(x + w))) - x0, int(round(px(y + h))) - y0


# ---------------------------------------------------------------------------------- pens
@dataclass(frozen=True)
class Pen:
    """How one form was filled in: its typed font and the pen used for handwriting and marks."""

    typed_font: str
    typed_ink: int  # 0-30
    hand_grey: int  # 20-70, the ink on grey scans
    hand_rgb: tuple[int, int, int]  # on colour scans: blue-black or black ballpoint
    slant: float  # shear of handwriting, x per y
    mark_style: str  # the writer's usual mark
    mark_width_mm: float
    heavy: bool  # writes with a broad pen
    ink: str = "ballpoint"  # a key of INKS
    hand_font: str = "ukai"  # Chinese handwriting (a Kai face, drawn with jitter)
    latin_hand_font: str = "ukai"  # Latin names by hand

    def hand_ink(self, colour: bool, rng: random.Random):
        g = max(10, min(175, self.hand_grey + rng.randint(-8, 8)))
        if not colour:
            return g
        r, gg, b = self.hand_rgb
        k = g / self.hand_grey
        return (min(255, int(r * k)), min(255, int(gg * k)), min(255, int(b * k)))


def choose_pen(rng: random.Random, variants: random.Random | None = None) -> Pen:
    """The pen of one form; its ink (`INKS`) is drawn from `variants` (None: a dark ballpoint
    always), so that a form in dark ballpoint draws from `rng` exactly what it did before the
    other inks existed."""
    grey = rng.randint(20, 70)
    blue = rng.random() < 0.6
    rgb = (rng.randint(15, 35), rng.randint(25, 50), rng.randint(70, 120)) if blue else (grey, grey, grey + 5)
    typed_font = rng.choices(list(CLASSIC_TYPED), weights=list(CLASSIC_TYPED.values()))[0]  # see `with_fonts`
    typed_ink = rng.randint(0, 30)
    slant = rng.uniform(-0.12, 0.18)
    mark_style = rng.choices(MARK_STYLES, weights=MARK_STYLE_WEIGHTS)[0]
    width = rng.uniform(0.35, 0.6)
    heavy = rng.random() < 0.4
    ink = variants.choices(list(INKS), weights=list(INKS.values()))[0] if variants is not None else "ballpoint"
    v = variants or rng  # (only drawn from when `variants` gave another ink)
    if ink == "light_blue":
        grey = v.randint(135, 165)
        rgb = (v.randint(100, 140), v.randint(150, 185), v.randint(215, 245))
    elif ink == "red":
        grey = v.randint(80, 110)
        rgb = (v.randint(185, 225), v.randint(25, 60), v.randint(35, 70))
    elif ink == "pencil":
        grey = v.randint(95, 150)
        rgb = (grey, grey, grey + 3)
        width, heavy = v.uniform(0.2, 0.3), False
    return Pen(typed_font=typed_font, typed_ink=typed_ink, hand_grey=grey, hand_rgb=rgb, slant=slant,
               mark_style=mark_style, mark_width_mm=width, heavy=heavy, ink=ink)


def with_fonts(pen: Pen, fonts: str, rng: random.Random) -> Pen:
    """The pen's faces drawn from the font set `fonts` (`FONT_SETS`): one typed face for the form,
    one Kai face and one Latin face for its handwriting."""
    if fonts == "classic":  # the pen as before: its typed face already drawn, UKai by hand
        return pen
    fs = FONT_SETS[fonts]
    return replace(pen, typed_font=rng.choices(list(fs.typed), weights=list(fs.typed.values()))[0],
                   hand_font=rng.choice(fs.hand), latin_hand_font=rng.choice(fs.latin_hand))


# ---------------------------------------------------------------------------------- spellings
def spell(field_type: str, value, rng: random.Random, *, cells: int | None, box_w_mm: float, box_h_mm: float, full_width: bool = False) -> str:
    """The text a person writes for a normalised `value`: dates and phones in a random style that
    fits the box (the value is what the validators make of it again)."""
    if field_type == "date":
        from datetime import date

        d = date.fromisoformat(value)
        styles = list(DATE_STYLE_WEIGHTS)
        if cells:
            styles = [s for s in styles if len(format_date(d, s)) <= cells]
        order = _weighted_order(rng, styles, [DATE_STYLE_WEIGHTS[s] for s in styles])
        for s in order:
            text = format_date(d, s)
            if cells or fits_line(text, box_w_mm, box_h_mm):
                return text
        return format_date(d, "roc_compact")
    if field_type == "phone":
        styles = list(PHONE_STYLE_WEIGHTS)
        order = _weighted_order(rng, styles, [PHONE_STYLE_WEIGHTS[s] for s in styles])
        for s in order:
            text = format_phone(value, s)
            if (cells and len(text) <= cells) or (not cells and fits_line(text, box_w_mm, box_h_mm)):
                return text
        return value
    if field_type == "number":
        return str(value)
    text = str(value)
    if full_width and field_type in ("address", "text"):
        text = text.translate(_FULLWIDTH_DIGITS)  # Big5-era typing: ３樓; normalises back to 3樓
    return text


def _weighted_order(rng: random.Random, items: list[str], weights: list[float]) -> list[str]:
    """`items` in a random order where heavier items tend to come first (one draw each)."""
    keyed = [(rng.random() ** (1.0 / w), it) for it, w in zip(items, weights, strict=True)]
    return [it for _, it in sorted(keyed, reverse=True)]


# ---------------------------------------------------------------------------------- text
def _draw_typed_line(layer: Image.Image, name: str, text: str, size: float, x: float, centre_y: float, ref: str | None = None) -> None:
    f = font(name, round(size))
    _, top, _, bottom = f.getbbox(ref or text)
    ImageDraw.Draw(layer).text((x - f.getbbox(text)[0], centre_y - (top + bottom) / 2), text, font=f, fill=255)


def draw_typed(canvas: Canvas, box, text: str, *, lines: int, cells: int | None, pen: Pen, rng: random.Random) -> str:
    """Type `text` into `box`; returns the text as laid out (lines joined by newlines)."""
    x0, y0, w, h = _box_px(box)
    layer = Image.new("L", (w, h), 0)
    ratio = rng.uniform(*INK_RATIO)
    name = face_for(pen.typed_font, text)
    pad = px(PAD_MM)
    room = w - pad - px(RIGHT_MARGIN_MM)
    written = text
    if cells:
        cell = w / cells
        size = size_for_ink(name, text, ratio * h)
        widest = max(text_width_px(name, c, size) for c in text)
        size *= min(1.0, 0.8 * cell / max(widest, 1))
        f = font(name, round(size))
        for i, ch in enumerate(text):
            gl, gt, gr, gb = f.getbbox(ch)
            cx, cy = (i + 0.5) * cell, h / 2
            ImageDraw.Draw(layer).text((cx - (gl + gr) / 2, cy - (gt + gb) / 2), ch, font=f, fill=255)
    elif lines > 1:
        size = _multi_size(name, box[3], lines, ratio)
        got = None
        while size > 8:
            got = wrap(text, lambda s, z=size: advance_px(name, s, z), room)
            if got is not None and len(got) <= lines:
                break
            size *= 0.95
        assert got is not None
        pitch = h / lines
        for i, line in enumerate(got):
            _draw_typed_line(layer, name, line, size, pad, (i + 0.5) * pitch, ref=REF_GLYPH)
        written = "\n".join(got)
    else:
        size = size_for_ink(name, text, ratio * h)
        size *= min(1.0, room / max(text_width_px(name, text, size), 1))
        _draw_typed_line(layer, name, text, size, pad, h / 2)
    canvas.blend(x0, y0, np.asarray(layer), pen.typed_ink)
    return written


def _hand_glyph(ch: str, size: float, angle: float, slant: float, face: str = "ukai"
                ) -> tuple[np.ndarray, float, float, float]:
    """A glyph mask, rotated by `angle` degrees and slanted (x per y) about its baseline;
    returns (mask, x where the advance box starts, y of the baseline, advance) in mask pixels."""
    f = font(face, round(size))
    s = int(size * 2)
    base = s * 0.62
    img = Image.new("L", (s, s), 0)
    ImageDraw.Draw(img).text((s / 2, base), ch, font=f, fill=255, anchor="ms")
    if abs(angle) > 0.05:
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, center=(s / 2, s * 0.45))
    a = np.asarray(img)
    if abs(slant) > 0.005:
        m = np.float32([[1, -slant, slant * base], [0, 1, 0]])
        a = cv2.warpAffine(a, m, (s, s), flags=cv2.INTER_LINEAR, borderValue=0)
    adv = f.getlength(ch)
    return a, s / 2 - adv / 2, base, adv


def hand_face(pen: Pen, text: str) -> str:
    """The face `text` is written in by hand: the pen's Latin handwriting for a Latin name (two
    letters or more, no Chinese), else its Kai face; AR PL UKai TW for what that face lacks."""
    latin = _CJK.search(text) is None and sum(c.isascii() and c.isalpha() for c in text) >= 2
    return face_for(pen.latin_hand_font if latin else pen.hand_font, text, "ukai")


def draw_hand(canvas: Canvas, box, text: str, *, lines: int, cells: int | None, pen: Pen, rng: random.Random) -> str:
    """Write `text` by hand into `box`; returns the text as laid out (lines joined by newlines)."""
    x0, y0, w, h = _box_px(box)
    layer = np.zeros((h, w), np.float32)
    ratio = rng.uniform(0.5, 0.66)
    pad = px(PAD_MM) * rng.uniform(0.6, 1.4)
    room = w - pad - px(RIGHT_MARGIN_MM)
    jit_mm = px(0.6)
    written = text
    hf = hand_face(pen, text)

    def put(ch: str, x: float, baseline: float, size: float) -> float:
        """Draw one character with its left edge near x; returns its advance."""
        if ch == " ":
            return size * rng.uniform(0.25, 0.45)
        k = rng.uniform(0.9, 1.1)
        mask, gx, gy, adv = _hand_glyph(ch, size * k, rng.uniform(-4, 4), pen.slant + rng.uniform(-0.04, 0.04), hf)
        ox = int(round(x - gx))
        oy = int(round(baseline + rng.uniform(-jit_mm, jit_mm) - gy))
        weight = rng.uniform(0.8, 1.0)
        mh, mw = mask.shape
        cx0, cy0, cx1, cy1 = max(0, ox), max(0, oy), min(w, ox + mw), min(h, oy + mh)
        if cx0 < cx1 and cy0 < cy1:
            sub = mask[cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox].astype(np.float32) * weight
            np.maximum(layer[cy0:cy1, cx0:cx1], sub, out=layer[cy0:cy1, cx0:cx1])
        return adv

    def baseline_for(centre: float, size: float) -> float:
        f = font(hf, round(size))
        _, t, _, b = f.getbbox(REF_GLYPH, anchor="ls")
        return centre - (t + b) / 2

    def advance_sum(s: str, size: float) -> float:
        return sum(font(hf, round(size)).getlength(c) * (0.35 if c == " " else 1.0) for c in s) + size * 0.04 * max(0, len(s) - 1)

    if cells:
        cell = w / cells
        size = size_for_ink(hf, text, ratio * h)
        size = min(size, 0.75 * cell * _REF / max(max(_len_ref(hf, c) for c in text), 1))
        base = baseline_for(h / 2, size)
        for i, ch in enumerate(text):
            adv = font(hf, round(size)).getlength(ch)
            put(ch, (i + 0.5) * cell - adv / 2 + rng.uniform(-0.12, 0.12) * cell, base, size)
    else:
        if lines > 1:
            size = size_for_ink(hf, REF_GLYPH, ratio * h / lines)
            while True:
                got = wrap(text, lambda s, z=size: advance_sum(s, z) * 1.08, room)
                if (got is not None and len(got) <= lines) or size < 8:
                    break
                size *= 0.94
            assert got is not None
            pitch = h / lines
        else:
            size = size_for_ink(hf, text if _CJK.search(text) is None else REF_GLYPH, ratio * h)
            size *= min(1.0, room / (advance_sum(text, size) * 1.1))
            got, pitch = [text], h
        for i, line in enumerate(got):
            x = pad + rng.uniform(-0.5, 0.5) * px(0.5)
            base = baseline_for((i + 0.5) * pitch, size) + rng.uniform(-0.4, 0.4) * px(0.5)
            # people run out of room: squeeze the line if it would pass the right edge
            squeeze = min(1.0, room / max(advance_sum(line, size) * 1.1, 1))
            for ch in line:
                x += put(ch, x, base, size * (squeeze if squeeze < 1 else 1.0)) * squeeze
                x += size * rng.uniform(-0.02, 0.10) * squeeze
        written = "\n".join(got)
    ink = np.clip(layer, 0, 255).astype(np.uint8)
    if pen.heavy:  # a broad ballpoint or felt pen: thicker strokes than the font's
        ink = cv2.dilate(ink, np.ones((2, 2), np.uint8))
    canvas.blend(x0, y0, ink, pen.hand_ink(canvas.colour, rng))
    return written


# ---------------------------------------------------------------------------------- marks
def draw_mark(canvas: Canvas, box, style: str, *, pen: Pen, rng: random.Random) -> None:
    """A mark in a checkbox square: "check", "cross", "dot", or a cancelled box: "filled" (solid)
    or "scribble" (a dense zigzag over the square, the way most people cancel)."""
    bx, by, bw, bh = box
    margin = 2.0  # mm of room around the square for overshooting strokes
    x0, y0, w, h = _box_px((bx - margin, by - margin, bw + 2 * margin, bh + 2 * margin))
    sx, sy = px(margin), px(margin)
    sw, sh = px(bw), px(bh)
    layer = np.zeros((h, w), np.uint8)
    thick = max(2, int(round(px(pen.mark_width_mm * rng.uniform(0.9, 1.1)))))
    S = 16  # cv2 sub-pixel shift: coordinates in 1/16 px

    def pt(u: float, v: float, j: float = 0.07) -> tuple[int, int]:
        u += rng.uniform(-j, j)
        v += rng.uniform(-j, j)
        return (int(round((sx + u * sw) * S)), int(round((sy + v * sh) * S)))

    def stroke(points: list[tuple[int, int]]) -> None:
        cv2.polylines(layer, [np.array(points, np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)

    over = 1.0 + (rng.uniform(0.15, 0.45) if rng.random() < 0.12 else 0.0)
    if style == "check":
        a, b = pt(0.18, 0.52), pt(0.42, 0.82)
        mid = ((a[0] + b[0]) // 2 + int(rng.uniform(-1, 1) * S), (a[1] + b[1]) // 2 + int(rng.uniform(0, 2) * S))
        end = pt(0.82 + 0.3 * (over - 1), 0.16 - 0.45 * (over - 1))
        stroke([a, mid, b])
        stroke([b, ((b[0] + end[0]) // 2, (b[1] + end[1]) // 2 + int(rng.uniform(-1, 2) * S)), end])
    elif style == "cross":
        e = 0.3 * (over - 1)
        stroke([pt(0.15 - e, 0.15 - e), pt(0.5, 0.5, 0.04), pt(0.85 + e, 0.85 + e)])
        stroke([pt(0.85, 0.15), pt(0.5, 0.5, 0.04), pt(0.15, 0.85)])
    elif style == "dot":
        c = pt(0.5, 0.5, 0.06)
        ax = int(round(sw * rng.uniform(0.22, 0.28) * S))
        ay = int(round(sh * rng.uniform(0.22, 0.28) * S))
        cv2.ellipse(layer, c, (ax, ay), rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA, shift=4)
    elif style == "filled":
        # scribbled solid: a polygon a little larger than the square, plus hatching strokes
        corners = [pt(-0.04, -0.04, 0.04), pt(1.04, -0.04, 0.04), pt(1.04, 1.04, 0.04), pt(-0.04, 1.04, 0.04)]
        cv2.fillPoly(layer, [np.array(corners, np.int32)], 255, cv2.LINE_AA, shift=4)
        for k in range(6):
            v = (k + 0.5) / 6
            stroke([pt(-0.05, v), pt(1.05, v + rng.uniform(-0.1, 0.1))])
    elif style == "scribble":
        # back and forth across the square, 5-9 turns, slanted, passing its edges a little
        turns = rng.randint(5, 9)
        tilt = rng.uniform(-0.25, 0.25)
        points = []
        for k in range(turns + 1):
            v = -0.05 + 1.1 * k / turns
            u = -0.08 if k % 2 == 0 else 1.08
            points.append(pt(u, v + tilt * (u - 0.5), 0.06))
        cv2.polylines(layer, [np.array(points, np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
    else:  # pragma: no cover
        raise ValueError(style)
    canvas.blend(x0, y0, layer, pen.hand_ink(canvas.colour, rng))


def _catmull_rom(points: np.ndarray, per_segment: int = 14) -> np.ndarray:
    """A smooth curve through `points` (N x 2), N >= 2."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    out.append(points[-1:])
    return np.vstack(out)


def draw_signature(canvas: Canvas, box, *, pen: Pen, rng: random.Random) -> None:
    """A scribbled signature inside `box`: 2-4 pen strokes running left to right, each a smooth
    curve through loops and up-and-down turns, sometimes with an underline flourish."""
    x0, y0, w, h = _box_px(box)
    layer = np.zeros((h, w), np.uint8)
    thick = max(2, int(round(px(rng.uniform(0.3, 0.55)))))
    n = rng.randint(2, 4)
    left = rng.uniform(0.06, 0.25) * w
    span = rng.uniform(0.45, 0.7) * w
    mid = rng.uniform(0.4, 0.6) * h
    amp = rng.uniform(0.18, 0.32) * h
    tilt = rng.uniform(-0.15, 0.05)  # signatures climb a little to the right
    x = left
    for _ in range(n):
        width = span / n * rng.uniform(0.7, 1.2)
        k = rng.randint(3, 7)
        xs = x + np.sort(np.array([rng.uniform(0, width) for _ in range(k)]))
        xs[0] = x
        ys = [mid + tilt * (xx - left) + amp * (1 if j % 2 else -1) * rng.uniform(0.3, 1.0) for j, xx in enumerate(xs)]
        pts = np.array(list(zip(xs.tolist(), ys, strict=True)), np.float64)
        if rng.random() < 0.5 and k >= 3:  # a loop: go back a little before moving on
            j = rng.randrange(1, k - 1)
            back = np.array([[pts[j, 0] - rng.uniform(0.03, 0.08) * w, pts[j, 1] + rng.uniform(-0.15, 0.15) * h]])
            pts = np.vstack([pts[: j + 1], back, pts[j + 1 :]])
        curve = _catmull_rom(pts)
        curve[:, 0] = np.clip(curve[:, 0], thick, w - thick)
        curve[:, 1] = np.clip(curve[:, 1], thick, h - thick)
        cv2.polylines(layer, [np.round(curve * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
        x += width + rng.uniform(0.0, 0.05) * w
    if rng.random() < 0.4:  # an underline flourish
        yy = min(h - thick - 1, mid + amp * rng.uniform(1.0, 1.4))
        pts = np.array([[left - 0.02 * w, yy + 3], [left + span * 0.5, yy + rng.uniform(-4, 4)], [min(w - thick, left + span * 1.05), yy - rng.uniform(0, 12)]])
        curve = _catmull_rom(pts)
        curve[:, 0] = np.clip(curve[:, 0], thick, w - thick)
        curve[:, 1] = np.clip(curve[:, 1], thick, h - thick)
        cv2.polylines(layer, [np.round(curve * 16).astype(np.int32)], False, 255, thick, cv2.LINE_AA, shift=4)
    canvas.blend(x0, y0, layer, pen.hand_ink(canvas.colour, rng))


def check_layout(value: str, written: str) -> None:
    """The written text (lines joined by newlines) must normalise back to the value's text."""
    if normalize_text(written.replace("\n", " ")) != normalize_text(value):  # pragma: no cover
        raise AssertionError(f"line breaking changed the text: {value!r} -> {written!r}")


# ---------------------------------------------------------------------------------- a form
@dataclass
class FilledForm:
    pages: list[np.ndarray]  # one uint8 array per page, 300 dpi, grey (H, W) or RGB (H, W, 3)
    writing: dict[str, dict[str, str]]  # slot path -> {"style": "typed"|"hand", "text": ...}
    marks: dict[str, dict[str, str]]  # field path -> {option value: mark style}
    pen: str = "ballpoint"  # the ink of handwriting and marks (a key of INKS)


def _cancel(canvas: Canvas, box, pen: Pen, rng: random.Random, v: random.Random | None) -> str:
    """Cancel a box: fill it solid, or scribble over it (drawn from `v`, None: always solid;
    `rng` gives what a solid fill takes from it either way, so the rest of the form is drawn as
    before)."""
    style = v.choice(CANCEL_STYLES) if v is not None else "filled"
    if style == "filled":
        draw_mark(canvas, box, "filled", pen=pen, rng=rng)
    else:
        draw_mark(Canvas(Image.new("L", (1, 1), 255), canvas.colour), box, "filled", pen=pen, rng=rng)
        draw_mark(canvas, box, style, pen=pen, rng=v)  # type: ignore[arg-type]
    return style


def _mark_style(pen: Pen, rng: random.Random) -> str:
    if rng.random() < 0.9:
        return pen.mark_style
    return rng.choice(MARK_STYLES)


def fill_form(template, data: dict, rng: random.Random, *, hand: float = 0.0, colour: bool = False,
              variants: random.Random | None = None, fonts: str = "classic") -> FilledForm:
    """Write a record's values onto the blank pages of `template`.

    `hand` is the share of text fields written by hand (decided per field); `colour` draws on RGB
    pages so a ballpoint's blue shows; `fonts` names the set of faces (`FONT_SETS`). A choice or
    checkbox with ``fill_cancels`` has, one time in ten, an extra box filled solid or scribbled
    over: a cancelled mark, which is not in the record's data.
    """
    from intake.forms.model import TEXT_TYPES
    from intake.forms.render import blank_page

    v = variants
    pen = with_fonts(choose_pen(rng, v), fonts, rng)
    full_width = rng.random() < 0.2  # typed with full-width digits (older Big5 habits)
    canvases = [Canvas(blank_page(template, i, DPI), colour) for i in range(len(template.pages))]
    writing: dict[str, dict[str, str]] = {}
    marks: dict[str, dict[str, str]] = {}
    for slot in template.slots():
        f = slot.field
        by_hand = rng.random() < hand
        if slot.table is not None:
            rows = data.get(slot.table.name) or []
            value = rows[slot.row].get(f.name) if slot.row is not None and slot.row < len(rows) else None
        else:
            value = data.get(f.name)
        canvas = canvases[slot.page]
        if f.type in TEXT_TYPES:
            if value is None or value == "":
                continue
            text = spell(f.type, value, rng, cells=f.cells, box_w_mm=slot.box[2], box_h_mm=slot.box[3], full_width=full_width and not by_hand)
            writer = draw_hand if by_hand else draw_typed
            written = writer(canvas, slot.box, text, lines=f.lines, cells=f.cells, pen=pen, rng=rng)
            check_layout(text, written)
            writing[slot.path] = {"style": "hand" if by_hand else "typed", "text": written,
                                  "font": hand_face(pen, text) if by_hand else face_for(pen.typed_font, text)}
        elif f.type == "checkbox":
            if value is True:
                style = _mark_style(pen, rng)
                draw_mark(canvas, slot.box, style, pen=pen, rng=rng)
                marks[slot.path] = {"true": style}
            elif f.fill_cancels and rng.random() < 0.1:
                marks[slot.path] = {"true": _cancel(canvas, slot.box, pen, rng, v)}
        elif f.type == "choice":
            chosen = value if isinstance(value, list) else [value] if value else []
            got: dict[str, str] = {}
            for o in f.options:
                if o.value in chosen:
                    style = _mark_style(pen, rng)
                    draw_mark(canvas, o.box, style, pen=pen, rng=rng)
                    got[o.value] = style
            free = [o for o in f.options if o.value not in chosen]
            if f.fill_cancels and free and rng.random() < 0.1:
                o = rng.choice(free)
                got[o.value] = _cancel(canvas, o.box, pen, rng, v)
            if got:
                marks[slot.path] = got
        elif f.type == "signature":
            if value is True:
                draw_signature(canvas, slot.box, pen=pen, rng=rng)
                marks[slot.path] = {"true": "signature"}
    return FilledForm([c.a for c in canvases], writing, marks, pen.ink)
