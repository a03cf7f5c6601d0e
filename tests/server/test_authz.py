"""Authorisation matrix: anonymous, vendor A, vendor B, staff x every endpoint."""

from __future__ import annotations

import pytest
from server_helpers import ON_EVERY_DATABASE, signed

pytestmark = ON_EVERY_DATABASE

ACTORS = ("anonymous", "vendor_a", "vendor_b", "staff")


@pytest.fixture
def result_of_a(client, actors, subunit_body) -> str:
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201
    return response.json()["test_id"]


# (method, path, expected status per actor) -- a result of vendor A exists
MATRIX = [
    ("GET", "/v1/results/{id}", {"anonymous": 404, "vendor_a": 200, "vendor_b": 404, "staff": 200}),
    ("GET", "/v1/profile", {"anonymous": 401, "vendor_a": 200, "vendor_b": 200, "staff": 200}),
    (
        "GET",
        "/v1/profile/pubkeys",
        {"anonymous": 401, "vendor_a": 200, "vendor_b": 200, "staff": 200},
    ),
    (
        "GET",
        "/v1/results?signed=1",
        {"anonymous": 400, "vendor_a": 200, "vendor_b": 200, "staff": 200},
    ),
    ("GET", "/v1/results", {"anonymous": 200, "vendor_a": 200, "vendor_b": 200, "staff": 200}),
    ("GET", "/v1/guidelines", {"anonymous": 200, "vendor_a": 200, "vendor_b": 200, "staff": 200}),
    (
        "GET",
        "/v1/tcup/server-key",
        {"anonymous": 200, "vendor_a": 200, "vendor_b": 200, "staff": 200},
    ),
    (
        "DELETE",
        "/v1/profile/pubkeys/1",
        {"anonymous": 401, "vendor_a": 204, "vendor_b": 404, "staff": 404},
    ),
    (
        "DELETE",
        "/v1/results/{id}",
        {"anonymous": 404, "vendor_a": 204, "vendor_b": 404, "staff": 204},
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[m[0] + " " + m[1] for m in MATRIX]
)
@pytest.mark.parametrize("who", ACTORS)
def test_matrix(client, actors, result_of_a, method, path, expected, who):
    response = client.request(method, path.format(id=result_of_a), headers=actors[who].headers)
    assert response.status_code == expected[who], response.text


def test_lists_show_only_what_the_caller_may_see(client, actors, result_of_a, subunit_body):
    other = subunit_body.replace(b'"duration_seconds": 42', b'"duration_seconds": 5')
    client.post("/v1/results", content=other, headers=signed(other, actors["vendor_b"].key))

    def ids(who: str, query: str = "") -> set[str]:
        body = client.get("/v1/results" + query, headers=actors[who].headers).json()
        return {item["id"] for item in body["results"]}

    assert ids("anonymous") == set()
    assert ids("vendor_a") == ids("vendor_a", "?signed=1") == {result_of_a}
    assert len(ids("vendor_b")) == 1 and result_of_a not in ids("vendor_b")
    assert len(ids("staff")) == 2
    detail = client.get(f"/v1/results/{result_of_a}", headers=actors["staff"].headers).json()
    assert detail["user_role"] == "foundation" and "cpid" in detail


def test_unknown_and_hidden_ids_answer_alike(client, actors, result_of_a):
    hidden = client.get(f"/v1/results/{result_of_a}", headers=actors["vendor_b"].headers)
    unknown = client.get("/v1/results/00000000-0000-4000-8000-000000000000")
    assert hidden.status_code == unknown.status_code == 404
    assert set(hidden.json()) == set(unknown.json()) == {"title", "code"}


def test_password_login_session_and_bearer_jwt(client, actors):
    from tcup import signing

    bad = client.post("/v1/auth/login", json={"name": "vendor_a", "password": "nope"})
    assert bad.status_code == 401
    ok = client.post("/v1/auth/login", json={"name": "vendor_a", "password": "password-vendor_a"})
    assert ok.status_code == 200 and ok.json()["openid"] == "tcup:user:vendor_a"
    assert client.get("/v1/profile").json()["name"] == "vendor_a"  # via the cookie
    csrf = {"X-CSRF-Token": ok.json()["csrf_token"]}
    assert client.post("/v1/auth/logout", headers=csrf).status_code == 204
    assert client.get("/v1/profile").status_code == 401

    token = signing.bearer_token(actors["vendor_b"].key, "tcup:user:vendor_b")
    me = client.get("/v1/profile", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "vendor_b"
    forged = signing.bearer_token(actors["vendor_a"].key, "tcup:user:vendor_b")
    assert (
        client.get("/v1/profile", headers={"Authorization": f"Bearer {forged}"}).status_code == 400
    )


def test_api_login_is_rate_limited_with_the_login_page(client, actors):
    for _ in range(5):
        bad = client.post("/v1/auth/login", json={"name": "vendor_b", "password": "nope"})
        assert bad.status_code == 401
    refused = client.post(
        "/v1/auth/login", json={"name": "vendor_b", "password": "password-vendor_b"}
    )
    assert refused.status_code == 429  # even the right password, until the window passes
    assert int(refused.headers["Retry-After"]) >= 1
    assert (
        refused.json()["code"] == 429
        and "Too many failed login attempts" in (refused.json()["detail"])
    )
    other = client.post(
        "/v1/auth/login", json={"name": "vendor_a", "password": "password-vendor_a"}
    )
    assert other.status_code == 200  # another account from the same client is not locked yet


def test_cookie_api_writes_need_the_csrf_header(client, actors, rsa_keys):
    from tcup import signing

    ok = client.post("/v1/auth/login", json={"name": "vendor_a", "password": "password-vendor_a"})
    key = rsa_keys[2]
    body = {"raw_key": signing.public_key_line(key), "self_signature": signing.self_signature(key)}
    forged = client.post("/v1/profile/pubkeys", json=body)
    assert forged.status_code == 403
    wrong = client.post("/v1/profile/pubkeys", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    right = client.post(
        "/v1/profile/pubkeys", json=body, headers={"X-CSRF-Token": ok.json()["csrf_token"]}
    )
    assert right.status_code == 201, right.text
    assert client.get("/v1/profile/pubkeys").status_code == 200  # reading needs no header
