"""Tests for tcup.results: subunit parsing, RefStack body, extended JSON, JUnit."""

from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tcup.errors import InputError
from tcup.results import (
    EXTENDED_SCHEMA_ID,
    ResultsFormatError,
    RunEnvironment,
    RunResults,
    TestResult,
    check_refstack,
    dump_extended,
    dump_refstack,
    junit_xml,
    load_refstack,
    load_results,
    read_extended,
    read_refstack,
    read_subunit,
    refstack_body,
    subunit_version,
    validate_refstack,
    write_extended,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V2 = FIXTURES / "sample-v2.subunit"
V1 = FIXTURES / "sample-v1.subunit"
OBJ = "tempest.api.object_storage"
DELETE_CONTAINER = f"{OBJ}.test_container_services.ContainerTest.test_delete_container"
CREATE_CONTAINER = f"{OBJ}.test_container_services.ContainerTest.test_create_container"
SCENARIO = "tempest.scenario.test_network_sample_ops.NetworkSampleOpsTest.test_connectivity"
ACCOUNT_SETUP = f"setUpClass ({OBJ}.test_account_services.AccountTest)"


def _make_fixtures_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _signature(results: RunResults) -> list[tuple]:
    """What must not change when the fixtures are regenerated (times excluded)."""
    return [
        (t.test_id, t.name, t.uuid, t.kind, t.status, t.reason, dict(t.details))
        for t in results.tests
    ]


@pytest.fixture(scope="module")
def sample() -> RunResults:
    return read_subunit(V2.read_bytes())


# --------------------------------------------------------------------------- subunit


def test_fixture_versions_are_detected() -> None:
    assert subunit_version(V2.read_bytes()) == 2
    assert subunit_version(V1.read_bytes()) == 1
    assert subunit_version(b'{"cpid": 1}') is None
    assert subunit_version(b"hello world\n") is None


def test_v1_and_v2_parse_identically(sample: RunResults) -> None:
    from_v1 = read_subunit(V1.read_bytes())
    assert from_v1 == sample
    assert from_v1.tests  # not vacuously equal


def test_sample_statuses(sample: RunResults) -> None:
    by_name = {t.name: t for t in sample.tests}
    assert by_name[CREATE_CONTAINER].status == "passed"
    assert by_name[CREATE_CONTAINER].uuid == "92139d73-7819-4db1-85f8-3f2f22a8d91f"
    assert by_name[DELETE_CONTAINER].status == "failed"
    assert "204 != 409" in by_name[DELETE_CONTAINER].details["traceback"]
    assert "409 Conflict" in by_name[DELETE_CONTAINER].details["pythonlogging"]
    skipped = by_name[f"{OBJ}.test_container_services.ContainerTest.test_list_container_contents"]
    assert skipped.status == "skipped"
    assert skipped.reason == "Container listing is disabled in this deployment"
    copy = by_name[f"{OBJ}.test_object_services.ObjectTest.test_copy_object_in_same_container"]
    assert copy.status == "xfail"
    if_different = by_name[f"{OBJ}.test_object_services.ObjectTest.test_get_object_if_different"]
    assert if_different.status == "uxsuccess"
    assert by_name[f"{SCENARIO}(ipv6)"].uuid == "f323b3ba-82f8-4db7-8ea6-6a895869ec49"
    no_id = by_name[f"{OBJ}.test_sample_no_id.NoIdTest.test_without_idempotent_id"]
    assert no_id.uuid is None and no_id.status == "passed"
    for test in sample.tests:
        assert test.start is not None and test.stop is not None
        assert test.duration == pytest.approx((test.stop - test.start).total_seconds())
        assert sample.start <= test.start and test.stop <= sample.end


def test_setupclass_error_is_a_failed_fixture_never_a_test(sample: RunResults) -> None:
    (fixture,) = sample.fixtures
    assert fixture.test_id == ACCOUNT_SETUP
    assert fixture.kind == "fixture" and fixture.status == "failed"
    assert "503 Service Unavailable" in fixture.details["traceback"]
    assert ACCOUNT_SETUP not in sample.states()
    names = {item["name"] for item in refstack_body(sample, "c", 1)["results"]}
    assert ACCOUNT_SETUP not in names
    assert sample.counts()["fixture_errors"] == 1


def test_states_map_statuses(sample: RunResults) -> None:
    states = sample.states()
    assert states[CREATE_CONTAINER] == "passed"
    assert states[DELETE_CONTAINER] == "failed"
    assert states[f"{OBJ}.test_object_services.ObjectTest.test_get_object_if_different"] == "failed"
    assert states[f"{OBJ}.test_object_services.ObjectTest.test_copy_object_in_same_container"] == (
        "failed"
    )
    assert states[f"{OBJ}.test_container_services.ContainerTest.test_list_container_contents"] == (
        "skipped"
    )


def _run(*entries: tuple[str, str]) -> RunResults:
    return RunResults(tests=tuple(TestResult.create(i, s) for i, s in entries))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "state"),
    [
        (("passed", "failed"), "failed"),
        (("failed", "passed"), "failed"),
        (("skipped", "passed"), "passed"),
        (("passed", "skipped"), "passed"),
        (("skipped", "skipped"), "skipped"),
        (("passed", "uxsuccess"), "failed"),
    ],
)
def test_repeated_name_failed_wins_then_passed(statuses: tuple[str, str], state: str) -> None:
    results = _run(("a.B.test_x[id-1]", statuses[0]), ("a.B.test_x[id-1,smoke]", statuses[1]))
    assert results.states() == {"a.B.test_x": state}
    claimed = [item["name"] for item in refstack_body(results, "c", 0)["results"]]
    assert claimed == (["a.B.test_x"] if state == "passed" else [])


def test_stream_cut_mid_packet_keeps_earlier_tests(sample: RunResults) -> None:
    data = V2.read_bytes()
    partial = read_subunit(data[: len(data) // 2])
    assert 0 < len(partial.tests) < len(sample.tests)
    assert any("corrupt subunit packet" in w for w in partial.warnings)
    assert partial.tests[0] == sample.tests[0]


def test_empty_stream_is_an_empty_run() -> None:
    assert read_subunit(b"").tests == ()


def test_not_subunit_is_an_input_error() -> None:
    with pytest.raises(InputError, match="is not a subunit stream"):
        read_subunit(b"just some text\n", "notes.txt")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"FB\r\n", b"F@\r\n"),  # a detail chunk header that is not hex
        (b"time: 2026-11-25", b"time: 2O26-11-25"),  # a date that is not one
        (b"test: tempest.api.object", b"test: tempest.api.\xffobject"),  # not UTF-8
    ],
    ids=["chunk-header", "date", "utf-8"],
)
def test_corrupt_v1_stream_is_an_input_error(old: bytes, new: bytes, capfd) -> None:
    """python-subunit raises ValueError & co. on these; a server must answer 400, not 500."""
    data = V1.read_bytes()
    assert old in data
    with pytest.raises(InputError, match="'upload' is a corrupt subunit v1 stream"):
        read_subunit(data.replace(old, new, 1), "upload")
    assert capfd.readouterr().out == ""


def test_v1_lines_that_are_not_subunit_are_not_echoed(capfd, sample: RunResults) -> None:
    data = V1.read_bytes().replace(b"]\ntime: ", b"]\nsome chatter\ntime: ", 1)
    assert b"some chatter" in data
    assert _signature(read_subunit(data)) == _signature(sample)
    assert capfd.readouterr().out == ""


# --------------------------------------------------------------------------- fixtures stay fresh


def test_regenerated_fixtures_parse_identically(tmp_path: Path, sample: RunResults) -> None:
    paths = _make_fixtures_module().generate(tmp_path)
    fresh_v2 = read_subunit(paths["sample-v2.subunit"].read_bytes())
    fresh_v1 = read_subunit(paths["sample-v1.subunit"].read_bytes())
    assert _signature(fresh_v2) == _signature(sample)
    assert _signature(fresh_v1) == _signature(sample)
    for path in paths.values():
        assert str(Path(__file__).resolve().parents[1]).encode() not in path.read_bytes()


def test_stestr_stream_parses_like_subunit_run(tmp_path: Path, sample: RunResults) -> None:
    stream = _make_fixtures_module().stestr_stream(tmp_path / "stestr")
    assert subunit_version(stream) == 2
    from_stestr = read_subunit(stream)
    key = lambda r: sorted((t.test_id, t.status, t.reason) for t in r.tests)  # noqa: E731
    assert key(from_stestr) == key(sample)
    assert refstack_body(from_stestr, "c", 0) == refstack_body(sample, "c", 0)


# --------------------------------------------------------------------------- RefStack body


def test_refstack_body_exact_bytes() -> None:
    results = _run(
        ("z.B.test_b[id-2222,smoke]", "passed"),
        ("a.B.test_a[compute,id-1111](ipv6)", "passed"),
        ("a.B.test_no_id", "passed"),
        ("a.B.test_failed[id-3333]", "failed"),
        ("a.B.test_skipped[id-4444]", "skipped"),
        ("a.B.test_a[compute,id-1111](ipv6)", "passed"),
    )
    body = refstack_body(results, "b33dc8a37c8607c6a7612f6296139578", 4711.9)
    assert list(body) == ["cpid", "duration_seconds", "results"]
    assert dump_refstack(body) == (
        b'{"cpid": "b33dc8a37c8607c6a7612f6296139578", "duration_seconds": 4711, "results": '
        b'[{"name": "a.B.test_a(ipv6)", "uuid": "1111"}, {"name": "a.B.test_no_id"}, '
        b'{"name": "z.B.test_b", "uuid": "2222"}]}'
    )


def test_dump_refstack_is_what_json_dumps_gives() -> None:
    body = refstack_body(_run(("a.B.test_ü[id-1]", "passed")), "c", 0)
    dumped = dump_refstack(body)
    assert dumped == json.dumps(body).encode("utf-8")
    assert b"\\u00fc" in dumped  # ensure_ascii, like refstack-client


def test_refstack_body_round_trips_through_validator(sample: RunResults) -> None:
    body = refstack_body(sample, "cpid-1", 12)
    upload = read_refstack(dump_refstack(body), "results.json")
    assert upload.body() == body
    assert set(upload.states()) == {n for n, s in sample.states().items() if s == "passed"}


@pytest.mark.parametrize(("cpid", "duration"), [("", 1), ("x" * 129, 1), ("c", -1)])
def test_refstack_body_refuses_bad_cpid_or_duration(cpid: str, duration: int) -> None:
    with pytest.raises(InputError):
        refstack_body(_run(("a.B.t", "passed")), cpid, duration)


GOOD = {"cpid": "c", "duration_seconds": 1, "results": [{"name": "a.B.t", "uuid": "u"}]}


def _with(**changes) -> bytes:
    body = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b'{"cpid": "c",\n "duration_seconds": 1,,}', "not JSON: line 2 column 24"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"[1, 2]", "top level: expected an object, got a list"),
        (_with(cpid=...), "cpid: missing"),
        (_with(results=...), "results: missing"),
        (_with(meta={"a": 1}), "meta: unexpected key"),
        (_with(duration_seconds="12"), 'duration_seconds: expected an integer, got "12"'),
        (_with(duration_seconds=1.5), "duration_seconds: expected an integer, got 1.5"),
        (_with(duration_seconds=True), "duration_seconds: expected an integer, got true"),
        (_with(cpid=5), "cpid: expected a non-empty string, got 5"),
        (_with(results={"name": "x"}), "results: expected a list, got an object"),
        (_with(results=[]), "results: empty; RefStack refuses"),
        (_with(results=[{"uuid": "u"}]), "results[0].name: missing"),
        (_with(results=[{"name": 3}]), "results[0].name: expected a non-empty string, got 3"),
        (_with(results=[{"name": "a", "uuid": 7}]), "results[0].uuid: expected a string, got 7"),
        (_with(results=[{"name": "a", "uuid": None}]), "results[0].uuid: expected a string"),
        (_with(results=[{"name": ""}]), 'results[0].name: expected a non-empty string, got ""'),
        (
            _with(results=[{"name": "a", "uuid": "u"}, {"name": "a", "uuid": "v"}]),
            "results[1].name: duplicate of results[0] (a)",
        ),
        (_with(results=["a.B.t"]), "results[0]: expected an object, got a string"),
        (
            _with(results=[{"name": "a"}, {"name": "b"}, {"name": "a"}]),
            "results[2].name: duplicate of results[0] (a)",
        ),
    ],
)
def test_read_refstack_names_each_problem(data: bytes, problem: str) -> None:
    with pytest.raises(ResultsFormatError) as caught:
        read_refstack(data, "up.json")
    assert caught.value.message.startswith("invalid RefStack results 'up.json'")
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert caught.value.hint and isinstance(caught.value, InputError)


def test_read_refstack_lists_every_problem_at_once() -> None:
    data = json.dumps({"cpid": 1, "duration_seconds": "x", "results": [{}], "extra": 1}).encode()
    with pytest.raises(ResultsFormatError) as caught:
        read_refstack(data, "up.json")
    assert len(caught.value.problems) == 4
    assert "4 problems" in caught.value.message
    for problem in caught.value.problems:
        assert f"  - {problem}" in caught.value.message


def test_check_refstack_on_the_parsed_body_is_read_refstack() -> None:
    # the server parses a body once (load_refstack) and checks the value (check_refstack)
    data = _with(results=[{"name": "a", "uuid": "u"}, {"name": "b"}, {"name": "c", "uuid": "w"}])
    upload = check_refstack(load_refstack(data, "up.json"), "up.json")
    assert upload == read_refstack(data, "up.json")
    assert [(t.name, t.uuid) for t in upload.results] == [("a", "u"), ("b", None), ("c", "w")]
    bad = _with(results=[{"name": "a"}, {"name": 3}, {"name": "a"}])
    with pytest.raises(ResultsFormatError) as caught:
        check_refstack(json.loads(bad), "up.json")
    assert caught.value.problems == (
        "results[1].name: expected a non-empty string, got 3",
        "results[2].name: duplicate of results[0] (a)",
    )


@pytest.mark.parametrize(
    "results",
    [
        [{"name": "a", "uuid": "u"}, {"name": "b"}],
        [{"name": "a"}, {"name": 3}, {"name": "a"}],
        [{"name": "a", "uuid": 1}, "b", {"uuid": "u"}, {"name": ""}],
        [{"name": "a"}, {"name": "b", "uuid": None}],
        [],
        {"name": "a"},
    ],
)
def test_validate_refstack_checks_as_check_refstack(results) -> None:
    # the server keeps the parsed body: the same checks, nothing built
    body = json.loads(_with(results=results))
    try:
        check_refstack(body, "up.json")
    except ResultsFormatError as exc:
        with pytest.raises(ResultsFormatError) as caught:
            validate_refstack(body, "up.json")
        assert caught.value.problems == exc.problems
    else:
        assert validate_refstack(body, "up.json") is None


def test_read_refstack_accepts_refstack_client_pretty_file() -> None:
    # refstack-client saves the body pretty-printed (indent 4); `upload` sends that file
    pretty = json.dumps(GOOD, indent=4, separators=(",", ": ")).encode()
    upload = read_refstack(pretty)
    assert upload.cpid == "c" and upload.results[0].uuid == "u"


# --------------------------------------------------------------------------- extended


ENV = RunEnvironment(
    tempest_version="47.0.0",
    guideline_id="2020.06",
    guideline_sha256="c" * 64,
    target="object",
    add_ons=("dns.2020.06",),
    cpid="b33dc8a37c8607c6a7612f6296139578",
    started=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    ended=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(seconds=90),
)


def test_extended_round_trip(tmp_path: Path, sample: RunResults) -> None:
    path = write_extended(tmp_path / "results-extended.json", sample, ENV)
    body = json.loads(path.read_text())
    assert body["schema"] == EXTENDED_SCHEMA_ID
    assert body["summary"]["passed"] == sum(1 for t in sample.tests if t.status == "passed")
    back = read_extended(path.read_bytes(), str(path))
    assert back.environment == ENV
    assert back.results == sample


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b.update(schema="other/1"), "schema: 'tcup.results-extended/1' was expected"),
        (lambda b: b["tests"][0].update(status="great"), "tests[0].status: 'great' is not one of"),
        (lambda b: b["tests"][1].pop("name"), "tests[1]: 'name' is a required property"),
        (
            lambda b: b["environment"]["guideline"].update(sha256="xyz"),
            "environment.guideline.sha256",
        ),
        (lambda b: b["tests"][0].update(start="yesterday"), "tests[0].start: 'yesterday' is not a"),
    ],
)
def test_read_extended_names_each_problem(sample: RunResults, mutate, problem: str) -> None:
    body = json.loads(dump_extended(sample, ENV))
    mutate(body)
    with pytest.raises(ResultsFormatError) as caught:
        read_extended(json.dumps(body).encode(), "x.json")
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


# --------------------------------------------------------------------------- JUnit


def test_junit_counts_match(sample: RunResults) -> None:
    root = ET.fromstring(junit_xml(sample))  # noqa: S314 - our own output
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    counts = sample.counts()
    assert len(cases) == int(suite.get("tests")) == len(sample.tests)
    assert int(suite.get("failures")) == counts["failed"] + counts["uxsuccess"]
    assert int(suite.get("errors")) == counts["fixture_errors"]
    assert int(suite.get("skipped")) == counts["skipped"] + counts["xfail"]
    assert len(suite.findall("testcase/failure")) == int(suite.get("failures"))
    assert len(suite.findall("testcase/skipped")) == int(suite.get("skipped"))
    setup = [c for c in cases if c.get("name") == "setUpClass"]
    assert setup[0].get("classname") == f"{OBJ}.test_account_services.AccountTest"
    failed = [c for c in cases if c.find("failure") is not None]
    assert any("<c> & its objects" in c.find("failure").get("message") for c in failed)


def test_junit_escapes_hostile_names_and_control_characters() -> None:
    hostile = "x.Y.test_<script>&\"'[id-1]"
    results = RunResults(
        tests=(TestResult.create(hostile, "failed", details={"traceback": "bad \x1b[31m\x00 end"}),)
    )
    root = ET.fromstring(junit_xml(results))  # noqa: S314 - our own output
    case = root.find("testsuite/testcase")
    assert case.get("name") == "test_<script>&\"'[id-1]"
    assert case.get("classname") == "x.Y"
    assert "bad" in case.find("failure").text and "\x1b" not in case.find("failure").text


# --------------------------------------------------------------------------- load_results


def test_load_results_detects_every_format(tmp_path: Path, sample: RunResults) -> None:
    refstack = tmp_path / "results.json"
    refstack.write_bytes(dump_refstack(refstack_body(sample, "c", 3)))
    extended = write_extended(tmp_path / "results-extended.json", sample, ENV)
    loaded = {p.name: load_results(p) for p in (V2, V1, refstack, extended)}
    assert loaded[V2.name].format == "subunit-v2"
    assert loaded[V1.name].format == "subunit-v1"
    assert loaded["results.json"].format == "refstack"
    assert loaded["results-extended.json"].format == "extended"
    assert loaded["results-extended.json"].environment == ENV
    passed = {n for n, s in sample.states().items() if s == "passed"}
    for item in loaded.values():
        assert {n for n, s in item.states().items() if s == "passed"} == passed
    # a run's output directory: the extended file wins
    assert load_results(tmp_path).format == "extended"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x01 binary junk", "is neither a RefStack JSON"),
        (b'{"cpid": "c"}', "invalid RefStack results"),
        (b'{"schema": "tcup.results-extended/1"}', "invalid extended results"),
    ],
)
def test_load_results_refuses_other_input(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_results(path)


def test_load_results_missing_file_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read results .*No such file"):
        load_results(tmp_path / "nope.subunit")
    with pytest.raises(InputError, match="no results in directory"):
        load_results(tmp_path)
