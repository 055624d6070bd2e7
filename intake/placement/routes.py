"""Placement endpoints (supervisors and admins; clerks and API tokens get 403, every change is
audited): pages waiting to be placed, a page's placement, place it, forget it, set a page aside."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.deps import app_settings, db_session, require_role
from intake.auth.service import Principal
from intake.batches import service as batches
from intake.batches.schemas import PageOut
from intake.config import Settings
from intake.db.models import BatchFile, PagePlacement
from intake.placement import service
from intake.placement.schemas import PageList, PlacementIn, PlacementView, TargetOut

router = APIRouter(tags=["placement"])
DbSession = Annotated[Session, Depends(db_session)]
AppSettings = Annotated[Settings, Depends(app_settings)]
Placer = Annotated[Principal, Depends(require_role(*service.PLACER_ROLES))]
API = "/api/v1"
FORBIDDEN = {403: {"description": "not a supervisor or admin (clerks and API tokens may not place pages)"}}


def target_out(t: service.Target) -> TargetOut:
    tp = t.template
    return TargetOut(template=tp.id, version=tp.version, page=t.page, title=tp.title.model_dump(),
                     pages=len(tp.pages), page_size_mm=list(tp.page_size_mm), points_kind=t.points_kind,
                     points_mm=t.points_mm, image_url=f"{API}/templates/{tp.id}/versions/{tp.version}/pages/{t.page}/image")


@router.get("/pages/to-place", response_model=PageList, responses=FORBIDDEN)
def pages_to_place(principal: Placer, session: DbSession,
                   batch: Annotated[int | None, Query(description="only this batch")] = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   after: Annotated[int | None, Query(description="the `next` of the previous answer")] = None
                   ) -> PageList:
    """Pages the pipeline could not place (unidentified, unregistered, blank), in upload order."""
    pages = service.pages_to_place(session, principal, batch_id=batch, limit=limit, after=after)
    files = {f.id: f for f in session.scalars(select(BatchFile).where(BatchFile.id.in_({p.file_id for p in pages})))}
    audit(session, principal.actor, "page.list_to_place", "page", count=len(pages))
    session.commit()
    return PageList(items=batches.pages_out(session, pages, files),
                    next=str(pages[-1].id) if len(pages) == limit else None)


@router.get("/pages/{page_id}/placement", response_model=PlacementView, responses=FORBIDDEN)
def get_placement(page_id: int, principal: Placer, session: DbSession, settings: AppSettings) -> PlacementView:
    """The page, its placement (if any), and the template pages it may be placed on."""
    page = batches.page_out_for(session, page_id, principal)
    placed = session.scalar(select(PagePlacement).where(PagePlacement.page_id == page_id))
    audit(session, principal.actor, "page.placement", "page", page_id)
    session.commit()
    return PlacementView(page=page, placement=batches.placement_out(placed) if placed else None,
                         can_place=page.status in service.PLACEABLE, can_set_aside=page.status in service.SETTABLE_ASIDE,
                         targets=[target_out(t) for t in service.targets(settings)])


@router.put("/pages/{page_id}/placement", status_code=202, response_model=PageOut,
            responses=FORBIDDEN | {409: {"description": "the page is not one the pipeline could not place"},
                                   422: {"description": "no such template page, or the points cannot be used "
                                                        "(error placement_invalid)"}})
def place_page(page_id: int, body: PlacementIn, principal: Placer, session: DbSession,
               settings: AppSettings) -> PageOut:
    """Say where a page belongs, and read it again with that: a template page (the pipeline then
    registers the page on it by its marks or features), and for a page that could not be lined up,
    its four reference points. 202: the page is queued; follow the batch's events."""
    service.place_page(page_id, principal, settings, form_id=body.template, version=body.version, page=body.page,
                       points=body.points)
    return batches.page_out_for(session, page_id, principal)


@router.delete("/pages/{page_id}/placement", status_code=202, response_model=PageOut,
               responses=FORBIDDEN | {404: {"description": "the page has no placement"}})
def clear_placement(page_id: int, principal: Placer, session: DbSession, settings: AppSettings) -> PageOut:
    """Forget the page's placement and read it again with the pipeline's own search."""
    service.clear_placement(page_id, principal, settings)
    return batches.page_out_for(session, page_id, principal)


@router.post("/pages/{page_id}/set-aside", response_model=PageOut,
             responses=FORBIDDEN | {409: {"description": "the page is part of a form (read) or still being read"}})
def set_aside(page_id: int, principal: Placer, session: DbSession, settings: AppSettings) -> PageOut:
    """Set aside a page that is not part of any form (a blank back, a cover letter): it no longer
    counts as a problem of its batch, and forms on either side of it are assembled as if it were
    not there. Re-running or placing the page brings it back."""
    service.set_aside(page_id, principal, settings)
    return batches.page_out_for(session, page_id, principal)
