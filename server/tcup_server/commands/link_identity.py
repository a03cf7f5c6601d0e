"""``tcup-server link-identity NAME --issuer URL --subject SUB``."""

from __future__ import annotations

import argparse
from typing import TextIO

from tcup_server import db
from tcup_server.services.accounts import link_identity
from tcup_server.settings import load_settings

NAME = "link-identity"
HELP = (
    "let an existing account sign in with single sign-on: link it to a person "
    "(issuer and sub) at an OpenID Connect provider"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the existing account's login name")
    parser.add_argument(
        "--issuer", help="the provider's issuer URL (default: the configured oidc_issuer)"
    )
    parser.add_argument(
        "--subject", required=True, help="the person's 'sub' at that provider (ask its admins)"
    )


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    settings = load_settings(args.config)
    issuer = args.issuer or settings.oidc_issuer
    engine = db.make_engine(settings.resolved_database_url)
    with db.transaction(db.session_factory(engine)) as session:
        link_identity(session, args.name, issuer, args.subject)
    print(f"'{args.name}' signs in as {args.subject!r} at {issuer}", file=stdout)
    return 0
