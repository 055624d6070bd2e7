"""Images for the review pages, sized for the screen: a stored crop or page preview re-encoded as a
grey JPEG no wider than asked (never enlarged). Office scans make PNG crops large (a narrative's
was 349 KB, 70 KB as JPEG at full size); at 640 px these keep a review page within its budget."""

from __future__ import annotations

import cv2
import numpy as np

from intake.errors import StorageError

SNIPPET_WIDTH = 640  # px: what the record view asks for a field's crop
PREVIEW_WIDTH = 360  # px: the page preview beside it (shown 300 CSS px wide)
GROUP_SNIPPET_WIDTH = 360  # px: a cell of a group verification grid
JPEG_QUALITY = 65


def jpeg_at_width(data: bytes, width: int, quality: int = JPEG_QUALITY) -> bytes:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise StorageError("a stored image could not be decoded")
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit grey image
        raise StorageError("an image could not be encoded")
    return buf.tobytes()
