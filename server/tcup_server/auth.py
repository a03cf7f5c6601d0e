"""Who is calling: browser sessions, API tokens and RefStack's RS256 bearer JWTs.

FastAPI dependencies for routes (API and web pages alike):

* ``db_session`` — a SQLAlchemy session for the request;
* ``current_user`` — the caller's :class:`~tcup_server.models.User` or ``None``;
* ``require_user`` / ``require_staff`` — 401 (RefStack body) when not allowed;
* ``login_throttle`` — the database-backed throttle of failed password logins
  (:mod:`tcup_server.services.login_throttle`), shared by the page and the API.

Credentials, in order: ``Authorization: Bearer tcup_...`` (API token),
``Authorization: Bearer <JWT>`` (RS256, claim ``user_openid``, signed by one of
that user's registered keys, as RefStack), then the session cookie.
Passwords are hashed with argon2id.  Only sha256 digests of tokens are stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from tcup import signing
from tcup_server.errors import ApiError, abort
from tcup_server.models import ApiToken, PubKey, Session, User, utcnow
from tcup_server.services.login_throttle import LoginThrottle, Policy
from tcup_server.state import get_state

LOG = logging.getLogger(__name__)

SESSION_COOKIE = "tcup_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_PREFIX = "tcup_"  # noqa: S105 - a prefix, not a secret
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True iff ``password`` matches; a missing hash never matches."""
    if not password_hash:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_token(db: DbSession, user: User, name: str, days: int | None = None) -> str:
    """Create an API token for ``user``; the clear token is returned once, never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=days) if days else None
    db.add(ApiToken(user_id=user.id, name=name, token_sha256=digest(token), expires_at=expires))
    return token


def authenticate_password(db: DbSession, name: str, password: str) -> User | None:
    """The enabled user ``name`` if ``password`` is right, else ``None``."""
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        _HASHER.hash(password)  # same work either way: no user enumeration by timing
        return None
    if user.disabled_at is not None or not verify_password(user.password_hash, password):
        return None
    if _HASHER.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    return user


def start_session(
    db: DbSession, user: User, hours: int, oidc_id_token: str | None = None
) -> tuple[str, str]:
    """Create a session; returns (cookie token, CSRF token).  A single sign-on login
    keeps the provider's ID token with it (the hint of the provider's logout)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    db.add(
        Session(
            token_sha256=digest(token),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=utcnow() + dt.timedelta(hours=hours),
            oidc_id_token=oidc_id_token,
        )
    )
    return token, csrf


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    settings = get_state(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def end_session(db: DbSession, token: str | None) -> None:
    if token:
        row = db.get(Session, digest(token))
        if row is not None:
            db.delete(row)


def db_session(request: Request) -> Iterator[DbSession]:
    """A database session for one request; committed by the handler, closed here."""
    with get_state(request).sessions() as session:
        yield session


def _user_from_api_token(db: DbSession, token: str) -> User | None:
    row = db.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at < now):
        return None
    return row.user


def _user_from_jwt(db: DbSession, token: str, leeway: int) -> User:
    """RefStack's bearer token: RS256, claim ``user_openid``, signed by a registered key."""
    try:
        openid = signing.unverified_openid(token)
    except signing.SignatureError:
        raise ApiError(400, "Invalid token") from None
    user = db.scalar(select(User).where(User.openid == openid))
    if user is None or user.disabled_at is not None:
        raise ApiError(400, "Invalid token")
    keys = db.scalars(select(PubKey).where(PubKey.user_id == user.id, PubKey.revoked_at.is_(None)))
    try:
        signing.verify_bearer_token(token, [f"{k.format} {k.pubkey}" for k in keys], leeway)
    except signing.SignatureError as exc:
        raise ApiError(400, "Invalid token", detail=str(exc)) from None
    return user


def current_user(request: Request, db: DbSession = Depends(db_session)) -> User | None:
    """The authenticated caller, or ``None`` for an anonymous request."""
    if "tcup_user" in request.state._state:
        return request.state.tcup_user
    user: User | None = None
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        if credential.startswith(TOKEN_PREFIX):
            user = _user_from_api_token(db, credential)
            if user is None:
                raise abort(401, "Invalid or revoked API token.")
        else:
            user = _user_from_jwt(db, credential, get_state(request).settings.jwt_leeway_seconds)
    elif cookie := request.cookies.get(SESSION_COOKIE):
        row = db.get(Session, digest(cookie))
        if row is not None and row.expires_at > utcnow():
            _check_api_csrf(request, row)
            user = row.user
    if user is not None and user.disabled_at is not None:
        user = None
    request.state.tcup_user = user
    return user


def _check_api_csrf(request: Request, row: Session) -> None:
    """A browser session changing something through the API must prove it is not CSRF.

    Pages check the form's token themselves; API calls (``/v1/...``) made with
    the session cookie and an unsafe method must send the login answer's
    ``csrf_token`` in ``X-CSRF-Token``.  Bearer tokens are not sent by browsers
    on their own, so they need nothing more.
    """
    path = request.url.path
    if request.method in SAFE_METHODS or not path.startswith("/v1/") or path == "/v1/auth/login":
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), row.csrf_token.encode()):
        raise abort(
            403,
            f"This call uses the session cookie, so it needs the {CSRF_HEADER} header "
            "(the csrf_token of the login answer); scripts can use an API token instead.",
        )


def require_user(user: User | None = Depends(current_user)) -> User:
    if user is None:
        raise abort(401, "Authentication required.")
    return user


def require_staff(user: User = Depends(require_user)) -> User:
    if not user.is_staff:
        raise abort(403, "Staff only.")
    return user


def login_throttle(request: Request) -> LoginThrottle:
    """The throttle of failed logins; the login page and ``/v1/auth/login`` count together,
    and so do all server processes on the same database."""
    settings = get_state(request).settings
    policy = Policy(
        free_failures=settings.login_free_failures,
        backoff=settings.login_backoff_seconds,
        max_backoff=settings.login_max_backoff_seconds,
    )
    return LoginThrottle(get_state(request).sessions, policy)


def client_host(request: Request) -> str | None:
    """The caller's address as the server sees it (the peer of the connection)."""
    return request.client.host if request.client else None
