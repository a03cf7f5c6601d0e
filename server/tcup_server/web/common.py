"""What every page shares: templates, the caller, flash messages, HTML errors.

Pages render through :func:`render`, which adds the signed-in user, the CSRF
token for forms and the flash messages.  A handler that cannot go on raises
:class:`PageError` (or a service's :class:`~tcup_server.services.errors.DomainError`);
:class:`WebRoute` turns it into an HTML page with the right status
(:func:`tcup_server.errors.status_of`, as the API), never a traceback or a JSON body.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session as DbSession

from tcup_server.auth import current_user, db_session
from tcup_server.errors import status_of
from tcup_server.models import User
from tcup_server.services.errors import DomainError, NotFound
from tcup_server.state import get_state
from tcup_server.web import security

LOG = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

# Outcomes of a form post, shown after the redirect (a fixed code in the URL, never data).
DONE_MESSAGES = {
    "review_started": "Review started.",
    "verified": "Submission verified.",
    "rejected": "Submission rejected.",
    "reopened": "Submission reopened for review.",
    "published": "Submission published: it now appears on the public page.",
    "unpublished": "Submission withdrawn from the public page.",
    "linked": "Submission linked to the product version.",
    "key_added": "Public key registered.",
    "key_revoked": "Public key revoked.",
    "vendor_created": "Vendor created.",
    "member_added": "Member added.",
    "product_created": "Product created.",
    "version_created": "Product version created.",
    "logged_out": "You are logged out.",
}


class PageError(Exception):
    """Stop a page with an HTTP status and a message for the reader."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def not_found(what: str = "page") -> PageError:
    return PageError(404, "Not found", f"There is no such {what}, or you may not see it.")


@dataclass(frozen=True)
class Flash:
    kind: str  # ok | error | info
    text: str


@dataclass
class Caller:
    """The request's context for pages: database session and signed-in user."""

    request: Request
    db: DbSession
    user: User | None

    @property
    def settings(self):  # noqa: ANN201 - ServerSettings, kept loose to avoid an import cycle
        return get_state(self.request).settings


def caller(
    request: Request,
    db: DbSession = Depends(db_session),
    user: User | None = Depends(current_user),
) -> Caller:
    return Caller(request=request, db=db, user=user)


def signed_in(who: Caller = Depends(caller)) -> Caller:
    """Pages for members only: anonymous callers are sent to the login page."""
    if who.user is None:
        raise LoginRequired(who.request.url.path)
    return who


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def csrf_checked(who: Caller = Depends(caller)) -> Caller:
    """For POST handlers: refuse the request (403) unless it carries this browser's token."""
    form = await who.request.form()
    submitted = form.get(security.CSRF_FIELD)
    security.check_csrf(who.request, who.db, submitted if isinstance(submitted, str) else None)
    return who


async def csrf_signed_in(who: Caller = Depends(csrf_checked)) -> Caller:
    if who.user is None:
        raise LoginRequired("/")
    return who


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


TEMPLATES.env.filters["when"] = _when


def render(
    who: Caller,
    template: str,
    *,
    title: str,
    status: int = 200,
    flashes: list[Flash] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` with the shared context; sets the pre-session cookie if needed."""
    shown = list(flashes or [])
    done = who.request.query_params.get("done")
    if done in DONE_MESSAGES:
        shown.insert(0, Flash("ok", DONE_MESSAGES[done]))
    response = TEMPLATES.TemplateResponse(
        who.request,
        template,
        {
            "title": title,
            "user": who.user,
            "csrf_token": security.csrf_token_for(who.request, who.db),
            "flashes": shown,
            "nav": context.pop("nav", ""),
            **context,
        },
        status_code=status,
    )
    security.remember_pre_session(who.request, response, who.settings.cookie_secure)
    return response


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """A plain HTML error page; needs no database (used when the handler failed)."""
    user = getattr(request.state, "tcup_user", None)
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {
            "title": title,
            "message": message,
            "user": user,
            "csrf_token": "",
            "flashes": [],
            "nav": "",
        },
        status_code=status,
    )


class WebRoute(APIRoute):
    """A page route: security headers on every response, errors as HTML pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = RedirectResponse(
                    "/login?" + urlencode({"next": exc.next_path}), status_code=303
                )
            except security.CsrfRejected:
                LOG.warning("refused a form post without a valid CSRF token: %s", request.url.path)
                response = error_page(
                    request,
                    403,
                    "Form expired",
                    "This form was not accepted (its security token is missing or stale). "
                    "Go back, reload the page and try again.",
                )
            except PageError as exc:
                response = error_page(request, exc.status, exc.title, exc.message)
            except DomainError as exc:
                status = status_of(exc)
                title = {404: "Not found", 403: "Not allowed"}.get(status, "Not done")
                response = error_page(request, status, title, _sentence(exc.message))
            for name, value in security.headers_for(request).items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return page


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def redirect(path: str, done: str | None = None, **params: str) -> RedirectResponse:
    """303 See Other after a successful post (the Post/Redirect/Get pattern)."""
    query = {k: v for k, v in params.items() if v}
    if done:
        query["done"] = done
    return RedirectResponse(path + ("?" + urlencode(query) if query else ""), status_code=303)


def refusal(exc: DomainError) -> Flash:
    """The flash telling why a service refused a form: its message and hint."""
    return Flash("error", exc.message + (f" ({exc.hint})" if exc.hint else ""))


def post_or_refuse(
    who: Caller,
    action: Callable[[], str],
    done: str,
    reshow: Callable[[int, list[Flash]], Response],
) -> Response:
    """Run a form's ``action``, commit, and redirect to the path it returns.

    A service's refusal rolls back and answers ``reshow(status, flashes)``
    with the reason and its status (403, 409, 400).  :class:`NotFound` goes
    on up, so the page answers 404.
    """
    try:
        path = action()
    except NotFound:
        raise
    except DomainError as exc:
        who.db.rollback()
        return reshow(status_of(exc), [refusal(exc)])
    who.db.commit()
    return redirect(path, done=done)
