"""Batch endpoints: upload, list, read (all pages, or problems only, a screen at a time), follow
(Server-Sent Events), cancel, re-run a page, a page's preview and thumbnail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.deps import app_settings, db_session, require_scope
from intake.auth.service import Principal
from intake.batches import receive, service
from intake.batches.progress import batch_progress
from intake.batches.schemas import BatchList, BatchOut, PageOut
from intake.config import Settings
from intake.db.models import BatchState, Page
from intake.db.session import get_db
from intake.errors import InvalidRequest, NotFound
from intake.review.images import jpeg_at_width
from intake.storage import get_storage

router = APIRouter(tags=["batches"])
DbSession = Annotated[Session, Depends(db_session)]
AppSettings = Annotated[Settings, Depends(app_settings)]
Uploader = Annotated[Principal, Depends(require_scope("batches:write"))]
Reader = Annotated[Principal, Depends(require_scope("batches:read"))]
SSE_POLL_S = 0.5


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"],
    "properties": {"files": {"type": "array", "minItems": 1, "description": "scans: PDF, TIFF, PNG, JPEG",
                             "items": {"type": "string", "format": "binary"}}}}}}}}


@router.post("/batches", status_code=202, response_model=BatchOut, openapi_extra=UPLOAD_BODY,
             responses={413: {"description": "a file, or the whole upload, is too large (said as soon as it "
                                             "passes the limit), or too many files"},
                        415: {"description": "no file is a scan (judged by content)"},
                        422: {"description": "no file could be accepted, or no files"},
                        429: {"description": "over the caller's upload rate or hourly volume; see Retry-After",
                              "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                          "description": "seconds"}}}})
async def upload_batch(request: Request, principal: Uploader, settings: AppSettings) -> BatchOut:
    """Upload scans as one batch (multipart, field `files`). Each file is accepted, linked to an
    identical earlier upload, or refused with a named reason; accepted pages are queued at once.
    202: follow `url` or `/events`. The caller is authenticated and their rate checked before the
    body is read; the size limits are enforced while it arrives (`intake.batches.receive`)."""
    allowance = await anyio.to_thread.run_sync(receive.check_rate, settings, principal)
    received = await receive.receive(request, settings, allowance=allowance)
    try:
        if not received.files:
            raise InvalidRequest("send at least one file in the 'files' field")
        batch_id = await anyio.to_thread.run_sync(service.create_batch, received.read(), principal, settings)
    finally:
        received.close()

    def view() -> BatchOut:
        with get_db(settings).read_session() as s:
            return service.batch_view(s, service.get_batch_for(s, batch_id, principal), viewer=principal)

    return await anyio.to_thread.run_sync(view)


@router.get("/batches", response_model=BatchList)
def list_batches(principal: Reader, session: DbSession,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 before: Annotated[int | None, Query(description="a batch id: list older batches")] = None
                 ) -> BatchList:
    """Batches, newest first: your own, or all of them for supervisors and admins."""
    batches = service.list_batches(session, principal, limit, before)
    review = service.review_counts(session, [b.id for b in batches])
    items = [service.summary(session, b, review[b.id]) for b in batches]
    return BatchList(items=items, next=str(batches[-1].id) if len(batches) == limit else None)


@router.get("/batches/{batch_id}", response_model=BatchOut)
def get_batch(batch_id: int, principal: Reader, session: DbSession,
              problems: Annotated[bool, Query(description="only the pages that need a person: to place, "
                                                          "unreadable, or whose record needs review")] = False,
              start: Annotated[int, Query(ge=0, description="the first page position to list (see "
                                                            "`pages_next_start`)")] = 0,
              limit: Annotated[int | None, Query(ge=1, le=1000, description="at most this many pages")] = None
              ) -> BatchOut:
    """The batch with every file and its pages (status, template, record and its status, error),
    progress, and what still needs a person (`review`)."""
    batch = service.get_batch_for(session, batch_id, principal)
    out = service.batch_view(session, batch, problems=problems, start=start, limit=limit, viewer=principal)
    audit(session, principal.actor, "batch.read", "batch", batch_id)
    session.commit()
    return out


@router.post("/batches/{batch_id}/cancel", response_model=BatchOut)
def cancel_batch(batch_id: int, principal: Uploader, settings: AppSettings, session: DbSession) -> BatchOut:
    """Stop the batch: pages not yet read are cancelled; records already made are kept."""
    service.cancel_batch(batch_id, principal, settings)
    return service.batch_view(session, service.get_batch_for(session, batch_id, principal), viewer=principal)


@router.post("/pages/{page_id}/rerun", status_code=202, response_model=PageOut)
def rerun_page(page_id: int, principal: Uploader, settings: AppSettings, session: DbSession) -> PageOut:
    """Read a page again (e.g. after a template fix); its record is updated, never duplicated."""
    service.rerun_page(page_id, principal, settings)
    page = session.get(Page, page_id)
    assert page is not None
    batch = service.get_batch_for(session, page.batch_id, principal)
    return next(p for p in service.batch_view(session, batch).pages if p.id == page_id)


def _preview_of(session: Session, page_id: int, principal: Principal, settings: Settings) -> bytes:
    """The stored preview of a page the caller may see (404 otherwise, or when it has none)."""
    page = service.get_page_for(session, page_id, principal)
    if not page.preview_key:
        raise NotFound("this page has no preview (it was not decoded)")
    return get_storage(settings).get(page.preview_key)


@router.get("/pages/{page_id}/preview", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the page as read"}})
def page_preview(page_id: int, principal: Reader, settings: AppSettings, session: DbSession) -> Response:
    data = _preview_of(session, page_id, principal, settings)
    audit(session, principal.actor, "page.preview", "page", page_id)
    session.commit()
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


THUMB_WIDTH = 200


@router.get("/pages/{page_id}/thumbnail", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": f"the page {THUMB_WIDTH} px wide"}})
def page_thumbnail(page_id: int, principal: Reader, settings: AppSettings, session: DbSession) -> Response:
    """A small picture of the page (made from its preview), for lists of pages that need a person."""
    small = jpeg_at_width(_preview_of(session, page_id, principal, settings), THUMB_WIDTH, quality=70)
    audit(session, principal.actor, "page.thumbnail", "page", page_id)
    session.commit()
    return Response(small, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
def _events_start(batch_id: int, request: Request, principal: Reader,
                  last_event_id: Annotated[str, Header(pattern=r"^[0-9]{0,18}$", description="the id of the last "
                                                       "event received, to resume after it")] = "") -> int:
    """Checked before the stream starts, so a bad request is a plain error answer (404, 422),
    not a stream broken after its headers were sent."""
    try:
        after = int(last_event_id) if last_event_id else 0
    except ValueError:
        raise InvalidRequest("Last-Event-ID must be an event id this stream sent") from None
    with get_db(request.app.state.settings).session() as s:
        service.get_batch_for(s, batch_id, principal)
        audit(s, principal.actor, "batch.watch", "batch", batch_id)
    return after


@router.get("/batches/{batch_id}/events", response_class=EventSourceResponse,
            responses={200: {"description": "`page` events (one page's new state, data: PageOut) and "
                                            "`progress` events ({done, total, eta_seconds, status, review}); "
                                            "ids resume with Last-Event-ID. Ends when the batch is done."}})
async def batch_events(batch_id: int, request: Request, principal: Reader,
                       after: Annotated[int, Depends(_events_start)]) -> AsyncIterator[ServerSentEvent]:
    """Follow a batch as it is processed (Server-Sent Events)."""
    settings: Settings = request.app.state.settings
    db = get_db(settings)

    def poll(after: int, first: bool):  # noqa: ANN202
        with db.read_session() as s:
            batch = service.get_batch_for(s, batch_id, principal)
            status = batch.status  # read before the events: "done" implies all its events are visible
            final = status != BatchState.PROCESSING
            events = service.page_events_since(s, batch_id, after, limit=10**9 if final else 500)
            progress = service.progress_out(batch_progress(s, batch))
            review = service.review_counts(s, [batch_id])[batch_id] if events or final or first else None
        return status, events, progress, review

    first = True
    while True:
        status, events, progress, review = await anyio.to_thread.run_sync(poll, after, first)
        for seq, page in events:
            after = seq
            yield ServerSentEvent(event="page", id=str(seq), data=page.model_dump(mode="json"))
        final = status != BatchState.PROCESSING
        if events or first or final:
            data = {**progress.model_dump(mode="json"), "status": status, "final": final}
            if review is not None:
                data["review"] = review.model_dump(mode="json")
            yield ServerSentEvent(event="progress", id=str(after), data=data)
        first = False
        if final:
            return
        if await request.is_disconnected():
            return
        await anyio.sleep(SSE_POLL_S)
