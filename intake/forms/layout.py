"""Where the system prints its own furniture on a page: registration marks and the QR code.

Shared by the renderer (which prints them), the template check (fields must keep clear of them,
the QR's modules must stay large enough) and the reader (which looks for them and registers the
page on them). All in millimetres from the page's top-left corner. Pure geometry: nothing here
draws or imports the renderer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARK_SIZE_MM = 6.0  # solid black squares
MARK_INSET_MM = 8.0  # from the page edge to the square's outer edge
QR_SIZE_MM = 22.0  # including its quiet zone
QR_QUIET_MODULES = 2  # thin quiet zone; the area around it is kept clear too
QR_LEVEL = "M"  # error correction: about 15% of the symbol may be damaged
MIN_QR_MODULE_MM = 0.7  # smaller modules are lost on a fax or a phone photo
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


# Data capacity in bytes of QR versions 1..10 in byte mode at error correction level M (ISO/IEC
# 18004, table 7). Our payload always has lowercase letters (the form id), so it is always
# encoded in byte mode; tests/forms/test_render.py checks this against the printed codes.
_QR_BYTES_M = (14, 26, 42, 62, 84, 106, 122, 152, 180, 213)


def qr_module_count(payload: str) -> int:
    """Modules per side of the smallest level-M QR code that holds `payload` (quiet zone not
    counted): version v has 17 + 4v."""
    size = len(payload.encode("utf-8"))
    for version, capacity in enumerate(_QR_BYTES_M, start=1):
        if size <= capacity:
            return 17 + 4 * version
    raise ValueError(f"a page code of {size} bytes is longer than this layout allows")


def qr_modules(code: PageCode, page_w: float, page_h: float) -> tuple[int, float]:
    """The printed QR code of one page: modules per side, and the module size in mm (the
    symbol and its quiet zone fill `qr_box`)."""
    n = qr_module_count(code.payload())
    _, _, w, h = qr_box(page_w, page_h)
    return n, min(w, h) / (n + 2 * QR_QUIET_MODULES)


def qr_symbol_corners(code: PageCode, page_w: float, page_h: float) -> list[tuple[float, float]]:
    """The corners of the printed symbol (its finder patterns' outer edges, quiet zone excluded):
    top-left, top-right, bottom-right, bottom-left, as a QR reader reports them."""
    n, module = qr_modules(code, page_w, page_h)
    x, y, w, h = qr_box(page_w, page_h)
    quiet = (w - n * module) / 2
    x0, y0, x1, y1 = x + quiet, y + quiet, x + w - quiet, y + h - quiet
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def parse_payload(text: str) -> PageCode | None:
    """The page code in a decoded QR text, or None if it is not one of ours."""
    m = _PAYLOAD.match(text.strip())
    if not m:
        return None
    code = PageCode(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
    if not (1 <= code.page <= code.pages) or code.version < 1:
        return None
    return code
