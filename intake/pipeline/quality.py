"""Page quality: what kind of image a page is, measured on the page itself, not on its file type.

Measured on the page in template space (`read.CANON_DPI`, the form's own area: no desk, no
margins outside the form), once per page, in a few milliseconds:

* ``dpi``: the scan's resolution on the page (from the registration's scale);
* ``blur``: variance of the Laplacian at 100 dpi (sharp print: thousands; a blurred photo: tens);
* ``contrast``: the paper's brightness minus the ink's (98th minus 2nd percentile);
* ``illumination``: spread of the paper's brightness over the page (the paper map's 95th minus
  5th percentile, over its 95th): 0 on a flatbed scan, 0.1-0.5 under a phone's uneven light;
* ``binary``: share of the scan's rows (as loaded, before warping) with at most 4 grey levels:
  a bilevel image (a fax) has 2, or 4 where its 98 lines per inch were stretched to square
  pixels; a grey scan or a photo has dozens (a clean rendering's anti-aliased text too).

The class (`classify`) is what the confidence tables are kept by (`confidence.py`): ``fax`` (a
bilevel image or a coarse vertical resolution), ``photo`` (uneven light), ``poor`` (blurred, low
contrast or under 150 dpi, whatever its source) and ``scan`` (the rest: flatbed and office
scans, clean files). A class with too little calibration data falls back to the pooled table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from intake.pipeline.ink import paper_level

CLASSES = ("scan", "fax", "photo", "poor")
QUALITY_DPI = 100.0
FAX_BINARY = 0.9  # share of pixels at the extremes above which a page is bilevel
PHOTO_ILLUMINATION = 0.08
POOR_BLUR = 60.0
POOR_CONTRAST = 90.0
POOR_DPI = 140.0


@dataclass
class PageQuality:
    dpi: float
    blur: float
    contrast: float
    illumination: float
    binary: float
    cls: str
    # On a fax: the share of the blank form's printed pixels still dark on the page (dark pixels
    # within 2 px of them over their count; `marks.print_kept`). A fax sent with a light setting
    # breaks its own print up (0.6-0.9 on the seed-61 sets against 1.0-2.0 for normal and dark
    # settings); light writing on it may be gone altogether. None on other pages.
    print_kept: float | None = None

    def to_dict(self) -> dict[str, float | str]:
        d = asdict(self)
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def classify(dpi: float, blur: float, contrast: float, illumination: float, binary: float) -> str:
    if binary >= FAX_BINARY:
        return "fax"
    if blur < POOR_BLUR or contrast < POOR_CONTRAST or dpi < POOR_DPI:
        return "poor"
    if illumination >= PHOTO_ILLUMINATION:
        return "photo"
    return "scan"


def bilevel_rows(img: np.ndarray, rows: int = 64) -> float:
    """Share of `rows` evenly spaced rows of `img` (that have any ink) with at most 4 grey levels."""
    h = img.shape[0]
    if h == 0:
        return 0.0
    n = few = 0
    for y in np.linspace(h * 0.1, h * 0.9, rows).astype(int):
        vals = np.unique(img[y])
        if vals.size == 1:
            continue  # a blank row says nothing
        n += 1
        few += vals.size <= 4
    return few / n if n else 0.0


def measure(canon: np.ndarray, canon_dpi: float, scan_dpi: float, source: np.ndarray | None = None) -> PageQuality:
    """The quality of a page warped into template space at `canon_dpi`; `scan_dpi` is the scan's
    own resolution on the page, `source` the page as loaded (for `binary`)."""
    f = QUALITY_DPI / canon_dpi
    small = cv2.resize(canon, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    m = max(1, small.shape[0] // 40)  # leave out the page's outer edge (white fill after warping)
    small = small[m:-m, m:-m]
    blur = float(cv2.Laplacian(small, cv2.CV_32F).var())
    hist = cv2.calcHist([small], [0], None, [256], [0, 256]).ravel()
    cum = np.cumsum(hist) / max(1.0, hist.sum())
    lo, hi = int(np.searchsorted(cum, 0.02)), int(np.searchsorted(cum, 0.98))
    binary = bilevel_rows(source) if source is not None else 0.0
    # the paper map at 25 dpi: a closing removes print and writing
    tiny = cv2.resize(small, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    paper = cv2.morphologyEx(tiny, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9)))
    p95 = max(1.0, paper_level(paper, 95.0))
    illumination = (p95 - paper_level(paper, 5.0)) / p95
    contrast = float(hi - lo)
    cls = classify(scan_dpi, blur, contrast, illumination, binary)
    return PageQuality(round(scan_dpi, 1), blur, contrast, float(illumination), binary, cls)


def scan_dpi(H: np.ndarray) -> float:
    """The scan's resolution on the page from a homography image px -> template mm (at the page's
    centre, where perspective changes it least: taken as the mean scale)."""
    a = np.asarray(H, dtype=np.float64)
    a = a / a[2, 2]
    det = abs(float(np.linalg.det(a[:2, :2])))
    return 25.4 / float(np.sqrt(det)) if det > 0 else 0.0
