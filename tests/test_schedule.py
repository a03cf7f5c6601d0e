"""Tests for tcup.schedule: class times from a run's results, balanced workers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tcup import schedule
from tcup.results import read_subunit


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
    times = schedule.class_times(read_subunit(stream))
    assert times["p.B"] == pytest.approx(4.0)  # from A's end to B's end
    assert times["p.A"] == pytest.approx(2.0 + 3.0)  # its span plus the median gap
    assert times["p.C"] == pytest.approx(10.0 + 3.0)


def test_plan_workers_balances_whole_classes_by_time() -> None:
    ids = [f"p.{c}.test_{n}[id-{c}{n}]" for c in "ABCDE" for n in range(3)]
    times = {"p.A": 12.0, "p.B": 6.0, "p.C": 5.0, "p.D": 2.0}  # E unknown: the median, 6
    workers = schedule.plan_workers(ids, times, 2)
    assert workers is not None and sorted(sum(workers, [])) == sorted(ids)
    by_class = [{schedule.test_class(t) for t in w} for w in workers]
    assert by_class == [{"p.A", "p.C"}, {"p.B", "p.E", "p.D"}]  # 17 s against 14 s
    assert schedule.plan_workers(ids, {}, 2) is None  # no history: stestr's own scheduler
    assert schedule.plan_workers(ids, times, 1) is None


def test_worker_file_selects_exactly_each_workers_tests(tmp_path: Path) -> None:
    import yaml
    from stestr import selection

    ids = ["p.A.test_1[id-1,smoke]", "p.A.test_10[id-10]", "p.B.test_1[id-3]"]
    path = schedule.write_worker_file(tmp_path / "w.yaml", [[ids[0]], ids[1:]])
    groups = yaml.safe_load(path.read_text())
    assert [selection.filter_tests(g["worker"], ids) for g in groups] == [[ids[0]], ids[1:]]
