"""Orientation and skew of a page without our QR code or marks, from the page itself.

`estimate_skew` finds the small angle (±45°) of the text lines and ruled lines by projection
profiles: the page's ink is projected onto lines at candidate angles, and the angle whose profile
is sharpest (ink concentrated in few rows: text lines, table rules) wins; coarse search in 0.5°
steps, then refined to 0.05°. `estimate_orientation` finds the quarter turn with Tesseract's
orientation detection (OSD), which needs text on the page.

Sign conventions:
- skew (degrees): positive means the page must be turned counter-clockwise to straighten it,
  i.e. its lines run downhill to the right (the convention of the ``deskew`` library, whose
  test scans are the accuracy benchmark). ``cv2.getRotationMatrix2D(centre, skew, 1)`` turns
  such a page straight.
- orientation: the number of counter-clockwise quarter turns that make the page upright, i.e.
  ``np.rot90(page, k)``. Tesseract's ``orient_deg`` is how far the page was turned clockwise from
  upright (a page scanned turned right reports 90); undoing it is ``orient_deg / 90``
  counter-clockwise quarter turns.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from intake.errors import OcrEngineError

WORK_DPI = 100.0  # resolution of the skew search
MAX_SKEW = 45.0
MIN_OSD_CONF = 1.5  # Tesseract's orientation confidence below which the answer is a guess
MAX_POINTS = 150_000


def _ink_points(grey: np.ndarray, dpi: float) -> np.ndarray:
    """(x, y) of ink pixels at `WORK_DPI`, without big blobs (photos, black borders) that have no
    line direction of their own."""
    f = min(1.0, WORK_DPI / max(dpi, 1.0))
    small = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else grey
    _, ink = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if ink.mean() > 0.5:  # white on black: the page is the dark part
        ink = 1 - ink
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    big = (stats[:, cv2.CC_STAT_AREA] > 0.02 * ink.size) | (stats[:, cv2.CC_STAT_WIDTH] > 0.9 * ink.shape[1])
    big[0] = True
    keep = ~big[labels]
    ys, xs = np.nonzero(keep)
    pts = np.column_stack([xs, ys]).astype(np.float32)
    if len(pts) > MAX_POINTS:
        pts = pts[np.random.default_rng(0).choice(len(pts), MAX_POINTS, replace=False)]
    return pts


def _sharpness(pts: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """For each angle (degrees), how concentrated the ink is in rows of a page turned by it."""
    out = np.empty(len(angles))
    x, y = pts[:, 0], pts[:, 1]
    for i, a in enumerate(np.radians(angles)):
        r = y * np.cos(a) - x * np.sin(a)
        hist = np.bincount((r - r.min()).astype(np.int64))
        out[i] = float(np.dot(hist, hist))
    return out


def estimate_skew(grey: np.ndarray, dpi: float) -> float:
    """Skew of the page in degrees (positive: turn it counter-clockwise to straighten); 0.0 for a
    page without ink."""
    pts = _ink_points(grey, dpi)
    if len(pts) < 50:
        return 0.0
    pts -= pts.mean(axis=0)
    coarse = np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 0.5)
    best = float(coarse[int(np.argmax(_sharpness(pts, coarse)))])
    fine = np.arange(best - 0.6, best + 0.601, 0.05)
    best = float(fine[int(np.argmax(_sharpness(pts, fine)))])
    return round(best, 2)


def estimate_orientation(grey: np.ndarray, dpi: float, engine: Any) -> tuple[int, float] | None:
    """(counter-clockwise quarter turns that make the page upright, Tesseract's confidence), or
    None when Tesseract finds no text to judge by or is not confident (< `MIN_OSD_CONF`).

    The page is given to Tesseract at about 300 dpi (its models' resolution)."""
    f = 300.0 / dpi if dpi > 0 else 1.0
    img = grey
    if abs(f - 1.0) > 0.15:
        img = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    try:
        res = engine.osd(img)
    except (RuntimeError, OcrEngineError):  # Tesseract refuses pages with too few characters
        return None
    if res is None:
        return None
    orient_deg, conf = res
    if conf < MIN_OSD_CONF:
        return None
    return (int(orient_deg) // 90) % 4, float(conf)
