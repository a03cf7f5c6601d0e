"""Tests for tcup.listing: the catalogue, the run's own listing, the plan matched onto it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from tcup import listing
from tcup.results import read_subunit
from tests.sample_workspace import RECORDED, REPO, make_workspace, quiet_env


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


def test_list_tests_runs_stestr_list_once_then_uses_the_cache(
    workspace: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ids = listing.list_tests(workspace, cache)
    assert any(i.startswith("tempest.api.object_storage.") for i in ids)
    recorded = read_subunit(RECORDED.read_bytes()).tests
    # the same suite, listed with full attributes (scenarios are expanded at run time)
    assert {t.test_id for t in recorded if t.kind == "test" and "(" not in t.test_id} <= set(ids)
    files = list(cache.iterdir())
    assert len(files) == 1
    files[0].write_text("tempest.cached.Only.test_x[id-1]\n", encoding="utf-8")
    assert listing.list_tests(workspace, cache) == ["tempest.cached.Only.test_x[id-1]"]


def test_a_seeded_list_dir_is_used_when_the_cache_misses(
    workspace: Path, tmp_path: Path, monkeypatch
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    key = listing._listing_key(workspace)
    (seeds / f"{key}.txt").write_text("tempest.seeded.Only.test_y[id-2]\n", encoding="utf-8")
    monkeypatch.setenv(listing.TEST_LIST_DIRS, f"{tmp_path / 'absent'}{os.pathsep}{seeds}")
    assert listing.list_tests(workspace, tmp_path / "empty-cache") == [
        "tempest.seeded.Only.test_y[id-2]"
    ]


def test_the_listing_key_changes_with_the_tempest_plugins(workspace: Path, monkeypatch) -> None:
    """A cached or seeded list made without the add-ons' plugins is never used with them."""
    from importlib import metadata

    installed = metadata.entry_points(group="tempest.test_plugins")
    assert {(e.name, e.dist.version) for e in installed} >= {
        ("designate", "0.30.0"),
        ("heat", "3.0.0"),
    }
    with_plugins = listing._listing_key(workspace)
    real = metadata.entry_points

    def without_heat(**kwargs):  # noqa: ANN003, ANN202
        found = real(**kwargs)
        if kwargs.get("group") == "tempest.test_plugins":
            return [e for e in found if e.name != "heat"]
        return found

    monkeypatch.setattr(metadata, "entry_points", without_heat)
    assert listing._listing_key(workspace) != with_plugins


def test_the_image_seed_script_names_its_list_by_tcups_key(workspace: Path) -> None:
    """container/seed-test-list.py runs where tcup is not installed; its key must match."""
    spec = importlib.util.spec_from_file_location("seed", REPO / "container" / "seed-test-list.py")
    seed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed)
    assert seed.listing_key(workspace) == listing._listing_key(workspace)


# ------------------------------------------- the run's listing follows its tempest.conf

CONF_SUITE = """
import os

import testtools
from testtools.testcase import WithAttributes, attr

# like Tempest's @decorators.attr(type="slow", condition=CONF.validation.run_validation)
_conf = os.path.join(
    os.environ.get("TEMPEST_CONFIG_DIR", "etc"), os.environ.get("TEMPEST_CONFIG", "tempest.conf")
)
_validation = os.path.exists(_conf) and "run_validation = True" in open(_conf).read()


class AttachTest(WithAttributes, testtools.TestCase):
    @attr("id-52e9045a-e90d-4c0d-9087-79d657faffff", *(["slow"] if _validation else []))
    def test_attach_detach_volume(self):
        pass

    @attr("id-aaaaaaaa-0000-4000-8000-000000000001")
    def test_create_recordset_type_A(self):
        pass
"""

GUIDELINE = {
    "metadata": {"id": "x", "schema": "2.0"},
    "platforms": {"OpenStack Powered Platform": {"components": [{"name": "c"}]}},
    "components": {"c": {"capabilities": {"required": ["cap"]}}},
    "capabilities": {
        "cap": {
            "tests": {
                "confsuite.test_conf.AttachTest.test_attach_detach_volume": {
                    "idempotent_id": "id-52e9045a-e90d-4c0d-9087-79d657faffff"
                },
                "confsuite.test_conf.AttachTest.test_create_all_recordset_types": {
                    "idempotent_id": "id-aaaaaaaa-0000-4000-8000-000000000001"
                },
                "confsuite.test_conf.AttachTest.test_gone": {
                    "idempotent_id": "id-bbbbbbbb-0000-4000-8000-000000000002"
                },
            }
        }
    },
}


@pytest.fixture
def conf_workspace(tmp_path: Path) -> Path:
    suite = tmp_path / "suite" / "confsuite"
    suite.mkdir(parents=True)
    (suite / "__init__.py").write_text("", encoding="utf-8")
    (suite / "test_conf.py").write_text(CONF_SUITE, encoding="utf-8")
    ws = tmp_path / "ws"
    (ws / "etc").mkdir(parents=True)
    (ws / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={suite}\ntop_dir={suite.parent}\n", encoding="utf-8"
    )
    subprocess.run([listing._stestr(), "init"], cwd=ws, check=True, capture_output=True)
    return ws


def _plan():
    from tcup.guidelines import parse_guideline
    from tcup.testlist import plan

    return plan(parse_guideline(json.dumps(GUIDELINE).encode(), "x.json"), "platform")


def test_the_load_list_comes_from_a_listing_made_with_the_runs_tempest_conf(
    conf_workspace: Path, tmp_path: Path
) -> None:
    """The `,slow` of test_attach_detach_volume depends on tempest.conf; the cache must too."""
    from tcup import execute

    cache = tmp_path / "cache"
    conf = conf_workspace / "etc" / "tempest.conf"
    conf.write_text("[validation]\nrun_validation = False\n", encoding="utf-8")
    off = listing.listing_for_plan(conf_workspace, _plan(), cache=cache)
    attach = "confsuite.test_conf.AttachTest.test_attach_detach_volume"
    assert f"{attach}[id-52e9045a-e90d-4c0d-9087-79d657faffff]" in off.matched_ids

    conf.write_text(
        "[validation]\nrun_validation = True\n[auth]\nadmin_password = s3cret\n", encoding="utf-8"
    )
    on = listing.listing_for_plan(conf_workspace, _plan(), cache=cache)
    assert f"{attach}[id-52e9045a-e90d-4c0d-9087-79d657faffff,slow]" in on.matched_ids
    assert len(list(cache.iterdir())) == 2  # one listing per configuration
    assert all("s3cret" not in p.name for p in cache.iterdir())

    # every id of the load list runs and reports: none is lost to a stale listing
    result = execute.execute(
        conf_workspace, on.matched_ids, tmp_path / "r.subunit", concurrency=1, env=quiet_env()
    )
    assert result.complete, result.failure_reason
    assert set(result.statuses) == set(on.matched_ids)


def test_a_renamed_test_is_matched_by_its_id_and_a_missing_one_is_named(
    conf_workspace: Path, tmp_path: Path
) -> None:
    (conf_workspace / "etc" / "tempest.conf").write_text("[DEFAULT]\n", encoding="utf-8")
    matched = listing.listing_for_plan(conf_workspace, _plan(), cache=tmp_path / "cache")
    renamed = "confsuite.test_conf.AttachTest.test_create_recordset_type_A"
    assert f"{renamed}[id-aaaaaaaa-0000-4000-8000-000000000001]" in matched.matched_ids
    assert matched.renamed == (
        ("confsuite.test_conf.AttachTest.test_create_all_recordset_types", renamed),
    )
    assert [t.name for t in matched.missing] == ["confsuite.test_conf.AttachTest.test_gone"]


def test_conf_digest_ignores_secret_values(tmp_path: Path) -> None:
    one, two = tmp_path / "one.conf", tmp_path / "two.conf"
    one.write_text("[auth]\nadmin_password = a\n[validation]\nrun_validation = True\n")
    two.write_text("[auth]\nadmin_password = b\n[validation]\nrun_validation = True\n")
    assert listing.conf_digest(one) == listing.conf_digest(two)
    two.write_text("[auth]\nadmin_password = b\n[validation]\nrun_validation = False\n")
    assert listing.conf_digest(one) != listing.conf_digest(two)


def test_a_second_pass_under_another_conf_loads_that_confs_ids(
    conf_workspace: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    etc = conf_workspace / "etc"
    (etc / "tempest.conf").write_text("[validation]\nrun_validation = False\n", encoding="utf-8")
    (etc / "tempest-dynamic.conf").write_text(
        "[validation]\nrun_validation = True\n", encoding="utf-8"
    )
    first = listing.listing_for_plan(conf_workspace, _plan(), cache=cache).matched_ids
    gone = "confsuite.test_conf.AttachTest.test_gone[id-bbbbbbbb-0000-4000-8000-000000000002]"
    again = listing.same_tests(
        conf_workspace, [*first, gone], conf_name="tempest-dynamic.conf", cache=cache
    )
    attach = "confsuite.test_conf.AttachTest.test_attach_detach_volume"
    assert f"{attach}[id-52e9045a-e90d-4c0d-9087-79d657faffff]" in first
    assert f"{attach}[id-52e9045a-e90d-4c0d-9087-79d657faffff,slow]" in again
    assert len(again) == len(first) and gone not in again
