"""Finding and decoding the page-code QR printed on our forms.

zxing-cpp first (fast, reads rotated and noisy codes); OpenCV's `QRCodeDetectorAruco` as a second
opinion. Plain `cv2.QRCodeDetector` is not used: it read only 17 of 30 rotated, noisy codes here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from intake.forms.layout import PageCode, parse_payload
from intake.pipeline.scale import downscaled

# Try small first: at ~100 dpi a 0.8 mm module is 3 px, enough, and decoding takes ~2 ms.
SEARCH_DPIS = (100.0, 200.0, 300.0)


@dataclass(frozen=True)
class FoundCode:
    text: str  # decoded text
    code: PageCode | None  # our page code, if the text is one
    corners: np.ndarray  # 4x2 float, image px: the symbol's own top-left, top-right, bottom-right, bottom-left
    reader: str


def _zxing(img: np.ndarray) -> list[tuple[str, np.ndarray]]:
    import zxingcpp

    out = []
    for r in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode):
        p = r.position
        pts = np.array([[p.top_left.x, p.top_left.y], [p.top_right.x, p.top_right.y],
                        [p.bottom_right.x, p.bottom_right.y], [p.bottom_left.x, p.bottom_left.y]], dtype=np.float64)
        out.append((r.text, pts))
    return out


def _opencv(img: np.ndarray) -> list[tuple[str, np.ndarray]]:
    det = cv2.QRCodeDetectorAruco()
    ok, texts, points, _ = det.detectAndDecodeMulti(img)
    if not ok or points is None:
        return []
    return [(t, np.asarray(p, dtype=np.float64).reshape(4, 2)) for t, p in zip(texts, points, strict=False) if t]


def find_codes(img: np.ndarray, dpi: float) -> list[FoundCode]:
    """All QR codes on the page, ours first. Corners are in the coordinates of `img`."""
    tried: set[float] = set()
    for reader_name, reader in (("zxing", _zxing), ("opencv-aruco", _opencv)):
        for target in SEARCH_DPIS:
            scale = min(1.0, target / dpi) if dpi > 0 else 1.0
            if scale in tried and reader_name == "zxing":
                continue
            tried.add(scale)
            small = downscaled(img, scale)
            found = reader(small)
            if found:
                codes = [FoundCode(t, parse_payload(t), pts / scale, reader_name) for t, pts in found]
                codes.sort(key=lambda c: c.code is None)
                return codes
            if scale >= 0.999:
                break
    return []
