"""tcup.sources: local directories, an interop-repo copy and a RefStack server over HTTP."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tcup.errors import InputError
from tcup.sources import (
    available_guidelines,
    load_add_on,
    load_guideline,
    open_source,
    split_name,
)
from tests.interop import require_interop

RAW = "/openinfra/interop/raw/branch/master/"
API = "/api/v1/repos/openinfra/interop/contents/"


@pytest.fixture(scope="module")
def repo_layout(tmp_path_factory) -> Path:
    """The interop repository's layout: guidelines/ and add-ons/guidelines/."""
    src = require_interop()
    root = tmp_path_factory.mktemp("interop-repo")
    (root / "guidelines").mkdir()
    (root / "add-ons" / "guidelines").mkdir(parents=True)
    for f in src.glob("*.json"):
        shutil.copy(f, root / "guidelines" / f.name)
    for f in (src / "add-ons").glob("*.json"):
        shutil.copy(f, root / "add-ons" / "guidelines" / f.name)
    return root


class _Handler(BaseHTTPRequestHandler):
    root: Path

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urlsplit(self.path).path
        if path.startswith(RAW):
            file = self.root / path[len(RAW) :]
            if file.is_file():
                return self._send(200, file.read_bytes(), "text/plain")
        elif path.startswith(API):  # Gitea contents API
            folder = self.root / path[len(API) :]
            if folder.is_dir():
                entries = [{"name": f.name, "type": "file"} for f in sorted(folder.glob("*.json"))]
                return self._send(200, json.dumps(entries).encode())
        elif path == "/api/v1/guidelines":  # RefStack listing
            listing: dict[str, list] = {"powered": []}
            for f in sorted((self.root / "guidelines").glob("*.json")):
                listing["powered"].append({"name": f.name, "file": f.name})
            for f in sorted((self.root / "add-ons" / "guidelines").glob("*.json")):
                program, _, rest = f.name.partition(".")
                listing.setdefault(program, []).append({"name": rest, "file": f.name})
            return self._send(200, json.dumps(listing).encode())
        elif path.startswith("/api/v1/guidelines/"):  # RefStack: one guideline
            name = path.rsplit("/", 1)[1].removesuffix(".json")
            folder = "add-ons/guidelines" if split_name(name)[0] != "powered" else "guidelines"
            file = self.root / folder / f"{name}.json"
            if file.is_file():
                return self._send(200, file.read_bytes())
            return self._send(500, b'{"title": "The server was unable to get the JSON"}')
        self._send(404, b"not found", "text/plain")


@pytest.fixture
def server(repo_layout):
    handler = type("Handler", (_Handler,), {"root": repo_layout})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, httpd
    httpd.shutdown()
    httpd.server_close()


def _stop(httpd: ThreadingHTTPServer) -> None:
    httpd.shutdown()
    httpd.server_close()


# ------------------------------------------------------------- directories


@pytest.mark.parametrize("layout", ["flat", "repo"])
def test_directory_source(layout, repo_layout, tmp_path):
    root = require_interop() if layout == "flat" else repo_layout
    assert load_guideline("2020.06", str(root), tmp_path).id == "2020.06"
    assert load_guideline("dns.2020.06", str(root), tmp_path).id == "dns.2020.06"
    assert load_guideline("latest", str(root), tmp_path).id == "2020.06"
    assert load_guideline("orchestration.latest", str(root), tmp_path).id == (
        "orchestration.2020.06"
    )
    assert load_guideline("next.json", str(root), tmp_path).status == "draft"
    refs = available_guidelines(str(root), tmp_path)
    assert [r.name for r in refs][:3] == ["next", "2020.06", "2019.11"]
    assert {r.program for r in refs} == {"powered", "dns", "orchestration"}
    dns = next(r for r in refs if r.name == "dns.2020.06")
    assert (dns.status, dns.targets) == ("approved", ("DNS",))


@pytest.mark.parametrize("layout", ["flat", "repo"])
def test_add_on_by_name_takes_the_guideline_version(layout, repo_layout, tmp_path):
    root = str(require_interop() if layout == "flat" else repo_layout)
    june = load_guideline("2020.06", root, tmp_path)
    assert load_add_on("dns", june, root, tmp_path).id == "dns.2020.06"
    assert load_add_on("orchestration", june, root, tmp_path).id == "orchestration.2020.06"
    assert load_add_on("dns.next", june, root, tmp_path).id == "dns.next"
    nxt = load_guideline("next", root, tmp_path)
    assert load_add_on("dns", nxt, root, tmp_path).id == "dns.next"
    path = require_interop() / "add-ons" / "dns.2020.06.json"
    assert load_add_on(str(path), nxt, root, tmp_path).source == str(path)
    folder = Path(root) / ("guidelines" if layout == "repo" else "")
    from_file = load_guideline(str(folder / "2020.06.json"))
    assert load_add_on("dns", from_file, None, tmp_path).id == "dns.2020.06"  # beside the file


def test_add_on_the_source_lacks_names_those_it_has(tmp_path):
    root = str(require_interop())
    june = load_guideline("2020.06", root, tmp_path)
    with pytest.raises(InputError) as missing:
        load_add_on("sharedfilesystem", june, root, tmp_path)
    assert missing.value.message == f"the guideline source {root} has no add-on 'sharedfilesystem'"
    assert "dns.2020.06" in missing.value.hint and "orchestration.2020.06" in missing.value.hint
    old = load_guideline("2019.11", root, tmp_path)
    with pytest.raises(InputError) as version:
        load_add_on("dns", old, root, tmp_path)
    assert version.value.message == f"the guideline source {root} has no 'dns' add-on for 2019.11"


def test_file_path(tmp_path):
    path = require_interop() / "2017.09.json"
    guideline = load_guideline(str(path))
    assert guideline.id == "2017.09" and guideline.source == str(path)


def test_errors(tmp_path):
    root = str(require_interop())
    with pytest.raises(InputError, match="no guideline '2030.01' in") as err:
        load_guideline("2030.01", root, tmp_path)
    assert "2020.06" in err.value.hint
    with pytest.raises(InputError, match="'banana' is not a guideline version"):
        load_guideline("banana", root, tmp_path)
    with pytest.raises(InputError, match="is not a directory"):
        load_guideline("2020.06", str(tmp_path / "nowhere"), tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        load_guideline(str(tmp_path / "missing.json"))
    # a bare file name that is not a version either: said to be a missing file
    with pytest.raises(InputError, match="guideline file 'missing.json' does not exist"):
        load_guideline("missing.json", root, tmp_path)
    with pytest.raises(InputError, match="no guideline '2030.01' in"):  # a version with .json
        load_guideline("2030.01.json", root, tmp_path)


def test_latest_skips_unapproved(tmp_path):
    src = require_interop() / "2020.06.json"
    raw = json.loads(src.read_bytes())
    raw["metadata"]["id"] = "2099.01"
    raw["metadata"]["os_trademark_approval"]["status"] = "draft"
    shutil.copy(src, tmp_path / "2020.06.json")
    (tmp_path / "2099.01.json").write_text(json.dumps(raw))
    assert load_guideline("latest", str(tmp_path), tmp_path / "cache").id == "2020.06"


# -------------------------------------------------------------------- HTTP


def test_interop_repo_over_http_then_offline(server, tmp_path, caplog):
    base, httpd = server
    source = f"interop:{base}{RAW}"
    cache = tmp_path / "cache"
    online = load_guideline("2020.06", source, cache)
    refs = available_guidelines(source, cache)
    assert online.source == f"{base}{RAW}guidelines/2020.06.json"
    assert "dns.2020.06" in [r.name for r in refs]
    _stop(httpd)
    with caplog.at_level(logging.WARNING, logger="tcup.sources"):
        offline = load_guideline("2020.06", source, cache)
    assert offline.sha256 == online.sha256
    assert "using the cached copy" in caplog.text
    assert [r.name for r in available_guidelines(source, cache)] == [r.name for r in refs]
    assert load_guideline("latest", source, cache).id == "2020.06"


def test_refstack_server_over_http_then_offline(server, tmp_path):
    base, httpd = server
    source = f"refstack:{base}/api"
    cache = tmp_path / "cache"
    guideline = load_guideline("dns.2020.06", source, cache)
    assert guideline.source == f"{base}/api/v1/guidelines/dns.2020.06"
    refs = available_guidelines(source, cache)
    assert {r.name for r in refs} >= {"2020.06", "next", "dns.2020.06", "orchestration.next"}
    assert open_source(f"{base}/api/v1", cache).description == f"{base}/api/v1"
    with pytest.raises(InputError, match="HTTP 500"):
        load_guideline("2030.01", source, cache)
    _stop(httpd)
    assert load_guideline("dns.2020.06", source, cache).sha256 == guideline.sha256


def test_direct_url_and_404(server, tmp_path):
    base, _ = server
    url = f"{base}{RAW}add-ons/guidelines/orchestration.2020.06.json"
    assert load_guideline(url, cache_dir=tmp_path).id == "orchestration.2020.06"
    with pytest.raises(InputError, match=r"no guideline .* \(HTTP 404\)"):
        load_guideline(f"{base}{RAW}nope.json", cache_dir=tmp_path)


def test_unreachable_without_cache_names_the_url(server, tmp_path):
    base, httpd = server
    _stop(httpd)
    source = f"interop:{base}{RAW}"
    with pytest.raises(InputError) as err:
        load_guideline("2020.06", source, tmp_path)
    assert err.value.message == (
        f"cannot fetch guideline '2020.06' from {base}{RAW}guidelines/2020.06.json: "
        "connection failed"
    )
    assert "--source" in err.value.hint


def test_corrupt_cache_entry_is_not_used(server, tmp_path, caplog):
    base, httpd = server
    source = f"interop:{base}{RAW}"
    load_guideline("2020.06", source, tmp_path)
    for body in tmp_path.rglob("*2020.06.json"):
        body.write_bytes(body.read_bytes().replace(b"2020.06", b"2020.07"))
    _stop(httpd)
    with caplog.at_level(logging.WARNING), pytest.raises(InputError, match="connection failed"):
        load_guideline("2020.06", source, tmp_path)
    assert "sha256 mismatch" in caplog.text
