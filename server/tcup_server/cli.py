"""The ``tcup-server`` command: thin argparse wrappers over plain functions.

Subcommands live in ``tcup_server.commands`` (``NAME``, ``HELP``,
``add_arguments(parser)``, ``run(args, stdout) -> int``), like ``tcup``'s.
A ``TcupError`` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from tcup.errors import ExitCode, TcupError
from tcup_server import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcup-server",
        description="RefStack-compatible receiving server for OpenStack interop results. "
        "Settings come from a TOML file ([server] table; --config or TCUP_SERVER_CONFIG) "
        "and TCUP_SERVER_* environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"tcup-server {__version__}")
    parser.add_argument("--config", type=Path, help="TOML config file with a [server] table")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"tcup_server.commands.{info.name}")
        if not hasattr(module, "NAME"):
            continue
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and int(ExitCode.USAGE)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        stream=stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_module", None):
        parser.print_help(stdout)
        return int(ExitCode.USAGE)
    try:
        return int(args._module.run(args, stdout))
    except TcupError as exc:
        if args.debug:
            logging.getLogger("tcup_server").exception("error")
        print(f"tcup-server: error: {exc.message}", file=stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
