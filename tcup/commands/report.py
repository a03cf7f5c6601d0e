"""``tcup report``: score saved results against a guideline and print the verdict."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TextIO

from tcup.commands.check import add_guideline_arguments
from tcup.errors import ExitCode, InputError

LOG = logging.getLogger(__name__)

NAME = "report"
HELP = "score results (RefStack JSON, extended JSON or subunit) against a guideline"
DESCRIPTION = """\
Read the results of a run and score them against an interop guideline:
print the capability table and the verdict, or write it as Markdown, HTML or
JSON (schema tcup.report/1, see docs/report-format.md).

RESULTS is a RefStack upload body (results.json), an extended results file
(results-extended.json), a raw subunit stream (v1 or v2, e.g. results.subunit
or a .stestr/<n> file) or a run's output directory.  A RefStack body lists
passed tests only, so every other test counts as not run.  An extended results
file remembers its guideline and target, which then become the defaults.

Exit code 0 when the cloud would qualify, 1 when a required capability did
not pass, 2 for unreadable input.
"""

FORMAT_CHOICES = ("text", "md", "html", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="results file or output directory")
    add_guideline_arguments(parser)
    parser.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        help="output format (default: from --output's suffix, else text)",
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="write the report to FILE (default: stdout)"
    )


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return report(
        args.results,
        guideline=args.guideline,
        target=args.target,
        add_ons=args.add_on,
        fmt=args.format,
        output=args.output,
        stdout=stdout,
        guideline_source=args.guideline_source,
    )


def report(
    results_path: str | Path,
    guideline: str | None,
    target: str | None,
    add_ons: list[str] | tuple[str, ...] = (),
    fmt: str | None = None,
    output: str | Path | None = None,
    stdout: TextIO | None = None,
    guideline_source: str | None = None,
) -> int:
    """Score ``results_path`` and render it; 0 if the cloud would qualify, else 1.

    Without ``output`` the report goes to ``stdout`` (text: coloured on a
    terminal); with it, the file is written and one verdict line per programme
    printed (the target's, then each add-on's); 0 needs every programme.
    """
    import sys

    from tcup import report as report_mod
    from tcup.results import load_results
    from tcup.scoring import score_run
    from tcup.sources import load_add_on, load_guideline

    stdout = stdout or sys.stdout
    loaded = load_results(results_path)
    env = loaded.environment
    if not guideline and env is not None and env.guideline_id:
        guideline = env.guideline_id
        LOG.info("using the guideline recorded in the results: %s", guideline)
    if not guideline:
        raise InputError(
            "no guideline to score against",
            hint="pass --guideline, e.g. --guideline 2020.06 or a guideline file",
        )
    if not target and env is not None and env.target:
        target = env.target
    if not add_ons and env is not None and env.add_ons:
        add_ons = env.add_ons
    if loaded.results is not None and loaded.results.fixtures:
        LOG.warning(
            "%d class fixture(s) failed, so their tests did not run: %s",
            len(loaded.results.fixtures),
            ", ".join(f.test_id for f in loaded.results.fixtures),
        )
    if loaded.format == "refstack":
        LOG.info("a RefStack body lists passed tests only: other tests count as not run")
    main = load_guideline(guideline, guideline_source)
    if env is not None and env.guideline_sha256 and env.guideline_sha256 != main.sha256:
        LOG.warning(
            "the results were produced with guideline sha256 %s, scoring against %s",
            env.guideline_sha256,
            main.sha256,
        )
    extras = [load_add_on(a, main, guideline_source) for a in add_ons]
    result = score_run(main, target, loaded.states(), extras)

    out_path = Path(output) if output else None
    chosen = fmt or (report_mod.format_for(out_path) if out_path else "text")
    if out_path is None:
        if chosen == "text":
            report_mod.write_terminal(result, stdout)
        else:
            stdout.write(report_mod.render(result, chosen))  # type: ignore[arg-type]
    else:
        try:
            out_path.write_text(report_mod.render(result, chosen), encoding="utf-8")  # type: ignore[arg-type]
        except OSError as exc:
            raise InputError(f"cannot write report '{out_path}': {exc.strerror}") from exc
        print(f"wrote {out_path}", file=stdout)
        for line in report_mod.programme_verdicts(result):
            print(line, file=stdout)
    return int(ExitCode.QUALIFIES if result.qualifies else ExitCode.NOT_QUALIFIED)
