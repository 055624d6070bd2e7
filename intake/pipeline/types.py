"""What the pipeline stages hand each other and what they produce. Plain data, JSON-friendly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class PageStatus(StrEnum):
    READ = "read"  # identified, registered and its fields read
    UNIDENTIFIED = "unidentified"  # not one of our forms (or not a form at all)
    UNREGISTERED = "unregistered"  # identified but could not be aligned well enough to read
    UNREADABLE = "unreadable_file"  # the page itself could not be decoded
    BLANK = "blank"  # nothing printed or written on it (the back of a sheet, a separator)


class FieldStatus(StrEnum):
    ACCEPTED = "accepted"
    NEEDS_REVIEW = "needs_review"


class Agreement(StrEnum):
    """How the engines' readings of a text field relate (`read.second_opinion`), which decides
    how far its value is trusted: `confidence.py` is calibrated per kind. Stored in a reading's
    ``details["agreement"]``."""

    AGREE_TINY = "agree_tiny"  # Tesseract's first reading and PP-OCR's tiny recogniser, both sure
    AGREE = "agree"  # Tesseract's first reading and PP-OCR's small recogniser
    AGREE_SECOND = "agree_second"  # PP-OCR (small) and Tesseract's second reading, the first differed
    SINGLE = "single"  # one confident valid Tesseract reading of a strongly validated type
    DISAGREE = "disagree"  # no two readings gave the same valid value

    @property
    def first_time(self) -> bool:
        """Two engines that work differently gave the same value at once: the strongest evidence."""
        return self in (Agreement.AGREE, Agreement.AGREE_TINY)


@dataclass(kw_only=True)
class FieldReading:
    """One value read from one place on a page. Built by keyword only: eleven fields, several of
    the same type, are too easy to pass in the wrong order."""

    path: str  # "child_name", "household_members[2].name"
    type: str
    value: Any  # normalised value (None when empty or unreadable)
    text: str | None  # what the engine read, before normalising; None for marks
    confidence: float  # 0..1: how likely `value` is right
    status: FieldStatus
    errors: list[str] = field(default_factory=list)  # codes: "required", "national_id.checksum", ...
    page: int = 0  # template page index (0-based)
    box: tuple[float, float, float, float] = (0, 0, 0, 0)  # mm on the template page
    engine: str = ""  # "ppocr_tiny+tesseract:chi_tra" / "ppocr+tesseract:chi_tra" (two engines agreed),
    # "ppocr", "tesseract:eng" (one reading kept), "marks", "ink"
    details: dict[str, Any] = field(default_factory=dict)  # per-option fill ratios, raw confidences

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (for storing a page's readings); see `from_dict`."""
        d = asdict(self)
        d["status"] = str(self.status)
        d["box"] = list(self.box)
        return jsonable(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FieldReading:
        d = dict(d)
        d["status"] = FieldStatus(d["status"])
        d["box"] = tuple(d["box"])
        return cls(**d)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "status": str(self.status),
            "errors": list(self.errors),
        }


@dataclass
class Located:
    """Where a page sits: which template page, and the transform from image pixels to template mm."""

    form_id: str
    version: int
    page: int  # 0-based template page
    pages: int  # pages in the form
    homography: np.ndarray  # 3x3, image px -> template mm
    method: str  # "marks+qr", "marks", "qr", "features"
    alignment: float = 0.0  # 0..1, filled in by registration
    min_alignment: float | None = None  # the alignment it must reach, where registration lowered it


@dataclass
class PageResult:
    file: str
    index: int  # 1-based page in the file
    status: PageStatus
    reason: str | None = None  # for a person: why the page was not read
    error_code: str | None = None
    form_id: str | None = None
    version: int | None = None
    template_page: int | None = None  # 1-based
    pages_in_form: int | None = None
    alignment: float | None = None
    method: str | None = None
    rotation: int = 0  # degrees counter-clockwise that turn the scan upright: np.rot90(scan, rotation // 90)
    fields: list[FieldReading] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # Registration, for showing a field's box on the page as scanned: the image's [width, height]
    # in pixels and the template page's corners (top-left, top-right, bottom-right, bottom-left)
    # in the image's pixels. None where the page was not registered.
    image_size: list[int] | None = None
    corners: list[list[float]] | None = None
    crops: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # field path -> grey crop
    # The page's measured quality (`pipeline/quality.py`): dpi, blur, contrast, illumination,
    # binary and its class ("scan", "fax", "photo", "poor"). None where the page was not read.
    quality: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the crops and the image, JSON-ready; see `from_dict`."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("crops", "fields")}
        d["status"] = str(self.status)
        d["fields"] = [f.to_dict() for f in self.fields]
        return jsonable(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PageResult:
        d = dict(d)
        d["status"] = PageStatus(d["status"])
        d["fields"] = [FieldReading.from_dict(f) for f in d.get("fields", [])]
        return cls(**d)

    def page_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file, "page": self.index}
        if self.template_page is not None:
            out["template_page"] = self.template_page
        if self.alignment is not None:
            out["alignment"] = round(self.alignment, 4)
        out["status"] = str(self.status)
        if self.reason:
            out["reason"] = self.reason
            out["error"] = self.error_code
        return out


def jsonable(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
