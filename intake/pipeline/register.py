"""Identify a page and register it to its template: image pixels -> template millimetres.

Order of evidence, best first:
1. our QR code (form, version, page and a coarse transform) plus the four registration squares
   found where the QR predicts them -> homography from up to 8 points;
2. the four squares alone (no readable QR) -> one homography per possible rotation, and the
   template page whose printed structure matches best;
3. image features (ORB + RANSAC) against the template's reference image (forms in circulation,
   or our pages whose marks are damaged), with match and inlier counts checked.
Every registration gets an alignment score in [0, 1]: the share of the template's printed ink
(box borders, labels) found on the registered page. A page with a poor score is `unregistered`,
never read against the wrong geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from intake.errors import TemplateNotFound
from intake.forms.layout import MARK_SIZE_MM, PageCode, mark_centres, qr_symbol_corners
from intake.forms.model import Template
from intake.forms.registry import Registry
from intake.pipeline.qr import FoundCode, find_codes
from intake.pipeline.quality import FAX_BINARY, bilevel_rows
from intake.pipeline.scale import downscaled
from intake.pipeline.types import Located

SCORE_DPI = 100.0
MIN_ALIGNMENT = 0.80  # below this a page is not read (see bench/accuracy for the measured spread)
# Printed ink, for the score: darker than the mean of its 15 px (3.8 mm) neighbourhood by this many
# grey levels; `BLURRED_INK_CONTRAST` where the page's four marks and its QR code already agree on
# the geometry (`MARKS_AGREE_MM`). A blurred phone photo under a shadow band (bench/accuracy
# --seed 157, phone, vulnerable_family form 6) kept its boxes' lines 8-11 levels under their
# grey-filled surroundings: it scored 0.70 and went unread, though its marks and QR agreed within
# 0.26 mm; at 8 it scores 0.90. Lowered for every registration, 8 let a poor ORB fit of another
# photo pass at 0.805 (checkboxes 1 mm off) where SIFT's, tried next, scored 0.996: so only where
# eight points agree (on seeds 157 and 163, 112 phone pages: no other page's score changes the
# registration chosen).
SCORE_INK_CONTRAST = 12
BLURRED_INK_CONTRAST = 8
MARKS_AGREE_MM = 0.75
# A fax sent with a light setting loses part of the form's own print, evenly over the page: thin
# lines break up, small Latin labels vanish. Fresh seed 409's light faxes kept 0.78-0.79 of a
# domestic_violence page 3 (2 of its 24 forms: every field of those pages went unread, in review);
# on seeds 61-307 (485 fax pages) two more scored 0.79, the rest 0.81 and up. On a bilevel page
# (`quality.bilevel_rows`: a flatbed or a fax, never curved like a photo) whose four marks and QR
# code agree on the geometry (`MARKS_AGREE_MM`), what the score still guards against is a part of
# the page missing or covered, which keeps none of its print there: such a page is read from
# `AGREED_BILEVEL_MIN_ALIGNMENT` when each part of a `REGIONS` grid kept `REGION_MIN_ALIGNMENT`
# of its print (a part cut off or covered: 0; those light faxes' least part 0.51-0.53, the
# narrative box's light ruling gone; a clean page 3 made bilevel at 120 without a fax's noise:
# 0.76 overall, 0.39 there). A light fax's empty fields go to review (`read.doubt_empties_on_fax`).
AGREED_BILEVEL_MIN_ALIGNMENT = 0.7
REGION_MIN_ALIGNMENT = 0.25
REGIONS = (3, 2)  # rows, columns
REGION_MIN_PRINT = 50  # printed pixels at SCORE_DPI for a part to count
MIN_FEATURE_INLIERS = 40
MIN_INLIER_RATIO = 0.25


@dataclass(frozen=True)
class Failure:
    code: str  # "unidentified" | "unregistered"
    reason: str  # for a clerk
    located: Located | None = None  # the best (rejected) registration, when the form is known


def _mm_to_px(dpi: float) -> np.ndarray:
    s = dpi / 25.4
    return np.array([[s, 0, 0], [0, s, 0], [0, 0, 1]], dtype=np.float64)


# ------------------------------------------------------------------------- reference images
# What a page is compared with comes from the registry (`Registry.blank_image`: the reference
# scan of a form in circulation, or our own printed page rendered once per template version);
# what is derived from it here is kept per registry, template page and detector.
@lru_cache(maxsize=64)
def _structure(registry: Registry, template: Template, page: int) -> np.ndarray:
    """The blank page's printed ink at SCORE_DPI, for scoring alignment."""
    return registry.blank_image(template, page, SCORE_DPI) < 160


# ------------------------------------------------------------------------- alignment score
def alignment_score(img: np.ndarray, dpi: float, H: np.ndarray, registry: Registry, template: Template,
                    page: int, contrast: int = SCORE_INK_CONTRAST) -> float:
    """Share of the blank page's printed ink that the registered page has too (within 0.5 mm);
    the page's ink is what is `contrast` grey levels darker than its neighbourhood."""
    found = _print_found(img, dpi, H, registry, template, page, contrast)
    if found is None:
        return 0.0
    ink = _structure(registry, template, page)
    total = int(ink.sum())
    return float(found.sum() / total) if total else 0.0


def region_scores(img: np.ndarray, dpi: float, H: np.ndarray, registry: Registry, template: Template,
                  page: int) -> list[float]:
    """`alignment_score` in each part of a `REGIONS` grid over the page (parts with almost no
    printing left out): where a page's print was lost evenly, and where in one part only."""
    found = _print_found(img, dpi, H, registry, template, page, SCORE_INK_CONTRAST)
    ink = _structure(registry, template, page)
    if found is None:
        return [0.0]
    h, w = ink.shape
    rows, cols = REGIONS
    out = []
    for i in range(rows):
        for j in range(cols):
            part = np.s_[i * h // rows:(i + 1) * h // rows, j * w // cols:(j + 1) * w // cols]
            total = int(ink[part].sum())
            if total >= REGION_MIN_PRINT:
                out.append(float(found[part].sum() / total))
    return out


def _print_found(img: np.ndarray, dpi: float, H: np.ndarray, registry: Registry, template: Template,
                 page: int, contrast: int) -> np.ndarray | None:
    """The blank page's printed pixels (at SCORE_DPI) that the registered page has ink near, or
    None when the page is dark or noisy all over (it would match everything)."""
    ink = _structure(registry, template, page)
    h, w = ink.shape
    small, f = _downscale(img, dpi, SCORE_DPI)
    # small px -> img px -> mm -> score px
    S = np.diag([1 / f, 1 / f, 1.0])
    M = _mm_to_px(SCORE_DPI) @ H @ S
    warped = cv2.warpPerspective(small, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    # ink = darker than its surroundings (blurred copies and shaded photos keep their lines)
    page_ink = cv2.adaptiveThreshold(warped, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, contrast) > 0
    page_ink &= warped < 235
    if page_ink.mean() > 0.35:  # a black or noisy page matches everything
        return None
    near = cv2.dilate(page_ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return near & ink


def _downscale(img: np.ndarray, dpi: float, target: float) -> tuple[np.ndarray, float]:
    f = min(1.0, target / dpi)
    if f >= 0.999:
        return img, 1.0
    return downscaled(img, f), f


# ------------------------------------------------------------------------- QR + marks
def _qr_symbol_mm(template: Template, code: PageCode) -> np.ndarray:
    return np.array(qr_symbol_corners(code, *template.page_size_mm), dtype=np.float64)


def mark_candidates(img: np.ndarray, side_px: float) -> np.ndarray:
    """Centres (px) of solid dark squares about `side_px` wide (0.5x to 1.8x), anywhere on the
    page. Dark is judged against the neighbourhood (adaptive threshold), so marks in the shade
    of a phone photo are found too. Returns an (N, 2) array."""
    f = min(1.0, 14.0 / max(side_px, 1.0))  # work with the mark ~14 px wide
    small = downscaled(img, f, derive=True)
    s = side_px * f
    block = int(s * 4) | 1
    binary = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, max(block, 15), 25)
    n, _, stats, cents = cv2.connectedComponentsWithStats(binary, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if not (0.25 * s * s <= area <= 3.3 * s * s):
            continue
        if not (0.5 * s <= max(w, h) <= 2.2 * s) or not (0.5 <= w / h <= 2.0):
            continue
        if area < 0.62 * w * h:  # solid: a square turned 20 degrees still fills 0.66 of its box
            continue
        if not on_paper(small, cents[i], s):
            continue
        out.append(cents[i] / f)
    return np.array(out, dtype=np.float64).reshape(-1, 2)


# A mark is printed black on paper, 8 mm in from the page's edge: the band around it is paper,
# far lighter. A dark patch of a desk in a phone photo is only a little darker than the wood
# around it, and the adaptive threshold alone let one through: fresh seed 659, a photo turned
# 8 degrees on a dark wooden desk, where such a patch lay 15 mm beyond the bottom-left mark and
# was taken for it (`assign_marks` prefers the candidate furthest out). The fit through it
# found 50% of the printed form and the page went unread. Measured at the corner candidates of
# the phone photos of seeds 577, 587 and 647-659 (1,120 corners): the marks' middles were at
# most 0.1 of their band's brightness and at least 75 grey levels under it; the desk's patches
# 0.21 or more and 34 levels at most. Faxes and scans: 0 and 255.
MARK_MAX_SHARE = 0.5  # the mark's middle at most this share of its band's brightness ...
MARK_MIN_CONTRAST = 50  # ... and at least this many grey levels darker
MARK_BAND = (0.8, 1.3)  # the band, in mark widths from the centre (8 mm of paper lie beyond it)


def on_paper(img: np.ndarray, c: np.ndarray, side: float) -> bool:
    """Whether the dark square of width `side` (px) centred at `c` in `img` lies on paper: its
    middle far darker than the band of `MARK_BAND` around it."""
    x, y = float(c[0]), float(c[1])
    r = MARK_BAND[1] * side
    x0, y0 = max(0, int(x - r)), max(0, int(y - r))
    win = img[y0:int(y + r) + 1, x0:int(x + r) + 1]
    yy, xx = np.mgrid[y0:y0 + win.shape[0], x0:x0 + win.shape[1]]
    d = np.maximum(np.abs(xx - x), np.abs(yy - y))
    middle, band = win[d <= 0.3 * side], win[(d >= MARK_BAND[0] * side) & (d <= r)]
    if middle.size == 0 or band.size == 0:
        return False
    inside, around = float(np.median(middle)), float(np.median(band))
    return inside <= MARK_MAX_SHARE * around and around - inside >= MARK_MIN_CONTRAST


# An affine fit is trusted to extrapolate only from points that span this much of the page's
# extent (mm) both across and down.
AFFINE_SPAN_MM = 100.0
# Until 2026-12-04 the affine fit was least-median (LMEDS). With the QR code's four corners among
# seven points, the median residual is least for a fit through the code alone, which may leave a
# far mark well off: fresh seed 751, a light fax whose code read 0.5% large; after three marks
# the fit through the code put the fourth 40.3 mm from its place, beyond `MARK_SEARCH_MM`, and
# the page, fitted through three marks and the code the same way, found 67% of its print and went
# unread. RANSAC keeps the fit that most points lie within `AFFINE_INLIER_MM` of (refitted to
# them), so a wrong candidate taken for a mark still counts for nothing. On seeds 751 and 757's
# faxes (444 fits, each mark left out in turn), the left-out mark lay at most 7.2 mm from where
# the LMEDS fit of the other three and the code put it, and 0.3 mm from where RANSAC's did.
AFFINE_INLIER_MM = 5.0


def _fit(src: list[np.ndarray], dst: list[np.ndarray], marks: int = 4) -> np.ndarray | None:
    """px -> mm. A homography needs points spread over the page (four marks); with fewer marks
    the QR's clustered corners would let its perspective terms run wild, so: affine. And an
    affine fit to points along one edge (the QR and the two top marks) guesses its shear and
    vertical scale from a 25 mm band: 260 mm further down that put the bottom marks more than
    40 mm from where they were looked for (an office scan in the seed-3 set, 2 marks "missing"
    and its bottom checkboxes read 1.5 mm off). Until the points span the page both ways: a
    similarity (rotation, one scale, shift). The affine fit is RANSAC's: the points within
    `AFFINE_INLIER_MM` of the fit most points lie near."""
    if marks >= 4 and len(src) >= 4:
        H, _ = cv2.findHomography(np.float64(src), np.float64(dst), 0)
        return H
    span = np.ptp(np.float64(dst), axis=0) if len(dst) else np.zeros(2)
    if len(src) >= 3 and marks >= 1 and min(span) >= AFFINE_SPAN_MM:
        A, _ = cv2.estimateAffine2D(np.float64(src), np.float64(dst), method=cv2.RANSAC,
                                    ransacReprojThreshold=AFFINE_INLIER_MM)
    else:
        A, _ = cv2.estimateAffinePartial2D(np.float64(src), np.float64(dst))
    return None if A is None else np.vstack([A, [0, 0, 1]])


def _to_mm(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    if len(pts) == 0:
        return pts
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2), H).reshape(-1, 2)


MARK_SEARCH_MM = 40.0  # a candidate this far from where a mark should be is not that mark


def assign_marks(cands: np.ndarray, marks_mm: np.ndarray, anchor_px: list[np.ndarray], anchor_mm: list[np.ndarray],
                 H: np.ndarray) -> list[np.ndarray | None]:
    """Match candidates to the template's marks, refitting the transform after each match so that
    a perspective (a phone photo) does not push far marks out of reach. Within the search radius
    of a mark, the candidate furthest out towards its corner wins: the marks are the outermost
    squares of the page, and text nearer the middle can look square at low resolution."""
    found: list[np.ndarray | None] = [None] * len(marks_mm)
    centre = marks_mm.mean(axis=0)
    free = list(range(len(cands)))
    while free:
        at = _to_mm(H, cands[free])
        best = None
        for i, m in enumerate(marks_mm):
            if found[i] is not None:
                continue
            d = np.linalg.norm(at - m, axis=1)
            near = np.nonzero(d <= MARK_SEARCH_MM)[0]
            if len(near) == 0:
                continue
            outward = (m - centre) / np.linalg.norm(m - centre)
            k = near[int(np.argmax(at[near] @ outward))]
            if best is None or d[k] < best[0]:
                best = (float(d[k]), i, free[k])
        if best is None:
            break
        _, i, c = best
        found[i] = cands[c]
        free.remove(c)
        src = anchor_px + [p for p in found if p is not None]
        dst = anchor_mm + [marks_mm[j] for j, p in enumerate(found) if p is not None]
        H2 = _search_fit(src, dst, marks=sum(p is not None for p in found))
        if H2 is not None:
            H = H2
    return found


def _search_fit(src: list[np.ndarray], dst: list[np.ndarray], marks: int) -> np.ndarray | None:
    """px -> mm, to look for the marks not found yet: `_fit`, but a homography from three marks
    on (with the QR code's corners). Measured on seed 743's phone photos (220 pages registered by
    four marks, each mark left out in turn and predicted from the other three and the code): an
    affine fit put the left-out mark up to 58 mm from its place (6 beyond `MARK_SEARCH_MM`: that
    mark was "missing" and the page went to ORB or SIFT), a homography at most 3.3 mm. On seed
    751 and 757's faxes (444), at most 5.0 mm: near enough to find it, where the page itself is
    then fitted by `_fit`."""
    if marks >= 3 and len(src) >= 4:
        H, _ = cv2.findHomography(np.float64(src), np.float64(dst), 0)
        if H is not None:
            return H
    return _fit(src, dst, marks)


def _refine_centre(img: np.ndarray, c: np.ndarray, side_px: float) -> np.ndarray:
    """The mark's centroid at full resolution, from a window around a coarse centre."""
    r = int(side_px)
    x0, y0 = max(0, int(c[0]) - r), max(0, int(c[1]) - r)
    win = img[y0:int(c[1]) + r + 1, x0:int(c[0]) + r + 1]
    if win.size == 0:
        return c
    _, binary = cv2.threshold(win, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(binary)
    if n < 2:
        return c
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return cents[k] + (x0, y0)


def _corner_marks(img: np.ndarray, dpi: float) -> list[np.ndarray | None]:
    """Without a QR: the square nearest each image corner, clockwise from the image's top-left."""
    h, w = img.shape
    cands = mark_candidates(img, MARK_SIZE_MM / 25.4 * dpi)
    corners = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float64)
    out: list[np.ndarray | None] = []
    for c in corners:
        if len(cands) == 0:
            out.append(None)
            continue
        d = np.linalg.norm(cands - c, axis=1)
        k = int(np.argmin(d))
        near = d[k] < 0.3 * min(w, h)
        out.append(_refine_centre(img, cands[k], MARK_SIZE_MM / 25.4 * dpi) if near else None)
    return out


def _homography(src: list[np.ndarray], dst: list[np.ndarray]) -> np.ndarray | None:
    if len(src) < 3:
        return None
    return _fit(src, dst, marks=len(src))


def _residual_mm(H: np.ndarray, src: list[np.ndarray], dst: list[np.ndarray]) -> float:
    pts = _to_mm(H, np.float64(src))
    return float(np.max(np.linalg.norm(pts - np.float64(dst), axis=1)))


def register_with_qr(img: np.ndarray, dpi: float, found: FoundCode, registry: Registry, template: Template
                     ) -> Located | Failure:
    code = found.code
    assert code is not None
    qr_mm = _qr_symbol_mm(template, code)
    A, _ = cv2.estimateAffinePartial2D(found.corners, qr_mm)  # px -> mm, similarity
    if A is None:
        return Failure("unregistered", "the QR code was found but its position could not be used")
    H0 = np.vstack([A, [0, 0, 1]])
    px_per_mm = 1.0 / np.sqrt(abs(np.linalg.det(A[:, :2])))
    side_px = MARK_SIZE_MM * px_per_mm
    marks_mm = np.array(mark_centres(*template.page_size_mm))
    cands = mark_candidates(img, side_px)
    marks = assign_marks(cands, marks_mm, list(found.corners), list(qr_mm), H0)
    marks = [None if m is None else _refine_centre(img, m, side_px) for m in marks]
    src = [m for m in marks if m is not None]
    dst = [marks_mm[i] for i, m in enumerate(marks) if m is not None]
    method = "marks+qr"
    if len(src) < 2:
        H, method = H0, "qr"
    else:
        src_all = src + list(found.corners)
        dst_all = dst + list(qr_mm)
        H = _fit(src_all, dst_all, marks=len(src))
        if H is None:
            return Failure("unregistered", "the registration marks could not be used")
        if len(src) == 4 and _residual_mm(H, src_all, dst_all) > 3.0:  # the QR disagrees: trust the marks
            H = _fit(src, dst, marks=4)
            method = "marks"
    missing = 4 - len(src)
    loc = Located(template.id, template.version, code.page - 1, code.pages, H, method)
    loc.alignment = alignment_score(img, dpi, H, registry, template, code.page - 1)
    if loc.alignment < MIN_ALIGNMENT and len(src) == 4 and _residual_mm(H, src_all, dst_all) <= MARKS_AGREE_MM:
        # eight points agree on the geometry: lines a blur left faint count (see BLURRED_INK_CONTRAST)
        loc.alignment = max(loc.alignment, alignment_score(img, dpi, H, registry, template, code.page - 1,
                                                           BLURRED_INK_CONTRAST))
        if (AGREED_BILEVEL_MIN_ALIGNMENT <= loc.alignment < MIN_ALIGNMENT and bilevel_rows(img) >= FAX_BINARY
                and min(region_scores(img, dpi, H, registry, template, code.page - 1)) >= REGION_MIN_ALIGNMENT):
            loc.min_alignment = AGREED_BILEVEL_MIN_ALIGNMENT  # print lost evenly: a light fax
    if missing:
        loc.method += f" ({missing} mark{'s' if missing > 1 else ''} missing)"
    return loc


def register_marks_only(img: np.ndarray, dpi: float, registry: Registry, candidates: list[Template]
                        ) -> Located | None:
    """Marks found, QR unreadable: try each candidate page in each orientation the marks allow."""
    marks = _corner_marks(img, dpi)
    if sum(m is not None for m in marks) < 4:
        return None
    h, w = img.shape
    rotations = (0, 2) if h >= w else (1, 3)  # quarter turns: which image corner holds mark 0
    best: Located | None = None
    for t in candidates:
        if not t.marks:
            continue
        mm = np.array(mark_centres(*t.page_size_mm))
        for q in rotations:
            src = [marks[(i + q) % 4] for i in range(4)]
            H = _homography(src, list(mm))
            if H is None:
                continue
            for p in range(len(t.pages)):
                loc = Located(t.id, t.version, p, len(t.pages), H, "marks")
                loc.alignment = alignment_score(img, dpi, H, registry, t, p)
                if best is None or loc.alignment > best.alignment:
                    best = loc
    return best


# ------------------------------------------------------------------------- features
FEATURE_DPI = 100.0
# ORB first (fast); SIFT when ORB finds no consistent alignment: repeated patterns such as OMR
# bubble grids give ORB's binary descriptors too many look-alike matches.
DETECTORS = ("orb", "sift")


def _detector(kind: str):
    if kind == "orb":
        return cv2.ORB_create(nfeatures=4000), cv2.NORM_HAMMING
    return cv2.SIFT_create(nfeatures=4000), cv2.NORM_L2


@lru_cache(maxsize=64)
def _reference_features(registry: Registry, template: Template, page: int, kind: str = "orb"):
    ref = registry.blank_image(template, page, FEATURE_DPI)
    det, _ = _detector(kind)
    kp, des = det.detectAndCompute(ref, None)
    return np.float32([k.pt for k in kp]), des


def _match_features(small: np.ndarray, f: float, registry: Registry, template: Template, page: int, kind: str
                    ) -> tuple[np.ndarray, int, int] | Failure:
    """(homography img px -> mm, inliers, matches) with ORB or SIFT, or why not."""
    ref_pts, ref_des = _reference_features(registry, template, page, kind)
    if ref_des is None or len(ref_pts) < MIN_FEATURE_INLIERS:
        return Failure("unregistered", "the template's reference image has too few features to match")
    det, norm = _detector(kind)
    kp, des = det.detectAndCompute(small, None)
    if des is None or len(kp) < MIN_FEATURE_INLIERS:
        return Failure("unidentified", "the page has too little printed structure to match a form")
    pairs = cv2.BFMatcher(norm).knnMatch(des, ref_des, k=2)
    good = [m for m_n in pairs if len(m_n) == 2 for m, n in [m_n] if m.distance < 0.8 * n.distance]
    if len(good) < MIN_FEATURE_INLIERS:
        return Failure("unidentified", f"only {len(good)} image features match the form")
    src = np.float32([kp[m.queryIdx].pt for m in good]) / f  # img px
    dst = ref_pts[[m.trainIdx for m in good]] * (25.4 / FEATURE_DPI)  # mm
    H, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.5)
    if H is None or inliers is None:
        return Failure("unregistered", "no consistent alignment between the page and the form was found")
    n_in = int(inliers.sum())
    min_ratio = MIN_INLIER_RATIO if kind == "orb" else 0.15
    if n_in < MIN_FEATURE_INLIERS or n_in / len(good) < min_ratio:
        return Failure("unregistered", f"only {n_in} of {len(good)} matching features agree on an alignment")
    return H, n_in, len(good)


def register_by_features(img: np.ndarray, dpi: float, registry: Registry, template: Template, page: int,
                         dpi_known: bool = True) -> Located | Failure:
    small, f = _downscale(img, dpi, FEATURE_DPI)
    failure: Failure | None = None
    for kind in DETECTORS:
        res = _match_features(small, f, registry, template, page, kind)
        if isinstance(res, Failure):
            failure = failure if failure is not None and res.code == "unidentified" else res
            continue
        H, n_in, _ = res
        if not _plausible(H, dpi, dpi_known):
            failure = Failure("unregistered", "the alignment found would distort the page implausibly")
            continue
        loc = Located(template.id, template.version, page, len(template.pages), H, f"features:{kind} ({n_in} inliers)")
        loc.alignment = alignment_score(img, dpi, H, registry, template, page)
        if loc.alignment >= MIN_ALIGNMENT or kind == DETECTORS[-1]:
            return _marks_from_features(img, dpi, loc, registry, template)
    assert failure is not None
    return failure


# A features fit is good to about a millimetre (seed 167, a dark phone photo whose QR and corner
# marks were not found: ORB's fit at 0.90 put a checkbox's square 1 mm off, it was not found there,
# and the box, its edge inside, was offered as marked). Where the form has registration marks,
# each is looked for within `FEATURE_MARK_MM` of where the fit puts it; with all four found, they
# give the homography (as from a QR), kept unless it aligns worse.
FEATURE_MARK_MM = 4.0


def _marks_from_features(img: np.ndarray, dpi: float, loc: Located, registry: Registry, template: Template
                         ) -> Located:
    if not template.marks:
        return loc
    H = loc.homography
    px_per_mm = 1.0 / np.sqrt(abs(np.linalg.det(H[:2, :2] / H[2, 2])))
    side_px = MARK_SIZE_MM * px_per_mm
    cands = mark_candidates(img, side_px)
    if len(cands) < 4:
        return loc
    marks_mm = np.array(mark_centres(*template.page_size_mm))
    at = _to_mm(H, cands)
    found = []
    for m in marks_mm:
        d = np.linalg.norm(at - m, axis=1)
        k = int(np.argmin(d))
        if d[k] > FEATURE_MARK_MM:
            return loc
        found.append(_refine_centre(img, cands[k], side_px))
    H2 = _fit(found, list(marks_mm), marks=4)
    if H2 is None:
        return loc
    a2 = alignment_score(img, dpi, H2, registry, template, loc.page)
    if a2 < loc.alignment:
        return loc
    better = Located(loc.form_id, loc.version, loc.page, loc.pages, H2, loc.method + "+marks")
    better.alignment = a2
    return better


def _plausible(H: np.ndarray, dpi: float, dpi_known: bool = True) -> bool:
    """No flip, little perspective, and a scale near the expected mm per px. When the resolution
    was only guessed (a photo whose page fills part of the frame) the scale may be far off."""
    A = H[:2, :2] / H[2, 2]
    det = np.linalg.det(A)
    ratio = det / (25.4 / dpi) ** 2
    lo, hi = (0.25, 4.0) if dpi_known else (1 / 64, 64.0)
    return det > 0 and lo < ratio < hi and abs(H[2, 0]) + abs(H[2, 1]) < 0.01


# ------------------------------------------------------------------------- orchestration
def locate(img: np.ndarray, dpi: float, registry: Registry, dpi_known: bool = True) -> Located | Failure:
    """Identify the page's form and page and register it; or say why not. `dpi_known`: the
    resolution came from the file, not from a guess."""
    codes = find_codes(img, dpi)
    ours = [c for c in codes if c.code is not None]
    if ours:
        code = ours[0].code
        assert code is not None
        try:
            template = registry.get(code.form_id, code.version)
        except TemplateNotFound:  # a form we do not know (yet)
            return Failure("unidentified", f"the QR code names form {code.form_id} version {code.version}, which is not installed")
        if code.page > len(template.pages) or code.pages != len(template.pages):
            return Failure("unidentified", f"the QR code names page {code.page}/{code.pages}, which {template.key} does not have")
        loc = register_with_qr(img, dpi, ours[0], registry, template)
        if isinstance(loc, Located) and loc.alignment < _floor(loc):
            feat = register_by_features(img, dpi, registry, template, code.page - 1, dpi_known)
            if isinstance(feat, Located) and feat.alignment > loc.alignment:
                loc = feat
        return _judge(loc)
    templates = registry.all()
    loc = register_marks_only(img, dpi, registry, templates)
    if loc is not None and MARKS_ONLY_LIGHTER_FROM <= loc.alignment < MIN_ALIGNMENT:
        t = registry.get(loc.form_id, loc.version)
        loc.alignment = max(loc.alignment, alignment_score(img, dpi, loc.homography, registry, t, loc.page,
                                                           BLURRED_INK_CONTRAST))
    if loc is not None and loc.alignment >= MIN_ALIGNMENT:
        return loc
    # Our own forms too, when four squares were found but aligned no page: one of them may be
    # something else dark near a corner (fresh seed 431: a phone photo, its QR blurred past
    # reading, a dark streak of the desk taken for a square; the marks' best fit scored 0.55 on
    # another form's page and the page went unread, where features fit its own page at 0.99).
    best: Located | Failure | None = loc
    for t in templates:
        for p in range(len(t.pages)):
            res = register_by_features(img, dpi, registry, t, p, dpi_known)
            if isinstance(res, Located) and (not isinstance(best, Located) or res.alignment > best.alignment):
                best = res
            elif best is None:
                best = res
    if isinstance(best, Located):
        if best.alignment >= MIN_ALIGNMENT:
            return best
        if best.alignment >= 0.5:
            return _judge(best)
    if codes:
        return Failure("unidentified", "the page has a QR code that is not one of our form codes, and no form matched")
    return Failure("unidentified", "no form code, registration marks or known form layout found on this page")


# Four marks placed without a QR code (a dim, shaded phone photo whose code could not be read)
# fix the geometry as exactly as marks and code together; where 70% of the print is found at the
# usual contrast, the lighter lines count as they do where marks and code agree (fresh seed 643:
# a photo half under a shadow band, its QR unread, 76% found at the usual contrast and 94% at the
# lighter one, no other page of any form above 41%, unread). Under 70%, a person sees the page.
MARKS_ONLY_LIGHTER_FROM = AGREED_BILEVEL_MIN_ALIGNMENT


def _floor(loc: Located) -> float:
    """The alignment `loc` must reach to be read: `MIN_ALIGNMENT` unless its registration set a
    lower one (`AGREED_BILEVEL_MIN_ALIGNMENT`)."""
    return loc.min_alignment if loc.min_alignment is not None else MIN_ALIGNMENT


def _judge(loc: Located | Failure) -> Located | Failure:
    if isinstance(loc, Failure):
        return loc
    if loc.alignment < _floor(loc):
        return Failure(
            "unregistered",
            f"the page could not be aligned with {loc.form_id} v{loc.version} page {loc.page + 1} "
            f"(only {loc.alignment:.0%} of the printed form was found): part of the page may be missing, "
            "folded or badly photographed",
            loc,
        )
    return loc
