"""Test results: subunit in; RefStack upload JSON, extended JSON and JUnit XML out.

* ``read_subunit(data)`` parses a subunit stream, v2 (what stestr and Tempest
  write) or v1 (what ``subunit-2to1`` and older tools write), into
  ``RunResults``.  Parsing is done by python-subunit and testtools.
* ``refstack_body`` / ``dump_refstack`` build the exact body refstack-client
  uploads to ``POST /v1/results``; ``read_refstack`` validates one strictly
  (the server reuses it).
* ``extended_body`` / ``write_extended`` / ``read_extended``: every test with
  status, duration and failure detail, plus the run environment
  (schema ``tcup.results-extended/1``, see docs/report-format.md).
* ``junit_xml`` for CI systems; ``load_results`` reads any of the above.

Names and uuids follow refstack-client (``../shared/docs/refstack-protocol.md``
§1) through ``tcup.testids``: ``refstack_name`` (greedy bracket removal,
scenario suffix kept) and ``upload_uuid`` (first ``id-`` attribute of the
first bracket group).

When one name appears several times in a run (retries, merged streams), its
state is ``failed`` if any attempt failed (including an unexpected success or
an expected failure), else ``passed`` if any attempt passed, else
``skipped``.  The upload body is built from the same rule, so the report and
the upload always agree.  (refstack-client would upload a name that passed
once even if another attempt failed; we do not claim such a test.)
"""

from __future__ import annotations

import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jsonschema
import subunit
import testtools

from tcup import __version__
from tcup.errors import InputError
from tcup.testids import refstack_name, upload_uuid

LOG = logging.getLogger(__name__)

Status = Literal["passed", "failed", "skipped", "xfail", "uxsuccess"]
State = Literal["passed", "failed", "skipped"]
Kind = Literal["test", "fixture"]
Format = Literal["refstack", "extended", "subunit-v1", "subunit-v2"]

EXTENDED_SCHEMA_ID = "tcup.results-extended/1"
MAX_DETAIL_CHARS = 20_000
REFSTACK_KEYS = ("cpid", "duration_seconds", "results")

_STATUS_FROM_SUBUNIT: dict[str, Status] = {
    "success": "passed",
    "fail": "failed",
    "skip": "skipped",
    "xfail": "xfail",
    "uxsuccess": "uxsuccess",
}
_FIXTURE_ID = re.compile(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) \((.+)\)$")
_V1_LINE = re.compile(
    rb"^(test|testing|success|successful|failure|error|skip|xfail|uxsuccess|tags|time|progress)"
    rb"[: ]"
)
_SUBUNIT_V2_SIGNATURE = 0xB3
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --------------------------------------------------------------------------- names


def is_fixture_id(test_id: str) -> bool:
    """True for ``setUpClass (pkg.Class)`` style ids: errors of class/module fixtures."""
    return bool(_FIXTURE_ID.match(test_id))


# --------------------------------------------------------------------------- model


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

    def states(self) -> dict[str, State]:
        """Per RefStack name: passed, failed or skipped (rule in the module doc)."""
        states: dict[str, State] = {}
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
        return states

    def counts(self) -> dict[str, int]:
        """Number of test entries per status, plus ``fixture_errors``."""
        counts = dict.fromkeys(_STATUS_FROM_SUBUNIT.values(), 0)
        for test in self.tests:
            if test.kind == "test":
                counts[test.status] += 1
        counts["fixture_errors"] = len(self.fixtures)
        return counts


_RANK: dict[str, int] = {"skipped": 0, "passed": 1, "failed": 2}


# --------------------------------------------------------------------------- subunit


def subunit_version(data: bytes) -> Literal[1, 2] | None:
    """2 for a v2 stream, 1 for a v1 stream, None if ``data`` looks like neither."""
    if data[:1] == bytes([_SUBUNIT_V2_SIGNATURE]):
        return 2
    for line in data.splitlines()[:20]:
        if not line.strip():
            continue
        return 1 if _V1_LINE.match(line) else None
    return None


def read_subunit(data: bytes, source: str = "<stream>") -> RunResults:
    """Parse a subunit v1 or v2 stream (detected) into ``RunResults``.

    An empty stream is an empty run.  Bytes that are not subunit packets
    inside a v2 stream are ignored (logged); a corrupt packet becomes a
    warning, keeping the tests read so far.
    """
    if not data.strip():
        return RunResults(tests=())
    version = subunit_version(data)
    if version is None:
        raise InputError(
            f"'{source}' is not a subunit stream",
            hint="expected the raw stream of a Tempest/stestr run (v2) or a v1 text stream",
        )
    collector = _Collector()
    if version == 2:
        collector.startTestRun()
        subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name="stdout").run(collector)
        collector.stopTestRun()
    else:
        decorator = testtools.ExtendedToStreamDecorator(collector)
        decorator.startTestRun()
        subunit.ProtocolTestCase(io.BytesIO(data)).run(decorator)
        decorator.stopTestRun()
    return collector.results()


class _Collector(testtools.StreamToDict):
    """StreamToDict that keeps completed tests and notes parser errors."""

    def __init__(self) -> None:
        super().__init__(self._on_test)
        self.tests: list[TestResult] = []
        self.warnings: list[str] = []
        self.non_subunit = 0

    def status(self, test_id=None, file_name=None, file_bytes=None, **kwargs) -> None:  # type: ignore[override]
        if test_id is None and file_name == "stdout" and file_bytes:
            self.non_subunit += len(file_bytes)
        super().status(test_id=test_id, file_name=file_name, file_bytes=file_bytes, **kwargs)

    def _on_test(self, record: dict[str, Any]) -> None:
        test_id = record["id"]
        raw_status = record["status"]
        details = {name: _content_text(content) for name, content in record["details"].items()}
        if test_id == "subunit.parser":
            self.warnings.append(f"corrupt subunit packet: {details.get('Parser Error', '?')}")
            return
        if raw_status == "exists":  # listed, never run
            return
        status = _STATUS_FROM_SUBUNIT.get(raw_status)
        if status is None:  # inprogress / unknown: the run died under this test
            status = "failed"
            details.setdefault("tcup", "the test started but never finished (stream ended)")
            self.warnings.append(f"test did not finish: {test_id}")
        reason = details.pop("reason", None)
        start, stop = record["timestamps"]
        self.tests.append(
            TestResult.create(
                test_id,
                status,
                start=start,
                stop=stop,
                tags=record["tags"] or (),
                reason=reason,
                details=details,
            )
        )

    def results(self) -> RunResults:
        if self.non_subunit:
            LOG.info("ignored %d bytes of non-subunit output in the stream", self.non_subunit)
        starts = [t.start for t in self.tests if t.start]
        stops = [t.stop for t in self.tests if t.stop]
        return RunResults(
            tests=tuple(self.tests),
            start=min(starts) if starts else None,
            end=max(stops) if stops else None,
            warnings=tuple(self.warnings),
        )


def _content_text(content: Any) -> str:
    """A detail as text, truncated at the front beyond ``MAX_DETAIL_CHARS``."""
    content_type = content.content_type
    if content_type.type != "text":
        size = sum(len(chunk) for chunk in content.iter_bytes())
        return f"<{size} bytes of {content_type.type}/{content_type.subtype}>"
    try:
        text = content.as_text()
    except (UnicodeDecodeError, LookupError):
        text = b"".join(content.iter_bytes()).decode("utf-8", errors="replace")
    if len(text) > MAX_DETAIL_CHARS:
        cut = len(text) - MAX_DETAIL_CHARS
        text = f"[... {cut} characters cut ...]\n" + text[cut:]
    return text


# --------------------------------------------------------------------------- RefStack JSON


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

    def states(self) -> dict[str, State]:
        """Every listed test is passed; what is not listed is unknown (not run)."""
        return dict.fromkeys((t.name for t in self.results), "passed")

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


class ResultsFormatError(InputError):
    """A results file that does not validate; ``problems`` lists each one by path."""

    def __init__(self, source: str, what: str, problems: Iterable[str], hint: str | None = None):
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid {what} '{source}': {count} {noun}:\n{listing}", hint=hint)


_REFSTACK_HINT = (
    'expected the body refstack-client uploads: {"cpid": "...", "duration_seconds": 123, '
    '"results": [{"name": "tempest...", "uuid": "..."}]}'
)


def _load_json(data: bytes, source: str, what: str, hint: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsFormatError(
            source, what, [f"not UTF-8 text (byte {exc.start})"], hint=hint
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise ResultsFormatError(source, what, [problem], hint=hint) from exc


def read_refstack(data: bytes, source: str = "<upload>") -> RefstackUpload:
    """Validate a RefStack upload body strictly; every problem is reported at once.

    Beyond the server's JSON schema this refuses what a real RefStack server
    would fail on later: an empty ``results`` list (400) and duplicate names
    (500).  Raises ``ResultsFormatError`` (an ``InputError``).
    """
    what = "RefStack results"
    body = _load_json(data, source, what, _REFSTACK_HINT)
    problems: list[str] = []
    if not isinstance(body, dict):
        raise ResultsFormatError(
            source, what, [f"top level: expected an object, got {_json_type(body)}"], _REFSTACK_HINT
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
        problems.append(f"cpid: expected a non-empty string, got {_json_repr(cpid)}")
    duration = body.get("duration_seconds")
    if "duration_seconds" in body and type(duration) is not int:
        problems.append(f"duration_seconds: expected an integer, got {_json_repr(duration)}")
    tests: list[RefstackTest] = []
    items = body.get("results")
    if "results" in body:
        if not isinstance(items, list):
            problems.append(f"results: expected a list, got {_json_type(items)}")
        elif not items:
            problems.append("results: empty; RefStack refuses an upload without a passed test")
        else:
            tests = _refstack_items(items, problems)
    if problems:
        raise ResultsFormatError(source, what, problems, hint=_REFSTACK_HINT)
    return RefstackUpload(cpid=cpid, duration_seconds=duration, results=tuple(tests))


def _refstack_items(items: list[Any], problems: list[str]) -> list[RefstackTest]:
    tests: list[RefstackTest] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"results[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object, got {_json_type(item)}")
            continue
        name = item.get("name")
        uuid = item.get("uuid")
        if "name" not in item:
            problems.append(f"{where}.name: missing")
        elif not isinstance(name, str) or not name:
            problems.append(f"{where}.name: expected a non-empty string, got {_json_repr(name)}")
            name = None
        if "uuid" in item and not isinstance(uuid, str):
            problems.append(f"{where}.uuid: expected a string, got {_json_repr(uuid)}")
        if not isinstance(name, str):
            continue
        if name in first_index:
            problems.append(f"{where}.name: duplicate of results[{first_index[name]}] ({name})")
            continue
        first_index[name] = index
        tests.append(RefstackTest(name=name, uuid=uuid if isinstance(uuid, str) else None))
    return tests


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _json_repr(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- extended JSON


@dataclass(frozen=True)
class RunEnvironment:
    """What the run was: recorded in the extended results, given by the caller."""

    tcup_version: str = __version__
    tempest_version: str | None = None
    guideline_id: str | None = None
    guideline_sha256: str | None = None
    target: str | None = None
    add_ons: tuple[str, ...] = ()
    cpid: str | None = None
    started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True)
class ExtendedResults:
    """A read extended results file."""

    environment: RunEnvironment
    results: RunResults


_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

EXTENDED_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": EXTENDED_SCHEMA_ID,
    "type": "object",
    "required": ["schema", "environment", "run", "summary", "tests"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": EXTENDED_SCHEMA_ID},
        "environment": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "tcup_version",
                "tempest_version",
                "guideline",
                "target",
                "add_ons",
                "cpid",
            ],
            "properties": {
                "tcup_version": {"type": "string"},
                "tempest_version": _NULLABLE_STR,
                "guideline": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "sha256"],
                    "properties": {
                        "id": _NULLABLE_STR,
                        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
                    },
                },
                "target": _NULLABLE_STR,
                "add_ons": {"type": "array", "items": {"type": "string"}},
                "cpid": _NULLABLE_STR,
                "started": _NULLABLE_TIME,
                "ended": _NULLABLE_TIME,
            },
        },
        "run": {
            "type": "object",
            "additionalProperties": False,
            "required": ["start", "end"],
            "properties": {
                "start": _NULLABLE_TIME,
                "end": _NULLABLE_TIME,
                "warnings": {"type": "array", "items": {"type": "string"}},
            },
        },
        "summary": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "name", "status", "kind"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "name": {"type": "string", "minLength": 1},
                    "uuid": _NULLABLE_STR,
                    "kind": {"enum": ["test", "fixture"]},
                    "status": {"enum": list(_STATUS_FROM_SUBUNIT.values())},
                    "start": _NULLABLE_TIME,
                    "stop": _NULLABLE_TIME,
                    "duration": {"type": ["number", "null"], "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "reason": _NULLABLE_STR,
                    "details": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    },
}


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    """ISO 8601 with a time zone, as ``datetime.isoformat`` writes it."""
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value).tzinfo is not None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def extended_body(results: RunResults, environment: RunEnvironment) -> dict[str, Any]:
    """The extended results document (schema ``tcup.results-extended/1``)."""
    return {
        "schema": EXTENDED_SCHEMA_ID,
        "environment": {
            "tcup_version": environment.tcup_version,
            "tempest_version": environment.tempest_version,
            "guideline": {"id": environment.guideline_id, "sha256": environment.guideline_sha256},
            "target": environment.target,
            "add_ons": list(environment.add_ons),
            "cpid": environment.cpid,
            "started": _iso(environment.started),
            "ended": _iso(environment.ended),
        },
        "run": {
            "start": _iso(results.start),
            "end": _iso(results.end),
            "warnings": list(results.warnings),
        },
        "summary": results.counts(),
        "tests": [
            {
                "id": t.test_id,
                "name": t.name,
                "uuid": t.uuid,
                "kind": t.kind,
                "status": t.status,
                "start": _iso(t.start),
                "stop": _iso(t.stop),
                "duration": t.duration,
                "tags": list(t.tags),
                "reason": t.reason,
                "details": dict(t.details),
            }
            for t in results.tests
        ],
    }


def dump_extended(results: RunResults, environment: RunEnvironment) -> bytes:
    """The extended results document as pretty UTF-8 JSON."""
    body = extended_body(results, environment)
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_extended(path: Path, results: RunResults, environment: RunEnvironment) -> Path:
    """Write ``results-extended.json`` (or any ``path``); returns the path."""
    path.write_bytes(dump_extended(results, environment))
    return path


_EXTENDED_HINT = f"expected a results-extended.json written by tcup (schema {EXTENDED_SCHEMA_ID})"


def read_extended(data: bytes, source: str = "<extended>") -> ExtendedResults:
    """Validate and read an extended results file; every problem is reported at once."""
    what = "extended results"
    body = _load_json(data, source, what, _EXTENDED_HINT)
    validator = jsonschema.Draft202012Validator(EXTENDED_JSON_SCHEMA, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [f"{_json_path(e.absolute_path)}: {e.message}" for e in errors]
        raise ResultsFormatError(source, what, problems, hint=_EXTENDED_HINT)
    env = body["environment"]
    environment = RunEnvironment(
        tcup_version=env["tcup_version"],
        tempest_version=env["tempest_version"],
        guideline_id=env["guideline"]["id"],
        guideline_sha256=env["guideline"]["sha256"],
        target=env["target"],
        add_ons=tuple(env["add_ons"]),
        cpid=env["cpid"],
        started=_time(env.get("started")),
        ended=_time(env.get("ended")),
    )
    tests = tuple(
        TestResult(
            test_id=t["id"],
            name=t["name"],
            uuid=t.get("uuid"),
            status=t["status"],
            kind=t["kind"],
            start=_time(t.get("start")),
            stop=_time(t.get("stop")),
            duration=t.get("duration"),
            tags=tuple(t.get("tags", ())),
            reason=t.get("reason"),
            details=dict(t.get("details", {})),
        )
        for t in body["tests"]
    )
    run = body["run"]
    results = RunResults(
        tests=tests,
        start=_time(run["start"]),
        end=_time(run["end"]),
        warnings=tuple(run.get("warnings", ())),
    )
    return ExtendedResults(environment=environment, results=results)


def _json_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


# --------------------------------------------------------------------------- JUnit XML


def _split_id(test_id: str) -> tuple[str, str]:
    """(classname, name) for JUnit: split at the last dot before any bracket/paren."""
    fixture = _FIXTURE_ID.match(test_id)
    if fixture:
        return fixture.group(2), fixture.group(1)
    cut = len(test_id)
    for mark in ("[", "("):
        position = test_id.find(mark)
        if position != -1:
            cut = min(cut, position)
    dot = test_id.rfind(".", 0, cut)
    if dot == -1:
        return "", test_id
    return test_id[:dot], test_id[dot + 1 :]


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def junit_xml(results: RunResults, suite_name: str = "tempest") -> bytes:
    """JUnit XML (one ``testsuite``) for CI systems.

    Failures and unexpected successes are ``<failure>``, fixture errors
    ``<error>``, skips and expected failures ``<skipped>``.
    """
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    suite = ET.Element("testsuite", name=suite_name)
    for test in results.tests:
        classname, name = _split_id(test.test_id)
        duration = test.duration or 0.0
        total_time += duration
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_xml_text(classname),
            name=_xml_text(name),
            time=f"{duration:.3f}",
        )
        counts["tests"] += 1
        detail_text = _xml_text(_details_text(test))
        if test.kind == "fixture":
            counts["errors"] += 1
            error = ET.SubElement(case, "error", message=_xml_text(_last_line(test)))
            error.text = detail_text
        elif test.status in ("failed", "uxsuccess"):
            counts["failures"] += 1
            message = "unexpected success" if test.status == "uxsuccess" else _last_line(test)
            failure = ET.SubElement(case, "failure", message=_xml_text(message))
            failure.text = detail_text
        elif test.status in ("skipped", "xfail"):
            counts["skipped"] += 1
            message = test.reason or ("expected failure" if test.status == "xfail" else "")
            ET.SubElement(case, "skipped", message=_xml_text(message))
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total_time:.3f}")
    if results.start:
        suite.set("timestamp", results.start.replace(tzinfo=None).isoformat(timespec="seconds"))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _details_text(test: TestResult) -> str:
    parts = [f"{name}:\n{text}" for name, text in test.details.items() if name != "traceback"]
    if "traceback" in test.details:
        parts.append(test.details["traceback"])
    return "\n\n".join(parts)


def _last_line(test: TestResult) -> str:
    text = test.details.get("traceback") or next(iter(test.details.values()), "")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else test.status


# --------------------------------------------------------------------------- autodetect


@dataclass(frozen=True)
class LoadedResults:
    """Results read by ``load_results``, whatever their format."""

    format: Format
    source: str
    results: RunResults | None = None
    upload: RefstackUpload | None = None
    environment: RunEnvironment | None = None

    def states(self) -> dict[str, State]:
        """Per RefStack name; a RefStack JSON only knows its passed tests."""
        if self.results is not None:
            return self.results.states()
        assert self.upload is not None
        return self.upload.states()


#: files looked for, in order, when ``load_results`` is given a run's output directory
OUTPUT_DIR_FILES = ("results-extended.json", "results.subunit", "results.json")


def load_results(path: Path | str) -> LoadedResults:
    """Read a RefStack JSON, an extended results file or a subunit stream (v1/v2).

    A directory is taken as a run's output directory (``OUTPUT_DIR_FILES``).
    """
    path = Path(path)
    if path.is_dir():
        for name in OUTPUT_DIR_FILES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise InputError(
                f"no results in directory '{path}'",
                hint=f"expected one of {', '.join(OUTPUT_DIR_FILES)}",
            )
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read results '{source}': {exc.strerror}",
            hint="give a results.json, results-extended.json or a subunit stream",
        ) from exc
    if not data.strip():
        raise InputError(f"results file '{source}' is empty")
    if data.lstrip()[:1] in (b"{", b"["):
        return _load_json_results(data, source)
    version = subunit_version(data)
    if version is None:
        raise InputError(
            f"'{source}' is neither a RefStack JSON, an extended results file nor a subunit stream",
            hint="give a results.json, results-extended.json or a raw subunit stream",
        )
    results = read_subunit(data, source)
    return LoadedResults(format=f"subunit-v{version}", source=source, results=results)  # type: ignore[arg-type]


def _load_json_results(data: bytes, source: str) -> LoadedResults:
    body = _load_json(data, source, "results", _REFSTACK_HINT)
    if isinstance(body, dict) and "schema" in body:
        extended = read_extended(data, source)
        return LoadedResults(
            format="extended",
            source=source,
            results=extended.results,
            environment=extended.environment,
        )
    return LoadedResults(format="refstack", source=source, upload=read_refstack(data, source))
