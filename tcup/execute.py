"""Run exactly the planned tests with stestr, with live progress; keep the raw stream.

``stestr run --load-list FILE --concurrency N --subunit`` runs in the Tempest
workspace.  Its subunit v2 stdout is written byte for byte to
``results.subunit`` while python-subunit parses the same bytes once, for the
live progress (``tcup.progress``) and into the results model
(``ExecutionResult.results``) that the later stages use.  Workers are
balanced by the last run's class times (``tcup.schedule``); which ids to load
comes from ``tcup.listing``.  An interrupted (Ctrl-C) or crashed run still
leaves the partial stream on disk; :class:`ExecutionResult` says what
happened and the caller decides the exit code.
"""

from __future__ import annotations

import configparser
import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import testtools
from subunit import ByteStreamToStreamResult

from tcup import testloader
from tcup.errors import RunError
from tcup.listing import _stestr, _tail, list_tests  # noqa: F401 - list_tests: older callers
from tcup.progress import (  # noqa: F401 - re-exported for callers of the older module
    FAILED,
    PlainProgress,
    Progress,
    RichProgress,
    StreamEvents,
    fixture_scope,
    is_fixture,
    progress_for,
)
from tcup.results import RunResults, SubunitCollector, read_subunit
from tcup.schedule import load_class_times, plan_workers, save_class_times, write_worker_file

LOG = logging.getLogger(__name__)

_STOP_GRACE = 15.0


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
    #: the stream parsed into the results model while it was written (None: not parsed)
    results: RunResults | None = None

    @property
    def duration(self) -> float:
        return (self.ended - self.started).total_seconds()

    @property
    def tests_reported(self) -> int:
        """Planned tests that reported a final status (class fixtures not counted)."""
        return sum(1 for t in self.statuses if not is_fixture(t))

    @property
    def unreported(self) -> tuple[str, ...]:
        """Planned tests with no result that no failed class/module fixture explains."""
        failed_scopes = [
            fixture_scope(t) for t, s in self.statuses.items() if is_fixture(t) and s in FAILED
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
    repo: str | None = None,
) -> ExecutionResult:
    """Run ``test_ids`` (full ids as ``stestr list`` prints them) in ``workspace``.

    Never raises for a failed or interrupted run: the partial stream is kept
    and the result says what happened.  Raises :class:`RunError` only when
    stestr cannot be started at all.  ``repo`` (relative to the workspace):
    a stestr repository of its own, for a run beside another in the same
    workspace (stestr does not lock its repository).
    """
    if not test_ids:
        raise RunError("there is no test to run", hint="check the guideline, target and add-ons")
    workspace = Path(workspace)
    load_list = write_load_list(workspace / load_list_name, test_ids)
    concurrency = concurrency or default_concurrency()
    if repo:
        (workspace / repo).mkdir(exist_ok=True)  # stestr makes its .stestr inside
    cmd = [_stestr(), *(["--repo-url", repo] if repo else []), *_planned_only(workspace), "run"]
    cmd += ["--load-list", str(load_list), "--subunit"]
    cmd += ["--serial"] if concurrency == 1 else ["--concurrency", str(concurrency)]
    workers = plan_workers(test_ids, load_class_times(workspace), concurrency)
    if workers:
        worker_file = write_worker_file(workspace / "tcup-workers.yaml", workers)
        cmd += ["--worker-file", str(worker_file)]
    run_env = dict(os.environ if env is None else env)
    run_env["TEMPEST_CONFIG_DIR"] = str(workspace / "etc")
    run_env["TEMPEST_CONFIG"] = conf_name
    run_env[testloader.LOAD_LIST_ENV] = str(load_list)
    if test_timeout:
        run_env["OS_TEST_TIMEOUT"] = str(int(test_timeout))
    progress = progress or PlainProgress(open(os.devnull, "w"))  # noqa: SIM115
    events = StreamEvents(progress)
    collector = SubunitCollector()  # the results model, parsed once from the same bytes
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
    collector.startTestRun()
    try:
        with open(subunit_path, "wb") as raw:
            try:
                ByteStreamToStreamResult(_Tee(proc.stdout, raw), non_subunit_name="stdout").run(
                    testtools.CopyStreamResult([events, collector])
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
    if interrupted:  # the stream's tail was saved unparsed: read the whole file
        parsed = read_subunit(subunit_path.read_bytes(), str(subunit_path))
    else:
        collector.stopTestRun()
        parsed = collector.results()
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
        results=parsed,
    )
    if not result.complete:
        LOG.warning("test run incomplete: %s", result.failure_reason)
    elif concurrency > 1:
        save_class_times(workspace, parsed)
    return result


def _planned_only(workspace: Path) -> list[str]:
    """stestr options that make each worker import only the planned tests' modules
    (:mod:`tcup.testloader`) instead of discovering every Tempest and plugin test.

    Only for a workspace that discovers with Tempest's own ``test_discover`` (what
    ``tempest init`` writes): another test path keeps its own discovery."""
    parser = configparser.RawConfigParser()
    parser.read(workspace / ".stestr.conf", encoding="utf-8")
    test_path = parser.get("DEFAULT", "test_path", fallback="")
    if Path(test_path).parts[-2:] != ("tempest", "test_discover"):
        return []
    package = Path(testloader.__file__).resolve().parent
    return ["--test-path", str(package), "--top-dir", str(package.parent.parent)]


def merge(first: ExecutionResult, again: ExecutionResult) -> ExecutionResult:
    """One result for a run and a second pass (same stream file): over some of its
    tests, or over tests that ran beside it.

    The second pass's statuses replace the first's; the run is incomplete if
    either pass was.
    """
    return ExecutionResult(
        subunit_path=first.subunit_path,
        load_list=first.load_list,
        planned=tuple(dict.fromkeys(first.planned + again.planned)),
        returncode=first.returncode if first.returncode != 0 else again.returncode,
        interrupted=first.interrupted or again.interrupted,
        started=first.started,
        ended=again.ended,
        statuses={**first.statuses, **again.statuses},
        stderr_tail=again.stderr_tail or first.stderr_tail,
        results=_merge_results(first.results, again.results),
    )


def _merge_results(first: RunResults | None, again: RunResults | None) -> RunResults | None:
    """The model of two streams written one after the other into one file."""
    if first is None or again is None:
        return None
    starts = [t for t in (first.start, again.start) if t is not None]
    ends = [t for t in (first.end, again.end) if t is not None]
    return RunResults(
        tests=first.tests + again.tests,
        start=min(starts) if starts else None,
        end=max(ends) if ends else None,
        warnings=first.warnings + again.warnings,
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


def summary(result: ExecutionResult) -> dict[str, int]:
    """Counts by final status, for the manifest and logs."""
    out: dict[str, int] = {}
    for status in result.statuses.values():
        out[status] = out.get(status, 0) + 1
    return dict(sorted(out.items()))
