"""The supervisors' review station pages: the queue, a record field by field, group verification,
and (admins) the spot-check statistics.

Every page works without JavaScript as plain forms, one record at a time: the record page is one
form holding every field (those that need a person first, the ones the machine accepted folded
away), saved together; approve and reject are buttons. `static/review.js` then makes it a
keyboard station against the JSON API (same session cookie): Enter confirms a field and moves
on, each field saved at once with the revision the page holds, and so on (see the `?` box).

Opening a record claims it (`intake.review.service.claim`); the script renews the claim while
the page is open and gives it back when the page is left.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import cv2
import numpy as np
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from intake.auth.audit import audit
from intake.auth.service import Principal
from intake.batches.processing import registry_for
from intake.db.models import FieldState, Page, Record, RecordField, ReviewClaim, utcnow
from intake.db.session import get_db
from intake.errors import InvalidValue, NotFound, RecordClaimed, ReviewIncomplete, StaleRevision
from intake.forms.model import Template
from intake.gazetteer import COUNTIES
from intake.records.state import same_value
from intake.review import service
from intake.review.images import (
    GROUP_SNIPPET_WIDTH,
    PREVIEW_WIDTH,
    SNIPPET_WIDTH,
    turn_points,
    upright_turn,
)
from intake.review.reasons import REASONS, reason_words
from intake.review.schemas import GroupItemIn
from intake.web import labels
from intake.web.routes import API, PageRoute, _json, check_csrf, needs, render, signed_in

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TEXT_KIND = {"national_id": "id", "date": "date", "phone": "phone", "number": "number", "address": "address",
             "name": "name", "text": "text"}
REASON_PATTERN = r"^[a-z_]+(\.[a-z_]+)*$"


def _settings(request: Request):  # noqa: ANN202
    return request.app.state.settings


def _reviewer(request: Request) -> Principal:
    principal = signed_in(request)
    needs(principal, "records:review")
    return principal


# ---------------------------------------------------------------- values shown
def roc(iso: str) -> str:
    """2024-05-03 -> 113/05/03 (what supervisors type and read on the forms)."""
    try:
        d = date.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    return f"{d.year - 1911}/{d.month:02d}/{d.day:02d}" if d.year > 1911 else iso


def shown(ftype: str, value: Any) -> str:
    if value is None:
        return ""
    if ftype == "date":
        return roc(str(value))
    return str(value)


def field_label(t: Template, path: str) -> tuple[str, str]:
    f = t.field_at(path)
    zh, en = f.label.zh or "", f.label.en or ""
    if "[" in path:
        table = t.field(path.split("[", 1)[0])
        row = int(path.split("[", 1)[1].split("]", 1)[0]) + 1
        zh = f"{table.label.zh or ''} 第{row}列 {zh}".strip()
        en = f"{table.label.en or ''}, row {row}: {en}".strip(", ")
    return zh, en


def outline(page: Page | None, t: Template, template_page: int, box: list[float]) -> dict[str, Any] | None:
    """The field's box on the page as scanned: a polygon in the image's pixels, from the page's
    registration (the template page's corners stored with its result)."""
    result = (page.result if page is not None else None) or {}
    corners, size = result.get("corners"), result.get("image_size")
    if not corners or not size or len(box) != 4:
        return None
    w_mm, h_mm = t.page_size_mm
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w_mm, 0], [w_mm, h_mm], [0, h_mm]]), np.float32(corners))
    x, y, w, h = box
    pad = 1.0  # mm around the box, so the outline does not hide the writing's edge
    pts = np.float32([[[x - pad, y - pad]], [[x + w + pad, y - pad]], [[x + w + pad, y + h + pad]],
                      [[x - pad, y + h + pad]]])
    poly = cv2.perspectiveTransform(pts, m).reshape(4, 2)
    # a page scanned upside down or sideways is shown upright, its outline turned with it
    turn = upright_turn(corners)
    poly, (w_px, h_px) = turn_points(poly, (int(size[0]), int(size[1])), turn)
    assert page is not None
    return {"page_id": page.id, "w": w_px, "h": h_px,
            "points": " ".join(f"{px:.0f},{py:.0f}" for px, py in poly),
            "src": f"{API}/review/pages/{page.id}/preview?w={PREVIEW_WIDTH}" + (f"&turn={turn}" if turn else "")}


@dataclass
class FieldView:
    i: int
    path: str
    type: str
    kind: str
    zh: str
    en: str
    value: Any
    display: str
    status: str
    to_check: bool
    reasons: list[tuple[str, str]]
    machine: str | None
    confidence: float
    crop_url: str | None
    page: dict[str, Any] | None
    options: list[dict[str, Any]] = field(default_factory=list)
    multiple: bool = False
    lines: int = 1
    error: tuple[str, str] | None = None
    codes: list[str] = field(default_factory=list)

    @property
    def data_value(self) -> str:
        return json.dumps(self.value, ensure_ascii=False)


def field_views(t: Template, rec: Record, fields: list[RecordField], pages: dict[int, Page],
                entered: dict[str, Any] | None = None, errors: dict[str, tuple[str, str]] | None = None
                ) -> list[FieldView]:
    out = []
    entered = entered or {}
    for i, f in enumerate(fields):
        fd = t.field_at(f.path)
        zh, en = field_label(t, f.path)
        value = entered.get(f.path, f.value)
        reasons = [reason_words(c, t, f.path.split("[")[0]) for c in f.errors]
        kind = "checkbox" if f.type in ("checkbox", "signature") else "choice" if f.type == "choice" else \
            TEXT_KIND.get(f.type, "text")
        options = []
        if f.type == "choice":
            chosen = value if isinstance(value, list) else [value]
            options = [{"n": n, "value": o.value, "zh": o.label.zh or "", "en": o.label.en or "",
                        "checked": o.value in chosen} for n, o in enumerate(fd.options, 1)]
        machine = f.text if f.text not in (None, "") else None
        out.append(FieldView(
            i=i, path=f.path, type=f.type, kind=kind, zh=zh, en=en, value=value,
            display=value if isinstance(value, str) and f.path in entered else shown(f.type, value),
            status=f.status, to_check=f.status == FieldState.NEEDS_REVIEW, reasons=reasons, machine=machine,
            confidence=round(float(f.confidence or 0) * 100),
            crop_url=f"{API}/records/{rec.id}/fields/{quote(f.path, safe='')}/crop?w={SNIPPET_WIDTH}"
            if f.crop_key else None,
            page=outline(pages.get(f.page_id) if f.page_id else None, t, f.template_page, f.box),
            options=options, multiple=fd.multiple, lines=fd.lines,
            error=(errors or {}).get(f.path), codes=list(f.errors)))
    return out


# ---------------------------------------------------------------- queue
def _filters(batch: int | None, template: str | None, reason: str | None) -> service.Filters:
    return service.Filters(batch=batch, template=template or None, reason=reason or None)


def _qs(filters: service.Filters, **more: Any) -> str:
    q = {**filters.query(), **{k: str(v) for k, v in more.items() if v not in (None, "")}}
    return f"?{urlencode(q)}" if q else ""


def _forms(settings) -> dict[str, dict[str, str]]:  # noqa: ANN001
    return {t.id: {"zh": t.title.zh or t.id, "en": t.title.en or ""} for t in registry_for(settings).all()}


@router.get("/review")
def queue_page(request: Request, batch: Annotated[int | None, Query()] = None,
               template: Annotated[str | None, Query(max_length=64)] = None,
               reason: Annotated[str | None, Query(max_length=64, pattern=REASON_PATTERN)] = None,
               offset: Annotated[int, Query(ge=0)] = 0, note: Annotated[str | None, Query(max_length=16)] = None
               ) -> Response:
    principal = _reviewer(request)
    settings = _settings(request)
    filters = _filters(batch, template, reason)
    with get_db(settings).session() as s:
        q = service.queue(s, principal, filters, limit=50, offset=offset)
        audit(s, principal.actor, "review.queue", "record", count=len(q.items), ids=[i.id for i in q.items])
    reasons = {code: reason_words(code) for code in q.counts.by_reason}
    types = ("checkbox", "choice", "national_id", "date", "phone", "number", "name", "address", "text")
    return render(request, "review_queue.html", principal, title="審核 Review", q=q, f=filters, forms=_forms(settings),
                  reasons=reasons, qs=_qs(filters), note=note, types=types, offset=offset,
                  reason_words=reason_words)


@router.post("/review/next")
def next_page(request: Request, csrf: Annotated[str, Form()] = "", batch: Annotated[str, Form()] = "",
              template: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
              skip: Annotated[str, Form()] = "") -> Response:
    """Take the next record nobody else has open (the queue's Start button, and after a decision)."""
    principal = _reviewer(request)
    check_csrf(request, csrf)
    filters = _filters(int(batch) if batch.isdigit() else None, template[:64],
                       reason if reason and len(reason) <= 64 else None)
    skipped = tuple(int(x) for x in skip.split(",") if x.isdigit())
    record_id = service.next_record(_settings(request), principal, filters, skipped)
    if record_id is None:
        return RedirectResponse(f"/review{_qs(filters, note='empty')}", status_code=303)
    return RedirectResponse(f"/review/records/{record_id}{_qs(filters)}", status_code=303)


# ---------------------------------------------------------------- one record
def _record_page(request: Request, principal: Principal, record_id: int, filters: service.Filters, *,
                 entered: dict[str, Any] | None = None, errors: dict[str, tuple[str, str]] | None = None,
                 message: tuple[str, str] | None = None, status_code: int = 200) -> Response:
    settings = _settings(request)
    with get_db(settings).session() as s:
        rec = s.get(Record, record_id)
        if rec is None:
            raise NotFound(f"there is no record {record_id}")
        fields = list(s.scalars(select(RecordField).where(RecordField.record_id == rec.id).order_by(RecordField.id)))
        page_ids = {f.page_id for f in fields if f.page_id}
        pages = {p.id: p for p in s.scalars(select(Page).where(Page.id.in_(page_ids)))} if page_ids else {}
        t = registry_for(settings).get(rec.template_id, rec.template_version)
        views = field_views(t, rec, fields, pages, entered, errors)
        likely_next = s.scalar(filters.apply(select(Record.id)).where(
            Record.id != rec.id, Record.id.not_in(select(ReviewClaim.record_id).where(
                ReviewClaim.expires_at > utcnow()))).order_by(*service.ORDER).limit(1))
        prefetch = []
        if likely_next is not None:
            nxt = list(s.scalars(select(RecordField).where(RecordField.record_id == likely_next,
                                                           RecordField.status == FieldState.NEEDS_REVIEW)))
            prefetch = [f"{API}/records/{likely_next}/fields/{quote(f.path, safe='')}/crop?w={SNIPPET_WIDTH}"
                        for f in nxt if f.crop_key]
        audit(s, principal.actor, "record.read", "record", rec.id)
        info = {"id": rec.id, "revision": rec.revision, "status": rec.status, "template": rec.template_id,
                "version": rec.template_version, "batch_id": rec.batch_id, "created_at": rec.created_at,
                "urgent": bool(rec.urgent),
                "errors": [(e.get("code"), reason_words(str(e.get("code")), t)) for e in rec.errors or []]}
    to_check = [v for v in views if v.to_check]
    fine = [v for v in views if not v.to_check]
    needs_address = any(v.kind == "address" for v in views)
    codes = set(REASONS) | {f"rule.{r.check}" for r in t.rules}
    client = {"record": rec.id, "revision": info["revision"], "api": API, "claim_s": settings.review_claim_s,
              "reasons": {c: reason_words(c, t) for c in sorted(codes)},
              "next_query": filters.query(), "prefetch": prefetch,
              "words": {"saved": ["已確認", "Confirmed"], "corrected": ["已更正", "Corrected"],
                        "all_done": ["全部確認完畢，按 Ctrl+Enter 核可。", "All checked: press Ctrl+Enter to approve."],
                        "left": ["尚有欄位待確認", "Fields still to check"], "stale": [
                            "這筆紀錄已被他人更改，請重新載入。", "Someone changed this record; reload it."],
                        "claimed": ["其他督導正在處理這筆紀錄。", "Another supervisor has this record open."],
                        "offline": ["無法連線，稍後重試。", "No connection; retrying."]}}
    return render(request, "review_record.html", principal, status_code=status_code,
                  title=f"審核紀錄 Review record {rec.id}", r=info, to_check=to_check, fine=fine,
                  forms=_forms(settings), f=filters, qs=_qs(filters), message=message,
                  districts=_districts() if needs_address else [], client_json=_json(client),
                  editable=rec.status == "needs_review")


def _districts() -> list[str]:
    return [c + d for c, ds in COUNTIES.items() for d in ds]


@router.get("/review/records/{record_id}")
def record_page(request: Request, record_id: int, batch: Annotated[int | None, Query()] = None,
                template: Annotated[str | None, Query(max_length=64)] = None,
                reason: Annotated[str | None, Query(max_length=64, pattern=REASON_PATTERN)] = None) -> Response:
    """A record field by field. Opening it claims it (or says who has it open)."""
    principal = _reviewer(request)
    filters = _filters(batch, template, reason)
    settings = _settings(request)
    with get_db(settings).read_session() as s:
        rec = s.get(Record, record_id)
        if rec is None:
            raise NotFound(f"there is no record {record_id}")
        status = rec.status
    if status == "needs_review":
        try:
            service.claim(settings, record_id, principal)
        except RecordClaimed as exc:
            return render(request, "review_claimed.html", principal, status_code=409, title="已被開啟 Open elsewhere",
                          who=exc.extra.get("claimed_by"), until=exc.extra.get("until"), f=filters,
                          record_id=record_id)
    return _record_page(request, principal, record_id, filters)


def _raw(form: Any, v: FieldView | RecordField, ftype: str, multiple: bool) -> Any:
    name = f"v.{v.path}"
    if ftype in ("checkbox", "signature"):
        return name in form
    if ftype == "choice" and multiple:
        return form.getlist(name)
    return form.get(name, "")


@router.post("/review/records/{record_id}/save")
async def save_record(request: Request, record_id: int) -> Response:
    """The plain form's save (and save-and-approve): every field that needs a person is confirmed
    or corrected as entered, and a field the machine accepted is corrected if it was changed."""
    principal = _reviewer(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    settings = _settings(request)
    filters = _filters(int(form["batch"]) if str(form.get("batch", "")).isdigit() else None,
                       str(form.get("template", ""))[:64] or None, str(form.get("reason", ""))[:64] or None)
    try:
        revision = int(str(form.get("revision", "")))
    except ValueError:
        revision = -1
    with get_db(settings).read_session() as s:
        rec = s.get(Record, record_id)
        if rec is None:
            raise NotFound(f"there is no record {record_id}")
        fields = {f.path: f for f in s.scalars(select(RecordField).where(RecordField.record_id == record_id))}
        t = registry_for(settings).get(rec.template_id, rec.template_version)
    entered: dict[str, Any] = {}
    todo = []
    for path in form.getlist("p"):
        f = fields.get(str(path))
        if f is None:
            continue
        fd = t.field_at(f.path)
        raw = _raw(form, f, f.type, fd.multiple)
        entered[f.path] = raw
        if f.status == FieldState.NEEDS_REVIEW:
            todo.append((f.path, raw))
            continue
        try:
            if not same_value(service.parse_value(fd, f.path, raw), f.value):
                todo.append((f.path, raw))
        except InvalidValue:
            todo.append((f.path, raw))
    for path, raw in todo:
        try:
            revision = service.correct_field(settings, record_id, path, raw, revision, principal).revision
        except InvalidValue as exc:
            return _record_page(request, principal, record_id, filters, entered=entered, status_code=422,
                                errors={path: (exc.extra.get("detail_zh", ""), labels.sentence(exc.message))},
                                message=("有欄位的值不正確，請修正後再儲存。", "A value is not valid: correct it and save again."))
        except StaleRevision:
            return _record_page(request, principal, record_id, filters, status_code=409,
                                message=("這筆紀錄已被他人更改，以下是最新內容，請再檢查一次。",
                                         "Someone changed this record since you opened it: here it is now; check it again."))
    if form.get("action") == "approve":
        try:
            service.approve(settings, record_id, revision, principal)
        except ReviewIncomplete as exc:
            return _record_page(request, principal, record_id, filters, status_code=409,
                                message=("還不能核可：" + "、".join(exc.extra.get("fields", [])[:5] or exc.extra.get("errors", [])),
                                         labels.sentence(exc.message)))
        return _after_decision(request, principal, record_id, filters)
    return RedirectResponse(f"/review/records/{record_id}{_qs(filters)}", status_code=303)


def _after_decision(request: Request, principal: Principal, record_id: int, filters: service.Filters) -> Response:
    nxt = service.next_record(_settings(request), principal, filters, (record_id,))
    if nxt is None:
        return RedirectResponse(f"/review{_qs(filters, note='empty')}", status_code=303)
    return RedirectResponse(f"/review/records/{nxt}{_qs(filters)}", status_code=303)


@router.post("/review/records/{record_id}/reject")
def reject_record(request: Request, record_id: int, csrf: Annotated[str, Form()] = "",
                  revision: Annotated[int, Form()] = -1, reason: Annotated[str, Form(max_length=500)] = "",
                  batch: Annotated[str, Form()] = "", template: Annotated[str, Form()] = "",
                  filter_reason: Annotated[str, Form()] = "") -> Response:
    principal = _reviewer(request)
    check_csrf(request, csrf)
    filters = _filters(int(batch) if batch.isdigit() else None, template[:64] or None, filter_reason[:64] or None)
    if not reason.strip():
        return _record_page(request, principal, record_id, filters, status_code=422,
                            message=("請寫下退件的原因。", "Say why the record is rejected."))
    try:
        service.reject(_settings(request), record_id, revision, reason, principal)
    except StaleRevision:
        return _record_page(request, principal, record_id, filters, status_code=409,
                            message=("這筆紀錄已被他人更改，請再檢查一次。", "Someone changed this record; check it again."))
    return _after_decision(request, principal, record_id, filters)


@router.post("/review/records/{record_id}/release")
def release_record(request: Request, record_id: int, csrf: Annotated[str, Form()] = "",
                   batch: Annotated[str, Form()] = "", template: Annotated[str, Form()] = "",
                   reason: Annotated[str, Form()] = "") -> Response:
    """Give the record back (the page's "leave" button; the script sends it when the page is left)."""
    principal = _reviewer(request)
    check_csrf(request, csrf)
    service.release(_settings(request), record_id, principal)
    filters = _filters(int(batch) if batch.isdigit() else None, template[:64] or None, reason[:64] or None)
    return RedirectResponse(f"/review{_qs(filters)}", status_code=303)


# ---------------------------------------------------------------- group verification
@router.get("/review/group")
def group_page(request: Request, template: Annotated[str | None, Query(max_length=64)] = None,
               field: Annotated[str | None, Query(max_length=128)] = None,
               type: Annotated[str | None, Query(max_length=16)] = None,  # noqa: A002
               batch: Annotated[int | None, Query()] = None,
               done: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    principal = _reviewer(request)
    settings = _settings(request)
    with get_db(settings).session() as s:
        view = service.group_cells(s, settings, principal, template=template or None, field=field or None,
                                   ftype=type or None, batch=batch, limit=60)
        audit(s, principal.actor, "review.group", "record", count=len(view.cells),
              ids=sorted({c.record_id for c in view.cells}))
    cells = []
    for c in view.cells:
        cells.append({**c.model_dump(), "display": shown(c.type, c.value),
                      "reasons": [reason_words(code) for code in c.reasons],
                      "crop": f"{c.crop_url}?w={GROUP_SNIPPET_WIDTH}" if c.crop_url else None})
    summary = None
    if done:
        parts = done.split("-")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            summary = {"confirmed": int(parts[0]), "corrected": int(parts[1]), "failed": int(parts[2])}
    title_zh = {"checkbox": "勾選方格", "choice": "選項"}.get(type or "", type or field or "")
    return render(request, "review_group.html", principal, title=f"分組確認 Group verification {title_zh}",
                  view=view, cells=cells, summary=summary, forms=_forms(settings),
                  query={"template": template or "", "field": field or "", "type": type or "",
                         "batch": batch or ""})


@router.post("/review/group")
async def group_save(request: Request) -> Response:
    """The plain form of a grid: each cell confirmed as shown or corrected as entered."""
    principal = _reviewer(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    settings = _settings(request)
    items = []
    for key in form.getlist("cell"):
        rid, _, path = str(key).partition(":")
        if not rid.isdigit():
            continue
        kind = str(form.get(f"k.{key}", "text"))
        name = f"v.{key}"
        if kind == "checkbox":
            value: Any = name in form
        elif kind == "multi":
            value = form.getlist(name)
        else:
            value = form.get(name, "")
        items.append(GroupItemIn(record_id=int(rid), path=path, value=value,
                                            revision=int(str(form.get(f"r.{key}", "0")) or 0)))
    out = service.apply_group(settings, items, principal, hold=False) if items else None
    query = {k: str(form.get(k, "")) for k in ("template", "field", "type", "batch") if form.get(k)}
    if out is not None:
        query["done"] = f"{out.confirmed}-{out.corrected}-{out.failed}"
    return RedirectResponse(f"/review/group?{urlencode(query)}", status_code=303)


# ---------------------------------------------------------------- statistics (admins)
@router.get("/review/stats")
def stats_page(request: Request, template: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    principal = signed_in(request)
    needs(principal, "admin")
    settings = _settings(request)
    with get_db(settings).session() as s:
        stats = service.spot_check_stats(s, settings, template or None)
        audit(s, principal.actor, "review.stats", "record", count=stats.records_checked)
    return render(request, "review_stats.html", principal, title="抽查統計 Spot checks", stats=stats,
                  chosen=template or "", forms=_forms(settings))
