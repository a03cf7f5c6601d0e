"""Logging out changes state: like every other post it needs this browser's CSRF token."""

from __future__ import annotations

RIGHT = {"name": "vendor_a", "password": "password-vendor_a"}


def test_api_logout_needs_the_csrf_header(client, actors) -> None:
    login = client.post("/v1/auth/login", json=RIGHT)
    token = login.json()["csrf_token"]
    forged = client.post("/v1/auth/logout")  # another site's form would send just the cookie
    assert forged.status_code == 403
    assert client.get("/v1/profile").status_code == 200  # still logged in
    wrong = client.post("/v1/auth/logout", headers={"X-CSRF-Token": "x" * len(token)})
    assert wrong.status_code == 403
    assert client.get("/v1/profile").status_code == 200
    done = client.post("/v1/auth/logout", headers={"X-CSRF-Token": token})
    assert done.status_code == 204
    assert client.get("/v1/profile").status_code == 401


def test_page_logout_needs_the_form_token(client, actors) -> None:
    token = client.post("/v1/auth/login", json=RIGHT).json()["csrf_token"]
    forged = client.post("/logout", data={}, follow_redirects=False)
    assert forged.status_code == 403
    assert client.get("/v1/profile").status_code == 200
    done = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get("/v1/profile").status_code == 401
