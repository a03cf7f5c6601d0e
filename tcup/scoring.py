"""Score a run against a guideline: per-capability outcome and the verdict.

Pure: no I/O.  ``states`` maps RefStack-normalised test names (dotted name,
no ``[...]`` groups, a trailing scenario suffix ``(...)`` kept) to a
``TestState``; a test absent from it counts as "not run".

Rules, as the RefStack report page applies them (protocol doc section 7):

* a test passes when its name or one of its aliases passed, or, when
  ``states`` knows idempotent ids (``tcup.testids.TestStates``), a test that
  ran under its idempotent id with another name (renamed upstream) passed;
* a test this Tempest has under no name, alias or id is "not in tempest"
  (``tcup run`` knows; a results file alone cannot tell);
* a capability passes when every non-flagged test of it passed (flagged tests
  are excused); it is "not run" when none of its tests was run at all;
* each programme has its own verdict: the target ("OpenStack Powered
  Platform") qualifies when every required capability of the target passed,
  and each add-on (DNS, Orchestration ...) when every required capability of
  that add-on's own target passed;
* the run as a whole qualifies when every programme does (the target's and
  each add-on's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar, overload

from tcup.guidelines import (
    POWERED_PREFIX,
    STATUSES,
    ComponentRef,
    Guideline,
    GuidelineTest,
    Target,
    TargetCapability,
    TargetKind,
    with_add_ons,
)
from tcup.testids import NOT_IN_TEMPEST, TestStates, names_for_uuid

TestState = Literal["passed", "failed", "skipped", "not run", "not in tempest"]
CapabilityOutcome = Literal["passed", "failed", "not run", "not in tempest"]

_T = TypeVar("_T")


class cached_property(Generic[_T]):  # noqa: N801 - named as the functools one it stands for
    """``functools.cached_property`` without its lock (Python 3.11 takes one on every first
    read, which costs more than the counts it guards; 3.12 dropped it too).

    Computed on the first read and kept in the instance's ``__dict__``, which later reads
    find before this descriptor; a frozen dataclass's fields are never written this way.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@dataclass(frozen=True)
class TestScore:
    __test__ = False  # not a pytest test class
    name: str  # plain dotted name as in the guideline
    idempotent_id: str | None  # as written in the guideline ("id-<uuid>" or bare uuid)
    flagged: bool
    flag_reason: str | None
    state: TestState  # passed if the name or one of its aliases passed
    passed_as: str | None  # the alias name that passed, when not the name itself
    ran_as: str | None = None  # the name Tempest ran it under, found by its idempotent id

    @property
    def passed(self) -> bool:
        return self.state == "passed"

    @property
    def is_missing(self) -> bool:
        """Counts against its capability: not flagged and not passed."""
        return not self.flagged and not self.passed


@dataclass(frozen=True)
class CapabilityScore:
    name: str
    status: str  # required | advisory | deprecated | removed
    component: str  # guideline component (os_powered_storage, compute, os_powered_dns ...)
    outcome: CapabilityOutcome  # passed: every non-flagged test passed; not run: none ran
    tests: tuple[TestScore, ...]
    guideline_id: str = ""  # the guideline or add-on it comes from

    # Counts are read many times (report, summaries): each is computed once (a score is frozen).
    @cached_property
    def passed_count(self) -> int:
        return sum(1 for t in self.tests if t.passed)

    @property
    def total(self) -> int:
        return len(self.tests)

    @cached_property
    def flagged_count(self) -> int:
        return sum(1 for t in self.tests if t.flagged)

    @cached_property
    def failed_tests(self) -> tuple[TestScore, ...]:
        """Non-flagged tests that did not pass (failed, skipped or not run)."""
        return tuple([t for t in self.tests if not t.flagged and not t.passed])

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def _required(capabilities: Iterable[CapabilityScore]) -> tuple[CapabilityScore, ...]:
    return tuple(c for c in capabilities if c.status == "required")


#: what a run says of a platform component an add-on requires
RequirementState = Literal["passed", "failed", "not tested"]


@dataclass(frozen=True)
class Requirement:
    """A platform component an add-on's mark requires (``required_platform_components``),
    as this run tested it: every required capability of the component passed, some
    did not (``missing``), or the run's target and guideline do not cover it."""

    component: str  # "os_powered_compute"
    guideline: str | None  # "2020.06"
    title: str  # "OpenStack Powered Compute"
    state: RequirementState
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProgrammeScore:
    """The verdict of one programme: the target's, or one add-on's.

    A programme qualifies when every one of its own required capabilities
    passed (flagged tests excused).  An add-on also requires platform
    components (``requires``): when the run tested one and a required
    capability of it did not pass, the add-on does not qualify either; one the
    run did not test is a condition its verdict states, not a failure.
    """

    guideline_id: str  # "2020.06" for the target, "dns.2020.06" for an add-on
    guideline_sha256: str
    target: str  # "OpenStack Powered Platform" / "platform" (1.x); an add-on's "DNS"
    kind: TargetKind  # "platform" (a platform guideline's target) or "add-on"
    capabilities: tuple[CapabilityScore, ...]  # this programme's only, required first
    requires: tuple[Requirement, ...] = ()

    @cached_property
    def required(self) -> tuple[CapabilityScore, ...]:
        return _required(self.capabilities)

    @cached_property
    def missing_required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.required if not c.passed)

    @property
    def qualifies(self) -> bool:
        return not self.missing_required and not self.failed_requirements

    @property
    def failed_requirements(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requires if r.state == "failed")

    @property
    def untested_requirements(self) -> tuple[Requirement, ...]:
        return tuple(r for r in self.requires if r.state == "not tested")

    @property
    def required_passed(self) -> int:
        return sum(1 for c in self.required if c.passed)

    @property
    def required_total(self) -> int:
        return len(self.required)


@dataclass(frozen=True)
class Score:
    guideline_id: str  # e.g. "2020.06", "dns.2020.06"
    guideline_sha256: str
    schema: str
    target: str  # canonical target name, e.g. "OpenStack Powered Storage" / "platform"
    add_ons: tuple[str, ...]
    capabilities: tuple[CapabilityScore, ...]  # all statuses, required first
    qualifies: bool  # every programme qualifies: the target's and each add-on's
    missing_required: tuple[str, ...]  # required capabilities that did not pass (any programme)
    #: the target's programme first, then one per add-on in ``add_ons`` order
    programmes: tuple[ProgrammeScore, ...] = ()

    def __post_init__(self) -> None:
        if not self.programmes:  # built by hand (tests): every capability is the target's
            whole = ProgrammeScore(
                guideline_id=self.guideline_id,
                guideline_sha256=self.guideline_sha256,
                target=self.target,
                kind="platform",
                capabilities=self.capabilities,
            )
            object.__setattr__(self, "programmes", (whole,))

    @property
    def target_programme(self) -> ProgrammeScore:
        return self.programmes[0]

    @property
    def add_on_programmes(self) -> tuple[ProgrammeScore, ...]:
        return self.programmes[1:]

    def by_status(self, status: str) -> tuple[CapabilityScore, ...]:
        return tuple(c for c in self.capabilities if c.status == status)

    @cached_property
    def required(self) -> tuple[CapabilityScore, ...]:
        return self.by_status("required")

    @property
    def required_passed(self) -> int:
        return sum(1 for c in self.required if c.passed)

    @property
    def required_total(self) -> int:
        return len(self.required)

    @property
    def required_tests_passed(self) -> int:
        return sum(c.passed_count for c in self.required)

    @property
    def required_tests_total(self) -> int:
        return sum(c.total for c in self.required)

    @property
    def tests_passed(self) -> int:
        return sum(c.passed_count for c in self.capabilities)

    @property
    def tests_total(self) -> int:
        return sum(c.total for c in self.capabilities)

    @property
    def flagged_total(self) -> int:
        return sum(c.flagged_count for c in self.capabilities)


def score(
    guideline: Guideline,
    target: str,
    states: Mapping[str, TestState],
    add_ons: Sequence[Guideline] = (),
) -> Score:
    """Score ``states`` against ``guideline`` for ``target`` and each add-on's own target.

    ``add_ons`` are add-on guidelines (``dns.2020.06`` ...).  Each programme
    (the target, each add-on) gets its own verdict from its own required
    capabilities; the run qualifies when all of them do.
    """
    sources = with_add_ons(guideline, target, add_ons)
    programmes = []
    for source, tgt in sources:
        scored = [
            _all_passed(cap, source)
            if _passed_all(cap, states)
            else _score_capability(cap, states, source.id)
            for cap in source.target_capabilities(tgt, STATUSES)
        ]
        scored.sort(key=lambda c: STATUSES.index(c.status))
        main = programmes[0] if programmes else None
        programmes.append(
            ProgrammeScore(
                guideline_id=source.id,
                guideline_sha256=source.sha256,
                target=tgt.name,
                kind=tgt.kind,  # "add-on" also when an add-on file is scored alone
                capabilities=tuple(scored),
                requires=tuple(
                    _requirement(ref, guideline, sources[0][1], main) for ref in tgt.requires
                ),
            )
        )
    capabilities = [c for p in programmes for c in p.capabilities]
    capabilities.sort(key=lambda c: STATUSES.index(c.status))
    missing = tuple(c.name for c in capabilities if c.status == "required" and not c.passed)
    return Score(
        guideline_id=guideline.id,
        guideline_sha256=guideline.sha256,
        schema=guideline.schema,
        target=sources[0][1].name,
        add_ons=tuple(a.id for a in add_ons),
        capabilities=tuple(capabilities),
        qualifies=all(p.qualifies for p in programmes),
        missing_required=missing,
        programmes=tuple(programmes),
    )


def _requirement(
    ref: ComponentRef, guideline: Guideline, target: Target, main: ProgrammeScore | None
) -> Requirement:
    """How this run met one platform component an add-on requires.

    Tested means the run's guideline is the one the add-on names and the run's
    target includes the component; the component's required capabilities are
    then judged by the target's own scores.
    """
    title = next(
        (t.name for t in guideline.targets if t.kind == "platform" and t.components == (ref.name,)),
        POWERED_PREFIX + ref.name.removeprefix("os_powered_").replace("_", " ").title(),
    )
    tested = (
        main is not None
        and main.kind == "platform"
        and ref.name in target.components
        and (ref.guideline is None or ref.guideline == guideline.id)
    )
    if not tested:
        return Requirement(ref.name, ref.guideline, title, "not tested")
    assert main is not None
    wanted = set(guideline.components.get(ref.name, {}).get("required", ()))
    missing = tuple(c.name for c in main.capabilities if c.name in wanted and not c.passed)
    return Requirement(ref.name, ref.guideline, title, "failed" if missing else "passed", missing)


def score_run(
    guideline: Guideline,
    target: str | Target | None,
    states: Mapping[str, TestState],
    add_ons: Sequence[Guideline] = (),
    *,
    not_run: Iterable[str] = (),
    not_in_tempest: Iterable[str] = (),
) -> Score:
    """Score one run: the one function ``tcup run``, ``tcup report`` and the server call.

    ``target`` None means the guideline's default target; names in ``not_run``
    (tests of services the cloud lacks) count as not run whatever ``states`` says;
    names in ``not_in_tempest`` (planned tests the run's Tempest lacks, as the
    manifest records them) that did not run are "not in tempest".
    The verdict line is ``tcup.report.verdict(score)``.
    """
    run_states = TestStates(states, getattr(states, "by_uuid", None))
    for name in not_in_tempest:
        run_states.setdefault(name, NOT_IN_TEMPEST)
    run_states = run_states.without(not_run)
    return score(guideline, target or guideline.default_target, run_states, add_ons)


_RANK: dict[str, int] = {
    "passed": 0,
    "failed": 1,
    "skipped": 2,
    "not in tempest": 3,
    "not run": 4,
}


@lru_cache(maxsize=16384)
def _passed(test: GuidelineTest) -> TestScore:
    """The score of ``test`` passed under the guideline's own name.

    It depends on nothing but the (frozen) test, so each test's is made once and
    shared by every run that passed it (a few guidelines' tests fit the cache).
    """
    return TestScore(
        name=test.name,
        idempotent_id=test.idempotent_id,
        flagged=test.flagged,
        flag_reason=test.flag_reason,
        state="passed",
        passed_as=None,
    )


def _passed_all(cap: TargetCapability, states: Mapping[str, TestState]) -> bool:
    """Every test of ``cap`` passed under the guideline's own name (most capabilities)."""
    return all(states.get(t.name) == "passed" for t in cap.tests)


# (guideline sha256 and id, capability, status, component) -> its score when every test passed
_ALL_PASSED: dict[tuple[str, str, str, str, str], CapabilityScore] = {}
_ALL_PASSED_MAX = 4096  # a few guidelines' capabilities for each target


def _all_passed(cap: TargetCapability, source: Guideline) -> CapabilityScore:
    """The score of ``cap`` when every test passed under its own name.

    It depends on nothing but the guideline's content and the capability's place in the
    target, so it is made once and shared by every run that passed it all (as each
    passed test's score is), its counts computed once too: a run that qualifies
    scores most of its capabilities without looking at their tests again.
    """
    key = (source.sha256, source.id, cap.name, cap.status, cap.component)
    found = _ALL_PASSED.get(key)
    if found is None:
        if len(_ALL_PASSED) >= _ALL_PASSED_MAX:
            _ALL_PASSED.clear()
        found = _ALL_PASSED[key] = CapabilityScore(
            name=cap.name,
            status=cap.status,
            component=cap.component,
            outcome="passed",
            tests=tuple([_passed(t) for t in cap.tests]),
            guideline_id=source.id,
        )
    return found


def _score_test(test: GuidelineTest, states: Mapping[str, TestState]) -> TestScore:
    if states.get(test.name) == "passed":  # most tests: passed under the guideline's name
        return _passed(test)
    best: TestState = "not run"
    best_name: str | None = None
    ran_as: str | None = None
    for name in test.names:
        state = states.get(name, "not run")
        if state not in _RANK:
            raise ValueError(f"unknown test state {state!r} for {name}")
        if _RANK[state] < _RANK[best]:
            best, best_name = state, name
    if best != "passed":
        for name in names_for_uuid(states, test.uuid):
            state = states.get(name, "not run")
            if name not in test.names and _RANK.get(state, 4) < _RANK[best]:
                best, best_name, ran_as = state, name, name
    return TestScore(
        name=test.name,
        idempotent_id=test.idempotent_id,
        flagged=test.flagged,
        flag_reason=test.flag_reason,
        state=best,
        passed_as=best_name if best == "passed" and best_name != test.name and not ran_as else None,
        ran_as=ran_as,
    )


def _score_capability(
    cap: TargetCapability, states: Mapping[str, TestState], guideline_id: str
) -> CapabilityScore:
    tests = tuple([_score_test(t, states) for t in cap.tests])
    outcome: CapabilityOutcome
    if all(t.passed for t in tests if not t.flagged):
        outcome = "passed"
    elif all(t.state == "not run" for t in tests):
        outcome = "not run"
    elif all(t.state == "not in tempest" for t in tests if t.is_missing):
        outcome = "not in tempest"  # every test that did not pass is one this Tempest lacks
    else:
        outcome = "failed"
    return CapabilityScore(
        name=cap.name,
        status=cap.status,
        component=cap.component,
        outcome=outcome,
        tests=tests,
        guideline_id=guideline_id,
    )
