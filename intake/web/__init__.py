"""The web pages: sign in, upload, the batch list, the live batch page, and the review station.

`install(app)` is called by `intake.api.create_app` after the API routers are in place. It mounts
the static assets at ``/static`` and the server-rendered pages (`intake.web.routes`) at the site
root: ``/login``, ``/logout``, ``/batches``, ``/upload``, ``/batches/{id}``, ``/records/{id}``; the
supervisors' review station (`intake.web.review`): ``/review``, ``/review/records/{id}``,
``/review/group``, ``/review/stats``; for supervisors the pages the pipeline could not place
(`intake.web.place`): ``/place``, ``/pages/{id}/place``; and (`intake.web.downstream`) the public
``/stats`` and the admins' ``/admin/webhooks``; (`intake.web.account`) ``/account`` (one's own
password) and the admins' ``/admin/users``.
Nothing here changes the API under ``/api/v1``; the pages' scripts use it with the same session
cookie. Plain HTML and CSS, a little ES5 JavaScript, no build step, no external resources.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope


class _Static(StaticFiles):
    """Static files; the pages link them with ``?v=<content hash>``, so they may be cached long."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200 and b"v=" in scope.get("query_string", b""):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def install(app: FastAPI) -> None:
    from intake.web.account import router as account_router
    from intake.web.downstream import router as downstream_router
    from intake.web.place import router as place_router
    from intake.web.review import router as review_router
    from intake.web.routes import STATIC_DIR, router

    app.mount("/static", _Static(directory=STATIC_DIR), name="static")
    app.include_router(review_router)
    app.include_router(router)
    app.include_router(place_router)
    app.include_router(downstream_router)
    app.include_router(account_router)
