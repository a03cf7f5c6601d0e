"""Operations endpoints in-process: health (liveness, readiness and its failures) and the
Prometheus metrics (access by token, uploads, ingest latency, review actions, the pool)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families
from server_helpers import ON_EVERY_DATABASE, signed
from tcup_server import db
from tcup_server.app import create_app
from tcup_server.metrics import MAX_VALUES, Metrics, reason_code, review_action
from tcup_server.storage import ArtefactStore

TOKEN = "metrics-token-for-the-tests"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(server_settings):
    """The server with a metrics token (overrides conftest's ``app``)."""
    application = create_app(dataclasses.replace(server_settings, metrics_token=TOKEN))
    yield application
    application.state.tcup.engine.dispose()


def scrape(client) -> str:
    response = client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def label_values(text: str, name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and label in sample.labels
    }


# ---------------------------------------------------------------- health


def test_liveness_needs_nothing(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


@ON_EVERY_DATABASE
def test_ready_when_the_database_and_the_store_answer(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": {"status": "ok"}, "artefact_store": {"status": "ok"}},
    }
    assert response.headers["cache-control"] == "no-store"


def test_not_ready_without_the_artefact_directory(app, client, server_settings):
    shutil.rmtree(server_settings.resolved_artefact_dir)
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["artefact_store"] == {
        "status": "failed",
        "error": "StoreUnavailable",
    }
    assert str(server_settings.data_dir) not in response.text


def test_not_ready_when_the_database_is_unreachable(app, client, caplog):
    """A PostgreSQL nobody listens on, with a password in its URL: 503, and neither the
    password nor the address is in the body."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    state = app.state.tcup
    state.engine = db.make_engine(f"postgresql://tcup:pw-canary-1234@127.0.0.1:{port}/tcup")
    response = client.get("/health/ready")
    state.engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"status": "failed", "error": "OperationalError"}
    assert body["checks"]["artefact_store"] == {"status": "ok"}
    assert "pw-canary-1234" not in response.text and "127.0.0.1" not in response.text
    assert any("database failed" in r.getMessage() for r in caplog.records)


class HangingStore(ArtefactStore):
    """A store whose check does not answer until released (an unreachable Swift)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def check(self) -> None:
        self.release.wait(60)

    put = get = delete = exists = list = None  # type: ignore[assignment]  # never called


def test_not_ready_when_a_check_does_not_answer_in_time(app, client):
    state = app.state.tcup
    store = HangingStore()
    state.store = store
    state.settings = dataclasses.replace(state.settings, health_timeout_seconds=1)
    try:
        response = client.get("/health/ready")
    finally:
        store.release.set()
    assert response.status_code == 503
    assert response.json()["checks"]["artefact_store"] == {"status": "failed", "error": "timeout"}
    assert response.json()["checks"]["database"] == {"status": "ok"}


# ------------------------------------------------------ metrics: access


def test_metrics_are_off_without_a_token(server_settings):
    from fastapi.testclient import TestClient

    application = create_app(server_settings)
    with TestClient(application) as client:
        response = client.get("/metrics")
        assert response.status_code == 404
        assert response.json()["title"] == "Metrics are disabled"
        assert "TCUP_SERVER_METRICS_TOKEN" in response.json()["detail"]
        assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    application.state.tcup.engine.dispose()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", TOKEN],
)
def test_metrics_refuse_a_missing_or_wrong_token(client, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "tcup_" not in response.text


def test_metrics_answer_openmetrics_when_asked(client):
    response = client.get(
        "/metrics", headers={**SCRAPE, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


# ----------------------------------------------------- metrics: uploads


@ON_EVERY_DATABASE
def test_uploads_are_counted_accepted_replayed_and_refused_by_reason(client, actors, subunit_body):
    key = actors["vendor_a"].key
    assert client.post("/v1/results", content=subunit_body, headers=signed(subunit_body, key))
    again = client.post("/v1/results", content=subunit_body, headers=signed(subunit_body, key))
    assert again.headers.get("Idempotent-Replayed") == "true"
    forged = {**signed(subunit_body, key), "X-Signature": "ab" * 256}
    refused = {
        "signature": client.post("/v1/results", content=subunit_body, headers=forged),
        "anonymous": client.post(
            "/v1/results", content=subunit_body, headers={"Content-Type": "application/json"}
        ),
        "query": client.post(
            "/v1/results?cpid=user-chosen-cpid-canary",
            content=subunit_body,
            headers=signed(subunit_body, key),
        ),
        "gzip": client.post(
            "/v1/results",
            content=b"\x1f\x8b",
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        ),
        "subunit": client.post(
            "/v1/results?cpid=x",
            content=b"not subunit",
            headers={"Content-Type": "application/octet-stream"},
        ),
        "multipart": client.post(
            "/v1/tcup/results", content=b"x", headers={"Content-Type": "text/plain"}
        ),
    }
    statuses = {name: r.status_code for name, r in refused.items()}
    assert statuses == {
        "signature": 400,
        "anonymous": 401,
        "query": 400,
        "gzip": 415,
        "subunit": 400,
        "multipart": 400,
    }

    text = scrape(client)
    assert value(text, "tcup_uploads_accepted_total", kind="json", replayed="false") == 1
    assert value(text, "tcup_uploads_accepted_total", kind="json", replayed="true") == 1
    refusals = {
        ("json", "signature_verification_failed", "400"),
        ("json", "unauthorized", "401"),
        ("json", "unsigned_metadata_refused", "400"),
        ("json", "unsupported_media_type", "415"),
        ("subunit", "malformed_subunit_stream", "400"),
        ("tcup", "malformed_request", "400"),
    }
    for kind, reason, status in refusals:
        assert (
            value(text, "tcup_uploads_refused_total", kind=kind, reason=reason, status=status) == 1
        ), (kind, reason, status, text)
    assert label_values(text, "tcup_uploads_refused_total", "reason") == {r for _, r, _ in refusals}
    hist = "tcup_ingest_duration_seconds_count"
    assert value(text, hist, kind="json", outcome="stored") == 1
    assert value(text, hist, kind="json", outcome="replayed") == 1
    assert value(text, hist, kind="json", outcome="refused") == 3  # guard refusals: no ingest
    assert value(text, hist, kind="subunit", outcome="refused") == 1
    assert "canary" not in text


def test_requests_are_counted_by_route_template_never_by_path(client):
    client.get("/v1/results/some-id-canary")
    client.get("/no/such/page-canary")
    client.request("BREW", "/health/live")
    text = scrape(client)
    requests_total = "tcup_http_requests_total"
    assert (
        value(text, requests_total, method="GET", route="/v1/results/{result_id}", status="404")
        == 1
    )
    assert value(text, requests_total, method="GET", route="unmatched", status="404") == 1
    assert value(text, requests_total, method="other", route="/health/live", status="405") == 1
    assert "canary" not in text and "BREW" not in text


# ----------------------------------------------- metrics: review, audit


def test_review_actions_are_counted_once_committed(client, actors, subunit_body):
    key = actors["vendor_a"].key
    upload = client.post("/v1/results", content=subunit_body, headers=signed(subunit_body, key))
    url = f"/v1/results/{upload.json()['test_id']}"
    staff = actors["staff"].headers
    # does not qualify: refused without the confirmation, and nothing is committed
    refused = client.put(url, json={"verification_status": 1}, headers=staff)
    assert refused.status_code == 409, refused.text
    text = scrape(client)
    assert label_values(text, "tcup_review_actions_total", "action") == set()

    confirmed = {"verification_status": 1, "confirm_not_qualifying": True}
    assert client.put(url, json=confirmed, headers=staff).status_code == 200
    assert client.put(url, json={"verification_status": 0}, headers=staff).status_code == 200
    text = scrape(client)
    actions = "tcup_review_actions_total"
    assert value(text, actions, action="take_in_review") == 1
    assert value(text, actions, action="verify") == 1
    assert value(text, actions, action="reopen") == 1
    assert value(text, actions, action="reject") == 0
    assert value(text, "tcup_audit_events_total", action="upload") == 1
    assert value(text, "tcup_audit_events_total", action="review") == 3


@pytest.mark.parametrize(
    ("action", "before", "after", "kind"),
    [
        ("review", "submitted", "in_review", "take_in_review"),
        ("review", "in_review", "verified", "verify"),
        ("review", "in_review", "rejected", "reject"),
        ("review", "verified", "in_review", "reopen"),
        ("review", "rejected", "in_review", "reopen"),
        ("publish", None, None, "publish"),
        ("unpublish", None, None, "unpublish"),
        ("upload", None, "submitted", None),
        ("meta", None, None, None),
        ("login", None, None, None),
    ],
)
def test_review_action_of_an_audit_event(action, before, after, kind):
    assert review_action(action, before, after) == kind


# ------------------------------------------------------- metrics: pool


@ON_EVERY_DATABASE
def test_pool_use_is_reported(app, client):
    engine = app.state.tcup.engine
    text = scrape(client)
    assert value(text, "tcup_db_pool_size") == engine.pool.size() > 0
    assert value(text, "tcup_db_pool_checked_out") == 0
    with engine.connect(), engine.connect():
        assert value(scrape(client), "tcup_db_pool_checked_out") == 2
    assert value(scrape(client), "tcup_db_pool_checked_out") == 0


def test_a_pool_without_a_size_reports_none():
    from sqlalchemy import create_engine

    metrics = Metrics()
    metrics.observe_pool(create_engine("sqlite://"))  # SingletonThreadPool
    body, _ = metrics.render()
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "tcup_db_pool_size" in names  # described, with its default value
    assert value(body.decode(), "tcup_db_pool_size") == 0


# ------------------------------------------------------- label bounds


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("Signature verification failed", "signature_verification_failed"),
        ("Too many tests: 120001 (at most 100000)", "too_many_tests"),
        ("Request body too large (limit 33554432 bytes)", "request_body_too_large"),
        (
            "Idempotency-Key reused with a different body",
            "idempotency_key_reused_with_a_different_body",
        ),
        (
            "Uploaded results must contain at least one passing test.",
            "uploaded_results_must_contain_at_least_one_passi",
        ),
        ("Invalid cpid: at most 128 printable characters", "invalid_cpid"),
        ("", "unknown"),
    ],
)
def test_reason_code(title, code):
    assert reason_code(title) == code


def test_label_values_are_bounded_per_process():
    metrics = Metrics()
    for number in range(MAX_VALUES * 3):
        metrics.upload_refused("json", 400, f"Title {number}")
        metrics.request_answered("GET", f"/route/{number}", 200, 0.01)
        metrics.upload_refused(f"kind-{number}", 400, "Malformed request")
    body, _ = metrics.render()
    text = body.decode()
    reasons = label_values(text, "tcup_uploads_refused_total", "reason")
    assert len(reasons) == MAX_VALUES + 1 and "other" in reasons
    routes = label_values(text, "tcup_http_requests_total", "route")
    assert len(routes) == MAX_VALUES + 1 and "other" in routes
    assert label_values(text, "tcup_uploads_refused_total", "kind") == {"json", "other"}


def test_openapi_describes_the_operations_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health/live", "/health/ready", "/metrics"} <= set(paths)
    ready = paths["/health/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)
    assert json.dumps(paths["/metrics"]).count("text/plain") == 1


class FakeObjectStore:
    """openstacksdk's object store proxy as far as SwiftStore's check uses it."""

    def __init__(self, answer: Exception | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def create_container(self, name: str) -> None:
        pass

    def get_container_metadata(self, name: str) -> dict:
        self.asked.append(name)
        if self.answer is not None:
            raise self.answer
        return {}


def test_swift_readiness_heads_the_container(server_settings):
    """The Swift backend's check (the real Swift is covered by test_swift_store.py)."""
    from types import SimpleNamespace

    from openstack import exceptions
    from tcup_server.services.health import readiness
    from tcup_server.storage import EncryptedStore
    from tcup_server.storage.swift import SwiftStore

    engine = db.make_engine(server_settings.resolved_database_url)
    answers = {
        "ok": None,
        "gone": exceptions.NotFoundException("Container not found: tcup-artefacts"),
        "down": exceptions.SDKException("Unable to establish connection to http://swift"),
    }
    seen = {}
    for name, answer in answers.items():
        proxy = FakeObjectStore(answer)
        store = SwiftStore("cloud", "tcup-artefacts", SimpleNamespace(object_store=proxy))
        report = readiness(engine, EncryptedStore(store, b"k" * 32), timeout=5)
        assert proxy.asked == ["tcup-artefacts"]
        seen[name] = report.body()["checks"]["artefact_store"]
    engine.dispose()
    assert seen == {
        "ok": {"status": "ok"},
        "gone": {"status": "failed", "error": "NotFoundException"},
        "down": {"status": "failed", "error": "SDKException"},
    }
