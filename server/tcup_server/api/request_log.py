"""One log line and the HTTP metrics for every request (an ASGI middleware, outermost).

The line (logger ``tcup_server.access``, event ``http.request``) has the
method, the path (escaped, at most 200 characters), the matched route's
template, the status, the duration in milliseconds, the client address and a
request id.  It never has the query string, a header, a cookie or the body,
which is where clients put credentials.  The request id is also answered in
``X-Request-ID`` and is on every other line logged while serving the request.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from tcup_server import logs
from tcup_server.api.guard import ASGIApp, Message, Receive, Scope, Send
from tcup_server.metrics import Metrics

LOG = logging.getLogger("tcup_server.access")
MAX_PATH = 200


def _escaped(path: str) -> str:
    return path[:MAX_PATH].encode("unicode_escape").decode("ascii")


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``."""
    route = scope.get("route")
    return str(getattr(route, "path", "") or "unmatched")


class RequestLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = uuid.uuid4().hex
        token = logs.request_id.set(rid)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - started
            method = str(scope.get("method", ""))[:16]
            route = route_template(scope)
            extra: dict[str, Any] = {
                "event": "http.request",
                "method": method,
                "path": _escaped(scope.get("path", "")),
                "route": route,
                "status": status,
                "duration_ms": round(took * 1000, 1),
                "client": (scope.get("client") or ("-",))[0],
                "request_id": rid,
            }
            level = logging.ERROR if status >= 500 else logging.INFO
            LOG.log(level, "%s %s %s", method, extra["path"], status, extra=extra)
            self.metrics.request_answered(method, route, status, took)
            logs.request_id.reset(token)
