"""Tests for tcup.report: verdict, text, Markdown, HTML and JSON renderings."""

from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from tcup.errors import InputError
from tcup.report import (
    REPORT_JSON_SCHEMA,
    format_for,
    render,
    report_json,
    verdict,
    write_reports,
    write_terminal,
)
from tcup.results import EXTENDED_JSON_SCHEMA
from tcup.scoring import CapabilityScore, Score, TestScore

DOC = Path(__file__).resolve().parents[1] / "docs" / "report-format.md"
HOSTILE = 'tempest.api.x.T.test_<script>alert("x")</script>|&amp;`tick`'
SHA = "ab" * 32


def _test(name: str, state: str, flagged: bool = False) -> TestScore:
    return TestScore(
        name=name,
        idempotent_id="id-1111",
        flagged=flagged,
        flag_reason="bug 123" if flagged else None,
        state=state,  # type: ignore[arg-type]
        passed_as=None,
    )


def _cap(name: str, status: str, outcome: str, *tests: TestScore) -> CapabilityScore:
    return CapabilityScore(
        name=name,
        status=status,
        component="os_powered_compute",
        outcome=outcome,  # type: ignore[arg-type]
        tests=tests,
        guideline_id="2020.06",
    )


def _score(qualifies: bool, add_ons: tuple[str, ...] = ()) -> Score:
    caps = [
        _cap(
            "compute-servers-create",
            "required",
            "passed",
            _test("tempest.api.compute.S.test_create", "passed"),
            _test("tempest.api.compute.S.test_flagged", "failed", flagged=True),
        ),
        _cap("compute-advisory-thing", "advisory", "not run", _test("t.A.test_a", "not run")),
    ]
    if not qualifies:
        caps.insert(
            1,
            _cap(
                "compute-<b>bad</b>",
                "required",
                "failed",
                _test(HOSTILE, "failed"),
                _test("tempest.api.compute.S.test_skipped", "skipped"),
                _test("tempest.api.compute.S.test_ok", "passed"),
            ),
        )
    missing = tuple(c.name for c in caps if c.status == "required" and c.outcome != "passed")
    return Score(
        guideline_id="2020.06",
        guideline_sha256=SHA,
        schema="2.0",
        target="OpenStack Powered Compute",
        add_ons=add_ons,
        capabilities=tuple(caps),
        qualifies=qualifies,
        missing_required=missing,
    )


# --------------------------------------------------------------------------- verdict


def test_verdict_qualifies() -> None:
    assert verdict(_score(True)) == "Would qualify for OpenStack Powered Compute 2020.06"


def test_verdict_names_missing_capabilities() -> None:
    assert verdict(_score(False)) == (
        "Would NOT qualify for OpenStack Powered Compute 2020.06: "
        "1 required capability did not pass: compute-<b>bad</b>"
    )


def test_verdict_mentions_add_ons_and_shortens_long_lists() -> None:
    base = _score(False, add_ons=("dns.2020.06",))
    many = tuple(f"cap-{i}" for i in range(12))
    score = Score(**{**base.__dict__, "missing_required": many})
    line = verdict(score)
    assert line.startswith("Would NOT qualify for OpenStack Powered Compute 2020.06 with add-ons ")
    assert "12 required capabilities did not pass: cap-0, cap-1," in line
    assert line.endswith("cap-9 and 2 more")


@pytest.mark.parametrize(
    ("target", "program"),
    [("platform", "OpenStack Powered Platform"), ("object", "OpenStack Powered Storage")],
)
def test_verdict_names_programs_of_1x_targets(target: str, program: str) -> None:
    score = Score(**{**_score(True).__dict__, "target": target})
    assert verdict(score) == f"Would qualify for {program} 2020.06"


# --------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("qualifies", [True, False])
def test_json_validates_against_schema(qualifies: bool) -> None:
    body = json.loads(render(_score(qualifies), "json"))
    jsonschema.Draft202012Validator.check_schema(REPORT_JSON_SCHEMA)
    jsonschema.validate(body, REPORT_JSON_SCHEMA)
    assert body["qualifies"] is qualifies
    assert body["verdict"] == verdict(_score(qualifies))


def test_json_content() -> None:
    body = report_json(_score(False))
    assert body["guideline"] == {"id": "2020.06", "sha256": SHA, "schema": "2.0"}
    assert body["missing_required"] == ["compute-<b>bad</b>"]
    bad = body["capabilities"][1]
    assert (bad["passed"], bad["total"], bad["flagged"]) == (1, 3, 0)
    assert bad["failed_tests"] == [HOSTILE, "tempest.api.compute.S.test_skipped"]
    first = body["capabilities"][0]
    assert (first["passed"], first["total"], first["flagged"]) == (1, 2, 1)
    assert first["failed_tests"] == []  # the flagged failure is excused
    assert body["summary"]["required_capabilities"] == {"passed": 1, "total": 2}


def test_json_schema_rejects_drift() -> None:
    body = report_json(_score(True))
    body["capabilities"][0]["outcome"] = "great"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, REPORT_JSON_SCHEMA)


def _doc_schema(schema_id: str) -> dict:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- schema: {re.escape(schema_id)} -->\n```json\n(.*?)\n```", text, re.S)
    assert match, f"no schema block for {schema_id} in {DOC.name}"
    return json.loads(match.group(1))


def test_documented_schemas_match_code() -> None:
    assert _doc_schema("tcup.report/1") == REPORT_JSON_SCHEMA
    assert _doc_schema("tcup.results-extended/1") == EXTENDED_JSON_SCHEMA


# --------------------------------------------------------------------------- text


def test_text_has_table_failures_and_verdict_last() -> None:
    text = render(_score(False), "text")
    lines = text.splitlines()
    assert lines[-1] == verdict(_score(False))
    assert "\x1b" not in text  # plain: no terminal escapes
    row = next(line for line in lines if line.startswith("required  compute-<b>bad</b>"))
    assert row.split()[2:] == ["FAILED", "1/3", "-"]
    assert f"    failed   {HOSTILE}" in lines
    assert "    skipped  tempest.api.compute.S.test_skipped" in lines
    assert "tempest.api.compute.S.test_flagged" not in text  # excused, not listed


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_write_terminal_is_plain_when_not_a_tty() -> None:
    out = io.StringIO()
    write_terminal(_score(False), out)
    assert out.getvalue() == render(_score(False), "text")


def test_write_terminal_uses_a_table_on_a_tty() -> None:
    out = _Tty()
    write_terminal(_score(False), out)
    shown = out.getvalue()
    assert shown != render(_score(False), "text")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert "compute-<b>bad</b>" in plain
    assert re.sub(r"\s+", " ", verdict(_score(False))) in re.sub(r"\s+", " ", plain)


# --------------------------------------------------------------------------- Markdown


def test_markdown_table_survives_pipes_and_backticks() -> None:
    md = render(_score(False), "md")
    assert md.startswith("# OpenStack Powered Compute 2020.06\n")
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    header_cells = rows[0].count(" | ")
    for row in rows:
        # unescaped pipes only: every row has as many cells as the header
        assert len(re.findall(r"(?<!\\)\|", row)) == header_cells + 2
    # a code span with a longer fence, padded because the name ends with a backtick
    assert '- failed: `` tempest.api.x.T.test_<script>alert("x")</script>\\|&amp;`tick` ``' in md
    assert "**❌ Would NOT qualify" in md


# --------------------------------------------------------------------------- HTML


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_html_escapes_hostile_names() -> None:
    page = render(_score(False), "html")
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags and "b" not in parser.tags
    assert any(HOSTILE in chunk for chunk in parser.text)  # shown literally
    assert "&lt;script&gt;" in page and "&amp;amp;" in page
    assert "$" not in "".join(parser.text)  # no template placeholder left


def test_html_is_self_contained_and_accessible() -> None:
    page = render(_score(False), "html")
    parser = _Collect()
    parser.feed(page)
    assert ("lang", "en") in parser.attrs
    assert {"caption", "thead", "details", "summary", "main"} <= set(parser.tags)
    assert ("scope", "col") in parser.attrs and ("scope", "row") in parser.attrs
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no external resources
    assert "link" not in parser.tags and "script" not in parser.tags
    text = "".join(parser.text)
    assert verdict(_score(False)) in text
    for label in ("PASSED", "FAILED", "NOT RUN"):  # outcome not by colour alone
        assert label in text


# --------------------------------------------------------------------------- entry points


def test_unknown_format_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown report format 'pdf'"):
        render(_score(True), "pdf")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("r.html", "html"), ("r.MD", "md"), ("r.json", "json"), ("r.txt", "text"), ("r", "text")],
)
def test_format_for_suffix(name: str, fmt: str) -> None:
    assert format_for(Path(name)) == fmt


def test_write_reports(tmp_path: Path) -> None:
    paths = write_reports(_score(True), tmp_path)
    assert sorted(p.name for p in paths) == [
        "report.html",
        "report.json",
        "report.md",
        "report.txt",
    ]
    jsonschema.validate(json.loads((tmp_path / "report.json").read_text()), REPORT_JSON_SCHEMA)
    assert (tmp_path / "report.txt").read_text() == render(_score(True), "text")
