"""The HTTP layer's first check of every request, before any route sees it.

An ASGI middleware (:class:`InputGuard`) that refuses with a RefStack-style
error body (``{"title": ..., "code": N, "detail": ...}``) and one warning log
line, never a traceback:

* a NUL (``%00``) in the path or the query string (400): no database stores it;
* a path with a ``.`` or ``..`` segment or an encoded ``/``, ``\\`` or ``.`` (400):
  no id in a path names a file, and none may try;
* a ``Content-Encoding`` other than ``identity`` (415): the server decompresses
  nothing, so a gzip bomb is never expanded;
* a body larger than its limit (413): ``max_body_bytes`` for the upload routes
  (:data:`UPLOAD_PATHS`), :data:`OTHER_BODY_LIMIT` for every other route
  (logins, keys, metadata, forms), refused as soon as the declared length or
  the bytes received pass it;
* an integer query parameter (:data:`NUMERIC_PARAMS`) beyond +/- (2**53 - 1) (400);
* a body that FastAPI or ingest would parse as JSON and that is JSON outside
  :mod:`tcup_server.safe_json`'s bounds (400): on the upload routes the whole
  body unless it is a subunit stream, and the JSON parts of a multipart body;
  elsewhere a body with no content type, ``application/json`` or ``*+json``;
* a NUL anywhere in any other body of a route that is not an upload (400).

So ingest and every route only ever parse JSON that ``safe_json`` accepted.

A RefStack body sent to ``POST /v1/results`` is parsed once: ``safe_json``
reads it by the rule of ingest's reader (strict UTF-8, no BOM), and the value
it parsed is handed to the route in the scope (:data:`PARSED_BODY`, with the
bytes it was parsed from).  A body that reader refuses is not handed over:
ingest reads it again and refuses it in its own words.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool

from tcup_server import safe_json
from tcup_server.errors import ApiError

LOG = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_UPLOAD = "/v1/tcup/results"
UPLOAD_PATHS = frozenset({"/v1/results", "/v1/results/", MULTIPART_UPLOAD})
OTHER_BODY_LIMIT = 1024 * 1024
MALFORMED = "Malformed request"
# what api/results.py reads as a subunit stream rather than a RefStack body
SUBUNIT_TYPES = frozenset(
    {"application/octet-stream", "application/vnd.subunit", "application/x-subunit"}
)
# multipart parts of POST /v1/tcup/results that ingest parses as JSON
JSON_PARTS = frozenset({"results", "extended", "manifest", "envelope"})
INLINE_CHECK_BYTES = 64 * 1024
#: scope key of ``(body, value)``: the RefStack JSON body of an upload and its parsed value
PARSED_BODY = "tcup.parsed_body"
REFSTACK_UPLOAD_PATHS = frozenset({"/v1/results", "/v1/results/"})
NOT_JSON: Any = object()  # what the body checks answer for a body they did not parse
NUMERIC_PARAMS = frozenset({"duration_seconds", "page", "verification_status"})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _is_json(content_type: str, default: bool = True) -> bool:
    """Whether a body of this content type is parsed as JSON (FastAPI: also when there is none)."""
    main = content_type.split(";", 1)[0].strip().lower()
    if not main:
        return default
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


def refuse_unsafe_json(data: bytes, what: str, *, bom: bool = True) -> Any:
    """``ApiError`` 400 if ``data`` is JSON outside the safe bounds; anything else passes.

    Answers the parsed value, or :data:`NOT_JSON`: a body that is not JSON at
    all (``bom=False``: not strict UTF-8 JSON without a BOM, see
    ``safe_json.loads``) is left to the route, which answers it in its own
    words (RefStack's "Malformed request" for uploads).
    """
    try:
        return safe_json.loads(data, bom=bom)
    except safe_json.UnsafeJson as exc:
        raise ApiError(400, MALFORMED, detail=f"{what}: {exc}") from None
    except ValueError:  # not JSON: the route's own parser says so
        return NOT_JSON


def refuse_unsafe_upload(path: str, content_type: str, body: bytes) -> Any:
    """Check what ingest will parse as JSON in an upload body (see the module docstring).

    Answers the parsed value of a RefStack JSON body sent to ``/v1/results``
    (read as ingest reads it), else :data:`NOT_JSON`.
    """
    main = content_type.split(";", 1)[0].strip().lower()
    if path == MULTIPART_UPLOAD and main == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name in JSON_PARTS or _is_json(part.get_content_type(), default=False):
                    data = part.get_payload(decode=True) or b""
                    if data:
                        refuse_unsafe_json(data, f"part {str(name)[:40]!r}")
            return NOT_JSON
    if main in SUBUNIT_TYPES:
        return NOT_JSON
    if path in REFSTACK_UPLOAD_PATHS:
        return refuse_unsafe_json(body, "the body", bom=False)
    refuse_unsafe_json(body, "the body")
    return NOT_JSON


def _refuse_big_numbers(query: bytes) -> None:
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in NUMERIC_PARAMS and value.strip().lstrip("+-").isdigit():
            digits = value.strip().lstrip("+-").lstrip("0")
            if len(digits) > 16 or int(digits or "0") > safe_json.MAX_SAFE_INTEGER:
                raise ApiError(
                    400,
                    f"Invalid {name}: must be at most {safe_json.MAX_SAFE_INTEGER}",
                )


def upload_kind(path: str, content_type: str) -> str:
    """What the upload routes make of a request: ``tcup``, ``subunit`` or ``json``."""
    if path == MULTIPART_UPLOAD:
        return "tcup"
    main = content_type.split(";", 1)[0].strip().lower()
    return "subunit" if main in SUBUNIT_TYPES else "json"


def _is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and scope.get("path", "") in UPLOAD_PATHS


class InputGuard:
    """ASGI middleware: refuse what no route should ever see (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, metrics: Any = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics  # tcup_server.metrics.Metrics: refused uploads are counted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            receive = await self._checked(scope, receive)
        except ApiError as exc:
            LOG.warning(
                "refused %s %s: %s %s%s",
                scope.get("method"),
                scope.get("path", "")[:200].encode("unicode_escape").decode("ascii"),
                exc.code,
                exc.title,
                f" ({exc.detail})" if exc.detail else "",
                extra={"event": "http.refused", "status": exc.code},
            )
            if self.metrics is not None and _is_upload(scope):
                kind = upload_kind(scope.get("path", ""), _header(scope, b"content-type"))
                self.metrics.upload_refused(kind, exc.code, exc.title)
            await _answer(send, exc)
            return
        await self.app(scope, receive, send)

    async def _checked(self, scope: Scope, receive: Receive) -> Receive:
        """Check the request line and headers, then (when needed) the body; the new receive."""
        path: str = scope.get("path", "")
        query: bytes = scope.get("query_string", b"")
        if "\x00" in path or b"\x00" in query or b"%00" in query.lower():
            raise ApiError(400, MALFORMED, detail="the URL contains a NUL character")
        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        if {".", ".."} & set(path.split("/")) or any(
            encoded in raw_path.lower() for encoded in (b"%2f", b"%5c", b"%2e")
        ):
            raise ApiError(400, MALFORMED, detail="the path contains '.', '..' or an encoded '/'")
        _refuse_big_numbers(query)
        encoding = _header(scope, b"content-encoding").strip().lower()
        if encoding not in ("", "identity"):
            raise ApiError(
                415,
                "Unsupported Media Type",
                detail=f"Content-Encoding {encoding[:40]!r} is not accepted; "
                "send the body uncompressed",
            )
        upload = path in UPLOAD_PATHS
        limit = self.max_body_bytes if upload else min(OTHER_BODY_LIMIT, self.max_body_bytes)
        declared = _header(scope, b"content-length").strip()
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        body = await _read(receive, limit)
        if body is None:
            return _gone
        content_type = _header(scope, b"content-type")
        if upload:
            if body:
                parsed = await _off_loop(len(body), refuse_unsafe_upload, path, content_type, body)
                if parsed is not NOT_JSON and scope.get("method") == "POST":
                    scope[PARSED_BODY] = (body, parsed)  # parsed once: ingest takes it
        elif body and _is_json(content_type):
            await _off_loop(len(body), refuse_unsafe_json, body, "the body")
        elif b"\x00" in body or (
            "x-www-form-urlencoded" in content_type.lower() and b"%00" in body.lower()
        ):
            raise ApiError(400, MALFORMED, detail="the body contains a NUL character")
        return _replay(body, receive)


async def _off_loop(size: int, check: Callable[..., Any], *args: Any) -> Any:
    """Run a body check; a big body's in a worker thread, so the event loop keeps serving."""
    if size <= INLINE_CHECK_BYTES:
        return check(*args)
    return await run_in_threadpool(check, *args)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body too large (limit {limit} bytes)")


async def _gone() -> Message:
    return {"type": "http.disconnect"}


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, refused once past ``limit``; ``None`` if the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the route the buffered body once, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, error: ApiError) -> None:
    payload = json.dumps(error.body()).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": error.code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
