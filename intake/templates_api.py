"""Template endpoints: the form templates, the JSON Schema of each version's record data, and
what changed between versions (changelog, diff)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from intake.auth.deps import CurrentPrincipal, app_settings
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.forms.revisions import changelog, diff
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


@router.get("/templates/{form_id}/changelog", response_model=list[dict[str, Any]],
            responses={200: {"description": "every version, newest first: its note (zh, en) and `changes` from "
                                            "the version before (as GET .../diff gives them; null for the first)"}})
def template_changelog(form_id: str, principal: Reader, settings: AppSettings) -> list[dict[str, Any]]:
    """The template's changelog: what each version changed, so a consumer can see what a new
    version means for it (and read records in an older shape with `?as_version=`)."""
    return changelog(registry_for(settings), form_id)


@router.get("/templates/{form_id}/diff", response_model=dict[str, Any],
            responses={200: {"description": "fields added, removed, renamed, retyped; options and table columns "
                                            "changed; fields that became (or stopped being) required"}})
def template_diff(form_id: str, principal: Reader, settings: AppSettings,
                  from_version: Annotated[int, Query(alias="from", ge=1, le=10_000)],
                  to_version: Annotated[int, Query(alias="to", ge=1, le=10_000)]) -> dict[str, Any]:
    """What changed between two versions of a template (`intake templates diff ID A B --json`)."""
    return diff(registry_for(settings), form_id, from_version, to_version).to_dict()
