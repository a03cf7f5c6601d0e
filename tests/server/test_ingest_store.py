"""Ingest's all-or-nothing record when the artefact store or the database fails.

The artefacts are written beside the database work of an upload; the record
commits only once they are stored, and a failure on either side leaves neither
a record nor its artefacts.  Fake stores wrap the real one to fail or to look.
"""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from server_helpers import ON_EVERY_DATABASE, signed
from sqlalchemy import event, func, select
from tcup_server.models import AuditEvent, Result
from tcup_server.services import ingest as ingest_module
from tcup_server.services.ingest import Upload, ingest
from tcup_server.storage import ArtefactStore

pytestmark = ON_EVERY_DATABASE


class Wrapped(ArtefactStore):
    """The real store, with a hook run before each ``put``."""

    def __init__(self, inner: ArtefactStore, before_put) -> None:
        self.inner = inner
        self.before_put = before_put

    def put(self, key: str, data: bytes) -> None:
        self.before_put(key)
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = ""):
        return self.inner.list(prefix)


def upload_of(actor, cpid: str) -> Upload:
    body = json.dumps(
        {"cpid": cpid, "duration_seconds": 1, "results": [{"name": "tempest.api.a.B.test_c"}]}
    ).encode()
    headers = signed(body, actor.key)
    return Upload(body=body, signature=headers["X-Signature"], public_key=headers["X-Public-Key"])


def counts(app) -> tuple[int, int]:
    with app.state.tcup.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Result)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
        )


def test_record_commits_only_after_its_artefacts_are_stored(app, actors):
    ctx = app.state.tcup.ingest
    seen: list[int] = []

    def look(_key: str) -> None:  # the record must not be visible while an artefact is written
        seen.append(counts(app)[0])

    receipt = ingest(
        dataclasses.replace(ctx, store=Wrapped(ctx.store, look)),
        upload_of(actors["vendor_a"], "c1"),
    )
    assert seen == [0]
    assert counts(app)[0] == 1
    stored = [o.key for o in ctx.store.list(f"results/{receipt.test_id[:2]}/{receipt.test_id}/")]
    assert stored and all(ctx.store.get(k) for k in stored)


def test_a_failing_store_leaves_no_record(app, actors):
    ctx = app.state.tcup.ingest
    before = counts(app)

    def fail(_key: str) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ingest(
            dataclasses.replace(ctx, store=Wrapped(ctx.store, fail)),
            upload_of(actors["vendor_a"], "c2"),
        )
    assert counts(app) == before
    assert list(ctx.store.list("results/")) == []


def test_a_failing_transaction_leaves_no_artefact(app, actors, monkeypatch):
    ctx = app.state.tcup.ingest
    before = counts(app)
    written = threading.Event()

    def note(_key: str) -> None:
        written.set()

    record = ingest_module._record

    def unstorable_event(*args, **kwargs):  # a value JSON cannot hold: the insert fails
        result, digests, rows = record(*args, **kwargs)
        for table, values in rows:
            if table is AuditEvent.__table__:
                values[0]["details"] = {"not json": {1, 2}}
        return result, digests, rows

    monkeypatch.setattr(ingest_module, "_record", unstorable_event)
    with pytest.raises(Exception, match="JSON serializable"):
        ingest(
            dataclasses.replace(ctx, store=Wrapped(ctx.store, note)),
            upload_of(actors["vendor_a"], "c3"),
        )
    assert written.is_set()  # the artefact was on its way when the transaction failed
    assert counts(app) == before
    assert list(ctx.store.list("results/")) == []


def test_the_record_is_one_insert_on_postgresql(app, actors):
    """PostgreSQL: the result, its tests, its artefacts and its audit event in one INSERT
    (one round trip); SQLite: one per table.  Either way every row is stored and linked."""
    ctx = app.state.tcup.ingest
    engine = app.state.tcup.engine
    inserts: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "WITH")):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        receipt = ingest(ctx, upload_of(actors["vendor_a"], "c4"))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert len(inserts) == (1 if engine.dialect.name == "postgresql" else 4)
    with app.state.tcup.sessions() as session:
        row = session.get(Result, receipt.test_id)
        assert row.cpid == "c4" and row.owner_id == actors["vendor_a"].user_id
        assert row.tests.names() == ["tempest.api.a.B.test_c"]
        assert [(a.kind, a.sha256) for a in row.artefacts] == [("upload", receipt.sha256)]
        audit = session.scalars(select(AuditEvent).where(AuditEvent.result_id == row.id)).one()
        assert (audit.action, audit.actor_id, audit.to_state) == (
            "upload",
            row.owner_id,
            "submitted",
        )
        assert audit.details == {
            "sha256": row.upload_sha256,
            "key_fingerprint": row.key_fingerprint,
        }
