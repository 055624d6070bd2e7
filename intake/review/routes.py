"""Review endpoints: the queue, claims, corrections, approval, rejection, reopening, history,
group verification and the spot-check statistics.

Writes need the ``records:review`` scope (supervisors, admins, and tokens given it); reopening
needs ``admin``; the history needs ``records:read``. Every call is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.deps import app_settings, db_session, require_scope
from intake.auth.service import Principal
from intake.config import Settings
from intake.db.models import Page, ReviewClaim
from intake.errors import NotFound
from intake.records.schemas import RecordOut
from intake.review import schemas as sc
from intake.review import service
from intake.review.images import PREVIEW_WIDTH, jpeg_at_width
from intake.storage import get_storage

router = APIRouter(tags=["review"])
DbSession = Annotated[Session, Depends(db_session)]
AppSettings = Annotated[Settings, Depends(app_settings)]
Reviewer = Annotated[Principal, Depends(require_scope("records:review"))]
Reader = Annotated[Principal, Depends(require_scope("records:read"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]

REASON_CODE = r"^[a-z_]+(\.[a-z_]+)*$"
FieldPath = Annotated[str, Path(description="the field's path: a name, or `table[row].column` by printed row "
                                            "from 0 (e.g. `household_members[2].name`)", max_length=128)]
STALE = {409: {"description": "`stale_revision`: the record changed since that revision (the body's `record` is "
                              "the record now; nothing was written); `record_claimed`: another supervisor has it "
                              "open; `not_in_review`: it is not waiting for review"}}
FORBIDDEN = {403: {"description": "needs the records:review permission (supervisors, admins, tokens given it)"}}


def _filters(batch: int | None, template: str | None, reason: str | None) -> service.Filters:
    return service.Filters(batch=batch, template=template or None, reason=reason or None)


BatchQ = Annotated[int | None, Query(description="only records of this batch")]
TemplateQ = Annotated[str | None, Query(max_length=64, description="only records of this form template")]
ReasonQ = Annotated[str | None, Query(max_length=64, pattern=REASON_CODE,
                                      description="only records needing a person for this reason code, e.g. "
                                                  "`national_id.checksum`, `low_confidence`, `rule.not_after`")]


@router.get("/review/queue", response_model=sc.QueueOut, responses=FORBIDDEN)
def review_queue(principal: Reviewer, session: DbSession, batch: BatchQ = None, template: TemplateQ = None,
                 reason: ReasonQ = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                 offset: Annotated[int, Query(ge=0)] = 0) -> sc.QueueOut:
    """Records waiting for review: urgent first (as each template's `urgent_when` says), then
    oldest; with counts (total, urgent, open by others, per template, reason and batch). A
    record another supervisor has open is listed with `claimed_by`."""
    out = service.queue(session, principal, _filters(batch, template, reason), limit, offset)
    audit(session, principal.actor, "review.queue", "record", count=len(out.items), ids=[i.id for i in out.items])
    session.commit()
    return out


@router.post("/review/next", response_model=sc.ClaimOut, responses={204: {"description": "nothing left to review"},
                                                                      **FORBIDDEN})
def review_next(principal: Reviewer, settings: AppSettings, session: DbSession, batch: BatchQ = None,
                template: TemplateQ = None, reason: ReasonQ = None,
                skip: Annotated[list[int], Query(description="record ids not to take (e.g. the one just left)")] = []  # noqa: B006
                ) -> sc.ClaimOut | Response:
    """Claim the next record in queue order that nobody else has open. 204 when there is none."""
    record_id = service.next_record(settings, principal, _filters(batch, template, reason), tuple(skip))
    if record_id is None:
        return Response(status_code=204)
    c = session.get(ReviewClaim, record_id)
    assert c is not None
    return service.claim_out(session, c)


@router.post("/review/records/{record_id}/claim", response_model=sc.ClaimOut,
             responses={409: {"description": "`record_claimed`: another supervisor has it open"}, **FORBIDDEN})
def claim_record(record_id: int, principal: Reviewer, settings: AppSettings) -> sc.ClaimOut:
    """Claim a record (or renew one's claim) for `review_claim_s` seconds: others skip it. The
    review page renews it while it is open."""
    return service.claim(settings, record_id, principal)


@router.delete("/review/records/{record_id}/claim", status_code=204, responses=FORBIDDEN)
def release_record(record_id: int, principal: Reviewer, settings: AppSettings) -> Response:
    """Give the record back (only one's own claim; nothing happens otherwise)."""
    service.release(settings, record_id, principal)
    return Response(status_code=204)


@router.patch("/records/{record_id}/fields/{path}", response_model=RecordOut,
              responses={422: {"description": "the value is not valid: `error` is the validator's code (e.g. "
                                              "`national_id.checksum`, `date.invalid`), `detail` says why in "
                                              "English and `detail_zh` in Chinese, `field` names the field"},
                         **STALE, **FORBIDDEN})
def correct_field(record_id: int, path: FieldPath, body: sc.FieldPatch, principal: Reviewer,
                  settings: AppSettings) -> RecordOut:
    """Correct or confirm one field with the record revision you saw. The value is normalised and
    validated by the pipeline's code; the record's rules are checked again (a correction can fix
    or break a cross-field rule). The field becomes `verified`, the record gets a new revision
    (in the change feed), the change is kept in the field's history and audited."""
    return service.correct_field(settings, record_id, path, body.value, body.revision, principal).record


@router.post("/records/{record_id}/approve", response_model=RecordOut,
             responses={409: {"description": "`review_incomplete`: a field still needs a person (`fields`) or a "
                                             "rule fails (`errors`); or as for PATCH"}, **FORBIDDEN})
def approve_record(record_id: int, body: sc.RevisionIn, principal: Reviewer, settings: AppSettings) -> RecordOut:
    """Approve a record waiting for review: refused while a field still needs a person or a
    record-level rule fails. Status becomes `approved`, with a new revision."""
    return service.approve(settings, record_id, body.revision, principal)


@router.post("/records/{record_id}/reject", response_model=RecordOut, responses={**STALE, **FORBIDDEN})
def reject_record(record_id: int, body: sc.RejectIn, principal: Reviewer, settings: AppSettings) -> RecordOut:
    """Reject a record (waiting for review, or accepted) with a reason: it is not a usable
    notification. Status becomes `rejected`, with a new revision."""
    return service.reject(settings, record_id, body.revision, body.reason, principal)


@router.post("/records/{record_id}/reopen", response_model=RecordOut,
             responses={403: {"description": "admins only"}, 409: STALE[409]})
def reopen_record(record_id: int, body: sc.RevisionIn, principal: Admin, settings: AppSettings) -> RecordOut:
    """(Admins) Send an approved, rejected or accepted record back to review. Values a person
    verified stay verified."""
    return service.reopen(settings, record_id, body.revision, principal)


@router.get("/records/{record_id}/history", response_model=sc.HistoryOut)
def record_history(record_id: int, principal: Reader, session: DbSession) -> sc.HistoryOut:
    """The record's revisions (every change: who, when, what kind) and, per field, the machine's
    reading (each engine's reading, or each box's ink) and every confirmation or correction:
    who, when, from, to."""
    out = service.history(session, record_id)
    audit(session, principal.actor, "record.history", "record", record_id)
    session.commit()
    return out


@router.get("/review/group", response_model=sc.GroupView, responses=FORBIDDEN)
def group_view(principal: Reviewer, session: DbSession, settings: AppSettings, template: TemplateQ = None,
               field: Annotated[str | None, Query(max_length=128, description="a field name, or `table.column` "
                                                                               "for a table column")] = None,
               type: Annotated[str | None, Query(pattern="^(text|name|address|national_id|date|phone|number|"  # noqa: A002
                                                         "checkbox|choice|signature)$",
                                                 description="a field type, e.g. checkbox")] = None,
               batch: BatchQ = None, limit: Annotated[int, Query(ge=1, le=200)] = 60) -> sc.GroupView:
    """Group verification: the fields that need a person, of one field or one type, across the
    queued records (of a template and/or batch) nobody else has open, as cells to check at once."""
    out = service.group_cells(session, settings, principal, template=template, field=field, ftype=type, batch=batch,
                              limit=limit)
    audit(session, principal.actor, "review.group", "record", count=len(out.cells),
          ids=sorted({c.record_id for c in out.cells}))
    session.commit()
    return out


@router.post("/review/group", response_model=sc.GroupOut, responses=FORBIDDEN)
def group_apply(body: Annotated[sc.GroupIn, Body()], principal: Reviewer, settings: AppSettings) -> sc.GroupOut:
    """Confirm or correct many fields at once (e.g. a group verification grid): each item is one
    PATCH of its own, so a stale or invalid item fails alone (its `status` and `error` say why)."""
    return service.apply_group(settings, body.items, principal)


@router.get("/review/stats", response_model=sc.StatsOut, responses={403: {"description": "admins only"}})
def review_stats(principal: Admin, session: DbSession, settings: AppSettings,
                 template: TemplateQ = None) -> sc.StatsOut:
    """(Admins) The silent-error rate measured in production: among the fields the machine
    accepted in approved spot-check records, the share a supervisor changed, per field type,
    with its 95% Wilson interval."""
    out = service.spot_check_stats(session, settings, template)
    audit(session, principal.actor, "review.stats", "record", count=out.records_checked)
    session.commit()
    return out


@router.get("/review/pages/{page_id}/preview", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "the page as scanned, a grey JPEG"},
                       **FORBIDDEN})
def page_preview(page_id: int, principal: Reviewer, session: DbSession, settings: AppSettings,
                 w: Annotated[int, Query(ge=64, le=1600, description="at most this wide")] = PREVIEW_WIDTH,
                 turn: Annotated[int, Query(ge=0, le=270, multiple_of=90,
                     description="degrees to turn it clockwise first (the review page stands a page "
                                 "scanned upside down or sideways upright)")] = 0,
                 ) -> Response:
    """A page's preview sized for the review page (the field's box is drawn over it there, from
    the page's registration), turned upright when asked."""
    page = session.get(Page, page_id)
    if page is None or not page.preview_key:
        raise NotFound(f"page {page_id} has no preview")
    data = jpeg_at_width(get_storage(settings).get(page.preview_key), w, turn=turn)
    audit(session, principal.actor, "page.preview", "page", page_id)
    session.commit()
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})
