"""Against a real ``tcup-server serve`` process: tcup's uploader, its CLI, refstack-client's
request shape, RefStack's bearer JWT, and the runner taking its test list from the server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from server_helpers import FIXTURES, interop_dir, refstack_client_post
from tcup_server.services.ingest import receipt_payload

from tcup import guidelines, results, signing, testlist
from tcup import upload as up

pytestmark = pytest.mark.integration


def object_storage_names() -> list[str]:
    """The required tests of 2020.06 for object storage, from the real guideline file."""
    path = interop_dir() / "2020.06.json"
    guideline = guidelines.parse_guideline(path.read_bytes(), str(path))
    return list(dict.fromkeys(testlist.format_plan(testlist.plan(guideline, "object"), "names")))


def real_run_body(cpid: str) -> bytes:
    """A RefStack body from the subunit stream of a real run."""
    run = results.read_subunit((FIXTURES / "sample-v2.subunit").read_bytes())
    return results.dump_refstack(results.refstack_body(run, cpid, 12))


def detail(server, vendor, test_id: str) -> requests.Response:
    """GET /v1/results/{id} with a RefStack bearer JWT made by tcup.signing."""
    token = signing.bearer_token(vendor.key, vendor.openid)
    return requests.get(
        f"{server.url}/v1/results/{test_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def verify_receipt(server, receipt: up.Receipt) -> None:
    server_key = requests.get(f"{server.url}/v1/tcup/server-key", timeout=30).json()["public_key"]
    signing.verify_receipt(receipt_payload(receipt.response), receipt.receipt_signature, server_key)


def test_tcup_upload_is_scored_and_readable_with_a_bearer_jwt(live_server, live_vendor):
    names = object_storage_names()
    body = results.dump_refstack(
        {"cpid": "live-object", "duration_seconds": 3, "results": [{"name": n} for n in names]}
    )
    receipt = up.upload(body, live_server.url, live_vendor.key)
    assert receipt.status == 201
    assert receipt.key_fingerprint == signing.fingerprint(signing.public_key_line(live_vendor.key))
    verify_receipt(live_server, receipt)

    # scored against the default target (platform): storage tests alone do not qualify
    response = detail(live_server, live_vendor, receipt.test_id)
    assert response.status_code == 200, response.text
    assert response.json()["verdict"].startswith("Would NOT qualify")
    assert sorted(response.json()["results"]) == sorted(names)
    # the vendor says it is an object storage run (RefStack's meta): scored again, qualifies
    meta = requests.post(
        f"{live_server.url}/v1/results/{receipt.test_id}/meta/target",
        data="object",
        headers=live_vendor.headers,
        timeout=30,
    )
    assert meta.status_code == 201, meta.text
    data = detail(live_server, live_vendor, receipt.test_id).json()
    assert data["qualifies"] is True and data["verdict"].startswith("Would qualify")
    assert data["score"]["required_passed"] == data["score"]["required_total"] > 0
    anonymous = requests.get(f"{live_server.url}/v1/results/{receipt.test_id}", timeout=30)
    assert anonymous.status_code == 404


def test_upload_run_writes_the_receipt_and_does_not_send_twice(live_server, live_vendor, tmp_path):
    (tmp_path / up.RESULTS_FILE).write_bytes(real_run_body("live-run-dir"))
    [receipt] = up.upload_run(tmp_path, live_server.url, live_vendor.key)
    assert json.loads((tmp_path / up.RECEIPT_FILE).read_text())["test_id"] == receipt.test_id
    [again] = up.upload_run(tmp_path, live_server.url, live_vendor.key)
    assert again.test_id == receipt.test_id
    forced = up.upload_run(tmp_path, live_server.url, live_vendor.key, force=True)
    assert forced[0].test_id == receipt.test_id  # the server's idempotency: one record
    assert detail(live_server, live_vendor, receipt.test_id).json()["cpid"] == "live-run-dir"


def test_tcup_upload_cli(live_server, live_vendor, tmp_path):
    key_path, _ = signing.write_key_pair(live_vendor.key, tmp_path / "key")
    results_file = tmp_path / "results.json"
    results_file.write_bytes(real_run_body("live-cli"))
    proc = subprocess.run(
        [sys.executable, "-m", "tcup.cli", "upload", str(results_file)]
        + ["--url", live_server.url, "--key", str(key_path)],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Test results uploaded!"
    test_id = lines[1].removeprefix("Test id: ")
    assert lines[2] == f"URL: {live_server.url}/results/{test_id}"
    assert detail(live_server, live_vendor, test_id).json()["cpid"] == "live-cli"


def test_refstack_client_shaped_upload(live_server, live_vendor):
    body, headers = refstack_client_post(
        json.loads(real_run_body("live-refstack")), live_vendor.key
    )
    response = requests.post(
        f"{live_server.url}/v1/results/", data=body, headers=headers, timeout=30
    )
    assert response.status_code == 201, response.text
    test_id = response.json()["test_id"]
    assert response.json()["url"].endswith(f"/results/{test_id}")
    data = detail(live_server, live_vendor, test_id).json()
    assert data["cpid"] == "live-refstack" and data["verdict"].startswith("Would NOT qualify")
    # the same bytes again (refstack-client sends no Idempotency-Key): the first record
    again = requests.post(f"{live_server.url}/v1/results/", data=body, headers=headers, timeout=30)
    assert again.status_code == 201 and again.json()["test_id"] == test_id
    mine = requests.get(
        f"{live_server.url}/v1/results",
        params={"signed": "1"},
        headers={
            "Authorization": f"Bearer {signing.bearer_token(live_vendor.key, live_vendor.openid)}"
        },
        timeout=30,
    ).json()
    assert test_id in {item["id"] for item in mine["results"]}


def test_tcup_list_takes_the_guideline_from_the_server(live_server):
    proc = subprocess.run(
        [sys.executable, "-m", "tcup.cli", "list", "--guideline", "2020.06"]
        + ["--source", f"refstack:{live_server.url}", "--target", "storage"],
        env=live_server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 58
    assert lines == object_storage_names()
