"""What the review endpoints take and return (pydantic models; the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class FieldPatch(BaseModel):
    value: Any = Field(description="the value as the supervisor sees it on the form. Text types may be typed as "
                                   "written (dates `1130503`, `113/5/3`, `113年5月3日`; phones with dashes): they "
                                   "are normalised and validated by the pipeline's own code. Checkbox and "
                                   "signature: true/false; choice: an option value (a list for a multiple "
                                   "choice); null or \"\" for nothing written. Sending the value shown confirms it.")
    revision: int = Field(description="the record's revision the supervisor saw; 409 if it has changed since")


class RevisionIn(BaseModel):
    revision: int = Field(description="the record's revision the supervisor saw; 409 if it has changed since")


class RejectIn(RevisionIn):
    reason: str = Field(min_length=1, max_length=500,
                        description="why the record is rejected, in plain words (kept on the record, never logged)")


class ClaimOut(BaseModel):
    record_id: int
    user_id: int
    user: str = Field(description="the supervisor's name")
    claimed_at: datetime
    expires_at: datetime = Field(description="renew before this (POST again); after it others may take the record")


class QueueItem(BaseModel):
    id: int
    revision: int
    template: str
    template_version: int
    batch_id: int
    created_at: datetime
    urgent: bool = Field(description="the template's `urgent_when` holds: reviewed first")
    reasons: list[str] = Field(description="codes of what needs a person (field errors and record errors)")
    to_check: int = Field(description="fields that need a person")
    claimed_by: str | None = Field(None, description="the supervisor who has it open, if not you")
    claimed_until: datetime | None = None
    mine: bool = Field(False, description="you have it open")
    url: str


class QueueCounts(BaseModel):
    total: int = Field(description="records waiting for review with these filters")
    urgent: int
    claimed: int = Field(description="open by another supervisor now")
    by_template: dict[str, int]
    by_reason: dict[str, int]
    by_batch: dict[str, int]


class QueueOut(BaseModel):
    items: list[QueueItem] = Field(description="urgent first, then oldest")
    counts: QueueCounts
    next_offset: int | None = Field(description="pass as ?offset= for the next page; null at the end")


class MachineReading(BaseModel):
    value: Any = Field(description="what the machine made of the field")
    text: str | None = Field(description="what the engine read, before normalising")
    confidence: float
    engine: str
    status: str = Field(description="accepted or needs_review, as read (before record-level checks)")
    errors: list[str]
    readings: list[dict[str, Any]] = Field(description="each engine's reading: engine, text, conf (text fields); "
                                                       "for marks, each option's ink fill and state")


class CorrectionOut(BaseModel):
    kind: str = Field(description="confirmed (kept as shown) or corrected (changed)")
    from_value: Any = Field(alias="from")
    to_value: Any = Field(alias="to")
    by: str = Field(description="who: the user's name, or token:ID")
    user_id: int | None
    at: datetime
    revision: int = Field(description="the record revision this change made")

    model_config = {"populate_by_name": True}


class FieldHistory(BaseModel):
    path: str
    type: str
    value: Any
    status: str = Field(description="accepted, needs_review or verified (a person confirmed or corrected it)")
    machine: MachineReading | None
    corrections: list[CorrectionOut]


class RevisionOut(BaseModel):
    revision: int
    kind: str = Field(description="created, updated, corrected, approved, rejected, reopened or superseded")
    status: str = Field(description="the record's status after this change")
    actor: str = Field(description='"system", "user:ID" or "token:ID"')
    by: str | None = Field(description="the user's name, where a person made the change")
    at: datetime
    detail: dict[str, Any] = Field(description="ids, codes and field paths (never values)")


class HistoryOut(BaseModel):
    record_id: int
    revision: int
    status: str
    rejection_reason: str | None
    revisions: list[RevisionOut] = Field(description="oldest first")
    fields: dict[str, FieldHistory]


class GroupItemIn(BaseModel):
    record_id: int
    path: str
    value: Any = Field(description="as in PATCH /records/{id}/fields/{path}")
    revision: int = Field(description="the record's revision when the grid was shown; for several fields of one "
                                      "record, the revision left by the previous item is used after the first")


class GroupIn(BaseModel):
    items: list[GroupItemIn] = Field(min_length=1, max_length=500)


class GroupResult(BaseModel):
    record_id: int
    path: str
    ok: bool
    kind: str | None = Field(None, description="confirmed or corrected, when ok")
    revision: int | None = Field(None, description="the record's revision after this item")
    status: int = Field(description="HTTP status this item would have had alone: 200, 404, 409, 422")
    error: str | None = None
    detail: str | None = None


class GroupOut(BaseModel):
    results: list[GroupResult]
    confirmed: int
    corrected: int
    failed: int


class GroupCell(BaseModel):
    record_id: int
    revision: int
    path: str
    type: str
    label_zh: str
    label_en: str
    value: Any
    reasons: list[str]
    crop_url: str | None
    options: list[dict[str, str]] = Field(default_factory=list, description="for a choice: value, zh, en")
    multiple: bool = False


class GroupView(BaseModel):
    template: str | None
    field: str | None
    type: str | None
    cells: list[GroupCell]
    records: int


class TypeStat(BaseModel):
    type: str
    checked: int = Field(description="fields the machine accepted that a person then checked in spot checks")
    wrong: int = Field(description="of those, how many the person changed")
    rate: float | None = Field(description="wrong / checked: the measured silent-error rate")
    low: float | None = Field(description="lower bound of its 95% Wilson interval")
    high: float | None = Field(description="upper bound of its 95% Wilson interval")


class StatsOut(BaseModel):
    spot_check_share: float = Field(description="the configured share of straight-through records sampled")
    records_checked: int = Field(description="spot-check records approved")
    records_waiting: int = Field(description="spot-check records still in the queue")
    types: list[TypeStat]
    total: TypeStat
