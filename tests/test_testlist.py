"""tcup.testlist: plans, formats (checked against RefStack's counts), regexes, matching."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tcup.errors import InputError
from tcup.guidelines import STATUSES, parse_guideline
from tcup.testids import refstack_name
from tcup.testlist import (
    format_plan,
    match_listed,
    plan,
    regex_for,
)
from tests.interop import guideline_files, require_interop

FILES = guideline_files()


def load(name: str):
    path = require_interop() / name
    return parse_guideline(path.read_bytes(), path.name)


def independent_names(raw: dict, components: list[str], statuses, flagged: bool) -> set[str]:
    names = set()
    for comp in components:
        entry = raw["components"][comp]
        lists = entry.get("capabilities", entry)
        for status in statuses:
            for cap in lists[status]:
                if cap not in raw["capabilities"]:
                    continue
                tests = raw["capabilities"][cap]["tests"]
                for name, info in tests.items() if isinstance(tests, dict) else ():
                    if flagged or "flagged" not in info:
                        names.add(name)
    return names


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_file_lists_for_every_target(path: Path):
    raw = json.loads(path.read_bytes())
    guideline = parse_guideline(path.read_bytes(), path.name)
    for target in guideline.targets:
        comps = list(target.components)
        for statuses, flagged in [(("required",), False), (STATUSES, True)]:
            test_plan = plan(guideline, target.short, statuses=statuses, include_flagged=flagged)
            names = format_plan(test_plan, "names")
            assert len(names) == len(set(names))
            assert set(names) == independent_names(raw, comps, statuses, flagged)
            assert len(format_plan(test_plan, "regex")) == len(names)


# RefStack 2.1.0's /v1/guidelines/2020.06/tests, counted on the real server as
# newlines: the body is the sorted lines joined by "\n" without a trailing one.
REFSTACK_2020_06 = [
    ({"target": "platform", "statuses": STATUSES, "include_flagged": True}, True, 389),
    ({"target": "compute", "statuses": ["required"], "include_flagged": True}, True, 330),
    ({"target": "object", "statuses": STATUSES, "include_flagged": True}, True, 60),
    ({"target": "platform", "statuses": ["required"], "include_flagged": True}, False, 285),
    ({"target": "platform", "statuses": ["required"], "include_flagged": False}, True, 376),
]


@pytest.mark.parametrize("kwargs,aliases,newlines", REFSTACK_2020_06)
def test_refstack_format_matches_refstack_counts(kwargs, aliases, newlines):
    lines = format_plan(plan(load("2020.06.json"), **kwargs), "refstack", aliases=aliases)
    body = "\n".join(lines)
    assert body.count("\n") == newlines
    assert lines == sorted(lines)
    assert all(re.fullmatch(r"[\w.]+(\(\w+\))?\[(id-)?[0-9a-f-]*\]", line) for line in lines)


def test_refstack_format_bare_uuid_and_missing_id():
    dns = format_plan(plan(load("add-ons/dns.2020.06.json"), "dns"), "refstack")
    assert dns and all(re.fullmatch(r"[\w.]+\[[0-9a-f-]{36}\]", line) for line in dns)
    raw = {
        "metadata": {"id": "x", "schema": "2.0"},
        "platforms": {"OpenStack Powered Platform": {"components": [{"name": "c"}]}},
        "components": {"c": {"capabilities": {"required": ["cap"]}}},
        "capabilities": {"cap": {"tests": {"a.B.test_c": {}}}},
    }
    guideline = parse_guideline(json.dumps(raw).encode(), "x.json")
    assert format_plan(plan(guideline, "platform"), "refstack") == ["a.B.test_c[]"]


def test_storage_required_plan():
    test_plan = plan(load("2020.06.json"), "storage")
    assert len(test_plan) == 58
    assert not any(t.flagged for t in test_plan.tests)
    assert len({c for t in test_plan.tests for c in t.capabilities}) == 20
    assert test_plan.target == "OpenStack Powered Storage"
    assert re.fullmatch(r"[0-9a-f]{64}", test_plan.sha256)
    # a test listed by two capabilities is planned once and remembers both
    seg = next(t for t in test_plan.tests if t.name.endswith(".test_object_upload_in_segments"))
    assert set(seg.capabilities) == {"objectstore-object-create", "objectstore-dlo-support"}
    assert seg.aliases  # taken from the capability that lists one


def test_flagged_excluded_by_default_included_on_request():
    guideline = load("2020.06.json")
    default = plan(guideline, "platform")
    flagged = plan(guideline, "platform", include_flagged=True)
    assert not any(t.flagged for t in default.tests)
    extra = {t.name for t in flagged.tests} - {t.name for t in default.tests}
    assert extra and all(t.flagged for t in flagged.tests if t.name in extra)
    assert default.sha256 != flagged.sha256


def test_add_on_tests_are_added():
    guideline, dns = load("2020.06.json"), load("add-ons/dns.2020.06.json")
    alone = plan(guideline, "compute")
    both = plan(guideline, "compute", [dns])
    dns_names = {t.name for t in both.tests if t.guideline_id == "dns.2020.06"}
    assert dns_names and len(both) == len(alone) + len(dns_names)
    assert both.add_ons == ("dns.2020.06",)
    with pytest.raises(InputError, match="is not an add-on"):
        plan(guideline, "compute", [guideline])


def test_names_with_aliases():
    test_plan = plan(load("2020.06.json"), "platform")
    plain = format_plan(test_plan, "names")
    with_aliases = format_plan(test_plan, "names", aliases=True)
    assert len(with_aliases) == len(plain) + sum(len(t.aliases) for t in test_plan.tests)


def test_unknown_format():
    with pytest.raises(InputError, match="unknown list format 'xml'"):
        format_plan(plan(load("2020.06.json"), "storage"), "xml")


# ------------------------------------------------------------------ regex


def _tempest_id(name: str, uuid: str | None) -> str:
    base, _, scenario = name.partition("(")
    attrs = f"[id-{uuid},smoke]" if uuid else "[smoke]"
    return base + attrs + (f"({scenario}" if scenario else "")


def test_each_regex_matches_exactly_its_own_test():
    test_plan = plan(load("2020.06.json"), "platform", statuses=STATUSES, include_flagged=True)
    ids = {t.name: _tempest_id(t.name, t.uuid) for t in test_plan.tests}
    decoys = []
    for name in ids:
        decoys += [
            _tempest_id(name + "_all", "00000000-0000-0000-0000-000000000000"),
            name + "_extra",
            "x" + name,
            _tempest_id(name + "(ipv6)", None),
        ]
    universe = [*ids.values(), *decoys]
    regexes = format_plan(test_plan, "regex")
    for test, pattern in zip(test_plan.tests, regexes, strict=True):
        compiled = re.compile(pattern)
        assert [i for i in universe if compiled.search(i)] == [ids[test.name]], pattern


def test_regex_prefix_sharing_and_scenarios():
    get = re.compile(regex_for(["a.B.test_get"]))
    assert get.search("a.B.test_get[id-1]") and get.search("a.B.test_get")
    assert not get.search("a.B.test_get_all[id-2]")
    assert not get.search("a.B.test_get[id-1](ipv6)")
    scen = re.compile(regex_for(["a.B.test_s(ipv6)"]))
    assert scen.search("a.B.test_s[id-3,network](ipv6)")
    assert not scen.search("a.B.test_s[id-3,network](ipv4)")
    both = re.compile(regex_for(["a.B.test_new", "a.Old.test_old"]))
    assert both.search("a.Old.test_old[id-4]") and both.search("a.B.test_new")


# --------------------------------------------------------------- matching


def test_match_listed_by_uuid_then_name_then_alias():
    raw = {
        "metadata": {"id": "x", "schema": "2.0"},
        "platforms": {"OpenStack Powered Platform": {"components": [{"name": "c"}]}},
        "components": {"c": {"capabilities": {"required": ["cap"]}}},
        "capabilities": {
            "cap": {
                "tests": {
                    "t.Renamed.test_old_name": {"idempotent_id": "id-aaaa"},
                    "t.Plain.test_no_id_locally": {"idempotent_id": "id-bbbb"},
                    "t.Moved.test_x": {"idempotent_id": "id-cccc", "aliases": ["t.New.test_x"]},
                    "t.S.test_s(ipv6)": {"idempotent_id": "id-dddd"},
                    "t.Gone.test_gone": {"idempotent_id": "id-eeee"},
                }
            }
        },
    }
    guideline = parse_guideline(json.dumps(raw).encode(), "x.json")
    listed = [
        "t.Renamed.test_new_name[id-aaaa]",
        "t.Plain.test_no_id_locally[smoke]",
        "t.New.test_x[other]",
        "t.S.test_s[id-dddd](ipv4)",
        "t.S.test_s[id-dddd](ipv6)",
        "t.Unrelated.test_u[id-ffff]",
    ]
    matched = match_listed(plan(guideline, "platform"), listed)
    assert matched.matched_ids == (
        "t.Renamed.test_new_name[id-aaaa]",
        "t.Plain.test_no_id_locally[smoke]",
        "t.New.test_x[other]",
        "t.S.test_s[id-dddd](ipv6)",
    )
    assert [t.name for t in matched.missing] == ["t.Gone.test_gone"]


def test_one_name_two_tests_the_guidelines_id_picks_one():
    """heat-tempest-plugin's gabbi files give two tests the same name, each its own id."""
    name = "heat_tempest_plugin.tests.api.test_heat_api.environments_delete_envstack.test_request"
    raw = {
        "metadata": {"id": "x", "schema": "2.0"},
        "platforms": {"OpenStack Powered Platform": {"components": [{"name": "c"}]}},
        "components": {"c": {"capabilities": {"required": ["cap"]}}},
        "capabilities": {"cap": {"tests": {name: {"idempotent_id": "id-0efde180"}}}},
    }
    guideline = parse_guideline(json.dumps(raw).encode(), "x.json")
    listed = [f"{name}[id-a1bea087]", f"{name}[id-0efde180]"]
    matched = match_listed(plan(guideline, "platform"), listed)
    assert matched.matched_ids == (f"{name}[id-0efde180]",)


@pytest.mark.integration
def test_match_against_a_real_tempest_listing(tmp_path):
    tempest = pytest.importorskip("tempest")  # an optional extra of tcup
    root = Path(tempest.__file__).parent
    # the .stestr.conf `tempest init` writes, without registering a workspace
    (tmp_path / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={root / 'test_discover'}\ntop_dir={root}\n"
    )
    stestr = Path(sys.executable).with_name("stestr")
    subprocess.run([str(stestr), "init"], cwd=tmp_path, check=True, capture_output=True)
    listed = subprocess.run(
        [str(stestr), "list"], cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout.split()
    test_plan = plan(load("2020.06.json"), "storage")
    matched = match_listed(test_plan, listed)
    assert matched.missing == ()
    assert {refstack_name(i) for i in matched.matched_ids} == set(test_plan.names)
    assert all(i in listed for i in matched.matched_ids)
