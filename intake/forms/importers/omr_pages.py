"""OMRChecker's page space: reproducing its preprocessing on a sample sheet.

OMRChecker's template coordinates are pixels of the page AFTER its preprocessors: the input is
resized to the processing size (``config.json`` ``dimensions.processing_width/height``, default
666 x 820, aspect ratio not kept), each preprocessor crops or warps it, and the result is resized
to the template's ``pageDimensions`` (again without keeping the aspect ratio). `page_space`
reproduces the geometric preprocessors on a sample sheet the way OMRChecker (v1, ``src/processors``)
does them, but keeps only the chain of transforms and warps the full-resolution image once:

- ``CropPage``: the largest 4-cornered contour of the closed, Canny-edged page, warped to its
  own width and height (``four_point_transform``);
- ``CropOnMarkers``: ``omr_marker.jpg`` (scaled to processing width / sheetToMarkerWidthRatio,
  blurred, erode-subtracted) found by ``cv2.matchTemplate`` at scales 100 %..35 % in the four
  parts of the page (top third / bottom two thirds, left / right half); the page is warped to
  the marker centres;
- ``FeatureBasedAlignment``: ORB matches against its reference image (affine, or a homography
  with ``"2d": false``);
- ``Levels``, ``GaussianBlur``, ``MedianBlur``, ``Contrast`` change grey values, not geometry, and
  are left out (the reader measures darkness relative to the page).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from intake.errors import TemplateError

VALUE_ONLY = {"Levels", "GaussianBlur", "MedianBlur", "Contrast"}
MIN_PAGE_AREA = 80000  # OMRChecker's CropPage: px at processing size


def processing_size(template_dir: Path) -> tuple[int, int]:
    """(width, height) OMRChecker resizes the input to before preprocessing."""
    cfg = template_dir / "config.json"
    w, h = 666, 820
    if cfg.is_file():
        dims = json.loads(cfg.read_text(encoding="utf-8")).get("dimensions", {})
        w, h = int(dims.get("processing_width", w)), int(dims.get("processing_height", h))
    return w, h


def _order(pts: np.ndarray) -> np.ndarray:
    """tl, tr, br, bl (OMRChecker's order_points: by x+y and y-x)."""
    pts = np.float64(pts).reshape(4, 2)
    s, d = pts.sum(1), np.diff(pts, axis=1).ravel()
    return np.float64([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def _four_point(pts: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The transform of OMRChecker's four_point_transform and the size of its output."""
    tl, tr, br, bl = _order(pts)
    w = int(max(np.linalg.norm(br - bl), np.linalg.norm(tr - tl)))
    h = int(max(np.linalg.norm(tr - br), np.linalg.norm(tl - bl)))
    dst = np.float64([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    return cv2.getPerspectiveTransform(np.float32([tl, tr, br, bl]), np.float32(dst)), (w, h)


def _normalize(img: np.ndarray) -> np.ndarray:
    return cv2.normalize(img, None, 0, 255, norm_type=cv2.NORM_MINMAX)


def _max_cosine(approx: np.ndarray) -> float:
    pts = approx.reshape(4, 2).astype(np.float64)
    worst = 0.0
    for i in range(4):
        a, b, c = pts[i - 1], pts[i], pts[(i + 1) % 4]
        v1, v2 = a - b, c - b
        worst = max(worst, abs(v1 @ v2) / (np.linalg.norm(v1) * np.linalg.norm(v2) + 1e-9))
    return worst


def crop_page(img: np.ndarray, options: dict) -> np.ndarray:
    """Corners (4 x 2, processing px) of the sheet in `img`."""
    k = tuple(int(v) for v in options.get("morphKernel", (10, 10)))
    image = _normalize(cv2.GaussianBlur(img, (3, 3), 0))
    _, image = cv2.threshold(image, 200, 255, cv2.THRESH_TRUNC)
    image = _normalize(image)
    closed = cv2.morphologyEx(image, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, k))
    edge = cv2.Canny(closed, 185, 55)
    contours, _ = cv2.findContours(edge, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    hulls = sorted((cv2.convexHull(c) for c in contours), key=cv2.contourArea, reverse=True)[:5]
    for c in hulls:
        if cv2.contourArea(c) < MIN_PAGE_AREA:
            continue
        approx = cv2.approxPolyDP(c, 0.025 * cv2.arcLength(c, True), True)
        if len(approx) == 4 and _max_cosine(approx) < 0.35:
            return approx.reshape(4, 2).astype(np.float64)
    raise TemplateError("CropPage: the sheet's edges were not found on the sample sheet")


def crop_on_markers(img: np.ndarray, options: dict, template_dir: Path, proc_w: int) -> np.ndarray:
    """Centres (4 x 2, processing px) of the four corner markers in `img`."""
    path = template_dir / options.get("relativePath", "omr_marker.jpg")
    marker = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if marker is None:
        raise TemplateError(f"CropOnMarkers: marker image {path.name} not found beside the template")
    if "sheetToMarkerWidthRatio" in options:
        mw = proc_w / float(options["sheetToMarkerWidthRatio"])
        marker = cv2.resize(marker, (int(mw), int(marker.shape[0] * mw / marker.shape[1])))
    marker = _normalize(cv2.GaussianBlur(marker, (5, 5), 0))
    if options.get("apply_erode_subtract", 1):
        marker = marker - cv2.erode(marker, np.ones((5, 5)), iterations=5)
    image = _normalize(img)
    h1, w1 = image.shape
    midh, midw = h1 // 3, w1 // 2
    lo, hi = options.get("marker_rescale_range", (35, 100))
    steps = int(options.get("marker_rescale_steps", 10))
    best_s, best_t = None, -1.0
    for r in range(int(hi), int(lo), -max(1, (int(hi) - int(lo)) // steps)):
        m = _scaled(marker, r / 100)
        if m.shape[0] >= h1 or m.shape[1] >= w1 or min(m.shape) < 4:
            continue
        t = float(cv2.matchTemplate(image, m, cv2.TM_CCOEFF_NORMED).max())
        if t > best_t:
            best_s, best_t = r / 100, t
    if best_s is None:
        raise TemplateError("CropOnMarkers: the marker is larger than the sheet")
    m = _scaled(marker, best_s)
    mh, mw_ = m.shape
    centres = []
    for x0, y0, x1, y1 in ((0, 0, midw, midh), (midw, 0, w1, midh), (0, midh, midw, h1), (midw, midh, w1, h1)):
        res = cv2.matchTemplate(image[y0:y1, x0:x1], m, cv2.TM_CCOEFF_NORMED)
        _, t, _, (x, y) = cv2.minMaxLoc(res)
        if t < float(options.get("min_matching_threshold", 0.3)) or best_t - t >= float(options.get("max_matching_variation", 0.41)):
            raise TemplateError(f"CropOnMarkers: a corner marker was not found (match {t:.2f})")
        centres.append((x0 + x + mw_ / 2, y0 + y + mh / 2))
    return np.float64(centres)


def _scaled(marker: np.ndarray, s: float) -> np.ndarray:
    h = int(marker.shape[0] * s)
    return cv2.resize(marker, (max(1, int(marker.shape[1] * h / marker.shape[0])), max(1, h)))


def _feature_align(img: np.ndarray, options: dict, template_dir: Path, size: tuple[int, int]) -> np.ndarray:
    ref = cv2.imread(str(template_dir / options["reference"]), cv2.IMREAD_GRAYSCALE)
    if ref is None:
        raise TemplateError(f"FeatureBasedAlignment: reference {options['reference']} not found")
    ref = cv2.resize(ref, size)
    orb = cv2.ORB_create(int(options.get("maxFeatures", 500)))
    k1, d1 = orb.detectAndCompute(_normalize(img), None)
    k2, d2 = orb.detectAndCompute(ref, None)
    if d1 is None or d2 is None:
        raise TemplateError("FeatureBasedAlignment: no features on the sample sheet")
    matches = sorted(cv2.BFMatcher(cv2.NORM_HAMMING).match(d1, d2), key=lambda m: m.distance)
    matches = matches[:max(4, int(len(matches) * float(options.get("goodMatchPercent", 0.10))))]
    p1 = np.float32([k1[m.queryIdx].pt for m in matches])
    p2 = np.float32([k2[m.trainIdx].pt for m in matches])
    if options.get("2d", True):
        A, _ = cv2.estimateAffine2D(p1, p2)
        return np.vstack([A, [0, 0, 1]])
    H, _ = cv2.findHomography(p1, p2, cv2.RANSAC)
    return H


def page_space(img: np.ndarray, preprocessors: list[dict], template_dir: Path, out_size: tuple[int, int]
               ) -> tuple[np.ndarray, list[str]]:
    """`img` (grey, full resolution) in OMRChecker's page space scaled to `out_size`, and notes."""
    proc_w, proc_h = processing_size(template_dir)
    h0, w0 = img.shape
    M = np.diag([proc_w / w0, proc_h / h0, 1.0])  # original px -> current frame px
    frame = (proc_w, proc_h)
    current = cv2.resize(img, frame, interpolation=cv2.INTER_AREA)
    notes = []
    for p in preprocessors:
        name, options = p.get("name"), p.get("options", {})
        if name in VALUE_ONLY:
            notes.append(f"preprocessor {name}: changes grey values only, not reproduced")
            continue
        if name == "CropPage":
            T, frame = _four_point(crop_page(current, options))
        elif name == "CropOnMarkers":
            T, frame = _four_point(crop_on_markers(current, options, template_dir, proc_w))
        elif name == "FeatureBasedAlignment":
            frame = (proc_w, proc_h)
            T = _feature_align(current, options, template_dir, frame)
        else:
            raise TemplateError(f"preprocessor {name!r} cannot be reproduced; give a reference image already cropped "
                                "as OMRChecker would, and drop it from preProcessors")
        M = T @ M
        current = cv2.warpPerspective(current, T, frame, flags=cv2.INTER_LINEAR, borderValue=255)
        notes.append(f"preprocessor {name}: reproduced")
    T = np.diag([out_size[0] / frame[0], out_size[1] / frame[1], 1.0]) @ M
    f = float(np.sqrt(abs(np.linalg.det(T[:2, :2] / T[2, 2]))))
    if f < 0.8:  # shrinking: average the pixels first, a warp alone would alias
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        T = T @ np.diag([1 / f, 1 / f, 1.0])
    paper = int(np.percentile(img, 95))
    out = cv2.warpPerspective(img, T, out_size, flags=cv2.INTER_LINEAR, borderValue=paper)
    return out, notes


def synthetic_page(size: tuple[int, int], bubbles: list[tuple[float, float, float, float, str]]) -> np.ndarray:
    """A white page with each bubble (x, y, w, h px, value) drawn as a printed circle with its
    value inside: a stand-in reference when no sample sheet is given."""
    w, h = size
    page = np.full((h, w), 255, np.uint8)
    for x, y, bw, bh, value in bubbles:
        centre = (int(round(x + bw / 2)), int(round(y + bh / 2)))
        axes = (max(2, int(bw / 2) - 1), max(2, int(bh / 2) - 1))
        cv2.ellipse(page, centre, axes, 0, 0, 360, 60, max(1, int(min(bw, bh) / 14)))
        scale = min(bw, bh) / 40.0
        (tw, th), _ = cv2.getTextSize(value[:2], cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(page, value[:2], (centre[0] - tw // 2, centre[1] + th // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, 110,
                    max(1, int(scale * 1.5)), cv2.LINE_AA)
    return page


def _bubble_centre(img: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float] | None:
    """Centre of the printed (or filled) bubble nearest `box` (x, y, w, h px), or None."""
    x, y, w, h = box
    g = 0.6 * max(w, h)
    x0, y0 = int(max(0, x - g)), int(max(0, y - g))
    x1, y1 = int(min(img.shape[1], x + w + g)), int(min(img.shape[0], y + h + g))
    win = img[y0:y1, x0:x1]
    if win.size == 0 or win.max() - win.min() < 40:
        return None
    _, ink = cv2.threshold(win, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    cx, cy = x + w / 2 - x0, y + h / 2 - y0
    best, best_d = None, g * g
    for i in range(1, n):
        bx, by, bw, bh, _ = stats[i]
        if not (0.6 * w <= bw <= 1.8 * w and 0.6 * h <= bh <= 1.8 * h):
            continue
        mx, my = bx + bw / 2, by + bh / 2
        d = (mx - cx) ** 2 + (my - cy) ** 2
        if d < best_d:
            best, best_d = (mx - cx, my - cy), d
    return best


def _fit(idx: list[int], shifts: list[float], n: int) -> list[float]:
    """Shift of each of n bubbles from the found ones: a line through them (the template's gap
    may be off), a constant with fewer than three, outliers (> 2 px from the median) left out."""
    med = float(np.median(shifts))
    keep = [(i, s) for i, s in zip(idx, shifts, strict=True) if abs(s - med) <= max(2.0, 3 * float(np.median(np.abs(np.array(shifts) - med))))]
    if len(keep) >= 3:
        b, a = np.polyfit([i for i, _ in keep], [s for _, s in keep], 1)
        return [float(a + b * i) for i in range(n)]
    return [float(np.median([s for _, s in keep]))] * n


def snap_bubbles(img: np.ndarray, fields: list[list[tuple[float, float, float, float]]]
                 ) -> tuple[list[list[tuple[float, float, float, float]]], list[float]]:
    """Each field's bubble boxes moved onto the bubbles printed on `img` (page px); and the
    distance (px) each bubble moved. Fields where fewer than half the bubbles are found stay."""
    out, moved = [], []
    for boxes in fields:
        found = [(i, c) for i, c in enumerate(_bubble_centre(img, b) for b in boxes) if c is not None]
        if len(found) * 2 < len(boxes) or not found:
            out.append(boxes)
            continue
        idx = [i for i, _ in found]
        dx = _fit(idx, [c[0] for _, c in found], len(boxes))
        dy = _fit(idx, [c[1] for _, c in found], len(boxes))
        size = max(max(b[2], b[3]) for b in boxes)
        if max(np.hypot(a, b) for a, b in zip(dx, dy, strict=True)) > 0.6 * size:
            out.append(boxes)
            continue
        out.append([(x + a, y + b, w, h) for (x, y, w, h), a, b in zip(boxes, dx, dy, strict=True)])
        moved += [float(np.hypot(a, b)) for a, b in zip(dx, dy, strict=True)]
    return out, moved


def flatten(img: np.ndarray, px_per_mm: float) -> np.ndarray:
    """The page with its lighting evened out (paper to white, ink kept): a photographed sample
    sheet's shadows are not part of the form, and would count as form ink missing on every other
    sheet. The background is the page closed with a ~5 mm disc (removing print and marks),
    smoothed; the page is divided by it."""
    f = 0.25
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    k = max(3, int(round(5 * px_per_mm * f)) | 1)
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    bg = cv2.GaussianBlur(bg, (0, 0), k / 2)
    bg = cv2.resize(bg, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    return np.clip(img.astype(np.float32) / np.maximum(bg, 1.0) * 255.0, 0, 255).astype(np.uint8)
