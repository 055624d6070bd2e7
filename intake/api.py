"""The FastAPI application: `create_app(settings=None)`.

- The HTTP API under ``/api/v1`` (batches, pages, placement, records, review, templates, auth,
  users, tokens); its OpenAPI document at ``/api/v1/openapi.json`` and interactive docs at
  ``/api/v1/docs`` (Swagger UI served from this server, `intake.api_docs`: they work offline).
- Errors: every `IntakeError` becomes ``{"error": code, "detail": message}`` with its
  ``http_status``; a malformed request becomes ``{"error": "invalid_request", "detail": ...,
  "fields": [...]}`` with 422.
- Embedded defaults (no ``INTAKE_BROKER_URL``): the app processes pages on one background thread
  (`intake.batches.inprocess.ThreadDispatcher`, installed when the app is made, stopped at
  shutdown), sends webhooks on another (`intake.webhooks.runner`), and at startup re-enqueues
  pages left unfinished by a previous run. With a broker, Celery workers do both.
- The web pages (`intake.web`: sign in, upload, batch list, live batch page, the review station,
  placing pages, the public statistics, the admins' webhooks) are mounted last on this same app,
  at the site root, with the same session cookie.
- Responses are gzip-compressed when the client accepts it, except the SSE stream and images.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.routing import Match

from intake import api_docs
from intake.auth.routes import document_limits
from intake.auth.routes import router as auth_router
from intake.batches import inprocess
from intake.batches.routes import router as batches_router
from intake.config import Settings, get_settings
from intake.errors import IntakeError
from intake.exports.routes import router as exports_router
from intake.families.routes import router as families_router
from intake.placement.routes import router as placement_router
from intake.records.routes import router as records_router
from intake.retention_api import router as retention_router
from intake.review.routes import router as review_router
from intake.stats.routes import router as stats_router
from intake.templates_api import router as templates_router
from intake.web import install as _install_web
from intake.webhooks.routes import router as webhooks_router

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra) -> JSONResponse:  # noqa: ANN003
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)


async def _intake_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntakeError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    if "retry_after" in exc.extra:  # 429 (intake.batches.receive): when to try again
        headers = {"Retry-After": str(exc.extra["retry_after"])}
    if exc.http_status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.code)
    return _error(exc.http_status, exc.code, exc.message, headers, **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in exc.errors()]
    where = ", ".join(".".join(f["loc"]) + ": " + f["message"] for f in fields[:3])
    return _error(422, "invalid_request", f"the request is not valid ({where})", fields=fields)


ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "description": "Every error: a stable code and one sentence saying what is wrong",
    "properties": {
        "error": {"type": "string", "description": "stable code, e.g. not_found, invalid_request, forbidden"},
        "detail": {"type": "string", "description": "what is wrong, in words a person can act on"},
        "retry_after": {"type": "integer", "description": "for too_many_attempts: seconds to wait (as Retry-After)"},
        "fields": {"type": "array", "description": "for invalid_request: each invalid part of the request",
                   "items": {"type": "object", "properties": {"loc": {"type": "array", "items": {"type": "string"}},
                                                              "message": {"type": "string"}},
                             "required": ["loc", "message"]}},
    },
    "required": ["error", "detail"],
}
_ERRORS = {401: "not signed in, or the token is unknown or revoked", 403: "you do not have the permission this needs",
           404: "there is no such thing (or it is not yours to see)", 409: "it conflicts with the current state",
           413: "too large: too many files, pages or bytes", 415: "a file type that is not accepted",
           422: "the request is not valid: a parameter, the body or a value in it",
           429: "too many attempts; wait the seconds in Retry-After"}


def _document_errors(schema: dict) -> dict:
    """Every operation under /api/v1 documents the errors it can answer, with the one error
    shape (`ERROR_SCHEMA`) instead of FastAPI's own 422 body, which this API never sends."""
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps.pop("HTTPValidationError", None)
    comps.pop("ValidationError", None)
    comps["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(API_PREFIX):
            continue
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = [404, 422]
            if op.get("security"):
                codes += [401, 403]
            if method != "get":
                codes.append(409)
            if "multipart/form-data" in (op.get("requestBody") or {}).get("content", {}):
                codes += [413, 415]
            responses = op.setdefault("responses", {})
            for code in sorted(codes):  # a route's own description of an error (what it means there) is kept
                own = responses.get(str(code), {}).get("description")
                responses[str(code)] = {"description": own or _ERRORS[code],
                                        "content": {"application/json": {"schema": ref}}}
            for code, resp in responses.items():  # errors a route declares itself get the one shape too
                if code.startswith("4") and "content" not in resp:
                    resp["content"] = {"application/json": {"schema": ref}}
    return schema


_HTTP_CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _web_page(request: Request, status: int, code: str, detail: str, headers: dict[str, str] | None = None):  # noqa: ANN202
    """The same error as an HTML page, for the web routes (`intake.web.routes.error_page`)."""
    from intake.web.routes import SECURITY_HEADERS, error_page

    response = error_page(request, status, code, detail)
    for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
        response.headers.setdefault(key, value)
    return response


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
    headers = exc.headers
    if not _is_api(request) and not request.url.path.startswith("/static/"):
        if exc.status_code == 404:
            detail = "there is no such page"
        return _web_page(request, exc.status_code, code, detail, headers)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is nothing at {request.url.path}"
    if exc.status_code == 400:  # a body that cannot be parsed (not JSON, broken multipart)
        return _error(422, "invalid_request", f"the request body could not be read ({detail.lower()})")
    if exc.status_code == 405:  # Allow: every method of the path, not only those of the first route
        allowed = sorted({m for r in request.app.router.routes if isinstance(r, APIRoute)
                          and r.matches(request.scope)[0] != Match.NONE for m in r.methods} - {"HEAD"})
        detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    return _error(exc.status_code, code, detail, headers)


async def _number_too_large(request: Request, exc: Exception) -> JSONResponse:
    """An id beyond what the database stores (SQLite: 64 bits; PostgreSQL integer columns: 32)
    names nothing that exists."""
    if not _is_api(request):
        return _web_page(request, 404, "not_found", "there is nothing with a number that large")
    return _error(404, "not_found", "there is nothing with a number that large")


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected: 500 in the problem shape (an HTML page on the web routes), logged by its
    type only (a message may quote data); the server logs the traceback."""
    log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
    detail = "something went wrong on the server; it has been logged, try again later"
    if not _is_api(request):
        try:
            return _web_page(request, 500, "internal_error", detail)
        except Exception:  # noqa: BLE001 - the page itself failed: the JSON answer below
            pass
    return _error(500, "internal_error", detail)


def _out_of_range(exc: Exception) -> bool:
    return isinstance(exc, OverflowError) or (
        isinstance(exc, DataError) and "out of range" in str(getattr(exc, "orig", exc)))


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    if _out_of_range(exc):
        return await _number_too_large(request, exc)
    raise exc


def _recover(settings: Settings) -> None:
    """Embedded defaults: nothing else runs pages, so everything unfinished was interrupted."""
    from intake.batches.service import sweep

    try:
        report = sweep(settings=settings, interrupted=True)
        if any(report.values()):
            log.warning("resumed unfinished work from a previous run: %s", report)
    except Exception as exc:  # noqa: BLE001 - a broken database shows up on the first request anyway
        log.error("could not resume unfinished work: %s", type(exc).__name__)


def _collect(settings: Settings) -> None:
    """Temporary and orphaned files a killed process left behind (`intake.collect`)."""
    from intake.collect import collect_orphans

    try:
        collect_orphans(settings)
    except Exception as exc:  # noqa: BLE001 - never keep the API from starting
        log.error("could not collect orphaned files: %s", type(exc).__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = not settings.broker_url
        await anyio.to_thread.run_sync(_collect, settings)
        if embedded:
            d = inprocess.install_thread(settings)  # again after a shutdown of this app (it uninstalls)
            await anyio.to_thread.run_sync(_recover, settings)
            if isinstance(d, inprocess.ThreadDispatcher):
                d.webhooks()  # sends webhooks and polls for due retries (intake.webhooks.runner)
        yield
        if embedded:
            await anyio.to_thread.run_sync(inprocess.stop, settings)

    app = FastAPI(
        title="form-intake",
        version="1",
        description="Scanned paper notification forms into validated records.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # intake.api_docs serves Swagger UI from a package, not a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if not settings.broker_url:
        inprocess.install_thread(settings)
    app.add_exception_handler(IntakeError, _intake_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OverflowError, _number_too_large)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _server_error)
    for router in (auth_router, batches_router, placement_router, records_router, review_router, templates_router,
                   webhooks_router, exports_router, stats_router, families_router, retention_router):
        app.include_router(router, prefix=API_PREFIX)

    @app.get(f"{API_PREFIX}/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    default_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_limits(_document_errors(default_openapi()), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    api_docs.install(app, API_PREFIX)
    _install_web(app)
    # Compressed responses for slow lines (pages, scripts, JSON). Never the Server-Sent Events
    # stream: compressing it would hold events back in the compressor's buffer.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6,
                       exclude_content_types=DEFAULT_EXCLUDED_CONTENT_TYPES)
    return app
