"""``tcup-server create-user NAME [--staff] [--password-stdin]``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from tcup_server import db
from tcup_server.services.accounts import create_user
from tcup_server.settings import ServerSettings, load_settings

NAME = "create-user"
HELP = "add a vendor (or, with --staff, a staff) account with a password"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="login name")
    parser.add_argument("--staff", action="store_true", help="a staff account (reviews results)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    parser.add_argument("--no-password", action="store_true", help="no password (API keys only)")
    parser.add_argument("--openid", help="openid-like identifier (default tcup:user:NAME)")
    parser.add_argument("--email")


def add_user(
    settings: ServerSettings,
    name: str,
    password: str | None,
    staff: bool,
    stdout: TextIO,
    openid: str | None = None,
    email: str | None = None,
) -> int:
    engine = db.make_engine(settings.resolved_database_url)
    with db.transaction(db.session_factory(engine)) as session:
        user = create_user(session, name, password, staff, openid, email)
        print(f"created {user.kind} user '{user.name}' (openid {user.openid})", file=stdout)
    return 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    if args.no_password:
        password = None
    elif args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
    return add_user(
        load_settings(args.config), args.name, password, args.staff, stdout, args.openid, args.email
    )
