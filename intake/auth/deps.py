"""FastAPI dependencies: the request's settings and database session, who is calling, and the
checks `require_scope(...)` / `require_role(...)`.

A request is authenticated by ``Authorization: Bearer <token>`` (API tokens, checked first) or by
the signed session cookie set at sign-in (web pages). Both schemes appear in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from intake.auth.service import SESSION_COOKIE, Principal, session_principal, token_principal
from intake.config import Settings
from intake.db.session import Database, get_db
from intake.errors import NotAuthenticated, PermissionDenied

bearer_scheme = HTTPBearer(auto_error=False, description="API token with scopes, e.g. records:read")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="web session")


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
    with db.read_session() as s:
        if credentials is not None:
            return token_principal(s, credentials.credentials.strip())
        if cookie:
            return session_principal(s, cookie, request.app.state.settings)
    raise NotAuthenticated("sign in, or send an API token as 'Authorization: Bearer <token>'")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


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
