"""Uploads as refstack-client and tcup send them: acceptance, refusals, replay, receipts."""

from __future__ import annotations

import hashlib
import json

from server_helpers import ON_EVERY_DATABASE, refstack_client_post, signed
from sqlalchemy import func, select
from tcup_server.models import Artefact, Result
from tcup_server.services.ingest import receipt_payload

from tcup import signing

pytestmark = ON_EVERY_DATABASE


def count_results(app) -> int:
    with app.state.tcup.sessions() as session:
        return session.scalar(select(func.count()).select_from(Result))


def test_refstack_client_upload_is_stored_and_receipt_is_signed(client, actors, subunit_body):
    body, headers = refstack_client_post(json.loads(subunit_body), actors["vendor_a"].key)
    response = client.post("/v1/results/", content=body, headers=headers)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["url"] == f"http://testserver/results/{receipt['test_id']}"
    assert receipt["sha256"] == hashlib.sha256(body).hexdigest()
    assert receipt["key_fingerprint"] == signing.fingerprint(headers["X-Public-Key"])
    server_key = client.get("/v1/tcup/server-key").json()["public_key"]
    signing.verify(receipt_payload(receipt), receipt["receipt_signature"], server_key)

    detail = client.get(f"/v1/results/{receipt['test_id']}", headers=actors["vendor_a"].headers)
    assert detail.status_code == 200
    data = detail.json()
    assert sorted(data["results"]) == sorted(t["name"] for t in json.loads(body)["results"])
    assert data["cpid"] == "b33dc8a37c8607c6a7612f6296139578"
    assert data["guideline"] == "2020.06" and data["target"] == "platform"
    assert data["verdict"] == "does not qualify" and data["qualifies"] is False
    assert {c["status"] for c in data["capabilities"]} >= {"required"}


def test_guideline_and_target_from_query_are_scored(client, actors, app):
    from tcup import testlist

    guideline = app.state.tcup.guidelines.load("2020.06")
    names = testlist.format_plan(testlist.plan(guideline, "object"), "names")
    body = json.dumps(
        {
            "cpid": "c1",
            "duration_seconds": 1,
            "results": [{"name": n} for n in dict.fromkeys(names)],
        }
    ).encode()
    key = actors["vendor_a"].key
    response = client.post("/v1/results?target=object", content=body, headers=signed(body, key))
    assert response.status_code == 201, response.text
    data = client.get(
        f"/v1/results/{response.json()['test_id']}", headers=actors["vendor_a"].headers
    ).json()
    assert data["target"] == "object"
    assert data["qualifies"] is True and data["verdict"] == "qualifies"


def test_tampered_body_is_refused_and_nothing_stored(client, actors, subunit_body, app):
    headers = signed(subunit_body, actors["vendor_a"].key)
    changed = subunit_body.replace(b'"duration_seconds": 42', b'"duration_seconds": 43')
    assert changed != subunit_body
    response = client.post("/v1/results", content=changed, headers=headers)
    assert response.status_code == 400
    assert response.json()["title"] == "Signature verification failed"
    assert count_results(app) == 0


def test_refstack_check_order_and_messages(client, actors, subunit_body, rsa_keys, app):
    key = actors["vendor_a"].key
    cases = [
        (b"{not json", signed(b"{not json", key), 400, "Malformed request"),
        (
            b'{"cpid": "x"}',
            signed(b'{"cpid": "x"}', key),
            400,
            "Request doesnt correspond to schema",
        ),
        (
            subunit_body,
            {**signed(subunit_body, key), "X-Signature": "zz"},
            400,
            "Malformed signature",
        ),
        (
            subunit_body,
            {**signed(subunit_body, key), "X-Public-Key": "ssh-rsa !!"},
            400,
            "Malformed public key",
        ),
    ]
    empty = json.dumps({"cpid": "x", "duration_seconds": 1, "results": []}).encode()
    cases.append(
        (empty, signed(empty, key), 400, "Uploaded results must contain at least one passing test.")
    )
    for body, headers, code, title in cases:
        response = client.post("/v1/results", content=body, headers=headers)
        assert (response.status_code, response.json()["title"]) == (code, title), body
        assert response.json()["code"] == code

    # a valid signature by a key nobody registered: RefStack's 401
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, rsa_keys[3])
    )
    assert response.status_code == 401
    assert response.json()["detail"].startswith("User with specified key not found.")
    assert response.json()["title"] == "Unauthorized"
    # unsigned: refused by default
    response = client.post(
        "/v1/results", content=subunit_body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401
    assert "Anonymous result uploads are disabled" in response.json()["detail"]
    assert count_results(app) == 0


def test_revoked_key_cannot_upload(client, actors, subunit_body):
    keys = client.get("/v1/profile/pubkeys", headers=actors["vendor_a"].headers).json()
    assert len(keys) == 1
    deleted = client.delete(
        f"/v1/profile/pubkeys/{keys[0]['id']}", headers=actors["vendor_a"].headers
    )
    assert deleted.status_code == 204
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 401


def test_replay_returns_the_first_record(client, actors, subunit_body, app):
    headers = signed(subunit_body, actors["vendor_a"].key)
    first = client.post("/v1/results", content=subunit_body, headers=headers)
    again = client.post("/v1/results", content=subunit_body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["test_id"] == first.json()["test_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_results(app) == 1

    keyed = {**headers, "Idempotency-Key": "run-1"}
    one = client.post("/v1/results", content=subunit_body, headers=keyed)
    assert one.status_code == 201 and one.json()["test_id"] != first.json()["test_id"]
    other = json.dumps({**json.loads(subunit_body), "cpid": "another"}).encode()
    reused = client.post(
        "/v1/results",
        content=other,
        headers={**signed(other, actors["vendor_a"].key), "Idempotency-Key": "run-1"},
    )
    assert reused.status_code == 422
    assert count_results(app) == 2


def test_body_size_limit(client, actors, app):
    limit = app.state.tcup.settings.max_body_bytes
    body = b" " * (limit + 1)
    response = client.post(
        "/v1/results", content=body, headers=signed(b"x", actors["vendor_a"].key)
    )
    assert response.status_code == 413


def test_bad_test_names_are_refused(client, actors, app):
    for name in ("a" * 513, "tempest.x\x00y"):
        body = json.dumps(
            {"cpid": "c", "duration_seconds": 1, "results": [{"name": name}]}
        ).encode()
        response = client.post(
            "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
        )
        assert response.status_code == 400, name
    assert count_results(app) == 0


def test_subunit_upload_and_extended_upload(client, actors, app):
    from tcup_server.storage import EncryptedStore

    stream = (
        __import__("pathlib").Path(__file__).parents[1] / "fixtures" / "sample-v2.subunit"
    ).read_bytes()
    key = actors["vendor_b"].key
    headers = {**signed(stream, key), "Content-Type": "application/octet-stream"}
    response = client.post(
        "/v1/results?cpid=abc&duration_seconds=7", content=stream, headers=headers
    )
    assert response.status_code == 201, response.text
    data = client.get(
        f"/v1/results/{response.json()['test_id']}", headers=actors["vendor_b"].headers
    ).json()
    assert len(data["results"]) == 9 and data["duration_seconds"] == 7

    import requests

    manifest = json.dumps({"guideline": "2020.06", "target": "object"}).encode()
    results_part = json.dumps(
        {"cpid": "abc", "duration_seconds": 3, "results": [{"name": n} for n in data["results"]]}
    ).encode()
    prepared = requests.Request(
        "POST",
        "http://x/",
        files={
            "results": ("results.json", results_part),
            "subunit": ("results.subunit", stream),
            "manifest": ("manifest.json", manifest),
        },
    ).prepare()
    headers = {**signed(prepared.body, key), "Content-Type": prepared.headers["Content-Type"]}
    response = client.post("/v1/tcup/results", content=prepared.body, headers=headers)
    assert response.status_code == 201, response.text
    test_id = response.json()["test_id"]
    data = client.get(f"/v1/results/{test_id}", headers=actors["vendor_b"].headers).json()
    assert data["target"] == "object"
    with app.state.tcup.sessions() as session:
        rows = {
            a.kind: a
            for a in session.scalars(select(Artefact).where(Artefact.result_id == test_id))
        }
    assert set(rows) == {"upload", "subunit", "manifest"}
    store = app.state.tcup.store
    assert isinstance(store, EncryptedStore)
    assert store.get(rows["subunit"].storage_key) == stream
    raw = store.inner.get(rows["subunit"].storage_key)
    assert stream[:64] not in raw  # encrypted at rest
    assert hashlib.sha256(stream).hexdigest() == rows["subunit"].sha256
