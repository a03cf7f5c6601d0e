"""Extended results JSON (schema ``tcup.results-extended/1``, docs/report-format.md):
every test with status, duration and failure detail, plus the run environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

from tcup import __version__
from tcup.results.jsonfile import ResultsFormatError, json_path, load_json
from tcup.results.model import STATUS_FROM_SUBUNIT, RunResults, TestResult

EXTENDED_SCHEMA_ID = "tcup.results-extended/1"


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
                    "status": {"enum": list(STATUS_FROM_SUBUNIT.values())},
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
    body = load_json(data, source, what, _EXTENDED_HINT)
    validator = jsonschema.Draft202012Validator(EXTENDED_JSON_SCHEMA, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [f"{json_path(e.absolute_path)}: {e.message}" for e in errors]
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
