"""``tcup-server create-token NAME``: an API token for scripts (printed once)."""

from __future__ import annotations

import argparse
from typing import TextIO

from tcup_server import db
from tcup_server.services.accounts import create_token
from tcup_server.settings import ServerSettings, load_settings

NAME = "create-token"
HELP = "create an API token for a user (Authorization: Bearer TOKEN); printed once"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the user the token acts for")
    parser.add_argument("--label", default="cli", help="what the token is for")
    parser.add_argument("--days", type=int, help="expire after this many days")


def make_token(
    settings: ServerSettings, name: str, label: str, days: int | None, stdout: TextIO
) -> int:
    engine = db.make_engine(settings.resolved_database_url)
    with db.transaction(db.session_factory(engine)) as session:
        print(create_token(session, name, label, days), file=stdout)
    return 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return make_token(load_settings(args.config), args.name, args.label, args.days, stdout)
