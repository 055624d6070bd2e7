"""Cross-site request forgery: what a request authenticated by the session cookie must show.

Every unsafe request (anything but GET, HEAD, OPTIONS) that a browser's cookie authenticates must
pass two checks (`check`):

1. **Where it comes from.** ``Origin``, when sent, must be this site's own origin (one of
   ``INTAKE_ALLOWED_ORIGINS``, or else the scheme and host the request was addressed to); without
   ``Origin``, ``Sec-Fetch-Site`` must not be ``cross-site`` or ``same-site``. Browsers send at least
   one of the two on every POST; programs that send neither are not browsers (a forged request
   needs a browser) and still need the token.
2. **A token** bound to the session: HMAC-SHA256 of the session cookie under the secret key. The
   pages carry it in ``<meta name="csrf-token">`` (scripts send it as ``X-CSRF-Token``) and in a
   hidden ``csrf`` field of every form. Another site can neither read it nor compute it.

Sign-in has no session yet: the sign-in page sets a random ``intake_login`` cookie and its form
carries the HMAC of that cookie (a signed double-submit token), so a forged sign-in (into the
attacker's account) fails too. The API's ``POST /auth/login`` takes JSON only, which a page of
another site cannot send without a CORS preflight this server never grants, and checks the origin.
Calls authenticated by ``Authorization: Bearer`` carry no ambient credential and are exempt.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from starlette.requests import HTTPConnection

from intake.config import Settings
from intake.errors import CsrfRefused

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrf-token"
FORM_FIELD = "csrf"
LOGIN_COOKIE = "intake_login"


def _mac(settings: Settings, purpose: str, value: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"intake.csrf.{purpose}:{value}".encode(),
                    hashlib.sha256).hexdigest()[:40]


def token_for_session(settings: Settings, session_cookie: str) -> str:
    return _mac(settings, "session", session_cookie)


def token_for_login(settings: Settings, login_cookie: str) -> str:
    return _mac(settings, "login", login_cookie)


def new_login_cookie() -> str:
    return secrets.token_urlsafe(24)


def own_origins(request: HTTPConnection, settings: Settings) -> set[str]:
    if settings.allowed_origins:
        return {o.rstrip("/").lower() for o in settings.allowed_origins}
    return {f"{request.url.scheme}://{request.url.netloc}".lower()}


def check_origin(request: HTTPConnection, settings: Settings) -> None:
    """CsrfRefused if the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is not None:
        own = own_origins(request, settings)
        if origin.rstrip("/").lower() not in own:
            # for operators: a proxy that rewrites Host makes every page's POST look foreign
            log.warning("refused a cookie-authenticated request from origin %r, not one of %s "
                        "(INTAKE_ALLOWED_ORIGINS)", origin[:100], sorted(own))
            raise CsrfRefused("this request came from another site and was refused; use this site's own pages")
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site in ("cross-site", "same-site"):
        raise CsrfRefused("this request came from another site and was refused; use this site's own pages")


def matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def check_token(expected: str, given: str | None) -> None:
    if not matches(expected, given):
        raise CsrfRefused("the page's security token is missing or out of date; reload the page and try again")


def check(request: HTTPConnection, settings: Settings, session_cookie: str, given: str | None) -> None:
    """Both checks for an unsafe request authenticated by `session_cookie`; `given` is the token
    the request carried (header or form field)."""
    if request.scope.get("method", "GET") in SAFE_METHODS:
        return
    check_origin(request, settings)
    check_token(token_for_session(settings, session_cookie), given)
