"""JUnit XML for CI systems: one ``testsuite`` of every test of a run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tcup.results.model import FIXTURE_ID, RunResults, TestResult

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _split_id(test_id: str) -> tuple[str, str]:
    """(classname, name) for JUnit: split at the last dot before any bracket/paren."""
    fixture = FIXTURE_ID.match(test_id)
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
