"""Sign in and out, who am I, and (admins) users and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.auth import TOKEN_SCOPES
from intake.auth.audit import audit
from intake.auth.deps import CurrentPrincipal, app_settings, db_session, require_role
from intake.auth.service import (
    SESSION_COOKIE,
    Principal,
    authenticate,
    create_token,
    create_user,
    revoke_token,
    session_cookie_value,
)
from intake.config import Settings
from intake.db.models import ApiToken, User

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


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class NewTokenOut(TokenOut):
    token: str = Field(description="the secret; shown this once and never again")


def _me(p: Principal) -> MeOut:
    return MeOut(kind=p.kind, id=p.id, name=p.name, role=p.role, scopes=sorted(p.scopes))


@router.post("/auth/login", response_model=MeOut, responses={401: {"description": "the user name or password is wrong"}})
def login(body: LoginIn, response: Response, session: DbSession,
          settings: Annotated[Settings, Depends(app_settings)]) -> MeOut:
    """Sign in with name and password; sets the session cookie used by the web pages."""
    user = authenticate(session, body.name, body.password)
    audit(session, f"user:{user.id}", "user.login", "user", user.id)
    session.commit()
    response.set_cookie(SESSION_COOKIE, session_cookie_value(user, settings), max_age=settings.session_max_age_s,
                        httponly=True, samesite="lax", secure=settings.env == "production", path="/")
    from intake.auth.service import user_principal

    return _me(user_principal(user))


@router.post("/auth/logout", status_code=204)
def logout(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


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


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(admin: Admin, session: DbSession) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True)
            for t in session.scalars(select(ApiToken).order_by(ApiToken.id))]


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
def add_token(body: TokenIn, admin: Admin, session: DbSession) -> NewTokenOut:
    """A token for a downstream system; the secret is in this response only."""
    tok, secret = create_token(session, body.name, body.scopes, created_by=admin.id, actor=admin.actor)
    session.commit()
    return NewTokenOut(**TokenOut.model_validate(tok, from_attributes=True).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def delete_token(token_id: int, admin: Admin, session: DbSession) -> TokenOut:
    tok = revoke_token(session, token_id, admin.actor)
    session.commit()
    return TokenOut.model_validate(tok, from_attributes=True)
