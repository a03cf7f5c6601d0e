"""RefStack upload JSON: the exact body refstack-client uploads to ``POST /v1/results``.

``refstack_body`` / ``dump_refstack`` build it from a run; ``read_refstack``
validates one strictly (the server reuses it).  Names and uuids follow
refstack-client (``../shared/docs/refstack-protocol.md`` §1) through
``tcup.testids``: ``refstack_name`` (greedy bracket removal, scenario suffix
kept) and ``upload_uuid`` (first ``id-`` attribute of the first bracket group).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tcup.errors import InputError
from tcup.results.jsonfile import ResultsFormatError, json_repr, json_type, load_json
from tcup.results.model import RunResults
from tcup.testids import TestStates

LOG = logging.getLogger(__name__)

REFSTACK_KEYS = ("cpid", "duration_seconds", "results")


@dataclass(frozen=True)
class RefstackTest:
    """One passed test in an upload body."""

    name: str
    uuid: str | None = None


@dataclass(frozen=True)
class RefstackUpload:
    """A validated RefStack upload body."""

    cpid: str
    duration_seconds: int
    results: tuple[RefstackTest, ...]

    def states(self) -> TestStates:
        """Every listed test is passed; what is not listed is unknown (not run).

        ``by_uuid`` of the answer says which names passed under each ``uuid``.
        """
        return TestStates.build((t.name, t.uuid, "passed") for t in self.results)

    def body(self) -> dict[str, Any]:
        """The body as ``refstack_body`` builds it."""
        items = [_refstack_item(t.name, t.uuid) for t in self.results]
        return {"cpid": self.cpid, "duration_seconds": self.duration_seconds, "results": items}


def _refstack_item(name: str, uuid: str | None) -> dict[str, str]:
    return {"name": name, "uuid": uuid} if uuid else {"name": name}


def refstack_body(results: RunResults, cpid: str, duration_seconds: float) -> dict[str, Any]:
    """The upload body: passed tests only, one per name, sorted by name.

    Key order and item shape follow refstack-client (``cpid``,
    ``duration_seconds``, ``results`` of ``{"name", "uuid"}``; no ``uuid`` key
    when the id has none); ``duration_seconds`` is truncated to an integer.
    """
    if not isinstance(cpid, str) or not cpid or len(cpid) > 128:
        raise InputError(
            f"invalid cpid {cpid!r}: RefStack needs a non-empty string of at most 128 characters"
        )
    if isinstance(duration_seconds, bool) or duration_seconds < 0:
        raise InputError(f"invalid duration {duration_seconds!r}: must be seconds >= 0")
    states = results.states()
    uuids: dict[str, str | None] = {}
    for test in results.tests:
        claimable = test.kind == "test" and test.status == "passed"
        if claimable and states[test.name] == "passed" and uuids.get(test.name) is None:
            uuids[test.name] = test.uuid
    for name in uuids:
        if len(name) > 512 or not _latin1(name):
            LOG.warning(
                "test name may be refused by a RefStack server (long or non-latin1): %s", name
            )
    items = [_refstack_item(name, uuids[name]) for name in sorted(uuids)]
    return {"cpid": cpid, "duration_seconds": int(duration_seconds), "results": items}


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def dump_refstack(body: Mapping[str, Any]) -> bytes:
    """Serialise exactly as refstack-client (``json.dumps`` defaults, UTF-8).

    The signature covers these bytes: send them as they are.
    """
    return json.dumps(body).encode("utf-8")


REFSTACK_WHAT = "RefStack results"
REFSTACK_HINT = (
    'expected the body refstack-client uploads: {"cpid": "...", "duration_seconds": 123, '
    '"results": [{"name": "tempest...", "uuid": "..."}]}'
)


def read_refstack(data: bytes, source: str = "<upload>") -> RefstackUpload:
    """Validate a RefStack upload body strictly; every problem is reported at once.

    Beyond the server's JSON schema this refuses what a real RefStack server
    would fail on later: an empty ``results`` list (400) and duplicate names
    (500).  Raises ``ResultsFormatError`` (an ``InputError``).
    """
    return check_refstack(load_refstack(data, source), source)


def load_refstack(data: bytes, source: str = "<upload>") -> Any:
    """The JSON value of an upload body (strict UTF-8), not checked yet: ``check_refstack``."""
    return load_json(data, source, REFSTACK_WHAT, REFSTACK_HINT)


def check_refstack(body: Any, source: str = "<upload>") -> RefstackUpload:
    """``read_refstack``'s checks on a body already parsed by ``load_refstack``."""
    return _checked_refstack(body, source, build=True)


def validate_refstack(body: Any, source: str = "<upload>") -> None:
    """``check_refstack``'s checks alone, raising as it does, for a caller that keeps
    the parsed body as it is (the server): no ``RefstackUpload`` is built."""
    _checked_refstack(body, source, build=False)


def _checked_refstack(body: Any, source: str, build: bool) -> RefstackUpload:
    problems: list[str] = []
    if not isinstance(body, dict):
        raise ResultsFormatError(
            source,
            REFSTACK_WHAT,
            [f"top level: expected an object, got {json_type(body)}"],
            REFSTACK_HINT,
        )
    for key in REFSTACK_KEYS:
        if key not in body:
            problems.append(f"{key}: missing")
    for key in body:
        if key not in REFSTACK_KEYS:
            problems.append(
                f"{key}: unexpected key (RefStack accepts only {', '.join(REFSTACK_KEYS)})"
            )
    cpid = body.get("cpid")
    if "cpid" in body and (not isinstance(cpid, str) or not cpid):
        problems.append(f"cpid: expected a non-empty string, got {json_repr(cpid)}")
    duration = body.get("duration_seconds")
    if "duration_seconds" in body and type(duration) is not int:
        problems.append(f"duration_seconds: expected an integer, got {json_repr(duration)}")
    tests: list[RefstackTest] = []
    items = body.get("results")
    if "results" in body:
        if not isinstance(items, list):
            problems.append(f"results: expected a list, got {json_type(items)}")
        elif not items:
            problems.append("results: empty; RefStack refuses an upload without a passed test")
        else:
            tests = _refstack_items(items, problems, build)
    if problems:
        raise ResultsFormatError(source, REFSTACK_WHAT, problems, hint=REFSTACK_HINT)
    return RefstackUpload(cpid=cpid, duration_seconds=duration, results=tuple(tests))


def _refstack_items(items: list[Any], problems: list[str], build: bool) -> list[RefstackTest]:
    # the usual list, objects with unique non-empty names and string uuids or none, is
    # checked a whole at a time; any other is walked item by item to name every problem
    names = [item.get("name") if type(item) is dict else None for item in items]
    if (
        all(type(name) is str and name for name in names)
        and all(type(item.get("uuid", "")) is str for item in items)
        and len(set(names)) == len(names)
    ):
        if not build:
            return []
        return [
            RefstackTest(name, item.get("uuid")) for name, item in zip(names, items, strict=True)
        ]
    tests: list[RefstackTest] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        # the usual item, a new non-empty name and a string uuid or none, is taken as it is
        name = item.get("name") if type(item) is dict else None
        uuid = item.get("uuid") if type(item) is dict else None
        usual = type(name) is str and name and name not in first_index
        if usual and (type(uuid) is str or "uuid" not in item):
            first_index[name] = index
            tests.append(RefstackTest(name, uuid))
        else:
            _check_item(index, item, first_index, tests, problems)
    return tests


def _check_item(
    index: int,
    item: Any,
    first_index: dict[str, int],
    tests: list[RefstackTest],
    problems: list[str],
) -> None:
    """One item of ``results``, every problem it has named in ``problems``."""
    where = f"results[{index}]"
    if not isinstance(item, dict):
        problems.append(f"{where}: expected an object, got {json_type(item)}")
        return
    name = item.get("name")
    uuid = item.get("uuid")
    if "name" not in item:
        problems.append(f"{where}.name: missing")
    elif not isinstance(name, str) or not name:
        problems.append(f"{where}.name: expected a non-empty string, got {json_repr(name)}")
        name = None
    if "uuid" in item and not isinstance(uuid, str):
        problems.append(f"{where}.uuid: expected a string, got {json_repr(uuid)}")
    if not isinstance(name, str):
        return
    if name in first_index:
        problems.append(f"{where}.name: duplicate of results[{first_index[name]}] ({name})")
        return
    first_index[name] = index
    tests.append(RefstackTest(name=name, uuid=uuid if isinstance(uuid, str) else None))
