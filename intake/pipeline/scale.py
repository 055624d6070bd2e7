"""Smaller copies of a page, made once per page and shared.

Finding the QR code, finding the registration marks and scoring the alignment each work on a
smaller copy of the page; shrinking a 300 dpi page (INTER_AREA) costs ~20 ms each time. The QR
search and the alignment score both work at 100 dpi, and the marks at ~70 dpi can be shrunk
from that copy instead of from the page.
"""

from __future__ import annotations

import threading
import weakref

import cv2
import numpy as np

_KEEP = 4  # copies remembered per thread (one page's)
_local = threading.local()


def downscaled(img: np.ndarray, f: float, *, derive: bool = False) -> np.ndarray:
    """`img` shrunk by the factor `f` (INTER_AREA); `img` itself when f is ~1. With `derive`, a
    copy already made at a larger factor may be shrunk further instead of the page (the result
    differs from a direct shrink only by rounding)."""
    if f >= 0.999:
        return img
    cache: list[tuple[weakref.ref, float, np.ndarray]] = getattr(_local, "cache", None) or []
    _local.cache = cache = [c for c in cache if c[0]() is not None]
    source, sf = img, 1.0
    for ref, ff, small in cache:
        if ref() is img:
            if abs(ff - f) < 1e-9:
                return small
            if derive and f < ff < sf:
                source, sf = small, ff
    out = cv2.resize(source, None, fx=f / sf, fy=f / sf, interpolation=cv2.INTER_AREA)
    cache.append((weakref.ref(img), f, out))
    del cache[:-_KEEP]
    return out
