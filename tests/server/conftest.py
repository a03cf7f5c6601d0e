"""Fixtures for the receiving server: a fresh server (SQLite, temp data dir), users, keys."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from live_server import LiveServer, Vendor
from server_helpers import (
    FIXTURES,
    REPO,
    fresh_postgres_database,
    interop_dir,
    own_swift_container,
)
from sqlalchemy.engine import make_url
from tcup_server import db
from tcup_server.app import create_app
from tcup_server.services.accounts import create_user
from tcup_server.services.guidelines import GuidelineDirectory, sync
from tcup_server.settings import load_settings

from tcup import results, signing


@pytest.fixture(scope="session")
def rsa_keys() -> list[rsa.RSAPrivateKey]:
    """Four 2048-bit keys (generation is the slow part; share them)."""
    return [signing.generate_key(2048) for _ in range(4)]


@pytest.fixture(scope="session")
def subunit_body() -> bytes:
    """A RefStack body built by tcup.results from a subunit stream written by a real run."""
    run = results.read_subunit((FIXTURES / "sample-v2.subunit").read_bytes())
    return json.dumps(results.refstack_body(run, "b33dc8a37c8607c6a7612f6296139578", 42)).encode()


@dataclass
class Actor:
    name: str
    user_id: int | None
    key: rsa.RSAPrivateKey | None
    headers: dict[str, str]


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory) -> Path:
    """Server keys shared by all tests."""
    return tmp_path_factory.mktemp("server-keys")


@pytest.fixture(scope="session")
def guideline_dir(tmp_path_factory) -> Path:
    """The real interop guidelines, synced once through ``tcup-server guidelines sync``."""
    root = tmp_path_factory.mktemp("guidelines")
    report = sync(GuidelineDirectory(root), str(interop_dir()))
    assert "2020.06" in report.stored
    return root


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server: $TCUP_TEST_POSTGRES_URL, else tools/postgres/up (stopped at the end
    only if this session started it)."""
    if os.environ.get("TCUP_TEST_POSTGRES_URL"):
        yield os.environ["TCUP_TEST_POSTGRES_URL"]
        return
    port = int(os.environ.get("PORT", "15432"))
    was_running = _port_open("127.0.0.1", port)
    up = subprocess.run(
        [str(REPO / "tools" / "postgres" / "up")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if up.returncode != 0:
        pytest.fail(f"tools/postgres/up failed:\n{up.stderr}")
    try:
        yield up.stdout.strip().splitlines()[-1]
    finally:
        if not was_running:
            subprocess.run([str(REPO / "tools" / "postgres" / "down")], timeout=120, check=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str):
    """A database with the schema applied once; tests get copies of it (CREATE ... TEMPLATE)."""
    with fresh_postgres_database(postgres_url) as url:
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        yield make_url(url).database


@pytest.fixture
def database_url(request) -> str:
    """'' (SQLite in the data dir) or, for tests parametrised with ``database_url="postgresql"``
    (indirect), a fresh PostgreSQL database with the schema, dropped afterwards."""
    if getattr(request, "param", "sqlite") != "postgresql":
        yield ""
        return
    server = request.getfixturevalue("postgres_url")
    template = request.getfixturevalue("postgres_template")
    with fresh_postgres_database(server, template) as url:
        yield url


@pytest.fixture
def server_settings(tmp_path: Path, keys_dir: Path, guideline_dir: Path, database_url: str):
    settings = load_settings(
        environ={},
        database_url=database_url or None,
        data_dir=tmp_path / "data",
        keys_dir=keys_dir,
        guideline_dir=guideline_dir,
        cookie_secure=False,
        public_url="http://testserver",
        results_per_page=5,
    )
    engine = db.make_engine(settings.resolved_database_url)
    db.upgrade(engine)
    engine.dispose()
    return settings


@pytest.fixture
def app(server_settings):
    application = create_app(server_settings)
    yield application
    application.state.tcup.engine.dispose()


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def actors(app, client, rsa_keys) -> dict[str, Actor]:
    """anonymous, vendor_a and vendor_b (each with a registered key), staff; API-token auth."""
    from tcup_server.services.accounts import create_token

    state = app.state.tcup
    out = {"anonymous": Actor("anonymous", None, None, {})}
    with db.transaction(state.sessions) as session:
        for name, staff in (("vendor_a", False), ("vendor_b", False), ("staff", True)):
            user = create_user(session, name, "password-" + name, staff=staff)
            token = create_token(session, name, "tests")
            out[name] = Actor(name, user.id, None, {"Authorization": f"Bearer {token}"})
    for index, name in enumerate(("vendor_a", "vendor_b")):
        key = rsa_keys[index]
        response = client.post(
            "/v1/profile/pubkeys",
            json={
                "raw_key": signing.public_key_line(key),
                "self_signature": signing.self_signature(key),
            },
            headers=out[name].headers,
        )
        assert response.status_code == 201, response.text
        out[name].key = key
    return out


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, keys_dir: Path):
    """A real ``tcup-server serve`` process (SQLite, fresh data dir) for the whole session."""
    server = LiveServer.create(tmp_path_factory.mktemp("live-server"), keys_dir=keys_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_vendor(live_server: LiveServer, rsa_keys) -> Vendor:
    """Vendor 'acme' on the live server, with ``rsa_keys[2]`` registered."""
    return live_server.add_vendor("acme", rsa_keys[2])


@pytest.fixture
def swift_container(reference_cloud):
    """A Swift container of its own in the reference cloud, emptied and removed afterwards."""
    with own_swift_container(reference_cloud) as name:
        yield name
