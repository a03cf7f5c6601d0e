"""tcup.upload against a real HTTP server on 127.0.0.1 that checks uploads like RefStack."""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tcup import signing
from tcup import upload as up
from tcup.errors import ExitCode, InputError, UploadError
from tests.interop import require_interop
from tests.refstack_fake import FakeRefstack, free_port

FAST = {"backoff": 0.001, "timeout": 5.0}


def guideline_body(count: int = 25, cpid: str = "b33dc8a37c8607c6a7612f6296139578") -> bytes:
    """An upload body of real test names and ids, serialised like refstack-client does."""
    guideline = json.loads((require_interop() / "2020.06.json").read_bytes())
    results = []
    for capability in guideline["capabilities"].values():
        for name, test in capability["tests"].items():
            results.append({"name": name, "uuid": test["idempotent_id"].removeprefix("id-")})
    return json.dumps(
        {"cpid": cpid, "duration_seconds": 321, "results": sorted(results, key=str)[:count]}
    ).encode("utf-8")


@pytest.fixture(scope="module")
def key():
    return signing.generate_key(2048)


@pytest.fixture
def server():
    with FakeRefstack() as fake:
        yield fake


@pytest.fixture
def delays(monkeypatch):
    """Record the backoff delays instead of sleeping."""
    seen: list[float] = []
    monkeypatch.setattr(up, "_sleep", seen.append)
    return seen


# ------------------------------------------------------------------ addressing


@pytest.mark.parametrize(
    "given",
    [
        "https://refstack.example.org/api",
        "https://refstack.example.org/api/",
        "https://refstack.example.org/api/v1",
        "https://refstack.example.org/api/v1/",
        "https://refstack.example.org/api/v1/results",
        "https://refstack.example.org/api/v1/results/",
    ],
)
def test_results_endpoint_accepts_api_root_or_longer(given):
    assert up.results_endpoint(given) == "https://refstack.example.org/api/v1/results"


@pytest.mark.parametrize("bad", ["", "refstack.example.org/api", "ftp://host/api", "http:///x"])
def test_results_endpoint_refuses_non_http_urls(bad):
    with pytest.raises(InputError, match="is not an http"):
        up.results_endpoint(bad)


# ---------------------------------------------------------------------- upload


def test_signed_upload_succeeds_with_receipt(server, key):
    server.register_key(signing.public_key_line(key))
    server.receipt_extras = {"sha256": "x" * 64, "receipt_signature": "abcd"}
    body = guideline_body()
    receipt = up.upload(body, server.url, key, **FAST)

    (seen,) = server.uploads
    assert seen.path == "/api/v1/results"
    assert seen.body == body  # byte for byte
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == hashlib.sha256(body).hexdigest()
    assert seen.headers["x-public-key"] == signing.public_key_line(key)
    # The server's own check already passed; check once more with the raw primitive.
    public = serialization.load_ssh_public_key(seen.headers["x-public-key"].encode())
    public.verify(
        binascii.a2b_hex(seen.headers["x-signature"]), body, padding.PKCS1v15(), hashes.SHA256()
    )

    (stored,) = server.stored
    assert stored["meta"]["user"] == "https://openid.example/u"
    assert receipt.test_id == stored["id"]
    assert receipt.url == f"https://refstack.example.org/#/results/{stored['id']}"
    assert receipt.status == 201
    assert receipt.attempts == 1
    assert receipt.sha256 == "x" * 64 and receipt.receipt_signature == "abcd"
    assert receipt.key_fingerprint == signing.fingerprint(signing.public_key_line(key))
    assert receipt.body_sha256 == hashlib.sha256(body).hexdigest()
    assert json.loads(json.dumps(receipt.to_dict()))["test_id"] == receipt.test_id


def test_anonymous_upload_has_no_signature_headers(server):
    receipt = up.upload(guideline_body(), server.url, **FAST)
    (seen,) = server.uploads
    assert "x-signature" not in seen.headers and "x-public-key" not in seen.headers
    assert receipt.key_fingerprint is None
    assert server.stored[0]["meta"] == {}


def test_500_is_retried_and_stored_once(server, key, delays):
    server.register_key(signing.public_key_line(key))
    server.fail_next(500)
    receipt = up.upload(guideline_body(), server.url, key, retries=3, backoff=0.5)
    assert len(server.uploads) == 2
    assert len(server.stored) == 1
    assert receipt.attempts == 2
    assert len(delays) == 1 and 0.25 <= delays[0] <= 0.5  # backoff with jitter
    keys = {r.headers["idempotency-key"] for r in server.uploads}
    assert len(keys) == 1  # a retry is recognisable as the same upload


def test_retry_after_is_honoured_and_capped(server, delays):
    server.fail_next(503, Retry_After="7")
    server.fail_next(429, Retry_After="600")
    up.upload(guideline_body(), server.url, retries=3, backoff=0.001, max_delay=30)
    assert len(server.uploads) == 3
    assert delays == [7.0, 30.0]


def test_backoff_grows_exponentially(server, delays):
    for _ in range(3):
        server.fail_next(502)
    up.upload(guideline_body(), server.url, retries=3, backoff=1.0, max_delay=100)
    assert [0.5 <= delays[0] <= 1, 1 <= delays[1] <= 2, 2 <= delays[2] <= 4] == [True] * 3


def test_5xx_until_retries_run_out(server, delays):
    for _ in range(3):
        server.fail_next(500, {"title": "Internal Server Error", "code": 500})
    with pytest.raises(up.UploadFailed, match=r"after 3 attempt\(s\): server answered 500") as info:
        up.upload(guideline_body(), server.url, retries=2, backoff=0.001)
    assert info.value.attempts == 3 and info.value.status == 500
    assert info.value.exit_code == ExitCode.UPLOAD
    assert len(server.uploads) == 3 and len(delays) == 2


def test_connection_refused_bounded_retries(delays):
    url = f"http://127.0.0.1:{free_port()}/api"
    with pytest.raises(up.UploadFailed, match="connection failed") as info:
        up.upload(guideline_body(), url, retries=2, backoff=0.001)
    assert info.value.attempts == 3 and len(delays) == 2


def test_read_timeout_is_retried(delays):
    """A server that accepts the connection and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
        with pytest.raises(up.UploadFailed, match="timed out") as info:
            up.upload(guideline_body(), url, retries=1, backoff=0.001, timeout=0.2)
    assert info.value.attempts == 2


def test_400_is_not_retried(server, delays):
    server.fail_next(400, {"title": "Request doesnt correspond to schema", "code": 400})
    with pytest.raises(up.UploadFailed) as info:
        up.upload(guideline_body(), server.url, retries=5, **FAST)
    assert len(server.uploads) == 1 and delays == []
    assert info.value.message == (
        "server refused the upload (400): Request doesnt correspond to schema"
    )
    assert "cpid, duration_seconds, results" in info.value.hint


def test_unknown_key_is_refused_with_registration_hint(server, key):
    with pytest.raises(up.UploadFailed) as info:
        up.upload(guideline_body(), server.url, key, **FAST)
    assert info.value.message == (
        "server refused the upload (401): User with specified key not found. "
        "Please log into the RefStack server to upload your key."
    )
    assert "tcup sign KEY" in info.value.hint
    assert len(server.uploads) == 1


def test_anonymous_disabled(key):
    refused = pytest.raises(up.UploadFailed, match="Anonymous result uploads are disabled")
    with FakeRefstack(anonymous=False) as server, refused as info:
        up.upload(guideline_body(), server.url, **FAST)
    assert "--key" in info.value.hint


def test_signature_for_other_bytes_fails_verification(server, key):
    body = guideline_body()
    stale = up.Signature.of(guideline_body(count=3), key)
    with pytest.raises(up.UploadFailed, match=r"\(400\): Signature verification failed"):
        up.upload(body, server.url, signature=stale, **FAST)


def test_same_body_same_idempotency_key(server):
    body = guideline_body()
    up.upload(body, server.url, **FAST)
    up.upload(body, server.url, **FAST)
    up.upload(guideline_body(count=4), server.url, **FAST)
    first, second, third = (r.headers["idempotency-key"] for r in server.uploads)
    assert first == second != third
    up.upload(body, server.url, idempotency_key="run-42", **FAST)
    assert server.uploads[-1].headers["idempotency-key"] == "run-42"


def test_redirect_is_not_followed(server):
    server.fail_next(301, {"title": "Moved"}, Location="https://elsewhere.example/api/v1/results")
    with pytest.raises(up.UploadFailed, match="redirected the upload \\(301\\) to https://else"):
        up.upload(guideline_body(), server.url, **FAST)
    assert len(server.uploads) == 1


def test_success_without_receipt_is_an_error(server):
    server.fail_next(200, "<html>hello</html>")
    with pytest.raises(up.UploadFailed, match="not with a RefStack receipt"):
        up.upload(guideline_body(), server.url, **FAST)


def test_non_json_error_text_is_reported(server, delays):
    server.fail_next(502, "<html><body>Bad   gateway</body></html>")
    server.fail_next(502, "<html><body>Bad   gateway</body></html>")
    with pytest.raises(up.UploadFailed, match="502: <html><body>Bad gateway</body></html>"):
        up.upload(guideline_body(), server.url, retries=1, **FAST)


def test_tls_options_are_checked(tmp_path, server):
    with pytest.raises(InputError, match="CA bundle .* not found"):
        up.upload(guideline_body(), server.url, ca_bundle=tmp_path / "nope.pem", **FAST)
    with pytest.raises(InputError, match="retries must be 0 or more"):
        up.upload(guideline_body(), server.url, retries=-1, **FAST)


def test_logs_name_the_key_fingerprint_never_secrets(server, key, caplog):
    server.register_key(signing.public_key_line(key))
    body = guideline_body()
    with caplog.at_level(logging.DEBUG):
        up.upload(body, server.url, key, **FAST)
    text = caplog.text
    assert signing.fingerprint(signing.public_key_line(key)) in text
    assert signing.sign(body, key) not in text
    assert "PRIVATE KEY" not in text
    assert "X-Signature" not in text and "X-Public-Key" not in text


# ---------------------------------------------------------------------- outbox


def run_dir(tmp_path: Path, body: bytes) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_bytes(body)
    return out


def test_upload_run_success_writes_receipt(tmp_path, server):
    out = run_dir(tmp_path, guideline_body())
    (receipt,) = up.upload_run(out, server.url, **FAST)
    written = json.loads((out / "upload.json").read_text())
    assert written["test_id"] == receipt.test_id == server.stored[0]["id"]
    assert not (out / "outbox").exists()


def test_upload_run_failure_keeps_outbox_and_flush_sends_it(tmp_path, key, delays):
    body = guideline_body()
    out = run_dir(tmp_path, body)
    dead = f"http://127.0.0.1:{free_port()}/api"
    with pytest.raises(UploadError) as info:
        up.upload_run(out, dead, key, key_path="my key.pem", retries=2, backoff=0.001)
    assert info.value.exit_code == ExitCode.UPLOAD
    assert "The results are safe in" in info.value.message
    assert f"retry with: tcup upload {out} --url {dead} --key 'my key.pem'" in info.value.hint

    (entry,) = up.pending_uploads(out)
    assert entry.body_path.read_bytes() == body
    assert entry.url == dead and entry.attempts == 3
    assert "connection failed" in entry.last_error
    assert entry.signature == up.Signature.of(body, key)

    # A second failed attempt updates the same entry.
    with pytest.raises(UploadError):
        up.upload_run(out, dead, key, retries=0, backoff=0.001)
    (entry,) = up.pending_uploads(out)
    assert entry.attempts == 4

    # Later the server is up: flushing sends the saved bytes with the saved signature.
    with FakeRefstack() as server:
        server.register_key(signing.public_key_line(key))
        (receipt,) = up.upload_run(out, server.url, **FAST)
        (seen,) = server.uploads
    assert seen.body == body
    assert seen.headers["x-signature"] == entry.signature.signature
    assert seen.headers["idempotency-key"] == hashlib.sha256(body).hexdigest()
    assert up.pending_uploads(out) == []
    assert not (out / "outbox").exists()
    sent = out / "sent" / entry.path.name
    assert (sent / "body.json").read_bytes() == body
    assert json.loads((sent / "receipt.json").read_text())["test_id"] == receipt.test_id
    assert json.loads((out / "upload.json").read_text())["test_id"] == receipt.test_id


def test_refused_upload_is_kept_too(tmp_path, server, key):
    """An unregistered key is fixable: keep the body so the user can retry after registering."""
    out = run_dir(tmp_path, guideline_body())
    with pytest.raises(UploadError, match="User with specified key not found") as info:
        up.upload_run(out, server.url, key, **FAST)
    assert "tcup sign KEY" in info.value.hint and "retry with: tcup upload" in info.value.hint
    assert len(up.pending_uploads(out)) == 1
    server.register_key(signing.public_key_line(key))
    up.flush_outbox(out, key, **FAST)
    assert len(server.stored) == 1 and up.pending_uploads(out) == []


def test_flush_with_nothing_pending_returns_nothing(tmp_path):
    assert up.flush_outbox(tmp_path, None) == []


def test_flush_needs_a_url(tmp_path):
    up.save_outbox(tmp_path, guideline_body(), None)
    with pytest.raises(InputError, match="has no server URL"):
        up.flush_outbox(tmp_path)


def test_upload_run_validates_before_sending(tmp_path, server):
    out = run_dir(tmp_path, b'{"cpid": "x", "duration_seconds": "5", "results": []}')
    with pytest.raises(InputError, match="duration_seconds: expected an integer"):
        up.upload_run(out, server.url, **FAST)
    assert server.requests == [] and up.pending_uploads(out) == []
    with pytest.raises(InputError, match="has no results.json and nothing pending"):
        up.upload_run(tmp_path / "empty", server.url, **FAST)


# ------------------------------------------------------------------------- TLS


def test_tls_untrusted_certificate_is_not_retried(tls_files, delays):
    with FakeRefstack(tls=tuple(map(str, tls_files))) as server:
        with pytest.raises(up.UploadFailed, match="TLS connection to https://127.0.0.1") as info:
            up.upload(guideline_body(), server.url, retries=3, **FAST)
        assert "--ca-bundle" in info.value.hint
        assert delays == [] and server.stored == []

        up.upload(guideline_body(), server.url, ca_bundle=tls_files[0], **FAST)
        up.upload(guideline_body(), server.url, insecure=True, **FAST)
        assert len(server.stored) == 2


# ------------------------------------------------------- the whole run (TCUP servers)


def full_run_dir(tmp_path: Path, body: bytes) -> Path:
    """A run directory with every part a TCUP server takes (the manifest makes it a run)."""
    out = run_dir(tmp_path, body)
    (out / "manifest.json").write_text('{"guideline": "2020.06", "target": "object"}\n')
    (out / "results-extended.json").write_text('{"schema": "tcup.results-extended/1"}\n')
    (out / "results.subunit").write_bytes(b"\xb3subunit")
    return out


def test_refstack_server_gets_the_refstack_body_of_a_full_run(tmp_path, server, key):
    """RefStack answers 404 to the probe: it gets results.json, byte for byte, signed."""
    server.register_key(signing.public_key_line(key))
    body = guideline_body()
    out = full_run_dir(tmp_path, body)
    (receipt,) = up.upload_run(out, server.url, key, **FAST)
    (seen,) = server.uploads
    assert seen.path == "/api/v1/results" and seen.body == body
    assert seen.headers["x-signature"] == signing.sign(body, key)
    assert receipt.form == up.FORM_REFSTACK
    probes = [r for r in server.requests if r.method == "GET"]
    assert [r.path for r in probes] == ["/api/v1/tcup/server-key"]
    # asked once per server: a second upload does not probe again
    up.upload_run(out, server.url, key, force=True, **FAST)
    assert len([r for r in server.requests if r.method == "GET"]) == 1


def test_unreachable_server_keeps_the_whole_run_and_both_signatures(tmp_path, key, delays):
    body = guideline_body()
    out = full_run_dir(tmp_path, body)
    dead = f"http://127.0.0.1:{free_port()}/api"
    with pytest.raises(UploadError, match="cannot reach") as info:
        up.upload_run(out, dead, key, retries=1, backoff=0.001)
    assert "retry with: tcup upload" in info.value.hint
    (entry,) = up.pending_uploads(out)
    assert entry.body_path.read_bytes() == body
    expected = up.run_submission(out, body)
    assert entry.submission == expected
    assert entry.envelope_signature == up.Signature.of(expected.envelope, key)
    assert entry.signature == up.Signature.of(body, key)
    # the server that answers later is a RefStack: the saved body goes, with its signature
    with FakeRefstack() as server:
        server.register_key(signing.public_key_line(key))
        up.flush_outbox(out, None, server.url, **FAST)
        (seen,) = server.uploads
    assert seen.body == body and seen.headers["x-signature"] == entry.signature.signature
    assert up.pending_uploads(out) == []


def test_submission_envelope_lists_every_part_and_checks_them():
    from tcup import submission

    parts = {"results": b"{}", "manifest": b'{"guideline": "g"}', "subunit": b"\x00\x01"}
    made = submission.Submission.of(parts)
    assert submission.check_parts(made.envelope, parts).keys() == parts.keys()
    body, content_type = made.multipart("b0undary")
    assert content_type == "multipart/form-data; boundary=b0undary"
    assert made.envelope in body and all(data in body for data in parts.values())
    with pytest.raises(InputError, match="does not match"):
        submission.check_parts(made.envelope, {**parts, "subunit": b"\x00\x02"})
    with pytest.raises(InputError, match="not listed"):
        submission.check_parts(made.envelope, {**parts, "extended": b"{}"})
    with pytest.raises(InputError, match="lists part 'subunit'"):
        submission.check_parts(made.envelope, {"results": b"{}", "manifest": parts["manifest"]})
    with pytest.raises(InputError, match="needs results.json and manifest.json"):
        submission.Submission.of({"results": b"{}"})
