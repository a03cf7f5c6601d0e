"""HTTP errors with RefStack's JSON error bodies.

RefStack answers ``{"title": ..., "code": N}`` for validation, not-found and
conflict errors, and ``{"code": N, "title": "Unauthorized", "detail": ...}``
for aborts (401/403).  Raise :class:`ApiError` in the API layer; the app turns
it into that body.  Services raise domain errors
(:mod:`tcup_server.services.errors`); :func:`from_domain` is the one place
that gives each its HTTP status.
"""

from __future__ import annotations

from http import HTTPStatus

from tcup_server.services.errors import Conflict, DomainError, Forbidden, NotFound


class ApiError(Exception):
    """An HTTP error answered with RefStack's error body."""

    def __init__(
        self, code: int, title: str | None = None, detail: str | None = None, **extra: object
    ) -> None:
        super().__init__(title or detail or HTTPStatus(code).phrase)
        self.code = code
        self.title = title if title is not None else HTTPStatus(code).phrase
        self.detail = detail
        self.extra = extra

    def body(self) -> dict:
        body: dict = {"title": self.title, "code": self.code}
        if self.detail is not None:
            body["detail"] = self.detail
        body.update(self.extra)
        return body


def abort(code: int, detail: str = "") -> ApiError:
    """RefStack's ``pecan.abort`` shape: title is the HTTP phrase, message in ``detail``."""
    return ApiError(code, HTTPStatus(code).phrase, detail)


def status_of(exc: DomainError) -> int:
    """The HTTP status of a domain error (the pages use it too)."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 400


def from_domain(exc: DomainError) -> ApiError:
    """A service's refusal as RefStack answers it: 403 as an abort, the others with a title."""
    code = status_of(exc)
    if code == 403:
        return abort(403, exc.message)
    return ApiError(code, exc.message, detail=exc.hint)
