"""``tcup-server db upgrade|check|gc``: schema, consistency, leftovers of a crash."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TextIO

from tcup.errors import InputError
from tcup_server import db, filemodes
from tcup_server.keys import load_keys
from tcup_server.services import integrity
from tcup_server.settings import ServerSettings, load_settings
from tcup_server.storage import open_store

NAME = "db"
HELP = (
    "database and artefacts: `db upgrade` creates or migrates the schema (and the server "
    "keys) and makes the data private (0700/0600); `db check` reports inconsistencies and "
    "files other local users can read (exit 1 if any); `db gc` deletes artefacts no record "
    "refers to (left by a crash during an upload)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["upgrade", "check", "gc"], help="what to do")
    parser.add_argument("--revision", default="head", help="upgrade: target revision (head)")
    parser.add_argument(
        "--older-than",
        type=float,
        default=integrity.DEFAULT_GRACE.total_seconds(),
        metavar="SECONDS",
        help="check/gc: only unreferenced artefacts older than this count as leftovers "
        "(default %(default)g; younger ones may belong to an upload in flight)",
    )


def upgrade(settings: ServerSettings, stdout: TextIO, revision: str = "head") -> int:
    fixed = filemodes.secure(settings)  # before SQLite opens: its WAL/SHM take the file's mode
    engine = db.make_engine(settings.resolved_database_url)
    db.upgrade(engine, revision)
    load_keys(settings)
    fixed += filemodes.secure(settings)
    for item in fixed:
        print(
            f"tightened mode of {item.path} from {item.mode:04o} to {item.wanted:04o}", file=stdout
        )
    url = engine.url.render_as_string(hide_password=True)
    print(f"database {url} is at revision {revision}", file=stdout)
    return 0


def _open(settings: ServerSettings):  # noqa: ANN202 - (sessionmaker, store)
    engine = db.make_engine(settings.resolved_database_url)
    keys = load_keys(settings, create=False)
    return db.session_factory(engine), open_store(settings, keys.artefact_key)


def _grace(seconds: float) -> dt.timedelta:
    if seconds < 0:
        raise InputError(f"--older-than must not be negative, not {seconds:g}")
    return dt.timedelta(seconds=seconds)


def check(settings: ServerSettings, stdout: TextIO, older_than: float) -> int:
    loose = filemodes.loose_modes(settings)  # before opening anything: report, change nothing
    sessions, store = _open(settings)
    report = integrity.check(sessions, store, _grace(older_than))
    for line in report.lines():
        print(line, file=stdout)
    for item in loose:
        print(item.line(), file=stdout)
    if loose:
        print("files readable by other local users: run the chmod commands above", file=stdout)
    clean = report.clean and not loose
    print("consistent" if clean else "INCONSISTENT", file=stdout)
    return 0 if clean else 1


def gc(settings: ServerSettings, stdout: TextIO, older_than: float) -> int:
    sessions, store = _open(settings)
    removed = integrity.collect_garbage(sessions, store, _grace(older_than))
    for key in removed:
        print(f"removed {key}", file=stdout)
    print(f"{len(removed)} unreferenced artefact(s) removed", file=stdout)
    return 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    settings = load_settings(args.config)
    if args.action == "check":
        return check(settings, stdout, args.older_than)
    if args.action == "gc":
        return gc(settings, stdout, args.older_than)
    return upgrade(settings, stdout, args.revision)
