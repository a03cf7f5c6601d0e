"""Password login: a throttle that slows a guesser without locking the owner out, kept in
the database (so every server process counts the same failures)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from server_helpers import ON_EVERY_DATABASE
from sqlalchemy import create_engine, func, select
from tcup_server import db
from tcup_server.app import create_app
from tcup_server.models import Base, LoginFailure, utcnow
from tcup_server.services.login_throttle import LoginThrottle, Policy, account_key, client_key

STRANGER = "203.0.113.7"
OWNER_ELSEWHERE = "198.51.100.2"
WRONG = {"name": "vendor_a", "password": "not-her-password"}
RIGHT = {"name": "vendor_a", "password": "password-vendor_a"}


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def throttle_db(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'throttle.db'}")
    Base.metadata.create_all(engine)
    yield db.session_factory(engine)
    engine.dispose()


def test_backoff_doubles_per_failure_and_a_success_clears_it(throttle_db) -> None:
    clock = Clock()
    throttle = LoginThrottle(throttle_db, Policy(), clock)
    delays = []
    for _ in range(12):
        assert throttle.wait("vera", STRANGER) == 0
        delays.append(throttle.failed("vera", STRANGER))
        assert throttle.wait("vera", STRANGER) == delays[-1]
        clock.advance(delays[-1])
    assert delays == [0, 0, 0, 0, 15, 30, 60, 120, 240, 480, 900, 900]
    assert throttle.wait("VERA ", STRANGER) == 0  # the name counts case-folded
    throttle.failed("Vera", STRANGER)
    assert throttle.wait("vera", STRANGER) == 900
    assert throttle.wait("vera", OWNER_ELSEWHERE) == 0
    assert throttle.wait("otto", STRANGER) == 0  # another name from the same address
    clock.advance(900)
    throttle.succeeded("vera", STRANGER)
    assert throttle.failed("vera", STRANGER) == 0  # counting starts again


def test_an_address_guessing_many_names_is_slowed_too(throttle_db) -> None:
    clock = Clock()
    throttle = LoginThrottle(throttle_db, Policy(), clock)
    for index in range(19):
        assert throttle.failed(f"user-{index}", STRANGER) == 0
    assert throttle.failed("user-19", STRANGER) == 15  # the 20th failure from that address
    assert throttle.wait("someone-else", STRANGER) == 15
    assert throttle.wait("someone-else", OWNER_ELSEWHERE) == 0


def test_counts_are_forgotten_a_day_after_the_last_failure(throttle_db) -> None:
    clock = Clock()
    throttle = LoginThrottle(throttle_db, Policy(), clock)
    for _ in range(5):
        throttle.failed("vera", STRANGER)
    assert throttle.wait("vera", STRANGER) == 15
    clock.advance(86400 + 1)
    assert throttle.failed("vera", STRANGER) == 0
    throttle.failed("otto", OWNER_ELSEWHERE)  # also prunes rows nobody touched for a day
    clock.advance(86400 + 1)
    throttle.failed("otto", OWNER_ELSEWHERE)
    with throttle_db() as session:
        rows = session.scalars(select(LoginFailure)).all()
    assert {row.address for row in rows} == {OWNER_ELSEWHERE}
    assert all(row.account_sha256 in {"*", account_key("otto")} for row in rows)


def test_client_key_groups_an_ipv6_host_by_its_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") != client_key("192.0.2.2")
    assert client_key(None) == "unknown"


def test_the_owner_logs_in_from_elsewhere_while_a_stranger_is_slowed(app, actors) -> None:
    """A stranger at address A has failed 50 times against vendor_a: A gets 429 with
    Retry-After, on the API and the login page; the owner's password from B still works."""
    stranger = TestClient(app, client=(STRANGER, 40000))
    owner = TestClient(app, client=(OWNER_ELSEWHERE, 40001))
    for _ in range(5):
        assert stranger.post("/v1/auth/login", json=WRONG).status_code == 401
    slowed = stranger.post("/v1/auth/login", json=RIGHT)
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) == 15
    # 45 more failures, each after waiting out the one before (as a patient guesser would),
    # the last one just now: recorded through the service with a clock that ends now
    policy = Policy()
    clock = Clock()
    clock.now = utcnow() - dt.timedelta(seconds=sum(policy.delay(n, 5) for n in range(6, 50)))
    throttle = LoginThrottle(app.state.tcup.sessions, policy, clock)
    for _ in range(45):
        clock.advance(throttle.failed("vendor_a", STRANGER))
    with app.state.tcup.sessions() as session:
        assert session.get(LoginFailure, (account_key("vendor_a"), STRANGER)).failures == 50
    refused = stranger.post("/v1/auth/login", json=RIGHT)
    assert refused.status_code == 429
    assert 890 <= int(refused.headers["Retry-After"]) <= 900
    assert "Too many failed login attempts" in refused.json()["detail"]
    page = stranger.get("/login")
    form = {"username": "vendor_a", "password": RIGHT["password"]}
    refused_page = stranger.post(
        "/login", data={**form, "csrf_token": page.cookies["tcup_presession"]}
    )
    assert refused_page.status_code == 429 and "Retry-After" in refused_page.headers

    ok = owner.post("/v1/auth/login", json=RIGHT)
    assert ok.status_code == 200, ok.text
    assert owner.get("/v1/profile").json()["name"] == "vendor_a"
    owner_browser = TestClient(app, client=(OWNER_ELSEWHERE, 40003))
    page = owner_browser.get("/login")
    by_page = owner_browser.post(
        "/login",
        data={**form, "csrf_token": page.cookies["tcup_presession"]},
        follow_redirects=False,
    )
    assert by_page.status_code == 303


@ON_EVERY_DATABASE
def test_every_server_process_counts_the_same_failures(server_settings, actors_in) -> None:
    """Two applications on one database (as two workers or servers): failures made on
    one slow the same pair on the other, and a success on the other clears them."""
    first, second = create_app(server_settings), create_app(server_settings)
    try:
        actors_in(first)
        one = TestClient(first, client=(STRANGER, 40000))
        two = TestClient(second, client=(STRANGER, 40002))
        for _ in range(4):
            assert one.post("/v1/auth/login", json=WRONG).status_code == 401
        assert two.post("/v1/auth/login", json=WRONG).status_code == 401  # the 5th
        for client in (one, two):
            assert client.post("/v1/auth/login", json=RIGHT).status_code == 429
        with second.state.tcup.sessions() as session:
            count = session.scalar(
                select(func.max(LoginFailure.failures)).where(LoginFailure.address == STRANGER)
            )
        assert count == 5
    finally:
        first.state.tcup.engine.dispose()
        second.state.tcup.engine.dispose()


@pytest.fixture
def actors_in():
    """Make vendor_a (with her password) in an application's database."""
    from tcup_server.services.accounts import create_user

    def make(application) -> None:  # noqa: ANN001
        with db.transaction(application.state.tcup.sessions) as session:
            create_user(session, "vendor_a", RIGHT["password"])

    return make
