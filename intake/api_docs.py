"""The interactive API documentation at ``/api/v1/docs``, served from this server only.

FastAPI's default page loads Swagger UI from a CDN, so without internet (a clerk's office network,
an air-gapped deployment) it is blank. Here Swagger UI's files come from a package: the
``fastapi-offline`` wheel carries Swagger UI 5's distribution (Apache-2.0; version 5 reads the
OpenAPI 3.1 documents FastAPI writes, which ``swagger-ui-bundle``'s Swagger UI 4 cannot), and
only its ``static/`` folder is used, mounted at ``/api/v1/docs/assets``. The page starts Swagger
UI with a small script of ours instead of an inline one, so it keeps a strict
Content-Security-Policy: scripts and connections to this server only. Styles may be inline
(Swagger UI sets element styles from its scripts); the page shows no personal data. For a
signed-in browser the page carries the session's CSRF token (a meta tag, as the web pages do) and
"Try it out" sends it as ``X-CSRF-Token`` with every change (`intake.auth.csrf`).
"""

from __future__ import annotations

import json
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

# The package's own folder of Swagger UI files (its FastAPIOffline serves them the same way).
ASSETS = Path(fastapi_offline.__file__).with_name("static")

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{csrf}<title>{title} API</title>
<link rel="stylesheet" href="{docs}/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{docs}/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{docs}/assets/swagger-ui-bundle.js"></script>
<script src="{docs}/start.js"></script>
</body>
</html>
"""

_START = """window.ui = SwaggerUIBundle({{
  url: {openapi},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  requestInterceptor: function (req) {{
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && req.method && req.method.toUpperCase() !== "GET") {{ req.headers["X-CSRF-Token"] = meta.content; }}
    return req;
  }}
}});
"""


def install(app: FastAPI, prefix: str) -> None:
    """Serve the docs page at ``{prefix}/docs`` for the app's OpenAPI document (make the app with
    ``docs_url=None``, or FastAPI's CDN page takes the path first)."""
    docs = f"{prefix}/docs"
    assert app.openapi_url is not None
    start = _START.format(openapi=json.dumps(app.openapi_url))

    @app.get(docs, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        from intake.auth.csrf import token_for_session
        from intake.auth.service import SESSION_COOKIE

        cookie = request.cookies.get(SESSION_COOKIE)
        meta = (f'<meta name="csrf-token" content="{token_for_session(request.app.state.settings, cookie)}">\n'
                if cookie else "")
        return HTMLResponse(_PAGE.format(title=app.title, docs=docs, csrf=meta), headers=SECURITY_HEADERS)

    @app.get(f"{docs}/start.js", include_in_schema=False)
    def swagger_ui_start() -> Response:
        return Response(start, media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})

    app.mount(f"{docs}/assets", StaticFiles(directory=str(ASSETS)), name="swagger-ui")
