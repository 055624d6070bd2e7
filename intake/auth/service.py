"""Users (argon2 password hashes), API tokens (only their SHA-256 stored), session cookies.

`ensure_first_admin` is called by ``intake serve``: on a database with no users at all it creates
a user ``admin`` with a random password and returns that password so the command prints it once to
the console (it is stored only as an argon2 hash and never logged). With any user present it does
nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.auth import ROLE_SCOPES, TOKEN_SCOPES
from intake.auth.audit import audit
from intake.config import Settings
from intake.db.models import ApiToken, Role, User, utcnow
from intake.errors import Conflict, InvalidRequest, NotAuthenticated, NotFound

_hasher = PasswordHasher()
TOKEN_PREFIX = "itk_"
SESSION_COOKIE = "intake_session"


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


# ---------------------------------------------------------------- API tokens
def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, scopes: list[str], created_by: int | None,
                 actor: str = "system") -> tuple[ApiToken, str]:
    """A new token; the secret is returned once and only its hash is stored."""
    bad = [s for s in scopes if s not in TOKEN_SCOPES]
    if bad or not scopes:
        raise InvalidRequest(f"token scopes must be among {', '.join(TOKEN_SCOPES)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    tok = ApiToken(name=name[:64], prefix=secret[:12], token_hash=_token_hash(secret),
                   scopes=sorted(set(scopes)), created_by_id=created_by)
    session.add(tok)
    session.flush()
    audit(session, actor, "token.create", "token", tok.id, scope=sorted(set(scopes)))
    return tok, secret


def revoke_token(session: Session, token_id: int, actor: str) -> ApiToken:
    tok = session.get(ApiToken, token_id)
    if tok is None:
        raise NotFound(f"there is no API token {token_id}")
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
        audit(session, actor, "token.revoke", "token", tok.id)
    return tok


def token_principal(session: Session, secret: str) -> Principal:
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(secret)))
    if tok is None or tok.revoked_at is not None:
        raise NotAuthenticated("the API token is unknown or revoked")
    return Principal("token", tok.id, tok.name, None, frozenset(tok.scopes))


# ---------------------------------------------------------------- session cookies
def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt="intake.session")


def session_cookie_value(user: User, settings: Settings) -> str:
    """Signed user id plus a fingerprint of the password hash (a new password ends old sessions)."""
    return _serializer(settings).dumps({"u": user.id, "p": user.password_hash[-12:]})


def session_principal(session: Session, cookie: str, settings: Settings) -> Principal:
    try:
        data = _serializer(settings).loads(cookie, max_age=settings.session_max_age_s)
    except SignatureExpired:
        raise NotAuthenticated("your session has expired; sign in again") from None
    except BadSignature:
        raise NotAuthenticated("sign in first") from None
    user = session.get(User, data.get("u"))
    if user is None or not user.active or user.password_hash[-12:] != data.get("p"):
        raise NotAuthenticated("your session has ended; sign in again")
    return user_principal(user)
