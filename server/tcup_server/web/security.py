"""Protections of the web pages: CSRF tokens, security headers, login rate limiting.

* CSRF: a synchronizer token.  A logged-in browser's token is the one stored
  with its session row (``Session.csrf_token``, made at login, gone at logout).
  Before login there is no session, so the login form is bound to a random
  pre-session cookie (HttpOnly, SameSite=Strict) whose value the form repeats.
  Every state-changing form posts ``csrf_token``; a missing or wrong token is
  refused with 403 before the handler runs.
* Headers (:data:`SECURITY_HEADERS`, set on every page by ``common.WebRoute``):
  a strict Content-Security-Policy (no inline script or style, no framing),
  X-Frame-Options DENY, nosniff, no referrer, no caching of pages.
* Login throttling: ``tcup_server.services.login_throttle`` (through
  ``tcup_server.auth.login_throttle``), shared with the API's ``/v1/auth/login``
  so the two doors count together.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from fastapi import Request, Response

from tcup_server.auth import SESSION_COOKIE, digest
from tcup_server.models import Session, utcnow

LOG = logging.getLogger(__name__)

PRE_SESSION_COOKIE = "tcup_presession"
CSRF_FIELD = "csrf_token"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def headers_for(request: Request) -> dict[str, str]:
    """:data:`SECURITY_HEADERS`; with single sign-on, forms may also lead to the provider
    (the logout form ends at the provider's logout page, and CSP checks redirects too)."""
    oidc = getattr(getattr(request.app.state, "tcup", None), "oidc", None)
    if oidc is None:
        return SECURITY_HEADERS
    allowed = " ".join(["'self'", *oidc.form_action_origins()])
    csp = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "form-action 'self'", f"form-action {allowed}"
    )
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


class CsrfRejected(Exception):
    """A state-changing request came without the right CSRF token."""


def session_row(request: Request, db: Any) -> Session | None:
    """The caller's live browser session, if the cookie names one."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    row = db.get(Session, digest(cookie))
    if row is None or row.expires_at <= utcnow():
        return None
    return row


def csrf_token_for(request: Request, db: Any) -> str:
    """The token forms on this page must carry (session-bound, or pre-session)."""
    row = session_row(request, db)
    if row is not None:
        return row.csrf_token
    token = request.cookies.get(PRE_SESSION_COOKIE) or ""
    if len(token) < 32:
        token = getattr(request.state, "new_pre_session", "") or secrets.token_urlsafe(32)
        request.state.new_pre_session = token
    return token


def remember_pre_session(request: Request, response: Response, secure: bool) -> None:
    """Set the pre-session cookie if this request made one."""
    token = getattr(request.state, "new_pre_session", "")
    if token:
        response.set_cookie(
            PRE_SESSION_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            secure=secure,
            samesite="strict",
            path="/",
        )


def check_csrf(request: Request, db: Any, submitted: str | None) -> None:
    """Raise :class:`CsrfRejected` unless ``submitted`` is the token bound to this browser."""
    row = session_row(request, db)
    expected = row.csrf_token if row is not None else request.cookies.get(PRE_SESSION_COOKIE, "")
    if not submitted or not expected or (row is None and len(expected) < 32):
        raise CsrfRejected()
    if not hmac.compare_digest(submitted.encode(), expected.encode()):
        raise CsrfRejected()
