"""Ink on paper: binarising crops, removing specks and stray form lines, measuring fill."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


def paper_level(grey: np.ndarray, q: float = 95.0) -> float:
    """Brightness of the paper (a high percentile), robust to dark text. From the histogram:
    np.percentile sorts, ~20x slower on a page; OpenCV's histogram of uint8 is ~7x faster than
    np.bincount (16 -> 2.5 ms on a page at 200 dpi)."""
    if not grey.size:
        return 255.0
    if grey.dtype == np.uint8:
        hist = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()
    else:
        hist = np.bincount(grey.ravel(), minlength=256)
    return float(np.searchsorted(np.cumsum(hist), grey.size * q / 100.0))


def ink_percentile(parts: list[tuple[np.ndarray, np.ndarray]], q: float) -> float | None:
    """The `q`th percentile (numpy's linear one) of the grey levels of uint8 crops under their bool
    masks, all parts together; None when the masks hold nothing. From the parts' histograms: no
    pixels are gathered or sorted (~7x faster than np.percentile on a field's ink)."""
    if not parts:
        return None
    hist = sum(cv2.calcHist([crop], [0], np.ascontiguousarray(mask).view(np.uint8), [256], [0, 256]).ravel()
               for crop, mask in parts)
    cum = np.cumsum(np.asarray(hist, dtype=np.int64))
    n = int(cum[-1])
    if n == 0:
        return None
    pos = q / 100.0 * (n - 1)
    lo = math.floor(pos)
    a = int(np.searchsorted(cum, lo, side="right"))  # the value at rank lo (0-based)
    b = int(np.searchsorted(cum, lo + 1, side="right")) if pos > lo else a
    return a + (pos - lo) * (b - a)


def ink_threshold(paper: float) -> float:
    return max(50.0, min(180.0, paper * 0.62))


def ink_mask(grey: np.ndarray, paper: float) -> np.ndarray:
    return grey < ink_threshold(paper)


@dataclass
class InkBlob:
    mask: np.ndarray  # bool, same shape as the crop: ink that belongs to writing
    area: int  # ink pixels
    bbox: tuple[int, int, int, int] | None  # x0, y0, x1, y1 of the writing, or None if empty
    removed: np.ndarray | None = None  # bool: ink taken out (specks, stray form lines)


# A piece of ink smaller than a speck is still writing when it lies within `NEAR_GAP` of the line's
# height from a piece of writing: punctuation, and the bits a blurred photo's strokes break into at
# the ink threshold. Until 2026-12-02 (fourth session) every such piece was taken out, and whitened
# in the line image each reader sees: on a blurred phone photo a final ， (6 px at the threshold,
# 10 px after 解) vanished from 經家訪了解， and all three engines agreed on 經家訪了解, accepted
# (bench/accuracy --seed 163, phone, vulnerable_family form 1). Kept anywhere within the writing's
# extent instead, a fax's pepper stayed in the line image and PP-OCR dropped a final 。 it had
# read before: not on faxes (`read._writing_lines`), and only beside the writing. Single pixels
# and pairs stay specks.
NEAR_GAP = 0.35
NEAR_MIN_PX = 3
SPECK_MM2 = 0.12  # a piece of ink smaller than this is a speck (unless `keep_near` keeps it)


def writing(grey: np.ndarray, paper: float, px_per_mm: float, *, min_speck_mm2: float = SPECK_MM2,
            keep_near: bool = False) -> InkBlob:
    """The writing in a field crop: ink minus specks and minus long thin lines (form borders).
    With `keep_near`, pieces smaller than a speck beside the writing stay (see `NEAR_GAP`)."""
    mask = ink_mask(grey, paper).astype(np.uint8)
    if not mask.any():
        return InkBlob(mask.astype(bool), 0, None)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = min_speck_mm2 * px_per_mm * px_per_mm
    h, w = mask.shape
    thin = 0.7 * px_per_mm
    y, bw, bh = stats[:, 1], stats[:, 2], stats[:, 3]
    keep = stats[:, 4] >= min_area  # else a speck
    keep &= ~((bw >= 0.6 * w) & (bh <= thin))  # a printed rule caught in the crop
    # a printed border runs into the crop from outside it; the upright stroke of a character (the
    # 忄 of 怕) is as tall but stays inside
    if h > 3 * px_per_mm:
        keep &= ~((bh >= 0.8 * h) & (bw <= thin) & ((y <= 0) | (y + bh >= h)))
    keep[0] = False  # the background
    if keep_near and keep.any():
        small = (stats[:, 4] < min_area) & (stats[:, 4] >= NEAR_MIN_PX)
        small[0] = False
        if small.any():
            k = stats[keep]
            gap = max(1, round(NEAR_GAP * int((k[:, 1] + k[:, 3]).max() - k[:, 1].min())))
            zone = cv2.dilate(keep[labels].astype(np.uint8), np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) > 0
            beside = np.bincount(labels[zone], minlength=n) > 0
            keep |= small & beside
    clean = keep[labels]
    removed = (mask > 0) & ~clean
    if not keep.any():
        return InkBlob(clean, 0, None, removed)
    k = stats[keep]  # the kept pieces' boxes and areas give the writing's (no pass over the pixels)
    box = (int(k[:, 0].min()), int(k[:, 1].min()), int((k[:, 0] + k[:, 2]).max()), int((k[:, 1] + k[:, 3]).max()))
    return InkBlob(clean, int(k[:, 4].sum()), box, removed)


# The crop's paper is stretched to white only when it is this far above the darkest ink (a crop that
# is nearly all ink keeps the page's white as its white).
LINE_MIN_CONTRAST = 60.0


def line_image(grey: np.ndarray, blob: InkBlob, *, target_h: int = 20, pad: int = 10) -> np.ndarray:
    """The writing cut out, other ink whitened, scaled so the ink is `target_h` px tall."""
    assert blob.bbox is not None
    x0, y0, x1, y1 = blob.bbox
    m = 2
    x0, y0 = max(0, x0 - m), max(0, y0 - m)
    x1, y1 = min(grey.shape[1], x1 + m), min(grey.shape[0], y1 + m)
    crop = grey[y0:y1, x0:x1].copy()
    paper = paper_level(crop)
    # whiten what was taken out (specks, form lines) with its halo; faint parts of strokes that
    # fall under the ink threshold stay, so thin handwriting is not broken up
    if blob.removed is not None and blob.removed.any():
        gone = cv2.dilate(blob.removed[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        gone &= ~(cv2.dilate(blob.mask[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        crop[gone] = 255
    # stretch contrast: the crop's own paper to white, darkest ink to black. A dark copy's or a
    # shaded photo's paper is grey: left grey inside a white border, Tesseract read nothing at all
    # in 12 of 136 typed dates, numbers and phones of a dark copy (paper 213: seed 223's clean
    # scans, greyed), none on the clean scans themselves
    lo = float(crop.min())
    hi = min(255.0, max(paper, lo + LINE_MIN_CONTRAST))
    if lo < 250:
        crop = np.clip((crop.astype(np.float32) - lo) * (255.0 / max(1.0, hi - lo)), 0, 255).astype(np.uint8)
    ink_h = max(1, y1 - y0 - 2 * m)
    scale = target_h / ink_h
    scale = min(scale, 3.0)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp)
    return cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


def find_square(grey: np.ndarray, px_per_mm: float, size_mm: float) -> tuple[int, int, int, int] | None:
    """The printed square's border in a checkbox crop: (x0, y0, x1, y1) of its outer edge, or None."""
    mask = ink_mask(grey, paper_level(grey))
    side = size_mm * px_per_mm
    rows = mask.mean(axis=1)
    cols = mask.mean(axis=0)

    def edges(profile: np.ndarray) -> tuple[int, int] | None:
        n = len(profile)
        best, best_s = None, 0.0
        lo, hi = int(side * 0.85), int(side * 1.15) + 1
        for a in range(n):
            for d in range(lo, hi):
                b = a + d
                if b >= n:
                    break
                s = profile[a] + profile[b]
                if s > best_s:
                    best, best_s = (a, b), s
        if best is None or best_s < 0.9:  # both edges must be mostly dark lines
            return None
        return best

    r, c = edges(rows), edges(cols)
    if r is None or c is None:
        return None
    return c[0], r[0], c[1] + 1, r[1] + 1


# Enclosed holes of printed digits; the pairs a checksum cannot tell apart (3/8, 0/5, 4/9, 1/6
# differ by 5) mostly differ here. 4 and 7 vary by font and are not checked.
DIGIT_HOLES = {"0": 1, "1": 0, "2": 0, "3": 0, "5": 0, "6": 1, "8": 2, "9": 1}


def holes(mask: np.ndarray, px_per_mm: float, min_mm2: float = 0.05) -> int:
    """Enclosed white regions in a character's ink (the loops of 0, 6, 8, 9)."""
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((2, 2), np.uint8))
    contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0
    min_area = min_mm2 * px_per_mm * px_per_mm
    return sum(1 for c, h in zip(contours, hierarchy[0], strict=True) if h[3] != -1 and cv2.contourArea(c) >= min_area)


def digit_shape_agrees(char: str, mask: np.ndarray, px_per_mm: float) -> bool:
    """Whether a digit read by OCR has the number of loops that digit has (True if unchecked)."""
    want = DIGIT_HOLES.get(char)
    return want is None or holes(mask, px_per_mm) == want


def line_digits_agree(text: str, mask: np.ndarray, px_per_mm: float, unchecked: bool = True) -> bool:
    """Whether the digits read on one line have the loops of the characters written there, when
    the line's ink splits into exactly one piece per character read; `unchecked` when it does not
    (or, if `unchecked`, when no digit read has a loop to check). A 3 read as 8 in a number no
    validator can question is caught here."""
    chars = [c for c in text if not c.isspace()]
    if unchecked and not any(c in DIGIT_HOLES for c in chars):
        return True
    pieces = character_pieces(mask, px_per_mm)
    if len(pieces) != len(chars):
        return unchecked
    return all(digit_shape_agrees(c, piece, px_per_mm)
               for c, piece in zip(chars, pieces, strict=True) if c in DIGIT_HOLES)


def character_pieces(mask: np.ndarray, px_per_mm: float) -> list[np.ndarray]:
    """The ink of one line split into characters, left to right: its pieces, those that overlap
    in x taken as one character (a broken stroke)."""
    m = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    min_area = 0.05 * px_per_mm * px_per_mm
    parts = sorted((stats[i][0], stats[i][0] + stats[i][2], i) for i in range(1, n) if stats[i][4] >= min_area)
    groups: list[list[int]] = []
    right = -1
    for x0, x1, i in parts:
        if groups and x0 < right - 0.3 * (x1 - x0):
            groups[-1].append(i)
            right = max(right, x1)
        else:
            groups.append([i])
            right = x1
    return [np.isin(labels, g) for g in groups]
