"""Single sign-on without a provider: settings, the staff claim, account linking by
issuer and ``sub``, and the pages' answers when the provider does not answer.

The whole flow against a real provider in a real browser is in tests/web/test_oidc.py.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tcup_server import auth, db
from tcup_server.app import create_app
from tcup_server.models import AuditEvent, OidcIdentity, OidcLogin, User, utcnow
from tcup_server.models import Session as BrowserSession
from tcup_server.services import accounts
from tcup_server.services.errors import Forbidden
from tcup_server.services.oidc import is_staff
from tcup_server.settings import load_settings

from tcup.errors import InputError

ISSUER = "https://id.example.test"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ settings


def test_settings_come_from_the_environment():
    settings = load_settings(
        environ={
            "TCUP_SERVER_OIDC_ISSUER": ISSUER,
            "TCUP_SERVER_OIDC_CLIENT_ID": "tcup",
            "TCUP_SERVER_OIDC_CLIENT_SECRET": "s3cret",
            "TCUP_SERVER_OIDC_STAFF_CLAIM": "realm_access.roles",
            "TCUP_SERVER_PASSWORD_LOGIN": "false",
            "TCUP_SERVER_PUBLIC_URL": "https://tcup.example.test/",
        }
    )
    assert settings.oidc_enabled and not settings.password_login
    assert settings.resolved_oidc_redirect_url == "https://tcup.example.test/login/oidc/callback"
    assert settings.oidc_staff_claim == "realm_access.roles"
    assert "s3cret" not in repr(settings)


def test_passwords_stay_on_by_default():
    assert load_settings(environ={}).password_login is True
    assert load_settings(environ={}).oidc_enabled is False
    with_sso = load_settings(environ={}, oidc_issuer=ISSUER, oidc_client_id="tcup")
    assert with_sso.password_login is True


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"password_login": False}, "nobody could log in"),
        ({"oidc_issuer": "http://id.example.test", "oidc_client_id": "c"}, "must use https"),
        ({"oidc_issuer": "id.example.test", "oidc_client_id": "c"}, "must be an https URL"),
        ({"oidc_issuer": ISSUER}, "oidc_client_id is empty"),
        ({"oidc_issuer": ISSUER, "oidc_client_id": "c", "oidc_scopes": "email"}, "'openid'"),
    ],
)
def test_settings_that_cannot_work_are_refused(values, words):
    with pytest.raises(InputError, match=words):
        load_settings(environ={}, **values)


def test_plain_http_is_accepted_for_a_provider_on_loopback():
    settings = load_settings(environ={}, oidc_issuer="http://127.0.0.1:9400", oidc_client_id="c")
    assert settings.oidc_issuer == "http://127.0.0.1:9400"


# ------------------------------------------------------------------ the staff claim


@pytest.mark.parametrize(
    ("claims", "claim", "expected"),
    [
        ({"groups": ["everyone", "tcup-staff"]}, "groups", True),
        ({"groups": ["everyone"]}, "groups", False),
        ({"groups": "tcup-staff"}, "groups", True),
        ({"roles": "reader tcup-staff"}, "roles", True),
        ({"roles": "tcup-staff-former"}, "roles", False),
        ({"realm_access": {"roles": ["tcup-staff"]}}, "realm_access.roles", True),
        ({"realm_access": ["tcup-staff"]}, "realm_access.roles", False),
        ({"https://example.test/groups": ["tcup-staff"]}, "https://example.test/groups", True),
        ({}, "groups", False),
        ({"groups": None}, "groups", False),
    ],
)
def test_staff_membership_is_read_from_the_configured_claim(claims, claim, expected):
    assert is_staff(claims, claim, "tcup-staff") is expected


# ------------------------------------------------------------------ accounts


@pytest.fixture
def sessions(server_settings):
    engine = db.make_engine(server_settings.resolved_database_url)
    yield db.session_factory(engine)
    engine.dispose()


def _sign_in(sessions, issuer, sub, claims, staff=False) -> tuple[int, str, str]:
    with db.transaction(sessions) as session:
        user = accounts.sign_in_oidc(session, issuer, sub, claims, staff)
        session.flush()
        return user.id, user.name, user.kind


def test_accounts_are_linked_by_issuer_and_subject_only(sessions):
    with db.transaction(sessions) as session:
        accounts.create_user(session, "ada", "local-password", email="ada@example.test")
    claims = {"preferred_username": "ada", "email": "ada@example.test", "name": "Ada L."}
    first = _sign_in(sessions, ISSUER, "sub-1", claims)
    assert first[1:] == ("ada-2", "vendor")  # the local "ada" with that e-mail is not taken
    assert _sign_in(sessions, ISSUER, "sub-1", {"preferred_username": "renamed"}) == first
    other_issuer = _sign_in(sessions, "https://other.example.test", "sub-1", claims)
    assert other_issuer[0] != first[0] and other_issuer[1] == "ada-3"
    with sessions() as session:
        local = session.scalar(select(User).where(User.name == "ada"))
        assert local.password_hash and local.openid == "tcup:user:ada"
        links = session.scalars(select(OidcIdentity).order_by(OidcIdentity.id)).all()
        assert [(i.issuer, i.subject, i.user_id) for i in links] == [
            (ISSUER, "sub-1", first[0]),
            ("https://other.example.test", "sub-1", other_issuer[0]),
        ]
        made = session.get(User, first[0])
        assert made.password_hash is None and made.email == "ada@example.test"


def test_the_staff_flag_follows_the_claim_at_every_sign_in(sessions):
    assert _sign_in(sessions, ISSUER, "sub-2", {"email": "bo@example.test"}, staff=True)[1:] == (
        "bo",
        "staff",
    )
    assert _sign_in(sessions, ISSUER, "sub-2", {}, staff=False)[2] == "vendor"
    assert _sign_in(sessions, ISSUER, "sub-2", {}, staff=True)[2] == "staff"
    with sessions() as session:
        changes = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.kind")).all()
        assert [(e.details["from"], e.details["to"]) for e in changes] == [
            ("staff", "vendor"),
            ("vendor", "staff"),
        ]


def test_a_disabled_account_cannot_sign_in(sessions):
    user_id = _sign_in(sessions, ISSUER, "sub-3", {"preferred_username": "cy"})[0]
    with db.transaction(sessions) as session:
        session.get(User, user_id).disabled_at = utcnow()
    with pytest.raises(Forbidden, match="disabled"), db.transaction(sessions) as session:
        accounts.sign_in_oidc(session, ISSUER, "sub-3", {}, False)


# ------------------------------------------------------------------ pages, no provider


@pytest.fixture
def sso_client(server_settings):
    """The app configured for a provider on a loopback port where nothing listens."""
    settings = dataclasses.replace(
        server_settings,
        oidc_issuer=f"http://127.0.0.1:{closed_port()}",
        oidc_client_id="tcup",
        oidc_client_secret="s3cret",
        oidc_provider_name="Example ID",
        oidc_timeout_seconds=3,
    )
    application = create_app(settings)
    with TestClient(application, follow_redirects=False) as client:
        yield client
    application.state.tcup.engine.dispose()


def test_a_provider_that_does_not_answer_gets_a_clear_page(sso_client):
    page = sso_client.get("/login")
    assert page.status_code == 200 and "Log in with Example ID" in page.text
    assert 'name="password"' in page.text  # the fallback stays on unless switched off
    answer = sso_client.get("/login/oidc", params={"next": "/results"})
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "Single sign-on unavailable" in answer.text
    assert "did not answer (connection refused or host unreachable)" in answer.text
    assert "Traceback" not in answer.text
    with sso_client.app.state.tcup.sessions() as session:  # nothing was begun
        assert session.scalars(select(OidcLogin)).all() == []


def test_an_answer_without_a_sign_in_under_way_is_refused(sso_client):
    answer = sso_client.get("/login/oidc/callback", params={"code": "c", "state": "s"})
    assert answer.status_code == 400
    assert "not known to this browser" in answer.text and "Traceback" not in answer.text
    denied = sso_client.get(
        "/login/oidc/callback",
        params={"error": "access_denied", "error_description": "<b>no</b>", "state": "s"},
    )
    assert denied.status_code == 403
    assert "did not sign you in (access_denied: &lt;b&gt;no&lt;/b&gt;)" in denied.text


def test_logout_works_when_the_provider_does_not_answer(sso_client):
    sessions = sso_client.app.state.tcup.sessions
    with db.transaction(sessions) as session:
        user = accounts.sign_in_oidc(session, "http://127.0.0.1:1", "sub-4", {}, False)
        token, csrf = auth.start_session(session, user, 1, oidc_id_token="header.payload.sig")
    sso_client.cookies.set(auth.SESSION_COOKIE, token)
    answer = sso_client.post("/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/?done=logged_out"
    with sessions() as session:
        assert session.get(BrowserSession, auth.digest(token)) is None


def test_pages_let_forms_lead_to_the_provider_and_nowhere_else(sso_client):
    csp = sso_client.get("/login").headers["Content-Security-Policy"]
    issuer = sso_client.app.state.tcup.settings.oidc_issuer
    assert f"form-action 'self' {issuer};" in csp
    assert "script-src" not in csp


def test_an_operator_links_an_existing_account(sessions, server_settings, monkeypatch, capsys):
    from tcup_server.cli import main

    with db.transaction(sessions) as session:
        accounts.create_user(session, "dee", "local-password", staff=True)
    monkeypatch.setenv("TCUP_SERVER_DATABASE_URL", server_settings.resolved_database_url)
    monkeypatch.setenv("TCUP_SERVER_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("TCUP_SERVER_OIDC_CLIENT_ID", "tcup")
    assert main(["link-identity", "dee", "--subject", "sub-5"]) == 0
    assert f"'dee' signs in as 'sub-5' at {ISSUER}" in capsys.readouterr().out
    user_id, name, kind = _sign_in(sessions, ISSUER, "sub-5", {"preferred_username": "x"})
    assert (name, kind) == ("dee", "vendor")  # the same account; the claim decides staff
    assert main(["link-identity", "dee", "--subject", "sub-5"]) == 2
    assert "already linked to 'dee'" in capsys.readouterr().err
    assert main(["link-identity", "nobody", "--subject", "sub-6"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err


class _FakeProvider(http.server.BaseHTTPRequestHandler):
    """A fake provider for error paths: discovery names ``named`` (its own URL if empty),
    and the token endpoint answers 500."""

    named = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        own = f"http://127.0.0.1:{self.server.server_address[1]}"
        doc = {
            "issuer": self.named or own,
            "authorization_endpoint": own + "/auth",
            "token_endpoint": own + "/token",
            "jwks_uri": own + "/jwks",
        }
        self._answer(200, json.dumps(doc).encode())

    def do_POST(self) -> None:  # noqa: N802
        self._answer(500, b"<html>internal error</html>")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def fake_provider(server_settings):
    """(client, handler class) for an app trusting a fake provider on loopback."""
    handler = type("Handler", (_FakeProvider,), {})
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    settings = dataclasses.replace(
        server_settings,
        oidc_issuer=f"http://127.0.0.1:{fake.server_address[1]}",
        oidc_client_id="tcup",
        oidc_client_secret="s3cret",
    )
    application = create_app(settings)
    try:
        with TestClient(application, follow_redirects=False) as client:
            yield client, handler
    finally:
        fake.shutdown()
        application.state.tcup.engine.dispose()


def test_a_provider_naming_another_issuer_is_refused(fake_provider):
    client, handler = fake_provider
    handler.named = "https://elsewhere.example.test"
    answer = client.get("/login/oidc")
    assert answer.status_code == 502
    assert "calls itself &#39;https://elsewhere.example.test&#39;" in answer.text


def test_a_failing_token_endpoint_gets_a_clear_page(fake_provider):
    client, _handler = fake_provider
    begun = client.get("/login/oidc", params={"next": "/results"})
    assert begun.status_code == 303
    query = dict(parse_qsl(urlsplit(begun.headers["location"]).query))
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    answer = client.get("/login/oidc/callback", params={"code": "c", "state": query["state"]})
    assert answer.status_code == 502
    assert "did not answer the token request (HTTP 500)" in answer.text
    assert "Traceback" not in answer.text and auth.SESSION_COOKIE not in client.cookies
    again = client.get("/login/oidc/callback", params={"code": "c", "state": query["state"]})
    assert again.status_code == 400 and "already used" in again.text  # one use only
