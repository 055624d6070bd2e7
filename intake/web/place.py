"""The supervisor's pages for pages the pipeline could not place (`intake.placement.service`).

- ``GET /place[?batch=ID]``: the pages waiting (unidentified, unregistered, blank), with their
  thumbnails, oldest first.
- ``GET /pages/{id}/place``: one page: its preview, the picker (form, version and page: a plain
  form, works without JavaScript), the four corner clicks on the preview (``static/place.js``;
  with the mouse, or with the arrow keys and Enter), and "set aside".
- ``POST /pages/{id}/place``, ``POST /pages/{id}/set-aside``: the forms' targets (CSRF-checked),
  which redirect to the batch page at that page, where it is read again live.

Clerks get 403 on all of them (the same check as the API).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from intake.auth.audit import audit
from intake.batches import service as batches
from intake.db.models import BatchFile, Page, PagePlacement
from intake.db.session import get_db
from intake.errors import Conflict
from intake.pipeline.place import PlacementInvalid
from intake.placement import service
from intake.web import labels
from intake.web.routes import (
    PageRoute,
    _forms,
    _json,
    _settings,
    check_csrf,
    render,
    safe_next,
    signed_in,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LIST_SIZE = 50
API = "/api/v1"


def _placer(request: Request):  # noqa: ANN202 - a Principal
    principal = signed_in(request)
    service.check_can_place(principal)
    return principal


def _target_label(t: service.Target) -> dict[str, str]:
    title = t.template.title
    return {"key": t.key, "zh": f"{title.zh or t.template.id} v{t.template.version} · 第 {t.page} 頁",
            "en": f"{title.en or t.template.id} v{t.template.version}, page {t.page}"}


@router.get("/place")
def pages_to_place(request: Request, batch: Annotated[int | None, Query(ge=1)] = None,
                   after: Annotated[int | None, Query(ge=1)] = None) -> Response:
    principal = _placer(request)
    settings = _settings(request)
    with get_db(settings).session() as s:
        pages = service.pages_to_place(s, principal, batch_id=batch, limit=LIST_SIZE, after=after)
        files = {f.id: f for f in s.scalars(select(BatchFile).where(BatchFile.id.in_({p.file_id for p in pages})))}
        rows = batches.pages_out(s, pages, files)
        audit(s, principal.actor, "page.list_to_place", "page", count=len(rows))
    more = None
    if len(pages) == LIST_SIZE:
        more = f"/place?batch={batch}&after={pages[-1].id}" if batch else f"/place?after={pages[-1].id}"
    return render(request, "place_list.html", principal, title="待放置的頁面 Pages to place", rows=rows, batch=batch,
                  more=more, forms=_forms(settings))


def _page_context(request: Request, page_id: int, principal: Any) -> dict[str, Any]:
    settings = _settings(request)
    with get_db(settings).session() as s:
        out = batches.page_out_for(s, page_id, principal)
        placed = s.scalar(select(PagePlacement).where(PagePlacement.page_id == page_id))
        audit(s, principal.actor, "page.placement", "page", page_id)
    targets = service.targets(settings)
    chosen = None
    if placed is not None:
        chosen = f"{placed.template_id}:{placed.template_version}:{placed.template_page}"
    elif out.template and out.template_page:
        chosen = f"{out.template}:{out.template_version}:{out.template_page}"
    keys = [t.key for t in targets]
    chosen = chosen if chosen in keys else (keys[0] if keys else None)
    client = {
        "targets": {t.key: {"points_kind": t.points_kind, "points_mm": t.points_mm,
                            "page_size_mm": list(t.template.page_size_mm),
                            "image_url": f"{API}/templates/{t.template.id}/versions/{t.template.version}/pages/"
                                         f"{t.page}/image"} for t in targets},
        "points": placed.points if placed is not None else None,
    }
    return {"p": out, "targets": [_target_label(t) | {"image_url": client["targets"][t.key]["image_url"]}
                                  for t in targets],
            "chosen": chosen, "placeable": out.status in service.PLACEABLE,
            "settable_aside": out.status in service.SETTABLE_ASIDE, "placement": placed,
            "forms": _forms(settings), "client_json": _json(client)}


@router.get("/pages/{page_id}/place")
def place_page_form(request: Request, page_id: int) -> Response:
    principal = _placer(request)
    ctx = _page_context(request, page_id, principal)
    return render(request, "place_page.html", principal, title=f"放置頁面 Place page {page_id}", error=None, **ctx)


def _parse_points(text: str) -> list[list[float]]:
    """"x,y x,y x,y x,y" (fractions, as place.js writes them) as four [x, y] pairs."""
    try:
        pts = [[float(v) for v in pair.split(",")] for pair in text.split()]
    except ValueError:
        raise PlacementInvalid("the four points could not be read; click the four corners again") from None
    if len(pts) != 4 or any(len(p) != 2 for p in pts):
        raise PlacementInvalid("click all four corners before reading the page with them")
    return pts


def _back_to_batch(s: Any, page_id: int, next_url: str | None) -> str:
    """Where a form sends the supervisor back to: the batch page it came from (a path on this
    site), else the batch page at this page."""
    if next_url and next_url.startswith("/batches/"):
        return f"{safe_next(next_url).split('#')[0]}#page-{page_id}"
    batch_id, position = s.execute(select(Page.batch_id, Page.position).where(Page.id == page_id)).one()
    return f"/batches/{batch_id}?start={position}#page-{page_id}"


@router.post("/pages/{page_id}/place")
def place_page(request: Request, page_id: int, csrf: Annotated[str, Form()] = "",
               target: Annotated[str, Form(max_length=100)] = "", points: Annotated[str, Form(max_length=400)] = "",
               mode: Annotated[str, Form(max_length=16)] = "template") -> Response:
    principal = _placer(request)
    check_csrf(request, csrf)
    settings = _settings(request)
    try:
        form_id, version, page = service.parse_target(target)
        pts = _parse_points(points) if mode == "points" else None
        service.place_page(page_id, principal, settings, form_id=form_id, version=version, page=page, points=pts)
    except (PlacementInvalid, Conflict) as exc:
        ctx = _page_context(request, page_id, principal)
        zh = labels.REASONS.get(exc.code, ("無法放置這一頁。", ""))[0]
        return render(request, "place_page.html", principal, status_code=exc.http_status,
                      title=f"放置頁面 Place page {page_id}",
                      error={"zh": zh, "en": labels.sentence(exc.message), "code": exc.code}, **ctx)
    with get_db(settings).read_session() as s:
        return RedirectResponse(_back_to_batch(s, page_id, None), status_code=303)


@router.post("/pages/{page_id}/set-aside")
def set_aside(request: Request, page_id: int, csrf: Annotated[str, Form()] = "",
              next: Annotated[str, Form(max_length=500)] = "") -> Response:  # noqa: A002 - the form field
    principal = _placer(request)
    check_csrf(request, csrf)
    settings = _settings(request)
    service.set_aside(page_id, principal, settings)
    with get_db(settings).read_session() as s:
        return RedirectResponse(_back_to_batch(s, page_id, next), status_code=303)

