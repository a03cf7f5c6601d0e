"""``tcup list``: print the exact tests a guideline requires of a target."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TextIO

from tcup.errors import ExitCode
from tcup.sources import load_add_on, load_guideline
from tcup.testlist import FORMATS, format_plan, plan

NAME = "list"
HELP = "print the tests of a guideline for a target, one per line"
DESCRIPTION = """\
Print the tests of an interop guideline for a target (and add-ons), one per line.

By default only the required capabilities are listed and flagged tests are
left out, which is what `tcup run` runs.  Formats:
  names     dotted test names
  refstack  RefStack's /v1/guidelines/{name}/tests lines: name[<idempotent_id>]
  regex     one anchored regex per test, for `tempest run --include-list`

GUIDELINE is a file, an URL, or a version (2020.06, next, latest,
dns.2020.06) looked up in SOURCE: 'interop' (the official repository, the
default), a local directory, interop:<raw base URL>, or refstack:<API root>.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--guideline", required=True, help="file, URL or version (2020.06, latest)")
    parser.add_argument(
        "--target",
        help="platform, compute, storage (or object), or the add-on of an add-on file "
        "(default: platform, or the add-on itself)",
    )
    parser.add_argument(
        "--add-on",
        action="append",
        default=[],
        metavar="ADD_ON",
        help="add-on whose tests are added: dns or orchestration (of the guideline's "
        "version), or an add-on guideline (dns.2020.06, a file, a URL); repeatable",
    )
    parser.add_argument(
        "--status",
        default="required",
        help="comma-separated capability statuses: required, advisory, deprecated, removed "
        "(default: required)",
    )
    parser.add_argument("--include-flagged", action="store_true", help="also list flagged tests")
    parser.add_argument("--aliases", action="store_true", help="also list each test's aliases")
    parser.add_argument("--format", choices=FORMATS, default="names", help="default: names")
    parser.add_argument("--source", help="where versions are looked up (default: interop)")


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return list_tests(
        guideline=args.guideline,
        target=args.target,
        add_ons=args.add_on,
        statuses=args.status.split(","),
        include_flagged=args.include_flagged,
        aliases=args.aliases,
        fmt=args.format,
        source=args.source,
        stdout=stdout,
    )


def list_tests(
    guideline: str,
    target: str | None = None,
    add_ons: Sequence[str] = (),
    statuses: Sequence[str] = ("required",),
    include_flagged: bool = False,
    aliases: bool = False,
    fmt: str = "names",
    source: str | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Write the planned tests to ``stdout``, one per line; return the exit code."""
    main = load_guideline(guideline, source)
    extra = [load_add_on(a, main, source) for a in add_ons]
    test_plan = plan(
        main,
        target or main.default_target,
        extra,
        statuses=statuses,
        include_flagged=include_flagged,
    )
    lines = format_plan(test_plan, fmt, aliases=aliases)
    if stdout is not None and lines:
        stdout.write("\n".join(lines) + "\n")
    return int(ExitCode.QUALIFIES)
