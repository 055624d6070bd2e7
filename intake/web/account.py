"""Account pages: every signed-in person changes their own password (``/account``); admins manage
users (``/admin/users``: add, change role, deactivate or reactivate, set a password).

Plain HTML forms (no script needed), each with the session's CSRF token, checked by `PageRoute`
before the handler runs. The service layer (`intake.auth.service`) does the work and the audit;
its errors are shown on the page in plain words.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from intake.auth.service import (
    SESSION_COOKIE,
    authenticate_cookie,
    change_password,
    create_user,
    set_active,
    set_password,
    set_role,
    user_by_id,
)
from intake.db.models import User, UserSession, utcnow
from intake.db.session import get_db
from intake.errors import IntakeError, NotAuthenticated, PermissionDenied
from intake.web import labels
from intake.web.routes import PageRoute, _settings, needs, render, signed_in

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _message(exc: IntakeError) -> dict[str, str]:
    zh = labels.REASONS.get(exc.code, ("無法完成。", ""))[0]
    return {"zh": zh, "en": labels.sentence(exc.message)}


# ---------------------------------------------------------------- own password
@router.get("/account")
def account_page(request: Request) -> Response:
    principal = signed_in(request)
    return render(request, "account.html", principal, title="帳號 Account", error=None, done=False)


@router.post("/account/password")
def account_password(request: Request, current: Annotated[str, Form()] = "", new: Annotated[str, Form()] = "",
                     again: Annotated[str, Form()] = "") -> Response:
    settings = _settings(request)
    found = authenticate_cookie(get_db(settings), request.cookies.get(SESSION_COOKIE, ""), settings)
    principal = found.principal
    try:
        if new != again:
            return render(request, "account.html", principal, status_code=422, title="帳號 Account", done=False,
                          error={"zh": "兩次輸入的新密碼不一樣。", "en": "The two new passwords differ."})
        with get_db(settings).session() as s:
            change_password(s, user_by_id(s, principal.id), current, new, found.session_id, principal.actor)
    except IntakeError as exc:
        if isinstance(exc, NotAuthenticated):
            raise
        return render(request, "account.html", principal, status_code=exc.http_status, title="帳號 Account",
                      done=False, error=_message(exc))
    return render(request, "account.html", principal, title="帳號 Account", error=None, done=True)


# ---------------------------------------------------------------- admins: users
def _users_page(request: Request, principal, status_code: int = 200, error: dict | None = None,  # noqa: ANN001
                done: str | None = None) -> Response:
    now = utcnow()
    with get_db(_settings(request)).read_session() as s:
        users = list(s.scalars(select(User).order_by(User.id)))
        live = {uid for uid, in s.execute(select(UserSession.user_id).where(UserSession.revoked_at.is_(None),
                                                                             UserSession.expires_at > now))}
    return render(request, "admin_users.html", principal, status_code=status_code, title="使用者 Users",
                  users=users, live=live, error=error, done=done)


@router.get("/admin/users")
def users_page(request: Request) -> Response:
    principal = signed_in(request)
    needs(principal, "admin")
    return _users_page(request, principal)


@router.post("/admin/users")
def users_add(request: Request, name: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
              role: Annotated[str, Form()] = "clerk") -> Response:
    principal = signed_in(request)
    needs(principal, "admin")
    try:
        with get_db(_settings(request)).session() as s:
            create_user(s, name.strip(), password, role, actor=principal.actor)
    except IntakeError as exc:
        return _users_page(request, principal, exc.http_status, _message(exc))
    return RedirectResponse("/admin/users?done=added", status_code=303)


@router.post("/admin/users/{user_id}")
def users_change(request: Request, user_id: int, action: Annotated[str, Form()] = "",
                 role: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "") -> Response:
    """One change to one user: ``action`` is role, deactivate, reactivate or password."""
    principal = signed_in(request)
    needs(principal, "admin")
    try:
        with get_db(_settings(request)).session() as s:
            user = user_by_id(s, user_id)
            if action == "role":
                set_role(s, user, role, principal.actor)
            elif action in ("deactivate", "reactivate"):
                set_active(s, user, action == "reactivate", principal.actor)
            elif action == "password":
                set_password(s, user, password, principal.actor)
            else:
                raise PermissionDenied("unknown change")
    except IntakeError as exc:
        if isinstance(exc, NotAuthenticated):
            raise
        return _users_page(request, principal, exc.http_status, _message(exc))
    return RedirectResponse(f"/admin/users?done={action}#user-{user_id}", status_code=303)
