"""Scale-out: two ``tcup-server serve`` processes, two workers each, on one PostgreSQL
database and one Swift container (the reference cloud's) behave as one server.

100 distinct signed uploads go out at once on 16 client threads, each to one process
and half of them a second time to the other.  Every answer is 201, each upload has
exactly one record (the replay answers the first's id), every record reads back
whole (its artefacts from Swift) through the process that did not necessarily store
it, and the login throttle and sessions are shared: failures made on both processes
add up, a session opened on one works on the other and ends on both.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from live_server import LiveServer, server_cli
from server_helpers import fresh_postgres_database, signed
from sqlalchemy import create_engine, func, select
from tcup_server.models import Artefact, Result

pytestmark = pytest.mark.integration

UPLOADS = 100
CLIENTS = 16
PASSWORD = "scale-out-password-7c1f"


@pytest.fixture
def two_servers(
    tmp_path, keys_dir, postgres_url, postgres_template, reference_cloud, swift_container
):
    """Two server processes sharing the database, the store, and the keys (as a deployment
    shares its secrets); each has its own data directory."""
    shared = {
        "OS_CLIENT_CONFIG_FILE": str(reference_cloud.clouds_yaml),
        "TCUP_SERVER_ARTEFACT_BACKEND": "swift",
        "TCUP_SERVER_SWIFT_CLOUD": reference_cloud.cloud,
        "TCUP_SERVER_SWIFT_CONTAINER": swift_container,
        "TCUP_SERVER_WORKERS": "2",
    }
    with fresh_postgres_database(postgres_url, postgres_template) as url:
        servers = [
            LiveServer.create(
                tmp_path / name, keys_dir=keys_dir, database_url=url, extra_env=shared
            )
            for name in ("a", "b")
        ]
        try:
            for server in servers:
                server.start()
            yield servers, url
        finally:
            for server in servers:
                server.stop()


def test_two_processes_on_one_database_and_store_behave_as_one(
    two_servers, rsa_keys, subunit_body, reference_cloud, swift_container
):
    (first, second), url = two_servers
    vendor = first.add_vendor("scaler", rsa_keys[0])
    base = json.loads(subunit_body)
    bodies = [
        json.dumps({**base, "cpid": f"scale-out-{number:03d}"}).encode()
        for number in range(UPLOADS)
    ]
    sends = [(n, (first, second)[n % 2]) for n in range(UPLOADS)]
    sends += [(n, (second, first)[n % 2]) for n in range(0, UPLOADS, 2)]  # half, to the other
    random.Random(7).shuffle(sends)

    def send(item: tuple[int, LiveServer]) -> tuple[int, int, str]:
        number, server = item
        data = bodies[number]
        response = requests.post(
            f"{server.url}/v1/results", data=data, headers=signed(data, vendor.key), timeout=120
        )
        return number, response.status_code, response.text

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, sends))

    errors = [(n, code, text[:200]) for n, code, text in answers if code != 201]
    assert errors == [], f"{len(errors)} uploads answered other than 201"
    ids: dict[int, set[str]] = {}
    for number, _, text in answers:
        ids.setdefault(number, set()).add(json.loads(text)["test_id"])
    duplicates = {n: found for n, found in ids.items() if len(found) != 1}
    assert duplicates == {}, "an upload sent twice got two records"
    assert len(ids) == UPLOADS

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stored = Counter(conn.scalars(select(Result.cpid)))
            artefacts = conn.scalar(select(func.count()).select_from(Artefact))
    finally:
        engine.dispose()
    assert stored == Counter(f"scale-out-{n:03d}" for n in range(UPLOADS))  # none twice, none lost
    assert artefacts >= UPLOADS
    objects = list(reference_cloud.connect().object_store.objects(swift_container))
    assert len(objects) == artefacts  # every artefact is in the one Swift container

    server_cli(first.env, "create-user", "staff", "--staff", "--password-stdin", stdin=PASSWORD)
    staff = requests.Session()
    login = staff.post(
        f"{first.url}/v1/auth/login", json={"name": "staff", "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 200, login.text
    for number, (test_id,) in sorted(ids.items()):
        server = (second, first)[number % 2]  # read through the other process
        record = requests.get(
            f"{server.url}/v1/results/{test_id}", headers=vendor.headers, timeout=30
        )
        assert record.status_code == 200, record.text
        assert record.json()["cpid"] == f"scale-out-{number:03d}"
        raw = staff.get(f"{server.url}/results/{test_id}/artefacts/upload", timeout=30)
        assert raw.status_code == 200 and raw.content == bodies[number]  # from Swift, whole


def test_logins_and_sessions_are_shared_by_both_processes(two_servers):
    (first, second), _ = two_servers
    server_cli(first.env, "create-user", "sam", "--staff", "--password-stdin", stdin=PASSWORD)
    right = {"name": "sam", "password": PASSWORD}
    wrong = {"name": "sam", "password": "not-" + PASSWORD}

    # a session opened on one process works on the other, and a logout there ends it on both
    browser = requests.Session()
    login = browser.post(f"{first.url}/v1/auth/login", json=right, timeout=30)
    assert login.status_code == 200, login.text
    csrf = login.json()["csrf_token"]
    assert browser.get(f"{second.url}/v1/profile", timeout=30).json()["name"] == "sam"
    out = browser.post(f"{second.url}/v1/auth/logout", headers={"X-CSRF-Token": csrf}, timeout=30)
    assert out.status_code == 204
    ended = requests.get(
        f"{first.url}/v1/profile",
        cookies={"tcup_session": login.cookies["tcup_session"]},
        timeout=30,
    )
    assert ended.status_code == 401

    # failed logins count across processes: 5 free failures, spread over both
    for attempt in range(5):
        server = (first, second)[attempt % 2]
        failed = requests.post(f"{server.url}/v1/auth/login", json=wrong, timeout=30)
        assert failed.status_code == 401, failed.text
    for server in (first, second):
        slowed = requests.post(f"{server.url}/v1/auth/login", json=right, timeout=30)
        assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) > 0
