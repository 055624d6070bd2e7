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


class PageOut(BaseModel):
    id: int
    batch_id: int
    file_id: int
    file: str
    index: int = Field(description="1-based page number in its file")
    position: int = Field(description="0-based order in the batch")
    status: str = Field(description="queued, processing, read, unidentified, unregistered, unreadable_file, "
                                    "failed or cancelled")
    stage: str
    attempts: int
    template: str | None = None
    template_version: int | None = None
    template_page: int | None = None
    alignment: float | None = None
    error: ErrorOut | None = None
    record_id: int | None = None
    record_url: str | None = None
    preview_url: str | None = None
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
    duplicate_of: DuplicateOf | None = None
    linked_pages: list[PageOut] = Field(default_factory=list,
                                        description="for a duplicate: the pages of the first upload")


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
    url: str


class BatchOut(BatchSummary):
    files: list[FileOut]
    pages: list[PageOut]


class BatchList(BaseModel):
    items: list[BatchSummary]
    next: str | None = Field(description="pass as ?before= for older batches; null at the end")


class PageEventOut(BaseModel):
    """The data of an SSE ``page`` event."""

    seq: int
    page: PageOut
