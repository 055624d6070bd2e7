"""GET /stats: open statistics, no token needed (see `intake.stats`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from intake.auth.deps import app_settings
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.stats.service import release, select_view

router = APIRouter(tags=["statistics"])


class StatCell(BaseModel):
    key: str = Field(description='a month "YYYY-MM", a county or city, a category code, "unknown", "none", '
                                 'or "total"')
    count: int | None = Field(description="the number of records; null when suppressed")
    suppressed: bool = Field(description="withheld: below the threshold, or withheld to protect such a cell")
    label: dict[str, str | None] | None = Field(None, description="zh and en")


class ScopeStats(BaseModel):
    total: StatCell
    by_month: list[StatCell] | None = None
    by_county: list[StatCell] | None = None
    by_category: list[StatCell] | None = None
    categories_add_up: bool | None = Field(None, description="false where a record may be in several categories "
                                                             "(the categories do not add up to the total)")


class TemplateCount(BaseModel):
    id: str
    title: dict[str, str | None]
    key: str
    count: int | None
    suppressed: bool


class StatsOut(BaseModel):
    threshold: int = Field(description="cells below this are suppressed (never below 3)")
    statuses: list[str] = Field(description="the record statuses counted")
    generated_at: datetime
    revision: int = Field(description="the records' state the figures are computed from")
    templates: list[TemplateCount]
    scopes: dict[str, ScopeStats] = Field(description='"all" (every template) and one per template')


@router.get("/stats", response_model=StatsOut)
def stats(settings: Annotated[Settings, Depends(app_settings)],
          template: Annotated[str | None, Query(max_length=64, description="only this template's tables")] = None,
          by: Annotated[Literal["month", "county", "category"] | None, Query(description="only this breakdown")] = None
          ) -> StatsOut:
    """Counts of accepted and approved records by template, month, county or city, and report
    category, with no personal data and no token needed. Cells below the threshold are
    suppressed, and further cells where needed so that no suppressed cell can be worked out from
    the totals or by subtracting one table from another; every answer is part of one release."""
    reg = registry_for(settings)
    if template is not None:
        reg.get(template)
    return StatsOut.model_validate(select_view(release(settings, reg), template, by))
