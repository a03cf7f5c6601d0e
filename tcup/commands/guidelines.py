"""``tcup guidelines``: list the guidelines a source offers."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TextIO

from tcup.errors import ExitCode
from tcup.sources import available_guidelines

NAME = "guidelines"
HELP = "list the guideline versions a source offers, with status and targets"
DESCRIPTION = """\
List the interop guidelines (and add-ons) a source offers: version, status
(approved, draft, superseded), schema and targets.

SOURCE is 'interop' (the official repository, the default), a local
directory, interop:<raw base URL>, or refstack:<API root> of a
RefStack-compatible server.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="where to look (default: interop)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return list_guidelines(source=args.source, fmt=args.format, stdout=stdout)


def list_guidelines(
    source: str | None = None, fmt: str = "text", stdout: TextIO | None = None
) -> int:
    """Write the guidelines of ``source`` as a table or JSON; return the exit code."""
    refs = available_guidelines(source)
    if stdout is None:
        return int(ExitCode.QUALIFIES)
    if fmt == "json":
        json.dump([asdict(r) for r in refs], stdout, indent=2)
        stdout.write("\n")
        return int(ExitCode.QUALIFIES)
    rows = [("GUIDELINE", "KIND", "STATUS", "SCHEMA", "TARGETS")]
    for ref in refs:
        kind = "platform" if ref.program == "powered" else "add-on"
        if ref.error:
            rows.append((ref.name, kind, "unreadable", "-", ref.error))
            continue
        rows.append((ref.name, kind, ref.status or "-", ref.schema or "-", ", ".join(ref.targets)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        stdout.write("  ".join([*cells, row[4]]).rstrip() + "\n")
    return int(ExitCode.QUALIFIES)
