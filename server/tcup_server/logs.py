"""The server's log: one JSON object per line on stdout, one line per event, no secrets.

``tcup-server serve`` routes every logger (its own, uvicorn's, Python's
warnings) through :class:`JsonFormatter` on stdout, in the parent and in
every worker process (:func:`uvicorn_log_config` is handed to uvicorn, which
applies it in each worker).  A line looks like::

    {"time": "2026-05-09T07:35:25.123Z", "level": "info", "logger": "tcup_server.access",
     "event": "http.request", "message": "POST /v1/results 201", "method": "POST",
     "path": "/v1/results", "route": "/v1/results", "status": 201, "duration_ms": 12.3,
     "client": "127.0.0.1", "request_id": "9f0c..."}

No secrets, by construction and then by redaction: nothing logs a request's
headers, body, cookies or query string; and every string of a line goes
through :func:`redact`, which masks API tokens, bearer credentials, JWTs,
PEM private keys, passwords in URLs, and the values registered with
:func:`register_secret` (the metrics token, the artefact key, the database
password), in case an exception message ever carries one.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
from typing import Any

#: the request being served (set by the request log middleware), on every line it causes
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tcup_request_id", default=None
)

MASK = "***"
_PATTERNS = (
    # PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted...)
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", re.S
        ),
        "[private key " + MASK + "]",
    ),
    # the server's API tokens
    (re.compile(r"tcup_[A-Za-z0-9_-]{8,}"), "tcup_" + MASK),
    # JWTs (RefStack's bearer tokens)
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[jwt " + MASK + "]"),
    # a bearer credential (API token, JWT or anything else)
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]{8,}"), r"\1 " + MASK),
    # user:password@ in a URL
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # password=..., "password": "..."
    (re.compile(r"(?i)(passw(?:or)?d\"?\s*[:=]\s*\"?)[^\s\"&,;}]+"), r"\1" + MASK),
)
_secrets: set[str] = set()
MIN_SECRET = 6  # shorter values would mask ordinary words


def register_secret(value: str | bytes | None) -> None:
    """Mask ``value`` wherever it would appear in a log line (this process, from now on)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value and len(value) >= MIN_SECRET:
        _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every secret it may contain masked."""
    for value in _secrets:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# attributes every LogRecord has; anything else on a record came from ``extra=``
# (uvicorn's ``color_message`` is its message with terminal colours: left out)
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "color_message"}
)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; every string redacted."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        head: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "event": str(getattr(record, "event", None) or "log"),
        }
        rest: dict[str, Any] = {"message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in head and not key.startswith("_"):
                rest[key] = value
        current = request_id.get()
        if current and "request_id" not in rest:
            rest["request_id"] = current
        if record.exc_info:
            rest["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            rest["exc"] = record.exc_text
        if record.stack_info:
            rest["stack"] = self.formatStack(record.stack_info)
        head["event"] = redact(head["event"])
        head.update(_clean(rest))
        return json.dumps(head, ensure_ascii=True, default=str)


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for serving: every logger as JSON lines on stdout."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "tcup_server.logs.JsonFormatter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # uvicorn's own loggers propagate to the root handler, once
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # the request log is ours (tcup_server.access): uvicorn's has the query string
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "py.warnings": {"handlers": [], "level": "WARNING", "propagate": True},
            # one line per plugin at every import of alembic: not an event of the server
            "alembic.runtime.plugins": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def exit_on_sigterm() -> None:
    """Make SIGTERM a normal exit (``SystemExit(0)``), so ``finally`` blocks run.

    Call it before ``uvicorn.run``: uvicorn shuts down gracefully on SIGTERM, then
    raises the signal again with the handler it found, which is this one.
    """
    import signal
    import sys
    import threading

    def stop(_signum: int, _frame: object) -> None:
        sys.exit(0)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def configure(level: str = "info") -> None:
    """Send every log line of this process to stdout as JSON (``tcup-server serve``)."""
    import logging.config

    logging.config.dictConfig(uvicorn_log_config(level))
    logging.captureWarnings(True)
