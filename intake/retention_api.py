"""Legal holds over HTTP (admins): a record under a hold keeps its original, previews and crops
whatever retention says (`intake.retention`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel

from intake.auth.deps import app_settings, require_role
from intake.auth.service import Principal
from intake.config import Settings
from intake.retention import set_legal_hold

router = APIRouter(tags=["records"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
RecordId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]


class LegalHoldOut(BaseModel):
    record_id: int
    legal_hold: bool


@router.put("/records/{record_id}/legal-hold", response_model=LegalHoldOut)
def put_legal_hold(record_id: RecordId, principal: Admin,
                   settings: Annotated[Settings, Depends(app_settings)]) -> LegalHoldOut:
    """Put the record under a legal hold: retention will not purge the stored files of its pages
    until it is released. Audited."""
    set_legal_hold(settings, record_id, True, principal.actor)
    return LegalHoldOut(record_id=record_id, legal_hold=True)


@router.delete("/records/{record_id}/legal-hold", response_model=LegalHoldOut)
def delete_legal_hold(record_id: RecordId, principal: Admin,
                      settings: Annotated[Settings, Depends(app_settings)]) -> LegalHoldOut:
    """Release the record's legal hold (retention applies again). Audited."""
    set_legal_hold(settings, record_id, False, principal.actor)
    return LegalHoldOut(record_id=record_id, legal_hold=False)
