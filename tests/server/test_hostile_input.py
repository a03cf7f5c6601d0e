"""Hostile input gets a 4xx with a RefStack error body, never a 5xx or a traceback in the log.

The probe's cases (issue 12, finding 3): a 100 000-deep JSON array without
any login, ``2**70`` in the body and in the query, NUL and lone surrogates in
cpid and names, huge and gzip-bomb bodies, path traversal in every id.  On
SQLite and (integration) PostgreSQL, which refuse different things: PostgreSQL
stores no NUL, neither stores a lone surrogate.
"""

from __future__ import annotations

import gzip
import json
import logging
import re

import pytest
import requests
from server_helpers import FIXTURES, ON_EVERY_DATABASE, signed
from sqlalchemy import func, select
from tcup_server.models import Result

pytestmark = ON_EVERY_DATABASE

DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def no_traceback_in_log(caplog):
    """Whatever a test sends, the server logs no traceback and no error."""
    caplog.set_level(logging.INFO)
    yield
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


def count_results(app) -> int:
    with app.state.tcup.sessions() as session:
        return session.scalar(select(func.count()).select_from(Result))


def refused(response, code: int = 400, detail: str = "") -> dict:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["code"] == code and body["title"], body
    assert detail in body.get("detail", body["title"]), body
    return body


def body_with(subunit_body: bytes, **fields) -> bytes:
    data = json.loads(subunit_body)
    data.update(fields)
    return json.dumps(data).encode()


def multipart(**parts: bytes) -> tuple[bytes, str]:
    prepared = requests.Request(
        "POST", "http://x/", files={n: (f"{n}.json", d) for n, d in parts.items()}
    ).prepare()
    return prepared.body, prepared.headers["Content-Type"]


@pytest.fixture
def stored(client, actors, subunit_body) -> str:
    """The id of one stored result of vendor_a."""
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201, response.text
    return response.json()["test_id"]


# ------------------------------------------------------------------ nesting


@pytest.mark.parametrize("path", ["/v1/results/", "/v1/results"])
@pytest.mark.parametrize("ctype", ["application/json", "text/plain", None])
def test_deep_array_without_login_is_refused(client, app, path, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    refused(client.post(path, content=DEEP, headers=headers), 400, "nested deeper than")
    assert count_results(app) == 0


def test_deep_json_is_refused_by_every_endpoint_that_takes_json(
    client, actors, subunit_body, stored
):
    vendor = actors["vendor_a"]
    signed_deep = signed(DEEP, vendor.key)
    cases = [
        client.post("/v1/results", content=DEEP, headers=signed_deep),
        client.post("/v1/auth/login", content=DEEP, headers=JSON),
        client.post("/v1/profile/pubkeys", content=DEEP, headers={**JSON, **vendor.headers}),
        client.put(f"/v1/results/{stored}", content=DEEP, headers={**JSON, **vendor.headers}),
    ]
    for part in ("manifest", "results", "extended"):
        parts = {"results": subunit_body, "manifest": b"{}", part: DEEP}
        body, ctype = multipart(**parts)
        cases.append(
            client.post(
                "/v1/tcup/results",
                content=body,
                headers={**signed(body, vendor.key), "Content-Type": ctype},
            )
        )
    for response in cases:
        refused(response, 400, "nested deeper than")


def test_nesting_a_real_body_needs_is_accepted(client, actors, subunit_body):
    """The bound (32) is far above what RefStack bodies and manifests nest (3 and < 8)."""
    body = body_with(subunit_body, cpid="nested-ok")
    key = actors["vendor_a"].key
    assert client.post("/v1/results", content=body, headers=signed(body, key)).status_code == 201


# ----------------------------------------------------------------- integers


@pytest.mark.parametrize("number", ["1180591620717411303424", "-1180591620717411303424", "1e999"])
def test_huge_number_in_the_body_is_refused(client, actors, subunit_body, app, number):
    text = subunit_body.decode().replace('"duration_seconds": 42', f'"duration_seconds": {number}')
    body = text.encode()
    assert number in text
    response = client.post(
        "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
    )
    refused(response, 400, "out of range")
    assert count_results(app) == 0


def test_huge_integer_in_the_query_is_refused(client, actors, app):
    stream = (FIXTURES / "sample-v2.subunit").read_bytes()
    headers = {**signed(stream, actors["vendor_a"].key), "Content-Type": "application/octet-stream"}
    response = client.post(
        f"/v1/results?cpid=abc&duration_seconds={2**70}", content=stream, headers=headers
    )
    refused(response, 400, "duration_seconds")
    assert count_results(app) == 0
    refused(client.get(f"/v1/results?page={2**70}"), 400, "page")


# ------------------------------------------------------- NUL and surrogates


@pytest.mark.parametrize(
    "fields",
    [
        {"cpid": "abc\u0000def"},
        {"cpid": "abc\ud800"},
        {"results": [{"name": "tempest.api.compute.test_x\ud800"}]},
        {"results": [{"name": "tempest.api.compute.test_x", "uuid": "\u0000"}]},
    ],
    ids=["cpid-nul", "cpid-surrogate", "name-surrogate", "uuid-nul"],
)
def test_nul_and_lone_surrogates_in_an_upload_are_refused(
    client, actors, subunit_body, app, fields
):
    body = body_with(subunit_body, **fields)  # json.dumps escapes them: \u0000, \ud800
    response = client.post(
        "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
    )
    refused(response, 400)
    assert count_results(app) == 0


def test_surrogates_as_raw_bytes_are_refused(client, actors, subunit_body, app):
    body = subunit_body.replace(b'"cpid": "', b'"cpid": "\xed\xa0\x80')  # CESU-8 for U+D800
    response = client.post(
        "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
    )
    refused(response, 400, "not UTF-8")
    assert count_results(app) == 0


def test_nul_in_query_and_forms_is_refused(client, actors, app, stored):
    stream = (FIXTURES / "sample-v2.subunit").read_bytes()
    headers = {**signed(stream, actors["vendor_a"].key), "Content-Type": "application/octet-stream"}
    refused(client.post("/v1/results?cpid=a%00b", content=stream, headers=headers), 400, "NUL")
    refused(client.get("/v1/results?cpid=%00"), 400, "NUL")
    refused(
        client.post(
            f"/v1/results/{stored}/meta/shared",
            content=b"yes\x00",
            headers={**actors["vendor_a"].headers, "Content-Type": "text/plain"},
        ),
        400,
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    refused(client.post("/login", content=b"username=a%00b&password=x", headers=form), 400, "NUL")
    assert count_results(app) == 1


@pytest.mark.parametrize("name", ["\\u0000", "\\ud800", "x\\udfff"])
def test_nul_and_surrogates_in_login_and_keys_are_refused(client, actors, name):
    login = f'{{"name": "{name}", "password": "x"}}'.encode()
    refused(client.post("/v1/auth/login", content=login, headers=JSON), 400)
    key = f'{{"raw_key": "ssh-rsa {name}", "self_signature": "00"}}'.encode()
    headers = {**JSON, **actors["vendor_a"].headers}
    refused(client.post("/v1/profile/pubkeys", content=key, headers=headers), 400)


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"FB\r\n", b"F@\r\n"), (b"time: 2026-11-25", b"time: 2O26-11-25")],
    ids=["chunk-header", "date"],
)
def test_corrupt_subunit_stream_is_refused(client, app, old, new):
    """python-subunit raised ValueError on these: a 500 for an anonymous caller."""
    stream = (FIXTURES / "sample-v1.subunit").read_bytes().replace(old, new, 1)
    headers = {"Content-Type": "application/octet-stream"}
    response = client.post("/v1/results?cpid=abc", content=stream, headers=headers)
    refused(response, 400, "corrupt subunit v1 stream")
    assert count_results(app) == 0


# ------------------------------------------------------------- huge bodies


def test_huge_bodies_are_refused_everywhere(client, actors, app, stored):
    limit = app.state.tcup.settings.max_body_bytes
    big = b" " * (limit + 1)
    refused(client.post("/v1/results", content=big, headers=JSON), 413)
    mib = b"x" * (1024 * 1024 + 1)  # every other route: 1 MiB
    headers = {**actors["vendor_a"].headers, "Content-Type": "text/plain"}
    refused(client.post("/v1/auth/login", content=mib, headers=JSON), 413)
    refused(client.post(f"/v1/results/{stored}/meta/shared", content=mib, headers=headers), 413)
    refused(client.post("/login", content=mib), 413)


def test_gzip_bomb_is_not_expanded(client, actors, app):
    bomb = gzip.compress(b"[" + b" " * (256 * 1024 * 1024) + b"]", 9)
    assert len(bomb) < 300 * 1024
    headers = {**signed(bomb, actors["vendor_a"].key), "Content-Encoding": "gzip"}
    refused(client.post("/v1/results", content=bomb, headers=headers), 415, "uncompressed")
    refused(
        client.post("/v1/auth/login", content=bomb, headers={**JSON, "Content-Encoding": "gzip"}),
        415,
    )
    assert count_results(app) == 0


# --------------------------------------------------------------- traversal

TRAVERSALS = [
    "%2e%2e",
    "..%2f..%2fkeys%2freceipt-key.pem",
    "%2e%2e%2f%2e%2e%2fkeys%2fartefact.key",
    "..%5c..%5ckeys",
    "%00",
]


def id_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route with a parameter in its path, pages included.

    FastAPI >= 0.16x keeps included routers as branches (``original_router``,
    ``include_context.prefix``); older versions copy their routes into the app.
    """
    found = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif "{" in getattr(route, "path", "") and hasattr(route, "methods"):
                path = prefix + route.path
                found.extend((m, path) for m in sorted(route.methods) if m != "HEAD")

    walk(app.routes, "")
    return found


def test_traversal_in_every_id_is_refused_before_any_route(app, client, actors, stored):
    routes = id_routes(app)
    assert len(routes) >= 15, routes
    seen = []
    for method, template in routes:
        for value in TRAVERSALS:
            path = re.sub(r"\{[^}]+\}", value, template)
            response = client.request(method, path, headers=actors["staff"].headers)
            seen.append(f"{method} {path} -> {response.status_code}")
            refused(response, 400)
            assert "PRIVATE KEY" not in response.text and "BEGIN" not in response.text
    assert len(seen) == len(routes) * len(TRAVERSALS)
