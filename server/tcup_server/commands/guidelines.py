"""``tcup-server guidelines sync SRC``: load guideline files into the server."""

from __future__ import annotations

import argparse
from typing import TextIO

from tcup.errors import ExitCode, InputError
from tcup_server.services.guidelines import GuidelineDirectory, sync
from tcup_server.settings import ServerSettings, load_settings

NAME = "guidelines"
HELP = "`guidelines sync SRC`: validate and copy guideline files from a directory or URL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["sync"])
    parser.add_argument(
        "source", help="a directory (flat or the interop repo layout), an URL, or 'interop'"
    )


def sync_guidelines(settings: ServerSettings, source: str, stdout: TextIO) -> int:
    directory = GuidelineDirectory(settings.resolved_guideline_dir)
    report = sync(directory, source, settings.data_dir / "cache")
    for name in report.stored:
        print(f"synced {name}", file=stdout)
    for name, reason in report.failed:
        print(f"skipped {name}: {reason.splitlines()[0]}", file=stdout)
    if not report.stored:
        raise InputError(f"no guideline could be synced from '{source}'")
    print(f"{len(report.stored)} guideline(s) in {directory.root}", file=stdout)
    return int(ExitCode.USAGE) if report.failed else 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return sync_guidelines(load_settings(args.config), args.source, stdout)
