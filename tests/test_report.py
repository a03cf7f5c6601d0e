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
        "Would NOT qualify for OpenStack Powered Compute 2020.06 "
        "(1 of 2 required capabilities pass); not passed: compute-<b>bad</b>"
    )


def test_verdict_shortens_long_lists() -> None:
    many = [
        _cap(f"cap-{i}", "required", "failed", _test(f"t.T.test_{i}", "failed")) for i in range(12)
    ]
    score = Score(
        **{
            **_score(True).__dict__,
            "capabilities": tuple(many),
            "qualifies": False,
            "programmes": (),
        }
    )
    line = verdict(score)
    assert "(0 of 12 required capabilities pass); not passed: cap-0, cap-1," in line
    assert line.endswith("cap-9 and 2 more")


@pytest.mark.parametrize(
    ("target", "program"),
    [("platform", "OpenStack Powered Platform"), ("object", "OpenStack Powered Storage")],
)
def test_verdict_names_programs_of_1x_targets(target: str, program: str) -> None:
    score = Score(**{**_score(True).__dict__, "target": target, "programmes": ()})
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


# --------------------------------------------------------------------------- programmes


def _three_programmes(orchestration_fails: bool) -> Score:
    """Platform 2020.06 with the DNS and Orchestration add-ons, scored from the real files."""
    from tcup.guidelines import parse_guideline
    from tcup.scoring import score
    from tests.interop import require_interop

    root = require_interop()
    main = parse_guideline((root / "2020.06.json").read_bytes(), "2020.06.json")
    add_ons = [
        parse_guideline((root / "add-ons" / f"{name}.2020.06.json").read_bytes(), name)
        for name in ("dns", "orchestration")
    ]
    sources = [(main, "platform"), *((a, a.default_target) for a in add_ons)]
    states = {
        t.name: "passed"
        for guideline, target in sources
        for cap in guideline.target_capabilities(target, ("required",))
        for t in cap.tests
    }
    if orchestration_fails:
        first = add_ons[1].target_capabilities("orchestration", ("required",))[0]
        states[first.tests[0].name] = "failed"
    return score(main, "platform", states, add_ons)


PLATFORM_LINE = "Would qualify for OpenStack Powered Platform 2020.06"
DNS_LINE = "Would qualify for OpenStack Powered DNS add-on 2020.06"
HEAT_FAILS = (
    "Would NOT qualify for OpenStack Powered Orchestration add-on 2020.06 "
    "(22 of 23 required capabilities pass); not passed: "
)


def test_one_line_per_programme_in_text_and_on_the_terminal() -> None:
    result = _three_programmes(orchestration_fails=True)
    lines = render(result, "text").splitlines()
    assert lines[-3:-1] == [PLATFORM_LINE, DNS_LINE]
    assert lines[-1].startswith(HEAT_FAILS)
    assert lines[-1] == f"{HEAT_FAILS}{result.programmes[2].missing_required[0]}"
    out = _Tty()
    write_terminal(result, out)
    plain = re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()))
    for line in lines[-3:]:
        assert line in plain


def test_whole_run_verdict_names_each_programme() -> None:
    failing = _three_programmes(orchestration_fails=True)
    assert verdict(failing) == (
        "Would NOT qualify for all 3 programmes: would qualify for OpenStack Powered Platform "
        "2020.06, OpenStack Powered DNS add-on 2020.06; would NOT qualify for OpenStack Powered "
        "Orchestration add-on 2020.06 (22 of 23 required capabilities pass)"
    )
    passing = _three_programmes(orchestration_fails=False)
    assert verdict(passing) == (
        "Would qualify for all 3 programmes: OpenStack Powered Platform 2020.06, OpenStack "
        "Powered DNS add-on 2020.06, OpenStack Powered Orchestration add-on 2020.06"
    )


def test_json_lists_programmes_and_validates() -> None:
    result = _three_programmes(orchestration_fails=True)
    body = json.loads(render(result, "json"))
    jsonschema.validate(body, REPORT_JSON_SCHEMA)
    assert body["qualifies"] is False and body["verdict"] == verdict(result)
    assert [
        (p["name"], p["kind"], p["guideline"], p["qualifies"], p["required_capabilities"])
        for p in body["programmes"]
    ] == [
        ("OpenStack Powered Platform", "platform", "2020.06", True, {"passed": 78, "total": 78}),
        ("OpenStack Powered DNS add-on", "add-on", "dns.2020.06", True, {"passed": 2, "total": 2}),
        (
            "OpenStack Powered Orchestration add-on",
            "add-on",
            "orchestration.2020.06",
            False,
            {"passed": 22, "total": 23},
        ),
    ]
    assert body["programmes"][2]["verdict"].startswith(HEAT_FAILS)
    assert body["programmes"][2]["missing_required"] == body["missing_required"]
    # capabilities still say which guideline or add-on they come from
    assert {c["guideline"] for c in body["capabilities"]} == {
        "2020.06",
        "dns.2020.06",
        "orchestration.2020.06",
    }
    # a report written before programmes existed still validates; an empty list does not
    older = {k: v for k, v in body.items() if k != "programmes"}
    jsonschema.validate(older, REPORT_JSON_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**body, "programmes": []}, REPORT_JSON_SCHEMA)


def test_markdown_and_html_open_with_each_programme() -> None:
    result = _three_programmes(orchestration_fails=True)
    md = render(result, "md")
    assert f"**✅ {PLATFORM_LINE}**" in md and f"**✅ {DNS_LINE}**" in md
    assert (
        "**❌ Would NOT qualify for OpenStack Powered Orchestration add-on 2020.06 (22 of 23" in md
    )
    assert md.index(DNS_LINE) < md.index("| Status |")
    page = render(result, "html")
    found = re.findall(r'<p class="verdict (\w+)" role="status" data-guideline="([^"]+)">', page)
    assert found == [
        ("qualifies", "2020.06"),
        ("qualifies", "dns.2020.06"),
        ("fails", "orchestration.2020.06"),
    ]
    parser = _Collect()
    parser.feed(page)
    text = "".join(parser.text)
    assert PLATFORM_LINE in text and DNS_LINE in text and HEAT_FAILS in text
