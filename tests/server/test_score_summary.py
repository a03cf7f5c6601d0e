"""The score a result stores is ``tcup report``'s JSON less the tests that passed."""

from __future__ import annotations

import pytest
from server_helpers import interop_dir
from tcup_server.services.ingest import score_summary

from tcup import guidelines, report, scoring


def _guideline(name: str) -> guidelines.Guideline:
    path = interop_dir() / ("add-ons/" if name.count(".") > 1 else "") / f"{name}.json"
    return guidelines.parse_guideline(path.read_bytes(), str(path))


def _as_report_says(result: scoring.Score, basis: str) -> dict:
    """The summary built from the whole report, field by field."""
    full = report.report_json(result)
    return {
        "guideline": result.guideline_id,
        "guideline_sha256": result.guideline_sha256,
        "target": result.target,
        "add_ons": list(result.add_ons),
        "qualifies": result.qualifies,
        "verdict": full["verdict"],
        "basis": basis,
        "missing_required": list(result.missing_required),
        "programmes": full["programmes"],
        "required_passed": result.required_passed,
        "required_total": result.required_total,
        "capabilities": [
            {
                **{k: c[k] for k in c if k != "tests"},
                "tests": {
                    t["name"]: {"state": t["state"], "flagged": t["flagged"]}
                    for t in c["tests"]
                    if t["state"] != "passed"
                },
            }
            for c in full["capabilities"]
        ],
    }


@pytest.mark.parametrize("add_ons", [(), ("dns.2020.06", "orchestration.2020.06")])
def test_the_summary_is_the_report_less_the_passed_tests(add_ons) -> None:
    main = _guideline("2020.06")
    extra = [_guideline(name) for name in add_ons]
    tests = [
        t.name
        for source, target in guidelines.with_add_ons(main, "platform", extra)
        for c in source.target_capabilities(target)
        for t in c.tests
    ]
    # every state there is: most passed, some failed, skipped, not in tempest, not run
    states = {name: "passed" for name in tests[10:]}
    states.update({tests[0]: "failed", tests[1]: "skipped", tests[2]: "not in tempest"})
    result = scoring.score_run(main, "platform", states, extra)
    assert not result.qualifies and result.capabilities[0].failed_tests

    summary = score_summary(result, "states")
    assert summary == _as_report_says(result, "states")
    assert summary["verdict"] == report.verdict(result)
