"""Template endpoints: the form templates and the JSON Schema of each version's record data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from intake.auth.deps import CurrentPrincipal, app_settings
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.forms.schema import record_schema

router = APIRouter(tags=["templates"])
Reader = CurrentPrincipal  # templates are not personal data: any signed-in user or token
AppSettings = Annotated[Settings, Depends(app_settings)]


class TemplateOut(BaseModel):
    id: str
    title: dict[str, str | None]
    versions: list[int]
    latest: int
    pages: int
    schema_url: str


@router.get("/templates", response_model=list[TemplateOut])
def list_templates(principal: Reader, settings: AppSettings) -> list[TemplateOut]:
    reg = registry_for(settings)
    out = []
    for form_id in reg.ids():
        versions = reg.versions(form_id)
        t = reg.get(form_id, versions[-1])
        out.append(TemplateOut(id=form_id, title=t.title.model_dump(), versions=versions, latest=versions[-1],
                               pages=len(t.pages),
                               schema_url=f"/api/v1/templates/{form_id}/versions/{versions[-1]}/schema"))
    return out


@router.get("/templates/{form_id}/versions/{version}/schema", response_model=dict[str, Any],
            responses={200: {"description": "JSON Schema (draft 2020-12) of the record data"}})
def template_schema(form_id: str, version: int, principal: Reader, settings: AppSettings) -> dict[str, Any]:
    """The JSON Schema of the `data` of records read from this template version."""
    return record_schema(registry_for(settings).get(form_id, version))
