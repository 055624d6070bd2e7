"""Sign in and out, who am I, change my password, and (admins) users and API tokens.

Sign-in is throttled (429 with ``Retry-After``) and audited; sign-out ends the server-side session,
so the cookie is worthless afterwards. Cookie-authenticated changes need the CSRF token
(``X-CSRF-Token``; `intake.auth.csrf`), which sign-in returns as ``csrf_token``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.auth import TOKEN_SCOPES, csrf
from intake.auth.audit import audit
from intake.auth.deps import (
    CurrentPrincipal,
    CurrentSession,
    app_db,
    app_settings,
    db_session,
    require_role,
)
from intake.auth.service import (
    SESSION_COOKIE,
    Principal,
    authenticate_cookie,
    change_password,
    create_token,
    create_user,
    end_session,
    revoke_token,
    set_active,
    set_password,
    set_role,
    sign_in,
    start_session,
    user_by_id,
    user_principal,
)
from intake.config import Settings
from intake.db.models import ApiToken, User
from intake.db.session import Database
from intake.errors import IntakeError

router = APIRouter(tags=["auth"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
DbSession = Annotated[Session, Depends(db_session)]


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MeOut(BaseModel):
    kind: str
    id: int
    name: str
    role: str | None
    scopes: list[str]


class SignedInOut(MeOut):
    csrf_token: str = Field(description="send it as X-CSRF-Token with every change made with the session cookie")


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=10, max_length=1024)


class PasswordSetIn(BaseModel):
    password: str = Field(min_length=10, max_length=1024)


class UserPatch(BaseModel):
    role: str | None = Field(None, pattern="^(clerk|supervisor|admin)$")
    active: bool | None = Field(None, description="false deactivates: every session and API token the user made ends")


class UserIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=1024)
    role: str = Field(pattern="^(clerk|supervisor|admin)$")


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    active: bool
    created_at: datetime


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[Literal[TOKEN_SCOPES]] = Field(min_length=1)  # type: ignore[valid-type]
    expires_days: int | None = Field(None, ge=1, le=36500,
                                     description="days until it expires (default INTAKE_TOKEN_DEFAULT_DAYS, "
                                                 "at most INTAKE_TOKEN_MAX_DAYS)")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the secret; shown this once and never again")


def document_limits(schema: dict, settings: Settings) -> dict:
    """The OpenAPI document says the limits this server is configured with: a token's
    `expires_days` at most `token_max_days` (the model's own bound is only a sanity cap)."""
    prop = schema.get("components", {}).get("schemas", {}).get("TokenIn", {}).get("properties", {}).get(
        "expires_days", {})
    for alt in prop.get("anyOf", [prop]):
        if alt.get("type") == "integer":
            alt["maximum"] = settings.token_max_days
    return schema


def _me(p: Principal) -> MeOut:
    return MeOut(kind=p.kind, id=p.id, name=p.name, role=p.role, scopes=sorted(p.scopes))


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_max_age_s, httponly=True, samesite="lax",
                        secure=settings.env == "production", path="/")


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn's --proxy-headers)."""
    return request.client.host if request.client else ""


@router.post("/auth/login", response_model=SignedInOut,
             responses={401: {"description": "the user name or password is wrong"},
                        403: {"description": "the request came from another site (CSRF)"},
                        429: {"description": "too many failed sign-ins for this account or from this address; "
                                             "wait the seconds in Retry-After"}})
def login(body: LoginIn, request: Request, response: Response, session: DbSession,
          settings: Annotated[Settings, Depends(app_settings)]) -> SignedInOut:
    """Sign in with name and password; sets the session cookie used by the web pages and returns
    the CSRF token that cookie-authenticated changes must send as ``X-CSRF-Token``."""
    csrf.check_origin(request, settings)
    user = sign_in(session, body.name, body.password, client_address(request), settings)
    _, token = start_session(session, user, settings)
    session.commit()
    set_session_cookie(response, token, settings)
    return SignedInOut(**_me(user_principal(user)).model_dump(), csrf_token=csrf.token_for_session(settings, token))


@router.post("/auth/logout", status_code=204, responses={403: {"description": "the request came from another site, "
                                                                               "or without the CSRF token"}})
def logout(request: Request, db: Annotated[Database, Depends(app_db)],
           settings: Annotated[Settings, Depends(app_settings)]) -> Response:
    """Sign out: the session ends on the server (its cookie is refused from now on)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            authenticate_cookie(db, cookie, settings)
            live = True
        except IntakeError:
            live = False  # already ended: nothing to forge
        if live:
            csrf.check(request, settings, cookie, request.headers.get(csrf.HEADER))
            with db.session() as s:
                end_session(s, cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/password", status_code=204,
             responses={403: {"description": "the current password is wrong, or an API token was used"}})
def password(body: PasswordChangeIn, me: CurrentSession, session: DbSession) -> Response:
    """Change your own password (signed in with the session cookie). Your other sessions end;
    this one stays."""
    user = user_by_id(session, me.principal.id)
    change_password(session, user, body.current_password, body.new_password, me.session_id, me.principal.actor)
    session.commit()
    return Response(status_code=204)


@router.get("/auth/me", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    return _me(principal)


@router.get("/users", response_model=list[UserOut])
def list_users(admin: Admin, session: DbSession) -> list[UserOut]:
    users = session.scalars(select(User).order_by(User.id)).all()
    audit(session, admin.actor, "user.list", "user", count=len(users))
    session.commit()
    return [UserOut.model_validate(u, from_attributes=True) for u in users]


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, admin: Admin, session: DbSession) -> UserOut:
    user = create_user(session, body.name, body.password, body.role, actor=admin.actor)
    session.commit()
    return UserOut.model_validate(user, from_attributes=True)


@router.patch("/users/{user_id}", response_model=UserOut,
              responses={409: {"description": "it would leave no active admin"}})
def change_user(user_id: int, body: UserPatch, admin: Admin, session: DbSession) -> UserOut:
    """Change a user's role, or deactivate (all their sessions and the API tokens they made end)
    or reactivate them."""
    user = user_by_id(session, user_id)
    if body.role is not None:
        set_role(session, user, body.role, admin.actor)
    if body.active is not None:
        set_active(session, user, body.active, admin.actor)
    session.commit()
    return UserOut.model_validate(user, from_attributes=True)


@router.put("/users/{user_id}/password", status_code=204)
def reset_password(user_id: int, body: PasswordSetIn, admin: Admin, session: DbSession) -> Response:
    """Set a user's password (an admin): every session of that user ends."""
    set_password(session, user_by_id(session, user_id), body.password, admin.actor)
    session.commit()
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(admin: Admin, session: DbSession) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True)
            for t in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
def add_token(body: TokenIn, admin: Admin, session: DbSession,
              settings: Annotated[Settings, Depends(app_settings)]) -> NewTokenOut:
    """A token for a downstream system; the secret is in this response only. It expires after
    `expires_days` and is revoked if the admin who made it is deactivated."""
    tok, secret = create_token(session, body.name, body.scopes, created_by=admin.id, actor=admin.actor,
                               expires_days=body.expires_days, settings=settings)
    session.commit()
    return NewTokenOut(**TokenOut.model_validate(tok, from_attributes=True).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def delete_token(token_id: int, admin: Admin, session: DbSession) -> TokenOut:
    tok = revoke_token(session, token_id, admin.actor)
    session.commit()
    return TokenOut.model_validate(tok, from_attributes=True)
