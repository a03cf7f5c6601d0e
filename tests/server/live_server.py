"""A real ``tcup-server serve`` process on 127.0.0.1, set up through its own commands.

``LiveServer.create`` prepares a fresh data directory the way an operator
would (``db upgrade``, ``guidelines sync``, ``create-user``, ``create-token``)
and ``start`` runs uvicorn in a subprocess on a free port.  ``kill`` sends
SIGKILL (a crash), ``stop`` SIGTERM.  Everything is a subprocess of the
``tcup-server`` CLI, so the tests see what a deployment sees.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from server_helpers import interop_dir

from tcup import signing

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, ok: tuple[int, ...] = (0,)
) -> str:
    """Run ``tcup-server ARGS``; its stdout, or an AssertionError if its exit code is not ``ok``."""
    proc = subprocess.run(
        [sys.executable, "-m", "tcup_server.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in ok, f"tcup-server {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


@dataclass
class Vendor:
    name: str
    openid: str
    token: str = field(repr=False)
    key: rsa.RSAPrivateKey = field(repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class LiveServer:
    data_dir: Path
    env: dict[str, str] = field(repr=False)
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        """The API root (what ``tcup upload --url`` and refstack-client take)."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def create(
        cls,
        data_dir: Path,
        keys_dir: Path | None = None,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> LiveServer:
        """A fresh data directory: schema, server keys, the real guidelines."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TCUP_SERVER_")}
        env.update(
            TCUP_SERVER_DATA_DIR=str(data_dir),
            TCUP_SERVER_COOKIE_SECURE="false",
            NO_PROXY="127.0.0.1,localhost,::1",
            no_proxy="127.0.0.1,localhost,::1",
        )
        if keys_dir is not None:
            env["TCUP_SERVER_KEYS_DIR"] = str(keys_dir)
        if database_url:
            env["TCUP_SERVER_DATABASE_URL"] = database_url
        env.update(extra_env or {})
        server_cli(env, "db", "upgrade")
        server_cli(env, "guidelines", "sync", str(interop_dir()))
        return cls(data_dir=data_dir, env=env, port=free_port())

    def add_vendor(self, name: str, key: rsa.RSAPrivateKey) -> Vendor:
        """A vendor account with an API token and ``key`` registered (as RefStack does it)."""
        server_cli(self.env, "create-user", name, "--no-password")
        token = server_cli(self.env, "create-token", name).strip()
        vendor = Vendor(name, f"tcup:user:{name}", token, key)
        response = requests.post(
            f"{self.url}/v1/profile/pubkeys",
            json={
                "raw_key": signing.public_key_line(key),
                "self_signature": signing.self_signature(key),
            },
            headers=vendor.headers,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return vendor

    def start(self) -> LiveServer:
        env = {**self.env, "TCUP_SERVER_PUBLIC_URL": self.url}
        self.log_path = self.data_dir / "serve.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tcup_server.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"tcup-server serve exited: {self.log()}")
            try:
                if requests.get(f"{self.url}/v1/tcup/server-key", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"tcup-server serve did not answer in {START_TIMEOUT}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None
