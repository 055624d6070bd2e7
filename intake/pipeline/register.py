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
from pathlib import Path

import cv2
import numpy as np

from intake.forms.layout import MARK_SIZE_MM, PageCode, mark_centres, qr_box
from intake.forms.model import Template
from intake.forms.registry import Registry
from intake.pipeline.qr import FoundCode, find_codes
from intake.pipeline.types import Located

SCORE_DPI = 100.0
MIN_ALIGNMENT = 0.80  # below this a page is not read (see bench/accuracy for the measured spread)
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
@lru_cache(maxsize=64)
def _structure(template: Template, page: int) -> tuple[np.ndarray, np.ndarray]:
    """(ink mask of the blank page at SCORE_DPI, the blank grey image) for scoring alignment."""
    grey = reference_image(template, page, SCORE_DPI)
    ink = grey < 160
    return ink, grey


def reference_image(template: Template, page: int, dpi: float) -> np.ndarray:
    """The blank page as a grey image at `dpi`: our own rendering, or the template's blank scan."""
    if template.reference is not None:
        img = _reference_scan(template, page)
        scale = dpi / template.reference.dpi
        return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    from intake.forms.render import blank_page

    return np.asarray(blank_page(template, page, int(round(dpi))))


_REFERENCE_ROOTS: dict[str, Path] = {}


def set_reference_root(template: Template, folder: Path) -> None:
    """Where a template's reference scans live (its YAML file's folder)."""
    _REFERENCE_ROOTS[template.key] = folder


@lru_cache(maxsize=32)
def _reference_scan(template: Template, page: int) -> np.ndarray:
    assert template.reference is not None
    folder = _REFERENCE_ROOTS.get(template.key)
    if folder is None:
        from intake.forms.registry import default_registry

        folder = default_registry().path_of(template).parent
    path = folder / template.reference.pages[page]
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(path)
    return img


# ------------------------------------------------------------------------- alignment score
def alignment_score(img: np.ndarray, dpi: float, H: np.ndarray, template: Template, page: int) -> float:
    """Share of the blank page's printed ink that the registered page has too (within 0.5 mm)."""
    ink, _ = _structure(template, page)
    h, w = ink.shape
    small, f = _downscale(img, dpi, SCORE_DPI)
    # small px -> img px -> mm -> score px
    S = np.diag([1 / f, 1 / f, 1.0])
    M = _mm_to_px(SCORE_DPI) @ H @ S
    warped = cv2.warpPerspective(small, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    page_ink = warped < _ink_level(warped)
    if page_ink.mean() > 0.5:  # a black page matches everything
        return 0.0
    near = cv2.dilate(page_ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    total = int(ink.sum())
    return float((near & ink).sum() / total) if total else 0.0


def _ink_level(grey: np.ndarray) -> float:
    from intake.pipeline.ink import paper_level

    return max(60.0, paper_level(grey, 90.0) * 0.72)


def _downscale(img: np.ndarray, dpi: float, target: float) -> tuple[np.ndarray, float]:
    f = min(1.0, target / dpi)
    if f >= 0.999:
        return img, 1.0
    return cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), f


# ------------------------------------------------------------------------- QR + marks
@lru_cache(maxsize=64)
def _qr_symbol_mm(template: Template, code: PageCode) -> np.ndarray:
    from intake.forms.render import qr_modules

    n, module = qr_modules(template, code.page)
    x, y, w, h = qr_box(*template.page_size_mm)
    quiet = (w - n * module) / 2
    x0, y0, x1, y1 = x + quiet, y + quiet, x + w - quiet, y + h - quiet
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _find_square(img: np.ndarray, dpi: float, centre: tuple[float, float] | None, region: tuple[int, int, int, int],
                 corner: tuple[float, float]) -> np.ndarray | None:
    """Centre (px) of the solid square mark in `region` (x0, y0, x1, y1), nearest `centre` or `corner`."""
    x0, y0, x1, y1 = (max(0, int(v)) for v in region)
    x1, y1 = min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    roi = img[y0:y1, x0:x1]
    level = min(_ink_level(roi), 150.0)
    binary = (roi < level).astype(np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(binary, connectivity=8)
    side = MARK_SIZE_MM / 25.4 * dpi
    best, best_d = None, float("inf")
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if not (0.35 * side * side <= area <= 2.6 * side * side):
            continue
        if not (0.55 <= w / h <= 1.8) or area < 0.55 * w * h:
            continue
        if max(w, h) > 2.0 * side or min(w, h) < 0.5 * side:
            continue
        cx, cy = cents[i][0] + x0, cents[i][1] + y0
        ref = centre if centre is not None else corner
        d = (cx - ref[0]) ** 2 + (cy - ref[1]) ** 2
        if d < best_d:
            best, best_d = np.array([cx, cy]), d
    return best


def _marks_near(img: np.ndarray, dpi: float, predicted: np.ndarray) -> list[np.ndarray | None]:
    r = 14.0 / 25.4 * dpi  # search ±14 mm around the prediction
    return [_find_square(img, dpi, (px, py), (px - r, py - r, px + r, py + r), (px, py)) for px, py in predicted]


def _marks_in_corners(img: np.ndarray, dpi: float) -> list[np.ndarray | None]:
    """Marks nearest each image corner, clockwise from the image's top-left."""
    h, w = img.shape
    rw, rh = int(w * 0.25), int(h * 0.2)
    regions = [(0, 0, rw, rh), (w - rw, 0, w, rh), (w - rw, h - rh, w, h), (0, h - rh, rw, h)]
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    return [_find_square(img, dpi, None, reg, c) for reg, c in zip(regions, corners, strict=True)]


def _homography(src: list[np.ndarray], dst: list[np.ndarray]) -> np.ndarray | None:
    if len(src) < 4:
        if len(src) == 3:
            A = cv2.getAffineTransform(np.float32(src), np.float32(dst))
            return np.vstack([A, [0, 0, 1]])
        return None
    H, _ = cv2.findHomography(np.float64(src), np.float64(dst), 0)
    return H


def _residual_mm(H: np.ndarray, src: list[np.ndarray], dst: list[np.ndarray]) -> float:
    pts = cv2.perspectiveTransform(np.float64(src).reshape(-1, 1, 2), H).reshape(-1, 2)
    return float(np.max(np.linalg.norm(pts - np.float64(dst), axis=1)))


def register_with_qr(img: np.ndarray, dpi: float, found: FoundCode, template: Template) -> Located | Failure:
    code = found.code
    assert code is not None
    qr_mm = _qr_symbol_mm(template, code)
    A, _ = cv2.estimateAffinePartial2D(found.corners, qr_mm)  # px -> mm, similarity
    if A is None:
        return Failure("unregistered", "the QR code was found but its position could not be used")
    A3 = np.vstack([A, [0, 0, 1]])
    marks_mm = np.array(mark_centres(*template.page_size_mm))
    predicted = cv2.perspectiveTransform(marks_mm.reshape(-1, 1, 2), np.linalg.inv(A3)).reshape(-1, 2)
    marks = _marks_near(img, dpi, predicted)
    src = [m for m in marks if m is not None]
    dst = [marks_mm[i] for i, m in enumerate(marks) if m is not None]
    method = "marks+qr"
    if len(src) < 3:
        # not enough marks: the QR alone gives a similarity transform; usable only if it scores well
        H, method = A3, "qr"
    else:
        src_all = src + list(found.corners)
        dst_all = dst + list(qr_mm)
        H = _homography(src_all, dst_all)
        if H is None:
            return Failure("unregistered", "the registration marks could not be used")
        if _residual_mm(H, src_all, dst_all) > 3.0:  # a mark or the QR was found in the wrong place
            H = _homography(src, dst)
            method = "marks"
    missing = 4 - len(src)
    loc = Located(template.id, template.version, code.page - 1, code.pages, H, method)
    loc.alignment = alignment_score(img, dpi, H, template, code.page - 1)
    if missing:
        loc.method += f" ({missing} mark{'s' if missing > 1 else ''} missing)"
    return loc


def register_marks_only(img: np.ndarray, dpi: float, candidates: list[Template]) -> Located | None:
    """Marks found, QR unreadable: try each candidate page in each orientation the marks allow."""
    marks = _marks_in_corners(img, dpi)
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
                loc.alignment = alignment_score(img, dpi, H, t, p)
                if best is None or loc.alignment > best.alignment:
                    best = loc
    return best


# ------------------------------------------------------------------------- features
FEATURE_DPI = 100.0


@lru_cache(maxsize=64)
def _reference_features(template: Template, page: int):
    ref = reference_image(template, page, FEATURE_DPI)
    orb = cv2.ORB_create(nfeatures=3000)
    kp, des = orb.detectAndCompute(ref, None)
    return np.float32([k.pt for k in kp]), des


def register_by_features(img: np.ndarray, dpi: float, template: Template, page: int) -> Located | Failure:
    ref_pts, ref_des = _reference_features(template, page)
    if ref_des is None or len(ref_pts) < MIN_FEATURE_INLIERS:
        return Failure("unregistered", "the template's reference image has too few features to match")
    small, f = _downscale(img, dpi, FEATURE_DPI)
    orb = cv2.ORB_create(nfeatures=4000)
    kp, des = orb.detectAndCompute(small, None)
    if des is None or len(kp) < MIN_FEATURE_INLIERS:
        return Failure("unidentified", "the page has too little printed structure to match a form")
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(des, ref_des, k=2)
    good = [m for m_n in pairs if len(m_n) == 2 for m, n in [m_n] if m.distance < 0.8 * n.distance]
    if len(good) < MIN_FEATURE_INLIERS:
        return Failure("unidentified", f"only {len(good)} image features match the form")
    src = np.float32([kp[m.queryIdx].pt for m in good]) / f  # img px
    dst = ref_pts[[m.trainIdx for m in good]] * (25.4 / FEATURE_DPI)  # mm
    H, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.5)
    if H is None or inliers is None:
        return Failure("unregistered", "no consistent alignment between the page and the form was found")
    n_in = int(inliers.sum())
    if n_in < MIN_FEATURE_INLIERS or n_in / len(good) < MIN_INLIER_RATIO:
        return Failure("unregistered", f"only {n_in} of {len(good)} matching features agree on an alignment")
    if not _plausible(H, dpi):
        return Failure("unregistered", "the alignment found would distort the page implausibly")
    loc = Located(template.id, template.version, page, len(template.pages), H, f"features ({n_in} inliers)")
    loc.alignment = alignment_score(img, dpi, H, template, page)
    return loc


def _plausible(H: np.ndarray, dpi: float) -> bool:
    """The transform's scale is near the expected mm per px, without a strong shear or flip."""
    A = H[:2, :2] / H[2, 2]
    det = np.linalg.det(A)
    expected = (25.4 / dpi) ** 2
    return det > 0 and 0.25 < det / expected < 4.0 and abs(H[2, 0]) + abs(H[2, 1]) < 0.01


# ------------------------------------------------------------------------- orchestration
def locate(img: np.ndarray, dpi: float, registry: Registry) -> Located | Failure:
    """Identify the page's form and page and register it; or say why not."""
    codes = find_codes(img, dpi)
    ours = [c for c in codes if c.code is not None]
    if ours:
        code = ours[0].code
        assert code is not None
        try:
            template = registry.get(code.form_id, code.version)
        except Exception:  # noqa: BLE001 - TemplateNotFound: a form we do not know (yet)
            return Failure("unidentified", f"the QR code names form {code.form_id} version {code.version}, which is not installed")
        if code.page > len(template.pages) or code.pages != len(template.pages):
            return Failure("unidentified", f"the QR code names page {code.page}/{code.pages}, which {template.key} does not have")
        loc = register_with_qr(img, dpi, ours[0], template)
        if isinstance(loc, Located) and loc.alignment < MIN_ALIGNMENT:
            feat = register_by_features(img, dpi, template, code.page - 1)
            if isinstance(feat, Located) and feat.alignment > loc.alignment:
                loc = feat
        return _judge(loc)
    templates = registry.all()
    loc = register_marks_only(img, dpi, templates)
    if loc is not None and loc.alignment >= MIN_ALIGNMENT:
        return loc
    best: Located | Failure | None = loc
    for t in templates:
        if t.marks and loc is not None:
            continue  # our own forms were tried with their marks
        for p in range(len(t.pages)):
            res = register_by_features(img, dpi, t, p)
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


def _judge(loc: Located | Failure) -> Located | Failure:
    if isinstance(loc, Failure):
        return loc
    if loc.alignment < MIN_ALIGNMENT:
        return Failure(
            "unregistered",
            f"the page could not be aligned with {loc.form_id} v{loc.version} page {loc.page + 1} "
            f"(only {loc.alignment:.0%} of the printed form was found): part of the page may be missing, "
            "folded or badly photographed",
            loc,
        )
    return loc
