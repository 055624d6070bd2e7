"""FastAPI dependencies: the request's settings and database session, who is calling, and the
checks `require_scope(...)` / `require_role(...)`.

A request is authenticated by ``Authorization: Bearer <token>`` (API tokens, checked first) or by
the session cookie set at sign-in (web pages; a server-side session, `intake.auth.service`). Both
schemes appear in the OpenAPI document. An unsafe request authenticated by the cookie must also
pass the CSRF checks (`intake.auth.csrf`: its origin, and the ``X-CSRF-Token`` header).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from intake.auth import csrf
from intake.auth.service import (
    SESSION_COOKIE,
    Principal,
    SessionPrincipal,
    authenticate_cookie,
    authenticate_token,
)
from intake.config import Settings
from intake.db.session import Database, get_db
from intake.errors import NotAuthenticated, PermissionDenied

bearer_scheme = HTTPBearer(auto_error=False, description="API token with scopes, e.g. records:read")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="web session (POST /auth/login); changes made with it also need the "
                                         "X-CSRF-Token header (the csrf_token sign-in returns)")


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def app_db(request: Request) -> Database:
    return get_db(request.app.state.settings)


def db_session(db: Annotated[Database, Depends(app_db)]) -> Iterator[Session]:
    """A session for one request. Endpoints commit what they change (audit entries included)."""
    session = db.new_session()
    try:
        yield session
    finally:
        session.close()


def current_principal(
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    if "authorization" in request.headers and credentials is None:
        raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
    if credentials is not None:
        return authenticate_token(db, credentials.credentials.strip())
    if cookie:
        return cookie_session(request, db, cookie).principal
    raise NotAuthenticated("sign in, or send an API token as 'Authorization: Bearer <token>'")


def cookie_session(request: Request, db: Database, cookie: str) -> SessionPrincipal:
    """The session behind the cookie, after the CSRF checks for unsafe methods."""
    settings = request.app.state.settings
    found = authenticate_cookie(db, cookie, settings)
    csrf.check(request, settings, cookie, request.headers.get(csrf.HEADER))
    return found


def current_session(
    request: Request,
    db: Annotated[Database, Depends(app_db)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> SessionPrincipal:
    """A signed-in person (session cookie), for what only people do (changing their password)."""
    if "authorization" in request.headers:
        raise PermissionDenied("this is for people signed in with a password, not API tokens")
    if not cookie:
        raise NotAuthenticated("sign in first")
    return cookie_session(request, db, cookie)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
CurrentSession = Annotated[SessionPrincipal, Depends(current_session)]


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that returns the caller if they hold `scope` (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(scope):
            raise PermissionDenied(f"this needs the {scope!r} permission, which you do not have")
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return check


def require_role(*roles: str) -> Callable[..., Principal]:
    """A dependency that returns the signed-in user if their role is one of `roles` (or admin)."""
    allowed = set(roles) | {"admin"}

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.kind != "user" or principal.role not in allowed:
            raise PermissionDenied(f"this is for {' or '.join(sorted(allowed))} users only")
        return principal

    check.__name__ = f"require_role_{'_'.join(sorted(allowed))}"
    return check
