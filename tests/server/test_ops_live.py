"""Operations against a real ``tcup-server serve``: its whole output is JSON lines with no
secret in them (a canary of every kind), health answers, and the metrics of several worker
processes add up (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest
import requests
from live_server import LiveServer
from prometheus_client.parser import text_string_to_metric_families
from server_helpers import signed

from tcup import signing

pytestmark = pytest.mark.integration

METRICS_TOKEN = "live-metrics-canary-0c5e2a9d"


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def scrape(server: LiveServer) -> str:
    response = requests.get(
        f"{server.url}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.text


def log_lines(server: LiveServer) -> list[dict]:
    """Every line the server wrote (stdout and stderr), each parsed as JSON."""
    lines = []
    for number, line in enumerate(server.log().splitlines(), 1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise AssertionError(
                    f"line {number} of the server output is not JSON: {line}"
                ) from None
    return lines


def test_the_server_writes_json_lines_and_no_secret(tmp_path, keys_dir, rsa_keys, subunit_body):
    artefact_key = base64.b64encode(os.urandom(32)).decode()
    server = LiveServer.create(
        tmp_path / "data",
        keys_dir=keys_dir,
        extra_env={
            "TCUP_SERVER_METRICS_TOKEN": METRICS_TOKEN,
            "TCUP_SERVER_ARTEFACT_KEY": artefact_key,
            "TCUP_SERVER_LOG_LEVEL": "debug",
        },
    )
    server.start()
    try:
        vendor = server.add_vendor("canary-vendor", rsa_keys[0])
        url = server.url
        canaries = {
            "password": "pw-live-canary-5b2e",
            "password_as_name": "name-live-canary-81d4",
            "form_password": "form-live-canary-c3f0",
            "api_token": vendor.token,
            "unknown_token": "tcup_liveCanaryToken0123456789abcdefXYZ",
            "jwt": signing.bearer_token(rsa_keys[1], "tcup:user:canary-vendor"),
            "cookie": "cookie-live-canary-4a1b",
            "query": "query-live-canary-9e3c",
            "private_key": signing.private_key_pem(rsa_keys[3]).decode(),
            "metrics_token": METRICS_TOKEN,
            "artefact_key": artefact_key,
        }
        sent = 0

        def call(method: str, path: str, **kwargs) -> requests.Response:
            nonlocal sent
            sent += 1
            return requests.request(method, f"{url}{path}", timeout=30, **kwargs)

        call(
            "POST",
            "/v1/auth/login",
            json={"name": "canary-vendor", "password": canaries["password"]},
        )
        call("POST", "/v1/auth/login", json={"name": canaries["password_as_name"], "password": "x"})
        with requests.Session() as browser:
            page = browser.get(f"{url}/login", timeout=30)
            sent += 1
            form = {
                "username": "canary-vendor",
                "password": canaries["form_password"],
                "csrf_token": page.cookies["tcup_presession"],
            }
            assert browser.post(f"{url}/login", data=form, timeout=30).status_code == 401
            sent += 1
        assert call("GET", "/v1/profile", headers=vendor.headers).status_code == 200
        call("GET", "/v1/profile", headers={"Authorization": f"Bearer {canaries['unknown_token']}"})
        call("GET", "/v1/profile", headers={"Authorization": f"Bearer {canaries['jwt']}"})
        call("GET", "/results", cookies={"tcup_session": canaries["cookie"]}, allow_redirects=False)
        call("GET", f"/v1/results?cpid={canaries['query']}&token={canaries['query']}")
        upload = call(
            "POST", "/v1/results", data=subunit_body, headers=signed(subunit_body, rsa_keys[0])
        )
        assert upload.status_code == 201, upload.text
        call(
            "POST",
            f"/v1/results?password={canaries['query']}",
            data=subunit_body,
            headers=signed(subunit_body, rsa_keys[0]),
        )
        call(
            "POST",
            "/v1/results",
            data=json.dumps({"private_key": canaries["private_key"]}),
            headers={"Content-Type": "application/json"},
        )
        call(
            "POST",
            "/v1/profile/pubkeys",
            json={"raw_key": canaries["private_key"], "self_signature": "00"},
            headers=vendor.headers,
        )
        call("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
        assert call("GET", "/health/live").json() == {"status": "alive"}
        assert call("GET", "/health/ready").json()["status"] == "ready"
        metrics = scrape(server)
        sent += 1
        assert metric(metrics, "tcup_uploads_accepted_total", kind="json", replayed="false") == 1
    finally:
        server.stop()

    lines = log_lines(server)
    events = [line["event"] for line in lines]
    assert "serve.start" in events and "serve.stop" in events
    requests_logged = [line for line in lines if line["event"] == "http.request"]
    # one line per request: those sent here, add_vendor's key registration, start()'s polls
    polls = [r for r in requests_logged if r["route"] == "/v1/tcup/server-key"]
    assert len(requests_logged) == sent + 1 + len(polls), [r["message"] for r in requests_logged]
    assert all(line["route"] and line["request_id"] for line in requests_logged)
    text = server.log()
    for name, canary in canaries.items():
        pieces = canary.splitlines()[1:-1] if name == "private_key" else [canary]
        for piece in pieces:
            assert piece not in text, f"the {name} canary is in the server's output"
    assert METRICS_TOKEN not in metrics and "canary" not in metrics


def wait_for(check, what: str, timeout: float = 60.0):
    """Poll ``check`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_the_metrics_of_several_workers_add_up(tmp_path, keys_dir, rsa_keys, subunit_body):
    workers = 2
    server = LiveServer.create(
        tmp_path / "data",
        keys_dir=keys_dir,
        extra_env={
            "TCUP_SERVER_METRICS_TOKEN": METRICS_TOKEN,
            "TCUP_SERVER_WORKERS": str(workers),
        },
    )
    server.start()
    try:
        pool_size = 5  # SQLAlchemy's QueuePool for a SQLite file, in each worker
        # each worker reports its pool once its application is built: both are up
        wait_for(
            lambda: metric(scrape(server), "tcup_db_pool_size") == workers * pool_size,
            "both workers report their pool",
        )
        vendor = server.add_vendor("multi", rsa_keys[1])
        body = json.loads(subunit_body)
        uploads = 12
        for number in range(uploads):
            data = json.dumps({**body, "cpid": f"cloud-{number}"}).encode()
            response = requests.post(
                f"{server.url}/v1/results", data=data, headers=signed(data, vendor.key), timeout=60
            )
            assert response.status_code == 201, response.text
        for _ in range(6):  # whichever worker answers, it answers the sum
            text = scrape(server)
            assert metric(text, "tcup_uploads_accepted_total", kind="json", replayed="false") == (
                uploads
            )
            assert metric(text, "tcup_audit_events_total", action="upload") == uploads
        start = next(line for line in log_lines(server) if line["event"] == "serve.start")
        metrics_dir = Path(start["metrics_dir"])
        assert metrics_dir.is_dir() and any(metrics_dir.glob("counter_*.db"))
    finally:
        server.stop()
    assert not metrics_dir.exists()  # the directory serve made for them is removed
