"""Is a page blank? The back of a sheet fed through a duplex scanner, a separator sheet.

A blank page is told apart from "not one of our forms" so that a clerk is not told to rescan
it and a supervisor can set it aside. The test is deliberately strict: a page is blank only when
it carries less writing than one handwritten character.

How: at `BLANK_DPI`, ink is what is clearly darker than the paper around it (the page with its
strokes closed away, blurred: so uneven light and a photocopier's grey band are paper, not ink),
counted only on paper (a phone photo's desk is not paper, and the paper's own edge is not ink).
Specks (toner, fax pepper) and scan-line streaks are not writing. Measured on synthetic sheets
(`intake.forms.synth.degrade`, 20 seeds each of office, fax and phone blanks): all 0.0 mm² of
ink; one typed 5 mm character 3.6 mm²; a line of small typed text 9 mm²; blank forms and a
printed text page 1,800 to 6,300 mm². `MAX_INK_MM2` sits between the blanks and the character.
At 150 dpi rather than 100: at 100 dpi office-scan toner specks merged into 1.4 mm² of "ink",
too close to one character.
"""

from __future__ import annotations

import cv2
import numpy as np

from intake.pipeline.ink import ink_threshold, paper_level
from intake.pipeline.scale import downscaled

BLANK_DPI = 150.0
MAX_INK_MM2 = 1.5  # less writing than this (one character is ~3.6 mm²) is a blank page
SPECK_MM2 = 0.3  # toner specks and fax pepper
STREAK_THICK_MM, STREAK_LONG_MM = 0.6, 30.0  # a dirty scanner line: thin and long
QUICK_DPI = 100.0
QUICK_MAX_DARK_MM2 = 200.0  # dark pixels on the shared 100 dpi copy: a form has thousands


def _mm2(px: float, px_per_mm: float) -> float:
    return px / (px_per_mm * px_per_mm)


def could_be_blank(img: np.ndarray, dpi: float) -> bool:
    """A cheap first look (a few ms, on the 100 dpi copy the QR search shares): False when the
    page has far too much dark ink to be blank. A phone photo's desk is dark too, so a photo of a
    blank sheet fails this look and is judged by `is_blank` only after the form search fails."""
    f = min(1.0, QUICK_DPI / max(dpi, 1.0))
    small = downscaled(img, f)
    dark = int(np.count_nonzero(small < ink_threshold(paper_level(small))))
    return _mm2(dark, dpi * f / 25.4) < QUICK_MAX_DARK_MM2


def ink_mm2(img: np.ndarray, dpi: float) -> float:
    """Square millimetres of writing or printing on the page (see the module docstring)."""
    f = min(1.0, BLANK_DPI / max(dpi, 1.0))
    small = downscaled(img, f)
    px_mm = dpi * f / 25.4
    k = int(3 * px_mm) | 1
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.blur(paper, (k, k))
    on_paper = (paper > 0.7 * paper_level(small)).astype(np.uint8)
    e = int(4 * px_mm) | 1
    on_paper = cv2.erode(on_paper, cv2.getStructuringElement(cv2.MORPH_RECT, (e, e)))
    darker = paper.astype(np.int16) - small.astype(np.int16)
    ink = ((darker > np.maximum(40, 0.3 * paper)) & (on_paper > 0)).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    total = 0.0
    for i in range(1, n):
        _, _, w, h, area = stats[i]
        a = _mm2(float(area), px_mm)
        if a < SPECK_MM2:
            continue
        if min(w, h) <= STREAK_THICK_MM * px_mm and max(w, h) >= STREAK_LONG_MM * px_mm:
            continue
        total += a
    return total


def is_blank(img: np.ndarray, dpi: float) -> bool:
    return ink_mm2(img, dpi) < MAX_INK_MM2
