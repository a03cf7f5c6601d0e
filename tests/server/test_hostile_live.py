"""The probe's hostile inputs against a real ``tcup-server serve``: 4xx answers, and the
server's own log shows one warning line per refusal and no traceback."""

from __future__ import annotations

import gzip
import socket

import pytest
import requests
from live_server import LiveServer

pytestmark = pytest.mark.integration


def raw_request(server: LiveServer, request_line: str) -> int:
    """Send ``request_line`` byte for byte (no client normalises its path); the status code."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def post(url: str, **kwargs) -> requests.Response:
    return requests.post(url, timeout=60, **kwargs)


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=60)


def test_hostile_inputs_get_4xx_and_no_traceback_in_the_server_log(live_server: LiveServer):
    start = len(live_server.log())
    url = live_server.url
    json_type = {"Content-Type": "application/json"}
    answers = {
        "deep array": post(
            f"{url}/v1/results/", data=b"[" * 100_000 + b"]" * 100_000, headers=json_type
        ),
        "2**70 in body": post(
            f"{url}/v1/results",
            data=b'{"cpid": "x", "duration_seconds": %d, "results": [{"name": "a"}]}' % 2**70,
            headers=json_type,
        ),
        "2**70 in query": post(
            f"{url}/v1/results?cpid=x&duration_seconds={2**70}",
            data=b"\xb3",
            headers={"Content-Type": "application/octet-stream"},
        ),
        "NUL in cpid": get(f"{url}/v1/results?cpid=a%00b"),
        "surrogate in login": post(
            f"{url}/v1/auth/login", data=b'{"name": "\\ud800", "password": "x"}', headers=json_type
        ),
        "gzip bomb": post(
            f"{url}/v1/results",
            data=gzip.compress(b" " * (64 * 1024 * 1024)),
            headers={**json_type, "Content-Encoding": "gzip"},
        ),
        "huge login": post(f"{url}/v1/auth/login", data=b"x" * (2 << 20)),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    for line in (
        "GET /v1/guidelines/../keys/receipt-key.pem",
        "GET /static/../../app.py",
        "GET /v1/results/..%2f..%2fkeys",
        "DELETE /v1/profile/pubkeys/%2e%2e",
    ):
        statuses[line] = raw_request(live_server, line)
    assert all(400 <= s < 500 for s in statuses.values()), statuses
    assert get(f"{url}/v1/tcup/server-key").ok  # still serving
    log = live_server.log()[start:]
    assert "Traceback" not in log, log[-3000:]
    assert log.count("refused ") >= 8, log[-3000:]
