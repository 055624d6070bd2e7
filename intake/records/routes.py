"""Record endpoints: the change feed, one record with provenance, a field's crop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.deps import app_settings, db_session, require_scope
from intake.auth.service import Principal
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.forms.revisions import as_version_or_none
from intake.records import service
from intake.records.schemas import Feed, RecordOut
from intake.review.images import jpeg_at_width
from intake.storage import get_storage

router = APIRouter(tags=["records"])
AS_VERSION = ("give `data` in the shape of this version of the template (fields renamed, added and removed "
              "as its revisions declare; see GET /templates/{id}/changelog): a consumer written for "
              "version N keeps working when forms of a later version arrive. Needs `template` on the feed.")
DbSession = Annotated[Session, Depends(db_session)]
Reader = Annotated[Principal, Depends(require_scope("records:read"))]


@router.get("/records", response_model=Feed)
def record_feed(principal: Reader, session: DbSession, settings: Annotated[Settings, Depends(app_settings)],
                after: Annotated[str | None, Query(description="the `next` of the previous answer")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                status: Annotated[str | None, Query(pattern="^(accepted|needs_review|approved|rejected|superseded)$")] = None,
                template: Annotated[str | None, Query(max_length=64)] = None,
                as_version: Annotated[int | None, Query(ge=1, le=10_000, description=AS_VERSION)] = None) -> Feed:
    """The change feed: records in the order they last changed. Store `next` and ask again with
    `?after=<next>`: you miss nothing and see a record again only when it has a newer revision.
    With `template` and `as_version`, every record comes in that version's shape."""
    reg = registry_for(settings)
    as_version = as_version_or_none(reg, template, as_version)
    items, nxt = service.feed(session, after, limit, status, template)
    audit(session, principal.actor, "record.feed", "record", count=len(items), ids=[r.id for r in items])
    session.commit()
    return Feed(items=[service.item_out(r, as_version, reg) for r in items], next=nxt)


@router.get("/records/{record_id}", response_model=RecordOut)
def get_record(record_id: int, principal: Reader, session: DbSession,
               settings: Annotated[Settings, Depends(app_settings)],
               as_version: Annotated[int | None, Query(ge=1, le=10_000, description=AS_VERSION)] = None) -> RecordOut:
    """One record with every field's value, provenance (page, box, confidence, engine text) and
    correction, and its revision; with `as_version`, in that version of its template's shape."""
    rec = service.get_record(session, record_id)
    reg = registry_for(settings)
    out = service.record_out(session, rec, as_version_or_none(reg, rec.template_id, as_version), reg)
    if principal.can("families:read"):
        from intake.families.service import family_of
        from intake.records.schemas import FamilyRef

        fid = family_of(session, record_id)
        out.family = FamilyRef(id=fid, url=f"/api/v1/families/{fid}") if fid is not None else None
    audit(session, principal.actor, "record.read", "record", record_id)
    session.commit()
    return out


@router.get("/records/{record_id}/fields/{path}/crop", response_class=Response,
            responses={200: {"content": {"image/png": {}, "image/jpeg": {}},
                             "description": "the field as cut from the page (checkbox and choice fields with "
                                            "their squares and labels): PNG, or with `w` a grey JPEG"}})
def field_crop(record_id: int, path: str, principal: Reader, session: DbSession,
               settings: Annotated[Settings, Depends(app_settings)],
               w: Annotated[int | None, Query(ge=64, le=2000, description="at most this wide, as a grey JPEG "
                                                                         "(for screens: smaller to send)")] = None
               ) -> Response:
    """The field's crop from the registered page."""
    key = service.field_crop_key(session, record_id, path)
    data = get_storage(settings).get(key)
    audit(session, principal.actor, "field.crop", "record", record_id)
    session.commit()
    if w is not None:
        return Response(jpeg_at_width(data, w), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
