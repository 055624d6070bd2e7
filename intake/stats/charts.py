"""Bar charts as SVG, drawn on the server from a release's cells (no script, no framework).

A withheld cell is drawn as an empty, dashed bar at the axis with "×", never as a height, so the
picture tells no more than the table does."""

from __future__ import annotations

from html import escape
from typing import Any

BAR = 18  # px per bar (horizontal charts)


def _label(c: dict[str, Any], most: int = 10) -> str:
    """The zh label, shortened for the chart (the table beside it gives it in full)."""
    lab = c.get("label") or {}
    text = lab.get("zh") or c["key"]
    return text if len(text) <= most else text[: most - 1] + "…"


def _value(c: dict[str, Any]) -> str:
    return "×" if c["suppressed"] else str(c["count"])


def horizontal(cells: list[dict[str, Any]], title: str, width: int = 520) -> str:
    """One bar per cell, labels on the left (counties, categories)."""
    cells = [c for c in cells if c["suppressed"] or c["count"]]
    label_w, value_w = 150, 48
    plot = width - label_w - value_w
    top = max([c["count"] or 0 for c in cells] + [1])
    height = BAR * len(cells) + 8
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, c in enumerate(cells):
        y = 4 + i * BAR
        parts.append(f'<text class="axis-label" x="{label_w - 6}" y="{y + BAR * 0.7:.1f}" '
                     f'text-anchor="end">{escape(_label(c))}</text>')
        if c["suppressed"]:
            parts.append(f'<rect class="bar-hidden" x="{label_w}" y="{y + 2}" width="{plot * 0.06:.1f}" '
                         f'height="{BAR - 5}"/>')
            x_val = label_w + plot * 0.06 + 4
        else:
            w = max(1.0, plot * (c["count"] / top))
            parts.append(f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{BAR - 5}"/>')
            x_val = label_w + w + 4
        parts.append(f'<text class="value" x="{x_val:.1f}" y="{y + BAR * 0.7:.1f}">{_value(c)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def vertical(cells: list[dict[str, Any]], title: str, width: int = 520, height: int = 200) -> str:
    """One column per cell, in order (months)."""
    if not cells:
        return ""
    bottom, top_pad = height - 34, 16
    step = (width - 20) / len(cells)
    top = max([c["count"] or 0 for c in cells] + [1])
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line class="axis" x1="10" y1="{bottom}" x2="{width - 10}" y2="{bottom}"/>']
    for i, c in enumerate(cells):
        x = 10 + i * step
        bw = max(2.0, step * 0.7)
        if c["suppressed"]:
            parts.append(f'<rect class="bar-hidden" x="{x + step * 0.15:.1f}" y="{bottom - 8}" width="{bw:.1f}" '
                         f'height="8"/>')
            vy = bottom - 12
        else:
            h = (bottom - top_pad) * (c["count"] / top)
            parts.append(f'<rect class="bar" x="{x + step * 0.15:.1f}" y="{bottom - h:.1f}" width="{bw:.1f}" '
                         f'height="{h:.1f}"/>')
            vy = bottom - h - 3
        cx = x + step / 2
        parts.append(f'<text class="value" x="{cx:.1f}" y="{vy:.1f}" text-anchor="middle">{_value(c)}</text>')
        parts.append(f'<text class="axis-label" x="{cx:.1f}" y="{bottom + 14}" text-anchor="middle">'
                     f'{escape(c["key"][2:] if c["key"][:2] == "20" else c["key"])}</text>')
    parts.append("</svg>")
    return "".join(parts)
