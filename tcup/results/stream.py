"""Subunit in: a v2 stream (what stestr and Tempest write) or v1 (``subunit-2to1``
and older tools) parsed into ``RunResults`` by python-subunit and testtools.

``SubunitCollector`` is the ``StreamResult`` behind ``read_subunit``; a live
run feeds it the same events its progress display sees, so a run's stream is
parsed once, while it is written.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any, Literal

import subunit
import testtools

from tcup.errors import InputError
from tcup.results.model import STATUS_FROM_SUBUNIT, RunResults, TestResult

LOG = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 20_000

_V1_LINE = re.compile(
    rb"^(test|testing|success|successful|failure|error|skip|xfail|uxsuccess|tags|time|progress)"
    rb"[: ]"
)
_SUBUNIT_V2_SIGNATURE = 0xB3


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
    collector = SubunitCollector()
    try:
        if version == 2:
            collector.startTestRun()
            stream = subunit.ByteStreamToStreamResult(io.BytesIO(data), non_subunit_name="stdout")
            stream.run(collector)
            collector.stopTestRun()
        else:
            decorator = testtools.ExtendedToStreamDecorator(collector)
            decorator.startTestRun()
            # passthrough: lines that are not subunit go nowhere, not to this process's stdout
            subunit.ProtocolTestCase(io.BytesIO(data), passthrough=io.BytesIO()).run(decorator)
            decorator.stopTestRun()
        return collector.results()
    except (ValueError, AssertionError, AttributeError, LookupError, TypeError) as exc:
        # python-subunit's parsers fail on a corrupt stream with these (an invalid chunk
        # header, a short line, undecodable details): the input's fault, said in one line.
        raise InputError(
            f"'{source}' is a corrupt subunit v{version} stream: {type(exc).__name__}: "
            f"{str(exc)[:200]}",
            hint="upload the stream exactly as the test run wrote it",
        ) from exc


class SubunitCollector(testtools.StreamToDict):
    """StreamToDict that keeps completed tests and notes parser errors."""

    def __init__(self) -> None:
        super().__init__(self._on_test)
        self.tests: list[TestResult] = []
        self.warnings: list[str] = []
        self.non_subunit = 0
        self.workers: dict[str, str] = {}  # test id -> route code of its last event

    def status(self, test_id=None, file_name=None, file_bytes=None, **kwargs) -> None:  # type: ignore[override]
        if test_id is None and file_name == "stdout" and file_bytes:
            self.non_subunit += len(file_bytes)
        if test_id is not None and kwargs.get("route_code") is not None:
            self.workers[test_id] = kwargs["route_code"]
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
        status = STATUS_FROM_SUBUNIT.get(raw_status)
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
                worker=self.workers.pop(test_id, None),
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
