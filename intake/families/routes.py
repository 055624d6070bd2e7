"""GET /families/{id}: a family's records in time order, and why they are linked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from intake.auth.audit import audit
from intake.auth.deps import app_settings, db_session, require_scope
from intake.auth.service import Principal
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.families.service import family_of, family_out
from intake.records.service import get_record

router = APIRouter(tags=["families"])
FamilyReader = Annotated[Principal, Depends(require_scope("families:read"))]
DbSession = Annotated[Session, Depends(db_session)]


class FamilyRecord(BaseModel):
    id: int
    template: str
    template_version: int
    status: str
    revision: int
    report_date: str | None = Field(description="the form's report (or referral) date, YYYY-MM-DD")
    created_at: datetime
    url: str


class Reason(BaseModel):
    kind: Literal["national_id", "person"] = Field(description="national_id: the same national ID; person: the "
                                                               "same name and date of birth")
    a: str = Field(description="the field of record_a that matched, e.g. household_members[1].national_id")
    b: str = Field(description="the field of record_b that matched")


class Link(BaseModel):
    record_a: int
    record_b: int
    strength: Literal["strong", "medium", "weak"] = Field(
        description="strong: a national ID; medium: two or more people by name and date of birth; weak: one")
    reasons: list[Reason]


class FamilyOut(BaseModel):
    id: int
    created_at: datetime
    updated_at: datetime
    records: list[FamilyRecord] = Field(description="in time order: report date, then when it was read")
    links: list[Link]


@router.get("/families/{family_id}", response_model=FamilyOut)
def get_family(family_id: int, principal: FamilyReader, session: DbSession,
               settings: Annotated[Settings, Depends(app_settings)]) -> Any:
    """The records of one family (家庭歸戶) in time order, with the links between them: the
    reason (which fields matched) and strength of each. Supervisors and tokens with families:read."""
    out = family_out(session, family_id, registry_for(settings))
    audit(session, principal.actor, "family.read", "family", family_id, count=len(out["records"]))
    session.commit()
    return out


@router.get("/records/{record_id}/family", response_model=FamilyOut)
def record_family(record_id: int, principal: FamilyReader, session: DbSession,
                  settings: Annotated[Settings, Depends(app_settings)]) -> Any:
    """The family of one record (404 when the record is linked to no other)."""
    from intake.errors import NotFound

    get_record(session, record_id)
    fid = family_of(session, record_id)
    if fid is None:
        raise NotFound(f"record {record_id} is in no family: nothing links it to another record")
    return get_family(fid, principal, session, settings)
