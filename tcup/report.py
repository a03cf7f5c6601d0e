"""Render a ``tcup.scoring.Score``: terminal text, Markdown, HTML and JSON.

All renderers are pure (``Score`` in, ``str`` out) except ``write_terminal``,
which prints a coloured table when its stream is a terminal, and
``write_reports``, which writes the four files of a run's output directory.
The JSON form has a stable, documented schema (``tcup.report/1``,
docs/report-format.md, ``REPORT_JSON_SCHEMA``).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal, TextIO

from tcup.errors import InputError
from tcup.scoring import CapabilityScore, ProgrammeScore, Requirement, Score, TestScore

ReportFormat = Literal["text", "md", "html", "json"]
FORMATS: tuple[ReportFormat, ...] = ("text", "md", "html", "json")
SUFFIXES: dict[str, ReportFormat] = {
    ".txt": "text",
    ".text": "text",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
}
REPORT_SCHEMA_ID = "tcup.report/1"
#: how many missing capabilities the verdict line names before "and N more"
VERDICT_NAMES = 10

_PROGRAMS = {"platform": "Platform", "compute": "Compute", "object": "Storage"}
_OUTCOME_LABEL = {
    "passed": "PASSED",
    "failed": "FAILED",
    "not run": "NOT RUN",
    "not in tempest": "NOT IN TEMPEST",
}
#: how a test state reads in the lists of tests that did not pass
_STATE_LABEL = {"not in tempest": "not in this Tempest"}


def _state(test: TestScore) -> str:
    return _STATE_LABEL.get(test.state, test.state)


def _typo(test: TestScore) -> str:
    """A note for a guideline name no test can have (a typo), matched by idempotent id."""
    base = test.name.split("[", 1)[0].split("(", 1)[0]
    if all(part.isidentifier() for part in base.split(".")):
        return ""
    return (
        " (a typo in the guideline's test name; the test with its idempotent id "
        f"{test.idempotent_id} ran)"
    )


def _renamed(score: Score) -> list[TestScore]:
    """Tests that ran under another name with their idempotent id, once each."""
    seen: dict[str, TestScore] = {}
    for cap in score.capabilities:
        for test in cap.tests:
            if test.ran_as and test.name not in seen:
                seen[test.name] = test
    return list(seen.values())


# --------------------------------------------------------------------------- verdict


def _program_of(target: str) -> str:
    if target.startswith("OpenStack Powered"):
        return target
    if target in _PROGRAMS:
        return f"OpenStack Powered {_PROGRAMS[target]}"
    return target


def program_name(score: Score) -> str:
    """``OpenStack Powered Storage`` and the like, also for 1.x target names."""
    return _program_of(score.target)


def programme_name(programme: ProgrammeScore) -> str:
    """``OpenStack Powered Platform``; ``OpenStack Powered DNS add-on`` for an add-on."""
    if programme.kind != "add-on":
        return _program_of(programme.target)
    name = programme.target.removeprefix("OpenStack Powered").strip() or programme.target
    return f"OpenStack Powered {name} add-on"


def programme_version(programme: ProgrammeScore) -> str:
    """The guideline id, without an add-on's own prefix (``dns.2020.06`` -> ``2020.06``)."""
    prefix = f"{programme.target.lower()}."
    if programme.kind == "add-on" and programme.guideline_id.lower().startswith(prefix):
        return programme.guideline_id[len(prefix) :]
    return programme.guideline_id


def programme_title(programme: ProgrammeScore) -> str:
    """``OpenStack Powered DNS add-on 2020.06``."""
    return f"{programme_name(programme)} {programme_version(programme)}"


def _pass_count(programme: ProgrammeScore) -> str:
    return (
        f"{programme.required_passed} of {programme.required_total} required "
        f"{'capability passes' if programme.required_total == 1 else 'capabilities pass'}"
    )


def _names(missing: Sequence[str]) -> str:
    names = ", ".join(missing[:VERDICT_NAMES])
    if len(missing) > VERDICT_NAMES:
        names += f" and {len(missing) - VERDICT_NAMES} more"
    return names


def requirement_title(requirement: Requirement) -> str:
    """``OpenStack Powered Compute 2020.06``."""
    return " ".join(filter(None, (requirement.title, requirement.guideline)))


def programme_verdict(programme: ProgrammeScore) -> str:
    """One programme's line: would it qualify, and if not, how far off and what failed.

    An add-on's line also names the platform components it requires: one that
    did not pass here, or one this run did not test (a condition of the mark).
    """
    what = programme_title(programme)
    if programme.qualifies:
        line = f"Would qualify for {what}"
    elif programme.missing_required:
        line = f"Would NOT qualify for {what} ({_pass_count(programme)}); not passed: " + _names(
            programme.missing_required
        )
    else:
        line = f"Would NOT qualify for {what} ({_pass_count(programme)})"
    for req in programme.failed_requirements:
        line += (
            f"; it requires {requirement_title(req)}, whose required capabilities did not "
            f"all pass: {_names(req.missing)}"
        )
    untested = programme.untested_requirements
    if untested:
        line += (
            "; the mark also requires "
            + " and ".join(requirement_title(r) for r in untested)
            + ", which this run does not test"
        )
    return line


def programme_verdicts(score: Score) -> list[str]:
    """One line per programme: the target's first, then each add-on's."""
    return [programme_verdict(p) for p in score.programmes]


def verdict(score: Score) -> str:
    """One line for the whole run.

    Without add-ons it is the target's programme line.  With add-ons it names
    every programme and says which would not qualify; the run qualifies when
    every programme does.
    """
    if len(score.programmes) == 1:
        return programme_verdict(score.programmes[0])
    count = len(score.programmes)
    good = [programme_title(p) for p in score.programmes if p.qualifies]
    bad = [f"{programme_title(p)} ({_pass_count(p)})" for p in score.programmes if not p.qualifies]
    if not bad:
        line = f"Would qualify for all {count} programmes: {', '.join(good)}"
    elif not good:
        line = f"Would NOT qualify for any of the {count} programmes: {', '.join(bad)}"
    else:
        line = (
            f"Would NOT qualify for all {count} programmes: would qualify for "
            f"{', '.join(good)}; would NOT qualify for {', '.join(bad)}"
        )
    untested = {
        requirement_title(r): None for p in score.programmes for r in p.untested_requirements
    }
    if untested:
        line += f"; the add-ons also require {' and '.join(untested)}, which this run does not test"
    return line


# --------------------------------------------------------------------------- JSON


def capability_counts(cap: CapabilityScore) -> dict[str, Any]:
    """A capability's entry of the JSON report without its ``tests``: outcome and counts."""
    return {
        "name": cap.name,
        "status": cap.status,
        "component": cap.component,
        "guideline": cap.guideline_id,
        "outcome": cap.outcome,
        "passed": cap.passed_count,
        "total": cap.total,
        "flagged": cap.flagged_count,
        "failed_tests": [t.name for t in cap.failed_tests],
    }


def _capability_json(cap: CapabilityScore) -> dict[str, Any]:
    return {
        **capability_counts(cap),
        "tests": [
            {
                "name": t.name,
                "idempotent_id": t.idempotent_id,
                "state": t.state,
                "flagged": t.flagged,
                "flag_reason": t.flag_reason,
                "passed_as": t.passed_as,
                "ran_as": t.ran_as,
            }
            for t in cap.tests
        ],
    }


def programme_json(programme: ProgrammeScore) -> dict[str, Any]:
    """One programme's entry of the JSON report (``programmes``): its verdict and counts."""
    return {
        "name": programme_name(programme),
        "kind": programme.kind,
        "guideline": programme.guideline_id,
        "guideline_sha256": programme.guideline_sha256,
        "target": programme.target,
        "qualifies": programme.qualifies,
        "verdict": programme_verdict(programme),
        "required_capabilities": {
            "passed": programme.required_passed,
            "total": programme.required_total,
        },
        "missing_required": list(programme.missing_required),
        # platform components an add-on requires, as this run tested them
        "requires": [
            {
                "component": r.component,
                "guideline": r.guideline,
                "name": r.title,
                "state": r.state,
                "missing_required": list(r.missing),
            }
            for r in programme.requires
        ],
    }


def report_json(score: Score) -> dict[str, Any]:
    """The report as a JSON-ready dict (schema ``tcup.report/1``)."""
    return {
        "schema": REPORT_SCHEMA_ID,
        "qualifies": score.qualifies,
        "verdict": verdict(score),
        "guideline": {
            "id": score.guideline_id,
            "sha256": score.guideline_sha256,
            "schema": score.schema,
        },
        "target": score.target,
        "program": program_name(score),
        "add_ons": list(score.add_ons),
        "missing_required": list(score.missing_required),
        "programmes": [programme_json(p) for p in score.programmes],
        "summary": {
            "required_capabilities": {
                "passed": score.required_passed,
                "total": score.required_total,
            },
            "required_tests": {
                "passed": score.required_tests_passed,
                "total": score.required_tests_total,
            },
            "tests": {
                "passed": score.tests_passed,
                "total": score.tests_total,
                "flagged": score.flagged_total,
            },
        },
        "capabilities": [_capability_json(c) for c in score.capabilities],
    }


_COUNT = {"type": "integer", "minimum": 0}
_PAIR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["passed", "total"],
    "properties": {"passed": _COUNT, "total": _COUNT},
}
_NULLABLE_STR = {"type": ["string", "null"]}
_PROGRAMME = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "name",
        "kind",
        "guideline",
        "guideline_sha256",
        "target",
        "qualifies",
        "verdict",
        "required_capabilities",
        "missing_required",
    ],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "kind": {"enum": ["platform", "add-on"]},
        "guideline": {"type": "string"},
        "guideline_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "target": {"type": "string"},
        "qualifies": {"type": "boolean"},
        "verdict": {"type": "string", "minLength": 1},
        "required_capabilities": _PAIR,
        "missing_required": {"type": "array", "items": {"type": "string"}},
        # optional: reports written before add-ons' platform requirements were judged
        "requires": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["component", "guideline", "name", "state", "missing_required"],
                "properties": {
                    "component": {"type": "string", "minLength": 1},
                    "guideline": _NULLABLE_STR,
                    "name": {"type": "string", "minLength": 1},
                    "state": {"enum": ["passed", "failed", "not tested"]},
                    "missing_required": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

REPORT_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": REPORT_SCHEMA_ID,
    "title": "tcup capability report",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema",
        "qualifies",
        "verdict",
        "guideline",
        "target",
        "program",
        "add_ons",
        "missing_required",
        "summary",
        "capabilities",
    ],
    "properties": {
        "schema": {"const": REPORT_SCHEMA_ID},
        "qualifies": {"type": "boolean"},
        "verdict": {"type": "string", "minLength": 1},
        "guideline": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "sha256", "schema"],
            "properties": {
                "id": {"type": "string"},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "schema": {"type": "string"},
            },
        },
        "target": {"type": "string"},
        "program": {"type": "string"},
        "add_ons": {"type": "array", "items": {"type": "string"}},
        "missing_required": {"type": "array", "items": {"type": "string"}},
        "programmes": {"type": "array", "minItems": 1, "items": _PROGRAMME},
        "summary": {
            "type": "object",
            "additionalProperties": False,
            "required": ["required_capabilities", "required_tests", "tests"],
            "properties": {
                "required_capabilities": _PAIR,
                "required_tests": _PAIR,
                "tests": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["passed", "total", "flagged"],
                    "properties": {"passed": _COUNT, "total": _COUNT, "flagged": _COUNT},
                },
            },
        },
        "capabilities": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "name",
                    "status",
                    "component",
                    "guideline",
                    "outcome",
                    "passed",
                    "total",
                    "flagged",
                    "failed_tests",
                    "tests",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "status": {"enum": ["required", "advisory", "deprecated", "removed"]},
                    "component": {"type": "string"},
                    "guideline": {"type": "string"},
                    "outcome": {"enum": ["passed", "failed", "not run", "not in tempest"]},
                    "passed": _COUNT,
                    "total": _COUNT,
                    "flagged": _COUNT,
                    "failed_tests": {"type": "array", "items": {"type": "string"}},
                    "tests": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["name", "idempotent_id", "state", "flagged"],
                            "properties": {
                                "name": {"type": "string"},
                                "idempotent_id": _NULLABLE_STR,
                                "state": {
                                    "enum": [
                                        "passed",
                                        "failed",
                                        "skipped",
                                        "not run",
                                        "not in tempest",
                                    ]
                                },
                                "flagged": {"type": "boolean"},
                                "flag_reason": _NULLABLE_STR,
                                "passed_as": _NULLABLE_STR,
                                "ran_as": _NULLABLE_STR,
                            },
                        },
                    },
                },
            },
        },
    },
}


# --------------------------------------------------------------------------- text


def _flag_note(cap: CapabilityScore) -> str:
    return str(cap.flagged_count) if cap.flagged_count else "-"


def _table_rows(score: Score) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            cap.status,
            cap.name,
            _OUTCOME_LABEL[cap.outcome],
            f"{cap.passed_count}/{cap.total}",
            _flag_note(cap),
        )
        for cap in score.capabilities
    ]


_HEADER = ("Status", "Capability", "Outcome", "Passed", "Flagged")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def render_text(score: Score) -> str:
    """Plain text: header, capability table, failed required tests, summary, verdict."""
    lines = [
        f"{program_name(score)} {score.guideline_id} (schema {score.schema})",
        f"guideline sha256: {score.guideline_sha256}",
        f"target: {score.target}; add-ons: {', '.join(score.add_ons) or 'none'}",
        "",
    ]
    rows = [_HEADER, *_table_rows(score)]
    widths = [max(len(_one_line(row[i])) for row in rows) for i in range(len(_HEADER))]
    for row in rows:
        cells = [_one_line(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    failing = [c for c in score.required if not c.passed]
    if failing:
        lines += ["", "Required tests that did not pass (flagged tests are excused):"]
        for cap in failing:
            lines.append(f"  {cap.name}:")
            lines += [f"    {_state(t):<8} {_one_line(t.name)}" for t in cap.failed_tests]
    renamed = _renamed(score)
    if renamed:
        lines += ["", "Tests Tempest ran under another name (same idempotent id):"]
        lines += [f"  {t.name} ran as {t.ran_as}: {_state(t)}{_typo(t)}" for t in renamed]
    lines += [
        "",
        f"Required capabilities passed: {score.required_passed}/{score.required_total}; "
        f"required tests passed: {score.required_tests_passed}/{score.required_tests_total}",
        *programme_verdicts(score),
    ]
    return "\n".join(lines) + "\n"


def write_terminal(score: Score, stdout: TextIO) -> None:
    """Print the report: a coloured rich table on a terminal, plain text otherwise."""
    isatty = getattr(stdout, "isatty", None)
    if not (isatty and isatty()):
        stdout.write(render_text(score))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stdout, highlight=False)
    console.print(f"[bold]{program_name(score)} {score.guideline_id}[/] (schema {score.schema})")
    console.print(f"target: {score.target}; add-ons: {', '.join(score.add_ons) or 'none'}")
    table = Table(*_HEADER)
    styles = {
        "passed": "green",
        "failed": "bold red",
        "not run": "yellow",
        "not in tempest": "magenta",
    }
    for cap, row in zip(score.capabilities, _table_rows(score), strict=True):
        cells = [Text(_one_line(cell)) for cell in row]
        cells[2].stylize(styles[cap.outcome])
        table.add_row(*cells)
    console.print(table)
    for cap in (c for c in score.required if not c.passed):
        console.print(Text(f"{cap.name}:", style="bold"))
        for test in cap.failed_tests:
            console.print(Text(f"  {_state(test):<8} {_one_line(test.name)}"))
    renamed = _renamed(score)
    if renamed:
        console.print(Text("Tests Tempest ran under another name (same idempotent id):"))
        for test in renamed:
            console.print(Text(f"  {test.name} ran as {test.ran_as}: {_state(test)}{_typo(test)}"))
    for programme in score.programmes:
        style = "bold green" if programme.qualifies else "bold red"
        console.print(Text(programme_verdict(programme), style=style))


# --------------------------------------------------------------------------- Markdown


def _md_code(text: str) -> str:
    """``text`` as an inline code span that survives tables (pipes escaped)."""
    text = _one_line(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|~])")


def _md_text(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


def render_markdown(score: Score) -> str:
    """GitHub-flavoured Markdown: verdict first, then the table and failed tests."""
    lines = [f"# {_md_text(program_name(score))} {_md_text(score.guideline_id)}", ""]
    for programme in score.programmes:
        mark = "✅" if programme.qualifies else "❌"
        lines += [f"**{mark} {_md_text(programme_verdict(programme))}**", ""]
    lines += [
        f"- Guideline: {_md_code(score.guideline_id)} (schema {_md_text(score.schema)}), "
        f"sha256 {_md_code(score.guideline_sha256)}",
        f"- Target: {_md_text(score.target)}",
        f"- Add-ons: {', '.join(_md_code(a) for a in score.add_ons) or 'none'}",
        f"- Required capabilities passed: {score.required_passed}/{score.required_total}; "
        f"required tests passed: {score.required_tests_passed}/{score.required_tests_total}",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "|".join(["---"] * len(_HEADER)) + "|",
    ]
    for cap in score.capabilities:
        lines.append(
            f"| {cap.status} | {_md_code(cap.name)} | {_OUTCOME_LABEL[cap.outcome]} "
            f"| {cap.passed_count}/{cap.total} | {_flag_note(cap)} |"
        )
    failing = [c for c in score.required if not c.passed]
    if failing:
        lines += ["", "## Required tests that did not pass", ""]
        lines.append("Flagged tests are excused and not listed.")
        for cap in failing:
            lines += ["", f"### {_md_text(cap.name)}", ""]
            lines += [f"- {_state(t)}: {_md_code(t.name)}" for t in cap.failed_tests]
    renamed = _renamed(score)
    if renamed:
        lines += ["", "## Tests Tempest ran under another name", ""]
        lines.append("Found by their idempotent id: the guideline's name, then Tempest's.")
        lines.append("")
        lines += [
            f"- {_md_code(t.name)} ran as {_md_code(t.ran_as or '')}: {_state(t)}{_typo(t)}"
            for t in renamed
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- HTML


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_rows(score: Score) -> str:
    rows = []
    for cap in score.capabilities:
        css = cap.outcome.replace(" ", "-")
        rows.append(
            "<tr>"
            f"<td>{_e(cap.status)}</td>"
            f'<th scope="row"><code>{_e(cap.name)}</code></th>'
            f'<td><span class="outcome {css}">{_e(_OUTCOME_LABEL[cap.outcome])}</span></td>'
            f'<td class="num">{cap.passed_count}/{cap.total}</td>'
            f'<td class="num">{_e(_flag_note(cap))}</td>'
            "</tr>"
        )
    return "\n".join(rows)


def _html_failures(score: Score) -> str:
    failing = [c for c in score.required if not c.passed]
    if not failing:
        return ""
    parts = [
        '<section aria-labelledby="failed-heading">',
        '<h2 id="failed-heading">Required tests that did not pass</h2>',
        "<p>Flagged tests are excused and not listed.</p>",
    ]
    for cap in failing:
        items = "".join(
            f'<li><span class="state">{_e(_state(t))}</span> <code>{_e(t.name)}</code></li>'
            for t in cap.failed_tests
        )
        count = len(cap.failed_tests)
        parts.append(
            f"<details><summary><code>{_e(cap.name)}</code>: {count} "
            f"test{'s' if count != 1 else ''}</summary><ul>{items}</ul></details>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _html_renamed(score: Score) -> str:
    renamed = _renamed(score)
    if not renamed:
        return ""
    items = "".join(
        f"<li><code>{_e(t.name)}</code> ran as <code>{_e(t.ran_as)}</code>: "
        f'<span class="state">{_e(_state(t))}</span>{_e(_typo(t))}</li>'
        for t in renamed
    )
    return (
        '<section aria-labelledby="renamed-heading">\n'
        '<h2 id="renamed-heading">Tests Tempest ran under another name</h2>\n'
        "<p>Found by their idempotent id: the guideline's name, then Tempest's.</p>\n"
        f"<ul>{items}</ul>\n</section>"
    )


def _html_verdicts(score: Score) -> str:
    """One status line per programme, its outcome in words as well as colour."""
    return "\n".join(
        f'<p class="verdict {"qualifies" if p.qualifies else "fails"}" role="status" '
        f'data-guideline="{_e(p.guideline_id)}">{_e(programme_verdict(p))}</p>'
        for p in score.programmes
    )


def render_html(score: Score) -> str:
    """A self-contained, escaped, accessible HTML page (no external resources)."""
    template = Template(
        resources.files("tcup").joinpath("templates/report.html").read_text(encoding="utf-8")
    )
    return template.substitute(
        title=_e(f"{program_name(score)} {score.guideline_id}: tcup report"),
        heading=_e(f"{program_name(score)} {score.guideline_id}"),
        verdicts=_html_verdicts(score),
        guideline_id=_e(score.guideline_id),
        schema=_e(score.schema),
        sha256=_e(score.guideline_sha256),
        target=_e(score.target),
        add_ons=_e(", ".join(score.add_ons) or "none"),
        required=_e(f"{score.required_passed}/{score.required_total}"),
        required_tests=_e(f"{score.required_tests_passed}/{score.required_tests_total}"),
        rows=_html_rows(score),
        failures=_html_failures(score) + _html_renamed(score),
    )


# --------------------------------------------------------------------------- entry points


def render(score: Score, fmt: ReportFormat) -> str:
    """The report in ``fmt``: ``text``, ``md``, ``html`` or ``json``."""
    if fmt == "text":
        return render_text(score)
    if fmt == "md":
        return render_markdown(score)
    if fmt == "html":
        return render_html(score)
    if fmt == "json":
        return json.dumps(report_json(score), indent=2, ensure_ascii=False) + "\n"
    raise InputError(f"unknown report format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")


def format_for(path: Path) -> ReportFormat:
    """The format a file name asks for (``report.html`` -> ``html``), text by default."""
    return SUFFIXES.get(path.suffix.lower(), "text")


REPORT_FILES: dict[ReportFormat, str] = {
    "text": "report.txt",
    "md": "report.md",
    "html": "report.html",
    "json": "report.json",
}


def write_reports(score: Score, out_dir: Path) -> list[Path]:
    """Write report.txt/.md/.html/.json into a run's output directory."""
    written = []
    for fmt, name in REPORT_FILES.items():
        path = out_dir / name
        path.write_text(render(score, fmt), encoding="utf-8")
        written.append(path)
    return written
