"""The clerk pages, rendered on the server through the service layer (Jinja2).

Every page works without JavaScript: sign-in, sign-out, upload (a plain multipart form), the batch
list, the batch page (a snapshot; it reloads itself while the batch is processing), re-run and
cancel (forms, cancel behind a confirmation page). The scripts in ``static/`` then enhance them
against the JSON API on the same origin with the same session cookie: uploads with progress and
drag and drop (``POST /api/v1/batches``), live page updates (``GET /api/v1/batches/{id}/events``,
Server-Sent Events with Last-Event-ID resume), re-run and cancel without a reload.

Errors of the service layer become HTML pages here (the API's handlers answer JSON): not signed in
-> redirect to the sign-in page; 403, 404, 409, 429 -> a page that says what is wrong, in plain words
(an id too large for the database is a 404 page too).
CSRF (`intake.auth.csrf`): every POST to these pages is checked by `PageRoute` before its handler
runs: the session must be live, the Origin (or Sec-Fetch-Site) this site's, and the token (the form's
hidden ``csrf`` field or the ``X-CSRF-Token`` header) the session's. The sign-in form carries a token
bound to the ``intake_login`` cookie the sign-in page sets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from intake.auth import csrf as csrf_checks
from intake.auth.audit import audit
from intake.auth.service import (
    SESSION_COOKIE,
    Principal,
    authenticate_cookie,
    end_session,
    sign_in,
    start_session,
)
from intake.batches import receive, service
from intake.batches.processing import registry_for
from intake.config import Settings
from intake.db.models import BatchFile, FormInstance, Page, Record, RecordField, User
from intake.db.session import get_db
from intake.errors import (
    IntakeError,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
)
from intake.placement.service import can_place
from intake.web import labels

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
API = "/api/v1"
PAGE_SIZE = 50
PAGE_ROWS = 100  # pages of a batch shown at once (a batch may have hundreds)

# Pages hold names of files and statuses: not cached, not framed, scripts and styles from here only.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _static_versions() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10] for p in STATIC_DIR.iterdir() if p.is_file()}


_VERSIONS = _static_versions()
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals.update(
    static=lambda name: f"/static/{name}?v={_VERSIONS.get(name, '0')}",
    labels=labels,
    API=API,
)
templates.env.filters["size"] = labels.human_size
templates.env.filters["utc"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if isinstance(d, datetime) else ""
templates.env.filters["iso"] = lambda d: d.isoformat() if isinstance(d, datetime) else ""


# ---------------------------------------------------------------- errors as pages
class PageRoute(APIRoute):
    """A route whose errors are HTML pages (or a redirect to sign in), with security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                if request.method not in csrf_checks.SAFE_METHODS and request.url.path != "/login":
                    await _check_csrf_before(request)
                response = await handler(request)
            except NotAuthenticated:
                response = RedirectResponse(login_url(request), status_code=303)
            except IntakeError as exc:
                response = error_page(request, exc.http_status, exc.code, exc.message)
                if isinstance(exc, TooManyRequests):
                    response.headers["Retry-After"] = str(exc.retry_after)
            except (OverflowError, DataError) as exc:  # an id beyond what the database stores
                if isinstance(exc, DataError) and "out of range" not in str(getattr(exc, "orig", exc)):
                    raise
                response = error_page(request, 404, "not_found", "there is nothing with a number that large")
            except RequestValidationError:
                response = error_page(request, 404, "not_found", "there is no such page")
            except StarletteHTTPException as exc:
                response = error_page(request, exc.status_code, "http_error", str(exc.detail))
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
            return response

        return run


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# Forms whose body is streamed by their handler (`intake.batches.receive`): reading the form here
# would spool the whole upload before its limits apply; the handler checks the token itself.
STREAMED_FORMS = frozenset({"/upload"})


async def _check_csrf_before(request: Request) -> None:
    """A POST to a page: a live session (else NotAuthenticated: to the sign-in page, nothing done),
    from this site, with the session's token (header, else the form's ``csrf`` field)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("sign in first")
    settings = _settings(request)
    authenticate_cookie(get_db(settings), cookie, settings)
    csrf_checks.check_origin(request, settings)
    given = request.headers.get(csrf_checks.HEADER)
    if given is None and request.url.path in STREAMED_FORMS:
        return  # the handler reads the token from the streamed body before any file is written
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        given = str((await request.form()).get(csrf_checks.FORM_FIELD) or "")
    csrf_checks.check_token(csrf_checks.token_for_session(settings, cookie), given)


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/batches"  # a form posted after the session ended: start again from the list
    return "/login" if target in ("/", "/batches") else f"/login?next={quote(target, safe='/')}"


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no other host) may be a redirect target."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return "/batches"
    return target


def error_page(request: Request, status: int, code: str, message: str) -> Response:
    principal = _maybe_principal(request)
    zh, en = labels.REASONS.get(code, ("發生錯誤。", "Something went wrong."))
    if status == 404:
        zh, en = "找不到這個頁面，或您沒有權限查看。", "There is no such page, or it is not yours to see."
    return render(request, "error.html", principal, status_code=status,
                  title="錯誤 Error", error={"status": status, "zh": zh, "en": en, "detail": labels.sentence(message)})


# ---------------------------------------------------------------- session helpers
def _settings(request: Request) -> Settings:
    return request.app.state.settings


def signed_in(request: Request) -> Principal:
    """The signed-in user (session cookie only; API tokens are for systems, not these pages)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("sign in first")
    settings = _settings(request)
    return authenticate_cookie(get_db(settings), cookie, settings).principal


def _maybe_principal(request: Request) -> Principal | None:
    try:
        return signed_in(request)
    except IntakeError:
        return None


def csrf_token(request: Request) -> str:
    """The session's CSRF token (`intake.auth.csrf`): in every form and in the pages' meta tag."""
    return csrf_checks.token_for_session(_settings(request), request.cookies.get(SESSION_COOKIE, ""))


def check_csrf(request: Request, token: str) -> None:
    """Checked again by the handlers that take a form (`PageRoute` checks every POST first)."""
    csrf_checks.check_token(csrf_token(request), token)


def needs(principal: Principal, scope: str) -> None:
    if not principal.can(scope):
        raise PermissionDenied(f"this needs the {scope!r} permission, which your role does not have")


def render(request: Request, template: str, principal: Principal | None, *, status_code: int = 200,
           **context: Any) -> Response:
    if template == "upload.html":
        context["client_json"] = _json(labels.upload_labels())
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context |= {"user": principal, "csrf": csrf_token(request) if principal else "", "path": request.url.path,
                "here": here, "can_place_pages": can_place(principal)}
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _forms(settings: Settings) -> dict[str, dict[str, Any]]:
    """Template titles and page counts by "id@version" (for the Form column)."""
    reg = registry_for(settings)
    return {f"{t.id}@{t.version}": {"id": t.id, "version": t.version, "zh": t.title.zh or "", "en": t.title.en or "",
                                     "pages": len(t.pages)} for t in reg.all()}


# ---------------------------------------------------------------- sign in and out
@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/batches" if _maybe_principal(request) else "/login", status_code=303)


def _login_form(request: Request, status_code: int = 200, *, next_: str, name: str = "",
                error: tuple[str, str] | None = None, headers: dict[str, str] | None = None) -> Response:
    """The sign-in page, with a token bound to the ``intake_login`` cookie (set here if missing)."""
    settings = _settings(request)
    login_cookie = request.cookies.get(csrf_checks.LOGIN_COOKIE) or csrf_checks.new_login_cookie()
    response = render(request, "login.html", None, status_code=status_code, title="登入 Sign in", next=next_,
                      name=name, error=error, login_csrf=csrf_checks.token_for_login(settings, login_cookie))
    if request.cookies.get(csrf_checks.LOGIN_COOKIE) != login_cookie:
        response.set_cookie(csrf_checks.LOGIN_COOKIE, login_cookie, max_age=24 * 3600, httponly=True, samesite="lax",
                            secure=settings.env == "production", path="/login")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query name
    principal = _maybe_principal(request)
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_=safe_next(next))


@router.post("/login")
def login(request: Request, name: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/batches", csrf: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    settings = _settings(request)
    target = safe_next(next)
    csrf_checks.check_origin(request, settings)
    login_cookie = request.cookies.get(csrf_checks.LOGIN_COOKIE)
    if not login_cookie or not csrf_checks.matches(csrf_checks.token_for_login(settings, login_cookie), csrf):
        return _login_form(request, 403, next_=target, name=name,
                           error=("登入表單已過期，請再登入一次。", "The sign-in form had expired; sign in again."))
    if not name.strip() or not password:
        return _login_form(request, 422, next_=target, name=name,
                           error=("請輸入帳號和密碼。", "Enter your user name and password."))
    from intake.auth.routes import client_address

    try:
        with get_db(settings).session() as s:
            user = sign_in(s, name.strip()[:64], password[:1024], client_address(request), settings)
            _, token = start_session(s, user, settings)
    except TooManyRequests as exc:
        minutes = max(1, -(-exc.retry_after // 60))
        return _login_form(request, 429, next_=target, name=name, headers={"Retry-After": str(exc.retry_after)},
                           error=(f"登入失敗次數太多，請 {minutes} 分鐘後再試。",
                                  f"Too many failed sign-ins. Try again in {minutes} minute"
                                  f"{'s' if minutes > 1 else ''}."))
    except NotAuthenticated:
        return _login_form(request, 401, next_=target, name=name,
                           error=("帳號或密碼錯誤。", "The user name or password is wrong."))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_max_age_s, httponly=True, samesite="lax",
                        secure=settings.env == "production", path="/")
    response.delete_cookie(csrf_checks.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Sign out (`PageRoute` has checked the session and the token): the session ends on the server."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    with get_db(_settings(request)).session() as s:
        end_session(s, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------- batches
@router.get("/batches")
def batch_list(request: Request, before: Annotated[int | None, Query(ge=1)] = None) -> Response:
    principal = signed_in(request)
    needs(principal, "batches:read")
    with get_db(_settings(request)).read_session() as s:
        batches = service.list_batches(s, principal, PAGE_SIZE, before)
        review = service.review_counts(s, [b.id for b in batches])
        items = [service.summary(s, b, review[b.id]) for b in batches]
        owners = {b.id: b.created_by_user_id for b in batches}
        ids = {u for u in owners.values() if u is not None}
        names = dict(s.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    rows = [{"batch": b, "owner": names.get(owners[b.id]) or ("API" if owners[b.id] is None else "")}
            for b in items]
    older = items[-1].id if len(items) == PAGE_SIZE else None
    return render(request, "batches.html", principal, title="批次 Batches", rows=rows, older=older, before=before,
                  show_owner=principal.can("batches:read_all"), can_review=can_review(principal),
                  can_place=can_place(principal))


@router.get("/upload")
def upload_page(request: Request) -> Response:
    principal = signed_in(request)
    needs(principal, "batches:write")
    return render(request, "upload.html", principal, title="上傳 Upload", error=None, limits=_settings(request))


def _json(data: Any) -> str:
    """JSON for a <script type="application/json"> block ("<" escaped so it cannot close the tag)."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


@router.post("/upload")
async def upload(request: Request) -> Response:
    """The form's own upload (without JavaScript); the page's script posts to the API instead.
    Signed in and within the rate before the body is read; the CSRF token (the form's first
    field) is checked before any file is written (`intake.batches.receive`)."""
    principal = await anyio.to_thread.run_sync(signed_in, request)
    needs(principal, "batches:write")
    settings = _settings(request)
    try:
        allowance = await anyio.to_thread.run_sync(receive.check_rate, settings, principal)
        received = await receive.receive(request, settings, allowance=allowance,
                                         before_files=lambda fields: check_csrf(request, fields.get("csrf", "")))
        try:
            check_csrf(request, received.fields.get("csrf", ""))
            received.files = [f for f in received.files if f.name]  # the picker sends an empty part if unused
            if not received.files:
                raise InvalidRequest("choose at least one file")
            batch_id = await anyio.to_thread.run_sync(service.create_batch, received.read(), principal, settings)
        finally:
            received.close()
    except IntakeError as exc:
        if isinstance(exc, PermissionDenied | NotAuthenticated):
            raise
        zh = labels.REASONS.get(exc.code, ("沒有檔案可以接受。", ""))[0]
        return render(request, "upload.html", principal, status_code=exc.http_status, title="上傳 Upload",
                      limits=settings, error={"zh": zh, "en": labels.sentence(exc.message), "code": exc.code})
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


def can_review(principal: Principal | None) -> bool:
    """Who is shown the way to the review station: whoever holds ``records:review``."""
    return principal is not None and principal.can("records:review")


def _window(batch_id: int, problems: bool, start: int, limit: int, w: service.Window) -> dict[str, Any]:
    def url(at: int) -> str:
        q = ["problems=1"] if problems else []
        q += [f"start={at}"] if at else []
        q += [f"limit={limit}"] if limit != PAGE_ROWS else []
        return f"/batches/{batch_id}" + (f"?{'&'.join(q)}" if q else "")

    query = "&".join([f"problems={'true' if problems else 'false'}", f"start={start}", f"limit={limit}"])
    return {"problems": problems, "start": start, "limit": limit, "matching": w.matching, "first": w.first,
            "last": w.last, "query": query,
            "prev_url": url(w.prev_start) if w.prev_start is not None else None,
            "next_url": url(w.next_start) if w.next_start is not None else None}


@router.get("/batches/{batch_id}")
def batch_page(request: Request, batch_id: int, problems: Annotated[str, Query(max_length=5)] = "",
               start: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=10, le=500)] = PAGE_ROWS) -> Response:
    principal = signed_in(request)
    needs(principal, "batches:read")
    settings = _settings(request)
    only_problems = problems not in ("", "0", "false")
    with get_db(settings).session() as s:
        batch = service.get_batch_for(s, batch_id, principal)
        window = service.page_window(s, batch_id, problems=only_problems, start=start, limit=limit)
        view = service.batch_view(s, batch, window=window, viewer=principal)
        owner = s.get(User, batch.created_by_user_id).name if batch.created_by_user_id else "API"
        audit(s, principal.actor, "batch.read", "batch", batch_id)
    forms = _forms(settings)
    client = labels.client_labels() | {"forms": forms}
    return render(request, "batch.html", principal, title=f"批次 Batch {batch_id}", b=view, owner=owner,
                  forms=forms, eta=labels.eta_text(view.progress.eta_seconds, view.progress.done, view.progress.total),
                  files_noted=[f for f in view.files if f.status != "accepted"],
                  can_write=principal.can("batches:write"), client_json=_json(client),
                  can_review=can_review(principal), can_place=can_place(principal),
                  window=_window(batch_id, only_problems, start, limit, window))


@router.get("/batches/{batch_id}/cancel")
def cancel_confirm(request: Request, batch_id: int) -> Response:
    principal = signed_in(request)
    needs(principal, "batches:write")
    with get_db(_settings(request)).read_session() as s:
        view = service.summary(s, service.get_batch_for(s, batch_id, principal))
    return render(request, "cancel.html", principal, title=f"取消批次 Cancel batch {batch_id}", b=view)


@router.post("/batches/{batch_id}/cancel")
def cancel(request: Request, batch_id: int, csrf: Annotated[str, Form()] = "") -> Response:
    principal = signed_in(request)
    needs(principal, "batches:write")
    check_csrf(request, csrf)
    service.cancel_batch(batch_id, principal, _settings(request))
    return RedirectResponse(f"/batches/{batch_id}", status_code=303)


@router.post("/pages/{page_id}/rerun")
def rerun(request: Request, page_id: int, csrf: Annotated[str, Form()] = "") -> Response:
    principal = signed_in(request)
    needs(principal, "batches:write")
    check_csrf(request, csrf)
    settings = _settings(request)
    service.rerun_page(page_id, principal, settings)
    with get_db(settings).read_session() as s:
        batch_id = s.scalar(select(Page.batch_id).where(Page.id == page_id))
    return RedirectResponse(f"/batches/{batch_id}#page-{page_id}", status_code=303)


# ---------------------------------------------------------------- records
@router.get("/records/{record_id}")
def record_page(request: Request, record_id: int) -> Response:
    """A record's summary for whoever may see its batch: form, status, pages and how many fields
    need review — never the values (supervisors read those in the review station, linked here)."""
    principal = signed_in(request)
    needs(principal, "batches:read")
    settings = _settings(request)
    with get_db(settings).session() as s:
        rec = s.get(Record, record_id)
        if rec is None:
            raise NotFound(f"there is no record {record_id}")
        service.get_batch_for(s, rec.batch_id, principal)
        counts = dict(s.execute(select(RecordField.status, func.count()).where(RecordField.record_id == rec.id)
                                .group_by(RecordField.status)).all())
        inst = s.get(FormInstance, rec.instance_id)
        page_ids = list(inst.page_ids) if inst else []
        pages = list(s.scalars(select(Page).where(Page.id.in_(page_ids)))) if page_ids else []
        files = {f.id: f for f in s.scalars(select(BatchFile).where(BatchFile.id.in_({p.file_id for p in pages})))}
        by_id = {p.id: p for p in service.pages_out(s, pages, files)}
        rows = [by_id[pid] for pid in page_ids if pid in by_id]
        summary = {"id": rec.id, "status": rec.status, "template": rec.template_id, "version": rec.template_version,
                   "revision": rec.revision, "batch_id": rec.batch_id, "updated_at": rec.updated_at,
                   "errors": len(rec.errors or [])}
        audit(s, principal.actor, "record.summary", "record", record_id)
    forms = _forms(settings)
    return render(request, "record.html", principal, title=f"紀錄 Record {record_id}", r=summary, counts=counts,
                  pages=rows, form=forms.get(f"{summary['template']}@{summary['version']}"),
                  can_read_records=principal.can("records:read"), can_review=principal.can("records:review"))
