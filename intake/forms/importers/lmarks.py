"""Finding printed structure on a blank scan: L-shaped corner marks (queXF and many other
printed forms), black scanner borders, and the printed outline of a box (`snap_rect`).

An L mark is a thin solid L (arms ~20 mm long, ~0.5 mm thick) near each corner of the page, its
arms pointing into the page. `find_l_marks` returns the inner corner of each L: the point where
the inner edges of the two arms meet, which is what queXF's banding XML gives as ``tlx, tly`` ...
(measured on queXF's own printed original: the XML's 180 px is the inner edge of a line drawn
from 174 to 179 px).
"""

from __future__ import annotations

import cv2
import numpy as np

from intake.errors import TemplateError

CORNERS = ("tl", "tr", "br", "bl")
# Direction of the arms (into the page) for each corner: (sx, sy).
_INWARD = {"tl": (1, 1), "tr": (-1, 1), "br": (-1, -1), "bl": (1, -1)}


def _binary(grey: np.ndarray) -> np.ndarray:
    paper = float(np.percentile(grey, 90))
    return (grey < min(128.0, paper * 0.6)).astype(np.uint8)


def _arm_shares(mask: np.ndarray, t: float, corner: str) -> tuple[float, float, float, float]:
    """Ink share along the two edges where the arms should be, and along the two where they
    should not, of the component's bounding box."""
    h, w = mask.shape
    band = max(2, int(round(3 * t)))
    top, bottom = mask[:band].any(axis=0).mean(), mask[h - band:].any(axis=0).mean()
    left, right = mask[:, :band].any(axis=1).mean(), mask[:, w - band:].any(axis=1).mean()
    sx, sy = _INWARD[corner]
    horiz, other_h = (top, bottom) if sy > 0 else (bottom, top)
    vert, other_v = (left, right) if sx > 0 else (right, left)
    return horiz, vert, other_h, other_v


def _fit(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vx, vy, x0, y0 = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)


def _intersect(p1: np.ndarray, d1: np.ndarray, p2: np.ndarray, d2: np.ndarray) -> np.ndarray:
    A = np.array([d1, -d2]).T
    t = np.linalg.solve(A, p2 - p1)
    return p1 + t[0] * d1


def _inner_corner(mask: np.ndarray, x0: int, y0: int, corner: str) -> tuple[np.ndarray, float] | None:
    """Inner corner (image px) of the L in `mask` (its bounding box at x0, y0) and its thickness."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    sx, sy = _INWARD[corner]
    # distance from the L's outer corner along each axis
    ax = xs if sx > 0 else (w - 1 - xs)
    ay = ys if sy > 0 else (h - 1 - ys)
    t = len(xs) / float(w + h)  # first guess of the stroke thickness
    horiz = (ax > max(3 * t, 0.3 * w)) & (ay < 0.3 * h)
    vert = (ay > max(3 * t, 0.3 * h)) & (ax < 0.3 * w)
    if horiz.sum() < 10 or vert.sum() < 10:
        return None
    ph, dh = _fit(np.column_stack([xs[horiz], ys[horiz]]))
    pv, dv = _fit(np.column_stack([xs[vert], ys[vert]]))
    if abs(dh[0]) < 0.95 or abs(dv[1]) < 0.95:  # arms more than ~18 degrees off: not an L
        return None
    # thickness: spread of each arm's pixels across its centre line
    nh, nv = np.array([-dh[1], dh[0]]), np.array([-dv[1], dv[0]])
    # (the mean distance of a uniform stroke's pixels from its centre line is a quarter of its width)
    th = 4 * np.abs((np.column_stack([xs[horiz], ys[horiz]]) - ph) @ nh).mean()
    tv = 4 * np.abs((np.column_stack([xs[vert], ys[vert]]) - pv) @ nv).mean()
    # the inner edges are half a stroke (plus half a pixel: pixel centres vs edges) inside
    nh = nh * np.sign(nh[1] * sy)
    nv = nv * np.sign(nv[0] * sx)
    p = _intersect(ph + nh * (th + 1) / 2, dh, pv + nv * (tv + 1) / 2, dv)
    return p + np.array([x0, y0], np.float64), float((th + tv) / 2)


def find_l_marks(grey: np.ndarray, dpi: float) -> dict[str, np.ndarray]:
    """Inner corner (px) of the L mark nearest each corner of the page; TemplateError if one of
    the four is missing."""
    binary = _binary(grey)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = grey.shape
    px_mm = dpi / 25.4
    found: dict[str, np.ndarray] = {}
    for corner in CORNERS:
        sx, sy = _INWARD[corner]
        cx, cy = (0 if sx > 0 else w), (0 if sy > 0 else h)
        best, best_d = None, float("inf")
        for i in range(1, n):
            x, y, bw, bh, area = stats[i]
            if not (6 * px_mm <= bw <= 45 * px_mm and 6 * px_mm <= bh <= 45 * px_mm and 0.6 <= bw / bh <= 1.67):
                continue
            if area > 0.3 * bw * bh or not (0.15 * px_mm <= area / (bw + bh) <= 3 * px_mm):
                continue
            mx, my = x + bw / 2, y + bh / 2
            if abs(mx - cx) > 0.4 * w or abs(my - cy) > 0.4 * h:
                continue  # not in this corner's part of the page
            d = (mx - cx) ** 2 + (my - cy) ** 2
            if d >= best_d:
                continue
            mask = (labels[y:y + bh, x:x + bw] == i).astype(np.uint8)
            arm_h, arm_v, no_h, no_v = _arm_shares(mask, area / (bw + bh), corner)
            if min(arm_h, arm_v) < 0.8 or max(no_h, no_v) > 0.3:
                continue
            res = _inner_corner(mask, x, y, corner)
            if res is not None:
                best, best_d = res[0], d
        if best is None:
            raise TemplateError(f"no L-shaped corner mark found near the {corner.upper()} corner of the blank scan")
        found[corner] = best
    return found


def remove_scanner_border(grey: np.ndarray, dpi: float) -> np.ndarray:
    """The page with black scanner borders (dark areas touching the image edge) whitened: they are
    not part of the form and would count as missing form ink on every other scan."""
    binary = _binary(grey)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = grey.shape
    px_mm = dpi / 25.4
    out = grey.copy()
    paper = np.uint8(np.percentile(grey, 90))
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        if touches and max(bw, bh) > 30 * px_mm:
            out[labels == i] = paper
    return out


def snap_rect(grey: np.ndarray, rect: tuple[float, float, float, float], dpi: float,
              max_shift_mm: float = 2.0) -> tuple[tuple[float, float, float, float], float] | None:
    """The printed rectangle outline nearest `rect` (x0, y0, x1, y1 px, same size), as
    (rect, share of its outline covered by ink); None when no outline is printed there.

    Layout files and their printouts disagree by up to a millimetre here and there (sheet-fed
    scanners stretch parts of a page; a form is re-printed from a slightly different layout), so
    a box is placed where the blank scan shows it, not only where the layout file says."""
    x0, y0, x1, y1 = rect
    r = int(round(max_shift_mm / 25.4 * dpi))
    t = max(2, int(round(0.25 / 25.4 * dpi)))
    w, h = int(round(x1 - x0)), int(round(y1 - y0))
    X, Y = int(round(x0)), int(round(y0))
    H, W = grey.shape
    if w < 3 * t or h < 3 * t or X - r < 0 or Y - r < 0 or X + w + r >= W or Y + h + r >= H:
        return None
    ink = cv2.dilate(_binary(grey[Y - r:Y + h + r + 1, X - r:X + w + r + 1]), np.ones((3, 3), np.uint8))
    outline = np.zeros((h + 1, w + 1), np.uint8)
    cv2.rectangle(outline, (0, 0), (w, h), 1, t)
    res = cv2.matchTemplate(ink.astype(np.float32), outline.astype(np.float32), cv2.TM_CCORR)
    _, best, _, (dx, dy) = cv2.minMaxLoc(res)
    cover = best / float(outline.sum())
    if cover < 0.6:
        return None
    here = res[r, r] / float(outline.sum())
    if here >= cover - 0.02:  # already on the outline (or no better place): keep the layout's
        dx, dy = r, r
        cover = here
    sx, sy = dx - r, dy - r
    return (x0 + sx, y0 + sy, x1 + sx, y1 + sy), float(cover)
