"""Live progress from a recorded real stream, and real stestr runs of a tiny suite."""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from subunit import ByteStreamToStreamResult

from tcup import execute
from tcup.results import read_subunit

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
RECORDED = FIXTURES / "sample-v2.subunit"  # written by python -m subunit.run (make_fixtures.py)


def _replay(progress: execute.Progress, total: int) -> execute._StreamEvents:
    events = execute._StreamEvents(progress)
    progress.start(total)
    with open(RECORDED, "rb") as fh:
        ByteStreamToStreamResult(fh, non_subunit_name="stdout").run(events)
    progress.finish()
    return events


def test_plain_progress_prints_one_line_per_test_and_a_summary() -> None:
    expected = read_subunit(RECORDED.read_bytes())
    tests = [t for t in expected.tests if t.kind == "test"]
    out = io.StringIO()
    progress = execute.PlainProgress(out)
    _replay(progress, total=len(tests))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"running {len(tests)} tests"
    body = [line for line in lines[1:-1]]
    assert len(body) == len(expected.tests)  # tests and class fixture errors
    failing = [t.test_id for t in expected.tests if t.status == "failed"]
    assert failing, "the recorded stream has failures on purpose"
    for test_id in failing:
        assert any(
            " FAIL " in line and line.rstrip().split("  eta")[0].find(test_id) > 0 for line in body
        ), test_id
    counts = expected.counts()
    assert lines[-1].startswith(
        f"ran {len(tests)}/{len(tests)}: {counts['passed'] + counts.get('xfail', 0)} passed"
    )
    assert progress.counts.done == len(tests)


def test_fixture_errors_are_reported_but_not_counted_as_done() -> None:
    out = io.StringIO()
    progress = execute.PlainProgress(out)
    _replay(progress, total=100)
    fixture_lines = [line for line in out.getvalue().splitlines() if "setUpClass (" in line]
    assert fixture_lines and all(" FAIL " in line for line in fixture_lines)
    expected = read_subunit(RECORDED.read_bytes())
    assert progress.counts.done == len([t for t in expected.tests if t.kind == "test"])


def test_rich_progress_prints_failures_as_they_happen() -> None:
    out = io.StringIO()
    progress = execute.RichProgress(out)
    events = _replay(progress, total=20)
    text = out.getvalue()
    failed = [tid for tid, status in events.statuses.items() if status == "fail"]
    assert failed
    for test_id in failed:
        assert test_id in text
    assert "ran " in text and " failed" in text


def test_progress_for_picks_plain_when_not_a_terminal() -> None:
    assert isinstance(execute.progress_for(io.StringIO()), execute.PlainProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(execute.progress_for(Tty()), execute.RichProgress)


# ---------------------------------------------------------- real stestr runs


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A stestr workspace over a copy of the sample suite (as ``tempest init`` would make)."""
    suite = tmp_path / "suite"
    shutil.copytree(FIXTURES / "sample_suite", suite / "sample_suite")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={suite / 'sample_suite'}\ntop_dir={suite}\n", encoding="utf-8"
    )
    subprocess.run([execute._stestr(), "init"], cwd=ws, check=True, capture_output=True)
    return ws


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_list_tests_runs_stestr_list_once_then_uses_the_cache(
    workspace: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ids = execute.list_tests(workspace, cache)
    assert any(i.startswith("tempest.api.object_storage.") for i in ids)
    recorded = read_subunit(RECORDED.read_bytes()).tests
    # the same suite, listed with full attributes (scenarios are expanded at run time)
    assert {t.test_id for t in recorded if t.kind == "test" and "(" not in t.test_id} <= set(ids)
    files = list(cache.iterdir())
    assert len(files) == 1
    files[0].write_text("tempest.cached.Only.test_x[id-1]\n", encoding="utf-8")
    assert execute.list_tests(workspace, cache) == ["tempest.cached.Only.test_x[id-1]"]


def test_a_seeded_list_dir_is_used_when_the_cache_misses(
    workspace: Path, tmp_path: Path, monkeypatch
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    key = execute._listing_key(workspace)
    (seeds / f"{key}.txt").write_text("tempest.seeded.Only.test_y[id-2]\n", encoding="utf-8")
    monkeypatch.setenv(execute.TEST_LIST_DIRS, f"{tmp_path / 'absent'}{os.pathsep}{seeds}")
    assert execute.list_tests(workspace, tmp_path / "empty-cache") == [
        "tempest.seeded.Only.test_y[id-2]"
    ]


def test_the_image_seed_script_names_its_list_by_tcups_key(workspace: Path) -> None:
    """container/seed-test-list.py runs where tcup is not installed; its key must match."""
    spec = importlib.util.spec_from_file_location("seed", REPO / "container" / "seed-test-list.py")
    seed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed)
    assert seed.listing_key(workspace) == execute._listing_key(workspace)


def test_execute_runs_exactly_the_list_and_keeps_the_raw_stream(
    workspace: Path, tmp_path: Path
) -> None:
    ids = execute.list_tests(workspace, tmp_path / "cache")
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
    ids = execute.list_tests(workspace, tmp_path / "cache")

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
    ids = execute.list_tests(workspace, tmp_path / "cache")
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


def _timed_stream(events: list[tuple[str, str, str, float]]) -> bytes:
    """A subunit v2 stream of (worker, test id, status, seconds) events."""
    from datetime import UTC, datetime, timedelta

    from subunit import StreamResultToBytes

    buf = io.BytesIO()
    writer = StreamResultToBytes(buf)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for worker, test_id, status, at in events:
        writer.status(
            test_id=test_id,
            test_status=status,
            route_code=worker,
            timestamp=t0 + timedelta(seconds=at),
        )
    return buf.getvalue()


def test_class_times_count_set_up_and_tear_down_between_classes() -> None:
    stream = _timed_stream(
        [
            ("0", "p.A.test_1[id-1]", "inprogress", 1.0),
            ("0", "p.A.test_1[id-1]", "success", 2.0),
            ("0", "p.A.test_2[id-2]", "inprogress", 2.0),
            ("0", "p.A.test_2[id-2]", "success", 3.0),
            # B's set-up and A's tear-down: 3 s in which no test of B runs yet
            ("0", "p.B.test_1[id-3]", "inprogress", 6.0),
            ("0", "p.B.test_1[id-3]", "success", 7.0),
            ("1", "p.C.test_1[id-4]", "inprogress", 0.5),
            ("1", "p.C.test_1[id-4]", "skip", 10.5),
        ]
    )
    times = execute.class_times(stream)
    assert times["p.B"] == pytest.approx(4.0)  # from A's end to B's end
    assert times["p.A"] == pytest.approx(2.0 + 3.0)  # its span plus the median gap
    assert times["p.C"] == pytest.approx(10.0 + 3.0)


def test_plan_workers_balances_whole_classes_by_time() -> None:
    ids = [f"p.{c}.test_{n}[id-{c}{n}]" for c in "ABCDE" for n in range(3)]
    times = {"p.A": 12.0, "p.B": 6.0, "p.C": 5.0, "p.D": 2.0}  # E unknown: the median, 6
    workers = execute.plan_workers(ids, times, 2)
    assert workers is not None and sorted(sum(workers, [])) == sorted(ids)
    by_class = [{execute.test_class(t) for t in w} for w in workers]
    assert by_class == [{"p.A", "p.C"}, {"p.B", "p.E", "p.D"}]  # 17 s against 14 s
    assert execute.plan_workers(ids, {}, 2) is None  # no history: stestr's own scheduler
    assert execute.plan_workers(ids, times, 1) is None


def test_worker_file_selects_exactly_each_workers_tests(tmp_path: Path) -> None:
    import yaml
    from stestr import selection

    ids = ["p.A.test_1[id-1,smoke]", "p.A.test_10[id-10]", "p.B.test_1[id-3]"]
    path = execute.write_worker_file(tmp_path / "w.yaml", [[ids[0]], ids[1:]])
    groups = yaml.safe_load(path.read_text())
    assert [selection.filter_tests(g["worker"], ids) for g in groups] == [[ids[0]], ids[1:]]
