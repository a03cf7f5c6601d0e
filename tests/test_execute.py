"""Tests for tcup.execute: real stestr runs over the sample suite."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from tcup import execute
from tcup.listing import list_tests
from tcup.results import read_subunit
from tests.sample_workspace import make_workspace, quiet_env


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


_env = quiet_env


def test_execute_runs_exactly_the_list_and_keeps_the_raw_stream(
    workspace: Path, tmp_path: Path
) -> None:
    ids = list_tests(workspace, tmp_path / "cache")
    # AccountTest's setUpClass fails on purpose: its tests never report, which is
    # a test failure, not an incomplete run
    chosen = [i for i in ids if any(c in i for c in ("ContainerTest", "TokensV3Test", "AccountT"))]
    accounts = [i for i in chosen if "AccountTest" in i]
    assert accounts and 3 <= len(chosen) < len(ids)
    out = io.StringIO()
    subunit_path = tmp_path / "out" / "results.subunit"
    result = execute.execute(
        workspace,
        chosen,
        subunit_path,
        concurrency=2,
        progress=execute.PlainProgress(out),
        env=_env(),
    )
    assert result.complete and result.returncode == 0 and not result.interrupted
    assert result.unreported == ()
    parsed = read_subunit(subunit_path.read_bytes())
    ran = {t.test_id for t in parsed.tests if t.kind == "test"}
    assert ran == set(chosen) - set(accounts)
    assert any(t.kind == "fixture" and "AccountTest" in t.test_id for t in parsed.tests)
    assert (workspace / "tcup-load-list.txt").read_text().split() == chosen
    assert out.getvalue().splitlines()[-1].startswith(f"ran {len(ran)}/{len(chosen)}")


def test_ctrl_c_keeps_the_partial_stream(workspace: Path, tmp_path: Path) -> None:
    ids = list_tests(workspace, tmp_path / "cache")

    class Interrupting(execute.PlainProgress):
        def test_done(self, test_id: str, status: str, duration: float | None) -> None:
            super().test_done(test_id, status, duration)
            raise KeyboardInterrupt

    subunit_path = tmp_path / "results.subunit"
    result = execute.execute(
        workspace,
        ids,
        subunit_path,
        concurrency=1,
        progress=Interrupting(io.StringIO()),
        env=_env(),
    )
    assert result.interrupted and not result.complete
    assert result.failure_reason == "interrupted"
    partial = read_subunit(subunit_path.read_bytes())
    assert len([t for t in partial.tests]) >= 1


def test_a_crashing_run_is_reported_incomplete(workspace: Path, tmp_path: Path) -> None:
    suite_dir = Path((workspace / ".stestr.conf").read_text().split("test_path=")[1].split("\n")[0])
    (suite_dir / "test_crash.py").write_text(
        "import os\nimport unittest\n\n\nclass CrashTest(unittest.TestCase):\n"
        "    def test_crash(self):\n        os._exit(3)\n",
        encoding="utf-8",
    )
    ids = list_tests(workspace, tmp_path / "cache")
    crash = [i for i in ids if "CrashTest" in i]
    assert crash
    result = execute.execute(
        workspace, crash, tmp_path / "results.subunit", concurrency=1, env=_env()
    )
    assert not result.complete and not result.interrupted
    assert "never reported a result" in (result.failure_reason or "")
    assert result.unreported == tuple(crash)


def test_execute_refuses_an_empty_list(workspace: Path, tmp_path: Path) -> None:
    from tcup.errors import RunError

    with pytest.raises(RunError, match="no test"):
        execute.execute(workspace, [], tmp_path / "r.subunit")


def test_default_concurrency_is_the_cpu_count() -> None:
    assert execute.default_concurrency() == len(os.sched_getaffinity(0))


def test_stestr_comes_from_this_environment() -> None:
    assert Path(execute._stestr()).parent == Path(sys.executable).parent


def test_merge_takes_the_second_pass_statuses_and_its_troubles() -> None:
    from datetime import UTC, datetime

    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    first = execute.ExecutionResult(
        Path("r.subunit"), Path("l"), ("a", "b"), 0, False, t0, t0, {"a": "success", "b": "skip"}
    )
    again = execute.ExecutionResult(
        Path("x.subunit"), Path("l2"), ("b",), 0, False, t1, t1, {"b": "success"}
    )
    merged = execute.merge(first, again)
    assert merged.statuses == {"a": "success", "b": "success"} and merged.complete
    assert merged.subunit_path == Path("r.subunit") and merged.planned == ("a", "b")
    assert (merged.started, merged.ended) == (t0, t1)
    stopped = execute.ExecutionResult(Path("x.subunit"), Path("l2"), ("b",), -2, True, t1, t1, {})
    assert execute.merge(first, stopped).failure_reason == "interrupted"
