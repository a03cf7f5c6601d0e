"""``tcup-server db upgrade``: create or migrate the database schema."""

from __future__ import annotations

import argparse
from typing import TextIO

from tcup_server import db
from tcup_server.keys import load_keys
from tcup_server.settings import ServerSettings, load_settings

NAME = "db"
HELP = "database schema: `db upgrade` creates or migrates it (and the server keys)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["upgrade"], help="what to do")
    parser.add_argument("--revision", default="head", help="target revision (default head)")


def upgrade(settings: ServerSettings, stdout: TextIO, revision: str = "head") -> int:
    engine = db.make_engine(settings.resolved_database_url)
    db.upgrade(engine, revision)
    load_keys(settings)
    url = engine.url.render_as_string(hide_password=True)
    print(f"database {url} is at revision {revision}", file=stdout)
    return 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return upgrade(load_settings(args.config), stdout, args.revision)
