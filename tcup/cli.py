"""The ``tcup`` command line: a thin layer over ``tcup.commands``.

It discovers the subcommand modules, applies option defaults from the config
file and environment (``tcup.settings``), runs one command, and turns a
``TcupError`` into one clear line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TextIO

from tcup import __version__, commands, settings
from tcup.errors import EXIT_CODE_HELP, ExitCode, TcupError

LOG = logging.getLogger("tcup")

DESCRIPTION = """\
Test, collect, upload, publish: prove an OpenStack cloud's interoperability.

Run the Tempest tests of an interop guideline against your cloud, score them,
and (optionally) sign and upload the results to a RefStack-compatible server.
Option defaults may come from TCUP_* environment variables or a [tcup] table
in ~/.config/tcup/tcup.toml (TCUP_CONFIG names another file).
"""


def command_modules() -> list[ModuleType]:
    """Every module in ``tcup.commands`` that defines a subcommand, sorted by name."""
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"tcup.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found.append(module)
    return sorted(found, key=lambda m: m.NAME)


def build_parser(defaults: dict | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcup",
        description=DESCRIPTION,
        epilog=EXIT_CODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tcup {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="show info logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        cmd = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            epilog=EXIT_CODE_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module, _parser=cmd)
        if defaults:
            _apply_defaults(cmd, defaults)
    return parser


def _apply_defaults(parser: argparse.ArgumentParser, defaults: dict) -> None:
    """Config/env values become argparse defaults, converted like typed input."""
    for action in parser._actions:
        if action.dest not in defaults or not action.option_strings:
            continue
        value = defaults[action.dest]
        if isinstance(action, argparse._AppendAction):
            items = value if isinstance(value, list) else str(value).split(",")
            value = [action.type(v) if action.type else v for v in items if str(v).strip()]
        elif isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            value = str(value).strip().lower() in {"1", "true", "yes", "on"}
        elif action.type is not None and isinstance(value, str):
            value = action.type(value)
        parser.set_defaults(**{action.dest: value})
        action.required = False


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser(settings.load_defaults())
        try:
            args, unknown = parser.parse_known_args(argv)
            if unknown:  # said by the subcommand's parser, with its usage, not the top one's
                getattr(args, "_parser", parser).error(
                    f"unrecognized arguments: {' '.join(unknown)}"
                )
        except SystemExit as exc:  # argparse already printed usage or help
            return int(exc.code or 0) and int(ExitCode.USAGE)
        level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
        logging.basicConfig(
            level=level, stream=stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        if not getattr(args, "_module", None):
            parser.print_help(stdout)
            return int(ExitCode.USAGE)
        return int(args._module.run(args, stdout))
    except TcupError as exc:
        if debug:
            LOG.exception("error")
        print(f"tcup: error: {exc.message}", file=stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=stderr)
        return int(exc.exit_code)
    except OSError as exc:
        # An environment failure no stage turned into a TcupError (a full disk,
        # a vanished directory): one line, never a traceback.
        if debug:
            LOG.exception("error")
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"tcup: error: {exc.strerror or exc}{where}", file=stderr)
        print("hint: files written so far are kept; --debug shows where it failed", file=stderr)
        return int(ExitCode.RUN)
    except KeyboardInterrupt:
        print("tcup: interrupted", file=stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
