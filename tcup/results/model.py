"""The results model: every test of one run, as the subunit stream reported it.

When one name appears several times in a run (retries, merged streams), its
state is ``failed`` if any attempt failed (including an unexpected success or
an expected failure), else ``passed`` if any attempt passed, else
``skipped``.  The upload body is built from the same rule, so the report and
the upload always agree.  (refstack-client would upload a name that passed
once even if another attempt failed; we do not claim such a test.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from tcup.testids import TestStates, refstack_name, upload_uuid

Status = Literal["passed", "failed", "skipped", "xfail", "uxsuccess"]
State = Literal["passed", "failed", "skipped"]
Kind = Literal["test", "fixture"]

STATUS_FROM_SUBUNIT: dict[str, Status] = {
    "success": "passed",
    "fail": "failed",
    "skip": "skipped",
    "xfail": "xfail",
    "uxsuccess": "uxsuccess",
}
FIXTURE_ID = re.compile(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) \((.+)\)$")


def is_fixture_id(test_id: str) -> bool:
    """True for ``setUpClass (pkg.Class)`` style ids: errors of class/module fixtures."""
    return bool(FIXTURE_ID.match(test_id))


@dataclass(frozen=True)
class TestResult:
    """One test (or one class/module fixture error) as reported in the stream."""

    __test__ = False  # not a pytest test class

    test_id: str
    name: str
    uuid: str | None
    status: Status
    kind: Kind = "test"
    start: datetime | None = None
    stop: datetime | None = None
    duration: float | None = None
    tags: tuple[str, ...] = ()
    reason: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    worker: str | None = None  # the stream's route code (stestr worker); not in any file format

    @classmethod
    def create(
        cls,
        test_id: str,
        status: Status,
        start: datetime | None = None,
        stop: datetime | None = None,
        tags: Iterable[str] = (),
        reason: str | None = None,
        details: Mapping[str, str] | None = None,
        worker: str | None = None,
    ) -> TestResult:
        """Derive name, uuid, kind and duration from the id and timestamps."""
        fixture = is_fixture_id(test_id)
        duration = None
        if start is not None and stop is not None:
            duration = max(0.0, (stop - start).total_seconds())
        return cls(
            test_id=test_id,
            name=test_id if fixture else refstack_name(test_id),
            uuid=None if fixture else upload_uuid(test_id),
            status=status,
            kind="fixture" if fixture else "test",
            start=start,
            stop=stop,
            duration=duration,
            tags=tuple(sorted(tags)),
            reason=reason,
            details=dict(details or {}),
            worker=worker,
        )


@dataclass(frozen=True)
class RunResults:
    """Every test of one run, in stream order, and when the run started and ended."""

    tests: tuple[TestResult, ...]
    start: datetime | None = None
    end: datetime | None = None
    warnings: tuple[str, ...] = ()

    @property
    def fixtures(self) -> tuple[TestResult, ...]:
        """Class/module fixture errors (``setUpClass (...)``): never counted as tests."""
        return tuple(t for t in self.tests if t.kind == "fixture")

    def states(self) -> TestStates:
        """Per RefStack name: passed, failed or skipped (rule in the module doc).

        ``by_uuid`` of the answer says which names ran under each idempotent id.
        """
        states: dict[str, State] = {}
        uuids: dict[str, str | None] = {}
        for test in self.tests:
            if test.kind != "test":
                continue
            state: State
            if test.status == "passed":
                state = "passed"
            elif test.status == "skipped":
                state = "skipped"
            else:
                state = "failed"
            previous = states.get(test.name)
            if previous is None or _RANK[state] > _RANK[previous]:
                states[test.name] = state
            uuids[test.name] = uuids.get(test.name) or test.uuid
        return TestStates.build((name, uuids[name], state) for name, state in states.items())

    def counts(self) -> dict[str, int]:
        """Number of test entries per status, plus ``fixture_errors``."""
        counts = dict.fromkeys(STATUS_FROM_SUBUNIT.values(), 0)
        for test in self.tests:
            if test.kind == "test":
                counts[test.status] += 1
        counts["fixture_errors"] = len(self.fixtures)
        return counts


_RANK: dict[str, int] = {"skipped": 0, "passed": 1, "failed": 2}
