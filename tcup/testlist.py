"""Turn a guideline, a target and add-ons into the exact list of tests to run.

``plan`` picks the tests; ``format_plan`` prints them as plain names, in
RefStack's ``/v1/guidelines/{name}/tests`` line format, or as one anchored
regex per test for ``tempest run --include-list``; ``match_listed`` maps the
plan onto the ids a real Tempest reports with ``stestr list`` so the runner
can write a ``--load-list`` file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tcup.errors import InputError
from tcup.guidelines import Guideline, Target, check_statuses, with_add_ons
from tcup.testids import match_uuid, refstack_name

LOG = logging.getLogger(__name__)

PlanFormat = Literal["names", "refstack", "regex"]
FORMATS: tuple[str, ...] = ("names", "refstack", "regex")

_SCENARIO = re.compile(r"(\([^()]*\))$")


@dataclass(frozen=True)
class Listing:
    """One capability's entry for a test (a test may sit in several capabilities)."""

    capability: str
    idempotent_id: str | None
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class PlannedTest:
    name: str
    idempotent_id: str | None  # as written in the guideline
    uuid: str | None  # bare, lowercase
    aliases: tuple[str, ...]  # of every listing, in order
    capability: str  # the first (highest-status) capability listing it
    status: str
    component: str
    flagged: bool
    flag_reason: str | None
    guideline_id: str  # the guideline (or add-on) it comes from
    listings: tuple[Listing, ...] = ()  # every planned capability listing it, as listed

    @property
    def capabilities(self) -> tuple[str, ...]:
        return tuple(item.capability for item in self.listings)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class TestPlan:
    __test__ = False  # not a pytest test class
    guideline_id: str
    guideline_sha256: str
    target: str  # canonical target name
    add_ons: tuple[str, ...]  # add-on guideline ids
    add_on_sha256: tuple[str, ...]
    statuses: tuple[str, ...]
    include_flagged: bool
    tests: tuple[PlannedTest, ...]  # unique by name, required first, guideline order

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tests]

    @property
    def sha256(self) -> str:
        """sha256 of the plan as a file: the sorted test names, one per line."""
        text = "".join(f"{name}\n" for name in sorted(self.names))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __len__(self) -> int:
        return len(self.tests)


@dataclass(frozen=True)
class Matched:
    """The plan mapped onto the ids a local Tempest lists."""

    matched_ids: tuple[str, ...]  # full local test ids to load, in plan order
    missing: tuple[PlannedTest, ...]  # planned tests the local Tempest does not have
    renamed: tuple[tuple[str, str], ...] = ()  # (guideline name, local name) matched by uuid


def plan(
    guideline: Guideline,
    target: str | Target,
    add_ons: Sequence[Guideline] = (),
    statuses: Iterable[str] = ("required",),
    include_flagged: bool = False,
) -> TestPlan:
    """The tests of ``target`` (and of each add-on's own target) with ``statuses``."""
    wanted = check_statuses(statuses)
    if not wanted:
        raise InputError("no capability status selected", hint="e.g. --status required")
    sources = with_add_ons(guideline, target, add_ons)
    resolved = sources[0][1]
    first: dict[str, PlannedTest] = {}
    listings: dict[str, list[Listing]] = {}
    for source, tgt in sources:
        for cap in source.target_capabilities(tgt, wanted):
            for test in cap.tests:
                if test.flagged and not include_flagged:
                    continue
                listings.setdefault(test.name, []).append(
                    Listing(cap.name, test.idempotent_id, test.aliases)
                )
                if test.name in first:
                    continue
                first[test.name] = PlannedTest(
                    name=test.name,
                    idempotent_id=test.idempotent_id,
                    uuid=test.uuid,
                    aliases=test.aliases,
                    capability=cap.name,
                    status=cap.status,
                    component=cap.component,
                    flagged=test.flagged,
                    flag_reason=test.flag_reason,
                    guideline_id=source.id,
                )
    tests = [
        replace(
            t,
            aliases=tuple(dict.fromkeys(a for item in listings[t.name] for a in item.aliases)),
            listings=tuple(listings[t.name]),
        )
        for t in first.values()
    ]
    tests.sort(key=lambda t: wanted.index(t.status))
    return TestPlan(
        guideline_id=guideline.id,
        guideline_sha256=guideline.sha256,
        target=resolved.name,
        add_ons=tuple(a.id for a in add_ons),
        add_on_sha256=tuple(a.sha256 for a in add_ons),
        statuses=wanted,
        include_flagged=include_flagged,
        tests=tuple(tests),
    )


def _split_scenario(name: str) -> tuple[str, str]:
    found = _SCENARIO.search(name)
    if not found:
        return name, ""
    return name[: found.start()], found.group(1)


def regex_for(names: Sequence[str]) -> str:
    """An anchored regex matching exactly the Tempest ids of ``names`` (name or aliases).

    The id is the dotted name, an optional ``[attributes]`` group, then the
    scenario suffix if the name has one, and nothing else, so ``test_get``
    never matches ``test_get_all``.
    """
    parts = []
    for name in dict.fromkeys(names):
        base, scenario = _split_scenario(name)
        parts.append(rf"{re.escape(base)}(?:\[[^\]]*\])?{re.escape(scenario)}")
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    return f"^{body}$"


def format_plan(test_plan: TestPlan, fmt: str, aliases: bool = False) -> list[str]:
    """Lines for ``fmt``: ``names``, ``refstack`` or ``regex``.

    ``refstack`` gives exactly the lines of RefStack's
    ``/v1/guidelines/{name}/tests``: ``name[<idempotent_id>]`` (``name[]`` without
    an id), aliases with the same bracket, sorted, a test once per capability
    listing it.  ``names`` lists the names
    (and aliases) in plan order; ``regex`` gives one line per test.
    """
    if fmt == "names":
        if not aliases:
            return test_plan.names
        return [n for t in test_plan.tests for n in t.names]
    if fmt == "refstack":
        # One line per capability listing the test, as RefStack does (a test in
        # two capabilities is listed twice).
        lines = []
        for t in test_plan.tests:
            for item in t.listings:
                names = (t.name, *item.aliases) if aliases else (t.name,)
                lines += [f"{name}[{item.idempotent_id or ''}]" for name in names]
        return sorted(lines)
    if fmt == "regex":
        return [regex_for(t.names if aliases else (t.name,)) for t in test_plan.tests]
    raise InputError(f"unknown list format '{fmt}'", hint="valid formats: " + ", ".join(FORMATS))


def match_listed(test_plan: TestPlan, listed_ids: Iterable[str], *, warn: bool = True) -> Matched:
    """Map the plan onto the ids ``stestr list`` printed in a real Tempest.

    Keyed by the RefStack-normalised name first, then the aliases, then the
    ``id-<uuid>`` attribute (a test renamed or moved upstream keeps its id).
    A uuid shared by several ids (scenarios of one test) is narrowed by name.
    The name wins over the uuid, as in scoring: a guideline whose uuid is
    wrong still runs the test it names.
    """
    by_uuid: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for raw in listed_ids:
        test_id = raw.strip()
        if not test_id:
            continue
        uuid = match_uuid(test_id)
        if uuid:
            by_uuid.setdefault(uuid, []).append(test_id)
        by_name.setdefault(refstack_name(test_id), []).append(test_id)
    matched: list[str] = []
    seen: set[str] = set()
    missing: list[PlannedTest] = []
    renamed: list[tuple[str, str]] = []
    for test in test_plan.tests:
        found = _match_one(test, by_uuid, by_name)
        if not found:
            missing.append(test)
            continue
        local = refstack_name(found[0])
        if local not in test.names:
            renamed.append((test.name, local))
        for test_id in found:
            if test_id not in seen:
                seen.add(test_id)
                matched.append(test_id)
    if missing and warn:
        LOG.warning(
            "%d planned tests are not in the local Tempest: %s",
            len(missing),
            ", ".join(t.name for t in missing[:5]) + (" ..." if len(missing) > 5 else ""),
        )
    return Matched(tuple(matched), tuple(missing), tuple(renamed))


def _match_one(
    test: PlannedTest, by_uuid: dict[str, list[str]], by_name: dict[str, list[str]]
) -> list[str]:
    for name in test.names:
        if name in by_name:
            found = by_name[name]
            if test.uuid and len(found) > 1:
                # two tests with one name (heat's gabbi files): the guideline's id picks one
                same = [f for f in found if match_uuid(f) == test.uuid]
                return same or found
            return found
    candidates = by_uuid.get(test.uuid, []) if test.uuid else []
    if len(candidates) > 1:
        named = [c for c in candidates if refstack_name(c) in test.names]
        candidates = named or candidates
    if candidates:
        LOG.info("%s is %s in the local Tempest (same id)", test.name, refstack_name(candidates[0]))
    return candidates
