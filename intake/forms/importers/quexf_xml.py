"""queXF banding XML: pages with their corner marks, box groups and boxes (pixels at 300 dpi).

Layout (queXF ``doc/`` and ``database/quexf.sql``): ``questionnaire > section (id, title,
label)``, ``questionnaire > page (id, tlx..bly, rotation) > boxgroup (type, width, varname,
label, groupsection idref) > box (tlx, tly, brx, bry, value, label)``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from intake.errors import TemplateError

CORNERS = ("tl", "tr", "br", "bl")
XML_DPI = 300.0  # queXF's banding coordinates: pixels of the printed original at 300 dpi


@dataclass
class QBox:
    x0: float
    y0: float
    x1: float
    y1: float
    value: str
    label: str


@dataclass
class QGroup:
    type: int
    width: int
    varname: str
    label: str
    section: str | None
    boxes: list[QBox] = field(default_factory=list)


@dataclass
class QPage:
    id: str
    corners: dict[str, tuple[float, float]]
    groups: list[QGroup] = field(default_factory=list)


def _num(el: ET.Element, tag: str) -> float:
    text = el.findtext(tag)
    if text is None or not text.strip():
        raise TemplateError(f"banding XML: <{el.tag}> has no <{tag}>")
    return float(text)


def parse_banding(path: Path) -> tuple[list[QPage], dict[str, str]]:
    """Pages (with corner marks and box groups) and section titles by section id."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - a local file the administrator chose
    except (ET.ParseError, OSError) as exc:
        raise TemplateError(f"{path.name} is not a readable queXF banding XML: {exc}") from exc
    q = root.find("questionnaire") if root.tag != "questionnaire" else root
    if q is None:
        raise TemplateError(f"{path.name} has no <questionnaire>: not a queXF banding XML")
    sections = {}
    for s in q.findall("section"):
        title = ": ".join(t for t in ((s.findtext("title") or "").strip(), (s.findtext("label") or "").strip()) if t)
        sections[s.get("id", "")] = title
    pages = []
    for p in q.findall("page"):
        corners = {k: (_num(p, f"{k}x"), _num(p, f"{k}y")) for k in CORNERS}
        page = QPage((p.findtext("id") or "").strip(), corners)
        for g in p.findall("boxgroup"):
            sec = g.find("groupsection")
            group = QGroup(int(_num(g, "type")), int(float(g.findtext("width") or 0)),
                           (g.findtext("varname") or "").strip(), (g.findtext("label") or "").strip(),
                           sec.get("idref") if sec is not None else None)
            for b in g.findall("box"):
                group.boxes.append(QBox(_num(b, "tlx"), _num(b, "tly"), _num(b, "brx"), _num(b, "bry"),
                                        (b.findtext("value") or "").strip(), (b.findtext("label") or "").strip()))
            page.groups.append(group)
        pages.append(page)
    if not pages:
        raise TemplateError(f"{path.name} describes no pages")
    return pages, sections
