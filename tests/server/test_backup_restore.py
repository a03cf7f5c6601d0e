"""Backup and restore as docs/server.md describes them, with the databases' own tools.

A real ``tcup-server serve`` takes a signed upload; its database is backed up while it
runs (``sqlite3 .backup``, ``pg_dump --format=custom``), then its artefacts and keys
(``tar``); a second upload lands after the database backup.  The backup is restored
into a new data directory (``pg_restore`` into a new database), ``db check`` finds the
second upload's objects unreferenced and ``db gc`` removes them, and a server started
on the restored data answers the first result with the same digest, its artefacts
decrypt with the restored key, its receipt verifies with the restored server key, and
the second result is not there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from live_server import LiveServer, Vendor, server_cli
from server_helpers import fresh_postgres_database, signed
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tcup_server import db
from tcup_server.keys import load_keys
from tcup_server.models import Artefact
from tcup_server.services.ingest import receipt_payload
from tcup_server.settings import load_settings
from tcup_server.storage import open_store

from tcup import signing

pytestmark = pytest.mark.integration


def tool(name: str) -> str:
    """A PostgreSQL or SQLite client: the newest installed PostgreSQL's, else the PATH's."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    found = str(versions[-1]) if versions else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (Debian: apt-get install postgresql-client sqlite3)")
    return found


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore take it (no '+psycopg')."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Uploaded:
    test_id: str
    sha256: str
    receipt: dict


def upload(server: LiveServer, vendor: Vendor, body: dict, cpid: str) -> Uploaded:
    data = json.dumps({**body, "cpid": cpid}).encode()
    response = requests.post(
        f"{server.url}/v1/results", data=data, headers=signed(data, vendor.key), timeout=60
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    return Uploaded(receipt["test_id"], hashlib.sha256(data).hexdigest(), receipt)


def tar(source: Path, archive: Path) -> None:
    run("tar", "-C", str(source.parent), "-cf", str(archive), source.name)


def untar(archive: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    run("tar", "-C", str(into), "-xf", str(archive))


def check_restored(
    restored: LiveServer,
    vendor: Vendor,
    kept: Uploaded,
    lost: Uploaded,
    server_key: str,
) -> None:
    """db check, db gc, then a server on the restored data: ``kept`` is there, ``lost`` not."""
    report = server_cli(restored.env, "db", "check", "--older-than", "0", ok=(1,))
    assert f"unreferenced object (gc removes it): results/{lost.test_id[:2]}/{lost.test_id}/" in (
        report
    ), report
    assert "missing" not in report, report
    server_cli(restored.env, "db", "gc", "--older-than", "0")
    assert server_cli(restored.env, "db", "check").strip().endswith("consistent")

    restored.start()
    try:
        detail = requests.get(
            f"{restored.url}/v1/results/{kept.test_id}", headers=vendor.headers, timeout=30
        )
        assert detail.status_code == 200, detail.text  # the vendor's token was restored too
        assert detail.json()["sha256"] == kept.sha256
        gone = requests.get(
            f"{restored.url}/v1/results/{lost.test_id}", headers=vendor.headers, timeout=30
        )
        assert gone.status_code == 404
        key = requests.get(f"{restored.url}/v1/tcup/server-key", timeout=30).json()
        assert key["public_key"] == server_key
        signing.verify_receipt(
            receipt_payload(kept.receipt), kept.receipt["receipt_signature"], server_key
        )
        ready = requests.get(f"{restored.url}/health/ready", timeout=30)
        assert ready.status_code == 200, ready.text
    finally:
        restored.stop()

    settings = load_settings(
        environ={k: v for k, v in restored.env.items() if k.startswith("TCUP_SERVER_")}
    )
    engine = db.make_engine(settings.resolved_database_url)
    store = open_store(settings, load_keys(settings, create=False).artefact_key)
    with db.session_factory(engine)() as session:
        rows = list(session.scalars(select(Artefact).where(Artefact.result_id == kept.test_id)))
    engine.dispose()
    assert rows
    for row in rows:  # every artefact decrypts with the restored key, byte for byte
        assert hashlib.sha256(store.get(row.storage_key)).hexdigest() == row.sha256


def test_sqlite_online_backup_and_restore(tmp_path, rsa_keys, subunit_body):
    keys_dir = tmp_path / "keys"
    server = LiveServer.create(tmp_path / "data", keys_dir=keys_dir)
    server.start()
    backup = tmp_path / "backup"
    backup.mkdir()
    try:
        vendor = server.add_vendor("backed-up", rsa_keys[0])
        body = json.loads(subunit_body)
        kept = upload(server, vendor, body, "before-the-backup")
        server_key = requests.get(f"{server.url}/v1/tcup/server-key", timeout=30).json()
        # while the server runs: the database first (SQLite's online backup), then the rest
        database = tmp_path / "data" / "tcup-server.db"
        run(tool("sqlite3"), str(database), f".backup '{backup / 'tcup-server.db'}'")
        lost = upload(server, vendor, body, "after-the-backup")
        tar(tmp_path / "data" / "artefacts", backup / "artefacts.tar")
        tar(keys_dir, backup / "keys.tar")
    finally:
        server.stop()
    check = run(tool("sqlite3"), str(backup / "tcup-server.db"), "PRAGMA integrity_check")
    assert check.strip() == "ok"

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir(mode=0o700)
    shutil.copy2(backup / "tcup-server.db", restored_dir / "tcup-server.db")
    untar(backup / "artefacts.tar", restored_dir)
    untar(backup / "keys.tar", tmp_path / "restored-keys-parent")
    restored_keys = tmp_path / "restored-keys-parent" / keys_dir.name
    restored = LiveServer.create(restored_dir, keys_dir=restored_keys)  # db upgrade: no-op
    check_restored(restored, vendor, kept, lost, server_key["public_key"])


def test_sqlite_backup_with_the_python_online_backup_api(tmp_path, keys_dir, subunit_body):
    """The same online backup through Python's sqlite3 module (no sqlite3 binary needed)."""
    server = LiveServer.create(tmp_path / "data", keys_dir=keys_dir)
    database = tmp_path / "data" / "tcup-server.db"
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(database)
    target = sqlite3.connect(copy)
    with target:
        source.backup(target)
    source.close()
    tables = {row[0] for row in target.execute("SELECT name FROM sqlite_master")}
    revision = target.execute("SELECT version_num FROM alembic_version").fetchone()
    target.close()
    assert {"results", "users", "audit_events", "alembic_version"} <= tables
    upgraded = server_cli(
        {**server.env, "TCUP_SERVER_DATABASE_URL": f"sqlite:///{copy}"}, "db", "upgrade"
    )
    assert "is at revision head" in upgraded and revision is not None


def test_postgresql_dump_and_restore(tmp_path, postgres_url, rsa_keys, subunit_body):
    with (
        fresh_postgres_database(postgres_url) as live_url,
        fresh_postgres_database(postgres_url) as restored_url,
    ):
        keys_dir = tmp_path / "keys"
        server = LiveServer.create(tmp_path / "data", keys_dir=keys_dir, database_url=live_url)
        server.start()
        backup = tmp_path / "backup"
        backup.mkdir()
        try:
            vendor = server.add_vendor("pg-backed-up", rsa_keys[1])
            body = json.loads(subunit_body)
            kept = upload(server, vendor, body, "before-the-dump")
            server_key = requests.get(f"{server.url}/v1/tcup/server-key", timeout=30).json()
            dump = backup / "tcup.dump"
            run(tool("pg_dump"), "--format=custom", f"--file={dump}", libpq_url(live_url))
            lost = upload(server, vendor, body, "after-the-dump")
            tar(tmp_path / "data" / "artefacts", backup / "artefacts.tar")
        finally:
            server.stop()
        listing = run(tool("pg_restore"), "--list", str(dump))
        assert "TABLE DATA public results" in listing

        run(
            tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            f"--dbname={libpq_url(restored_url)}",
            str(dump),
        )
        restored_dir = tmp_path / "restored"
        restored_dir.mkdir(mode=0o700)
        untar(backup / "artefacts.tar", restored_dir)
        restored = LiveServer.create(restored_dir, keys_dir=keys_dir, database_url=restored_url)
        check_restored(restored, vendor, kept, lost, server_key["public_key"])
