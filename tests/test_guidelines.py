"""tcup.guidelines against every real guideline file and small hand-built ones."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from pathlib import Path

import jsonschema
import pytest

from tcup.errors import InputError
from tcup.guidelines import STATUSES, parse_guideline, with_add_ons
from tests.interop import guideline_files, interop_dir, require_interop

FILES = guideline_files()


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def raw_target_tests(raw: dict, component_names: list[str], status: str) -> dict[str, set[str]]:
    """Independent reading: capability -> test names for one status of some components."""
    result: dict[str, set[str]] = {}
    for comp in component_names:
        entry = raw["components"][comp]
        names = entry["capabilities"][status] if "capabilities" in entry else entry[status]
        for cap in names:
            if cap in raw["capabilities"]:
                result[cap] = set(raw["capabilities"][cap]["tests"])
    return result


def raw_targets(raw: dict) -> dict[str, list[str]]:
    """Independent reading: target name -> component names."""
    if "metadata" in raw:
        groups = {**raw.get("platforms", {}), **raw.get("add-ons", {})}
        return {name: [c["name"] for c in spec["components"]] for name, spec in groups.items()}
    targets = {"platform": raw["platform"]["required"]}
    targets.update({c: [c] for c in raw["components"]})
    return targets


def load(path: Path):
    return parse_guideline(path.read_bytes(), path.name)


def test_interop_files_are_present():
    require_interop()
    assert len(FILES) >= 9


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_every_real_guideline_loads_with_its_targets(path: Path):
    raw = json.loads(path.read_bytes())
    guideline = load(path)
    assert guideline.id == path.name.removesuffix(".json")
    assert guideline.schema == (raw.get("metadata") or raw)["schema"]
    expected = raw_targets(raw)
    assert sorted(t.name for t in guideline.targets) == sorted(expected)
    for target in guideline.targets:
        assert list(target.components) == expected[target.name]
        for status in STATUSES:
            got = {
                c.name: {t.name for t in c.tests}
                for c in guideline.target_capabilities(target.short, [status])
            }
            want = raw_target_tests(raw, expected[target.name], status)
            # a capability listed under a higher-priority status elsewhere is not repeated
            higher = {
                c.name
                for c in guideline.target_capabilities(target, STATUSES[: STATUSES.index(status)])
            }
            assert got == {k: v for k, v in want.items() if k not in higher}


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_our_schema_accepts_what_the_upstream_schema_accepts(path: Path):
    raw = json.loads(path.read_bytes())
    version = (raw.get("metadata") or raw)["schema"]
    oracle = interop_dir() / "schema" / f"{version}.json"
    if not oracle.is_file():
        pytest.skip(f"no upstream schema {version} to compare with")
    schema = json.loads(oracle.read_text())
    upstream_ok = jsonschema.validators.validator_for(schema)(schema).is_valid(raw)
    if upstream_ok:
        load(path)  # must not raise


def test_2020_06_storage_target():
    guideline = load(require_interop() / "2020.06.json")
    storage = guideline.resolve_target("storage")
    assert storage.name == "OpenStack Powered Storage"
    assert storage.components == ("os_powered_storage",)
    caps = guideline.target_capabilities(storage, ["required"])
    assert len(caps) == 20
    assert {t.name for c in caps for t in c.tests if t.flagged} == set()
    assert guideline.status == "approved"
    data = (require_interop() / "2020.06.json").read_bytes()
    assert guideline.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("spec", ["storage", "object", "OpenStack Powered Storage", "STORAGE"])
def test_storage_and_object_are_synonyms_in_2_0(spec):
    guideline = load(require_interop() / "2020.06.json")
    assert guideline.resolve_target(spec).name == "OpenStack Powered Storage"


@pytest.mark.parametrize("spec", ["object", "storage"])
def test_storage_and_object_are_synonyms_in_1_x(spec):
    guideline = load(require_interop() / "2017.09.json")
    assert guideline.resolve_target(spec).name == "object"


@pytest.mark.parametrize("spec", ["dns", "DNS", "os_powered_dns"])
def test_add_on_target(spec):
    guideline = load(require_interop() / "add-ons" / "dns.2020.06.json")
    assert guideline.kind == "add-on"
    target = guideline.resolve_target(spec)
    assert target.name == "DNS"
    assert target.components == ("os_powered_dns",)
    assert guideline.default_target == target
    test = guideline.target_capabilities(target)[0].tests[0]
    assert test.idempotent_id == test.uuid  # bare uuids in this file


def test_unknown_target_lists_the_valid_ones():
    guideline = load(require_interop() / "2020.06.json")
    with pytest.raises(InputError) as err:
        guideline.resolve_target("network")
    assert "no target 'network'" in err.value.message
    assert "OpenStack Powered Compute (compute)" in err.value.hint
    assert "storage" in err.value.hint


def test_uuid_is_bare_and_lowercase():
    raw = _small_v2()
    raw["capabilities"]["cap-a"]["tests"]["t.A.test_a"]["idempotent_id"] = "id-ABCDEF00-0000"
    test = parse_guideline(json.dumps(raw).encode(), "g.json").capabilities["cap-a"].tests[0]
    assert test.idempotent_id == "id-ABCDEF00-0000"
    assert test.uuid == "abcdef00-0000"


# --------------------------------------------------------------- errors


def test_malformed_json_names_file_line_and_column():
    data = b'{\n  "id": "x",\n  "schema" "1.5"\n}'
    with pytest.raises(InputError) as err:
        parse_guideline(data, "x.json")
    assert err.value.message == (
        "cannot read guideline 'x.json': line 3 column 12: Expecting ':' delimiter"
        " — is it a guideline file?"
    )


def test_not_utf8():
    with pytest.raises(InputError, match="not UTF-8"):
        parse_guideline(b"\xff\xfe\x00", "bin.json")


@pytest.mark.parametrize("data", [b"[]", b'{"id": "x"}', b'"text"'])
def test_no_schema_version(data):
    with pytest.raises(InputError, match="no schema version .* is it a guideline file"):
        parse_guideline(data, "x.json")


def test_unknown_schema_version():
    raw = _small_v2()
    raw["metadata"]["schema"] = "3.0"
    with pytest.raises(InputError) as err:
        parse_guideline(json.dumps(raw).encode(), "x.json")
    assert err.value.message == "guideline 'x.json': unsupported schema version '3.0'"
    assert "2.0" in err.value.hint and "1.5" in err.value.hint


def test_schema_error_names_the_path():
    raw = _small_v2()
    raw["capabilities"]["cap-a"]["tests"] = 5
    with pytest.raises(InputError) as err:
        parse_guideline(json.dumps(raw).encode(), "x.json")
    assert err.value.message.startswith("guideline 'x.json': capabilities.cap-a.tests: 5 is not")


def test_platform_naming_an_unknown_component():
    raw = _small_v2()
    raw["platforms"]["OpenStack Powered Platform"]["components"].append({"name": "nope"})
    with pytest.raises(InputError, match="unknown component 'nope'"):
        parse_guideline(json.dumps(raw).encode(), "x.json")


def test_undefined_capability_is_dropped_with_a_warning(caplog):
    raw = _small_v2()
    raw["components"]["os_powered_compute"]["capabilities"]["required"].append("ghost")
    with caplog.at_level(logging.WARNING, logger="tcup.guidelines"):
        guideline = parse_guideline(json.dumps(raw).encode(), "x.json")
    assert "ghost" in caplog.text
    assert [c.name for c in guideline.target_capabilities("platform")] == ["cap-a", "cap-b"]


def test_unknown_status():
    guideline = parse_guideline(json.dumps(_small_v2()).encode(), "x.json")
    with pytest.raises(InputError, match="unknown capability status 'mandatory'"):
        guideline.target_capabilities("platform", ["mandatory"])


# --------------------------------------------------------- hand-built shapes


def _small_v2() -> dict:
    return {
        "metadata": {
            "id": "9999.01",
            "schema": "2.0",
            "os_trademark_approval": {"status": "draft"},
        },
        "platforms": {
            "OpenStack Powered Platform": {
                "components": [{"name": "os_powered_compute"}, {"name": "os_powered_storage"}]
            },
            "OpenStack Powered Storage": {"components": [{"name": "os_powered_storage"}]},
        },
        "components": {
            "os_powered_compute": {"capabilities": {"required": ["cap-a"], "advisory": ["cap-b"]}},
            "os_powered_storage": {"capabilities": {"required": [], "advisory": ["cap-a"]}},
        },
        "capabilities": {
            "cap-a": {"tests": {"t.A.test_a": {"idempotent_id": "id-aaaa"}}},
            "cap-b": {"tests": {"t.B.test_b": {"idempotent_id": "id-bbbb"}}},
        },
    }


def test_highest_priority_status_wins_across_components():
    guideline = parse_guideline(json.dumps(_small_v2()).encode(), "x.json")
    platform = guideline.target_capabilities("platform")
    assert [(c.name, c.status, c.component) for c in platform] == [
        ("cap-a", "required", "os_powered_compute"),
        ("cap-b", "advisory", "os_powered_compute"),
    ]
    storage = guideline.target_capabilities("storage")
    assert [(c.name, c.status) for c in storage] == [("cap-a", "advisory")]
    assert guideline.capabilities["cap-a"].statuses == {
        "os_powered_compute": "required",
        "os_powered_storage": "advisory",
    }


def _small_v1(schema: str) -> dict:
    return {
        "id": "2015.03",
        "schema": schema,
        "status": "approved",
        "platform": {"required": ["compute"]},
        "components": {"compute": {"required": ["cap-a"], "advisory": []}},
        "capabilities": {"cap-a": {"tests": {}}},
    }


def test_schema_1_2_tests_as_list_and_flagged_as_list():
    raw = _small_v1("1.2")
    raw["capabilities"]["cap-a"] = {
        "tests": ["t.A.test_1", "t.A.test_2"],
        "flagged": ["t.A.test_2"],
    }
    guideline = parse_guideline(json.dumps(raw).encode(), "old.json")
    tests = guideline.capabilities["cap-a"].tests
    assert [(t.name, t.flagged, t.idempotent_id) for t in tests] == [
        ("t.A.test_1", False, None),
        ("t.A.test_2", True, None),
    ]


def test_schema_1_3_flagged_list_with_test_dict():
    raw = _small_v1("1.3")
    raw["capabilities"]["cap-a"] = {
        "tests": {"t.A.test_1": {"idempotent_id": "id-1"}, "t.A.test_2": {"idempotent_id": "id-2"}},
        "flagged": ["t.A.test_1"],
    }
    guideline = parse_guideline(json.dumps(raw).encode(), "old.json")
    assert [t.flagged for t in guideline.capabilities["cap-a"].tests] == [True, False]


def test_flag_reason_and_aliases():
    raw = copy.deepcopy(_small_v2())
    raw["capabilities"]["cap-a"]["tests"]["t.A.test_a"].update(
        {"aliases": ["t.A.test_old"], "flagged": {"reason": "D404 bug 123", "date": "2020-01-01"}}
    )
    test = parse_guideline(json.dumps(raw).encode(), "x.json").capabilities["cap-a"].tests[0]
    assert test.flagged and test.flag_reason == "D404 bug 123"
    assert test.names == ("t.A.test_a", "t.A.test_old")


def test_with_add_ons_pairs_each_file_with_its_target() -> None:
    root = require_interop()
    main = load(root / "2020.06.json")
    dns = load(root / "add-ons" / "dns.2020.06.json")
    sources = with_add_ons(main, "object", [dns])
    assert [(g.id, t.name) for g, t in sources] == [
        ("2020.06", main.resolve_target("object").name),
        ("dns.2020.06", dns.targets[0].name),
    ]
    with pytest.raises(InputError, match="is not an add-on") as exc:
        with_add_ons(main, "object", [main])
    assert "--add-on" in (exc.value.hint or "")
