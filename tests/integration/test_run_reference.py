"""``tcup run`` and ``tcup check`` against the real loopback reference cloud.

Real Keystone, Swift and Glance (``tools/cloud/up``), real Tempest, real
python-tempestconf, real stestr.  Slow: a Storage run with dynamic
credentials takes about two minutes on two cores.

58/58 for Storage: with pre-provisioned accounts Tempest itself skips
``AccountTest.test_list_containers_with_marker`` (upstream bug 2147232) and
``test_list_no_containers`` fails whenever an earlier run left containers in
the shared accounts, so the pass-everything run uses admin credentials and
Tempest's dynamic credentials (fresh projects), as refstack-client does.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tcup import cli
from tcup.errors import ExitCode
from tcup.results import read_refstack, read_subunit
from tests.cli_run import tcup_with_env
from tests.interop import interop_dir
from tests.output_dir import OUTPUT_FILES

pytestmark = pytest.mark.integration

INTEROP = interop_dir()
GUIDELINE = str(INTEROP / "2020.06.json")


def _tcup(cloud, monkeypatch, *argv: str, admin: bool = False) -> tuple[int, str, str]:  # noqa: ANN001
    return tcup_with_env(monkeypatch, cloud.env(admin=admin), *argv)


def _run(
    cloud, monkeypatch, target: str, out: Path, *options: str, admin: bool = False
) -> tuple[int, str, str]:
    """``tcup run`` of the 2020.06 guideline for ``target`` into ``out``."""
    argv = ("run", "--guideline", GUIDELINE, "--target", target, *options, "--out", str(out))
    return _tcup(cloud, monkeypatch, *argv, admin=admin)


def _check_as(cloud, monkeypatch, password: str, project: str) -> tuple[int, str]:  # noqa: ANN001
    """``tcup check`` as the cloud's user with the given password and project."""
    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("OS_AUTH_URL", cloud.auth_url)
    monkeypatch.setenv("OS_USERNAME", cloud.user.username)
    monkeypatch.setenv("OS_PASSWORD", password)
    monkeypatch.setenv("OS_PROJECT_NAME", project)
    monkeypatch.setenv("OS_USER_DOMAIN_NAME", "Default")
    monkeypatch.setenv("OS_PROJECT_DOMAIN_NAME", "Default")
    err = io.StringIO()
    code = cli.main(["check"], stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


def _secrets(cloud) -> list[str]:  # noqa: ANN001
    accounts = yaml.safe_load(cloud.accounts_yaml.read_text(encoding="utf-8"))
    return [cloud.user.password, cloud.admin.password] + [a["password"] for a in accounts]


def _assert_no_secret(out: Path, secrets: list[str]) -> None:
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a password leaked into {path.name}"


def test_storage_run_passes_all_58_tests_with_real_tempest(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        reference_cloud, monkeypatch, "object", out, "--workspace", str(tmp_path / "ws"), admin=True
    )
    assert code == ExitCode.QUALIFIES, stdout[-3000:] + stderr[-3000:]
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), name

    listed = (out / "test-list.txt").read_text(encoding="utf-8").split()
    assert len(listed) == 58
    results = read_subunit((out / "results.subunit").read_bytes())
    tests = [t for t in results.tests if t.kind == "test"]
    assert {t.test_id for t in tests} == set(listed)  # real Tempest ran exactly the list
    assert all(t.status == "passed" for t in tests), [
        (t.test_id, t.status, t.reason) for t in tests if t.status != "passed"
    ]

    manifest = json.loads((out / "manifest.json").read_text())
    body = read_refstack((out / "results.json").read_bytes())
    assert len(body.results) == 58
    assert body.cpid == manifest["cpid"]
    assert manifest["exit_status"] == 0 and manifest["credentials_mode"] == "dynamic"
    assert manifest["guideline"] == "2020.06" and manifest["tests_run"] == 58
    assert manifest["versions"]["tempest"] and manifest["versions"]["tempestconf"]
    import hashlib

    assert (
        manifest["test_list_sha256"]
        == hashlib.sha256((out / "test-list.txt").read_bytes()).hexdigest()
    )
    assert manifest["guideline_sha256"] == hashlib.sha256(Path(GUIDELINE).read_bytes()).hexdigest()

    report = json.loads((out / "report.json").read_text())
    assert report["qualifies"] is True
    junit = ET.parse(out / "junit.xml").getroot()  # noqa: S314 - our own file
    assert len(junit.findall(".//testcase")) == 58

    _assert_no_secret(out, _secrets(reference_cloud))
    conf = (out / "tempest.conf").read_text(encoding="utf-8")
    assert "use_dynamic_credentials = False" not in conf  # dynamic is Tempest's default
    assert "password = ***" in conf  # tempestconf's own users, masked


def test_platform_run_shows_missing_services_and_runs_the_rest(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    """The cloud's second region has a real catalog without compute, network, volumes."""
    out = tmp_path / "out"
    code, stdout, stderr = _run(
        reference_cloud,
        monkeypatch,
        "platform",
        out,
        "--os-region-name",
        reference_cloud.storage_region,
        "--accounts",
        str(reference_cloud.accounts_yaml),
        "--image",
        str(reference_cloud.image),
    )
    assert code == ExitCode.NOT_QUALIFIED, stdout[-3000:] + stderr[-3000:]
    head = stdout.split("running ")[0]
    assert "missing services: block-storage, compute, network" in head  # before any test
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["missing_services"] == ["block-storage", "compute", "network"]
    assert manifest["credentials_mode"] == "accounts"
    listed = (out / "test-list.txt").read_text(encoding="utf-8").split()
    assert listed and all(
        t.startswith(("tempest.api.identity.", "tempest.api.object_storage.", "tempest.api.image."))
        for t in listed
    )
    assert manifest["region"] == reference_cloud.storage_region
    conf = configparser.RawConfigParser()
    conf.read(out / "tempest.conf", encoding="utf-8")
    # tempestconf discovered the region's catalog, not RegionOne's
    assert conf.get("identity", "region") == reference_cloud.storage_region
    for service in ("nova", "neutron", "cinder"):
        assert conf.getboolean("service_available", service) is False, service
    assert conf.getboolean("service_available", "swift") is True
    report = json.loads((out / "report.json").read_text())
    assert report["qualifies"] is False
    outcome = {c["name"]: c["outcome"] for c in report["capabilities"]}
    assert outcome["compute-servers-create"] == "not run"
    assert outcome["networks-l2-CRUD"] == "not run"
    assert outcome["volumes-v3-create-delete"] == "not run"
    assert "compute-servers-create" in report["missing_required"]
    assert "Would NOT qualify" in report["verdict"]
    text = (out / "report.txt").read_text(encoding="utf-8")
    assert "compute-servers-create" in text and "NOT RUN" in text.upper()
    _assert_no_secret(out, _secrets(reference_cloud))


def test_missing_service_is_a_preflight_failure_when_asked(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    code, stdout, stderr = _run(
        reference_cloud,
        monkeypatch,
        "platform",
        tmp_path / "out",
        "--os-region-name",
        reference_cloud.storage_region,
        "--no-skip-missing-services",
    )
    assert code == ExitCode.PREFLIGHT
    assert "lacks service(s) the target needs: block-storage, compute, network" in stderr
    assert not (tmp_path / "out" / "results.subunit").exists()


def test_check_reports_cloud_and_cpid(reference_cloud, monkeypatch) -> None:
    code, stdout, _ = _tcup(
        reference_cloud, monkeypatch, "check", "--guideline", GUIDELINE, "--target", "object"
    )
    assert code == 0, stdout
    conn = reference_cloud.connect(admin=True)
    identity = next(s for s in conn.identity.services() if s.type == "identity")
    assert f"cpid:       {identity.id} (from keystone)" in stdout
    assert "pre-flight: ok" in stdout


def test_check_wrong_password(reference_cloud, monkeypatch) -> None:
    code, err = _check_as(
        reference_cloud, monkeypatch, "not-the-password", reference_cloud.user.project_name
    )
    assert code == ExitCode.PREFLIGHT
    assert "refused the credentials of user 'tcup' (HTTP 401)" in err


def test_check_wrong_project(reference_cloud, monkeypatch) -> None:
    code, err = _check_as(
        reference_cloud, monkeypatch, reference_cloud.user.password, "no-such-project"
    )
    assert code == ExitCode.PREFLIGHT
    assert "cannot scope to project 'no-such-project'" in err
    assert reference_cloud.user.password not in err


def test_check_stopped_swift(reference_cloud, monkeypatch) -> None:
    with reference_cloud.stopped("swift-proxy"):
        code, stdout, stderr = _tcup(
            reference_cloud, monkeypatch, "check", "--guideline", GUIDELINE, "--target", "object"
        )
    assert code == ExitCode.PREFLIGHT
    assert "object-store endpoint http://127.0.0.1:8080/v1/AUTH_" in stderr
    assert "does not answer: connection refused" in stderr


def test_storage_run_on_accounts_tcup_makes_passes_and_leaves_none_behind(
    reference_cloud, monkeypatch, tmp_path: Path
) -> None:
    """``--accounts auto``: a pool made with admin rights, the bug-2147232 skip run again."""
    from tcup import accounts as accounts_mod

    made: list[str] = []
    users: set[str] = set()
    projects: set[str] = set()
    real_write = accounts_mod.write_accounts_file

    def spy(path, accounts):  # noqa: ANN001, ANN202
        accounts = list(accounts)
        made.extend(a.password for a in accounts)
        users.update(a.username for a in accounts)
        projects.update(a.project_name for a in accounts)
        return real_write(path, accounts)

    monkeypatch.setattr(accounts_mod, "write_accounts_file", spy)

    def auto_run(out: Path) -> tuple[int, str, str]:
        return _run(
            reference_cloud,
            monkeypatch,
            "object",
            out,
            "--accounts",
            "auto",
            "--workspace",
            str(tmp_path / "ws"),
            admin=True,
        )

    out = tmp_path / "out"
    code, stdout, stderr = auto_run(out)
    assert code == ExitCode.QUALIFIES, stdout[-3000:] + stderr[-3000:]
    assert "made 6 Tempest test accounts for 2 workers" in stdout  # no reader: Storage
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["credentials_mode"] == "auto-accounts"
    assert [t.split("[")[0].rsplit(".", 1)[1] for t in manifest["rerun_dynamic"]] == [
        "test_list_containers_with_marker"
    ]
    states = read_subunit((out / "results.subunit").read_bytes()).states()
    assert len(states) == 58 and set(states.values()) == {"passed"}
    assert len(read_refstack((out / "results.json").read_bytes()).results) == 58
    assert "use_dynamic_credentials = False" in (out / "tempest.conf").read_text()

    assert len(made) == 6
    _assert_no_secret(out, _secrets(reference_cloud) + made)
    # the pool's names are tcup-<8 hex>-<worker><a|b|r|s>; the cloud's own are tcup-account-*.
    # Only this run's pool counts: another run on the shared cloud may hold one right now.
    pool_name = re.compile(r"^tcup-[0-9a-f]{8}-[0-9]+[abrs]$")
    assert len(users) == 6 and len(projects) == 4
    assert all(pool_name.match(name) for name in users | projects)
    conn = reference_cloud.connect(admin=True)
    assert not [u.name for u in conn.identity.users() if u.name in users]
    assert not [p.name for p in conn.identity.projects() if p.name in projects]
    assert not (tmp_path / "ws-accounts.yaml").exists()

    # The workspace now knows that test needs dynamic credentials: the next run starts
    # it beside the others instead of after them, with the same outcome.
    again = tmp_path / "again"
    code, stdout, stderr = auto_run(again)
    assert code == ExitCode.QUALIFIES, stdout[-3000:] + stderr[-3000:]
    assert "running 1 test(s) with dynamic credentials beside the others" in stdout
    assert "skipped test(s) again" not in stdout and "ran 57/57" in stdout
    manifest = json.loads((again / "manifest.json").read_text())
    assert [t.split("[")[0].rsplit(".", 1)[1] for t in manifest["rerun_dynamic"]] == [
        "test_list_containers_with_marker"
    ]
    states = read_subunit((again / "results.subunit").read_bytes()).states()
    assert len(states) == 58 and set(states.values()) == {"passed"}
    assert (again / "test-list.txt").read_text().count("\n") == 58
    assert not [u.name for u in conn.identity.users() if u.name in users]
    assert not (tmp_path / "ws-accounts.yaml").exists()
