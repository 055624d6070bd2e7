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


# quarter turns clockwise -> OpenCV's rotation
_TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def upright_turn(corners: list[list[float]]) -> int:
    """The quarter turn (degrees clockwise: 0, 90, 180, 270) that stands a scanned page upright,
    from where its template page's corners are (top-left, top-right, ... in image pixels): the
    turn that points the form's top edge most nearly rightwards."""
    (x0, y0), (x1, y1) = corners[0], corners[1]
    dx, dy = x1 - x0, y1 - y0
    # the top edge's direction after each clockwise turn: (dx, dy) -> (-dy, dx)
    after = {0: dx, 90: -dy, 180: -dx, 270: dy}
    return max(after, key=lambda t: after[t])


def turn_points(points: np.ndarray, size: tuple[int, int], turn: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Image points (N x 2) and the image's (width, height) after turning it `turn` degrees clockwise."""
    w, h = size
    x, y = points[:, 0], points[:, 1]
    if turn == 90:
        return np.stack([h - y, x], axis=1), (h, w)
    if turn == 180:
        return np.stack([w - x, h - y], axis=1), (w, h)
    if turn == 270:
        return np.stack([y, w - x], axis=1), (h, w)
    return points, size


def jpeg_at_width(data: bytes, width: int, quality: int = JPEG_QUALITY, turn: int = 0) -> bytes:
    """The stored image as a grey JPEG at most `width` wide, turned `turn` degrees clockwise first."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise StorageError("a stored image could not be decoded")
    if turn in _TURNS:
        img = cv2.rotate(img, _TURNS[turn])
    h, w = img.shape[:2]
    if w > width:
        img = cv2.resize(img, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit grey image
        raise StorageError("an image could not be encoded")
    return buf.tobytes()
