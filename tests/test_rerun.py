"""``tcup run --rerun DIR``: a second pass over what did not pass, merged into DIR.

The chain is the real one over the sample suite (see ``tests/test_run.py``);
between the passes the test edits the suite so that some failures now pass,
as a fixed cloud would.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tcup import manifest as manifest_mod
from tcup import rerun as rerun_mod
from tcup import run as run_mod
from tcup.errors import ExitCode, InputError
from tcup.results import read_refstack, read_subunit
from tests.test_run import _options, fake_cloud, sample_workspace  # noqa: F401 (fixtures)

DELETE = "tempest.api.object_storage.test_container_services.ContainerTest.test_delete_container"
CREATE = "tempest.api.object_storage.test_container_services.ContainerTest.test_create_container"
ACCOUNT = "tempest.api.object_storage.test_account_services.AccountTest.test_list_containers"


def _fix_the_cloud(workspace: Path) -> None:
    """Make the sample suite's deliberate failures pass (a test and a class set-up)."""
    suite = Path((workspace / ".stestr.conf").read_text().split("test_path=")[1].split()[0])
    module = suite / "test_object_storage.py"
    text = module.read_text()
    text = text.replace("self.assertEqual(204, 409,", "self.assertEqual(204, 204,")
    text = text.replace('raise RuntimeError("account setup failed', 'print("account setup ok')
    module.write_text(text)


def test_rerun_runs_only_what_did_not_pass_and_merges(
    fake_cloud,  # noqa: F811
    sample_workspace: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = run_mod.run(_options(tmp_path), io.StringIO())
    assert first == ExitCode.NOT_QUALIFIED
    out = tmp_path / "out"
    before = (out / "results.subunit").read_bytes()
    states = read_subunit(before).states()
    assert states[DELETE] == "failed" and states[CREATE] == "passed" and ACCOUNT not in states

    _fix_the_cloud(sample_workspace)
    stdout = io.StringIO()
    options = run_mod.RunOptions(guideline=None, out=tmp_path / "ignored", rerun=out, concurrency=2)
    run_mod.run(options, stdout)
    text = stdout.getvalue()
    assert "pass 2 over" in text and "running again the" in text

    assert (out / "passes" / "1.subunit").read_bytes() == before
    assert (out / "passes" / "2.subunit").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["kind"] for p in manifest["passes"]] == ["run", "rerun"]
    again = manifest["passes"][1]["tests"]
    assert any(t.startswith(DELETE) for t in again) and any(t.startswith(ACCOUNT) for t in again)
    assert not any(t.startswith(CREATE) for t in again)  # it passed the first time
    assert manifest["passes"][0]["exit_status"] == 1
    assert manifest["passes"][1]["exit_status"] == manifest["exit_status"]
    assert (out / "passes" / "2-test-list.txt").read_text().split() == again

    merged = read_subunit((out / "results.subunit").read_bytes())
    now = merged.states()
    assert now[DELETE] == "passed" and now[ACCOUNT] == "passed" and now[CREATE] == "passed"
    assert not any(f.test_id.startswith("setUpClass") for f in merged.fixtures)
    assert manifest["tests_run"] == sum(1 for t in merged.tests if t.kind == "test")
    uploaded = {t.name for t in read_refstack((out / "results.json").read_bytes()).results}
    assert {DELETE, ACCOUNT, CREATE} <= uploaded
    report = json.loads((out / "report.json").read_text())
    assert report["qualifies"] is (manifest["exit_status"] == ExitCode.QUALIFIES)

    # a third pass has the failures that are left, or nothing at all
    third = io.StringIO()
    run_mod.run(options, third)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["passes"]) == 3
    assert all(
        t not in manifest["passes"][2]["tests"] for t in again if now[t.split("[")[0]] == "passed"
    )


def test_rerun_refuses_another_target_and_another_cloud(
    fake_cloud,  # noqa: F811
    monkeypatch,
    tmp_path: Path,
) -> None:
    run_mod.run(_options(tmp_path), io.StringIO())
    out = tmp_path / "out"
    saved = (out / "manifest.json").read_bytes()
    with pytest.raises(
        InputError, match="for target OpenStack Powered Storage, not OpenStack Powered Platform"
    ):
        run_mod.run(_options(tmp_path, target="platform", rerun=out), io.StringIO())
    data = json.loads(saved)
    data["cpid"] = "another-cloud"
    (out / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="cpid another-cloud"):
        run_mod.run(_options(tmp_path, rerun=out), io.StringIO())
    data["guideline_sha256"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="is not the one of the run"):
        run_mod.run(_options(tmp_path, rerun=out), io.StringIO())


def test_rerun_of_a_directory_that_is_no_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a directory"):
        rerun_mod.read_earlier(tmp_path / "nothing")
    with pytest.raises(InputError, match="has no manifest.json"):
        rerun_mod.read_earlier(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InputError, match="not a tcup manifest"):
        rerun_mod.read_earlier(tmp_path)


def test_merge_streams_replaces_the_tests_run_again() -> None:
    from subunit.v2 import StreamResultToBytes

    def stream(*events: tuple[str, str]) -> bytes:
        buf = io.BytesIO()
        out = StreamResultToBytes(buf)
        for test_id, status in events:
            out.status(test_id=test_id, test_status="inprogress")
            out.status(test_id=test_id, test_status=status)
        return buf.getvalue()

    first = stream(
        ("a.B.test_one[id-1]", "success"),
        ("a.B.test_two[id-2,slow]", "fail"),
        ("setUpClass (a.C)", "fail"),
    )
    again = stream(("a.B.test_two[id-2]", "success"), ("a.C.test_three[id-3]", "success"))
    merged = read_subunit(
        rerun_mod.merge_streams(first, again, ["a.B.test_two[id-2]", "a.C.test_three[id-3]"])
    )
    assert merged.states() == {
        "a.B.test_one": "passed",
        "a.B.test_two": "passed",
        "a.C.test_three": "passed",
    }
    assert not merged.fixtures
    assert rerun_mod.merge_streams(b"", again, []) == again


def test_not_passed_keeps_failed_skipped_and_unreported() -> None:
    states = {"a.B.ok": "passed", "a.B.bad": "failed", "a.B.skip": "skipped"}
    ids = ["a.B.ok[id-1]", "a.B.bad[id-2]", "a.B.skip[id-3]", "a.B.never[id-4]"]
    assert rerun_mod.not_passed(ids, states) == ids[1:]


def test_a_pending_upload_of_the_earlier_results_is_set_aside(tmp_path: Path) -> None:
    manifest = manifest_mod.Manifest(guideline="g", guideline_sha256="0", target="t")
    manifest_mod.write_manifest(tmp_path, manifest)
    (tmp_path / "results.subunit").write_bytes(b"")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "body.json").write_text("{}")
    earlier = rerun_mod.read_earlier(tmp_path)
    number, stream = rerun_mod.start_pass(earlier)
    assert number == 2 and stream == tmp_path / "passes" / "2.subunit"
    assert not (tmp_path / "outbox").exists()
    assert (tmp_path / "passes" / "1-outbox" / "body.json").is_file()
    assert earlier.manifest.passes[0]["kind"] == "run"


def test_the_cli_wants_a_guideline_or_a_rerun_directory(tmp_path: Path) -> None:
    from tcup import cli

    stderr = io.StringIO()
    code = cli.main(["run", "--out", str(tmp_path)], stdout=io.StringIO(), stderr=stderr)
    assert code == ExitCode.USAGE
    assert "--guideline (or --rerun DIR)" in stderr.getvalue()
    stderr = io.StringIO()
    code = cli.main(["run", "--rerun", str(tmp_path)], stdout=io.StringIO(), stderr=stderr)
    assert code == ExitCode.USAGE and "has no manifest.json" in stderr.getvalue()
