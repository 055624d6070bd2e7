"""Template endpoints: the form templates, the JSON Schema of each version's record data, what
changed between versions (changelog, diff), and a small image of each blank page (the placement
page shows it beside a page to be placed)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import cv2
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from intake.auth.deps import CurrentPrincipal, app_settings
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.errors import NotFound
from intake.forms.model import Template
from intake.forms.registry import Registry
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


PAGE_IMAGE_DPI = 40  # an A4 page 331 x 468 px


@lru_cache(maxsize=32)
def _page_png(registry: Registry, template: Template, page: int) -> bytes:
    ok, buf = cv2.imencode(".png", registry.blank_image(template, page, PAGE_IMAGE_DPI))
    assert ok
    return buf.tobytes()


@router.get("/templates/{form_id}/versions/{version}/pages/{page}/image", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": f"the blank page at {PAGE_IMAGE_DPI} dpi"}})
def template_page_image(form_id: str, version: int, page: int, principal: Reader, settings: AppSettings) -> Response:
    """The blank template page (1-based `page`) as a small image: our own rendering, or the
    template's reference scan for a form printed without marks."""
    reg = registry_for(settings)
    t = reg.get(form_id, version)
    if not 1 <= page <= len(t.pages):
        raise NotFound(f"{form_id} version {version} has no page {page}")
    return Response(_page_png(reg, t, page - 1), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=86400"})
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
