"""Prometheus metrics of one server application (prometheus-client), served at ``/metrics``.

=====================================  =========  ==============================================
name                                   type       labels
=====================================  =========  ==============================================
``tcup_uploads_accepted_total``        counter    ``kind`` (json|subunit|tcup), ``replayed``
``tcup_uploads_refused_total``         counter    ``kind``, ``reason``, ``status``
``tcup_ingest_duration_seconds``       histogram  ``kind``, ``outcome`` (stored|replayed|refused
                                                  |error)
``tcup_review_actions_total``          counter    ``action`` (take_in_review|verify|reject
                                                  |reopen|publish|unpublish)
``tcup_audit_events_total``            counter    ``action`` (every committed audit event)
``tcup_http_requests_total``           counter    ``method``, ``route``, ``status``
``tcup_http_request_duration_seconds`` histogram  ``route``
``tcup_db_pool_checked_out``           gauge      (connections in use)
``tcup_db_pool_size``                  gauge      (the pool's size; overflow may exceed it)
=====================================  =========  ==============================================

Every label value is chosen by the server, never copied from a request:
kinds, outcomes and actions are fixed sets; ``reason`` is derived from the
server's own error title (:func:`reason_code`); ``route`` is the matched
route's template (``/v1/results/{result_id}``) or ``unmatched``; ``method``
is one of the HTTP methods or ``other``.  As a last bound, a label takes at
most :data:`MAX_VALUES` distinct values per process, then ``other``.

Each application has its own registry (tests build many).  With several
worker processes prometheus-client's multiprocess mode is needed: when
``PROMETHEUS_MULTIPROC_DIR`` is set (``tcup-server serve --workers N`` sets a
fresh one when it is not), every process writes its values there and
``/metrics`` answers the sum over all of them (gauges: over live processes).
"""

from __future__ import annotations

import os
import re
import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import QueuePool

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_VALUES = 64
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UPLOAD_KINDS = frozenset({"json", "subunit", "tcup"})
REVIEW_ACTIONS = ("take_in_review", "verify", "reject", "reopen", "publish", "unpublish")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def multiprocess() -> bool:
    """Whether prometheus-client writes values to ``PROMETHEUS_MULTIPROC_DIR``."""
    return bool(os.environ.get(MULTIPROC_ENV))


def reason_code(title: str) -> str:
    """A refusal's label: its title up to the first ``:`` or ``(``, as a short slug.

    Titles are the server's own words ("Signature verification failed",
    "Too many tests: 120001 (at most 100000)" -> ``too_many_tests``); what a
    request sent only ever goes into the detail, which no label reads.
    """
    head = re.split(r"[:(]", title, maxsplit=1)[0]
    slug = re.sub(r"[^a-z0-9]+", "_", head.lower()).strip("_")
    return slug[:48] or "unknown"


def review_action(action: str, from_state: str | None, to_state: str | None) -> str | None:
    """The review action an audit event records, or ``None`` if it is not one."""
    if action in ("publish", "unpublish"):
        return action
    if action != "review":
        return None
    if to_state == "verified":
        return "verify"
    if to_state == "rejected":
        return "reject"
    if to_state == "in_review":
        return "take_in_review" if from_state == "submitted" else "reopen"
    return OTHER


class _Bounded:
    """Label values seen so far; past ``MAX_VALUES`` distinct ones, ``other``."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= MAX_VALUES:
                return OTHER
            self._seen.add(value)
        return value


class Metrics:
    """The instruments of one application, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess()
        r = self.registry
        self.uploads_accepted = Counter(
            "tcup_uploads_accepted",
            "Uploads answered 201: stored, or replayed (the same content again)",
            ("kind", "replayed"),
            registry=r,
        )
        self.uploads_refused = Counter(
            "tcup_uploads_refused",
            "Uploads refused, by reason (from the error title) and HTTP status",
            ("kind", "reason", "status"),
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "tcup_ingest_duration_seconds",
            "Time to validate, verify, score and store one upload (ingest)",
            ("kind", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.review_actions = Counter(
            "tcup_review_actions",
            "Committed review actions: take_in_review, verify, reject, reopen, publish, unpublish",
            ("action",),
            registry=r,
        )
        self.audit_events = Counter(
            "tcup_audit_events",
            "Committed audit events by action (uploads, logins, keys, review, ...)",
            ("action",),
            registry=r,
        )
        self.http_requests = Counter(
            "tcup_http_requests",
            "HTTP requests answered, by method, route template and status",
            ("method", "route", "status"),
            registry=r,
        )
        self.http_seconds = Histogram(
            "tcup_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pool_checked_out = Gauge(
            "tcup_db_pool_checked_out",
            "Database connections checked out of the pool (in use)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "tcup_db_pool_size",
            "Size of the database connection pool (checked out may exceed it by the overflow)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._pool: QueuePool | None = None
        self._reasons = _Bounded()
        self._routes = _Bounded()
        self._actions = _Bounded()

    # ------------------------------------------------------------ uploads

    def upload_accepted(self, kind: str, replayed: bool) -> None:
        self.uploads_accepted.labels(_kind(kind), "true" if replayed else "false").inc()

    def upload_refused(self, kind: str, status: int, title: str) -> None:
        reason = self._reasons(reason_code(title))
        self.uploads_refused.labels(_kind(kind), reason, str(int(status))).inc()

    def ingest_observed(self, kind: str, outcome: str, seconds: float) -> None:
        self.ingest_seconds.labels(_kind(kind), outcome).observe(seconds)

    # --------------------------------------------------------------- http

    def request_answered(self, method: str, route: str, status: int, seconds: float) -> None:
        route = self._routes(route)
        method = method if method in METHODS else OTHER
        self.http_requests.labels(method, route, str(int(status))).inc()
        self.http_seconds.labels(route).observe(seconds)

    # ------------------------------------------------------ audit, review

    def audited(self, action: str, from_state: str | None, to_state: str | None) -> None:
        self.audit_events.labels(self._actions(action)).inc()
        kind = review_action(action, from_state, to_state)
        if kind is not None:
            self.review_actions.labels(kind).inc()

    def observe_sessions(self, sessions: sessionmaker[Session]) -> None:
        """Count the audit events of every committed transaction of ``sessions``."""
        from tcup_server.models import PENDING_AUDIT, AuditEvent, note_audit

        def after_flush(session: Session, _context: object) -> None:
            for o in session.new:
                if isinstance(o, AuditEvent):
                    note_audit(session, o.action, o.from_state, o.to_state)

        def after_commit(session: Session) -> None:
            for action, from_state, to_state in session.info.pop(PENDING_AUDIT, ()):
                self.audited(action, from_state, to_state)

        def after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is None:  # rolled back or closed: nothing was committed
                session.info.pop(PENDING_AUDIT, None)

        event.listen(sessions, "after_flush", after_flush)
        event.listen(sessions, "after_commit", after_commit)
        event.listen(sessions, "after_transaction_end", after_transaction_end)

    # ---------------------------------------------------------------- pool

    def observe_pool(self, engine: Engine) -> None:
        """Follow ``engine``'s pool (a ``QueuePool``; other pools have no size to report)."""
        pool = engine.pool
        if not isinstance(pool, QueuePool):
            return
        self._pool = pool
        self.pool_size.set(pool.size())

        def checked_out(*_args: object) -> None:
            self.pool_checked_out.set(pool.checkedout())

        def checked_in(*_args: object) -> None:  # fired before the pool takes it back
            self.pool_checked_out.set(max(pool.checkedout() - 1, 0))

        event.listen(pool, "checkout", checked_out)
        event.listen(pool, "checkin", checked_in)

    # ------------------------------------------------------------- render

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition the scraper asked for (``Accept``: Prometheus text or OpenMetrics)
        and its content type: this registry, or every process's values in multiprocess mode."""
        if self._pool is not None:
            self.pool_checked_out.set(self._pool.checkedout())
        encoder, content_type = choose_encoder(accept)
        if not self.multiprocess:
            return encoder(self.registry), content_type
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        return encoder(registry), content_type


def _kind(kind: str) -> str:
    return kind if kind in UPLOAD_KINDS else OTHER


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished worker's live gauges (multiprocess mode); nothing otherwise."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(pid or os.getpid())
