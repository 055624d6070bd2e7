"""Tick boxes (``checkbox`` and ``choice`` with printed squares): empty, marked or cancelled.

A box is judged on the page with its illumination taken out, against its own surroundings, and
by the shape of its ink as well as how much of the square it covers:

1. **Paper map** (`paper_map`): the paper's own brightness everywhere on the page, made at
   `PAPER_DPI` by a morphological closing with a `PAPER_KERNEL_MM` square (which removes all
   that is darker and smaller: printing, writing, marks, but keeps a shadow's straight edge
   sharp), smoothed by a median. The page divided by it (`flat_page`) has its paper at 255
   under a shadow band, a gradient or a vignette alike, so an empty square in a shadow is as
   empty as one in the light.
2. **The box's own noise**: the spread of the paper pixels around the square (robust: 1.4826 x
   the median absolute deviation). Faint ink is what is darker than the paper by more than
   `FAINT_SIGMAS` times that noise and at least `FAINT_MIN_CONTRAST` grey levels: light blue
   ballpoint and pencil (grey 100-165 on paper 240) fall under the old fixed ink threshold
   (0.62 x paper, 150), not under this one.
3. **Evidence** (`Evidence`): the share of the square's inside covered by dark ink (the old
   `fill`), the share covered by faint-or-darker ink, the extent of the largest ink piece (as a
   share of the square's side: a tick or a cross spans the box, a speck or the blurred edge of
   the printed square does not), and the number of strokes a vertical scan line crosses (a
   scribble crosses 4 or more, a tick or a cross 1-2).
4. **State**: ``empty`` when the dark fill is below `MARK_MIN_FILL` and no faint piece spans the
   box; ``marked`` when the dark fill passes it with a piece that spans the box (or a compact
   dot), or when faint ink does; ``filled`` (a cancel, only where the form's ``fill_cancels``
   allows) when the box is filled past `FILLED_MIN_FILL` or densely scribbled over
   (`SCRIBBLE_CROSSINGS` crossings and `SCRIBBLE_MIN_FILL`); a mark between a heavy cross and a
   cancel (fill within `FILLED_BAND` of `FILLED_MIN_FILL`, `NEAR_SCRIBBLE_CROSSINGS`, or two
   strokes over `BLURRED_SCRIBBLE_FAINT` of the box) is unsure, and one covering
   `OFFERED_AS_CANCEL_FAINT` counting its faint ink, or met twice, and inking the box's corners
   and its sides' middles alike (`Evidence.around`, which a cross leaves empty; met once, nearly
   as densely as the whole box, `SCRIBBLE_EVENNESS`), is offered as a cancel. Between "clearly empty" and "clearly marked" the margin is 0: the field goes to
   review, whatever its type (a lone checkbox, an optional choice and a multiple choice have no
   "two marked" safety net). A mark found only as
   faint ink is read but sent to review with ``faint_ink``; a box filled past `FILLED_MIN_FILL`
   in faint ink (a pencil) is a cancel found only as faint ink, and one filled so but partly
   dark enough to be a mark is unsure.
5. **Empty only below the page's own speck level** (`speck_rate`, `Evidence.traced`): a box whose
   middle has clearly more dark pixels than the page's specks explain (a light pen's tick that a
   fax's light threshold broke into scattered pixels) is not "clearly empty"; nor is a text
   field (`text_traces`, used by `read.read_text`). Far more than that (`Evidence.broken`) is
   read as a mark found only as faint ink: marked, and sent to review.

A box's printed square is looked for within `MARK_SEARCH_MM` of where the registration puts it;
one not found there, or found only as a blur's band, is looked for again where the nearest squares
found on the page say the registration is off (`square_shifts`), and one a blur made lighter than
ink on the region split at Otsu's threshold (`_blurred_square`).

Faint writing in text fields: `faint_page` is the flat page stretched so that the page's faint
level (`faint_level`) becomes the readers' ink threshold; `read.read_text` reads a field there
when it has no dark ink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from intake.forms.model import Slot
from intake.pipeline import confidence as conf
from intake.pipeline.ink import find_square
from intake.pipeline.types import FieldReading, FieldStatus

CANON_DPI = 200.0
PX_PER_MM = CANON_DPI / 25.4

PAPER_DPI = 50.0  # the paper map's resolution
PAPER_KERNEL_MM = 9.0  # larger than any printed or written dark patch (a filled 5 mm square)
# Empty vs marked: share of the square's inside covered by dark ink (0.62 x paper).
MARK_MIN_FILL = 0.045
# A box filled past this share is a cancel (where the form lets filling cancel).
FILLED_MIN_FILL = 0.72
# Counting the lighter ink as well (`faint_fill`), scribbles a phone's blur or an office copy
# thickened cover more of the box than crosses do: on seed 113's sets (phone and office, three
# face sets, 5,800 boxes) the scribbles read as marks covered 0.76 and 0.78, the crosses at most
# 0.70, and 0.72 on seed 127's phone photos; past this share a mark is offered as a cancel (in
# review: its margin is 0 already) when it also inks the box's corners and sides' middles
# (`AROUND_SCRIBBLE`): crosses a phone's blur thickened still reached 0.75-0.84 (seeds 199 and
# 229, offered as cancels); on seeds 211-229's phone photos the five crosses past 0.72 measured
# `around` 0.06-0.28, the seven cancels past it 0.51-0.83.
OFFERED_AS_CANCEL_FAINT = 0.74
# ... and inks them nearly as densely as the box as a whole (`around` at least this share of
# `faint_fill`): a cross a phone's blur spread over its box reaches the corners and sides' middles
# too, but thinly. On the phone, office, clean and fax sets of seeds 113-233 and 283 (--fonts unseen
# --hand 0.3) the crosses offered as cancels by the rule above measured `around` 0.37-0.49 over a
# `faint_fill` of 0.75-0.86 (shares 0.47-0.60; seeds 199, 233 and 283, photos of sharpness 105-450),
# the scribbles met once by a vertical line that it offered 0.74-0.86 (seed 283: four crosses on
# one photo offered as cancels, its record's abuse types all lost to the person reviewing it).
SCRIBBLE_EVENNESS = 0.65
# Faint ink over `FAINT_MIN_FILL` of a box, none of it spanning the box: a mark found only as
# faint ink (a person confirms it) where its largest piece is thicker than an edge's strip. Fresh
# seed 499, a shaken phone's photo of a form ticked in pencil: the ticks, smeared into the blurred
# squares' bands, measured faint 0.05-0.15 with every piece joined to the square's edge (no span),
# were read empty, and a single choice with nothing else marked was accepted as unanswered at
# confidence 1.0. On seeds 307 and 449-503's phone photos (9,760 boxes) the empty boxes with such
# faint ink had pieces at most 0.15 of the side thick, those 14 ticks 0.30-0.57; on 467-503's fax
# and office scans (11,700 boxes) no empty box came under the rule.
FAINT_BODY_THICK = 0.25
DARK_LEVEL = 0.62  # of the paper (255 on the flat page)
FAINT_SIGMAS = 6.0
FAINT_MIN_CONTRAST = 40.0  # grey levels below the paper (255)
FAINT_MIN_FILL = 0.03  # faint ink covering this share of the inside, spanning the box: a mark
SPAN_MIN = 0.4  # a mark's largest piece spans at least this share of the square's side
SPECK_MM2 = 0.08
EDGE_THIN = 0.25  # an ink piece along a side of the inside, thinner than this share: the square's edge
EDGE_BAND_SHARE = 0.9  # ... or with this share of its pixels within that distance of the sides
DOT_MIN_FILL = 0.08  # a compact dot this large is a mark even though it spans little
DOT_MIN_SOLID = 0.5  # ... when its largest piece holds at least this share of the ink inside
SCRIBBLE_CROSSINGS = 3.0  # median strokes crossed by a vertical line through the inside (a cross: 2)
NEAR_SCRIBBLE_CROSSINGS = 2.5
SCRIBBLE_MIN_FILL = 0.3
# ... and reaching into the inside's corners and sides' middles (`Evidence.around`): a dark fax
# thickens a cross until a vertical line meets it three times (fresh seed 409: a cross at fill
# 0.33, `around` 0.0, offered as a cancel). On seeds 61-307 (all profiles, 44,000 boxes) the
# crosses met three times reached 0.07 at most, the 62 scribbles met so 0.23 and up.
SCRIBBLE_MIN_AROUND = 0.15
# A mark met twice by a vertical line that covers this share of the box in faint ink is as much a
# blurred scribble (0.61 in tests/pipeline/test_marks.py, accepted as a mark before) as a cross (on
# seed 113's sets every cross covering 0.6 or more was met once): where filling cancels, unsure.
BLURRED_SCRIBBLE_FAINT = 0.6
# A scribble inks the inside's corners and its sides' middles alike; a cross leaves the sides'
# middles (x) or the corners (+) empty (`Evidence.around`). On the tuning sets' boxes where filling
# cancels (seeds 7, 61, 67, 113, 127, 157; fax, office, phone, clean: 9,760 boxes) crosses met
# 0.10 at most, dots 0.06, heavy ticks 0.32 (met once by a vertical line but one, at 0.23), the
# scribbles read whole 0.40-0.77 (a light fax's broken ones 0.22-0.29). Past this, a mark met
# twice that covers a scribble's share is offered as a cancel (in review: its margin is 0).
AROUND_SCRIBBLE = 0.36
# a mark's fill this far below FILLED_MIN_FILL is sure not to be a cancel. 0.3 until 2026-12-02,
# when zigzags scribbled over a box to cancel it were accepted as marks: fill 0.56 at 0.76
# (bench/accuracy --count 8 --seed 83, office), then, at 0.4, fill 0.51 in pencil at 0.758
# (seed 89, clean). At 0.5 a mark filling more than 0.47 of the box, where filling cancels, goes to
# review: between a heavy tick and a sparse scribble a person decides.
FILLED_BAND = 0.5
# A heavy mark met twice by a vertical line that reaches into the corners and the sides' middles
# at all is as much a scribble a blur merged as a cross: fresh seed 307, a shaded, blurred phone
# photo ('poor': sharpness 119, noise 16), a zigzag scribbled over a box read dark over 0.39 of it,
# met twice, `around` 0.24, and was accepted as a tick. On the sets of seeds 113-233 and 281-307
# (all profiles, --hand 0.3) the crosses met twice reached `around` 0.09 at most, the ticks met
# twice 0.17-0.25 at a fill of 0.26-0.34: where filling cancels, such a mark is unsure.
MERGED_SCRIBBLE_AROUND = 0.15
MERGED_SCRIBBLE_FILL = 0.35
# How far around a box's template position its printed square is looked for (see read.py's
# history: 2 mm took neighbouring ink for edges on fax scans).
MARK_SEARCH_MM = 1.2
# Traces: dark pixels in the middle of a box (its inside less this share on each side: the
# square's own edge stays out) against the page's speck rate where the blank form is white.
TRACE_BORDER = 0.15
TRACE_MIN = 4
# A box whose middle has this many dark pixels, and `BROKEN_RATIO` times what the page's specks
# explain, holds a mark broken up (read "marked", found only as faint ink: a person confirms it),
# when the pixels are scattered (the largest piece under `DOT_MIN_SOLID` of them), or, from
# `BROKEN_MIN_BIG` pixels, in pieces the largest of which holds under `BROKEN_BIG_SOLID` (the more
# of a tick a fax kept, the larger its largest piece). On the tuning sets' fax, office and phone
# boxes (seeds 61 and 67, 3,904 boxes): 4 light-pen ticks a light fax broke up (17-54 pixels
# against 0.04-0.12 expected) and a pencil cancel met it; no empty box did (the most: 40 pixels
# against 16 expected, on a dark fax). 12 scattered pixels until 2026-12-02 (third session): on
# seeds 7 (the calibration set's fax forms, 3,660 boxes), 113 and 127 (8,600 boxes, all
# profiles) light faxes left 4-10 scattered pixels of 8 ticks and 13-39 pixels of 6 more whose
# largest piece held 0.53-0.66, against 0.05-0.15 expected, all offered as empty (in review);
# the empty boxes with 4 or more scattered pixels were all on faxes whose specks explain 1.3 or
# more (where this needs 15 or more), but for one with 6 pixels in two pieces (largest 0.5)
# against 0.14, and the one office box with 7 pixels against 0.04 held one speck.
# `BROKEN_MIN_BIG` was 12 until 2026-12-02 (sixth session): seed 233's light faxes left 8 and 9
# pixels of two ticks, largest pieces 0.5 and 0.67, against 0.07 expected (offered as empty); on
# seeds 211-233 (fax and phone, 9,760 boxes; office and clean 233, 1,952) no other box read empty
# had 8 or more pixels in pieces the largest of which held under 0.7 (office empties: one speck).
# `BROKEN_BIG_SOLID` was 0.7 until 2026-12-03 (ninth session): fresh seed 397's light fax left 12
# pixels of a tick (0.12 expected) whose largest piece held 0.85, offered as empty; on seeds
# 61-307 (44,000 boxes, all profiles) a pencil tick on a fax (24 pixels, 0.71) and five on a
# blurred, shaded phone photo (13-21 pixels, 0.76-0.94, against 0.8) were too, while every empty
# box with 8 or more pixels at 10 times the expected held them in one piece (1.0: a fax's streak,
# a shadow's edge) but two the shade had already made marks of.
BROKEN_MIN = 4
BROKEN_MIN_BIG = 8
BROKEN_BIG_SOLID = 0.95
BROKEN_RATIO = 10.0
# A square not found at the ink threshold is looked for again on the region split at Otsu's
# threshold, if that is this far under the paper (255 on the flat page): a blurred square's band.
BLUR_SQUARE_CONTRAST = 20
BLUR_BAND_MM = 0.6  # ... whose band reaches this far outside the square's found edge
PRINT_GROW_MM = 1.5  # printing on the blank form, grown by this (registration is never exact)


# ------------------------------------------------------------------------- the paper map
# Per-page images (the flat page, the stretched one, the speck rate) are cached for the page being
# read; a cache entry keeps its page alive, so only the last `PAGES_CACHED` page is kept (with
# up to 9 kept, one bench/throughput run peaked at 509 MB on a 50-page PDF; main: 381-417 MB).
PAGES_CACHED = 1
_flat_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def paper_map(canon: np.ndarray, px_per_mm: float = PX_PER_MM) -> np.ndarray:
    """The paper's brightness at every pixel of `canon` (uint8, same shape)."""
    f = min(1.0, PAPER_DPI / (px_per_mm * 25.4))
    small = cv2.resize(canon, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1.0 else canon
    k = int(PAPER_KERNEL_MM * px_per_mm * f) | 1
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    closed = cv2.medianBlur(closed, 5)
    return cv2.resize(closed, (canon.shape[1], canon.shape[0]), interpolation=cv2.INTER_LINEAR)


def flat_page(canon: np.ndarray) -> np.ndarray:
    """`canon` divided by its paper map: the paper at 255 whatever the light (uint8). Cached per
    page image (the same array is asked for every box of the page)."""
    hit = _flat_cache.get(id(canon))
    if hit is not None and hit[0] is canon:
        return hit[1]
    paper = paper_map(canon)
    flat = cv2.divide(canon, np.maximum(paper, 1), scale=255.0)
    if len(_flat_cache) >= PAGES_CACHED:
        _flat_cache.clear()
    _flat_cache[id(canon)] = (canon, flat)
    return flat


# ------------------------------------------------------------------------- one box
@dataclass
class Evidence:
    fill: float  # share of the inside covered by dark ink
    faint_fill: float  # ... by ink at least faint (darker than the paper's noise allows)
    span: float  # the largest ink piece's extent, as a share of the square's side
    crossings: float  # median strokes met by a vertical line through the inside
    noise: float  # the paper's noise around the square (grey levels)
    found: bool  # the printed square was found (else: measured where registration puts it)
    traces: int = 0  # dark pixels in the middle of the inside, specks and all
    traces_expected: float = 0.0  # ... the page's own speck rate would put there
    solid: float = 1.0  # the largest ink piece's share of all the ink inside (a dot: one piece)
    thick: float = 1.0  # the largest ink piece's smaller side, as a share of the square's side
    around: float = 0.0  # faint ink's cover of the inside's corners and sides' middles (the lesser of the two)
    blurred: bool = False  # the square was found only on the region split at Otsu's threshold

    def to_dict(self) -> dict[str, Any]:
        return {"fill": round(self.fill, 4), "faint_fill": round(self.faint_fill, 4), "span": round(self.span, 3),
                "crossings": round(self.crossings, 2), "noise": round(self.noise, 1), "square_found": self.found,
                "traces": self.traces, "traces_expected": round(self.traces_expected, 2), "solid": round(self.solid, 3),
                "thick": round(self.thick, 3), "around": round(self.around, 3)}

    @property
    def broken(self) -> bool:
        """Far more dark pixels in the middle of the box than the page's specks explain (at least
        `BROKEN_MIN` and `BROKEN_RATIO` times the expected): a mark a fax's light setting broke
        into scattered pixels, not specks (see `BROKEN_MIN`); scattered, not one piece (a fax's
        streak across the box is one line, a speck one blot)."""
        if self.traces < BROKEN_MIN or self.traces < BROKEN_RATIO * self.traces_expected + BROKEN_MIN - 2:
            return False
        return self.solid < DOT_MIN_SOLID or (self.traces >= BROKEN_MIN_BIG and self.solid < BROKEN_BIG_SOLID)

    @property
    def traced(self) -> bool:
        """More dark pixels in the middle of the box than the page's specks explain: ink the scan
        broke up (a light pen through a fax's light threshold) may be there."""
        return traces_exceed(self.traces, self.traces_expected)


def traces_exceed(count: int, expected: float) -> bool:
    """Whether `count` dark pixels are clearly more than the `expected` of the page's specks (a
    Poisson bound, 4 sigma, and at least `TRACE_MIN` pixels)."""
    return count >= TRACE_MIN and count > expected + 4.0 * float(np.sqrt(max(expected, 0.0))) + 2.0


def _cut(img: np.ndarray, box: tuple[float, float, float, float], px_per_mm: float) -> np.ndarray:
    x, y, w, h = box
    x0, y0 = round(x * px_per_mm), round(y * px_per_mm)
    x1, y1 = round((x + w) * px_per_mm), round((y + h) * px_per_mm)
    H, W = img.shape[:2]
    return img[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]


def _square_near(flat: np.ndarray, box: tuple[float, float, float, float], px_per_mm: float = PX_PER_MM
                 ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """The region within `MARK_SEARCH_MM` of `box` and the printed square found in it (region
    pixels), or None."""
    x, y, w, h = box
    m = MARK_SEARCH_MM
    region = _cut(flat, (x - m, y - m, w + 2 * m, h + 2 * m), px_per_mm)
    return region, find_square(region, px_per_mm, min(w, h))


def measure(flat: np.ndarray, box: tuple[float, float, float, float], px_per_mm: float = PX_PER_MM, *,
            bilevel: bool = False, speck_rate: float | None = None) -> Evidence:
    """The evidence of one box on the flat page (see the module docstring). On a `bilevel` page
    (a fax) there is no faint ink, only the greys of resampling at every edge: faint is dark."""
    x, y, w, h = box
    m = MARK_SEARCH_MM
    region, sq = _square_near(flat, box, px_per_mm)
    blurred = False
    if sq is None:
        sq = _blurred_square(region, px_per_mm, min(w, h))
        blurred = sq is not None
    if sq is not None:
        x0, y0, x1, y1 = sq
    else:
        x0, y0 = round(m * px_per_mm), round(m * px_per_mm)
        x1, y1 = x0 + round(w * px_per_mm), y0 + round(h * px_per_mm)
    inset = max(2, round(0.45 * px_per_mm))
    inner = region[y0 + inset:y1 - inset, x0 + inset:x1 - inset]
    # the paper around the square: the region outside it, light pixels only (no printing)
    outside = np.ones(region.shape, bool)
    g = round(BLUR_BAND_MM * px_per_mm) if blurred else 2  # a blurred square's band reaches out so far
    outside[max(0, y0 - g):y1 + g, max(0, x0 - g):x1 + g] = False
    ring = region[outside]
    ring = ring[ring > 255 * DARK_LEVEL]
    if ring.size >= 20:
        med = float(np.median(ring))
        noise = max(1.0, 1.4826 * float(np.median(np.abs(ring.astype(np.float32) - med))))
    else:
        med, noise = 255.0, 3.0
    if inner.size == 0:
        return Evidence(0.0, 0.0, 0.0, 0.0, noise, sq is not None)
    dark = inner < 255 * DARK_LEVEL
    faint_level = min(med, 255.0) - max(FAINT_MIN_CONTRAST, FAINT_SIGMAS * noise)
    if bilevel:
        faint_level = 255 * DARK_LEVEL
    # at least faint: dark ink too, where the paper's noise puts the faint level below the dark
    # one (a shaded, noisy photo: seed 307's 'poor' page, noise 16, measured a scribble's shape
    # on its darkest core only and accepted it as a tick)
    faint = (inner < faint_level) | dark
    span = 0.0
    side = max(1, min(inner.shape))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(faint.astype(np.uint8), connectivity=8)
    min_area = SPECK_MM2 * px_per_mm * px_per_mm
    ih, iw = inner.shape
    b = max(1, round(EDGE_THIN * side))
    band = np.ones(inner.shape, bool)  # the inside's border, as wide as an edge may be thick
    band[b:ih - b, b:iw - b] = False
    areas = stats[1:, cv2.CC_STAT_AREA]
    solid = float(areas.max()) / float(areas.sum()) if areas.size else 1.0
    thick = 1.0
    if areas.size:
        big = stats[1 + int(np.argmax(areas))]
        thick = float(min(big[cv2.CC_STAT_WIDTH], big[cv2.CC_STAT_HEIGHT])) / side
    for i in range(1, n):
        bx, by, bw, bh, area = stats[i]
        if area < min_area:
            continue
        # the printed square's own edge, blurred or smeared inwards: thin and along a side
        on_side = bx <= 1 or by <= 1 or bx + bw >= iw - 1 or by + bh >= ih - 1
        if on_side and min(bw, bh) < EDGE_THIN * side:
            continue
        # ... or along two or three sides at once (motion blur smears the square's corner inwards,
        # an L; seed 107's phone photo: 7 empty boxes read as faint marks): nearly all in the border
        if on_side and np.count_nonzero(band[labels == i]) >= EDGE_BAND_SHARE * area:
            continue
        span = max(span, float(max(bw, bh)) / side)
    cols = faint[:, inner.shape[1] // 5: inner.shape[1] - inner.shape[1] // 5]
    if cols.size:
        starts = np.count_nonzero(cols[1:] & ~cols[:-1], axis=0) + cols[0]
        crossings = float(np.median(starts))
    else:
        crossings = 0.0
    traces, expected = 0, 0.0
    if speck_rate is not None:
        mh, mw = round(inner.shape[0] * TRACE_BORDER), round(inner.shape[1] * TRACE_BORDER)
        middle = dark[mh:inner.shape[0] - mh, mw:inner.shape[1] - mw]
        traces, expected = int(middle.sum()), speck_rate * middle.size
    return Evidence(float(dark.mean()), float(faint.mean()), min(1.0, span), crossings, noise, sq is not None,
                    traces, expected, solid, thick, _around(faint), blurred)


ZONE = 0.2  # the side of a corner's or a side's middle zone, as a share of the inside's


def _around(mask: np.ndarray) -> float:
    """The lesser of `mask`'s mean cover of the inside's four corners and of its four sides'
    middles: a cross (x) leaves the sides' middles empty, a plus (+) the corners, a tick covers
    some of each; a scribble over the box covers both."""
    h, w = mask.shape
    if h < 5 or w < 5:
        return 0.0

    def zone(u: float, v: float) -> float:
        y0, x0 = round((v - ZONE / 2) * h), round((u - ZONE / 2) * w)
        return float(mask[max(0, y0):y0 + max(1, round(ZONE * h)), max(0, x0):x0 + max(1, round(ZONE * w))].mean())

    lo, hi = ZONE / 2, 1 - ZONE / 2
    corners = np.mean([zone(lo, lo), zone(hi, lo), zone(lo, hi), zone(hi, hi)])
    sides = np.mean([zone(0.5, lo), zone(0.5, hi), zone(lo, 0.5), zone(hi, 0.5)])
    return float(min(corners, sides))


def _blurred_square(region: np.ndarray, px_per_mm: float, side_mm: float) -> tuple[int, int, int, int] | None:
    """The printed square in a region where a blur left its lines lighter than ink (a shaken phone's
    photo: a band of grey 150-210 on the flat page, 1 mm wide): found on the region split at Otsu's
    threshold, when that threshold is `BLUR_SQUARE_CONTRAST` or more under the paper (else the
    split is of the paper's own noise). The square's edges land in the middle of the blurred band."""
    t, split = cv2.threshold(region, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if t > 255 - BLUR_SQUARE_CONTRAST:
        return None
    return find_square(split, px_per_mm, side_mm)


def _scribbled(e: Evidence) -> bool:
    """Whether a mark is a scribble over the box rather than a tick or a cross (its printed square
    found: else the square's own edges may be inside what is measured): met twice or more
    by a vertical line, inked over `SCRIBBLE_MIN_FILL` of the box and in its corners and its sides'
    middles alike (`Evidence.around`), which a cross (x or +) leaves empty."""
    return e.found and e.crossings >= 2 and e.faint_fill >= SCRIBBLE_MIN_FILL and e.around >= AROUND_SCRIBBLE


# A fill a light fax broke into pieces (pencil or a light pen: its strokes thinned to scattered
# runs) is neither one solid patch nor one stroke: its largest piece holds under
# `BROKEN_FILL_SOLID` of its ink, a vertical line meets it twice or more, and what is left of it
# reaches into the inside's corners and sides' middles (`around`), where a tick broken so leaves
# them empty. Such a mark, where filling cancels, is offered as the cancel (in review: margin 0).
# On the fax pages of seeds 577-683 (ten sets, `bench/accuracy --dump`'s boxes) the five broken
# fills measured `around` 0.058-0.243; the six ticks and crosses broken as far (fill 0.1 or more)
# 0.014 at most. Before, the fills were offered as ticks, in review as now.
BROKEN_FILL_MIN = 0.1
BROKEN_FILL_SOLID = 0.6
BROKEN_FILL_AROUND = 0.05


def _broken_fill(e: Evidence) -> bool:
    return (e.fill >= BROKEN_FILL_MIN and e.solid < BROKEN_FILL_SOLID and e.crossings >= 2
            and e.around >= BROKEN_FILL_AROUND)


def state_of(e: Evidence, fill_cancels: bool) -> tuple[str, float, bool]:
    """(state 'empty' | 'marked' | 'filled', margin 0..1, faint): the box's state, how far its
    evidence is from the nearest boundary (0: in between, a person decides), and whether the
    mark was found only as faint ink."""
    scribble = (e.crossings >= SCRIBBLE_CROSSINGS and e.faint_fill >= SCRIBBLE_MIN_FILL
                and e.around >= SCRIBBLE_MIN_AROUND)
    if fill_cancels and (e.fill >= FILLED_MIN_FILL or scribble):
        if e.fill >= FILLED_MIN_FILL:
            return "filled", conf.mark_margin(e.fill, FILLED_MIN_FILL, below=False), False
        # a scribble: sure when it crosses well past a cross's 2 strokes and covers a fair share
        margin = min(1.0, (e.crossings - 2.5) / 1.0, (e.faint_fill - SCRIBBLE_MIN_FILL) / 0.2)
        return "filled", max(0.0, margin), False
    if fill_cancels and _broken_fill(e):
        return "filled", 0.0, False  # a fill a light fax broke up: offered as the cancel, a person confirms it
    spans = e.span >= SPAN_MIN
    # a dot is one solid piece (as much ink in scattered pixels is a pencil's fill or a light pen's
    # tick that a fax's light setting broke up: seed 67, a pencil-filled cancel left 13% of the box
    # as specks, read as a dot and accepted) and round, not a line (a fax's streak, one dark scan
    # line across a box, has a dot's fill: seed 109, 0.095 in one piece 2 px high, accepted)
    dot = e.fill >= DOT_MIN_FILL and e.solid >= DOT_MIN_SOLID and e.thick >= EDGE_THIN
    if e.fill >= MARK_MIN_FILL and (spans or dot):
        margin = conf.mark_margin(e.fill, MARK_MIN_FILL, below=False)
        if fill_cancels:  # a heavy cross (fill 0.4) is still far from a filled box (1.0)
            margin = min(margin, max(0.0, min(1.0, (FILLED_MIN_FILL - e.fill) / FILLED_BAND)))
            if e.crossings >= NEAR_SCRIBBLE_CROSSINGS and e.faint_fill >= SCRIBBLE_MIN_FILL - 0.1:
                margin = 0.0  # nearly a scribble: cancel or mark? a person decides
            if e.crossings >= 2 and e.faint_fill >= BLURRED_SCRIBBLE_FAINT:
                margin = 0.0  # two strokes over most of the box: a blurred scribble or a cross
            if e.crossings >= 2 and e.fill >= MERGED_SCRIBBLE_FILL and e.around >= MERGED_SCRIBBLE_AROUND:
                margin = 0.0  # two heavy strokes reaching into the corners: a merged scribble or a cross
            if e.faint_fill >= FILLED_MIN_FILL:
                margin = 0.0  # filled in, partly too light to count as dark: a person decides
                if (e.faint_fill >= OFFERED_AS_CANCEL_FAINT and e.around >= AROUND_SCRIBBLE
                        and e.around >= SCRIBBLE_EVENNESS * e.faint_fill):
                    return "filled", 0.0, False  # offered as the cancel it most likely is
            if _scribbled(e):
                return "filled", 0.0, False  # ink in the corners and the sides' middles: offered as a cancel
        return "marked", margin, False
    if fill_cancels and spans and (e.faint_fill >= FILLED_MIN_FILL or _scribbled(e)):
        # filled in with a pencil or a light pen (seed 67: a pencil-filled cancel read as a faint
        # tick): a cancel, found only as faint ink, so a person confirms it
        return "filled", 0.0, True
    if e.faint_fill >= FAINT_MIN_FILL and spans:
        # faint ink across the box: a light pen or pencil mark (or a shadow the map missed);
        # where the square was not found the faint ink may be its edge: a person decides
        margin = min(1.0, (e.faint_fill - FAINT_MIN_FILL) / FAINT_MIN_FILL) if e.found else 0.0
        return "marked", margin, True
    if e.broken:
        return "marked", 0.0, True  # a mark broken into specks: read as a mark, a person confirms it
    if e.faint_fill >= FAINT_MIN_FILL and e.thick >= FAINT_BODY_THICK:
        return "marked", 0.0, True  # faint ink with a body of its own, joined to the square's edge
    # empty: sure only when neither dark nor faint ink comes near a mark; ink that spans little of
    # the box (specks, the square's thickened edge on a dark fax) is sure only when it is small
    if e.span < SPAN_MIN / 2:
        shape = max(0.0, min(1.0, (SPAN_MIN / 2 - e.span) / (SPAN_MIN / 4)))
        margin = max(conf.mark_margin(e.fill, MARK_MIN_FILL, below=True), shape if e.fill < DOT_MIN_FILL / 2 else 0.0)
    else:
        margin = min(conf.mark_margin(e.fill, MARK_MIN_FILL, below=True),
                     conf.mark_margin(e.faint_fill, FAINT_MIN_FILL, below=True))
    if e.traced:
        margin = 0.0  # empty only when its ink is clearly below the page's own speck level
    return "empty", margin, False


# ------------------------------------------------------------------------- where the squares are
# A page registered a millimetre or more off in one part (a phone photo of a curved sheet with a
# registration mark missing: seed 179, form 7, its squares 1.3 mm off in the lower left and 0.2 mm
# in the upper right) puts some squares outside the `MARK_SEARCH_MM` they are looked for in. The
# squares found nearest say how far off the registration is there: a square not found is looked
# for again where the nearest squares found (within `SHIFT_NEAR_MM`) say it is, when that is
# `SHIFT_MIN_MM` or more away. Found there, it is measured there; else as before (in review).
# The median of the `SHIFT_NEIGHBOURS` nearest, not the nearest alone: fresh seed 487's phone photo
# (a column of squares 0.8-1.3 mm off downwards) had one "found" 1.2 mm upwards, a cross and the
# square's top edge taken for a square, and the box below it was looked for in the row above.
# A square found only as a blur's band (`_blurred_square`) is looked for again too: there the band
# was a square's top half cut by the region, and the tick inside it touched the region's edge.
# Not found where the median says, it is looked for where each of those squares says (fresh seed
# 599's phone photo: a corner of the page 2.4 mm off, only two squares found within 40 mm, one of
# them wrongly; their median missed the square, its edges were read as a tick, and an empty 否
# beside a ticked 是 made the answer "several marked").
SHIFT_MIN_MM = 0.5
SHIFT_NEAR_MM = 40.0
SHIFT_NEIGHBOURS = 3
_offsets_cache: dict[int, tuple[np.ndarray, list[tuple[float, float, float, float]]]] = {}


def _square_offsets(ctx: Any) -> list[tuple[float, float, float, float]]:
    """(x, y, dx, dy) in mm for every tick box on the page whose printed square is found where the
    registration puts it: the box's centre and how far the square's centre is from it. Cached per
    page."""
    hit = _offsets_cache.get(id(ctx.canon))
    if hit is not None and hit[0] is ctx.canon:
        return hit[1]
    out: list[tuple[float, float, float, float]] = []
    template = getattr(ctx, "template", None)
    if template is not None:
        flat = flat_page(ctx.canon)
        m = MARK_SEARCH_MM
        for slot in template.slots():
            f = slot.field
            if slot.page != ctx.page or f.type not in ("checkbox", "choice") or f.mark_style == "bubble":
                continue
            for x, y, w, h in [o.box for o in f.options] or [slot.box]:
                if x - m < 0 or y - m < 0:
                    continue  # a region cut at the page's edge would shift what is found
                _, sq = _square_near(flat, (x, y, w, h))
                if sq is not None:
                    cx = x - m + (sq[0] + sq[2]) / 2 / PX_PER_MM
                    cy = y - m + (sq[1] + sq[3]) / 2 / PX_PER_MM
                    out.append((x + w / 2, y + h / 2, cx - (x + w / 2), cy - (y + h / 2)))
    if len(_offsets_cache) >= PAGES_CACHED:
        _offsets_cache.clear()
    _offsets_cache[id(ctx.canon)] = (ctx.canon, out)
    return out


def square_shifts(ctx: Any, box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """(dx, dy) in mm where to look for `box`'s square again, first that of the median of the
    squares found nearest on the page (up to `SHIFT_NEIGHBOURS` within `SHIFT_NEAR_MM`), then each
    of theirs, nearest first; only those `SHIFT_MIN_MM` or more from where the registration put it.
    A square found is within `MARK_SEARCH_MM` of its own box, so no shift reaches another row's."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    near = sorted((np.hypot(ox - cx, oy - cy), dx, dy) for ox, oy, dx, dy in _square_offsets(ctx)
                  if (ox, oy) != (cx, cy))
    near = [n for n in near[:SHIFT_NEIGHBOURS] if n[0] <= SHIFT_NEAR_MM]
    if not near:
        return []
    median = (float(np.median([n[1] for n in near])), float(np.median([n[2] for n in near])))
    out: list[tuple[float, float]] = []
    for shift in (median, *((float(n[1]), float(n[2])) for n in near)):
        if np.hypot(*shift) >= SHIFT_MIN_MM and shift not in out:
            out.append(shift)
    return out


# ------------------------------------------------------------------------- fields
def _box(ctx: Any, box: tuple[float, float, float, float], fill_cancels: bool) -> tuple[Evidence, str, float, bool, bool]:
    """(evidence, state, margin, doubtful, faint) of one box. A box whose printed square was not
    found is measured where the registration puts it: trusted when the inside is clean (a scan
    that lost the square's faint sides) or filled past the border; ink in between may be the
    square's own edge: doubtful, a person looks."""
    bilevel = ctx.quality_cls == "fax"
    flat, rate = flat_page(ctx.canon), speck_rate(ctx)
    e = measure(flat, box, bilevel=bilevel, speck_rate=rate)
    if not e.found or e.blurred:
        for dx, dy in square_shifts(ctx, box):
            moved = measure(flat, (box[0] + dx, box[1] + dy, box[2], box[3]), bilevel=bilevel, speck_rate=rate)
            if moved.found and not (e.found and moved.blurred):
                e = moved
                break
    state, margin, faint = state_of(e, fill_cancels)
    doubtful = not e.found and MARK_MIN_FILL / 3 <= e.fill < FILLED_MIN_FILL
    return e, state, 0.0 if doubtful else margin, doubtful, faint


def read_checkbox(ctx: Any, slot: Slot) -> FieldReading:
    f = slot.field
    e, state, margin, doubtful, faint = _box(ctx, slot.box, f.fill_cancels)
    value = state == "marked"
    errors = ["mark.square_not_found"] if doubtful else []
    if state == "filled":
        errors.append("mark.cancelled")  # a cancelled mark with nothing else: a person decides
    if faint:
        errors.append("faint_ink")
    c = conf.for_marks([margin])
    status = FieldStatus.ACCEPTED if not errors and c >= conf.MARK_ACCEPT else FieldStatus.NEEDS_REVIEW
    return FieldReading(path=slot.path, type=f.type, value=value, text=None, confidence=c, status=status,
                        errors=errors, page=slot.page, box=slot.box, engine="marks",
                        details={"fill": round(e.fill, 4), "state": state, "evidence": e.to_dict()})


def read_choice(ctx: Any, slot: Slot) -> FieldReading:
    f = slot.field
    fills: dict[str, float] = {}
    states: dict[str, str] = {}
    evidence: dict[str, dict[str, Any]] = {}
    margins = []
    doubts = []
    faints = []
    for o in f.options:
        e, state, margin, doubtful, faint = _box(ctx, o.box, f.fill_cancels)
        fills[o.value], states[o.value], evidence[o.value] = round(e.fill, 4), state, e.to_dict()
        margins.append(margin)
        doubts.append(doubtful)
        faints.append(faint)
    marked = [v for v, s in states.items() if s == "marked"]
    cancelled = [v for v, s in states.items() if s == "filled"]
    errors: list[str] = ["mark.square_not_found"] if any(doubts) else []
    if any(faints):
        errors.append("faint_ink")
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
    return FieldReading(path=slot.path, type=f.type, value=value, text=None, confidence=c, status=status,
                        errors=errors, page=slot.page, box=slot.box, engine="marks",
                        details={"fills": fills, "states": states, "evidence": evidence})


# ------------------------------------------------------------------------- faint writing
FAINT_TEXT_MAX_GAIN = 3.0  # the flat page's darkness is stretched at most this much


def faint_level(ctx: Any) -> float:
    """The grey (on the flat page) under which ink is at least faint on this page: the paper's
    noise measured over the whole flat page (its lightest half), `FAINT_SIGMAS` of it and never
    closer than `FAINT_MIN_CONTRAST` to the paper. A bilevel page has no faint ink."""
    if ctx.quality_cls == "fax":
        return 255 * DARK_LEVEL
    flat = flat_page(ctx.canon)
    sample = flat[::7, ::7]
    paper = sample[sample > 255 * 0.85]
    if paper.size < 50:
        return 255 - FAINT_MIN_CONTRAST
    med = float(np.median(paper))
    noise = 1.4826 * float(np.median(np.abs(paper.astype(np.float32) - med)))
    return min(med, 255.0) - max(FAINT_MIN_CONTRAST, FAINT_SIGMAS * noise)


def faint_page(ctx: Any) -> np.ndarray:
    """The flat page with its darkness stretched so that the page's faint level (`faint_level`)
    becomes the readers' ink threshold (0.62 of the paper): writing in a light pen or pencil is
    then ink to the text readers, while the paper's noise stays paper (cached per page)."""
    key = ("faint", id(ctx.canon))
    hit = _faint_cache.get(key)
    if hit is not None and hit[0] is ctx.canon:
        return hit[1]
    flat = flat_page(ctx.canon)
    gain = min(FAINT_TEXT_MAX_GAIN, (255.0 * (1 - DARK_LEVEL)) / max(1.0, 255.0 - faint_level(ctx)))
    lut = np.clip(255.0 - (255.0 - np.arange(256, dtype=np.float32)) * gain, 0, 255).astype(np.uint8)
    out = cv2.LUT(flat, lut)
    if len(_faint_cache) >= PAGES_CACHED:
        _faint_cache.clear()
    _faint_cache[key] = (ctx.canon, out)
    return out


_faint_cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


# ------------------------------------------------------------------------- the page's specks
_white_cache: dict[tuple[str, int, tuple[int, int]], tuple[np.ndarray, np.ndarray]] = {}
_rate_cache: dict[int, tuple[np.ndarray, float | None]] = {}


def _blank_canon(template: Any, page: int, shape: tuple[int, int], registry: Any = None) -> np.ndarray:
    """The registry's blank page (rendered once per template version, or the reference scan of a
    form in circulation) at canon resolution, `shape`: the registry the page was read with, or the
    default one. A template the registry did not load has no blank to compare with: it raises."""
    if registry is None:
        from intake.forms.registry import default_registry

        registry = default_registry()
    blank = registry.blank_image(template, page, CANON_DPI)
    if blank.shape != shape:
        blank = cv2.resize(blank, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return blank


def blank_white(template: Any, page: int, shape: tuple[int, int], registry: Any = None
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """(white, paper) masks at canon resolution: where the blank printed form is white, away from
    its printing by `PRINT_GROW_MM`; and of that, what is outside every field's box (paper no one
    writes on). Cached per template page."""
    key = (template.key, page, shape)
    hit = _white_cache.get(key)
    if hit is not None:
        return hit
    blank = _blank_canon(template, page, shape, registry)
    k = int(2 * PRINT_GROW_MM * PX_PER_MM) | 1
    printed = cv2.dilate((blank < 230).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    white = printed == 0
    paper = white.copy()
    for slot in template.slots():
        if slot.page != page:
            continue
        boxes = [slot.box] + [o.box for o in slot.field.options]
        for x, y, w, h in boxes:
            g = PRINT_GROW_MM
            paper[max(0, round((y - g) * PX_PER_MM)):round((y + h + g) * PX_PER_MM),
                  max(0, round((x - g) * PX_PER_MM)):round((x + w + g) * PX_PER_MM)] = False
    if len(_white_cache) >= 8:
        _white_cache.clear()
    _white_cache[key] = (white, paper)
    return white, paper


def speck_rate(ctx: Any) -> float | None:
    """Share of the page's writing-free paper (`blank_white`) that is dark on the flat page: the
    page's own rate of specks, fax pepper and noise. None without the template (cached per page)."""
    template = getattr(ctx, "template", None)
    if template is None:
        return None
    hit = _rate_cache.get(id(ctx.canon))
    if hit is not None and hit[0] is ctx.canon:
        return hit[1]
    flat = flat_page(ctx.canon)
    masks = _masks(template, ctx.page, flat.shape, getattr(ctx, "registry", None))
    if masks is None:
        return None
    n = int(masks[1].sum())
    paper = masks[1]
    rate = float(np.count_nonzero(flat[paper] < 255 * DARK_LEVEL)) / n if n > 1000 else None
    if len(_rate_cache) >= PAGES_CACHED:
        _rate_cache.clear()
    _rate_cache[id(ctx.canon)] = (ctx.canon, rate)
    return rate


def text_traces(ctx: Any, box: tuple[float, float, float, float], inset_mm: float = 1.0) -> tuple[int, float]:
    """(dark pixels, expected of the page's specks) inside a text field's box less `inset_mm`,
    where the blank form is white there: broken-up writing leaves more than specks do."""
    rate = speck_rate(ctx)
    if rate is None:
        return 0, 0.0
    flat = flat_page(ctx.canon)
    masks = _masks(ctx.template, ctx.page, flat.shape, getattr(ctx, "registry", None))
    if masks is None:
        return 0, 0.0
    white = masks[0]
    x, y, w, h = box
    sl = np.s_[max(0, round((y + inset_mm) * PX_PER_MM)):round((y + h - inset_mm) * PX_PER_MM),
               max(0, round((x + inset_mm) * PX_PER_MM)):round((x + w - inset_mm) * PX_PER_MM)]
    where = white[sl]
    return int(np.count_nonzero((flat[sl] < 255 * DARK_LEVEL) & where)), rate * float(where.sum())


_print_cache: dict[tuple[str, int, tuple[int, int]], tuple[np.ndarray, int]] = {}


def print_kept(ctx: Any) -> float | None:
    """Dark pixels of the page within 2 px of the blank form's printing, over the number of
    printed pixels: about 1 or more where the print came through (thickened on a dark fax), well
    under 1 where a fax's light setting broke it up. None without the template's blank page."""
    template = getattr(ctx, "template", None)
    if template is None:
        return None
    shape = ctx.canon.shape
    key = (template.key, ctx.page, shape)
    hit = _print_cache.get(key)
    if hit is None:
        from intake.errors import IntakeError

        try:
            blank = _blank_canon(template, ctx.page, shape, getattr(ctx, "registry", None))
        except (IntakeError, KeyError, OSError):
            return None
        printed = blank < 128
        near = cv2.dilate(printed.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if len(_print_cache) >= 8:
            _print_cache.clear()
        hit = _print_cache[key] = (near, int(printed.sum()))
    near, count = hit
    if count < 1000:
        return None
    return float(np.count_nonzero(ctx.canon[near] < 128)) / count


def _masks(template: Any, page: int, shape: tuple[int, int], registry: Any = None
           ) -> tuple[np.ndarray, np.ndarray] | None:
    from intake.errors import IntakeError

    try:
        return blank_white(template, page, shape, registry)
    except (IntakeError, KeyError, OSError):
        return None
