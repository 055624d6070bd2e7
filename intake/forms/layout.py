"""Where the system prints its own furniture on a page: registration marks and the QR code.

Shared by the renderer (which prints them), the template check (fields must keep clear of them)
and the reader (which looks for them). All in millimetres from the page's top-left corner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARK_SIZE_MM = 6.0  # solid black squares
MARK_INSET_MM = 8.0  # from the page edge to the square's outer edge
QR_SIZE_MM = 22.0  # including its quiet zone
QR_QUIET_MODULES = 2  # thin quiet zone; the area around it is kept clear too
TITLE_TOP_MM = 12.0
CONTENT_TOP_MM = 40.0  # fields start below the title band on pages with marks


def mark_boxes(page_w: float, page_h: float) -> list[tuple[float, float, float, float]]:
    """The four registration squares, clockwise from top-left, as (x, y, w, h)."""
    s, i = MARK_SIZE_MM, MARK_INSET_MM
    return [
        (i, i, s, s),
        (page_w - i - s, i, s, s),
        (page_w - i - s, page_h - i - s, s, s),
        (i, page_h - i - s, s, s),
    ]


def mark_centres(page_w: float, page_h: float) -> list[tuple[float, float]]:
    return [(x + w / 2, y + h / 2) for x, y, w, h in mark_boxes(page_w, page_h)]


def qr_box(page_w: float, page_h: float) -> tuple[float, float, float, float]:
    """Top right, inside the marks, clear of the title."""
    return (page_w - MARK_INSET_MM - MARK_SIZE_MM - 2.0 - QR_SIZE_MM, MARK_INSET_MM + 4.0, QR_SIZE_MM, QR_SIZE_MM)


def reserved_boxes(page_w: float, page_h: float) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Areas a field must not cover on a page that carries marks (with a 2 mm margin)."""
    out = []
    for n, (x, y, w, h) in enumerate(mark_boxes(page_w, page_h)):
        out.append((f"registration mark {n + 1}", (x - 2, y - 2, w + 4, h + 4)))
    x, y, w, h = qr_box(page_w, page_h)
    out.append(("QR code", (x - 2, y - 2, w + 4, h + 4)))
    return out


# -- QR payload ------------------------------------------------------------------------------
# ASCII, short enough for a version 2-3 QR code: "FI:<form_id>:<version>:<page>/<pages>",
# e.g. "FI:child_protection:1:2/2". Pages count from 1.
_PAYLOAD = re.compile(r"^FI:([a-z][a-z0-9_]*):(\d+):(\d+)/(\d+)$")


@dataclass(frozen=True)
class PageCode:
    form_id: str
    version: int
    page: int  # 1-based
    pages: int

    def payload(self) -> str:
        return f"FI:{self.form_id}:{self.version}:{self.page}/{self.pages}"


def parse_payload(text: str) -> PageCode | None:
    """The page code in a decoded QR text, or None if it is not one of ours."""
    m = _PAYLOAD.match(text.strip())
    if not m:
        return None
    code = PageCode(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
    if not (1 <= code.page <= code.pages) or code.version < 1:
        return None
    return code
