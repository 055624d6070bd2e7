"""What the placement endpoints take and return (pydantic models; the OpenAPI document's schemas)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from intake.batches.schemas import PageOut, PlacementOut


class PlacementIn(BaseModel):
    """Where a page belongs. Without `points` the page is registered on that template page by the
    pipeline (its marks, else image features); with them, by the homography from the four points."""

    template: str = Field(description="form id, e.g. child_protection", max_length=64)
    version: int = Field(ge=1, description="template version")
    page: int = Field(ge=1, description="1-based page of the template")
    points: list[list[float]] | None = Field(
        None, min_length=4, max_length=4,
        description="where the page shows the template's four reference points (the registration squares' "
                    "centres; a form printed without them: the paper's corners), as [x, y] fractions (0..1) of the "
                    "page image's width and height, clockwise from the form's top-left (top-left, top-right, "
                    "bottom-right, bottom-left of the form, however the scan is turned). A point on or near a "
                    "registration square is moved to its centre.")


class TargetOut(BaseModel):
    """A template page one may place a page on."""

    template: str
    version: int
    page: int = Field(description="1-based")
    title: dict[str, str | None]
    pages: int = Field(description="pages in the form")
    page_size_mm: list[float] = Field(description="[width, height] in millimetres")
    points_kind: str = Field(description="what the four points are: marks (registration squares) or corners "
                                         "(of the paper)")
    points_mm: list[list[float]] = Field(description="where they are on the template page, mm, clockwise from "
                                                     "top-left")
    image_url: str = Field(description="the blank template page as a small image")


class PlacementView(BaseModel):
    page: PageOut
    placement: PlacementOut | None = Field(description="the page's placement, if a supervisor gave one")
    can_place: bool = Field(description="the page is in a state where it may be placed now")
    can_set_aside: bool = Field(description="the page is in a state where it may be set aside now")
    targets: list[TargetOut] = Field(description="every installed template page (the picker's choices)")


class PageList(BaseModel):
    items: list[PageOut]
    next: str | None = Field(description="pass as ?after= for more; null at the end")
