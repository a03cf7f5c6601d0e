"""Run exactly the planned tests with stestr, with live progress; keep the raw stream.

``stestr run --load-list FILE --concurrency N --subunit`` runs in the Tempest
workspace.  Its subunit v2 stdout is written byte for byte to
``results.subunit`` while python-subunit parses the same bytes for live
progress.  An interrupted (Ctrl-C) or crashed run still leaves the partial
stream on disk; :class:`ExecutionResult` says what happened and the caller
decides the exit code.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol, TextIO

import testtools
from subunit import ByteStreamToStreamResult

from tcup import settings
from tcup.errors import RunError

LOG = logging.getLogger(__name__)

FINAL = {"success", "fail", "skip", "xfail", "uxsuccess"}
PASSED = {"success", "xfail"}
FAILED = {"fail", "uxsuccess"}
_STOP_GRACE = 15.0


# ------------------------------------------------------------------ listing

TEST_LIST_DIRS = "TCUP_TEST_LIST_DIRS"


def list_tests(workspace: Path, cache: Path | None = None) -> list[str]:
    """Every test id ``stestr list`` reports in the workspace (with attributes).

    The list depends only on the installed Tempest and its plugins, so it is
    cached under ``cache`` keyed by their versions; discovery costs ~10 s.
    Read-only directories named in ``TCUP_TEST_LIST_DIRS`` (``os.pathsep``
    separated) are looked in too: the image ships the list of its own Tempest
    there, made at build time by container/seed-test-list.py.
    """
    key = _listing_key(workspace)
    cache_file = (cache or settings.cache_dir() / "stestr-list") / f"{key}.txt"
    seeded = [d for d in os.environ.get(TEST_LIST_DIRS, "").split(os.pathsep) if d]
    for candidate in [cache_file, *(Path(d) / f"{key}.txt" for d in seeded)]:
        if candidate.is_file():
            ids = candidate.read_text(encoding="utf-8").split()
            if ids:
                LOG.info("test list from %s (%d ids)", candidate, len(ids))
                return ids
    proc = subprocess.run(
        [_stestr(), "list"], cwd=workspace, capture_output=True, text=True, check=False
    )
    ids = [line.strip() for line in proc.stdout.splitlines() if _is_test_id(line.strip())]
    if proc.returncode != 0 or not ids:
        raise RunError(
            f"'stestr list' in the Tempest workspace {workspace} failed: "
            f"{_tail(proc.stderr or proc.stdout)}",
            hint="a Tempest plugin or test module may not import; run 'stestr list' there to see",
        )
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text("\n".join(ids) + "\n", encoding="utf-8")
    tmp.replace(cache_file)
    return ids


def _is_test_id(line: str) -> bool:
    return bool(line) and " " not in line and "." in line


def _listing_key(workspace: Path) -> str:
    from importlib import metadata

    parts = [(workspace / ".stestr.conf").read_text(encoding="utf-8", errors="replace")]
    for dist in ("tempest", "stestr"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{dist}={metadata.version(dist)}")
    for ep in sorted(metadata.entry_points(group="tempest.test_plugins"), key=lambda e: e.name):
        version = ep.dist.version if ep.dist else "?"
        parts.append(f"{ep.name}={ep.value}@{version}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


# ----------------------------------------------------------------- progress


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
        counted = not _is_fixture(test_id)
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
        counted = not _is_fixture(test_id)
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


def _is_fixture(test_id: str) -> bool:
    """``setUpClass (tempest.x.Y)``-style ids are class fixtures, not planned tests."""
    return " (" in test_id or test_id.startswith(("setUpClass", "tearDownClass"))


def _fixture_scope(test_id: str) -> str:
    """``setUpClass (tempest.api.x.Y)`` -> ``tempest.api.x.Y``."""
    start, end = test_id.find("("), test_id.rfind(")")
    return test_id[start + 1 : end].strip() if 0 <= start < end else ""


class _StreamEvents(testtools.StreamResult):
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


class _Tee:
    """A readable that copies every byte it hands out into ``sink`` (flushed)."""

    def __init__(self, source: IO[bytes], sink: IO[bytes]) -> None:
        self.source = source
        self.sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        if data:
            self.sink.write(data)
            if len(data) > 1 or data == b"\n":
                self.sink.flush()
        return data


# --------------------------------------------------------------- scheduling

#: per test class, how long it held its worker last time (set-up and tear-down included)
CLASS_TIMES = "tcup-class-times.json"


def test_class(test_id: str) -> str:
    """``a.b.C.test_x[id-...]`` -> ``a.b.C``: the unit stestr keeps on one worker."""
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


def class_times(stream: bytes) -> dict[str, float]:
    """How long each test class held its worker in a finished run's subunit stream.

    stestr's own scheduler balances workers by the tests' recorded durations,
    which leave out ``setUpClass`` and ``tearDownClass``: the token requests and
    the containers, users or servers a class makes and deletes.  On the Storage
    list those are about 2 s per class, a third of the run.  Here a class's
    time runs from the end of the previous class on the same worker (the
    first class of a worker: from its first test's start, plus the median
    gap) to the end of its last test.
    """
    import io

    spans: dict[tuple[str, str], list[datetime]] = {}

    class Spans(testtools.StreamResult):
        def status(self, test_id=None, test_status=None, timestamp=None, route_code=None, **kw):  # noqa: ANN001, ANN003, ANN202
            if not test_id or timestamp is None or _is_fixture(test_id):
                return
            if test_status == "inprogress" or test_status in FINAL:
                key = (route_code or "", test_class(test_id))
                first_last = spans.setdefault(key, [timestamp, timestamp])
                first_last[0] = min(first_last[0], timestamp)
                first_last[1] = max(first_last[1], timestamp)

    ByteStreamToStreamResult(io.BytesIO(stream), non_subunit_name="stdout").run(Spans())
    by_worker: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for (worker, cls), (first, last) in spans.items():
        by_worker.setdefault(worker, []).append((first, last, cls))
    times: dict[str, float] = {}
    gaps: list[float] = []
    firsts: list[tuple[str, float]] = []
    for entries in by_worker.values():
        entries.sort()
        for index, (first, last, cls) in enumerate(entries):
            if index == 0:
                firsts.append((cls, (last - first).total_seconds()))
                continue
            previous_end = entries[index - 1][1]
            times[cls] = max((last - previous_end).total_seconds(), 0.0)
            gaps.append(max((first - previous_end).total_seconds(), 0.0))
    gap = sorted(gaps)[len(gaps) // 2] if gaps else 0.0
    for cls, span in firsts:
        times[cls] = span + gap
    return times


def plan_workers(
    test_ids: Sequence[str], times: dict[str, float], concurrency: int
) -> list[list[str]] | None:
    """Test ids split into ``concurrency`` workers of about equal time (whole classes).

    Longest class first, each to the least loaded worker.  A class with no
    recorded time counts as the median one.  ``None`` when nothing is known
    (stestr's own scheduler is used then) or there is one worker.
    """
    classes: dict[str, list[str]] = {}
    for test_id in test_ids:
        classes.setdefault(test_class(test_id), []).append(test_id)
    known = sorted(times[c] for c in classes if c in times)
    if concurrency < 2 or not known:
        return None
    median = known[len(known) // 2]
    order = sorted(classes, key=lambda c: (-times.get(c, median), c))
    loads = [0.0] * concurrency
    workers: list[list[str]] = [[] for _ in range(concurrency)]
    for cls in order:
        lightest = loads.index(min(loads))
        loads[lightest] += times.get(cls, median)
        workers[lightest].extend(classes[cls])
    return [w for w in workers if w]


def write_worker_file(path: Path, workers: Sequence[Sequence[str]]) -> Path:
    """stestr's ``--worker-file``: one entry per worker, each an exact regex per test id."""
    import re

    import yaml

    groups = [{"worker": [f"^{re.escape(t)}$" for t in tests]} for tests in workers]
    path.write_text(yaml.safe_dump(groups, width=1 << 16), encoding="utf-8")
    return path


def _load_class_times(workspace: Path) -> dict[str, float]:
    import json

    try:
        data = json.loads((workspace / CLASS_TIMES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def _save_class_times(workspace: Path, stream_path: Path) -> None:
    """Remember this run's class times for the next run's schedule (best effort)."""
    import json

    try:
        fresh = class_times(stream_path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - a schedule hint must never fail a run
        LOG.info("no class times from %s: %s", stream_path, exc)
        return
    if not fresh:
        return
    times = {**_load_class_times(workspace), **fresh}
    tmp = workspace / (CLASS_TIMES + ".tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(times, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(workspace / CLASS_TIMES)


# ----------------------------------------------------------------- running


@dataclass
class ExecutionResult:
    """How the stestr run went; the stream itself is at ``subunit_path``."""

    subunit_path: Path
    load_list: Path
    planned: tuple[str, ...]
    returncode: int | None
    interrupted: bool
    started: datetime
    ended: datetime
    statuses: dict[str, str] = field(default_factory=dict)
    stderr_tail: str = ""

    @property
    def duration(self) -> float:
        return (self.ended - self.started).total_seconds()

    @property
    def tests_reported(self) -> int:
        """Planned tests that reported a final status (class fixtures not counted)."""
        return sum(1 for t in self.statuses if not _is_fixture(t))

    @property
    def unreported(self) -> tuple[str, ...]:
        """Planned tests with no result that no failed class/module fixture explains."""
        failed_scopes = [
            _fixture_scope(t) for t, s in self.statuses.items() if _is_fixture(t) and s in FAILED
        ]
        return tuple(
            t
            for t in self.planned
            if t not in self.statuses
            and not any(t.startswith(scope + ".") for scope in failed_scopes if scope)
        )

    @property
    def complete(self) -> bool:
        """The run ended on its own and every planned test reported (or its fixture failed)."""
        return self.failure_reason is None

    @property
    def failure_reason(self) -> str | None:
        if self.interrupted:
            return "interrupted"
        if self.returncode != 0:
            return f"stestr exited with {self.returncode}: {self.stderr_tail or 'no output'}"
        missing = self.unreported
        if missing:
            return (
                f"{len(missing)} of {len(self.planned)} planned tests never reported a result "
                f"(a test worker died?), first: {missing[0]}"
            )
        return None


def default_concurrency() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_load_list(path: Path, test_ids: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{t}\n" for t in test_ids), encoding="utf-8")
    return path


def execute(
    workspace: Path,
    test_ids: Sequence[str],
    subunit_path: Path,
    *,
    concurrency: int | None = None,
    test_timeout: int | None = None,
    progress: Progress | None = None,
    env: dict[str, str] | None = None,
    conf_name: str = "tempest.conf",
    load_list_name: str = "tcup-load-list.txt",
) -> ExecutionResult:
    """Run ``test_ids`` (full ids as ``stestr list`` prints them) in ``workspace``.

    Never raises for a failed or interrupted run: the partial stream is kept
    and the result says what happened.  Raises :class:`RunError` only when
    stestr cannot be started at all.
    """
    if not test_ids:
        raise RunError("there is no test to run", hint="check the guideline, target and add-ons")
    workspace = Path(workspace)
    load_list = write_load_list(workspace / load_list_name, test_ids)
    concurrency = concurrency or default_concurrency()
    cmd = [_stestr(), "run", "--load-list", str(load_list), "--subunit"]
    cmd += ["--serial"] if concurrency == 1 else ["--concurrency", str(concurrency)]
    workers = plan_workers(test_ids, _load_class_times(workspace), concurrency)
    if workers:
        worker_file = write_worker_file(workspace / "tcup-workers.yaml", workers)
        cmd += ["--worker-file", str(worker_file)]
    run_env = dict(os.environ if env is None else env)
    run_env["TEMPEST_CONFIG_DIR"] = str(workspace / "etc")
    run_env["TEMPEST_CONFIG"] = conf_name
    if test_timeout:
        run_env["OS_TEST_TIMEOUT"] = str(int(test_timeout))
    progress = progress or PlainProgress(open(os.devnull, "w"))  # noqa: SIM115
    events = _StreamEvents(progress)
    subunit_path.parent.mkdir(parents=True, exist_ok=True)
    LOG.info("running %d tests with concurrency %d", len(test_ids), concurrency)
    started = datetime.now(UTC)
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=workspace,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=run_env,
            start_new_session=True,
        )
    except OSError as exc:
        raise RunError(f"cannot start stestr: {exc.strerror}") from exc
    stderr_chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(proc.stderr, stderr_chunks), daemon=True)
    reader.start()
    interrupted = False
    progress.start(len(test_ids))
    try:
        with open(subunit_path, "wb") as raw:
            try:
                ByteStreamToStreamResult(_Tee(proc.stdout, raw), non_subunit_name="stdout").run(
                    events
                )
                proc.wait()
            except KeyboardInterrupt:
                interrupted = True
                _stop(proc)
                with contextlib.suppress(Exception):
                    raw.write(proc.stdout.read())
    finally:
        progress.finish()
        reader.join(timeout=5)
    ended = datetime.now(UTC)
    stderr = b"".join(stderr_chunks).decode("utf-8", errors="replace")
    result = ExecutionResult(
        subunit_path=subunit_path,
        load_list=load_list,
        planned=tuple(test_ids),
        returncode=proc.returncode,
        interrupted=interrupted,
        started=started,
        ended=ended,
        statuses=dict(events.statuses),
        stderr_tail=_tail(stderr),
    )
    if not result.complete:
        LOG.warning("test run incomplete: %s", result.failure_reason)
    elif concurrency > 1:
        _save_class_times(workspace, subunit_path)
    return result


def merge(first: ExecutionResult, again: ExecutionResult) -> ExecutionResult:
    """One result for a run and a second pass over some of its tests (same stream file).

    The second pass's statuses replace the first's; the run is incomplete if
    either pass was.
    """
    return ExecutionResult(
        subunit_path=first.subunit_path,
        load_list=first.load_list,
        planned=first.planned,
        returncode=first.returncode if first.returncode != 0 else again.returncode,
        interrupted=first.interrupted or again.interrupted,
        started=first.started,
        ended=again.ended,
        statuses={**first.statuses, **again.statuses},
        stderr_tail=again.stderr_tail or first.stderr_tail,
    )


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    for chunk in iter(lambda: stream.read(65536), b""):
        into.append(chunk)
        if sum(map(len, into)) > 1 << 20:
            del into[0]


def _stop(proc: subprocess.Popen) -> None:
    """Stop stestr and its workers: SIGINT, then SIGTERM, then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=_STOP_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue


def _stestr() -> str:
    here = Path(sys.executable).parent / "stestr"
    return str(here) if here.exists() else "stestr"


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in (text or "").strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)


def summary(result: ExecutionResult) -> dict[str, int]:
    """Counts by final status, for the manifest and logs."""
    out: dict[str, int] = {}
    for status in result.statuses.values():
        out[status] = out.get(status, 0) + 1
    return dict(sorted(out.items()))
