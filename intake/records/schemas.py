"""What the record endpoints return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ConversionNote(BaseModel):
    field: str
    change: Literal["added", "removed", "value_dropped"] = Field(
        description="added: the asked version has this field and the form did not (its empty value is given); "
                    "removed: the form had this field and the asked version has not (left out); "
                    "value_dropped: a value (e.g. an option) has no equivalent in the asked version")


class RecordItem(BaseModel):
    id: int
    revision: int = Field(description="grows with every change; the feed is ordered by it")
    status: str = Field(description="accepted (straight through), needs_review, approved (after review), "
                                    "rejected or superseded")
    template: str
    template_version: int = Field(description="the version whose schema `data` follows: the version of the "
                                              "form itself, or `as_version` when asked")
    read_version: int = Field(description="the version of the form the record was read from (its QR code)")
    conversion: list[ConversionNote] | None = Field(
        None, description="with ?as_version=N, what did not carry over from the form's own version "
                          "(null when the record is in its own shape)")
    batch_id: int
    created_at: datetime
    updated_at: datetime
    data: dict[str, Any] = Field(description="valid against GET /templates/{id}/versions/{n}/schema "
                                             "when accepted")
    errors: list[dict[str, Any]]
    url: str


class Feed(BaseModel):
    items: list[RecordItem]
    next: str = Field(description="opaque cursor: ask again with ?after=<next> for later changes")


class RecordPage(BaseModel):
    page_id: int
    batch_id: int
    file: str
    index: int
    template_page: int | None


class Provenance(BaseModel):
    page_id: int | None
    template_page: int = Field(description="1-based page of the template")
    box: list[float] = Field(description="x, y, width, height in mm on the template page")
    confidence: float
    engine: str = Field(description='what read the value: "ppocr_tiny+tesseract:chi_tra" or '
                                    '"ppocr+tesseract:chi_tra" when Tesseract and one of PP-OCR\'s two '
                                    'recognisers (tiny, small) read it alike, "ppocr" or "tesseract:eng" when '
                                    'one reading was kept, "marks" or "bubbles" for boxes, "ink" for a '
                                    'signature or a field with nothing written')
    text: str | None = Field(description="what the engine read, before normalising")
    crop_url: str | None


class Correction(BaseModel):
    original_value: Any = Field(description="the value as read by the machine")
    corrected_by: int | None = Field(description="the supervisor's user id (null for an API token)")
    corrected_at: datetime = Field(description="the last confirmation or correction; every one is in "
                                               "GET /records/{id}/history")


class FieldOut(BaseModel):
    value: Any
    type: str
    status: str = Field(description="accepted (by the machine), needs_review, or verified (a supervisor "
                                    "confirmed or corrected it)")
    errors: list[str] = Field(description="why it needs a person: stable codes (see the review station's "
                                          "reasons), e.g. low_confidence, national_id.checksum, rule.not_after")
    provenance: Provenance
    correction: Correction | None = None


class FamilyRef(BaseModel):
    id: int
    url: str


class RecordOut(RecordItem):
    pages: list[RecordPage]
    fields: dict[str, FieldOut]
    family: FamilyRef | None = Field(None, description="the family (家庭歸戶) the record belongs to: given to "
                                                       "supervisors and tokens with families:read, null for others "
                                                       "and when nothing links the record to another")
