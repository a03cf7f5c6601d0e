"""Readiness: can this process serve requests now?  The database and the artefact store.

:func:`readiness` runs a trivial query (``SELECT 1``) and the store's own
cheap check (a local directory: there and writable; Swift: a HEAD of the
container), each within ``timeout`` seconds, and reports each as ``ok`` or
``failed`` with the exception's class name only: the body of the health
endpoint is public, so it carries no message, URL, host or credential.  The
full reason goes to the log (redacted like every line).
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, text

from tcup_server.storage import ArtefactStore

LOG = logging.getLogger(__name__)

# A check that hangs keeps its thread, so the pool stays small and shared by all checks.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tcup-health")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    error: str | None = None  # the exception's class name, or "timeout"

    def body(self) -> dict[str, str]:
        out = {"status": "ok" if self.ok else "failed"}
        if self.error:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def body(self) -> dict[str, object]:
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {c.name: c.body() for c in self.checks},
        }


def check_database(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


def _outcome(
    name: str, future: concurrent.futures.Future, left: float | None, timeout: float
) -> Check:
    try:
        future.result(timeout=left)
    except concurrent.futures.TimeoutError:
        LOG.warning(
            "readiness: %s did not answer within %s s",
            name,
            timeout,
            extra={"event": "health.check_failed", "check": name},
        )
        return Check(name, False, "timeout")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; logged, not raised
        LOG.warning(
            "readiness: %s failed: %s: %s",
            name,
            type(exc).__name__,
            exc,
            extra={"event": "health.check_failed", "check": name},
        )
        return Check(name, False, type(exc).__name__)
    return Check(name, True)


def readiness(engine: Engine, store: ArtefactStore, timeout: float) -> Readiness:
    """Check the database and the artefact store, concurrently, each within ``timeout``
    seconds (0: no limit)."""
    probes: dict[str, Callable[[], None]] = {
        "database": lambda: check_database(engine),
        "artefact_store": store.check,
    }
    futures = {name: _POOL.submit(probe) for name, probe in probes.items()}
    deadline = time.monotonic() + timeout if timeout > 0 else None
    checks = []
    for name, future in futures.items():
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        checks.append(_outcome(name, future, left, timeout))
    return Readiness(tuple(checks))
