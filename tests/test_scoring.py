"""tcup.scoring on small hand-computed guidelines."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcup.errors import InputError
from tcup.guidelines import parse_guideline
from tcup.scoring import score
from tests.interop import require_interop


def _guideline():
    raw = {
        "metadata": {"id": "9999.01", "schema": "2.0"},
        "platforms": {
            "OpenStack Powered Platform": {"components": [{"name": "c"}]},
        },
        "components": {
            "c": {
                "capabilities": {
                    "required": ["cap-plain", "cap-alias", "cap-flag"],
                    "advisory": ["cap-adv"],
                }
            }
        },
        "capabilities": {
            "cap-plain": {
                "tests": {
                    "t.P.test_1": {"idempotent_id": "id-1"},
                    "t.P.test_2": {"idempotent_id": "id-2"},
                }
            },
            "cap-alias": {
                "tests": {"t.New.test_a": {"idempotent_id": "id-3", "aliases": ["t.Old.test_a"]}}
            },
            "cap-flag": {
                "tests": {
                    "t.F.test_ok": {"idempotent_id": "id-4"},
                    "t.F.test_flaky": {"idempotent_id": "id-5", "flagged": {"reason": "bug 1"}},
                }
            },
            "cap-adv": {"tests": {"t.A.test_adv": {"idempotent_id": "id-6"}}},
        },
    }
    return parse_guideline(json.dumps(raw).encode(), "small.json")


def _dns():
    raw = {
        "metadata": {"id": "dns.9999.01", "schema": "2.0"},
        "add-ons": {"DNS": {"components": [{"name": "os_powered_dns"}]}},
        "components": {"os_powered_dns": {"capabilities": {"required": ["dns-zone"]}}},
        "capabilities": {"dns-zone": {"tests": {"d.Z.test_zone": {"idempotent_id": "abcd"}}}},
    }
    return parse_guideline(json.dumps(raw).encode(), "dns.json")


REQUIRED_PASS = {
    "t.P.test_1": "passed",
    "t.P.test_2": "passed",
    "t.New.test_a": "passed",
    "t.F.test_ok": "passed",
}


def caps(result):
    return {c.name: c for c in result.capabilities}


def test_everything_required_passed():
    result = score(_guideline(), "platform", REQUIRED_PASS)
    assert result.qualifies and result.missing_required == ()
    assert result.target == "OpenStack Powered Platform"
    assert [c.status for c in result.capabilities] == ["required"] * 3 + ["advisory"]
    assert (result.required_passed, result.required_total) == (3, 3)
    # flaky is flagged and not run: excused, but not counted as passed
    assert (result.required_tests_passed, result.required_tests_total) == (4, 5)
    assert caps(result)["cap-flag"].flagged_count == 1
    assert caps(result)["cap-adv"].outcome == "not run"


def test_alias_passing_passes_the_test():
    states = {**REQUIRED_PASS, "t.New.test_a": "failed", "t.Old.test_a": "passed"}
    test = caps(score(_guideline(), "platform", states))["cap-alias"].tests[0]
    assert (test.state, test.passed_as) == ("passed", "t.Old.test_a")
    direct = caps(score(_guideline(), "platform", REQUIRED_PASS))["cap-alias"].tests[0]
    assert (direct.state, direct.passed_as) == ("passed", None)


def test_each_score_counts_its_own_tests_and_passed_tests_are_shared():
    guideline = _guideline()
    first = caps(score(guideline, "platform", REQUIRED_PASS))
    second = caps(score(guideline, "platform", {**REQUIRED_PASS, "t.P.test_2": "failed"}))
    # counts are computed once per capability score, from that score's own tests
    assert (first["cap-plain"].passed_count, second["cap-plain"].passed_count) == (2, 1)
    assert first["cap-plain"].passed_count == 2 and "passed_count" in vars(first["cap-plain"])
    assert [t.name for t in second["cap-plain"].failed_tests] == ["t.P.test_2"]
    assert first["cap-plain"].failed_tests == () and second["cap-plain"].outcome == "failed"
    # a test passed under its own name scores the same whatever the run: made once
    assert first["cap-plain"].tests[0] is second["cap-plain"].tests[0]
    assert first["cap-plain"].tests[0].state == "passed"
    assert first["cap-plain"].tests[0].passed_as is None


def test_flagged_failure_is_excused():
    states = {**REQUIRED_PASS, "t.F.test_flaky": "failed"}
    result = score(_guideline(), "platform", states)
    assert caps(result)["cap-flag"].outcome == "passed"
    assert result.qualifies


def test_one_required_failure_fails_the_capability_and_the_verdict():
    states = {**REQUIRED_PASS, "t.P.test_2": "failed"}
    result = score(_guideline(), "platform", states)
    plain = caps(result)["cap-plain"]
    assert plain.outcome == "failed"
    assert [t.name for t in plain.failed_tests] == ["t.P.test_2"]
    assert (plain.passed_count, plain.total) == (1, 2)
    assert not result.qualifies and result.missing_required == ("cap-plain",)


def test_skipped_and_not_run_tests_fail_a_capability_that_ran():
    states = {"t.P.test_1": "skipped", "t.New.test_a": "failed"}
    by_name = caps(score(_guideline(), "platform", states))
    assert by_name["cap-plain"].outcome == "failed"
    assert [t.state for t in by_name["cap-plain"].tests] == ["skipped", "not run"]
    assert by_name["cap-alias"].tests[0].state == "failed"


def test_nothing_run():
    result = score(_guideline(), "platform", {})
    assert {c.outcome for c in result.capabilities} == {"not run"}
    assert not result.qualifies
    assert result.missing_required == ("cap-plain", "cap-alias", "cap-flag")


def test_advisory_failure_does_not_matter():
    states = {**REQUIRED_PASS, "t.A.test_adv": "failed"}
    result = score(_guideline(), "platform", states)
    assert caps(result)["cap-adv"].outcome == "failed" and result.qualifies


def test_add_on_required_capabilities_count():
    result = score(_guideline(), "platform", REQUIRED_PASS, [_dns()])
    assert result.add_ons == ("dns.9999.01",)
    assert not result.qualifies and result.missing_required == ("dns-zone",)
    zone = caps(result)["dns-zone"]
    assert (zone.component, zone.guideline_id) == ("os_powered_dns", "dns.9999.01")
    passed = score(_guideline(), "platform", {**REQUIRED_PASS, "d.Z.test_zone": "passed"}, [_dns()])
    assert passed.qualifies and passed.required_total == 4


def test_add_on_must_be_an_add_on():
    with pytest.raises(InputError, match="is not an add-on"):
        score(_guideline(), "platform", {}, [_guideline()])


def test_unknown_target():
    with pytest.raises(InputError, match="no target 'storage'"):
        score(_guideline(), "storage", {})


def test_real_storage_target_all_passed():
    path = require_interop() / "2020.06.json"
    guideline = parse_guideline(path.read_bytes(), path.name)
    raw = json.loads(path.read_bytes())
    comps = raw["components"]["os_powered_storage"]["capabilities"]["required"]
    names = {t for cap in comps for t in raw["capabilities"][cap]["tests"]}
    result = score(guideline, "storage", dict.fromkeys(names, "passed"))
    assert result.qualifies and result.required_total == len(comps) == 20
    one_short = dict.fromkeys(sorted(names)[1:], "passed")
    assert not score(guideline, "object", one_short).qualifies


def test_score_run_defaults_the_target_and_counts_tests_of_missing_services_not_run():
    from tcup.scoring import score_run

    states = dict.fromkeys(
        ["t.P.test_1", "t.P.test_2", "t.New.test_a", "t.F.test_ok", "t.A.test_adv"], "passed"
    )
    guideline = _guideline()
    full = score_run(guideline, None, states)
    assert full == score(guideline, "platform", states)
    assert full.qualifies
    missing = score_run(guideline, None, states, not_run=["t.P.test_2"])
    outcomes = {c.name: c.outcome for c in missing.capabilities}
    assert outcomes["cap-plain"] == "failed" and not missing.qualifies
    tests = {t.name: t.state for c in missing.capabilities for t in c.tests}
    assert tests["t.P.test_2"] == "not run"


# ------------------------------------------- tests renamed upstream keep their idempotent id

DNS_RENAMES = {  # 2020.06 DNS add-on name -> the name designate-tempest-plugin runs today
    "designate_tempest_plugin.tests.api.v2.test_recordset.RecordsetsTest."
    "test_create_all_recordset_types": "designate_tempest_plugin.tests.api.v2.test_recordset."
    "RecordsetsTest.test_create_recordset_type_A",
    "designate_tempest_plugin.tests.api.v2.test_zones.ZonesTest.test_list_zone": (
        "designate_tempest_plugin.tests.api.v2.test_zones.ZonesTest.test_list_zones"
    ),
}


def _real_dns():
    root = require_interop()
    main = parse_guideline((root / "2020.06.json").read_bytes(), "2020.06.json")
    add_on = root / "add-ons" / "dns.2020.06.json"
    return main, parse_guideline(add_on.read_bytes(), add_on.name)


def _dns_as_tempest_ran_it(dns) -> list[tuple[str, str]]:
    """(name Tempest ran, bare uuid) for every test of the DNS add-on."""
    tests = {t.name: t.uuid for cap in dns.capabilities.values() for t in cap.tests}
    assert set(DNS_RENAMES) <= set(tests) and len(tests) == 10
    return [(DNS_RENAMES.get(name, name), uuid) for name, uuid in tests.items()]


def _dns_score(main, dns, states):
    from tcup.scoring import score_run

    result = score_run(main, "platform", states, [dns])
    return [c for c in result.capabilities if c.guideline_id == dns.id]


def test_renamed_dns_tests_count_from_a_refstack_upload_by_uuid():
    """All 10 DNS tests ran and passed under today's names: 10/10, not 8/10."""
    from tcup.results import dump_refstack, read_refstack

    main, dns = _real_dns()
    ran = _dns_as_tempest_ran_it(dns)
    body = {
        "cpid": "x",
        "duration_seconds": 1,
        "results": [{"name": n, "uuid": u} for n, u in sorted(ran)],
    }
    states = read_refstack(dump_refstack(body)).states()
    caps = _dns_score(main, dns, states)
    assert sum(c.passed_count for c in caps) == 10 and all(c.passed for c in caps)
    renamed = {t.name: t.ran_as for c in caps for t in c.tests if t.ran_as}
    assert renamed == DNS_RENAMES
    # without the uuids (names only) the two renamed tests are not run: the old 8/10
    plain = _dns_score(main, dns, dict(states))
    assert sum(c.passed_count for c in plain) == 8


def test_renamed_dns_tests_count_from_a_subunit_run_and_the_report_names_both():
    from tcup import report
    from tcup.results import RunResults, TestResult

    main, dns = _real_dns()
    run = RunResults(
        tests=tuple(
            TestResult.create(f"{name}[id-{uuid}]", "passed")
            for name, uuid in _dns_as_tempest_ran_it(dns)
        )
    )
    from tcup.scoring import score_run

    result = score_run(main, "platform", run.states(), [dns])
    caps = [c for c in result.capabilities if c.guideline_id == dns.id]
    assert sum(c.passed_count for c in caps) == 10
    for fmt in ("text", "md", "html"):
        text = report.render(result, fmt)
        for old, new in DNS_RENAMES.items():
            assert old in text and new in text, fmt
    tests = [t for c in report.report_json(result)["capabilities"] for t in c["tests"]]
    assert {t["name"]: t["ran_as"] for t in tests if t["ran_as"]} == DNS_RENAMES


def test_a_test_not_in_this_tempest_is_its_own_outcome_not_a_failure():
    from tcup.scoring import score_run
    from tcup.testids import NOT_IN_TEMPEST

    states = {**REQUIRED_PASS, "t.P.test_2": NOT_IN_TEMPEST}
    result = score_run(_guideline(), None, states)
    tests = {t.name: t.state for c in result.capabilities for t in c.tests}
    assert tests["t.P.test_2"] == "not in tempest"
    outcomes = {c.name: c.outcome for c in result.capabilities}
    assert outcomes["cap-plain"] == "not in tempest" and not result.qualifies
    # a real failure beside it makes the capability failed
    failing = score_run(_guideline(), None, {**states, "t.P.test_1": "failed"})
    assert {c.name: c.outcome for c in failing.capabilities}["cap-plain"] == "failed"


def test_a_guideline_typo_is_named_as_written_never_fixed():
    """The 2020.06 orchestration add-on names a test with a stray ':Wherej'.

    No test has that name; its idempotent id finds the test, and the
    guideline's name is kept beside the one Tempest ran (terminal, manifest
    and report), not silently corrected.  Without a match it is not in
    this Tempest, under the guideline's name.
    """
    from tcup.testlist import match_listed, plan

    root = require_interop()
    main = parse_guideline((root / "2020.06.json").read_bytes(), "2020.06.json")
    path = root / "add-ons" / "orchestration.2020.06.json"
    orchestration = parse_guideline(path.read_bytes(), path.name)
    test_plan = plan(main, "platform", [orchestration])
    typo = next(t for t in test_plan.tests if t.name.endswith(":Wherej"))
    fixed = typo.name.removesuffix(":Wherej")
    matched = match_listed(test_plan, [f"{fixed}[id-{typo.uuid}]"], warn=False)
    assert matched.renamed == ((typo.name, fixed),)
    elsewhere = match_listed(test_plan, [f"{fixed}[id-00000000-0000-4000-8000-000000000000]"])
    assert typo in elsewhere.missing


def test_score_run_marks_tests_the_manifest_lists_as_not_in_tempest():
    from tcup.scoring import score_run

    result = score_run(_guideline(), None, {}, not_in_tempest=["t.A.test_adv", "t.P.test_1"])
    tests = {t.name: t.state for c in result.capabilities for t in c.tests}
    assert tests["t.A.test_adv"] == "not in tempest" and tests["t.P.test_2"] == "not run"
    ran = score_run(_guideline(), None, {"t.A.test_adv": "passed"}, not_in_tempest=["t.A.test_adv"])
    assert {t.name: t.state for c in ran.capabilities for t in c.tests}["t.A.test_adv"] == "passed"


# ------------------------------------------------------------- one verdict per programme


def _real_platform_and_add_ons():
    root = require_interop()
    main = parse_guideline((root / "2020.06.json").read_bytes(), "2020.06.json")
    add_ons = [
        parse_guideline((root / "add-ons" / name).read_bytes(), name)
        for name in ("dns.2020.06.json", "orchestration.2020.06.json")
    ]
    return main, add_ons


def _required_names(guideline, target) -> set[str]:
    return {
        test.name
        for cap in guideline.target_capabilities(target, ("required",))
        for test in cap.tests
        if not test.flagged
    }


def test_each_programme_has_its_own_verdict_on_the_real_guidelines():
    main, (dns, orchestration) = _real_platform_and_add_ons()
    platform = _required_names(main, "platform")
    dns_names = _required_names(dns, dns.default_target)
    heat = _required_names(orchestration, orchestration.default_target)
    everything = dict.fromkeys(platform | dns_names | heat, "passed")

    result = score(main, "platform", everything, [dns, orchestration])
    assert [(p.guideline_id, p.kind, p.target) for p in result.programmes] == [
        ("2020.06", "platform", "OpenStack Powered Platform"),
        ("dns.2020.06", "add-on", "DNS"),
        ("orchestration.2020.06", "add-on", "Orchestration"),
    ]
    assert all(p.qualifies for p in result.programmes) and result.qualifies
    assert [(p.required_passed, p.required_total) for p in result.programmes][1:] == [
        (2, 2),
        (23, 23),
    ]
    assert result.programmes[1].guideline_sha256 == dns.sha256
    # every capability is in exactly one programme, and says which guideline it comes from
    for programme in result.programmes:
        assert {c.guideline_id for c in programme.capabilities} == {programme.guideline_id}
    assert sum(len(p.capabilities) for p in result.programmes) == len(result.capabilities)

    # one Orchestration test fails: only the Orchestration programme fails
    stack_create = next(
        c for c in orchestration.target_capabilities("orchestration", ("required",))
    )
    failing = {**everything, stack_create.tests[0].name: "failed"}
    broken = score(main, "platform", failing, [dns, orchestration])
    assert [p.qualifies for p in broken.programmes] == [True, True, False]
    assert broken.programmes[2].missing_required == (stack_create.name,)
    assert (broken.programmes[2].required_passed, broken.programmes[2].required_total) == (22, 23)
    assert not broken.qualifies and broken.missing_required == (stack_create.name,)

    # an object-storage test fails: the platform fails, the add-ons (which require
    # only the compute component) still qualify
    object_test = sorted(_required_names(main, "object") - _required_names(main, "compute"))[0]
    split = score(main, "platform", {**everything, object_test: "failed"}, [dns, orchestration])
    assert [p.qualifies for p in split.programmes] == [False, True, True]
    assert not split.qualifies
    assert [r.state for p in split.programmes[1:] for r in p.requires] == ["passed", "passed"]

    # a compute test fails: the add-ons require os_powered_compute, so they fail with it
    compute_cap = main.target_capabilities("compute", ("required",))[0]
    compute_fails = {**everything, compute_cap.tests[0].name: "failed"}
    needing = score(main, "platform", compute_fails, [dns, orchestration])
    assert [p.qualifies for p in needing.programmes] == [False, False, False]
    dns_programme = needing.programmes[1]
    assert dns_programme.missing_required == ()  # its own capabilities all passed
    (requirement,) = dns_programme.requires
    assert (requirement.component, requirement.guideline, requirement.state) == (
        "os_powered_compute",
        "2020.06",
        "failed",
    )
    assert requirement.missing == (compute_cap.name,)
    assert requirement.title == "OpenStack Powered Compute"


def test_an_add_on_states_the_platform_component_a_run_does_not_test():
    main, (dns, orchestration) = _real_platform_and_add_ons()
    names = _required_names(main, "object") | _required_names(dns, dns.default_target)
    result = score(main, "object", dict.fromkeys(names, "passed"), [dns])
    # Storage does not include os_powered_compute: the add-on's own verdict stands,
    # and says what else its mark requires
    assert [p.qualifies for p in result.programmes] == [True, True] and result.qualifies
    (requirement,) = result.programmes[1].requires
    assert requirement.state == "not tested"
    from tcup import report

    line = report.programme_verdict(result.programmes[1])
    assert line == (
        "Would qualify for OpenStack Powered DNS add-on 2020.06; the mark also requires "
        "OpenStack Powered Compute 2020.06, which this run does not test"
    )
    assert report.verdict(result).endswith(
        "; the add-ons also require OpenStack Powered Compute 2020.06, which this run does not test"
    )
    entry = report.report_json(result)["programmes"][1]["requires"]
    assert entry == [
        {
            "component": "os_powered_compute",
            "guideline": "2020.06",
            "name": "OpenStack Powered Compute",
            "state": "not tested",
            "missing_required": [],
        }
    ]
    # an add-on scored alone tests no platform component either
    alone = score(dns, dns.default_target, dict.fromkeys(names, "passed"))
    assert alone.qualifies and alone.programmes[0].requires[0].state == "not tested"
    # the target includes the component, but from another guideline than the add-on names
    older = parse_guideline((require_interop() / "2019.11.json").read_bytes(), "2019.11.json")
    other = score(older, "platform", {}, [dns])
    assert other.programmes[1].requires[0].state == "not tested"


def test_flagged_tests_are_excused_per_programme_as_today():
    main = _guideline()
    states = {**REQUIRED_PASS, "t.F.test_flaky": "failed", "d.Z.test_zone": "passed"}
    result = score(main, "platform", states, [_dns()])
    assert [p.qualifies for p in result.programmes] == [True, True]
    target = result.programmes[0]
    assert [c.name for c in target.required] == ["cap-plain", "cap-alias", "cap-flag"]
    assert [c.name for c in result.programmes[1].capabilities] == ["dns-zone"]


def test_without_add_ons_the_one_programme_is_the_whole_score():
    result = score(_guideline(), "platform", REQUIRED_PASS)
    (only,) = result.programmes
    assert only.kind == "platform" and only.capabilities == result.capabilities
    assert only.qualifies is result.qualifies is True


def test_an_add_on_file_scored_alone_is_an_add_on_programme():
    dns = _dns()
    (only,) = score(dns, dns.default_target, {"d.Z.test_zone": "passed"}).programmes
    assert (only.kind, only.target, only.guideline_id) == ("add-on", "DNS", "dns.9999.01")
    assert only.qualifies


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_capabilities_passed_whole_score_as_test_by_test(data):
    """A capability whose every test passed under its own name is scored once and shared;
    its score is the one the test-by-test path gives (real guideline, any states)."""
    from tcup import report, scoring

    root = require_interop()
    guideline = parse_guideline((root / "2020.06.json").read_bytes(), "2020.06.json")
    target = data.draw(st.sampled_from(["platform", "compute", "object"]))
    names = sorted({t.name for c in guideline.target_capabilities(target) for t in c.tests})
    states = {
        name: data.draw(st.sampled_from(["passed", "passed", "passed", "failed", "skipped"]))
        for name in names
        if data.draw(st.booleans()) or data.draw(st.booleans())
    }
    shared = score(guideline, target, states)
    with mock.patch.object(scoring, "_passed_all", lambda _cap, _states: False):
        one_by_one = score(guideline, target, states)
    assert report.report_json(shared) == report.report_json(one_by_one)
    again = score(guideline, target, states)
    for first, second in zip(shared.capabilities, again.capabilities, strict=True):
        whole = all(states.get(t.name) == "passed" for t in first.tests)
        assert (first is second) == whole
