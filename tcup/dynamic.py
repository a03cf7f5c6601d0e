"""Tests that run with dynamic credentials on a pool of accounts tcup made.

Some Tempest tests skip themselves whenever dynamic credentials are off
(upstream bug 2147232 skips a required object-storage test that way).  With
``--accounts auto`` the admin's credentials are at hand, so such tests run
again with a copy of the configuration that turns dynamic credentials on
(``configure.dynamic_variant``); a pass there counts over the skip.

The first time, that second pass comes after the main run (:func:`rerun_skipped`).
The workspace then remembers which tests needed it (``KNOWN``, by name), and
the next run starts them with dynamic credentials beside the main run
(:func:`start_alongside`, :func:`join`), in a stestr repository of their own,
instead of after it.  The side run waits until the main run has its first
result (:meth:`Alongside.open`): its stestr, worker imports and dynamic
project and user would otherwise compete for the CPU with the main workers'
start, which every test waits for.  Both streams end up in ``results.subunit``;
``manifest.json`` lists these tests under ``rerun_dynamic``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tcup import configure as configure_mod
from tcup import execute as execute_mod
from tcup.errors import RunError

if TYPE_CHECKING:
    from tcup.cloud import Credentials
    from tcup.manifest import Manifest
    from tcup.progress import Progress

LOG = logging.getLogger(__name__)

#: names of the tests that needed dynamic credentials in this workspace
KNOWN = "tcup-dynamic-tests.json"
_REPO = ".stestr-dynamic"  # the side run's own stestr repository, in the workspace


def _name(test_id: str) -> str:
    return test_id.split("[", 1)[0]


def known(workspace: Path) -> set[str]:
    """Names of the tests that skipped on pre-provisioned accounts here before."""
    try:
        data = json.loads((Path(workspace) / KNOWN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {str(n) for n in data} if isinstance(data, list) else set()


def remember(workspace: Path, test_ids: Iterable[str]) -> None:
    """Add these tests to the workspace's memory (best effort)."""
    names = known(workspace) | {_name(t) for t in test_ids}
    if not names:
        return
    tmp = Path(workspace) / (KNOWN + ".tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(sorted(names), indent=1), encoding="utf-8")
        tmp.replace(Path(workspace) / KNOWN)


class NotStarted(RunError):
    """The side run was cancelled before it started (a RunError of a started one is not)."""


@dataclass
class Alongside:
    """Tests running with dynamic credentials on a thread, beside the main run."""

    ids: tuple[str, ...]  # as the main configuration lists them (left out of the main run)
    stream: Path
    future: Future
    executor: ThreadPoolExecutor
    #: set when the side run may start (the main run has begun, or is over)
    gate: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False

    def open(self) -> None:
        """Let the side run start (idempotent)."""
        self.gate.set()

    def cancel(self) -> None:
        """The main run could not start, or was interrupted: the side run never
        starts (one that has started runs on)."""
        self.cancelled = True
        self.gate.set()

    def close(self) -> None:
        """Wait until the side run has ended (however it ended)."""
        self.gate.set()
        self.executor.shutdown(wait=True)


def _dynamic_ids(
    configured: configure_mod.Configured, creds: Credentials, test_ids: Sequence[str]
) -> tuple[Path | None, list[str]]:
    """The dynamic-credentials configuration (``None``: Tempest cannot have one, see
    ``configure.dynamic_variant``) and ``test_ids`` as a run with it lists them (they can
    differ)."""
    dynamic_conf = configure_mod.dynamic_variant(configured, creds)
    if dynamic_conf is None:
        return None, []
    from tcup.listing import same_tests

    return dynamic_conf, same_tests(configured.workspace, test_ids, conf_name=dynamic_conf.name)


def _ran(result: execute_mod.ExecutionResult) -> list[str]:
    """The tests of a dynamic-credentials pass that ran (did not skip again)."""
    return [t for t in result.planned if result.statuses.get(t) not in (None, "skip")]


def start_alongside(
    configured: configure_mod.Configured,
    creds: Credentials,
    load_ids: Sequence[str],
    test_timeout: int | None,
    stdout: TextIO,
) -> Alongside | None:
    """Start the planned tests this workspace knows need dynamic credentials, if any."""
    names = known(configured.workspace)
    ours = [t for t in load_ids if _name(t) in names]
    if configured.mode != "auto-accounts" or not ours or len(ours) == len(load_ids):
        return None  # (with nothing else to run, they run on the main path)
    dynamic_conf, dynamic_ids = _dynamic_ids(configured, creds, ours)
    if dynamic_conf is None or not dynamic_ids:
        return None
    stream = configured.workspace / "tcup-dynamic.subunit"
    print(
        f"running {len(dynamic_ids)} test(s) with dynamic credentials beside the others "
        "(they skip on pre-provisioned accounts)",
        file=stdout,
    )
    executor = ThreadPoolExecutor(1, thread_name_prefix="tcup-dynamic")
    gate = threading.Event()
    alongside: Alongside

    def side_run() -> execute_mod.ExecutionResult:
        gate.wait()
        if alongside.cancelled:
            raise NotStarted("the main run did not start, or was interrupted")
        return execute_mod.execute(
            configured.workspace,
            dynamic_ids,
            stream,
            concurrency=1,
            test_timeout=test_timeout,
            conf_name=dynamic_conf.name,
            load_list_name="tcup-dynamic-list.txt",
            repo=_REPO,
        )

    alongside = Alongside(tuple(ours), stream, executor.submit(side_run), executor, gate)
    return alongside


class OpenOnFirstResult:
    """A :class:`~tcup.progress.Progress` that lets ``alongside`` start at the main
    run's first result, and passes every event on to ``inner``.  (A main run that
    reports nothing lets it start in :func:`join`, unless it was interrupted.)"""

    def __init__(self, inner: Progress, alongside: Alongside | None) -> None:
        self.inner = inner
        self.alongside = alongside

    def start(self, total: int) -> None:
        self.inner.start(total)

    def test_done(self, test_id: str, status: str, duration: float | None) -> None:
        if self.alongside is not None:
            self.alongside.open()
        self.inner.test_done(test_id, status, duration)

    def finish(self) -> None:
        self.inner.finish()


def join(
    alongside: Alongside | None,
    execution: execute_mod.ExecutionResult,
    manifest: Manifest,
    stdout: TextIO,
) -> execute_mod.ExecutionResult:
    """Wait for the tests beside the main run; their stream follows the main one.

    An interrupted main run cancels a side run that has not started yet: it
    then never starts, and the main run's result is returned as it is.
    """
    if alongside is None:
        return execution
    if execution.interrupted:
        alongside.cancel()  # (no effect on a side run that has started: it is waited for)
    alongside.open()  # (already open when the main run reported a result)
    try:
        again = alongside.future.result()
    except NotStarted:
        again = None  # cancelled before it started
    finally:
        alongside.close()
        _append(alongside.stream, execution.subunit_path)
    if again is None:
        return execution
    counts = ", ".join(f"{n} {s}" for s, n in execute_mod.summary(again).items())
    print(
        f"ran {len(again.planned)} with dynamic credentials: {counts or 'no result'}", file=stdout
    )
    manifest.rerun_dynamic += _ran(again)
    return execute_mod.merge(execution, again)


def rerun_skipped(
    configured: configure_mod.Configured,
    creds: Credentials,
    execution: execute_mod.ExecutionResult,
    test_timeout: int | None,
    manifest: Manifest,
    stdout: TextIO,
    alongside: Alongside | None = None,
) -> execute_mod.ExecutionResult:
    """Run the tests Tempest skipped on the accounts tcup made again, with dynamic credentials.

    Their second result is appended to ``results.subunit`` and, being better
    than a skip, is the one that counts.  Those that passed are remembered,
    so the next run starts them beside the main run.  Tests that already ran
    with dynamic credentials (``alongside``) are not run a third time.
    """
    done = set(alongside.ids) if alongside is not None else set()
    skipped = [
        t for t in execution.planned if execution.statuses.get(t) == "skip" and t not in done
    ]
    if configured.mode != "auto-accounts" or not skipped or not execution.complete:
        return execution
    dynamic_conf, again_ids = _dynamic_ids(configured, creds, skipped)
    if dynamic_conf is None:
        print(
            f"{len(skipped)} test(s) skipped on the test accounts cannot run again with dynamic "
            "credentials: Tempest needs the admin's user name and password for those",
            file=stdout,
        )
        return execution
    if not again_ids:
        return execution
    print(
        f"running the {len(again_ids)} skipped test(s) again with dynamic credentials",
        file=stdout,
    )
    stream = configured.workspace / "tcup-rerun.subunit"
    try:
        again = execute_mod.execute(
            configured.workspace,
            again_ids,
            stream,
            concurrency=1,
            test_timeout=test_timeout,
            progress=execute_mod.progress_for(stdout),
            conf_name=dynamic_conf.name,
            load_list_name="tcup-rerun-list.txt",
        )
    finally:
        _append(stream, execution.subunit_path)
    passed = _ran(again)
    manifest.rerun_dynamic += passed
    remember(configured.workspace, passed)
    return execute_mod.merge(execution, again)


def _append(stream: Path, into: Path) -> None:
    """Append a second pass's stream to the run's ``results.subunit`` and drop it."""
    if stream.is_file():
        with open(into, "ab") as merged:
            merged.write(stream.read_bytes())
        stream.unlink()
