"""The FastAPI application: `create_app(settings=None)`.

- The HTTP API under ``/api/v1`` (batches, pages, records, templates, auth, users, tokens); its
  OpenAPI document at ``/api/v1/openapi.json`` and interactive docs at ``/api/v1/docs``.
- Errors: every `IntakeError` becomes ``{"error": code, "detail": message}`` with its
  ``http_status``; a malformed request becomes ``{"error": "invalid_request", "detail": ...,
  "fields": [...]}`` with 422.
- Embedded defaults (no ``INTAKE_BROKER_URL``): at startup the app re-enqueues pages left
  unfinished by a previous run, and processes pages on one background thread
  (`intake.dispatch.ThreadDispatcher`), stopped at shutdown, and sends webhooks on another
  (`intake.webhooks.runner`). With a broker, Celery workers do both.
- The clerk's web pages (`intake.web`: sign in, upload, batch list, live batch page) are mounted
  last on this same app, at the site root, with the same session cookie.
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

from intake import dispatch
from intake.auth.routes import router as auth_router
from intake.batches.routes import router as batches_router
from intake.config import Settings, get_settings
from intake.errors import IntakeError
from intake.exports.routes import router as exports_router
from intake.families.routes import router as families_router
from intake.records.routes import router as records_router
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
    if exc.http_status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.code)
    return _error(exc.http_status, exc.code, exc.message, headers)


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
            d = dispatch.dispatcher_for(settings)
            if isinstance(d, dispatch.ThreadDispatcher):
                d.webhooks()  # sends webhooks and polls for due retries (intake.webhooks.runner)
        yield
        d = dispatch.dispatcher_for(settings)
        if embedded and isinstance(d, dispatch.ThreadDispatcher):
            await anyio.to_thread.run_sync(d.stop)

    app = FastAPI(
        title="form-intake",
        version="1",
        description="Scanned paper notification forms into validated records.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(IntakeError, _intake_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for router in (auth_router, batches_router, records_router, templates_router, webhooks_router,
                   exports_router, stats_router, families_router):
        app.include_router(router, prefix=API_PREFIX)

    @app.get(f"{API_PREFIX}/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    _install_web(app)
    return app
