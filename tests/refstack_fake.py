"""A small, real HTTP server on 127.0.0.1 that takes uploads like RefStack does.

It is a test double for the client's error paths, not a RefStack: it checks an
upload in RefStack's order (JSON, schema, signature hex, public key, signature,
non-empty results, registered key) with the cryptography primitives RefStack
itself uses (``load_ssh_public_key`` + ``verify``), not with ``tcup.signing``,
so the client is checked against an independent implementation.  Answers and
error bodies have RefStack's shapes (``{"title", "code"}`` and
``{"code", "title", "detail"}``).

Tests can queue forced answers (``fail_next``) and read every request seen.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import ssl
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

# The upload schema as RefStack's TestResultValidator states it.
RESULTS_SCHEMA = {
    "type": "object",
    "properties": {
        "cpid": {"type": "string"},
        "duration_seconds": {"type": "integer"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "uuid": {"type": "string"}},
                "required": ["name"],
            },
        },
    },
    "required": ["cpid", "duration_seconds", "results"],
    "additionalProperties": False,
}


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Forced:
    status: int
    body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeRefstack:
    """``with FakeRefstack() as server: upload(body, server.url)``."""

    def __init__(
        self,
        anonymous: bool = True,
        ui_url: str = "https://refstack.example.org",
        tls: tuple[str, str] | None = None,
    ):
        self.anonymous = anonymous
        self.ui_url = ui_url
        self.pubkeys: dict[str, str] = {}  # md5(blob) -> openid
        self.requests: list[SeenRequest] = []
        self.stored: list[dict] = []
        self.forced: deque[Forced] = deque()
        self.receipt_extras: dict = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.scheme = "http"
        if tls is not None:  # (certificate file, key file)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle
    def __enter__(self) -> FakeRefstack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """The API root, as users pass it to ``--url``."""
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}/api"

    # -- test controls
    def register_key(self, public_key_line: str, openid: str = "https://openid.example/u") -> None:
        blob = base64.b64decode(public_key_line.strip().split()[1])
        self.pubkeys[hashlib.md5(blob).hexdigest()] = openid

    def fail_next(self, status: int, body: dict | str | None = None, **headers: str) -> None:
        self.forced.append(Forced(status, body, headers))

    @property
    def uploads(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.method == "POST"]

    # -- the RefStack logic
    def handle_results_post(self, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        def invalid(title: str) -> tuple[int, dict]:
            return 400, {"title": title, "code": 400}

        try:
            content = json.loads(body)
        except ValueError:
            return invalid("Malformed request")
        try:
            jsonschema.validate(content, RESULTS_SCHEMA)
        except jsonschema.ValidationError as exc:
            return invalid(f"Request doesnt correspond to schema: {exc.message}")
        signed = "x-signature" in headers or "x-public-key" in headers
        if signed:
            try:
                signature = binascii.a2b_hex(headers.get("x-signature", ""))
            except (binascii.Error, TypeError):
                return invalid("Malformed signature")
            try:
                key = load_ssh_public_key(headers.get("x-public-key", "").encode("utf-8"))
            except (binascii.Error, ValueError):
                return invalid("Malformed public key")
            try:
                key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                return invalid("Signature verification failed")
        if not content["results"]:
            return invalid("Uploaded results must contain at least one passing test.")
        meta = {}
        if signed:
            blob = base64.b64decode(headers["x-public-key"].strip().split()[1])
            owner = self.pubkeys.get(hashlib.md5(blob).hexdigest())
            if owner is None:
                return 401, {
                    "code": 401,
                    "title": "Unauthorized",
                    "detail": "User with specified key not found. Please log into the "
                    "RefStack server to upload your key.",
                }
            meta["user"] = owner
        elif not self.anonymous:
            return 401, {
                "code": 401,
                "title": "Unauthorized",
                "detail": "Anonymous result uploads are disabled. Please create a user "
                "account and an api key or enable anonymous uploads.",
            }
        test_id = str(uuid.uuid4())
        self.stored.append({"id": test_id, "content": content, "meta": meta})
        answer = {"test_id": test_id, "url": f"{self.ui_url}/#/results/{test_id}"}
        answer.update(self.receipt_extras)
        return 201, answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: dict | str | None, headers: dict) -> None:
                data = body if isinstance(body, str) else json.dumps(body or {})
                raw = data.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # RefStack has no /v1/tcup/...: 404, as pecan answers
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(SeenRequest("GET", self.path, headers, b""))
                self._send(404, {"title": "Not Found", "code": 404}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.requests.append(SeenRequest("POST", self.path, headers, body))
                    forced = fake.forced.popleft() if fake.forced else None
                if forced is not None:
                    default = {"title": "Internal Server Error", "code": forced.status}
                    self._send(forced.status, forced.body or default, forced.headers)
                    return
                if self.path.rstrip("/") != "/api/v1/results":
                    self._send(404, {"title": "Not Found", "code": 404}, {})
                    return
                with fake._lock:
                    status, answer = fake.handle_results_post(headers, body)
                self._send(status, answer, {})

        return Handler


def free_port() -> int:
    """A 127.0.0.1 port with nothing listening on it (bound, then released)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
