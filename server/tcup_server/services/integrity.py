"""Consistency of the database and the artefact store, and removal of what a crash left.

Ingest writes the artefacts first and the record (result, tests, artefact
rows, idempotency key) in one transaction after them, so a crash can leave
*unreferenced objects* in the store, never a partial record.  ``check``
reports every kind of inconsistency; ``collect_garbage`` deletes
unreferenced objects older than a grace period (an upload in flight on a
running server has written its artefacts but not yet committed: the grace
period keeps them safe).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tcup_server.models import Artefact, ArtefactKind, Result, ResultTests, utcnow
from tcup_server.storage import ArtefactStore

LOG = logging.getLogger(__name__)

PREFIX = "results/"  # where ingest puts artefacts
DEFAULT_GRACE = dt.timedelta(hours=1)


@dataclass
class IntegrityReport:
    results: int = 0
    artefacts: int = 0
    results_without_tests: list[str] = field(default_factory=list)
    results_without_upload: list[str] = field(default_factory=list)
    missing_objects: list[str] = field(default_factory=list)  # rows whose object is gone
    orphan_objects: list[str] = field(default_factory=list)  # objects no row refers to
    recent_orphans: list[str] = field(default_factory=list)  # within the grace period

    @property
    def clean(self) -> bool:
        return not (
            self.results_without_tests
            or self.results_without_upload
            or self.missing_objects
            or self.orphan_objects
        )

    def lines(self) -> list[str]:
        out = [f"{self.results} result(s), {self.artefacts} artefact(s)"]
        for label, items in (
            ("result without its tests", self.results_without_tests),
            ("result without its upload artefact", self.results_without_upload),
            ("artefact row whose object is missing", self.missing_objects),
            ("unreferenced object (gc removes it)", self.orphan_objects),
            ("unreferenced object younger than the grace period", self.recent_orphans),
        ):
            out.extend(f"{label}: {item}" for item in items)
        return out


def _referenced(session: Session) -> set[str]:
    return set(session.scalars(select(Artefact.storage_key)))


def check(
    sessions: sessionmaker[Session],
    store: ArtefactStore,
    grace: dt.timedelta = DEFAULT_GRACE,
    now: dt.datetime | None = None,
) -> IntegrityReport:
    """Every inconsistency between the records and the stored objects."""
    now = now or utcnow()
    report = IntegrityReport()
    with sessions() as session:
        result_ids = set(session.scalars(select(Result.id)))
        report.results = len(result_ids)
        with_tests = set(session.scalars(select(ResultTests.result_id)))
        report.results_without_tests = sorted(result_ids - with_tests)
        with_upload = set(
            session.scalars(
                select(Artefact.result_id).where(Artefact.kind == ArtefactKind.UPLOAD.value)
            )
        )
        report.results_without_upload = sorted(result_ids - with_upload)
        referenced = _referenced(session)
        report.artefacts = len(referenced)
    stored: set[str] = set()
    for obj in store.list(PREFIX):
        stored.add(obj.key)
        if obj.key in referenced:
            continue
        if now - obj.modified >= grace:
            report.orphan_objects.append(obj.key)
        else:
            report.recent_orphans.append(obj.key)
    report.missing_objects = sorted(referenced - stored)
    return report


def collect_garbage(
    sessions: sessionmaker[Session],
    store: ArtefactStore,
    grace: dt.timedelta = DEFAULT_GRACE,
    now: dt.datetime | None = None,
) -> list[str]:
    """Delete the unreferenced objects older than ``grace``; return their keys."""
    report = check(sessions, store, grace, now)
    removed: list[str] = []
    with sessions() as session:
        referenced = _referenced(session)  # again: a commit may have landed meanwhile
    for key in report.orphan_objects:
        if key in referenced:
            continue
        store.delete(key)
        removed.append(key)
        LOG.info("removed unreferenced artefact %s", key)
    return removed
