"""Reading a page where a person said what it is: a template page chosen, or four points clicked.

The pipeline could not place some pages by itself: `unidentified` (no form found) or
`unregistered` (the form is known but could not be lined up). A supervisor then gives a
`Placement`, and `read_placed` reads the page with it:

- *template page only* (the picker): `locate_on` registers the page on that template page as the
  pipeline would have, without the identification step: its registration squares (each rotation
  they allow), else image features against that page (ORB, then SIFT). A result below
  `register.MIN_ALIGNMENT` leaves the page `unregistered` on that template page, so the next
  step is four clicks.
- *template page and four points*: the points are where the page shows the template's four
  `reference_points` (the registration squares' centres; the paper's corners for a form printed
  without them), clockwise from the form's top-left whatever way up the scan is, as fractions of
  the image's width and height. Each clicked point is first moved to the centre of the solid
  square found near it (`SNAP_MM`), so a click anywhere on a square is exact; the homography
  comes from the four points alone (no registration search) and the page is read with it.

The alignment score (share of the form's printed lines found where they belong) is computed
either way and kept with the result. For four points, a person vouched for the geometry, so the
page is read down to `POINTS_MIN_ALIGNMENT`; below `register.MIN_ALIGNMENT` every field read
from it goes to review (`alignment_low`), since a value read a millimetre off must not be
accepted unseen. Below `POINTS_MIN_ALIGNMENT` the points cannot be where the person meant (a
wrong order, a wrong template page): the page stays `unregistered` and says so.

Pure: image and template in, `PageResult` out; no database.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from intake.errors import InvalidRequest, TemplateError
from intake.forms.layout import MARK_SIZE_MM, mark_centres
from intake.forms.model import Template
from intake.forms.registry import Registry
from intake.pipeline import register
from intake.pipeline.engines.contract import PageEngine
from intake.pipeline.extract import read_registered, unreadable
from intake.pipeline.load import LoadedPage
from intake.pipeline.types import FieldStatus, Located, PageResult, PageStatus

POINTS_MIN_ALIGNMENT = 0.5
SNAP_MM = 8.0  # a solid square whose centre is this close to a click is the square meant
ALIGNMENT_LOW = "alignment_low"


class PlacementInvalid(InvalidRequest):
    """The placement given for a page cannot be used (names the problem)."""

    code = "placement_invalid"


@dataclass(frozen=True)
class Placement:
    """What a person said about a page: which template page it is, and optionally where the
    page shows the template's four reference points (fractions of the image's width, height)."""

    form_id: str
    version: int
    page: int  # 1-based template page
    points: tuple[tuple[float, float], ...] | None = None


# ------------------------------------------------------------------------- the four points
def reference_points(template: Template) -> tuple[str, np.ndarray]:
    """What the four points are on this template, and where (mm, clockwise from top-left):
    ``("marks", centres of the registration squares)`` or, for a form printed without them,
    ``("corners", the paper's corners)``."""
    w, h = template.page_size_mm
    if template.marks:
        return "marks", np.array(mark_centres(w, h), dtype=np.float64)
    return "corners", np.array([(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)], dtype=np.float64)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def check_points(points: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
    """The four points as a tuple, or PlacementInvalid naming what is wrong. They must be inside
    the image (fractions 0..1), go round the form clockwise as seen on screen (top-left,
    top-right, bottom-right, bottom-left of the form) without crossing, and span a real part of
    it. (Scaling x and y to pixels keeps both the turning direction and convexity, so fractions
    are judged as they are.)"""
    if len(points) != 4 or any(len(p) != 2 for p in points):
        raise PlacementInvalid("give exactly four points, each [x, y]")
    pts = np.array([[float(x), float(y)] for x, y in points], dtype=np.float64)
    if not np.all(np.isfinite(pts)) or pts.min() < 0.0 or pts.max() > 1.0:
        raise PlacementInvalid("each point must be inside the image: x and y between 0 and 1")
    crosses = [_cross(pts[i], pts[(i + 1) % 4], pts[(i + 2) % 4]) for i in range(4)]
    if not all(c > 0 for c in crosses):
        raise PlacementInvalid("the four points must go round the form clockwise without crossing: "
                               "top-left, top-right, bottom-right, bottom-left of the form")
    area = 0.5 * abs(sum(pts[i, 0] * pts[(i + 1) % 4, 1] - pts[(i + 1) % 4, 0] * pts[i, 1] for i in range(4)))
    if area < 0.05:
        raise PlacementInvalid("the four points are too close together: click the form's four corner marks")
    return tuple((round(float(x), 6), round(float(y), 6)) for x, y in pts)


def _px(points: Sequence[Sequence[float]], shape: tuple[int, ...]) -> np.ndarray:
    h, w = shape[:2]
    return np.array([[x * w, y * h] for x, y in points], dtype=np.float64)


def _solid_blobs(win: np.ndarray, side: float) -> np.ndarray:
    """Centres of solid dark blobs about a mark's size in a window. Looser than the pipeline's
    own mark search (`register.mark_candidates`): a person has just said a mark is here, and in a
    steep photo a square is squeezed to a third of its width, or stretched to twice its height."""
    _, binary = cv2.threshold(win, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, _, stats, cents = cv2.connectedComponentsWithStats(binary, connectivity=8)
    out = []
    for i in range(1, n):
        _, _, w, h, area = stats[i]
        # not the 2 mm centre of a QR code's finder pattern beside the top-right square
        if max(w, h) > 3.5 * side or max(w, h) < 0.5 * side or area < (0.3 * side) ** 2:
            continue
        if area < 0.55 * w * h:  # solid (a square turned 45 degrees still fills half its box)
            continue
        out.append(cents[i])
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def snap_to_marks(img: np.ndarray, clicks_px: np.ndarray, marks_mm: np.ndarray) -> tuple[np.ndarray, int]:
    """Each click moved to the centre of the solid square nearest it (within `SNAP_MM`), judged at
    the scale the clicks themselves give near that corner (the two edges that meet there); how
    many moved. A click with no square near it stays where it is."""
    out, snapped = clicks_px.copy(), 0
    for k, (cx, cy) in enumerate(clicks_px):
        px_per_mm = float(np.mean([np.linalg.norm(clicks_px[k] - clicks_px[j]) / np.linalg.norm(marks_mm[k] - marks_mm[j])
                                   for j in ((k + 1) % 4, (k + 3) % 4)]))
        side = MARK_SIZE_MM * px_per_mm
        r = int(math.ceil(SNAP_MM * px_per_mm + side))
        x0, y0 = max(0, int(cx) - r), max(0, int(cy) - r)
        win = img[y0:int(cy) + r + 1, x0:int(cx) + r + 1]
        if win.size == 0:
            continue
        cands = _solid_blobs(win, side)
        if len(cands) == 0:
            continue
        d = np.linalg.norm(cands + (x0, y0) - (cx, cy), axis=1)
        j = int(np.argmin(d))
        if d[j] <= SNAP_MM * px_per_mm:
            out[k] = cands[j] + (x0, y0)
            snapped += 1
    return out, snapped


def place_by_points(img: np.ndarray, dpi: float, registry: Registry, template: Template, page: int,
                    points: Sequence[Sequence[float]]) -> Located:
    """The page registered from four points a person gave (`page` 0-based): homography from the
    points (snapped to the registration squares where the form has them), alignment scored."""
    kind, ref_mm = reference_points(template)
    clicks = _px(points, img.shape)
    snapped = 0
    if kind == "marks":
        clicks, snapped = snap_to_marks(img, clicks, ref_mm)
    H = cv2.getPerspectiveTransform(np.float32(clicks), np.float32(ref_mm)).astype(np.float64)
    method = f"points:{kind}" + (f" ({snapped} snapped)" if kind == "marks" else "")
    loc = Located(template.id, template.version, page, len(template.pages), H, method)
    loc.alignment = register.alignment_score(img, dpi, H, registry, template, page)
    return loc


# ------------------------------------------------------------------------- a chosen template page
def locate_on(img: np.ndarray, dpi: float, registry: Registry, template: Template, page: int,
              dpi_known: bool = True) -> Located | register.Failure:
    """Register the page on a template page a person chose (`page` 0-based): its registration
    squares, else image features for that page; the better of the two when neither is good."""
    best: Located | None = None
    if template.marks:
        marks = register.register_marks_only(img, dpi, registry, [template])
        if marks is not None:
            marks.page = page
            marks.alignment = register.alignment_score(img, dpi, marks.homography, registry, template, page)
            best = marks
    if best is None or best.alignment < register.MIN_ALIGNMENT:
        feat = register.register_by_features(img, dpi, registry, template, page, dpi_known)
        if isinstance(feat, Located) and (best is None or feat.alignment > best.alignment):
            best = feat
    if best is not None and best.alignment >= register.MIN_ALIGNMENT:
        return best
    where = f"{template.id} v{template.version} page {page + 1}"
    if best is None:
        return register.Failure("unregistered", f"the page could not be lined up with {where}: neither its "
                                "registration marks nor its printed layout were found; click its four corners")
    return register.Failure("unregistered", f"the page could not be lined up with {where} (only "
                            f"{best.alignment:.0%} of the printed form was found); click its four corners", best)


# ------------------------------------------------------------------------- reading
def _unregistered(page: LoadedPage, template: Template, index: int, reason: str, loc: Located | None,
                  timings: dict[str, float]) -> PageResult:
    return PageResult(page.file, page.index, PageStatus.UNREGISTERED, reason=reason, error_code="unregistered",
                      form_id=template.id, version=template.version, template_page=index + 1,
                      pages_in_form=len(template.pages), alignment=loc.alignment if loc else None,
                      method=loc.method if loc else None, timings=timings)


def read_located(page: LoadedPage, template: Template, loc: Located, engine: PageEngine, keep_crops: bool,
                 timings: dict[str, float]) -> PageResult:
    """Read every field of a page registered by `loc`; below `register.MIN_ALIGNMENT` each field
    goes to review (`alignment_low`)."""
    res = read_registered(page, template, loc, engine, keep_crops, timings)
    if loc.alignment < register.MIN_ALIGNMENT:
        for r in res.fields:
            r.status = FieldStatus.NEEDS_REVIEW
            if ALIGNMENT_LOW not in r.errors:
                r.errors.append(ALIGNMENT_LOW)
    return res


def read_placed(page: LoadedPage, placement: Placement, registry: Registry, engine: PageEngine | None = None,
                keep_crops: bool = False) -> PageResult:
    """Read a page as `placement` says (see the module docstring). Never raises for a bad page."""
    if page.error is not None or page.image is None:
        return unreadable(page)
    template = registry.get(placement.form_id, placement.version)
    index = placement.page - 1
    if not 0 <= index < len(template.pages):
        raise TemplateError(f"{template.key} has no page {placement.page}", code="template_not_found")
    if engine is None:
        from intake.pipeline.engines.tesseract import default_engine

        engine = default_engine()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if placement.points is not None:
        loc = place_by_points(page.image, page.dpi, registry, template, index, placement.points)
        timings["locate"] = time.perf_counter() - t0
        if loc.alignment < POINTS_MIN_ALIGNMENT:
            return _unregistered(page, template, index, (
                f"the four points given do not line up with {template.id} v{template.version} page {placement.page} "
                f"(only {loc.alignment:.0%} of the printed form was found where they put it): click the four "
                "corner marks again, top-left first, going clockwise"), loc, timings)
        return read_located(page, template, loc, engine, keep_crops, timings)
    found = locate_on(page.image, page.dpi, registry, template, index, page.dpi_from_file)
    timings["locate"] = time.perf_counter() - t0
    if isinstance(found, register.Failure):
        return _unregistered(page, template, index, found.reason, found.located, timings)
    found.method = f"chosen:{found.method}"
    return read_located(page, template, found, engine, keep_crops, timings)
