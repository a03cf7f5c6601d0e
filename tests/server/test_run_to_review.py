"""A real Storage run on the reference cloud, uploaded with ``tcup upload``: the server's
record and the review page say what the runner's ``report.json`` says.

Real Keystone/Swift/Glance, real Tempest, a real ``tcup-server serve`` process; the
run goes through the TCUP server's native endpoint as one signed submission.
Slow (a Storage run with dynamic credentials, one to two minutes on two cores).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import requests
from live_server import server_cli

from tcup import signing
from tcup.errors import ExitCode
from tests.cli_run import tcup_with_env
from tests.interop import interop_dir

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROW = re.compile(
    r'<tr data-capability="([^"]+)">\s*<td>([^<]*)</td>\s*<td>[^<]*</td>\s*'
    r'<td><span class="badge [a-z]+">([^<]+)</span></td>'
)


_tcup = tcup_with_env


def _staff_page(url: str, name: str, password: str, path: str) -> str:
    http = requests.Session()
    token = CSRF.search(http.get(url + "/login", timeout=30).text).group(1)
    login = http.post(
        url + "/login",
        data={"username": name, "password": password, "csrf_token": token},
        timeout=30,
    )
    assert login.status_code == 200 and "Log out" in login.text, login.text[:500]
    page = http.get(url + path, timeout=30)
    assert page.status_code == 200, page.text[:500]
    return page.text


def test_storage_run_uploaded_shows_the_runners_verdict(
    reference_cloud, live_server, monkeypatch, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    guideline = str(interop_dir() / "2020.06.json")
    code, stdout, stderr = _tcup(
        monkeypatch,
        reference_cloud.env(admin=True),
        *("run", "--guideline", guideline, "--target", "object", "--out", str(out)),
        *("--workspace", str(tmp_path / "ws")),
    )
    assert code == ExitCode.QUALIFIES, stdout[-3000:] + stderr[-3000:]
    report = json.loads((out / "report.json").read_text())

    vendor = live_server.add_vendor("storage-vendor", signing.generate_key(2048))
    key_path = tmp_path / "key.pem"
    signing.write_key_pair(vendor.key, key_path)
    code, stdout, stderr = _tcup(
        monkeypatch, {}, "upload", str(out), "--url", live_server.url, "--key", str(key_path)
    )
    assert code == 0, stdout + stderr
    receipt = json.loads((out / "upload.json").read_text())
    assert receipt["form"] == "tcup" and receipt["endpoint"].endswith("/v1/tcup/results")
    covered = receipt["response"]["covered"]
    assert covered["signed"] == "envelope"
    assert set(covered["parts"]) == {"results", "subunit", "extended", "manifest"}
    test_id = receipt["test_id"]

    # the API: target, guideline, every capability's outcome and the verdict of report.json
    data = requests.get(
        f"{live_server.url}/v1/results/{test_id}", headers=vendor.headers, timeout=30
    ).json()
    assert data["score"]["target"] == report["target"]
    assert data["guideline"] == report["guideline"]["id"] == "2020.06"
    assert data["score"]["guideline_sha256"] == report["guideline"]["sha256"]
    assert data["verdict"] == report["verdict"] and data["qualifies"] is report["qualifies"]
    assert data["score_basis"] == "states"
    assert [
        (c["name"], c["status"], c["outcome"], c["passed"], c["total"])
        for c in data["capabilities"]
    ] == [
        (c["name"], c["status"], c["outcome"], c["passed"], c["total"])
        for c in report["capabilities"]
    ]

    # the review page staff read: the same outcomes and verdict, the manifest panel filled
    password = "staff-password-for-e2e"
    server_cli(
        live_server.env,
        "create-user",
        "e2e-staff",
        "--staff",
        "--password-stdin",
        stdin=password + "\n",
    )
    page = _staff_page(live_server.url, "e2e-staff", password, f"/results/{test_id}")
    rows = {name: (status, outcome) for name, status, outcome in ROW.findall(page)}
    assert rows == {c["name"]: (c["status"], c["outcome"]) for c in report["capabilities"]}
    assert html.escape(report["verdict"]) in page
    assert 'id="manifest"' in page and "No manifest was uploaded" not in page
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["test_list_sha256"] in page

    # the same run again (forced): the first record, never a second one
    code, stdout, _ = _tcup(
        monkeypatch,
        {},
        *("upload", str(out), "--url", live_server.url, "--key", str(key_path), "--force"),
    )
    assert code == 0 and json.loads((out / "upload.json").read_text())["test_id"] == test_id
