"""Users (argon2 password hashes), API tokens (only their SHA-256 stored, with an expiry), server-side
sessions (the cookie holds a random token; only its SHA-256 is stored), sign-in throttling.

Sign-in (`sign_in`) is throttled per account and per client address (`SignInFailure` rows, keyed
hashes only) and every success and failure is audited (`user.login`, `user.login_failed` with a
reason code; never the name typed or the address). A session ends at its absolute expiry, after
`session_idle_s` without a request, at sign-out, when its user changes their password (their other
sessions), when an admin sets the password or deactivates the user (all of them). Deactivating a
user also revokes the API tokens they made.

`ensure_first_admin` is called by ``intake serve``: on a database with no users at all it creates
a user ``admin`` with a random password and returns that password so the command prints it once to
the console (it is stored only as an argon2 hash and never logged). With any user present it does
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from intake.auth import ROLE_SCOPES, TOKEN_SCOPES
from intake.auth.audit import audit
from intake.config import Settings
from intake.db.models import ApiToken, Role, SignInFailure, User, UserSession, utcnow
from intake.db.session import Database
from intake.errors import (
    Conflict,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    TooManyRequests,
)

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
TOKEN_PREFIX = "itk_"
SESSION_COOKIE = "intake_session"
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at / last_used_at are written at most this often


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user or an API token, with the scopes they hold."""

    kind: str  # "user" | "token" | "system"
    id: int
    name: str
    role: str | None
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}" if self.kind != "system" else "system"

    def can(self, scope: str) -> bool:
        return scope in self.scopes


SYSTEM = Principal("system", 0, "system", "admin", ROLE_SCOPES["admin"])


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < 10:
        raise InvalidRequest("the password must have at least 10 characters")


def create_user(session: Session, name: str, password: str, role: str, actor: str = "system") -> User:
    if role not in {r.value for r in Role}:
        raise InvalidRequest(f"unknown role {role!r}; choose clerk, supervisor or admin")
    if not name or len(name) > 64:
        raise InvalidRequest("a user name must have 1 to 64 characters")
    check_password_strength(password)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    user = User(name=name, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit(session, actor, "user.create", "user", user.id, role=role)
    return user


def authenticate(session: Session, name: str, password: str) -> User:
    """The active user with this name and password; NotAuthenticated otherwise (same message)."""
    user = session.scalar(select(User).where(User.name == name))
    try:
        if user is None or not user.active:
            _hasher.verify(_DUMMY_HASH, password)  # same time whether or not the user exists
            raise VerifyMismatchError
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise NotAuthenticated("the user name or password is wrong") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


_DUMMY_HASH = _hasher.hash("not a real password")


def user_principal(user: User) -> Principal:
    return Principal("user", user.id, user.name, user.role, ROLE_SCOPES[user.role])


def ensure_first_admin(session: Session) -> str | None:
    """Create ``admin`` with a random password if there are no users at all; return the password."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, "admin", password, "admin")
    return password


# ---------------------------------------------------------------- users: password, role, active
def change_password(session: Session, user: User, current: str, new: str, keep_session_id: int | None,
                    actor: str) -> int:
    """The user's own password change: `current` must be right. Their other sessions end; the
    one making the change (`keep_session_id`) stays. Returns how many sessions ended."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise PermissionDenied("the current password is wrong") from None
    if new == current:
        raise InvalidRequest("the new password must differ from the current one")
    return set_password(session, user, new, actor, keep_session_id=keep_session_id)


def set_password(session: Session, user: User, new: str, actor: str, keep_session_id: int | None = None) -> int:
    """Set a password (an admin, the CLI, or `change_password`); ends the user's sessions but
    `keep_session_id`. Returns how many ended."""
    check_password_strength(new)
    user.password_hash = hash_password(new)
    ended = revoke_sessions(session, user.id, "password_changed", keep=keep_session_id)
    audit(session, actor, "user.password", "user", user.id, sessions_ended=ended)
    return ended


def _active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)
                          .where(User.role == Role.ADMIN.value, User.active.is_(True))) or 0


def set_role(session: Session, user: User, role: str, actor: str) -> User:
    """A new role takes effect on the user's next request (the role is read at every request)."""
    if role not in {r.value for r in Role}:
        raise InvalidRequest(f"unknown role {role!r}; choose clerk, supervisor or admin")
    if role == user.role:
        return user
    if user.role == Role.ADMIN.value and user.active and _active_admins(session) <= 1:
        raise Conflict("this is the last active admin; make another admin first")
    audit(session, actor, "user.role", "user", user.id, role=role)
    user.role = role
    return user


def set_active(session: Session, user: User, active: bool, actor: str) -> User:
    """Deactivate (every session and every API token the user made ends) or reactivate a user."""
    if active == user.active:
        return user
    if not active:
        if user.role == Role.ADMIN.value and _active_admins(session) <= 1:
            raise Conflict("this is the last active admin; make another admin first")
        user.active = False
        ended = revoke_sessions(session, user.id, "user_deactivated")
        tokens = session.execute(update(ApiToken).where(ApiToken.created_by_id == user.id,
                                                        ApiToken.revoked_at.is_(None))
                                 .values(revoked_at=utcnow())).rowcount
        audit(session, actor, "user.deactivate", "user", user.id, sessions_ended=ended, tokens_revoked=tokens)
    else:
        user.active = True
        audit(session, actor, "user.reactivate", "user", user.id)
    return user


def user_by_name(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound("there is no user with that name")
    return user


def user_by_id(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"there is no user {user_id}")
    return user


# ---------------------------------------------------------------- API tokens
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_expiry(settings: Settings, expires_days: int | None) -> datetime:
    days = settings.token_default_days if expires_days is None else expires_days
    if days < 1 or days > settings.token_max_days:
        raise InvalidRequest(f"a token may last 1 to {settings.token_max_days} days (INTAKE_TOKEN_MAX_DAYS)")
    return utcnow() + timedelta(days=days)


def create_token(session: Session, name: str, scopes: list[str], created_by: int | None,
                 actor: str = "system", expires_days: int | None = None,
                 settings: Settings | None = None) -> tuple[ApiToken, str]:
    """A new token; the secret is returned once and only its hash is stored. It expires after
    `expires_days` (default `token_default_days`, at most `token_max_days`)."""
    from intake.config import get_settings

    bad = [s for s in scopes if s not in TOKEN_SCOPES]
    if bad or not scopes:
        raise InvalidRequest(f"token scopes must be among {', '.join(TOKEN_SCOPES)}")
    expires = token_expiry(settings or session.info.get("intake_settings") or get_settings(), expires_days)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    tok = ApiToken(name=name[:64], prefix=secret[:12], token_hash=_token_hash(secret),
                   scopes=sorted(set(scopes)), created_by_id=created_by, expires_at=expires)
    session.add(tok)
    session.flush()
    audit(session, actor, "token.create", "token", tok.id, scope=sorted(set(scopes)),
          days=round((expires - utcnow()).total_seconds() / 86400))
    return tok, secret


def revoke_token(session: Session, token_id: int, actor: str) -> ApiToken:
    tok = session.get(ApiToken, token_id)
    if tok is None:
        raise NotFound(f"there is no API token {token_id}")
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
        audit(session, actor, "token.revoke", "token", tok.id)
    return tok


def _lookup_token(session: Session, secret: str) -> tuple[Principal, bool]:
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(secret)))
    if tok is None or tok.revoked_at is not None:
        raise NotAuthenticated("the API token is unknown or revoked")
    now = utcnow()
    if tok.expires_at is not None and tok.expires_at <= now:
        raise NotAuthenticated("the API token has expired; ask an admin for a new one")
    due = tok.last_used_at is None or now - tok.last_used_at >= TOUCH_EVERY
    return Principal("token", tok.id, tok.name, None, frozenset(tok.scopes)), due


def token_principal(session: Session, secret: str) -> Principal:
    """The token's principal; NotAuthenticated if it is unknown, revoked or expired. Marks it used
    (`last_used_at`, at most once a minute; the caller commits)."""
    principal, due = _lookup_token(session, secret)
    if due:
        session.execute(update(ApiToken).where(ApiToken.id == principal.id).values(last_used_at=utcnow()))
    return principal


def authenticate_token(db: Database, secret: str) -> Principal:
    """`token_principal` for a request: read only, plus a short write when `last_used_at` is due."""
    with db.read_session() as s:
        principal, due = _lookup_token(s, secret)
    if due:
        with db.session() as s:
            s.execute(update(ApiToken).where(ApiToken.id == principal.id).values(last_used_at=utcnow()))
    return principal


# ---------------------------------------------------------------- sessions
@dataclass(frozen=True)
class SessionPrincipal:
    """A signed-in browser: who, and which session (a password change keeps this one)."""

    principal: Principal
    session_id: int


def _session_hash(token: str) -> str:
    return hashlib.sha256(b"intake.session:" + token.encode()).hexdigest()


def start_session(session: Session, user: User, settings: Settings) -> tuple[UserSession, str]:
    """A new session for `user`; returns it and the cookie's value (shown to the browser only)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    # sessions past their absolute expiry (revoked ones too) are of no use a day later: the audit
    # log keeps the sign-ins and sign-outs
    session.execute(delete(UserSession).where(UserSession.expires_at < now - timedelta(days=1)))
    row = UserSession(token_hash=_session_hash(token), user_id=user.id, created_at=now, last_seen_at=now,
                      expires_at=now + timedelta(seconds=settings.session_max_age_s))
    session.add(row)
    session.flush()
    return row, token


def _lookup_session(session: Session, cookie: str, settings: Settings) -> tuple[SessionPrincipal, bool]:
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _session_hash(cookie)))
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("your session has ended; sign in again")
    now = utcnow()
    if row.expires_at <= now or now - row.last_seen_at > timedelta(seconds=settings.session_idle_s):
        raise NotAuthenticated("your session has expired; sign in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("your session has ended; sign in again")
    return SessionPrincipal(user_principal(user), row.id), now - row.last_seen_at >= TOUCH_EVERY


def resolve_session(session: Session, cookie: str, settings: Settings) -> SessionPrincipal:
    """The signed-in user behind a session cookie; NotAuthenticated when the session is unknown,
    revoked, expired (absolute or idle) or its user deactivated. Marks it seen (at most once a
    minute; the caller commits)."""
    found, due = _lookup_session(session, cookie, settings)
    if due:
        session.execute(update(UserSession).where(UserSession.id == found.session_id).values(last_seen_at=utcnow()))
    return found


def authenticate_cookie(db: Database, cookie: str, settings: Settings) -> SessionPrincipal:
    """`resolve_session` for a request: read only, plus a short write when `last_seen_at` is due."""
    with db.read_session() as s:
        found, due = _lookup_session(s, cookie, settings)
    if due:
        with db.session() as s:
            s.execute(update(UserSession).where(UserSession.id == found.session_id).values(last_seen_at=utcnow()))
    return found


def session_principal(session: Session, cookie: str, settings: Settings) -> Principal:
    return resolve_session(session, cookie, settings).principal


def end_session(session: Session, cookie: str, reason: str = "signed_out") -> int | None:
    """Revoke the session behind `cookie` (sign-out); its user's id, or None if there was none."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _session_hash(cookie)))
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at, row.revoked_reason = utcnow(), reason
        audit(session, f"user:{row.user_id}", "user.logout", "session", row.id)
        log.debug("session %d of user %d ended: %s", row.id, row.user_id, reason)
    return row.user_id


def revoke_sessions(session: Session, user_id: int, reason: str, keep: int | None = None) -> int:
    """End every live session of a user (but `keep`); how many ended."""
    q = update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        q = q.where(UserSession.id != keep)
    return session.execute(q.values(revoked_at=utcnow(), revoked_reason=reason)).rowcount or 0


# ---------------------------------------------------------------- sign-in, throttled and audited
def _key(settings: Settings, kind: str, value: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"intake.signin.{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def _throttled(session: Session, settings: Settings, account: str, address: str) -> int:
    """Seconds until sign-in may be tried again for this account or from this address (0: now)."""
    now = utcnow()
    since = now - timedelta(seconds=settings.signin_window_s)
    wait = 0
    for column, key, limit in ((SignInFailure.account_key, account, settings.signin_max_failures_per_account),
                               (SignInFailure.address_key, address, settings.signin_max_failures_per_address)):
        times = session.scalars(select(SignInFailure.at).where(column == key, SignInFailure.at > since)
                                .order_by(SignInFailure.at.desc()).limit(limit)).all()
        if len(times) >= limit:  # blocked until the limit-th newest failure leaves the window
            wait = max(wait, int((times[-1] - since).total_seconds()) + 1)
    return wait


def sign_in(session: Session, name: str, password: str, address: str, settings: Settings) -> User:
    """The active user with this name and password, or an error: TooManyRequests while the
    account or the address is throttled (the password is not even checked), NotAuthenticated
    otherwise. Failures are recorded and audited and COMMITTED here, since the caller's
    transaction ends with the error; a success is audited in the caller's transaction."""
    account, client = _key(settings, "account", name.casefold()), _key(settings, "address", address or "-")
    wait = _throttled(session, settings, account, client)
    known = session.scalar(select(User).where(User.name == name))
    if wait:
        audit(session, "anonymous", "user.login_failed", "user", known.id if known else None, reason_code="throttled")
        session.commit()
        log.info("sign-in refused: throttled for %d s", wait)
        minutes = max(1, -(-wait // 60))
        raise TooManyRequests(f"too many failed sign-ins; try again in {minutes} minute{'s' if minutes > 1 else ''}",
                              retry_after=wait)
    try:
        user = authenticate(session, name, password)
    except NotAuthenticated:
        reason = "unknown_user" if known is None else ("inactive" if not known.active else "wrong_password")
        session.add(SignInFailure(account_key=account, address_key=client))
        audit(session, "anonymous", "user.login_failed", "user", known.id if known else None, reason_code=reason)
        log.debug("sign-in failed: %s", reason)
        session.execute(delete(SignInFailure).where(
            SignInFailure.at < utcnow() - timedelta(seconds=settings.signin_window_s)))
        session.commit()
        raise
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == account))
    audit(session, f"user:{user.id}", "user.login", "user", user.id)
    log.debug("user %d signed in", user.id)
    return user
