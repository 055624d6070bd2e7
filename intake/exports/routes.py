"""Export endpoints: a template version's records as CSV or JSON Lines (streamed), its codebook."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.deps import CurrentPrincipal, app_settings, db_session, require_scope
from intake.auth.service import Principal
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.exports.codebook import codebook, codebook_csv
from intake.exports.service import export_lines

router = APIRouter(tags=["exports"])
Exporter = Annotated[Principal, Depends(require_scope("records:export"))]
AppSettings = Annotated[Settings, Depends(app_settings)]
DbSession = Annotated[Session, Depends(db_session)]
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@router.get("/templates/{form_id}/versions/{version}/export", response_class=StreamingResponse,
            responses={200: {"description": "the records, streamed: CSV (columns as the codebook lists them) or "
                                            "JSON Lines (one record per line, as the feed gives it)",
                             "content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/x-ndjson": {"schema": {"type": "string"}}}}})
def export(form_id: str, version: int, principal: Exporter, session: DbSession, settings: AppSettings,
           format: Annotated[Literal["csv", "jsonl"], Query(description="csv or jsonl")] = "csv",  # noqa: A002
           status: Annotated[Literal["accepted", "needs_review", "approved", "rejected", "superseded"] | None,
                             Query()] = None,
           after: Annotated[str | None, Query(max_length=200, description="a feed cursor: only records changed "
                                                                          "since")] = None,
           all_versions: Annotated[bool, Query(description="also records of other versions, converted to this "
                                                           "version's shape")] = False) -> StreamingResponse:
    """Every record of a template version, oldest change first, streamed (flat memory however
    many there are). Filters as the feed's. Needs the records:export permission; audited."""
    reg = registry_for(settings)
    reg.get(form_id, version)
    from intake.records.service import decode_cursor

    decode_cursor(after)  # a bad cursor is a 422 now, not a broken stream later
    audit(session, principal.actor, "record.export", "template", form_id, version=version, code=format,
          status=status, all_versions=all_versions)
    session.commit()
    lines = export_lines(settings, reg, form_id, version, format, status, after, all_versions)
    name = f"{form_id}-v{version}.{format}"
    return StreamingResponse(lines, media_type=MEDIA[format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store"})


@router.get("/templates/{form_id}/versions/{version}/codebook", response_model=dict[str, Any],
            responses={200: {"description": "the export columns: name, type, labels (zh, en), allowed codes",
                             "content": {"text/csv": {"schema": {"type": "string"}}}}})
def get_codebook(form_id: str, version: int, principal: CurrentPrincipal, settings: AppSettings,
                 format: Annotated[Literal["json", "csv"], Query()] = "json") -> Any:  # noqa: A002
    """The codebook of a template version's exports: every column with its type, its labels in
    Traditional Chinese and English, and its allowed codes."""
    t = registry_for(settings).get(form_id, version)
    if format == "csv":
        return PlainTextResponse(codebook_csv(t), media_type="text/csv; charset=utf-8")
    return codebook(t)
