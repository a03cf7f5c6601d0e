"""Tests for tcup.progress: the live renderers, fed a real recorded stream."""

from __future__ import annotations

import io

from subunit import ByteStreamToStreamResult

from tcup import progress as progress_mod
from tcup.results import read_subunit
from tests.sample_workspace import RECORDED


def _replay(progress: progress_mod.Progress, total: int) -> progress_mod.StreamEvents:
    events = progress_mod.StreamEvents(progress)
    progress.start(total)
    with open(RECORDED, "rb") as fh:
        ByteStreamToStreamResult(fh, non_subunit_name="stdout").run(events)
    progress.finish()
    return events


def test_plain_progress_prints_one_line_per_test_and_a_summary() -> None:
    expected = read_subunit(RECORDED.read_bytes())
    tests = [t for t in expected.tests if t.kind == "test"]
    out = io.StringIO()
    progress = progress_mod.PlainProgress(out)
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
    progress = progress_mod.PlainProgress(out)
    _replay(progress, total=100)
    fixture_lines = [line for line in out.getvalue().splitlines() if "setUpClass (" in line]
    assert fixture_lines and all(" FAIL " in line for line in fixture_lines)
    expected = read_subunit(RECORDED.read_bytes())
    assert progress.counts.done == len([t for t in expected.tests if t.kind == "test"])


def test_rich_progress_prints_failures_as_they_happen() -> None:
    out = io.StringIO()
    progress = progress_mod.RichProgress(out)
    events = _replay(progress, total=20)
    text = out.getvalue()
    failed = [tid for tid, status in events.statuses.items() if status == "fail"]
    assert failed
    for test_id in failed:
        assert test_id in text
    assert "ran " in text and " failed" in text


def test_progress_for_picks_plain_when_not_a_terminal() -> None:
    assert isinstance(progress_mod.progress_for(io.StringIO()), progress_mod.PlainProgress)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_mod.progress_for(Tty()), progress_mod.RichProgress)
