"""Live progress of a test run: one line per test, or a bar on a terminal.

``StreamEvents`` turns the subunit status events of a running stream into
``Progress`` calls; ``progress_for`` picks the renderer for an output stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TextIO

import testtools

FINAL = {"success", "fail", "skip", "xfail", "uxsuccess"}
PASSED = {"success", "xfail"}
FAILED = {"fail", "uxsuccess"}


class Progress(Protocol):
    """Receives live events; implementations render them."""

    def start(self, total: int) -> None: ...
    def test_done(self, test_id: str, status: str, duration: float | None) -> None: ...
    def finish(self) -> None: ...


@dataclass
class Counts:
    total: int = 0
    done: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, status: str, counted: bool = True) -> None:
        if counted:
            self.done += 1
        if status in PASSED:
            self.passed += 1
        elif status in FAILED:
            self.failed += 1
        elif status == "skip":
            self.skipped += 1


def _eta(started: float, done: int, total: int) -> float | None:
    if done <= 0 or done >= total:
        return None
    return (time.monotonic() - started) / done * (total - done)


def _fmt_secs(secs: float | None) -> str:
    if secs is None:
        return "--:--"
    secs = int(secs)
    return (
        f"{secs // 60:d}:{secs % 60:02d}"
        if secs < 3600
        else f"{secs // 3600}h{secs // 60 % 60:02d}"
    )


class PlainProgress:
    """One line per finished test; for logs, pipes and CI."""

    LABELS = {
        "success": "ok",
        "fail": "FAIL",
        "skip": "skip",
        "xfail": "xfail",
        "uxsuccess": "UXPASS",
    }

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout
        self.counts = Counts()
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        self.counts = Counts(total=total)
        self.started = time.monotonic()
        print(f"running {total} tests", file=self.stdout, flush=True)

    def test_done(self, test_id: str, status: str, duration: float | None) -> None:
        counted = not is_fixture(test_id)
        self.counts.add(status, counted)
        c = self.counts
        width = len(str(c.total))
        took = f" ({duration:.1f}s)" if duration is not None else ""
        print(
            f"[{c.done:>{width}}/{c.total}] {self.LABELS.get(status, status):<6} {test_id}{took}"
            f"  eta {_fmt_secs(_eta(self.started, c.done, c.total))}",
            file=self.stdout,
            flush=True,
        )

    def finish(self) -> None:
        c = self.counts
        print(
            f"ran {c.done}/{c.total}: {c.passed} passed, {c.failed} failed, {c.skipped} skipped"
            f" in {_fmt_secs(time.monotonic() - self.started)}",
            file=self.stdout,
            flush=True,
        )


class RichProgress:
    """A live bar with counts, elapsed time and ETA; failures printed as they happen."""

    def __init__(self, stdout: TextIO) -> None:
        from rich.console import Console

        self.console = Console(file=stdout)
        self.counts = Counts()
        self._progress = None
        self._task = None

    def start(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.counts = Counts(total=total)
        self._progress = Progress(
            TextColumn("[bold]tempest"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[passed]} passed"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("[yellow]{task.fields[skipped]} skipped"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._progress.start()
        self._task = self._progress.add_task("tests", total=total, passed=0, failed=0, skipped=0)

    def test_done(self, test_id: str, status: str, duration: float | None) -> None:
        counted = not is_fixture(test_id)
        self.counts.add(status, counted)
        if self._progress is None:
            return
        if status in FAILED:
            from rich.text import Text

            line = Text.assemble(("FAIL ", "red"), test_id)
            self._progress.console.print(line, highlight=False, soft_wrap=True)
        c = self.counts
        self._progress.update(
            self._task, completed=c.done, passed=c.passed, failed=c.failed, skipped=c.skipped
        )

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        c = self.counts
        self.console.print(
            f"ran {c.done}/{c.total}: {c.passed} passed, {c.failed} failed, {c.skipped} skipped",
            highlight=False,
        )


def progress_for(stdout: TextIO) -> Progress:
    """A live bar on a terminal, one line per test otherwise."""
    isatty = getattr(stdout, "isatty", None)
    return RichProgress(stdout) if isatty and isatty() else PlainProgress(stdout)


def is_fixture(test_id: str) -> bool:
    """``setUpClass (tempest.x.Y)``-style ids are class fixtures, not planned tests."""
    return " (" in test_id or test_id.startswith(("setUpClass", "tearDownClass"))


def fixture_scope(test_id: str) -> str:
    """``setUpClass (tempest.api.x.Y)`` -> ``tempest.api.x.Y``."""
    start, end = test_id.find("("), test_id.rfind(")")
    return test_id[start + 1 : end].strip() if 0 <= start < end else ""


class StreamEvents(testtools.StreamResult):
    """Turns subunit status events into :class:`Progress` calls."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.started: dict[str, datetime] = {}
        self.statuses: dict[str, str] = {}

    def status(self, test_id=None, test_status=None, timestamp=None, **kwargs) -> None:  # noqa: ANN001
        if not test_id or not test_status:
            return
        if test_status == "inprogress":
            if timestamp is not None:
                self.started[test_id] = timestamp
            return
        if test_status not in FINAL:
            return
        began = self.started.pop(test_id, None)
        duration = (timestamp - began).total_seconds() if began and timestamp else None
        self.statuses[test_id] = test_status
        self.progress.test_done(test_id, test_status, duration)
