"""The server's log: one JSON line per event, the request log, and no secret in any line.

The canary test sends passwords, API tokens, JWT-shaped tokens, session cookies,
a private key and the metrics token the ways clients send them (login forms and
bodies, headers, cookies, query strings, upload bodies) and formats every
record the server logs, at DEBUG, as ``tcup-server serve`` writes it.
``test_ops_live.py`` does the same against a real server's stdout.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import sys

import pytest
from server_helpers import signed
from tcup_server import logs
from tcup_server.app import create_app
from tcup_server.commands import serve
from tcup_server.settings import load_settings

from tcup import signing
from tcup.errors import InputError

METRICS_TOKEN = "metrics-canary-7f3a9c1e5b"


def formatted(records: list[logging.LogRecord]) -> list[str]:
    formatter = logs.JsonFormatter()
    return [formatter.format(r) for r in records]


CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's HTTP client, not the server


@pytest.fixture
def json_log():
    """Every server log record of the test, formatted as ``serve`` writes it, when logged."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(lambda record: not record.name.startswith(CLIENT_LOGGERS))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def app(server_settings):
    application = create_app(dataclasses.replace(server_settings, metrics_token=METRICS_TOKEN))
    yield application
    application.state.tcup.engine.dispose()


# ------------------------------------------------------------ the format


def test_a_record_is_one_json_line_with_its_fields():
    record = logging.LogRecord("tcup_server.x", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    record.event = "thing.happened"
    record.count = 3
    token = logs.request_id.set("rid-1")
    try:
        line = logs.JsonFormatter().format(record)
    finally:
        logs.request_id.reset(token)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "warning" and data["logger"] == "tcup_server.x"
    assert data["event"] == "thing.happened" and data["message"] == "a b"
    assert data["count"] == 3 and data["request_id"] == "rid-1"
    assert data["time"].endswith("Z")


def test_a_traceback_stays_on_the_line():
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["exc"].startswith("Traceback")


PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzG2xkQ0canaryline1\n"
    "Zm9vYmFyYmF6canaryline2\n-----END RSA PRIVATE KEY-----\n"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token tcup_AbC123xyz_-987654321 used", "tcup_AbC123xyz_-987654321"),
        ("Authorization: Bearer s3cr3t-v4lue-xyz", "s3cr3t-v4lue-xyz"),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJ1c2VyX29wZW5pZCI6ImEifQ.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        (f"key {PRIVATE_KEY} end", PRIVATE_KEY.splitlines()[1]),
        ("postgresql+psycopg://tcup:hunter2pw@db:5432/tcup", "hunter2pw"),
        ('{"name": "x", "password": "correct-horse"}', "correct-horse"),
        ("password=correct-horse&next=/", "correct-horse"),
    ],
)
def test_secrets_are_masked(text, secret):
    assert secret not in logs.redact(text)
    assert logs.MASK in logs.redact(text)


def test_registered_secrets_are_masked_and_ordinary_words_kept():
    logs.register_secret("a-registered-secret-value")
    logs.register_secret("short")  # too short to mask safely: not registered
    assert logs.redact("x a-registered-secret-value y") == f"x {logs.MASK} y"
    assert logs.redact("a short bearer token") == "a short bearer token"


# ------------------------------------------------------- the request log


def test_one_request_line_per_request_without_the_query(client, caplog):
    caplog.set_level(logging.INFO, logger="tcup_server.access")
    response = client.get("/v1/results/abc?token=query-canary-123", headers={"X-Trace": "h"})
    assert response.status_code == 404
    access = [r for r in caplog.records if r.name == "tcup_server.access"]
    assert len(access) == 1
    line = json.loads(formatted(access)[0])
    assert line["event"] == "http.request"
    assert (line["method"], line["path"], line["route"]) == (
        "GET",
        "/v1/results/abc",
        "/v1/results/{result_id}",
    )
    assert line["status"] == 404 and line["duration_ms"] >= 0
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert "query-canary-123" not in formatted(access)[0]


def test_lines_logged_while_serving_carry_the_request_id(client, json_log):
    response = client.get("/v1/results?cpid=a%00b")  # the guard refuses it with a warning
    assert response.status_code == 400
    rid = response.headers["X-Request-ID"]
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    refused = [line for line in lines if line["event"] == "http.refused"]
    assert refused and refused[0]["request_id"] == rid


# ---------------------------------------------------------- the canary


def test_no_secret_sent_in_a_request_reaches_the_log(app, client, actors, json_log, rsa_keys):
    canaries = {
        "password": "pw-canary-4d1e8b",
        "password_as_name": "name-pw-canary-2c9f",
        "form_password": "form-pw-canary-77aa",
        "api_token": "tcup_canaryTokenValue0123456789abcdef",
        "jwt": "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJqd3QifQ.Y2FuYXJ5LXNpZw",
        "cookie": "cookie-canary-9e7d",
        "query": "query-canary-51b0",
        "signature": "ab" * 20 + "c4a7a7",
        "private_key": signing.private_key_pem(rsa_keys[3]).decode(),
        "metrics": METRICS_TOKEN,
    }
    json_type = {"Content-Type": "application/json"}
    client.post("/v1/auth/login", json={"name": "vendor_a", "password": canaries["password"]})
    client.post("/v1/auth/login", json={"name": canaries["password_as_name"], "password": "x"})
    page = client.get("/login")
    form = {"username": "vendor_a", "password": canaries["form_password"]}
    answer = client.post("/login", data={**form, "csrf_token": page.cookies["tcup_presession"]})
    assert answer.status_code == 401
    client.get("/v1/profile", headers={"Authorization": f"Bearer {canaries['api_token']}"})
    client.get("/v1/profile", headers={"Authorization": f"Bearer {canaries['jwt']}"})
    client.cookies.set("tcup_session", canaries["cookie"])
    client.get("/results")
    client.cookies.clear()
    client.get(f"/v1/results?cpid={canaries['query']}&token={canaries['query']}")
    body = json.dumps({"cpid": "x", "duration_seconds": 1, "results": [{"name": "t"}]}).encode()
    client.post(
        f"/v1/results?password={canaries['query']}",
        content=body,
        headers={**signed(body, actors["vendor_a"].key), "X-Signature": canaries["signature"]},
    )
    client.post(
        "/v1/results",
        content=json.dumps({"private_key": canaries["private_key"]}).encode(),
        headers=json_type,
    )
    client.post(
        "/v1/profile/pubkeys",
        json={"raw_key": canaries["private_key"], "self_signature": canaries["signature"]},
        headers=actors["vendor_a"].headers,
    )
    client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}-wrong"})
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200

    lines = json_log.getvalue().splitlines()
    access = [line for line in lines if '"event": "http.request"' in line]
    assert len(access) >= 14, lines
    text = "\n".join(lines)
    for name, canary in canaries.items():
        pieces = [canary] if name != "private_key" else canary.splitlines()[1:-1]
        for piece in pieces:
            assert piece not in text, f"the {name} canary is in the log"


# ------------------------------------------------------ settings, serve


def test_settings_hide_the_metrics_token_and_check_the_log_level():
    settings = load_settings(
        environ={"TCUP_SERVER_METRICS_TOKEN": "tok-123456", "TCUP_SERVER_LOG_LEVEL": "WARNING"}
    )
    assert settings.metrics_token == "tok-123456" and "tok-123456" not in repr(settings)
    assert settings.log_level == "warning"
    with pytest.raises(InputError, match="log_level must be one of"):
        load_settings(environ={"TCUP_SERVER_LOG_LEVEL": "loud"})


def test_logging_for_serve_goes_to_stdout_as_json(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("info")
        logging.getLogger("tcup_server.test").info("hello %s", "there", extra={"event": "t"})
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("uvicorn.access").info("GET /x?token=abc HTTP/1.1 200")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.captureWarnings(False)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("tcup_server.test", "hello there"),
        ("uvicorn.error", "Started server process"),
    ]


def test_multiprocess_metrics_directory(tmp_path):
    environ: dict[str, str] = {}
    created = serve.prepare_multiprocess_dir(environ)
    assert created is not None and created.is_dir()
    assert environ[serve.MULTIPROC_ENV] == str(created)
    created.rmdir()

    given = tmp_path / "metrics"
    given.mkdir()
    for name in ("counter_12.db", "gauge_livesum_12.db", "histogram_9.db", "notes.txt"):
        (given / name).write_text("x")
    assert serve.prepare_multiprocess_dir({serve.MULTIPROC_ENV: str(given)}) is None
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]

    with pytest.raises(InputError, match="not a directory"):
        serve.prepare_multiprocess_dir({serve.MULTIPROC_ENV: str(tmp_path / "missing")})
