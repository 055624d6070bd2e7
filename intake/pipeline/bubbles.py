"""Reading bubbles (``mark_style: bubble``): OMR sheets where a printed circle is filled in.

A bubble is not an empty square: its printed outline and the letter or digit inside it are ink
too, so a fill ratio against a fixed threshold (as for tick boxes) does not work. Each bubble is
measured by its darkness, 1 - (mean grey over its box, shrunk by `SHRINK`) / (the paper's
brightness around the field), and the decision is relative, as in OMRChecker:

1. within a field, the sorted darknesses are searched for the largest jump between neighbours;
   a jump of at least `MIN_JUMP` separates the marked bubbles (above it) from the others, if the
   marked side is dark enough to be ink at all (not a bold printed "B" among thin "C"s);
2. a field without such a jump is all one thing, almost always unmarked. When the reading
   context says which template page it is reading (``ctx.template`` and ``ctx.page``, see the
   module's caller), the page's threshold decides: the largest jump over all bubbles of the page,
   measured across `PAGE_LOOSENESS` neighbours (OMRChecker's global threshold). Without it, a
   field is taken as unmarked, with a confidence that falls as its spread nears `MIN_JUMP` (and
   is too low to accept when all its bubbles are dark: every one filled, or a bold print?), and
   a single bubble (a yes-only checkbox) is compared with `FALLBACK_THRESHOLD`.

The box is read nearly whole (OMRChecker's templates are drawn for its own reader, which
averages the whole box; their boxes are often smaller than the printed circle, so the ring
rarely enters them, while shrinking them further leaves mostly the printed letter).
Confidence comes from the distance between the decision threshold and the nearest bubble.
Several marked bubbles in a single choice give no value, the error ``choice.several_marked`` and
the marked option values in ``details["marked"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from intake.forms.model import Field, Slot
from intake.pipeline import confidence as conf
from intake.pipeline.types import FieldReading, FieldStatus

CANON_PX_PER_MM = 200.0 / 25.4  # read.CANON_DPI
SHRINK = 0.05  # share of the bubble box left out on each side (OMRChecker reads the whole box)
MIN_JUMP = 0.12  # darkness gap that separates marked from unmarked bubbles within a field
CONFIDENT_JUMP = 0.18  # a gap this wide or wider gives full confidence
FALLBACK_THRESHOLD = 0.33  # darkness above which a bubble counts as marked, without page statistics
PAGE_LOOSENESS = 4  # OMRChecker's looseness: jumps are measured over this many sorted values
UNSURE = 0.6  # confidence of an undecidable field (below conf.MARK_ACCEPT: it goes to review)


def _crop(img: np.ndarray, box: tuple[float, float, float, float], px_per_mm: float = CANON_PX_PER_MM,
          grow: float = 0.0) -> np.ndarray:
    x, y, w, h = box
    s = px_per_mm
    x0, y0 = int(round((x - grow) * s)), int(round((y - grow) * s))
    x1, y1 = int(round((x + w + grow) * s)), int(round((y + h + grow) * s))
    H, W = img.shape
    return img[max(0, y0):min(H, y1), max(0, x0):min(W, x1)]


def field_boxes(f: Field) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(value, box) of each bubble: the options of a choice, or the one box of a checkbox."""
    if f.type == "checkbox":
        assert f.box is not None
        return [("true", f.box)]
    return [(o.value, o.box) for o in f.options]


def measure(img: np.ndarray, boxes: list[tuple[float, float, float, float]], px_per_mm: float = CANON_PX_PER_MM
            ) -> list[float]:
    """Darkness 0..1 of each bubble (boxes in mm of `img`), against the paper around them."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    size = max(max(b[2], b[3]) for b in boxes)
    around = _crop(img, (x0, y0, x1 - x0, y1 - y0), px_per_mm, grow=size)
    paper = max(1.0, float(np.percentile(around, 90))) if around.size else 255.0
    out = []
    for x, y, w, h in boxes:
        inner = _crop(img, (x + SHRINK * w, y + SHRINK * h, (1 - 2 * SHRINK) * w, (1 - 2 * SHRINK) * h), px_per_mm)
        mean = float(inner.mean()) if inner.size else paper
        out.append(round(max(0.0, min(1.0, 1.0 - mean / paper)), 4))
    return out


def darkness(canon: np.ndarray, f: Field) -> dict[str, float]:
    """Darkness 0..1 of each bubble of the field on the page in template space."""
    boxes = field_boxes(f)
    return dict(zip((v for v, _ in boxes), measure(canon, [b for _, b in boxes]), strict=True))


def largest_jump(values: list[float], looseness: int = 1) -> tuple[float, float]:
    """(jump, threshold): the widest gap in the sorted values, measured across `looseness`
    neighbours (1: between consecutive values), and the middle of that gap."""
    v = sorted(values)
    best, thr = 0.0, float("nan")
    for i in range(len(v) - looseness):
        jump = v[i + looseness] - v[i]
        if jump > best:
            best, thr = jump, v[i] + jump / 2
    return best, thr


def threshold_of(values: list[float]) -> float | None:
    """The page's threshold from the darkness of all its bubbles (OMRChecker's global threshold:
    the largest jump across `PAGE_LOOSENESS` sorted neighbours), or None when they show no clear
    jump (a page where nothing, or everything, is marked)."""
    if len(values) <= PAGE_LOOSENESS:
        return None
    jump, thr = largest_jump(values, PAGE_LOOSENESS)
    return thr if jump >= MIN_JUMP and 0.05 <= thr <= 0.8 else None


def decide(values: dict[str, float], page_thr: float | None) -> tuple[list[str], float, str]:
    """(marked values, decision threshold, how it was decided).

    "field": a jump of at least `MIN_JUMP` inside the field separates marked from unmarked;
    "page": no such jump, the page's threshold decides; "uniform": no jump and no page statistics,
    so the field is taken as unmarked (a single-choice field with every bubble filled is far less
    likely than an unanswered one), its confidence falling as its spread nears `MIN_JUMP`;
    "absolute": a single bubble without page statistics, `FALLBACK_THRESHOLD` decides."""
    floor = 0.5 * (page_thr if page_thr is not None else FALLBACK_THRESHOLD)
    jump, thr = largest_jump(list(values.values()))
    if len(values) >= 2 and jump >= MIN_JUMP:
        marked = [v for v, d in values.items() if d > thr]
        # the gap must separate ink from paper, not a dark printed letter from a light one
        if min(values[v] for v in marked) >= floor:
            return marked, thr, "field"
    if page_thr is not None:
        return [v for v, d in values.items() if d > page_thr], page_thr, "page"
    if len(values) >= 2:
        return [], max(values.values()) + MIN_JUMP / 2, "uniform"
    return [v for v, d in values.items() if d > FALLBACK_THRESHOLD], FALLBACK_THRESHOLD, "absolute"


def read_sheet(img: np.ndarray, groups: list[list[tuple[float, float, float, float]]], px_per_mm: float
               ) -> list[list[bool]]:
    """Which bubbles of an image are marked, field by field (each group: one field's bubbles,
    boxes in mm of `img`), with the page threshold taken over all of them."""
    values = [measure(img, g, px_per_mm) for g in groups]
    thr = threshold_of([v for vs in values for v in vs])
    out = []
    for vs in values:
        marked, _, _ = decide({str(i): v for i, v in enumerate(vs)}, thr)
        out.append([str(i) in marked for i in range(len(vs))])
    return out


# The page's threshold, computed once per page (the canon image) from every bubble on it.
_page_cache: dict[int, tuple[Any, float | None]] = {}


def page_threshold(ctx: Any) -> float | None:
    """The page's threshold over all its bubbles, when the reading context says which template
    page it is (``ctx.template``, ``ctx.page``); None otherwise or when there is no clear jump."""
    template, page = getattr(ctx, "template", None), getattr(ctx, "page", None)
    if template is None or page is None:
        return None
    key = id(ctx.canon)
    hit = _page_cache.get(key)
    if hit is not None and hit[0] is ctx.canon:
        return hit[1]
    values: list[float] = []
    for slot in template.slots():
        if slot.page == page and slot.field.mark_style == "bubble":
            values += darkness(ctx.canon, slot.field).values()
    thr = threshold_of(values)
    if len(_page_cache) > 16:
        _page_cache.clear()
    _page_cache[key] = (ctx.canon, thr)
    return thr


def read_bubble_choice(ctx: Any, slot: Slot) -> FieldReading:
    """Read a ``choice`` (or single-bubble ``checkbox``) whose boxes are printed bubbles."""
    f = slot.field
    values = darkness(ctx.canon, f)
    marked, thr, how = decide(values, page_threshold(ctx))
    if how == "uniform":
        spread = max(values.values()) - min(values.values())
        c = conf.for_marks([max(0.0, 1.0 - spread / MIN_JUMP)])
        if max(values.values()) > FALLBACK_THRESHOLD:
            c = min(c, UNSURE)  # all dark alike: a bold print, or every bubble filled? a person decides
    else:
        margin = min(abs(d - thr) for d in values.values())  # half a jump at best
        c = conf.for_marks([min(1.0, 2 * margin / CONFIDENT_JUMP)])
    if how != "field" and len(values) >= 2 and largest_jump(list(values.values()))[0] >= MIN_JUMP / 2:
        c = min(c, UNSURE)  # a light mark, or a darker letter? the field says neither clearly
    errors: list[str] = []
    value: Any
    if f.type == "checkbox":
        value = bool(marked)
    elif f.multiple:
        value = marked
    elif len(marked) > 1:
        value = None
        errors.append("choice.several_marked")
    else:
        value = marked[0] if marked else None
    if f.required and not marked:
        errors.append("required")
    status = FieldStatus.ACCEPTED if not errors and c >= conf.MARK_ACCEPT else FieldStatus.NEEDS_REVIEW
    if ctx.keep_crops:
        ctx.crops[slot.path] = _crop(ctx.canon, slot.box, grow=1.0).copy()
    return FieldReading(path=slot.path, type=f.type, value=value, text=None, confidence=c, status=status,
                        errors=errors, page=slot.page, box=slot.box, engine="bubbles",
                        details={"darkness": values, "marked": marked, "threshold": round(thr, 4), "decided_by": how})
