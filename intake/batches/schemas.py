"""What the batch endpoints return (pydantic models; they are the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    code: str = Field(description="stable code, e.g. unsupported_file_type, unidentified, corrupt_file")
    message: str | None = Field(None, description="what is wrong, in plain words")


class ProgressOut(BaseModel):
    done: int = Field(description="pages in a final state")
    total: int
    eta_seconds: float | None = Field(
        description="null until a page of this batch has been processed; then remaining pages / observed rate")
    counts: dict[str, int] = Field(default_factory=dict, description="pages per status")
    rate_per_minute: float | None = None


class PlacementOut(BaseModel):
    """Where a supervisor placed a page the pipeline could not place."""

    template: str
    template_version: int
    template_page: int = Field(description="1-based page of the template")
    points: list[list[float]] | None = Field(
        None, description="the four points [x, y] given, as fractions of the page image's width and height, "
                          "clockwise from the form's top-left; null when only the template page was chosen")
    placed_by: int | None = Field(None, description="user id")
    placed_at: datetime


class PageOut(BaseModel):
    id: int
    batch_id: int
    file_id: int
    file: str
    index: int = Field(description="1-based page number in its file")
    position: int = Field(description="0-based order in the batch")
    status: str = Field(description="the page's processing state: queued, processing, read, unidentified, "
                                    "unregistered, unreadable_file, blank, failed, cancelled or set_aside")
    stage: str
    attempts: int
    template: str | None = None
    template_version: int | None = None
    template_page: int | None = None
    alignment: float | None = Field(None, description="share of the form's printed lines found where they "
                                                      "belong once the page was registered (0..1)")
    error: ErrorOut | None = None
    record_id: int | None = None
    record_status: str | None = Field(None, description="the status of the page's record: accepted, needs_review, "
                                                        "approved, rejected or superseded")
    record_url: str | None = None
    preview_url: str | None = None
    thumbnail_url: str | None = None
    placement: PlacementOut | None = None
    updated_at: datetime


class DuplicateOf(BaseModel):
    batch_id: int
    file_id: int


class FileOut(BaseModel):
    id: int
    position: int
    filename: str
    size: int
    sha256: str
    kind: str | None
    pages: int
    status: str = Field(description="accepted, duplicate (linked, not processed again) or refused")
    error: ErrorOut | None = None
    duplicate_of: DuplicateOf | None = Field(
        None, description="for a duplicate: the upload it is linked to, when that upload is the caller's own (or "
                          "the caller reads every batch); null when another user sent it: the file was already "
                          "received, nothing more is said")
    linked_pages: list[PageOut] = Field(default_factory=list,
                                        description="for a duplicate: the pages of the first upload (same rule as "
                                                    "`duplicate_of`)")


class ReviewOut(BaseModel):
    """What in a batch still needs a person."""

    records: dict[str, int] = Field(default_factory=dict,
                                    description="records of the batch by status (superseded ones left out)")
    records_needs_review: int = Field(0, description="records waiting for a supervisor")
    pages_needs_review: int = Field(0, description="read pages whose record needs review")
    pages_to_place: int = Field(0, description="pages a supervisor must place or set aside: unidentified, "
                                               "unregistered, blank")
    pages_unreadable: int = Field(0, description="pages that could not be opened or failed: rescan or re-run")
    problems: int = Field(0, description="pages the problems-only filter shows: the three counts above added up")


class BatchSummary(BaseModel):
    id: int
    status: str = Field(description="processing, done or cancelled")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    files_count: int
    pages_count: int
    progress: ProgressOut
    review: ReviewOut = Field(default_factory=ReviewOut)
    url: str


class BatchOut(BatchSummary):
    files: list[FileOut]
    pages: list[PageOut] = Field(description="the pages asked for (all of them unless ?problems, ?start or "
                                             "?limit narrow it), in batch order")
    pages_matching: int = Field(0, description="pages matching ?problems in the whole batch")
    pages_next_start: int | None = Field(None, description="pass as ?start= for the pages after these; null at "
                                                           "the end")


class BatchList(BaseModel):
    items: list[BatchSummary]
    next: str | None = Field(description="pass as ?before= for older batches; null at the end")


class PageEventOut(BaseModel):
    """The data of an SSE ``page`` event."""

    seq: int
    page: PageOut
