"""kill -9 of the server during a burst of signed uploads: no partial record, retries store once."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from live_server import LiveServer, server_cli
from server_helpers import signed
from sqlalchemy import func, select
from tcup_server import db
from tcup_server.models import Artefact, IdempotencyKey, Result, ResultTests

pytestmark = pytest.mark.integration

UPLOADS = 40
THREADS = 4
KILL_AFTER = 12  # acknowledged uploads before the kill


def bodies(base: bytes) -> list[bytes]:
    data = json.loads(base)
    return [json.dumps({**data, "cpid": f"crash-{i:02d}"}).encode() for i in range(UPLOADS)]


def post(server: LiveServer, body: bytes, key, index: int) -> requests.Response:
    headers = {**signed(body, key), "Idempotency-Key": f"crash-test-{index}"}
    return requests.post(f"{server.url}/v1/results", data=body, headers=headers, timeout=60)


def test_kill_during_burst_leaves_whole_records_and_retries_store_once(
    tmp_path, keys_dir, rsa_keys, subunit_body
):
    server = LiveServer.create(tmp_path / "data", keys_dir=keys_dir).start()
    try:
        key = rsa_keys[3]
        server.add_vendor("crashy", key)
        uploads = bodies(subunit_body)
        acked: dict[int, str] = {}
        lock = threading.Lock()
        enough = threading.Event()

        def send(index: int) -> None:
            if enough.is_set():
                return  # the burst is over: not sent
            try:
                response = post(server, uploads[index], key, index)
            except requests.RequestException:
                return  # in flight when the server died (refused, reset, cut-off answer)
            if response.status_code == 201:
                with lock:
                    acked[index] = response.json()["test_id"]
                    if len(acked) >= KILL_AFTER:
                        enough.set()

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(send, i) for i in range(UPLOADS)]
            assert enough.wait(timeout=120), server.log()
            server.kill()
            for future in futures:
                future.result()
        assert KILL_AFTER <= len(acked) < UPLOADS  # the kill landed inside the burst

        # after the crash: every record is whole, nothing acknowledged is lost
        engine = db.make_engine(f"sqlite:///{server.data_dir / 'tcup-server.db'}")
        with db.session_factory(engine)() as session:
            stored = set(session.scalars(select(Result.id)))
            assert set(acked.values()) <= stored
            assert len(stored) - len(acked) <= THREADS  # at most those in flight committed
            assert set(session.scalars(select(ResultTests.result_id))) == stored
            kinds = session.execute(select(Artefact.result_id, Artefact.kind)).all()
            assert {r for r, kind in kinds if kind == "upload"} == stored
            assert {r for r, _ in kinds} == stored  # no artefact row without its result
            # a signed upload's identity is its signed content, never an Idempotency-Key row
            assert session.execute(select(IdempotencyKey.result_id)).scalars().all() == []
            identities = session.scalars(select(Result.signed_digest)).all()
            assert None not in identities and len(set(identities)) == len(stored)
        engine.dispose()
        check = server_cli(server.env, "db", "check", "--older-than", "0", ok=(0, 1))
        if "INCONSISTENT" in check:  # only leftovers of the crash may remain: collect them
            assert all(
                line.startswith(("unreferenced object", "0 ", "INCONSISTENT"))
                or line.endswith("artefact(s)")
                for line in check.splitlines()
            ), check
            server_cli(server.env, "db", "gc", "--older-than", "0")
        assert server_cli(server.env, "db", "check", "--older-than", "0").endswith("consistent\n")

        # restart; the client retries every body with its Idempotency-Key
        server.start()
        retried = {}
        with ThreadPoolExecutor(THREADS) as pool:
            for index, response in zip(
                range(UPLOADS),
                pool.map(lambda i: post(server, uploads[i], key, i), range(UPLOADS)),
                strict=True,
            ):
                assert response.status_code == 201, response.text
                retried[index] = response.json()["test_id"]
        assert all(retried[i] == test_id for i, test_id in acked.items())
        assert len(set(retried.values())) == UPLOADS
        engine = db.make_engine(f"sqlite:///{server.data_dir / 'tcup-server.db'}")
        with db.session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Result)) == UPLOADS
            cpids = sorted(session.scalars(select(Result.cpid)))
        engine.dispose()
        assert cpids == sorted(f"crash-{i:02d}" for i in range(UPLOADS))
        assert server_cli(server.env, "db", "check", "--older-than", "0").endswith("consistent\n")
    finally:
        server.stop()
