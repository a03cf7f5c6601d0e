"""HTTP errors with RefStack's JSON error bodies.

RefStack answers ``{"title": ..., "code": N}`` for validation, not-found and
conflict errors, and ``{"code": N, "title": "Unauthorized", "detail": ...}``
for aborts (401/403).  Raise :class:`ApiError` in the API layer; the app turns
it into that body.
"""

from __future__ import annotations

from http import HTTPStatus


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
