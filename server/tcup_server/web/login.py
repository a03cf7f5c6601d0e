"""Log in and out of the web pages (staff and vendor members alike).

Two doors: the password form (``/login``, unless ``password_login`` is off) and
single sign-on with OpenID Connect (``/login/oidc`` to the provider and back to
``/login/oidc/callback``; see :mod:`tcup_server.services.oidc`).  Both end in the
same database-backed session (:func:`tcup_server.auth.start_session`).  A sign-in
under way is an :class:`~tcup_server.models.OidcLogin` row named by the sha256 of
a cookie (SameSite=Lax, so it comes back with the provider's redirect), so any
server process can finish it.  Logging out ends the session; after a single
sign-on it goes on to the provider's ``end_session_endpoint`` if it has one.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete

from tcup_server import auth
from tcup_server.models import AuditEvent, OidcLogin, utcnow
from tcup_server.services import accounts
from tcup_server.services.errors import DomainError
from tcup_server.services.oidc import OidcClient, SignInRefused
from tcup_server.state import get_state
from tcup_server.web import security
from tcup_server.web.common import (
    Caller,
    Flash,
    PageError,
    WebRoute,
    caller,
    csrf_checked,
    redirect,
    render,
)

LOG = logging.getLogger(__name__)
router = APIRouter(route_class=WebRoute)

OIDC_COOKIE = "tcup_oidc"
OIDC_COOKIE_PATH = "/login/oidc"
OIDC_MINUTES = 10  # a sign-in at the provider must be finished within this


def _oidc(who: Caller) -> OidcClient | None:
    return get_state(who.request).oidc


def _login_page(who: Caller, next_url: str, status: int = 200, **context: object) -> Response:
    oidc = _oidc(who)
    return render(
        who,
        "login.html",
        title="Log in",
        status=status,
        next_url=next_url,
        username=context.pop("username", ""),
        password_login=who.settings.password_login,
        sso_label=oidc.label if oidc else "",
        **context,
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/results"
    return target


@router.get("/login", name="web_login")
def login_page(next: str = "", who: Caller = Depends(caller)) -> Response:  # noqa: A002
    if who.user is not None:
        return redirect(safe_next(next))
    return _login_page(who, safe_next(next))


@router.post("/login")
def login(
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),  # noqa: A002
    who: Caller = Depends(csrf_checked),
) -> Response:
    if not who.settings.password_login:
        raise PageError(
            403,
            "Password login is off",
            "This server does not take passwords: log in with single sign-on from the login page.",
        )
    client = auth.client_host(who.request)
    throttle = auth.login_throttle(who.request)
    username = username.strip()
    wait = throttle.wait(username, client)
    if wait:
        LOG.warning("login refused: too many failed attempts from %s", client)
        response = _login_page(
            who,
            safe_next(next),
            status=429,
            flashes=[Flash("error", f"Too many failed attempts. Try again in {wait} seconds.")],
            username=username,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = auth.authenticate_password(who.db, username, password) if username else None
    if user is None:
        throttle.failed(username, client)
        LOG.info("failed web login from %s", client)
        return _login_page(
            who,
            safe_next(next),
            status=401,
            flashes=[Flash("error", "Wrong user name or password.")],
            username=username,
        )
    throttle.succeeded(username, client)
    auth.end_session(who.db, who.request.cookies.get(auth.SESSION_COOKIE))
    token, _csrf = auth.start_session(who.db, user, who.settings.session_hours)
    who.db.add(AuditEvent(actor_id=user.id, action="login", details={"via": "web"}))
    who.db.commit()
    response = redirect(safe_next(next))
    auth.set_session_cookie(response, token, who.request)
    response.delete_cookie(security.PRE_SESSION_COOKIE, path="/")
    return response


@router.get("/logout", name="web_logout_page")
def logout_page(who: Caller = Depends(caller)) -> Response:
    if who.user is None:
        return redirect("/")
    return render(who, "logout.html", title="Log out")


@router.post("/logout", name="web_logout")
def logout(who: Caller = Depends(csrf_checked)) -> Response:
    row = security.session_row(who.request, who.db)
    id_token = row.oidc_id_token if row is not None else None
    if who.user is not None:
        who.db.add(AuditEvent(actor_id=who.user.id, action="logout", details={"via": "web"}))
    auth.end_session(who.db, who.request.cookies.get(auth.SESSION_COOKIE))
    who.db.commit()
    oidc = _oidc(who)
    provider_logout = None
    if id_token and oidc is not None:
        back = who.settings.public_url.rstrip("/") + "/logout/done"
        provider_logout = oidc.logout_url(id_token, back)
    if provider_logout:
        response: Response = RedirectResponse(provider_logout, status_code=303)
    else:
        response = redirect("/", done="logged_out")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


@router.get("/logout/done", name="web_logout_done")
def logout_done() -> Response:
    """Where the provider sends the browser back after its own logout."""
    return redirect("/", done="logged_out")


# ------------------------------------------------------------------ single sign-on


def _refused(who: Caller, exc: SignInRefused) -> Response:
    LOG.warning("single sign-on refused from %s: %s", auth.client_host(who.request), exc.reason)
    response = render(
        who, "signin_error.html", title=exc.title, status=exc.status, message=exc.message
    )
    response.delete_cookie(OIDC_COOKIE, path=OIDC_COOKIE_PATH)
    return response


@router.get("/login/oidc", name="web_login_oidc")
def login_oidc(next: str = "", who: Caller = Depends(caller)) -> Response:  # noqa: A002
    """Begin a single sign-on: remember state, nonce and verifier, go to the provider."""
    oidc = _oidc(who)
    if oidc is None:
        raise PageError(404, "Not found", "Single sign-on is not configured on this server.")
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    try:
        url = oidc.authorization_url(state, nonce, verifier)
    except SignInRefused as exc:
        return _refused(who, exc)
    browser = secrets.token_urlsafe(32)
    now = utcnow()
    who.db.execute(delete(OidcLogin).where(OidcLogin.expires_at < now))
    who.db.add(
        OidcLogin(
            browser_sha256=auth.digest(browser),
            state=state,
            nonce=nonce,
            code_verifier=verifier,
            next_path=safe_next(next),
            expires_at=now + dt.timedelta(minutes=OIDC_MINUTES),
        )
    )
    who.db.commit()
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        browser,
        max_age=OIDC_MINUTES * 60,
        httponly=True,
        secure=who.settings.cookie_secure,
        samesite="lax",  # it must come back with the provider's redirect (a top-level GET)
        path=OIDC_COOKIE_PATH,
    )
    return response


@router.get("/login/oidc/callback", name="web_login_oidc_callback")
def login_oidc_callback(who: Caller = Depends(caller)) -> Response:
    """The provider sends the browser back here with ``code`` and ``state`` (or ``error``)."""
    oidc = _oidc(who)
    if oidc is None:
        raise PageError(404, "Not found", "Single sign-on is not configured on this server.")
    params = who.request.query_params
    cookie = who.request.cookies.get(OIDC_COOKIE, "")
    pending = who.db.get(OidcLogin, auth.digest(cookie)) if cookie else None
    if pending is not None:
        who.db.delete(pending)  # one use, whatever happens next
        who.db.commit()
    try:
        if params.get("error"):
            error = params["error"][:100]
            description = params.get("error_description", "")[:300]
            raise SignInRefused(
                403,
                f"The identity provider did not sign you in ({error}"
                + (f": {description}" if description else "")
                + "). Start again from the login page if you want to.",
                f"provider answered error {error}",
            )
        if pending is None or pending.expires_at < utcnow():
            raise SignInRefused(
                400,
                "This sign-in is not known to this browser, or it took longer than "
                f"{OIDC_MINUTES} minutes, or it was already used. Start again from the "
                "login page.",
                "no sign-in under way for this browser",
            )
        state = params.get("state", "")
        if not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise SignInRefused(
                400,
                "The sign-in was refused: the answer that came back from the identity "
                "provider does not belong to the sign-in this browser began (its state does "
                "not match). Start again from the login page.",
                "state mismatch",
            )
        code = params.get("code", "")
        if not code:
            raise SignInRefused(
                400,
                "The identity provider sent the browser back without a code. Start again "
                "from the login page.",
                "no code in the authorization response",
            )
        oidc.check_response_issuer(params.get("iss"))
        signed = oidc.finish(code, pending.nonce, pending.code_verifier)
        user = accounts.sign_in_oidc(
            who.db, signed.issuer, signed.subject, signed.claims, signed.staff
        )
    except SignInRefused as exc:
        return _refused(who, exc)
    except DomainError as exc:
        who.db.rollback()
        return _refused(who, SignInRefused(403, _sentence(exc), f"account refused: {exc}"))
    except Exception:  # whatever else a provider's answer may trip: a page, never a 500
        who.db.rollback()
        LOG.exception("single sign-on failed on an unexpected answer from the provider")
        return _refused(
            who,
            SignInRefused(
                502,
                "The identity provider's answer could not be understood, so the sign-in "
                "stopped. Try again later; if it goes on, tell the server's operators.",
                "unexpected answer (see the traceback logged above)",
                title="Single sign-on unavailable",
            ),
        )
    auth.end_session(who.db, who.request.cookies.get(auth.SESSION_COOKIE))
    token, _csrf = auth.start_session(
        who.db, user, who.settings.session_hours, oidc_id_token=signed.id_token
    )
    who.db.add(
        AuditEvent(
            actor_id=user.id,
            action="login",
            details={"via": "oidc", "iss": signed.issuer, "staff": signed.staff},
        )
    )
    who.db.commit()
    LOG.info("single sign-on of user %s (staff: %s)", user.id, signed.staff)
    response = redirect(pending.next_path)
    auth.set_session_cookie(response, token, who.request)
    response.delete_cookie(OIDC_COOKIE, path=OIDC_COOKIE_PATH)
    response.delete_cookie(security.PRE_SESSION_COOKIE, path="/")
    return response


def _sentence(exc: DomainError) -> str:
    text = exc.message.strip()
    text = text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    return text + (f" ({exc.hint})" if exc.hint else "")
