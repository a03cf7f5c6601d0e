"""``tcup run`` of the Platform and Compute targets on the real Platform reference cloud.

Real Keystone, Swift, Glance, Nova (fake hypervisor whose servers get SSH
guests), Placement, Neutron and Cinder (``tools/cloud/up``), real Tempest,
python-tempestconf and stestr. Each test is one ``tcup run`` through
``tcup.cli.main``; the two qualifying runs take a few minutes each on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import pytest

from tcup import accounts as accounts_mod
from tcup import execute as execute_mod
from tcup import resources
from tcup.errors import ExitCode
from tcup.results import read_subunit
from tests.cli_run import tcup_with_env
from tests.interop import interop_dir
from tests.output_dir import OUTPUT_FILES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("TCUP_CLOUD_PROFILE") == "storage",
        reason="TCUP_CLOUD_PROFILE=storage: the cloud runs without its Platform services",
    ),
]

GUIDELINE = interop_dir() / "2020.06.json"

#: the required tests that log in to a guest over SSH (the fake hypervisor's guests)
SSH_CAPABILITIES = ("compute-servers-host", "compute-servers-verify")
SSH_TESTS = ("test_host_name_is_same_as_server_name", "test_verify_created_server_vcpus")


def _tcup(cloud, monkeypatch, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    """``tcup ARGV`` as the cloud's admin; returns (exit code, stdout, stderr)."""
    return tcup_with_env(monkeypatch, cloud.env(admin=True), *argv)


def _run(cloud, monkeypatch, guideline: Path, target: str, out: Path, *options: str):  # noqa: ANN001, ANN202
    argv = ("run", "--guideline", str(guideline), "--target", target, "--image", "generate")
    return _tcup(cloud, monkeypatch, *argv, *options, "--out", str(out))


def _assert_qualifies(out: Path, code: int, stdout: str, stderr: str, target: str) -> dict:
    """Exit 0, every required capability passed, the SSH tests really ran and passed."""
    assert code == ExitCode.QUALIFIES, stdout[-4000:] + stderr[-3000:]
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["qualifies"] is True
    assert report["verdict"] == f"Would qualify for OpenStack Powered {target.title()} 2020.06"
    required = [c for c in report["capabilities"] if c["status"] == "required"]
    assert required
    assert [(c["name"], c["outcome"]) for c in required if c["outcome"] != "passed"] == []
    outcome = {c["name"]: c["outcome"] for c in required}
    for capability in SSH_CAPABILITIES:
        assert outcome[capability] == "passed", capability
    # passed, not skipped: validation was on and the guests answered SSH
    listed = (out / "test-list.txt").read_text(encoding="utf-8").split()
    results = read_subunit((out / "results.subunit").read_bytes())
    assert {t.test_id for t in results.tests if t.kind == "test"} == set(listed)
    states = results.states()
    for test in SSH_TESTS:
        ran = [s for t, s in states.items() if t.split("[")[0].endswith("." + test)]
        assert ran == ["passed"], (test, ran)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exit_status"] == 0 and manifest["missing_services"] == []
    assert manifest["validation"]["enabled"] is True
    assert manifest["not_in_tempest"] == []  # every planned test was run
    return manifest


def test_platform_qualifies_on_accounts_tcup_makes_and_removes_them(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    pools: list[accounts_mod.Pool] = []
    projects: list[str] = []  # removing the pool empties its lists
    real_provision = accounts_mod.provision

    def keep_pool(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        pool = real_provision(*args, **kwargs)
        pools.append(pool)
        projects.extend(pool.project_ids)
        return pool

    monkeypatch.setattr(accounts_mod, "provision", keep_pool)
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        reference_cloud, monkeypatch, GUIDELINE, "platform", out, "--accounts", "auto"
    )
    manifest = _assert_qualifies(out, code, stdout, stderr, "platform")
    assert manifest["credentials_mode"] == "auto-accounts"
    assert "they are removed when the run ends" in stdout
    assert "could not remove test accounts" not in stdout

    # The pool is gone: its users and projects, and what the tests left in its projects.
    assert len(pools) == 1
    pool = pools[0]
    prefix = pool.accounts[0].username.rsplit("-", 1)[0]  # tcup-<8 hex>
    assert prefix.startswith("tcup-") and len(projects) >= 4
    assert pool.project_ids == [] and pool.user_ids == []  # all deleted, none left over
    conn = reference_cloud.connect(admin=True)
    assert not [u.name for u in conn.identity.users() if u.name.startswith(prefix + "-")]
    assert not [p.name for p in conn.identity.projects() if p.name.startswith(prefix + "-")]
    for project in projects:
        assert not list(conn.compute.servers(all_projects=True, project_id=project))
        assert not list(conn.network.networks(project_id=project))
        assert not list(conn.block_storage.volumes(all_projects=True, project_id=project))
    assert not pool.path.exists()


def test_compute_qualifies_with_dynamic_credentials(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(reference_cloud, monkeypatch, GUIDELINE, "compute", out)
    manifest = _assert_qualifies(out, code, stdout, stderr, "compute")
    assert manifest["credentials_mode"] == "dynamic"
    listed = (out / "test-list.txt").read_text(encoding="utf-8").split()
    assert not [t for t in listed if t.startswith("tempest.api.object_storage.")]


def _few_compute_tests(tmp_path: Path) -> Path:
    """2020.06 with the Compute target cut to two capabilities: flavor listings, which
    need no server, and server deletion, whose tests boot servers."""
    data = json.loads(GUIDELINE.read_text(encoding="utf-8"))
    data["components"]["os_powered_compute"]["capabilities"]["required"] = [
        "compute-flavors-list",
        "compute-servers-delete",
    ]
    path = tmp_path / "2020.06-few-compute.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _wait_until_reported_down(conn, timeout: float = 150) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not resources.compute_hosts_down(conn):
        if time.monotonic() > deadline:
            pytest.fail(f"Nova did not report nova-compute down within {timeout:.0f} s")
        time.sleep(2)


def test_nova_compute_stopped_during_the_run_exits_4_and_keeps_the_results(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    """nova-compute stops after pre-flight and configuration, before the tests start.

    Nova reports a compute service down only after it has missed its heartbeats for
    ``service_down_time`` (60 s); until then it schedules servers to it, and they
    stay in BUILD until Tempest's build timeout. The tests start once Nova reports
    the service down, so that the servers fail at once and the test stays short.
    """
    conn = reference_cloud.connect(admin=True)
    assert resources.compute_hosts_down(conn) == []  # the shared cloud is whole
    real_execute = execute_mod.execute
    out = tmp_path / "out"
    stopped: list[str] = []
    with contextlib.ExitStack() as restart:

        def execute_without_nova_compute(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            restart.enter_context(reference_cloud.stopped("nova-compute"))
            stopped.append("nova-compute")
            _wait_until_reported_down(conn)
            return real_execute(*args, **kwargs)

        monkeypatch.setattr(execute_mod, "execute", execute_without_nova_compute)
        code, stdout, stderr = _run(
            reference_cloud, monkeypatch, _few_compute_tests(tmp_path), "compute", out
        )
        assert stopped, "the run never reached its tests: " + stdout[-2000:] + stderr[-2000:]
    # nova-compute runs again (the fixture's `up --only nova-compute` waits until it reports)
    assert resources.compute_hosts_down(conn) == []

    assert code == ExitCode.RUN, stdout[-4000:] + stderr[-3000:]
    assert "tcup: nova-compute is down on tcup-compute: servers could not be built" in stdout
    assert f"partial results are in {out}" in stdout
    for name in ("results.subunit", "report.json", "report.txt", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["exit_status"] == ExitCode.RUN
    assert "nova-compute is down" in manifest["exit_reason"]
    states = read_subunit((out / "results.subunit").read_bytes()).states()
    assert "passed" in states.values() and "failed" in states.values(), states
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    outcome = {c["name"]: c["outcome"] for c in report["capabilities"]}
    assert outcome["compute-flavors-list"] == "passed"  # no server needed
    assert outcome["compute-servers-delete"] == "failed"
    assert report["qualifies"] is False
