"""tcup.testloader: each stestr worker imports only the modules of the planned tests,
and falls back to Tempest's full discovery rather than lose a planned test."""

from __future__ import annotations

import sys
import textwrap
import unittest
from pathlib import Path

import pytest

from tcup import testloader


@pytest.fixture
def tests_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package ``pkg_tl`` with three test modules; ``pkg_tl.test_c`` counts its imports."""
    package = tmp_path / "pkg_tl"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("a", "b"):
        (package / f"test_{name}.py").write_text(
            textwrap.dedent(f"""
                import unittest

                class T{name.upper()}(unittest.TestCase):
                    def test_one(self):
                        pass

                    def test_two(self):
                        pass
            """)
        )
    (package / "test_c.py").write_text("raise RuntimeError('test_c must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m == "pkg_tl" or m.startswith("pkg_tl.")]:
        del sys.modules[name]


def test_module_of_strips_class_method_and_attributes() -> None:
    assert (
        testloader.module_of("tempest.api.object_storage.test_x.ObjectTest.test_get[id-1,smoke]")
        == "tempest.api.object_storage.test_x"
    )
    gabbi = "heat_tempest_plugin.tests.api.test_heat_api.stacks.test_request"
    assert testloader.module_of(gabbi) == "heat_tempest_plugin.tests.api.test_heat_api"


def test_only_the_planned_modules_are_imported(tests_package: Path) -> None:
    planned = ["pkg_tl.test_a.TA.test_one", "pkg_tl.test_b.TB.test_two"]
    suite = testloader.load_planned(unittest.TestLoader(), planned)
    assert suite is not None
    # the whole modules load (the load list picks the tests); test_c is never imported
    assert testloader.test_ids(suite) == {
        "pkg_tl.test_a.TA.test_one",
        "pkg_tl.test_a.TA.test_two",
        "pkg_tl.test_b.TB.test_one",
        "pkg_tl.test_b.TB.test_two",
    }
    assert "pkg_tl.test_c" not in sys.modules


@pytest.mark.parametrize(
    "missing",
    ["pkg_tl.test_a.TA.test_three", "pkg_tl.test_gone.TG.test_one", "pkg_tl.test_c.TC.test_one"],
)
def test_a_planned_test_the_modules_do_not_give_means_full_discovery(
    tests_package: Path, missing: str
) -> None:
    loader = unittest.TestLoader()
    assert testloader.load_planned(loader, ["pkg_tl.test_a.TA.test_one", missing]) is None
    assert loader.errors == []  # the fallback discovery reports its own errors


def test_load_tests_reads_the_load_list_named_in_the_environment(
    tests_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_list = tmp_path / "load-list.txt"
    load_list.write_text("pkg_tl.test_b.TB.test_one\n\n")
    monkeypatch.setenv(testloader.LOAD_LIST_ENV, str(load_list))
    suite = testloader.load_tests(unittest.TestLoader(), unittest.TestSuite(), None)
    assert testloader.test_ids(suite) == {"pkg_tl.test_b.TB.test_one", "pkg_tl.test_b.TB.test_two"}


def test_a_tempest_workspace_runs_its_workers_on_the_narrow_loader(tmp_path: Path) -> None:
    from tcup import execute

    site = tmp_path / "site-packages"
    (tmp_path / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path = {site / 'tempest' / 'test_discover'}\n"
        f"top_dir = {site / 'tempest'}\ngroup_regex = ([^\\.]*\\.)*\n"
    )
    options = execute._planned_only(tmp_path)
    path = Path(options[options.index("--test-path") + 1])
    top = Path(options[options.index("--top-dir") + 1])
    assert (path / "__init__.py").is_file() and path.is_relative_to(top)
    assert ".".join(path.relative_to(top).parts) == "tcup.testloader"


def test_another_test_path_keeps_its_own_discovery(tmp_path: Path) -> None:
    from tcup import execute

    (tmp_path / ".stestr.conf").write_text("[DEFAULT]\ntest_path = ./suite\ntop_dir = ./\n")
    assert execute._planned_only(tmp_path) == []
