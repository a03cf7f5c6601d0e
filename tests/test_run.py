"""The run chain, with a real stestr run of a tiny Tempest-like suite instead of a cloud.

Only the two cloud-facing stages are replaced (pre-flight answers with a
``CloudInfo``; configure points at a stestr workspace over the sample suite);
planning, matching, execution, collection, scoring, reports and the manifest
are the real ones.  The same chain against the real cloud is in
``tests/integration/test_run_reference.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tcup import cloud as cloud_mod
from tcup import configure as configure_mod
from tcup import dynamic as dynamic_mod
from tcup import execute as execute_mod
from tcup import progress as progress_mod
from tcup import run as run_mod
from tcup.errors import ExitCode, InputError, RunError, UploadError
from tcup.guidelines import parse_guideline
from tcup.results import read_refstack
from tcup.testlist import plan
from tests.cloud_info import make_cloud_info, make_credentials
from tests.interop import interop_dir
from tests.output_dir import OUTPUT_FILES

INTEROP = interop_dir()
GUIDELINE = INTEROP / "2020.06.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CANARY = "canary-Pa55w0rd-7f3e"


def _guideline():
    return parse_guideline(GUIDELINE.read_bytes(), str(GUIDELINE))


def test_services_for_the_storage_target() -> None:
    g = _guideline()
    needed = run_mod.services_for_plan(plan(g, "object"), [g])
    assert sorted(needed) == ["identity", "object-store"]
    assert sum(len(v) for v in needed.values()) == 58


def test_services_for_the_platform_target() -> None:
    g = _guideline()
    needed = run_mod.services_for_plan(plan(g, "platform"), [g])
    assert sorted(needed) == [
        "block-storage",
        "compute",
        "identity",
        "image",
        "network",
        "object-store",
    ]
    assert all(
        t.name.startswith("tempest.api.compute.") or "compute" in t.capability
        for t in needed["compute"]
    )


# ------------------------------------------------------------ the chain


@pytest.fixture
def sample_workspace(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    shutil.copytree(FIXTURES / "sample_suite", suite / "sample_suite")
    ws = tmp_path / "ws"
    (ws / "etc").mkdir(parents=True)
    (ws / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={suite / 'sample_suite'}\ntop_dir={suite}\n", encoding="utf-8"
    )
    subprocess.run([execute_mod._stestr(), "init"], cwd=ws, check=True, capture_output=True)
    (ws / "etc" / "tempest.conf").write_text(
        f"[auth]\nadmin_password = {CANARY}\nuse_dynamic_credentials = False\n"
        "[identity]\nuri_v3 = http://127.0.0.1:5000/v3\n",
        encoding="utf-8",
    )
    return ws


def _info(missing: tuple[str, ...] = ()) -> cloud_mod.CloudInfo:
    services = {"identity": "http://127.0.0.1:5000/v3", "object-store": "http://127.0.0.1:8080/v1"}
    return make_cloud_info(
        auth_url="http://127.0.0.1:5000/v3",
        user="tcup",
        project="tcup",
        cpid="f3a407ef32974304a633250aa6e3c2c0",
        services=services,
        missing=missing,
    )


@pytest.fixture
def fake_cloud(monkeypatch, sample_workspace: Path, tmp_path: Path):  # noqa: ANN201
    """Pre-flight and configure replaced; everything else real."""
    seen = {}

    def load_credentials(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return make_credentials()

    def preflight(creds, required, fail_on_missing=True, **kw):  # noqa: ANN001, ANN003, ANN202
        seen["required"] = list(required)
        missing = tuple(s for s in required if s not in ("identity", "object-store"))
        return _info(missing)

    def configure(workspace, creds, info, options):  # noqa: ANN001, ANN202
        return configure_mod.Configured(
            sample_workspace, sample_workspace / "etc" / "tempest.conf", "accounts", (CANARY,)
        )

    monkeypatch.setattr(cloud_mod, "load_credentials", load_credentials)
    monkeypatch.setattr(cloud_mod, "preflight", preflight)
    monkeypatch.setattr(configure_mod, "configure", configure)
    monkeypatch.setenv("TCUP_CACHE_DIR", str(tmp_path / "cache"))
    return seen


def _options(tmp_path: Path, **kw) -> run_mod.RunOptions:  # noqa: ANN003
    return run_mod.RunOptions(
        guideline=str(GUIDELINE),
        target=kw.pop("target", "object"),
        out=tmp_path / "out",
        concurrency=2,
        **kw,
    )


def test_run_writes_the_whole_output_dir(fake_cloud, tmp_path: Path) -> None:
    stdout = io.StringIO()
    code = run_mod.run(_options(tmp_path), stdout)
    out = tmp_path / "out"
    # the sample suite fails some guideline tests on purpose: ran, would not qualify
    assert code == ExitCode.NOT_QUALIFIED, stdout.getvalue()
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    assert sorted(fake_cloud["required"]) == ["identity", "object-store"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["exit_status"] == 1 and manifest["guideline"] == "2020.06"
    listed = (out / "test-list.txt").read_text().split()
    # AccountTest's setUpClass fails in the sample suite: its tests never report
    not_reported = [t for t in listed if ".AccountTest." in t]
    assert not_reported
    assert manifest["tests_run"] == len(listed) - len(not_reported) > 0
    # the sample suite has a few of the 58 Storage tests: the others are named before the run
    absent = manifest["not_in_tempest"]
    assert absent and len(absent) + len({t.split("[")[0] for t in listed}) == 58
    assert not {t.split("[")[0] for t in listed} & set(absent)
    before_run = stdout.getvalue().split("running ")[0]
    assert f"{len(absent)} planned test(s) are not in this Tempest" in before_run
    assert all(name in before_run for name in absent)
    report = json.loads((out / "report.json").read_text())
    states = {t["name"]: t["state"] for c in report["capabilities"] for t in c["tests"]}
    assert {n for n, s in states.items() if s == "not in tempest"} == set(absent)
    from tcup.results import load_results  # tcup report OUT tells the same from the manifest

    reread = load_results(out).states()
    assert {n for n, s in reread.items() if s == "not in tempest"} == set(absent)
    body = read_refstack((out / "results.json").read_bytes())
    assert body.cpid == "f3a407ef32974304a633250aa6e3c2c0"
    assert body.results and {t.name for t in body.results} <= {n.split("[")[0] for n in listed}
    assert "***" in (out / "tempest.conf").read_text()
    for path in out.rglob("*"):
        assert CANARY.encode() not in path.read_bytes(), path.name
    assert "Would NOT qualify" in stdout.getvalue()


def test_platform_skips_tests_of_missing_services(fake_cloud, tmp_path: Path) -> None:
    stdout = io.StringIO()
    code = run_mod.run(_options(tmp_path, target="platform"), stdout)
    assert code == ExitCode.NOT_QUALIFIED
    text = stdout.getvalue()
    assert "missing services: block-storage, compute, image, network" in text
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["missing_services"] == ["block-storage", "compute", "image", "network"]
    listed = (tmp_path / "out" / "test-list.txt").read_text().split()
    assert not any(t.startswith("tempest.api.compute.") for t in listed)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["qualifies"] is False


def test_ctrl_c_keeps_results_and_exits_130(fake_cloud, monkeypatch, tmp_path: Path) -> None:
    class Interrupting(execute_mod.PlainProgress):
        def test_done(self, test_id: str, status: str, duration: float | None) -> None:
            super().test_done(test_id, status, duration)
            raise KeyboardInterrupt

    monkeypatch.setattr(execute_mod, "progress_for", lambda stdout: Interrupting(stdout))
    code = run_mod.run(_options(tmp_path), io.StringIO())
    assert code == 130
    out = tmp_path / "out"
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["exit_status"] == 130 and "interrupted" in manifest["exit_reason"]


def test_failed_upload_keeps_results_in_outbox_and_exits_5(fake_cloud, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UploadError) as info:
        run_mod.run(_options(tmp_path, url=f"http://127.0.0.1:{port}"), io.StringIO())
    assert info.value.exit_code == ExitCode.UPLOAD
    out = tmp_path / "out"
    assert (out / "results.json").is_file() and any((out / "outbox").iterdir())
    assert json.loads((out / "manifest.json").read_text())["exit_status"] == 5
    # the outbox keeps the whole run for a TCUP server, with the manifest as it was final
    from tcup.upload import pending_uploads

    (entry,) = pending_uploads(out)
    kept = json.loads(entry.submission.parts["manifest"])
    assert kept["exit_status"] in (0, 1) and kept["ended"]


def test_leaked_secret_is_removed_and_reported(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("nothing here", encoding="utf-8")
    (tmp_path / "bad.txt").write_text(f"password={CANARY}", encoding="utf-8")
    with pytest.raises(RunError, match="bad.txt"):
        run_mod._check_secrets(tmp_path, [CANARY])
    assert not (tmp_path / "bad.txt").exists() and (tmp_path / "ok.txt").exists()


def test_run_options_from_tcup_environment(monkeypatch) -> None:
    from tcup import cli, settings
    from tcup.commands import run as run_command

    monkeypatch.setenv("TCUP_SKIP_MISSING_SERVICES", "false")
    monkeypatch.setenv("TCUP_CONCURRENCY", "3")
    monkeypatch.setenv("TCUP_ADD_ON", "dns.2020.06,orchestration.2020.06")
    parser = cli.build_parser(settings.load_defaults(environ=dict(os.environ)))
    args = parser.parse_args(["run", "--guideline", "2020.06"])
    seen = {}
    monkeypatch.setattr(run_mod, "run", lambda options, stdout: seen.setdefault("o", options) and 0)
    run_command.run(args, io.StringIO())
    options = seen["o"]
    assert options.skip_missing_services is False
    assert options.concurrency == 3
    assert options.add_ons == ("dns.2020.06", "orchestration.2020.06")
    assert options.statuses == ("required",)


def test_a_busy_workspace_is_refused_and_freed_after(tmp_path: Path) -> None:
    """A second run in the same Tempest workspace stops at once with a clear error."""
    workspace = tmp_path / "ws"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from tcup.run import workspace_lock\n"
            "with workspace_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(workspace),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError) as caught, run_mod.workspace_lock(workspace):
            pass
        assert str(workspace) in caught.value.message
        assert f"pid {holder.pid}" in caught.value.message
        assert "--workspace" in caught.value.hint
    finally:
        holder.kill()
        holder.wait()
    with run_mod.workspace_lock(workspace):  # the kernel dropped the dead holder's lock
        pass


def test_run_refuses_a_workspace_another_run_holds(fake_cloud, tmp_path: Path) -> None:
    workspace = tmp_path / "busy-ws"
    with run_mod.workspace_lock(workspace), pytest.raises(RunError, match="in use"):
        run_mod.run(_options(tmp_path, workspace=workspace), io.StringIO())
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["exit_status"] == ExitCode.RUN and manifest["tests_run"] == 0


def test_auto_accounts_need_the_admin_role(fake_cloud, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        run_mod.run(_options(tmp_path, auto_accounts=True), io.StringIO())
    assert "needs the admin role" in caught.value.message and "member" in caught.value.message
    assert "--accounts FILE" in caught.value.hint


def test_tests_skipped_on_made_accounts_run_again_with_dynamic_credentials(
    sample_workspace: Path, monkeypatch, tmp_path: Path
) -> None:
    ids = execute_mod.list_tests(sample_workspace, tmp_path / "cache")
    chosen = [i for i in ids if ".ContainerTest." in i or ".ObjectTest." in i]
    out = tmp_path / "out"
    first = execute_mod.execute(sample_workspace, chosen, out / "results.subunit", concurrency=1)
    skipped = [t for t, s in first.statuses.items() if s == "skip"]
    assert len(skipped) == 1 and "test_list_container_contents" in skipped[0]

    def dynamic_variant(configured, creds):  # noqa: ANN001, ANN202
        path = configured.conf.with_name(configure_mod.DYNAMIC_CONF)
        path.write_text("[auth]\nuse_dynamic_credentials = True\n", encoding="utf-8")
        return path

    monkeypatch.setattr(configure_mod, "dynamic_variant", dynamic_variant)
    configured = configure_mod.Configured(
        sample_workspace, sample_workspace / "etc" / "tempest.conf", "auto-accounts"
    )
    manifest = run_mod.manifest_mod.Manifest(guideline="g", guideline_sha256="0", target="t")
    stdout = io.StringIO()
    merged = dynamic_mod.rerun_skipped(configured, None, first, None, manifest, stdout)
    assert merged.statuses[skipped[0]] == "success" and merged.complete
    assert manifest.rerun_dynamic == skipped
    assert "again with dynamic credentials" in stdout.getvalue()
    from tcup.results import read_subunit

    states = read_subunit((out / "results.subunit").read_bytes()).states()
    assert states[skipped[0].split("[")[0]] == "passed"
    assert not (sample_workspace / "tcup-rerun.subunit").exists()
    # the workspace remembers it: the next run starts it beside the others, not after them
    assert dynamic_mod.known(sample_workspace) == {skipped[0].split("[")[0]}
    said = io.StringIO()
    side_list = sample_workspace / "tcup-dynamic-list.txt"  # written when the side run starts
    side_list.unlink(missing_ok=True)
    # a main run that cannot start: the side run never starts either
    cancelled = dynamic_mod.start_alongside(configured, None, chosen, None, said)
    assert cancelled is not None
    cancelled.cancel()
    cancelled.close()
    with pytest.raises(RunError):
        cancelled.future.result()
    assert not side_list.exists()
    beside = dynamic_mod.start_alongside(configured, None, chosen, None, said)
    assert beside is not None and beside.ids == tuple(skipped)
    assert "beside the others" in said.getvalue()
    rest = [t for t in chosen if t not in beside.ids]
    # the side run waits for the main run's first result before it starts
    assert not beside.gate.wait(0.5) and not side_list.exists()
    second = execute_mod.execute(
        sample_workspace,
        rest,
        tmp_path / "out2" / "results.subunit",
        progress=dynamic_mod.OpenOnFirstResult(progress_mod.PlainProgress(said), beside),
    )
    assert beside.gate.is_set()
    manifest2 = run_mod.manifest_mod.Manifest(guideline="g", guideline_sha256="0", target="t")
    joined = dynamic_mod.join(beside, second, manifest2, said)
    assert joined.statuses[skipped[0]] == "success" and joined.complete
    assert set(joined.planned) == set(chosen) and manifest2.rerun_dynamic == skipped
    states = read_subunit((tmp_path / "out2" / "results.subunit").read_bytes()).states()
    assert states[skipped[0].split("[")[0]] == "passed" and len(states) == len(chosen)
    assert not beside.stream.exists()
    # nothing is run a third time
    assert (
        dynamic_mod.rerun_skipped(configured, None, joined, None, manifest2, said, beside) is joined
    )
    # a main run interrupted before its first result: the side run never starts
    late = dynamic_mod.start_alongside(configured, None, chosen, None, said)
    assert late is not None
    side_list.unlink(missing_ok=True)
    stopped = dataclasses.replace(second, interrupted=True)
    assert dynamic_mod.join(late, stopped, manifest2, said) is stopped
    assert late.cancelled and not side_list.exists() and manifest2.rerun_dynamic == skipped
    # application credentials: Tempest's dynamic credentials need a user name and password
    monkeypatch.setattr(configure_mod, "dynamic_variant", lambda configured, creds: None)
    said = io.StringIO()
    again = dynamic_mod.rerun_skipped(configured, None, first, None, manifest, said)
    assert again is first
    assert "cannot run again with dynamic credentials" in said.getvalue()
    assert dynamic_mod.start_alongside(configured, None, chosen, None, said) is None
    # on pre-provisioned accounts the user gave, there is no admin to run them again
    user_given = configure_mod.Configured(configured.workspace, configured.conf, "accounts")
    assert dynamic_mod.rerun_skipped(user_given, None, first, None, manifest, stdout) is first
    assert dynamic_mod.start_alongside(user_given, None, chosen, None, said) is None


def test_auto_accounts_and_a_whole_tempest_conf_do_not_mix(tmp_path: Path) -> None:
    options = _options(tmp_path, auto_accounts=True, tempest_conf=tmp_path / "tempest.conf")
    with pytest.raises(InputError, match="--tempest-conf"):
        run_mod.run(options, io.StringIO())
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_made_accounts_are_removed_while_the_results_are_collected(
    monkeypatch, tmp_path: Path
) -> None:
    import threading

    deleting = threading.Event()
    may_end = threading.Event()

    def provision(conn, path, concurrency, **kwargs):  # noqa: ANN001, ANN003, ANN202
        path.write_text("accounts\n", encoding="utf-8")
        return run_mod.accounts_mod.Pool(path, user_ids=["u1"], project_ids=["p1"])

    def remove(conn, pool):  # noqa: ANN001, ANN202
        deleting.set()
        assert may_end.wait(30)
        return ["user u1"]

    monkeypatch.setattr(run_mod.cloud_mod, "connection", lambda creds: object())
    monkeypatch.setattr(run_mod.accounts_mod, "provision", provision)
    monkeypatch.setattr(run_mod.accounts_mod, "remove", remove)
    info = make_cloud_info(roles=("admin",), services={"object-store": "o"})
    stdout = io.StringIO()
    ending = contextlib.ExitStack()
    made = run_mod._made_accounts(
        make_credentials(), info, tmp_path / "ws", 2, ["object-store"], None, stdout, ending
    )
    with made as making:
        pool = making.wait()
        assert pool.path.is_file()
    # the tests are over: the file is gone at once, the accounts go on a thread
    assert not pool.path.exists()
    assert deleting.wait(30)
    assert "could not remove" not in stdout.getvalue()
    may_end.set()
    ending.close()  # the report is written: the removal is joined, and leftovers named
    assert "could not remove test accounts (user u1)" in stdout.getvalue()
