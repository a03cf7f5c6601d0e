"""Tests for ``tcup report``: real fixtures scored against real interop guidelines."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import jsonschema
import pytest

from tcup.cli import main
from tcup.commands.report import report
from tcup.errors import InputError
from tcup.guidelines import parse_guideline
from tcup.report import REPORT_JSON_SCHEMA
from tcup.results import (
    RunEnvironment,
    dump_refstack,
    load_results,
    refstack_body,
    write_extended,
)

REPO = Path(__file__).resolve().parents[2]
INTEROP = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
GUIDELINE = INTEROP / "2020.06.json"
V2 = REPO / "tests" / "fixtures" / "sample-v2.subunit"
V1 = REPO / "tests" / "fixtures" / "sample-v1.subunit"


def _storage_passing_body(tmp_path: Path) -> Path:
    """A RefStack body in which every required storage test (by name) passed."""
    guideline = parse_guideline(GUIDELINE.read_bytes(), str(GUIDELINE))
    names = sorted(
        {t.name for cap in guideline.target_capabilities("object", ["required"]) for t in cap.tests}
    )
    body = {"cpid": "c", "duration_seconds": 5, "results": [{"name": n} for n in names]}
    path = tmp_path / "results.json"
    path.write_bytes(dump_refstack(body))
    return path


def test_subunit_fixture_does_not_qualify() -> None:
    out = io.StringIO()
    code = report(V2, str(GUIDELINE), "object", stdout=out)
    assert code == 1
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("Would NOT qualify for OpenStack Powered Storage 2020.06 (3 of 20 ")
    assert "objectstore-container-delete" in last


def test_v1_and_v2_give_the_same_report() -> None:
    outputs = []
    for path in (V1, V2):
        out = io.StringIO()
        report(path, str(GUIDELINE), "object", fmt="json", stdout=out)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]


def test_all_required_tests_passed_qualifies(tmp_path: Path) -> None:
    out = io.StringIO()
    code = report(_storage_passing_body(tmp_path), str(GUIDELINE), "storage", stdout=out)
    assert code == 0
    assert out.getvalue().splitlines()[-1] == "Would qualify for OpenStack Powered Storage 2020.06"


def test_refstack_body_of_the_fixture_scores_like_the_stream(tmp_path: Path) -> None:
    body = tmp_path / "results.json"
    body.write_bytes(dump_refstack(refstack_body(load_results(V2).results, "c", 1)))
    reports = []
    for path in (V2, body):
        out = io.StringIO()
        report(path, str(GUIDELINE), "object", fmt="json", stdout=out)
        reports.append(json.loads(out.getvalue()))
    # passed tests agree; failed ones become "not run" in a body that only lists passes
    passed = [{c["name"]: c["passed"] for c in r["capabilities"]} for r in reports]
    assert passed[0] == passed[1]
    assert reports[0]["qualifies"] is reports[1]["qualifies"] is False


def test_output_file_format_from_suffix(tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "report.json"
    code = report(V2, str(GUIDELINE), "object", output=target, stdout=out)
    assert code == 1
    body = json.loads(target.read_text())
    jsonschema.validate(body, REPORT_JSON_SCHEMA)
    assert out.getvalue().splitlines() == [f"wrote {target}", body["verdict"]]


def test_extended_results_remember_guideline_and_target(tmp_path: Path) -> None:
    guideline = parse_guideline(GUIDELINE.read_bytes(), str(GUIDELINE))
    env = RunEnvironment(guideline_id="2020.06", guideline_sha256=guideline.sha256, target="object")
    extended = write_extended(tmp_path / "results-extended.json", load_results(V2).results, env)
    out = io.StringIO()
    code = report(extended, None, None, fmt="json", stdout=out, guideline_source=str(INTEROP))
    assert code == 1
    body = json.loads(out.getvalue())
    assert body["target"] == "OpenStack Powered Storage"
    assert body["guideline"]["sha256"] == guideline.sha256


def test_no_guideline_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no guideline to score against"):
        report(V2, None, "object", stdout=io.StringIO())


@pytest.mark.parametrize("fmt", ["text", "md", "html", "json"])
def test_cli_formats_and_exit_code(fmt: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["report", str(V2), "--guideline", str(GUIDELINE), "--target", "object"]
    code = main([*argv, "--format", fmt], stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    assert "Would NOT qualify for OpenStack Powered Storage 2020.06" in out.getvalue()


def test_cli_unreadable_results_exit_2(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    missing = tmp_path / "missing.subunit"
    code = main(["report", str(missing), "--guideline", str(GUIDELINE)], stdout=out, stderr=err)
    assert code == 2
    assert f"cannot read results '{missing}'" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_cli_unknown_target_exit_2() -> None:
    err = io.StringIO()
    argv = ["report", str(V2), "--guideline", str(GUIDELINE), "--target", "toaster"]
    assert main(argv, stdout=io.StringIO(), stderr=err) == 2
    assert "no target 'toaster'" in err.getvalue()


def test_class_fixture_errors_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="tcup.commands.report"):
        report(V2, str(GUIDELINE), "object", fmt="json", stdout=io.StringIO())
    assert "setUpClass (tempest.api.object_storage.test_account_services.AccountTest)" in (
        caplog.text
    )


def test_add_ons_get_a_verdict_each_and_a_failing_add_on_exits_1(tmp_path: Path) -> None:
    """Platform and DNS pass, Orchestration ran nothing: three lines, exit 1."""
    main_guideline = parse_guideline(GUIDELINE.read_bytes(), str(GUIDELINE))
    dns_path = INTEROP / "add-ons" / "dns.2020.06.json"
    dns = parse_guideline(dns_path.read_bytes(), str(dns_path))
    names = sorted(
        {
            t.name
            for guideline, target in ((main_guideline, "platform"), (dns, "dns"))
            for cap in guideline.target_capabilities(target, ["required"])
            for t in cap.tests
        }
    )
    body = {"cpid": "c", "duration_seconds": 5, "results": [{"name": n} for n in names]}
    path = tmp_path / "results.json"
    path.write_bytes(dump_refstack(body))
    add_ons = [str(dns_path), str(INTEROP / "add-ons" / "orchestration.2020.06.json")]
    out = io.StringIO()
    code = report(path, str(GUIDELINE), "platform", add_ons, output=tmp_path / "r.json", stdout=out)
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[1:3] == [
        "Would qualify for OpenStack Powered Platform 2020.06",
        "Would qualify for OpenStack Powered DNS add-on 2020.06",
    ]
    assert lines[3].startswith(
        "Would NOT qualify for OpenStack Powered Orchestration add-on 2020.06 "
        "(0 of 23 required capabilities pass); not passed: "
    )
    written = json.loads((tmp_path / "r.json").read_text())
    assert [p["qualifies"] for p in written["programmes"]] == [True, True, False]
    # the target alone, from the same results: exit 0
    assert report(path, str(GUIDELINE), "platform", stdout=io.StringIO()) == 0
