"""Split a test list over stestr workers by each test class's whole time.

stestr's own scheduler balances workers by the tests' recorded durations,
which leave out ``setUpClass`` and ``tearDownClass``: the token requests and
the containers, users or servers a class makes and deletes.  On the Storage
list those are about 2 s per class, a third of the run.  Here each finished
run records how long every class held its worker (``CLASS_TIMES`` in the
workspace), and the next run's workers get whole classes, longest first, each
to the least loaded worker (stestr's ``--worker-file``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import yaml

from tcup.results import RunResults

LOG = logging.getLogger(__name__)

#: per test class, how long it held its worker last time (set-up and tear-down included)
CLASS_TIMES = "tcup-class-times.json"


def test_class(test_id: str) -> str:
    """``a.b.C.test_x[id-...]`` -> ``a.b.C``: the unit stestr keeps on one worker."""
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


test_class.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def class_times(results: RunResults) -> dict[str, float]:
    """How long each test class held its worker in a finished run.

    A class's time runs from the end of the previous class on the same worker
    (the first class of a worker: from its first test's start, plus the
    median gap) to the end of its last test.
    """
    spans: dict[tuple[str, str], list[datetime]] = {}
    for test in results.tests:
        if test.kind != "test":
            continue
        stamps = [t for t in (test.start, test.stop) if t is not None]
        if not stamps:
            continue
        key = (test.worker or "", test_class(test.test_id))
        first_last = spans.setdefault(key, [min(stamps), max(stamps)])
        first_last[0] = min(first_last[0], *stamps)
        first_last[1] = max(first_last[1], *stamps)
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
    groups = [{"worker": [f"^{re.escape(t)}$" for t in tests]} for tests in workers]
    path.write_text(yaml.safe_dump(groups, width=1 << 16), encoding="utf-8")
    return path


def load_class_times(workspace: Path) -> dict[str, float]:
    """The class times recorded in ``workspace`` (empty when none or unreadable)."""
    try:
        data = json.loads((workspace / CLASS_TIMES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def save_class_times(workspace: Path, results: RunResults) -> None:
    """Remember this run's class times for the next run's schedule (best effort)."""
    fresh = class_times(results)
    if not fresh:
        return
    times = {**load_class_times(workspace), **fresh}
    tmp = workspace / (CLASS_TIMES + ".tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(times, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(workspace / CLASS_TIMES)
