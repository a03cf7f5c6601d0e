"""``tcup upload`` and ``tcup upload-subunit`` end to end against a local RefStack-like server."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import subunit
import testtools

from tcup import cli, signing
from tcup.commands.upload import upload_results
from tcup.commands.upload_subunit import upload_subunit
from tcup.errors import InputError
from tests.refstack_fake import FakeRefstack, free_port
from tests.test_upload import guideline_body

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAST = ["--retries", "1", "--backoff", "0.001", "--timeout", "5"]


@pytest.fixture(scope="module")
def key_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "tcup_rsa"
    signing.write_key_pair(signing.generate_key(2048), path)
    return path


@pytest.fixture
def server():
    with FakeRefstack() as fake:
        yield fake


def tcup(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def register(server: FakeRefstack, key_file: Path) -> None:
    server.register_key((key_file.parent / (key_file.name + ".pub")).read_text())


# ---------------------------------------------------------------------- upload


def test_upload_file_signed(tmp_path, server, key_file):
    register(server, key_file)
    body = guideline_body()
    results = tmp_path / "results.json"
    results.write_bytes(body)
    code, out, err = tcup("upload", str(results), "--url", server.url, "--key", str(key_file))
    assert (code, err) == (0, "")
    (stored,) = server.stored
    assert "Test results uploaded!" in out
    assert f"URL: https://refstack.example.org/#/results/{stored['id']}" in out
    assert server.uploads[0].body == body


def test_upload_sends_file_bytes_as_they_are(tmp_path, server, key_file):
    """A pretty-printed file (as refstack-client saves it) is sent unchanged, not re-serialised."""
    register(server, key_file)
    pretty = json.dumps(json.loads(guideline_body()), indent=4).encode()
    results = tmp_path / "results.json"
    results.write_bytes(pretty)
    code, _, _ = tcup("upload", str(results), "--url", server.url, "-i", str(key_file))
    assert code == 0
    assert server.uploads[0].body == pretty


def test_upload_invalid_file_is_an_input_error(tmp_path, server):
    results = tmp_path / "results.json"
    results.write_bytes(b'{"cpid": "x", "duration_seconds": 1, "results": [], "meta": {}}')
    code, out, err = tcup("upload", str(results), "--url", server.url)
    assert code == 2 and out == ""
    assert "meta: unexpected key" in err and "results: empty" in err
    assert server.requests == []


def test_upload_unknown_key_exit_5_with_server_words(tmp_path, server, key_file):
    results = tmp_path / "results.json"
    results.write_bytes(guideline_body())
    code, _, err = tcup("upload", str(results), "--url", server.url, "--key", str(key_file))
    assert code == 5
    assert (
        "tcup: error: server refused the upload (401): User with specified key not found. "
        "Please log into the RefStack server to upload your key."
    ) in err
    assert "tcup sign KEY" in err
    assert f"retry with: tcup upload {results} --url {server.url} --key {key_file}" in err
    assert len(server.uploads) == 1


def test_upload_needs_a_url(tmp_path, monkeypatch):
    monkeypatch.delenv("REFSTACK_URL", raising=False)
    monkeypatch.delenv("TCUP_URL", raising=False)
    results = tmp_path / "results.json"
    results.write_bytes(guideline_body())
    code, _, err = tcup("upload", str(results))
    assert code == 2 and "no server to upload to" in err


def test_url_from_environment(tmp_path, server, monkeypatch):
    monkeypatch.setenv("REFSTACK_URL", server.url)
    results = tmp_path / "results.json"
    results.write_bytes(guideline_body())
    assert upload_results(io.StringIO(), results, url=None) == 0
    assert len(server.stored) == 1


def test_bad_key_is_an_input_error_before_any_request(tmp_path, server):
    results = tmp_path / "results.json"
    results.write_bytes(guideline_body())
    code, _, err = tcup("upload", str(results), "--url", server.url, "--key", str(tmp_path / "x"))
    assert code == 2 and "signing key" in err and "not found" in err
    assert server.requests == []


def test_run_dir_refused_then_flushed_with_cli(tmp_path, key_file):
    """Connection refused: exit 5, outbox kept, the printed command later uploads it."""
    out = tmp_path / "run"
    out.mkdir()
    body = guideline_body()
    (out / "results.json").write_bytes(body)
    dead = f"http://127.0.0.1:{free_port()}/api"
    code, stdout, err = tcup("upload", str(out), "--url", dead, "--key", str(key_file), *FAST)
    assert code == 5 and stdout == ""
    assert "connection failed" in err and "The results are safe in" in err
    retry = re.search(r"retry with: (tcup upload .*)$", err, re.MULTILINE).group(1)
    assert retry == f"tcup upload {out} --url {dead} --key {key_file}"
    (entry,) = (out / "outbox").iterdir()
    assert (entry / "body.json").read_bytes() == body
    assert json.loads((entry / "meta.json").read_text())["attempts"] == 2

    with FakeRefstack() as server:
        register(server, key_file)
        argv = retry.split()[1:]
        argv[argv.index("--url") + 1] = server.url  # the server came back elsewhere
        code, stdout, err = tcup(*argv)
        assert (code, err) == (0, "")
        (stored,) = server.stored
        assert stored["meta"]["user"]
        assert f"URL: https://refstack.example.org/#/results/{stored['id']}" in stdout
        assert json.loads((out / "upload.json").read_text())["test_id"] == stored["id"]
        assert not (out / "outbox").exists()

        # The same run to the same server is not sent twice, unless forced.
        code, stdout, _ = tcup("upload", str(out), "--url", server.url)
        assert code == 0 and len(server.uploads) == 1
        assert stored["id"] in stdout
        with FakeRefstack() as other:
            assert tcup("upload", str(out), "--url", other.url)[0] == 0
            assert len(other.stored) == 1
        assert tcup("upload", str(out), "--url", server.url, "--force")[0] == 0
        assert len(server.stored) == 2


def test_same_file_twice_same_idempotency_key(tmp_path, server):
    results = tmp_path / "results.json"
    results.write_bytes(guideline_body())
    for _ in range(2):
        assert tcup("upload", str(results), "--url", server.url)[0] == 0
    first, second = (r.headers["idempotency-key"] for r in server.uploads)
    assert first == second


# -------------------------------------------------------------- upload-subunit


def passed_names(stream: bytes) -> set[str]:
    """refstack-client's rule, with subunit's own v2 parser: successes, [attributes] removed."""
    seen: set[str] = set()

    def on_test(test: dict) -> None:
        if test["status"] == "success":
            seen.add(re.sub(r"\[.*\]", "", test["id"]))

    collector = testtools.StreamToDict(on_test)
    collector.startTestRun()
    subunit.ByteStreamToStreamResult(io.BytesIO(stream)).run(collector)
    collector.stopTestRun()
    return seen


@pytest.mark.parametrize("fixture", ["sample-v2.subunit", "sample-v1.subunit"])
def test_upload_subunit_like_refstack_client(tmp_path, server, key_file, fixture):
    register(server, key_file)
    save = tmp_path / "body.json"
    code, out, err = tcup(
        "upload-subunit",
        str(FIXTURES / fixture),
        "--keystone-endpoint",
        "https://keystone.example.com:5000/v3",
        "--url",
        server.url,
        "--key",
        str(key_file),
        "--save",
        str(save),
    )
    assert (code, err) == (0, ""), err
    assert "URL: https://refstack.example.org/#/results/" in out
    (stored,) = server.stored
    content = stored["content"]
    assert content["cpid"] == "b33dc8a37c8607c6a7612f6296139578"  # md5("keystone.example.com")
    assert content["duration_seconds"] == 0
    names = {item["name"] for item in content["results"]}
    assert names == passed_names((FIXTURES / "sample-v2.subunit").read_bytes())
    assert all("uuid" in item for item in content["results"] if "[id-" in str(item))
    assert save.read_bytes() == server.uploads[0].body


def test_upload_subunit_with_cpid(server):
    code = upload_subunit(
        io.StringIO(),
        FIXTURES / "sample-v2.subunit",
        url=server.url,
        cpid="my-cloud",
        backoff=0.001,
    )
    assert code == 0 and server.stored[0]["content"]["cpid"] == "my-cloud"


def test_upload_subunit_needs_a_cpid_source(server, capsys):
    code, _, _ = tcup("upload-subunit", str(FIXTURES / "sample-v2.subunit"), "--url", server.url)
    assert code == 2 and "--cpid --keystone-endpoint is required" in capsys.readouterr().err
    with pytest.raises(InputError, match="not an http"):
        upload_subunit(
            io.StringIO(),
            FIXTURES / "sample-v2.subunit",
            url=server.url,
            keystone_endpoint="keystone.example.com",
        )


def test_upload_subunit_refuses_a_stream_without_passes(tmp_path, server):
    empty = tmp_path / "empty.subunit"
    empty.write_bytes(b"")
    code, _, err = tcup("upload-subunit", str(empty), "--cpid", "c", "--url", server.url)
    assert code == 2 and "results: empty" in err
    notsubunit = tmp_path / "x.subunit"
    notsubunit.write_text("hello world\n")
    code, _, err = tcup("upload-subunit", str(notsubunit), "--cpid", "c", "--url", server.url)
    assert code == 2 and "is not a subunit stream" in err
    assert server.requests == []
