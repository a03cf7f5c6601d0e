"""Uploads as refstack-client and tcup send them: acceptance, refusals, replay, receipts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
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
    signing.verify_receipt(receipt_payload(receipt), receipt["receipt_signature"], server_key)

    detail = client.get(f"/v1/results/{receipt['test_id']}", headers=actors["vendor_a"].headers)
    assert detail.status_code == 200
    data = detail.json()
    assert sorted(data["results"]) == sorted(t["name"] for t in json.loads(body)["results"])
    assert data["cpid"] == "b33dc8a37c8607c6a7612f6296139578"
    assert data["guideline"] == "2020.06" and data["target"] == "platform"
    assert data["verdict"].startswith("Would NOT qualify") and data["qualifies"] is False
    assert {c["status"] for c in data["capabilities"]} >= {"required"}


def object_body(app, cpid: str = "c1") -> bytes:
    """A RefStack body passing every test of 2020.06's object (Storage) target."""
    from tcup import testlist

    guideline = app.state.tcup.guidelines.load("2020.06")
    names = testlist.format_plan(testlist.plan(guideline, "object"), "names")
    return json.dumps(
        {
            "cpid": cpid,
            "duration_seconds": 1,
            "results": [{"name": n} for n in dict.fromkeys(names)],
        }
    ).encode()


def test_signed_upload_takes_no_metadata_from_the_query(client, actors, app):
    """The query is not signed: on a signed upload it may not set guideline or target;
    the owner sets them afterwards through the meta endpoints (RefStack's way)."""
    body = object_body(app)
    key = actors["vendor_a"].key
    response = client.post("/v1/results?target=object", content=body, headers=signed(body, key))
    assert response.status_code == 400
    assert response.json()["title"] == "Unsigned metadata refused"
    assert "target" in response.json()["detail"]
    assert count_results(app) == 0

    response = client.post("/v1/results", content=body, headers=signed(body, key))
    assert response.status_code == 201, response.text
    test_id = response.json()["test_id"]
    owner = actors["vendor_a"].headers
    set_target = client.post(f"/v1/results/{test_id}/meta/target", content=b"object", headers=owner)
    assert set_target.status_code == 201, set_target.text
    data = client.get(f"/v1/results/{test_id}", headers=owner).json()
    assert data["target"] == "object"
    assert data["qualifies"] is True and data["verdict"].startswith("Would qualify")


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

    # the identity of a signed upload is its key and signed content, whatever the key says
    for idempotency_key in ("run-1", "run-2"):
        keyed = {**headers, "Idempotency-Key": idempotency_key}
        one = client.post("/v1/results", content=subunit_body, headers=keyed)
        assert one.status_code == 201 and one.json()["test_id"] == first.json()["test_id"]
    other = json.dumps({**json.loads(subunit_body), "cpid": "another"}).encode()
    new = client.post(
        "/v1/results",
        content=other,
        headers={**signed(other, actors["vendor_a"].key), "Idempotency-Key": "run-1"},
    )
    assert new.status_code == 201 and new.json()["test_id"] != first.json()["test_id"]
    assert count_results(app) == 2


def test_replay_with_fresh_key_and_edited_query_makes_no_record(client, actors, subunit_body, app):
    """Issue 12, probe finding 1: a captured signed upload, replayed with a fresh
    Idempotency-Key and an unsigned query, was stored as a new record in the victim's name."""
    headers = signed(subunit_body, actors["vendor_a"].key)
    first = client.post("/v1/results", content=subunit_body, headers=headers)
    assert first.status_code == 201
    for query in ("guideline=2019.11&target=storage", "target=object", "add_on=dns.2020.06"):
        replay = client.post(
            f"/v1/results?{query}",
            content=subunit_body,
            headers={**headers, "Idempotency-Key": f"attacker-{query}"},
        )
        assert replay.status_code == 400, query
        assert replay.json()["title"] == "Unsigned metadata refused"
    assert count_results(app) == 1
    data = client.get(
        f"/v1/results/{first.json()['test_id']}", headers=actors["vendor_a"].headers
    ).json()
    assert (data["guideline"], data["target"]) == ("2020.06", "platform")


def test_concurrent_replays_store_one_record(app, actors, subunit_body):
    """The unique signed identity holds under concurrency: no check-then-insert race."""
    from concurrent.futures import ThreadPoolExecutor

    from tcup_server.services.ingest import Upload, ingest

    headers = signed(subunit_body, actors["vendor_a"].key)

    def send(index: int) -> str:
        upload = Upload(
            body=subunit_body,
            signature=headers["X-Signature"],
            public_key=headers["X-Public-Key"],
            idempotency_key=f"racer-{index}",
        )
        return ingest(app.state.tcup.ingest, upload).test_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(send, range(16)))
    assert len(ids) == 1
    assert count_results(app) == 1


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


SAMPLE_SUBUNIT = Path(__file__).parents[1] / "fixtures" / "sample-v2.subunit"


def test_signed_subunit_stream_takes_no_cpid_from_the_query(client, actors, app):
    """Issue 12, probe finding 1: ``?cpid=EVIL`` on a replayed subunit stream was stored."""
    stream = SAMPLE_SUBUNIT.read_bytes()
    headers = {**signed(stream, actors["vendor_b"].key), "Content-Type": "application/octet-stream"}
    for query in ("cpid=EVIL&duration_seconds=7", "cpid=EVIL", "duration_seconds=7"):
        response = client.post(f"/v1/results?{query}", content=stream, headers=headers)
        assert response.status_code == 400, query
        assert response.json()["title"] == "Unsigned metadata refused"
    response = client.post("/v1/results", content=stream, headers=headers)
    assert response.status_code == 400 and response.json()["title"] == "Missing cpid"
    assert "tcup/results" in response.json()["detail"]
    assert count_results(app) == 0


def submission_request(parts: dict[str, bytes], key) -> tuple[bytes, dict[str, str]]:
    """The multipart body and headers ``tcup upload`` sends a TCUP server for a run."""
    from tcup.submission import Submission

    made = Submission.of(parts)
    body, content_type = made.multipart()
    return body, {**signed(made.envelope, key), "Content-Type": content_type}


def test_native_submission_is_scored_from_its_signed_manifest(client, actors, app):
    from tcup_server.storage import EncryptedStore

    stream = SAMPLE_SUBUNIT.read_bytes()
    key = actors["vendor_b"].key
    results_part = object_body(app, cpid="abc")
    manifest = json.dumps({"guideline": "2020.06", "target": "object", "add_ons": []}).encode()
    parts = {"results": results_part, "subunit": stream, "manifest": manifest}
    body, headers = submission_request(parts, key)
    response = client.post("/v1/tcup/results", content=body, headers=headers)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["covered"]["signed"] == "envelope"
    assert receipt["covered"]["parts"] == {
        name: hashlib.sha256(data).hexdigest() for name, data in parts.items()
    }
    server_key = client.get("/v1/tcup/server-key").json()["public_key"]
    signing.verify_receipt(receipt_payload(receipt), receipt["receipt_signature"], server_key)
    test_id = receipt["test_id"]
    data = client.get(f"/v1/results/{test_id}", headers=actors["vendor_b"].headers).json()
    assert data["target"] == "object" and data["score_basis"] == "states"
    # scored from the stream's states, exactly as tcup scores the same stream
    from tcup import report, results, scoring

    expected = scoring.score_run(
        app.state.tcup.guidelines.load("2020.06"), "object", results.read_subunit(stream).states()
    )
    assert data["verdict"] == report.verdict(expected)
    assert [(c["name"], c["outcome"]) for c in data["capabilities"]] == [
        (c.name, c.outcome) for c in expected.capabilities
    ]

    # the same run again, in another multipart encoding: the first record
    again, headers2 = submission_request(parts, key)
    assert again != body
    replay = client.post(
        "/v1/tcup/results", content=again, headers={**headers2, "Idempotency-Key": "fresh"}
    )
    assert replay.status_code == 201 and replay.json()["test_id"] == test_id
    # a manifest-signed target cannot be changed through the meta endpoints
    changed = client.post(
        f"/v1/results/{test_id}/meta/target",
        content=b"platform",
        headers=actors["vendor_b"].headers,
    )
    assert changed.status_code == 403

    with app.state.tcup.sessions() as session:
        rows = {
            a.kind: a
            for a in session.scalars(select(Artefact).where(Artefact.result_id == test_id))
        }
    assert set(rows) == {"upload", "envelope", "subunit", "manifest"}
    store = app.state.tcup.store
    assert isinstance(store, EncryptedStore)
    assert store.get(rows["subunit"].storage_key) == stream
    raw = store.inner.get(rows["subunit"].storage_key)
    assert stream[:64] not in raw  # encrypted at rest
    assert hashlib.sha256(stream).hexdigest() == rows["subunit"].sha256
    assert count_results(app) == 1


def test_native_submission_refuses_unsigned_or_mismatched_parts(client, actors, app):
    key = actors["vendor_b"].key
    manifest = json.dumps({"guideline": "2020.06", "target": "object"}).encode()
    parts = {"results": object_body(app), "manifest": manifest}
    body, headers = submission_request(parts, key)
    # a part swapped after signing
    from tcup.submission import Submission

    evil = json.dumps({"guideline": "2020.06", "target": "platform"}).encode()
    swapped, content_type = Submission(
        parts={**parts, "manifest": evil}, envelope=Submission.of(parts).envelope
    ).multipart()
    response = client.post(
        "/v1/tcup/results", content=swapped, headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == 400 and response.json()["title"] == "Malformed submission"
    # query metadata on a signed submission
    response = client.post("/v1/tcup/results?target=platform", content=body, headers=headers)
    assert response.status_code == 400 and response.json()["title"] == "Unsigned metadata refused"
    assert count_results(app) == 0


@pytest.mark.parametrize(
    ("manifest", "title"),
    [
        ({"guideline": "../../keys/receipt", "target": "object"}, "Unknown guideline"),
        ({"guideline": "2020.06\u0000", "target": "object"}, "Unknown guideline"),
        ({"guideline": "dns.2020.06", "target": "object"}, "Unknown guideline"),
        ({"guideline": "2020.06", "target": "../../../etc/passwd"}, "Unknown target"),
        ({"guideline": "2020.06", "target": "object", "add_ons": ["../../x"]}, "Unknown add-on"),
        ({"guideline": "2020.06", "target": "object", "tests_run": -1}, "Malformed manifest"),
        ({"guideline": "2020.06", "target": "object", "tests_run": 2**70}, "Malformed manifest"),
    ],
)
def test_manifest_names_and_numbers_are_checked(client, actors, app, manifest, title):
    """Issue 12, probe finding 2: a manifest naming a made-up guideline was stored unscored."""
    raw = json.dumps(manifest).encode()
    body, headers = submission_request(
        {"results": object_body(app), "manifest": raw}, actors["vendor_b"].key
    )
    response = client.post("/v1/tcup/results", content=body, headers=headers)
    assert response.status_code == 400, response.text
    # NUL and huge integers may already be refused by the HTTP layer's JSON guard
    assert response.json()["title"] in (title, "Malformed request")
    if title == "Unknown guideline" and response.json()["title"] == title:
        assert "2020.06" in response.json()["detail"]  # the valid names are listed
    assert count_results(app) == 0


@pytest.mark.parametrize("duration", [-1, 7 * 24 * 3600 + 1, 2**70])
def test_absurd_durations_are_refused(client, actors, app, duration):
    """Issue 12, probe finding 2: ``duration_seconds: -1`` was stored."""
    body = json.dumps(
        {"cpid": "c", "duration_seconds": duration, "results": [{"name": "tempest.x"}]}
    ).encode()
    response = client.post(
        "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
    )
    assert response.status_code == 400, response.text
    assert count_results(app) == 0


@pytest.fixture
def anonymous_client(server_settings):
    from dataclasses import replace

    from fastapi.testclient import TestClient
    from tcup_server.app import create_app

    application = create_app(replace(server_settings, allow_anonymous_upload=True))
    with TestClient(application) as test_client:
        yield test_client, application
    application.state.tcup.engine.dispose()


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("guideline=../../keys/receipt", "Unknown guideline"),
        ("guideline=%00", "Malformed request"),  # the HTTP layer's guard, else ours
        ("target=../../../etc/passwd", "Unknown target"),
        ("add_on=../../x", "Unknown add-on"),
        ("guideline=2019.13&target=storage", "Unknown guideline"),
        ("duration_seconds=-1", "Invalid duration_seconds: must not be negative"),
    ],
)
def test_made_up_query_values_are_refused(anonymous_client, subunit_body, query, title):
    """Issue 12, probe finding 2: made-up names in the query were stored unscored with 201.
    (Anonymous uploads may use the query; signed ones may not at all.)"""
    client, application = anonymous_client
    stream = SAMPLE_SUBUNIT.read_bytes()
    for body, ctype, extra in (
        (subunit_body, "application/json", ""),
        (stream, "application/octet-stream", "&cpid=c"),
    ):
        response = client.post(
            f"/v1/results?{query}{extra}", content=body, headers={"Content-Type": ctype}
        )
        assert response.status_code == 400, response.text
        assert response.json()["title"] in (title, "Invalid guideline"), response.text
    assert count_results(application) == 0
    # the anonymous query still works with real names
    response = client.post(
        "/v1/results?guideline=2020.06&target=object",
        content=subunit_body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


def test_meta_endpoint_checks_names(client, actors, subunit_body):
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    test_id = response.json()["test_id"]
    owner = actors["vendor_a"].headers
    for key, value in (("guideline", "../../keys/receipt"), ("target", "../../../etc/passwd")):
        answer = client.post(f"/v1/results/{test_id}/meta/{key}", content=value, headers=owner)
        assert answer.status_code == 400, answer.text
        assert answer.json()["title"] in ("Unknown guideline", "Unknown target")
    answer = client.post(f"/v1/results/{test_id}/meta/guideline", content=b"2020.06", headers=owner)
    assert answer.status_code == 201


# bodies the HTTP layer's guard lets through (safe JSON, or no JSON at all) and ingest refuses
MALFORMED_BODIES = [
    b"{not json",
    b"",
    b"null",
    b"[1, 2]",
    b'"results"',
    b'{"cpid": "x"}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [], "extra": 1}',
    b'{"cpid": "x", "duration_seconds": 1.5, "results": [{"name": "t"}]}',
    b'{"cpid": "x", "duration_seconds": "1", "results": [{"name": "t"}]}',
    b'{"cpid": "", "duration_seconds": 1, "results": [{"name": "t"}]}',
    b'{"cpid": "x", "duration_seconds": -1, "results": [{"name": "t"}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": {"name": "t"}}',
    b'{"cpid": "x", "duration_seconds": 1, "results": ["t"]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": ""}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": 7}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"uuid": "u"}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": "t", "uuid": 1}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": "t"}, {"name": "t"}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": "t\\u0007"}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": "' + b"t" * 513 + b'"}]}',
    b'{"cpid": "x", "duration_seconds": 1, "results": []}',
    b'\xef\xbb\xbf{"cpid": "x", "duration_seconds": 1, "results": [{"name": "t"}]}',
]


def test_the_guard_parse_refuses_what_ingest_own_parse_refuses(client, actors, app):
    """The body is parsed once, by the HTTP layer's guard: every refusal is the one ingest
    gives when it parses the body itself (as it does without the guard)."""
    from tcup_server.services.ingest import IngestRefused, Upload, ingest

    key = actors["vendor_a"].key
    for body in MALFORMED_BODIES:
        headers = signed(body, key)
        response = client.post("/v1/results", content=body, headers=headers)
        with pytest.raises(IngestRefused) as direct:
            ingest(
                app.state.tcup.ingest,
                Upload(
                    body=body,
                    signature=headers["X-Signature"],
                    public_key=headers["X-Public-Key"],
                ),
            )
        answer = response.json()
        expected = (direct.value.status, direct.value.title, direct.value.detail)
        assert (response.status_code, answer["title"], answer.get("detail")) == expected, body
    assert count_results(app) == 0


def test_an_upload_body_is_parsed_once(client, actors, subunit_body, app, monkeypatch):
    from tcup import results

    def second_parse(*_args, **_kwargs):
        raise AssertionError("the upload body was parsed again")

    monkeypatch.setattr(results, "load_refstack", second_parse)
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201, response.text
    assert count_results(app) == 1


def test_a_bom_before_the_upload_body_is_refused_as_the_reader_refuses_it(client, actors, app):
    body = b'\xef\xbb\xbf{"cpid": "x", "duration_seconds": 1, "results": [{"name": "t"}]}'
    response = client.post(
        "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Request doesnt correspond to schema"
    assert "Unexpected UTF-8 BOM" in response.json()["detail"]
    # unsafe JSON behind a BOM is still the guard's to refuse
    deep = b"\xef\xbb\xbf" + b"[" * 40 + b"]" * 40
    response = client.post(
        "/v1/results", content=deep, headers=signed(deep, actors["vendor_a"].key)
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed request"
    assert "nested deeper" in response.json()["detail"]
    assert count_results(app) == 0
