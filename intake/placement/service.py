"""Pages the pipeline could not place, and what a supervisor does about them.

A page ends `unidentified` (no form found), `unregistered` (the form is known but could not be
lined up) or `blank` (nothing on it). A supervisor or admin (never a clerk, never an API token)
then:

- `place_page`: says which template page it is (the picker), and for a page that could not be
  lined up, where its four reference points are (the four clicks; see `intake.pipeline.place`).
  The placement is stored (`PagePlacement`, replacing an earlier one) and the page is queued
  again: processing reads it with the placement (`intake.batches.processing`), and assembly
  puts it into a record with the rest of its form.
- `clear_placement`: forgets a placement and reads the page again with the pipeline's own search.
- `set_aside`: a page that is not part of any form (a blank back, a cover letter) is set aside,
  so it no longer counts as a problem of the batch and does not split a form (assembly skips it,
  see `intake.batches.assembly`). Re-running or placing the page brings it back.

Every change is audited (ids and codes only) and written as a page event in the same
transaction; work is enqueued after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from intake import dispatch
from intake.auth.audit import audit
from intake.auth.service import Principal
from intake.batches.assembly import touch_neighbours
from intake.batches.processing import registry_for
from intake.batches.progress import add_events
from intake.batches.service import get_batch_for
from intake.config import Settings
from intake.db.models import (
    FINAL_PAGE_STATES,
    UNPLACED_PAGE_STATES,
    Batch,
    BatchState,
    Page,
    PagePlacement,
    PageState,
    utcnow,
)
from intake.db.session import get_db
from intake.errors import Conflict, NotFound, PermissionDenied, TemplateError
from intake.forms.model import Template
from intake.pipeline.place import PlacementInvalid, check_points, reference_points

PLACER_ROLES = ("supervisor", "admin")
# A page may be placed when the pipeline could not place it, or after it was set aside.
PLACEABLE = frozenset(UNPLACED_PAGE_STATES | {PageState.SET_ASIDE})
# A page may be set aside when it is not (yet) part of a form.
SETTABLE_ASIDE = frozenset(UNPLACED_PAGE_STATES | {PageState.UNREADABLE, PageState.FAILED})


def can_place(principal: Principal | None) -> bool:
    """Supervisors and admins signed in as themselves (API tokens never place pages)."""
    return principal is not None and principal.kind == "user" and principal.role in PLACER_ROLES


def check_can_place(principal: Principal) -> None:
    if not can_place(principal):
        raise PermissionDenied("placing pages and setting them aside is for supervisors and admins")


@dataclass(frozen=True)
class Target:
    """A template page a page may be placed on, and what its four reference points are."""

    template: Template
    page: int  # 1-based

    @property
    def key(self) -> str:
        return f"{self.template.id}:{self.template.version}:{self.page}"

    @property
    def points_kind(self) -> str:
        return reference_points(self.template)[0]

    @property
    def points_mm(self) -> list[list[float]]:
        return [[round(float(x), 2), round(float(y), 2)] for x, y in reference_points(self.template)[1]]


def targets(settings: Settings) -> list[Target]:
    """Every installed template page, by form, version (newest first) and page."""
    reg = registry_for(settings)
    out = []
    for form_id in reg.ids():
        for version in sorted(reg.versions(form_id), reverse=True):
            t = reg.get(form_id, version)
            out.extend(Target(t, p) for p in range(1, len(t.pages) + 1))
    return out


def target(settings: Settings, form_id: str, version: int, page: int) -> Target:
    """The template page, or PlacementInvalid naming what does not exist."""
    try:
        t = registry_for(settings).get(form_id, version)
    except TemplateError:
        raise PlacementInvalid(f"there is no form template {form_id} version {version}") from None
    if not 1 <= page <= len(t.pages):
        raise PlacementInvalid(f"{form_id} version {version} has {len(t.pages)} page(s), not a page {page}")
    return Target(t, page)


def parse_target(text: str) -> tuple[str, int, int]:
    """"form:version:page" (the picker's value) as a tuple, or PlacementInvalid."""
    parts = (text or "").split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise PlacementInvalid("choose a form, version and page")
    return parts[0], int(parts[1]), int(parts[2])


# ---------------------------------------------------------------- changes
def _page_for_change(s: Session, page_id: int, principal: Principal) -> tuple[Batch, Page]:
    """The batch row, then the page row, locked (the lock order of `intake.batches.assembly`)."""
    check_can_place(principal)
    batch_id = s.scalar(select(Page.batch_id).where(Page.id == page_id))
    if batch_id is None:
        raise NotFound(f"there is no page {page_id}")
    batch = get_batch_for(s, batch_id, principal, lock=True)
    page = s.get(Page, page_id, with_for_update=True)
    assert page is not None
    if batch.status == BatchState.CANCELLED:
        raise Conflict("the batch was cancelled; upload the file again to read it")
    return batch, page


def _requeue(s: Session, batch: Batch, page: Page, settings: Settings) -> None:
    """Queue a final page to be read again (as `rerun_page` does)."""
    touch_neighbours(s, page)  # a blank or set-aside page may split again what was joined across it
    now = utcnow()
    page.status, page.stage, page.attempts = PageState.QUEUED, "queued", 0
    page.error_code = page.error_message = None
    page.enqueued_at = page.updated_at = now
    page.finished_at = None
    if batch.status == BatchState.DONE:
        batch.status, batch.finished_at = BatchState.PROCESSING, None
    add_events(s, [page])
    dispatch.enqueue_page(page.id, settings=settings, session=s)


def place_page(page_id: int, principal: Principal, settings: Settings, *, form_id: str, version: int, page: int,
               points: Sequence[Sequence[float]] | None = None) -> None:
    """Store where `page_id` belongs (a template page, and optionally its four reference points)
    and read it again with that. See the module docstring."""
    tgt = target(settings, form_id, version, page)
    pts = check_points(points) if points is not None else None
    with get_db(settings).session() as s:
        batch, row = _page_for_change(s, page_id, principal)
        if row.status not in PLACEABLE:
            raise Conflict(f"only a page that could not be placed can be placed by hand; this page is {row.status}")
        placed = s.scalar(select(PagePlacement).where(PagePlacement.page_id == page_id))
        if placed is None:
            placed = PagePlacement(page_id=page_id)
            s.add(placed)
        placed.template_id, placed.template_version, placed.template_page = tgt.template.id, tgt.template.version, page
        placed.points = [list(p) for p in pts] if pts is not None else None
        placed.placed_by_id, placed.placed_at = principal.id, utcnow()
        audit(s, principal.actor, "page.place", "page", page_id, template=tgt.template.id, version=tgt.template.version,
              template_page=page, kind="points" if pts is not None else "template", batch=batch.id)
        _requeue(s, batch, row, settings)


def clear_placement(page_id: int, principal: Principal, settings: Settings) -> None:
    """Forget the page's placement and read it again with the pipeline's own search."""
    with get_db(settings).session() as s:
        batch, row = _page_for_change(s, page_id, principal)
        placed = s.scalar(select(PagePlacement).where(PagePlacement.page_id == page_id))
        if placed is None:
            raise NotFound(f"page {page_id} has no placement")
        if row.status not in FINAL_PAGE_STATES:
            raise Conflict("the page is still waiting or being read")
        s.delete(placed)
        audit(s, principal.actor, "page.unplace", "page", page_id, batch=batch.id)
        _requeue(s, batch, row, settings)


def set_aside(page_id: int, principal: Principal, settings: Settings) -> None:
    """Set aside a page that is not part of a form (see the module docstring). Its reason stays."""
    with get_db(settings).session() as s:
        batch, row = _page_for_change(s, page_id, principal)
        if row.status not in SETTABLE_ASIDE:
            raise Conflict(f"only a page that is not part of a form can be set aside; this page is {row.status}")
        was = row.status
        row.status, row.stage, row.updated_at = PageState.SET_ASIDE, "set_aside", utcnow()
        row.error_code = row.error_code or was
        row.needs_assembly = True  # the pages around it may now be one form
        audit(s, principal.actor, "page.set_aside", "page", page_id, status=was, batch=batch.id)
        add_events(s, [row])
        dispatch.enqueue_assembly(batch.id, settings=settings, session=s)


# ---------------------------------------------------------------- reading
def pages_to_place(s: Session, principal: Principal, *, batch_id: int | None = None, limit: int = 50,
                   after: int | None = None) -> list[Page]:
    """Pages waiting for a supervisor (unidentified, unregistered, blank), oldest batch first, in
    batch order; `after` is the last page id of the previous answer."""
    check_can_place(principal)
    q = select(Page).options(defer(Page.result)).where(Page.status.in_([str(x) for x in UNPLACED_PAGE_STATES]))
    if batch_id is not None:
        get_batch_for(s, batch_id, principal)
        q = q.where(Page.batch_id == batch_id)
    q = q.order_by(Page.id)
    if after is not None:
        q = q.where(Page.id > after)
    return list(s.scalars(q.limit(limit)))
