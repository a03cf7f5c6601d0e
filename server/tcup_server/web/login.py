"""Log in and out of the web pages (staff and vendor members alike)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from tcup_server import auth
from tcup_server.models import AuditEvent
from tcup_server.web import security
from tcup_server.web.common import Caller, Flash, WebRoute, caller, csrf_checked, redirect, render

LOG = logging.getLogger(__name__)
router = APIRouter(route_class=WebRoute)


def safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/results"
    return target


@router.get("/login", name="web_login")
def login_page(next: str = "", who: Caller = Depends(caller)) -> Response:  # noqa: A002
    if who.user is not None:
        return redirect(safe_next(next))
    return render(who, "login.html", title="Log in", next_url=safe_next(next), username="")


@router.post("/login")
def login(
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),  # noqa: A002
    who: Caller = Depends(csrf_checked),
) -> Response:
    client = auth.client_host(who.request)
    throttle = auth.login_throttle(who.request)
    username = username.strip()
    wait = throttle.wait(username, client)
    if wait:
        LOG.warning("login refused: too many failed attempts from %s", client)
        response = render(
            who,
            "login.html",
            title="Log in",
            status=429,
            flashes=[Flash("error", f"Too many failed attempts. Try again in {wait} seconds.")],
            next_url=safe_next(next),
            username=username,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = auth.authenticate_password(who.db, username, password) if username else None
    if user is None:
        throttle.failed(username, client)
        LOG.info("failed web login from %s", client)
        return render(
            who,
            "login.html",
            title="Log in",
            status=401,
            flashes=[Flash("error", "Wrong user name or password.")],
            next_url=safe_next(next),
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
    if who.user is not None:
        who.db.add(AuditEvent(actor_id=who.user.id, action="logout", details={"via": "web"}))
    auth.end_session(who.db, who.request.cookies.get(auth.SESSION_COOKIE))
    who.db.commit()
    response = redirect("/", done="logged_out")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response
