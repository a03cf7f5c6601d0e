"""Single sign-on with OpenID Connect, driven in a real headless Chromium against a
real, certified provider on loopback (panva's ``oidc-provider`` from npm, started by
``tools/oidc/up`` and stopped by ``tools/oidc/down``).

Two provider processes serve the module:

* ``main``: honest; two users, stella (groups: tcup-staff) and victor.  It also
  serves, under ``/renamed``, its own discovery document with two fields changed
  (a thin loopback proxy inside the provider script, ``--alias-path``): the
  issuer is ``<issuer>/renamed`` and the RFC 9207 flag is dropped, while the keys,
  the endpoints and the tokens' ``iss`` stay the real provider's;
* ``skewed``: the same provider with its clock an hour behind and ID tokens that
  live ten minutes (``--clock-skew -3600 --id-token-ttl 600``): real configuration
  of the real provider; every ID token it issues has expired by anyone else's clock.

One test starts a provider of its own and stops it in the middle of a sign-in (a
provider that stops answering).

Three servers under test, all ``tcup-server serve`` processes on SQLite:

* ``sso``: trusts ``main``; local passwords switched off (``password_login=false``);
  a local account named ``stella`` exists, to show that nobody is linked by name;
* ``renamed``: trusts ``main``'s ``/renamed`` alias, so every ID token comes from an
  issuer it does not trust;
* ``late``: trusts ``skewed``.

The tampered ``state`` and the wrong ``nonce`` are made in the browser: Playwright
rewrites one query parameter of one redirect (the provider's redirect back to the
server, or the server's redirect to the provider's authorization endpoint), so the
real provider issues a real ID token for the altered nonce.  Chromium does not let
a route see the hops of a redirect chain, so the route takes the form post (or
link) that starts the chain, follows the hops itself with the context's own cookies
(``route.fetch``, ``context.request``) and hands the browser the rewritten redirect.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from web_harness import CSRF, REPO, Server, follow, free_port, screenshot, tool, wait_until_up

pytestmark = pytest.mark.integration

UP = REPO / "tools" / "oidc" / "up"
DOWN = REPO / "tools" / "oidc" / "down"
CLIENT_ID = "tcup"
CLIENT_SECRET = "tcup-test-secret-" + os.urandom(6).hex()
STAFF = ("stella", "stella-pass")
VENDOR = ("victor", "victor-pass")
LABEL = "Test IdP"


@dataclass
class Sso:
    provider: str  # issuer URL of the honest provider
    skewed: str
    sso: Server  # trusts the provider; passwords off
    renamed: Server  # trusts the provider's /renamed alias
    late: Server  # trusts the skewed provider
    root: Path


def _start_provider(name: str, port: int, *args: str) -> str:
    done = subprocess.run(
        [
            str(UP),
            "--name",
            name,
            "--port",
            str(port),
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"tools/oidc/up failed:\n{done.stdout}{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def _start_server(
    root: Path, port: int, issuer: str, twin_of: Server | None = None, **extra: str
) -> Server:
    """A ``tcup-server serve`` process; ``twin_of``: a second process of that server (the
    same database, keys and public URL), listening on another port."""
    data_dir = twin_of.data_dir if twin_of else root / f"server-{port}"
    data_dir.mkdir(exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TCUP_SERVER_DATA_DIR": str(data_dir),
        "TCUP_SERVER_COOKIE_SECURE": "false",  # plain http on loopback
        "TCUP_SERVER_PUBLIC_URL": twin_of.url if twin_of else url,
        "TCUP_SERVER_OIDC_ISSUER": issuer,
        "TCUP_SERVER_OIDC_CLIENT_ID": CLIENT_ID,
        "TCUP_SERVER_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "TCUP_SERVER_OIDC_SCOPES": "openid profile email groups",
        "TCUP_SERVER_OIDC_STAFF_CLAIM": "groups",
        "TCUP_SERVER_OIDC_STAFF_VALUE": "tcup-staff",
        "TCUP_SERVER_OIDC_PROVIDER_NAME": LABEL,
        **{f"TCUP_SERVER_{k.upper()}": v for k, v in extra.items()},
    }
    for name in ("TCUP_SERVER_CONFIG", "TCUP_SERVER_DATABASE_URL"):
        env.pop(name, None)
    log = data_dir / f"server-{port}.log"
    server = Server(url, data_dir, env, None, log)  # type: ignore[arg-type]
    if twin_of is None:
        server.cli("db", "upgrade")
    with log.open("w") as out:
        server.process = subprocess.Popen(
            [tool("tcup-server"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_until_up(url, server.process, log)
    return server


def _stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sso]:
    root = tmp_path_factory.mktemp("oidc")
    ports = {name: free_port() for name in ("sso", "renamed", "late", "main", "skewed")}
    names = {k: f"test-{os.getpid()}-{k}" for k in ("main", "skewed")}

    def callback(server: str) -> str:
        return f"http://127.0.0.1:{ports[server]}/login/oidc/callback"

    started: list[str] = []
    servers: list[Server] = []
    try:
        provider = _start_provider(
            names["main"],
            ports["main"],
            "--redirect-uri", callback("sso"),
            "--redirect-uri", callback("renamed"),
            "--post-logout-uri", f"http://127.0.0.1:{ports['sso']}/logout/done",
            "--alias-path", "/renamed",
        )  # fmt: skip
        started.append(names["main"])
        skewed = _start_provider(
            names["skewed"],
            ports["skewed"],
            "--redirect-uri", callback("late"),
            "--clock-skew", "-3600",
            "--id-token-ttl", "600",
        )  # fmt: skip
        started.append(names["skewed"])
        main = _start_server(root, ports["sso"], provider, password_login="false")
        servers.append(main)
        main.cli("create-user", "stella", "--password-stdin", stdin="local-stella-pass\n")
        servers.append(_start_server(root, ports["renamed"], provider + "/renamed"))
        servers.append(_start_server(root, ports["late"], skewed))
        yield Sso(provider, skewed, *servers, root)
    finally:
        for server in servers:
            _stop_server(server)
        for name in started:
            subprocess.run([str(DOWN), "--name", name], timeout=60, check=False)


@pytest.fixture
def context(browser):  # noqa: ANN001, ANN201 - playwright objects
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def tab(context):  # noqa: ANN001, ANN201 - playwright Page
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


# ------------------------------------------------------------------ helpers


def start_sign_in(page, server: Server) -> None:  # noqa: ANN001
    """From the server's login page to the provider's sign-in form."""
    page.goto(server.url + "/login")
    follow(page, f"text=Log in with {LABEL}")
    page.wait_for_selector("input[name=login]")


def sign_in_at_provider(page, who: tuple[str, str]) -> None:  # noqa: ANN001
    """Fill the provider's login form, then allow the consent (first time per account)."""
    page.fill("input[name=login]", who[0])
    page.fill("input[name=password]", who[1])
    follow(page, "button:has-text('Sign in')")
    if page.locator("button:has-text('Allow')").count():
        follow(page, "button:has-text('Allow')")


def sign_in(page, server: Server, who: tuple[str, str]) -> None:  # noqa: ANN001
    start_sign_in(page, server)
    sign_in_at_provider(page, who)


def rewrite_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


REDIRECTS = {301, 302, 303, 307, 308}
CALLBACK = re.compile(r"/login/oidc/callback\?")


def rewrite_on_the_way(
    page,  # noqa: ANN001
    start: re.Pattern,
    target: re.Pattern,
    before: Callable[[], object] | None = None,
    **changes: str | None,
) -> None:
    """Requests matching ``start`` are followed hop by hop; the first redirect to a URL
    matching ``target`` reaches the browser with its query rewritten (``changes``), after
    ``before()`` has run."""

    def handle(route) -> None:  # noqa: ANN001
        if route.request.method not in ("GET", "POST"):
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        for _hop in range(10):
            location = answer.headers.get("location")
            if answer.status not in REDIRECTS or not location:
                break
            location = urljoin(answer.url, location)
            if target.search(location):
                if before is not None:
                    before()
                changed = rewrite_query(location, **changes)
                route.fulfill(status=303, headers={"location": changed})
                return
            answer = page.context.request.get(location, max_redirects=0)
        route.fulfill(response=answer)

    page.route(start, handle)


def refusal(page) -> tuple[str, str]:  # noqa: ANN001
    """(heading, message) of the page the server answered with."""
    return page.inner_text("main h1"), page.inner_text("main [role=alert]")


def db_rows(server: Server, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(server.data_dir / "tcup-server.db") as conn:
        return conn.execute(sql, args).fetchall()


def user_kind(server: Server, subject: str) -> tuple[str, str]:
    rows = db_rows(
        server,
        "SELECT u.name, u.kind FROM users u JOIN oidc_identities i ON i.user_id = u.id "
        "WHERE i.subject = ?",
        subject,
    )
    assert len(rows) == 1, rows
    return rows[0]


# ------------------------------------------------------------------ the tests


def test_staff_signs_in_and_sees_the_staff_pages(sso: Sso, tab) -> None:  # noqa: ANN001
    sign_in(tab, sso.sso, STAFF)
    assert urlsplit(tab.url).path == "/results"
    who = tab.inner_text("header .who")
    # A local account is called stella already: never taken over by name, so this is stella-2.
    assert "stella-2" in who and "staff" in who
    assert "Every uploaded result" in tab.inner_text("main .lede")
    follow(tab, "nav >> text=Vendors")
    assert tab.locator("text=New vendor").count() == 1
    tab.fill("input[name=name]", "Made By Stella")
    follow(tab, "button:has-text('Create vendor')")
    assert "Vendor created." in tab.inner_text("main")
    assert user_kind(sso.sso, "staff-0001") == ("stella-2", "staff")
    issuer = db_rows(sso.sso, "SELECT issuer FROM oidc_identities WHERE subject='staff-0001'")
    assert issuer == [(sso.provider,)]
    assert db_rows(
        sso.sso, "SELECT kind, password_hash IS NOT NULL FROM users WHERE name='stella'"
    ) == [("vendor", 1)]


def test_vendor_signs_in_and_sees_only_vendor_pages(sso: Sso, tab, context) -> None:  # noqa: ANN001
    sign_in(tab, sso.sso, VENDOR)
    who = tab.inner_text("header .who")
    assert "victor" in who and "staff" not in who
    assert "Your organisation's uploaded results" in tab.inner_text("main .lede")
    follow(tab, "nav >> text=Vendors")
    assert tab.locator("text=New vendor").count() == 0
    assert "not a member of any vendor" in tab.inner_text("#vendors")
    assert user_kind(sso.sso, "vendor-0001") == ("victor", "vendor")

    # The staff flag follows the claim at every login: promoted by hand, demoted again.
    db_rows(sso.sso, "UPDATE users SET kind='staff' WHERE name='victor'")
    tab.reload()
    assert "staff" in tab.inner_text("header .who")
    context.clear_cookies()  # a new login; the provider signs victor in again
    sign_in(tab, sso.sso, VENDOR)
    assert "staff" not in tab.inner_text("header .who")
    assert user_kind(sso.sso, "vendor-0001") == ("victor", "vendor")


def test_logout_ends_the_session_here_and_at_the_provider(sso: Sso, tab, context) -> None:  # noqa: ANN001
    sign_in(tab, sso.sso, VENDOR)
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "tcup_session")
    digest = hashlib.sha256(cookie.encode()).hexdigest()
    session = "SELECT count(*) FROM sessions WHERE token_sha256 = ? AND oidc_id_token IS NOT NULL"
    assert db_rows(sso.sso, session, digest) == [(1,)]
    follow(tab, "header button:has-text('Log out')")
    # RP-initiated logout: the provider's end_session_endpoint asks for confirmation.
    assert tab.url.startswith(sso.provider + "/session/end")
    follow(tab, "button:has-text('Yes, sign me out')")
    assert urlsplit(tab.url).netloc == urlsplit(sso.sso.url).netloc
    assert "You are logged out." in tab.inner_text("main")
    assert tab.locator("header .who >> text=Log in").count() == 1
    assert db_rows(sso.sso, session, digest) == [(0,)]
    tab.goto(sso.sso.url + "/results")
    assert urlsplit(tab.url).path == "/login"
    # the provider's own session ended too: it asks for the password again
    start_sign_in(tab, sso.sso)
    assert tab.locator("input[name=password]").count() == 1


def test_a_sign_in_begun_by_one_server_process_is_finished_by_another(sso: Sso, tab) -> None:  # noqa: ANN001
    """A second ``serve`` process of the sso server (same database, keys and public URL) on
    another port: the sign-in begins there, the provider sends the browser back to the first
    process, and the session then holds on both (cookies are per host, not per port)."""
    twin = _start_server(
        sso.root, free_port(), sso.provider, twin_of=sso.sso, password_login="false"
    )
    try:
        start_sign_in(tab, twin)
        with tab.expect_response(CALLBACK) as answer:
            sign_in_at_provider(tab, VENDOR)
        assert answer.value.url.startswith(sso.sso.url + "/login/oidc/callback")
        assert answer.value.status == 303
        assert "victor" in tab.inner_text("header .who")
        tab.goto(twin.url + "/results")
        assert urlsplit(tab.url).path == "/results" and "victor" in tab.inner_text("header .who")
        follow(tab, "header button:has-text('Log out')")  # on the twin
        follow(tab, "button:has-text('Yes, sign me out')")
        tab.goto(sso.sso.url + "/results")
        assert urlsplit(tab.url).path == "/login"
    finally:
        _stop_server(twin)


def test_local_passwords_are_refused_when_switched_off(sso: Sso, tab) -> None:  # noqa: ANN001
    tab.goto(sso.sso.url + "/login")
    assert tab.locator(f"text=Log in with {LABEL}").count() == 1
    screenshot(tab, "oidc-login")
    assert tab.locator("input[name=password]").count() == 0
    http = requests.Session()
    page = http.get(sso.sso.url + "/login", timeout=10)
    token = CSRF.search(page.text)
    assert token is None  # no password form at all
    form_token = http.cookies.get("tcup_presession")
    answer = http.post(
        sso.sso.url + "/login",
        data={"username": "stella", "password": "local-stella-pass", "csrf_token": form_token},
        timeout=30,
    )
    assert answer.status_code == 403
    assert "Password login is off" in answer.text and "Traceback" not in answer.text
    api = http.post(
        sso.sso.url + "/v1/auth/login",
        json={"name": "stella", "password": "local-stella-pass"},
        timeout=30,
    )
    assert api.status_code == 403 and "single sign-on" in api.json()["detail"]
    assert "tcup_session" not in http.cookies


def test_a_tampered_state_is_refused(sso: Sso, tab) -> None:  # noqa: ANN001
    start_sign_in(tab, sso.sso)
    provider_forms = re.compile(re.escape(sso.provider) + r"/interaction/[^/]+/(login|confirm)$")
    rewrite_on_the_way(tab, provider_forms, CALLBACK, state="forged-" + "x" * 36)
    with tab.expect_response(CALLBACK) as answer:
        sign_in_at_provider(tab, STAFF)
    assert "state=forged-" in answer.value.url
    assert answer.value.status == 400
    title, message = refusal(tab)
    assert title == "Sign-in refused"
    assert "state does not match" in message
    assert tab.locator("header .who >> text=Log in").count() == 1
    assert "tcup_session" not in {c["name"] for c in tab.context.cookies()}


def test_a_wrong_nonce_is_refused(sso: Sso, tab) -> None:  # noqa: ANN001
    start = re.compile(re.escape(sso.sso.url) + r"/login/oidc\?")
    to_provider = re.compile(re.escape(sso.provider) + r"/auth\?")
    rewrite_on_the_way(tab, start, to_provider, nonce="not-the-nonce-tcup-sent")
    start_sign_in(tab, sso.sso)
    with tab.expect_response(CALLBACK) as answer:
        sign_in_at_provider(tab, STAFF)
    assert answer.value.status == 401
    title, message = refusal(tab)
    assert title == "Sign-in refused"
    assert "nonce" in message and "another sign-in" in message
    assert tab.locator("header .who >> text=Log in").count() == 1


def test_a_wrong_issuer_in_the_id_token_is_refused(sso: Sso, tab) -> None:  # noqa: ANN001
    # The alias does not advertise RFC 9207 and the response's iss is dropped on the way,
    # so that it is the ID token's own iss that is checked here.
    start_sign_in(tab, sso.renamed)
    provider_forms = re.compile(re.escape(sso.provider) + r"/interaction/[^/]+/(login|confirm)$")
    rewrite_on_the_way(tab, provider_forms, CALLBACK, iss=None)
    with tab.expect_response(CALLBACK) as answer:
        sign_in_at_provider(tab, STAFF)
    assert "iss=" not in answer.value.url
    assert answer.value.status == 401
    title, message = refusal(tab)
    assert title == "Sign-in refused"
    assert f"ID token was issued by '{sso.provider}'" in message
    assert f"'{sso.provider}/renamed'" in message
    assert db_rows(sso.renamed, "SELECT count(*) FROM users") == [(0,)]


def test_a_wrong_issuer_in_the_authorization_response_is_refused(sso: Sso, tab) -> None:  # noqa: ANN001
    with tab.expect_response(CALLBACK) as answer:
        sign_in(tab, sso.renamed, VENDOR)
    assert answer.value.status == 401
    title, message = refusal(tab)
    assert title == "Sign-in refused"
    assert f"authorization response was issued by '{sso.provider}'" in message


def test_an_expired_id_token_is_refused(sso: Sso, tab) -> None:  # noqa: ANN001
    with tab.expect_response(CALLBACK) as answer:
        sign_in(tab, sso.late, VENDOR)
    assert answer.value.status == 401
    title, message = refusal(tab)
    assert title == "Sign-in refused"
    assert "ID token has expired" in message and "clocks" in message
    screenshot(tab, "oidc-expired-id-token")
    assert db_rows(sso.late, "SELECT count(*) FROM sessions") == [(0,)]


def test_an_error_from_the_provider_is_shown(sso: Sso, tab) -> None:  # noqa: ANN001
    start_sign_in(tab, sso.sso)
    with tab.expect_response(CALLBACK) as answer:
        follow(tab, "button:has-text('Cancel')")
    assert answer.value.status == 403
    title, message = refusal(tab)
    assert title == "Sign-in refused"
    assert "did not sign you in (access_denied" in message


def test_a_provider_that_stops_answering_gets_a_clear_page(sso: Sso, tab) -> None:  # noqa: ANN001
    """A provider of its own, stopped (tools/oidc/down) after the person signed in there and
    before the server redeems the code: the token request finds nobody."""
    name = f"test-{os.getpid()}-gone"
    server_port = free_port()
    provider = _start_provider(
        name, free_port(), "--redirect-uri", f"http://127.0.0.1:{server_port}/login/oidc/callback"
    )
    stop = [str(DOWN), "--name", name]
    try:
        server = _start_server(sso.root, server_port, provider)
        try:
            start_sign_in(tab, server)
            forms = re.compile(re.escape(provider) + r"/interaction/[^/]+/(login|confirm)$")
            rewrite_on_the_way(
                tab, forms, CALLBACK, before=lambda: subprocess.run(stop, timeout=60, check=True)
            )
            with tab.expect_response(CALLBACK) as answer:
                sign_in_at_provider(tab, VENDOR)
            assert answer.value.status == 502
            title, message = refusal(tab)
            assert title == "Single sign-on unavailable"
            assert "did not answer the token request (connection refused" in message
            assert db_rows(server, "SELECT count(*) FROM sessions") == [(0,)]
        finally:
            _stop_server(server)
    finally:
        subprocess.run(stop, timeout=60, check=False)
