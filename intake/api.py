"""The FastAPI application: `create_app(settings=None)`.

- The HTTP API under ``/api/v1`` (batches, pages, placement, records, review, templates, auth,
  users, tokens); its OpenAPI document at ``/api/v1/openapi.json`` and interactive docs at
  ``/api/v1/docs`` (Swagger UI served from this server, `intake.api_docs`: they work offline).
- Errors: every `IntakeError` becomes ``{"error": code, "detail": message}`` with its
  ``http_status``; a malformed request becomes ``{"error": "invalid_request", "detail": ...,
  "fields": [...]}`` with 422.
- Embedded defaults (no ``INTAKE_BROKER_URL``): the app processes pages on one background thread
  (`intake.batches.inprocess.ThreadDispatcher`, installed when the app is made, stopped at
  shutdown), and at startup re-enqueues pages left unfinished by a previous run. With a broker,
  Celery workers do it.
- The web pages (`intake.web`: sign in, upload, batch list, live batch page, the review station)
  are mounted last on this same app, at the site root, with the same session cookie.
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
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from intake import api_docs
from intake.auth.routes import router as auth_router
from intake.batches import inprocess
from intake.batches.routes import router as batches_router
from intake.config import Settings, get_settings
from intake.errors import IntakeError
from intake.placement.routes import router as placement_router
from intake.records.routes import router as records_router
from intake.review.routes import router as review_router
from intake.templates_api import router as templates_router
from intake.web import install as _install_web

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra) -> JSONResponse:  # noqa: ANN003
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)


async def _intake_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntakeError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    if exc.http_status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.code)
    return _error(exc.http_status, exc.code, exc.message, headers, **exc.extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [{"loc": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")} for e in exc.errors()]
    where = ", ".join(".".join(f["loc"]) + ": " + f["message"] for f in fields[:3])
    return _error(422, "invalid_request", f"the request is not valid ({where})", fields=fields)


_HTTP_CODES = {401: "not_authenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "the request failed"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is nothing at {request.url.path}"
    return _error(exc.status_code, code, detail, exc.headers)


def _recover(settings: Settings) -> None:
    """Embedded defaults: nothing else runs pages, so everything unfinished was interrupted."""
    from intake.batches.service import sweep

    now_settings = settings.model_copy(update={"stuck_after_s": 1, "task_time_limit_s": 1})
    try:
        report = sweep(settings=now_settings)
        if any(report.values()):
            log.warning("resumed unfinished work from a previous run: %s", report)
    except Exception as exc:  # noqa: BLE001 - a broken database shows up on the first request anyway
        log.error("could not resume unfinished work: %s", type(exc).__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedded = not settings.broker_url
        if embedded:
            await anyio.to_thread.run_sync(_recover, settings)
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
    for router in (auth_router, batches_router, placement_router, records_router, review_router, templates_router):
        app.include_router(router, prefix=API_PREFIX)

    @app.get(f"{API_PREFIX}/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    api_docs.install(app, API_PREFIX)
    _install_web(app)
    # Compressed responses for slow lines (pages, scripts, JSON). Never the Server-Sent Events
    # stream: compressing it would hold events back in the compressor's buffer.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6,
                       exclude_content_types=DEFAULT_EXCLUDED_CONTENT_TYPES)
    return app
