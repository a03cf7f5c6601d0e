"""A real RefStack 2.1.0 on 127.0.0.1, deployed as production runs it, for side-by-side benches.

``RefstackPeer(root, workers)`` starts, under ``root`` (a scratch directory):

* MariaDB from Debian (``apt-get install mariadb-server`` if it is missing) with a
  private data directory on a free port;
* a guideline mirror in the shape of opendev's Gitea contents API (RefStack reads its
  guidelines there), served by ``python -m http.server`` from the interop guidelines;
* RefStack's WSGI application (``refstack/api/app.wsgi``'s ``setup_app``) under gunicorn
  with ``workers`` sync workers, after ``refstack-manage upgrade``.

RefStack itself lives in a virtualenv cached at ``$TCUP_DEV_CACHE/refstack-peer``
(default ``~/.cache/tcup-dev``), made on first use from PyPI: ``refstack==2.1.0`` with the
two pins it needs (``SQLAlchemy<2``, ``oslo.db<13``), gunicorn and PyJWT.  RefStack signs
users in through OpenStackID, which cannot be reached offline, so :meth:`register_key`
inserts a user and its public key with SQL, as an operator would.

``stop()`` ends every process it started and the scratch data goes with ``root``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
INTEROP = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
CACHE = Path(os.environ.get("TCUP_DEV_CACHE") or Path.home() / ".cache" / "tcup-dev")
VENV = CACHE / "refstack-peer"
REQUIREMENTS = ("refstack==2.1.0", "SQLAlchemy>=1.4,<2", "oslo.db>=12,<13", "gunicorn", "PyJWT")
OPENID = "https://openstackid.org/tcup-bench"
WSGI = (
    "from refstack.api import app\n"
    "from refstack.api import config as api_config\n"
    "application = app.setup_app(api_config)\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_venv(venv: Path = VENV) -> Path:
    """The RefStack virtualenv, made (about a minute) if it lacks gunicorn or refstack."""
    if (venv / "bin" / "gunicorn").exists() and (venv / "bin" / "refstack-manage").exists():
        return venv
    print(f"installing RefStack 2.1.0 into {venv} ...", file=sys.stderr)
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", *REQUIREMENTS],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return venv


def ensure_mariadb() -> None:
    if shutil.which("mariadbd") or Path("/usr/sbin/mariadbd").exists():
        return
    print("installing Debian's mariadb-server ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "mariadb-server"], check=True, env=env)


def _wait(what: str, ready, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start within {seconds:.0f} s")


class RefstackPeer:
    """MariaDB, the guideline mirror and RefStack under gunicorn (see the module docstring)."""

    def __init__(self, root: Path, workers: int = 1) -> None:
        self.root = Path(root)
        self.workers = workers
        self.port = free_port()
        self.db_port = free_port()
        self.mirror_port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.socket = self.root / "mysql" / "mysqld.sock"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RefstackPeer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _spawn(self, args: list[str], log: str, **kwargs) -> subprocess.Popen:
        handle = open(self.root / log, "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, **kwargs)
        handle.close()
        self.processes.append(process)
        return process

    def sql(self, statements: str, database: str = "") -> None:
        args = ["mariadb", f"--socket={self.socket}", "-uroot"]
        subprocess.run([*args, *([database] if database else []), "-e", statements], check=True)

    def start(self) -> None:
        ensure_mariadb()
        venv = ensure_venv()
        self._start_mariadb()
        self._start_mirror()
        rs = self.root / "rs"
        rs.mkdir(parents=True)
        conf = rs / "refstack.conf"
        mirror = f"http://127.0.0.1:{self.mirror_port}"
        conf.write_text(
            "[DEFAULT]\n"
            f"ui_url = {self.url}\n"
            "[api]\n"
            "enable_anonymous_upload = true\n"
            f"api_url = {self.url}\n"
            f"opendev_api_capabilities_url = {mirror}/contents/guidelines\n"
            f"additional_capability_urls = {mirror}/contents/add-ons/guidelines\n"
            f"opendev_raw_base_url = {mirror}/raw/\n"
            "[database]\n"
            f"connection = mysql+pymysql://refstack:refstack@127.0.0.1:{self.db_port}/refstack\n"
        )
        subprocess.run(
            [str(venv / "bin" / "refstack-manage"), "--config-file", str(conf), "upgrade"]
            + ["--revision", "head"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        (rs / "rs_wsgi.py").write_text(WSGI)
        self._spawn(
            [str(venv / "bin" / "gunicorn"), "-w", str(self.workers)]
            + ["-b", f"127.0.0.1:{self.port}", "--chdir", str(rs), "rs_wsgi:application"],
            "gunicorn.log",
            env={**os.environ, "REFSTACK_OSLO_CONFIG": str(conf), "NO_PROXY": "127.0.0.1"},
        )

        def answers() -> bool:
            try:
                return requests.get(f"{self.url}/v1/results", timeout=2).ok
            except requests.ConnectionError:
                return False

        _wait("RefStack (gunicorn)", answers)

    def _start_mariadb(self) -> None:
        data = self.root / "mysql" / "data"
        data.mkdir(parents=True)
        subprocess.run(
            ["mariadb-install-db", "--user=root", f"--datadir={data}"]
            + ["--auth-root-authentication-method=normal"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        mysql = self.root / "mysql"
        self._spawn(
            ["mariadbd", "--no-defaults", "--user=root", f"--datadir={data}"]
            + ["--bind-address=127.0.0.1", f"--port={self.db_port}", f"--socket={self.socket}"]
            + [f"--pid-file={mysql / 'mysqld.pid'}", f"--log-error={mysql / 'err.log'}"],
            "mariadbd.log",
        )
        _wait("MariaDB", self.socket.exists)
        self.sql(
            "CREATE DATABASE refstack CHARACTER SET utf8mb4;"
            "CREATE USER 'refstack'@'127.0.0.1' IDENTIFIED BY 'refstack';"
            "GRANT ALL ON refstack.* TO 'refstack'@'127.0.0.1';"
        )

    def _start_mirror(self) -> None:
        """opendev's Gitea contents API, as RefStack reads it, over the interop guidelines."""
        mirror = self.root / "mirror"
        listings = {"guidelines": INTEROP, "add-ons/guidelines": INTEROP / "add-ons"}
        for where, source in listings.items():
            raw = mirror / "raw" / where
            raw.mkdir(parents=True)
            entries = []
            for path in sorted(source.glob("*.json")):
                shutil.copyfile(path, raw / path.name)
                entries.append({"type": "file", "name": path.name, "path": f"{where}/{path.name}"})
            listing = mirror / "contents" / where
            listing.parent.mkdir(parents=True, exist_ok=True)
            listing.write_text(json.dumps(entries))
        self._spawn(
            [sys.executable, "-m", "http.server", str(self.mirror_port), "--bind", "127.0.0.1"],
            "mirror.log",
            cwd=mirror,
        )

        def answers() -> bool:
            try:
                url = f"http://127.0.0.1:{self.mirror_port}/contents/guidelines"
                return requests.get(url, timeout=2).ok
            except requests.ConnectionError:
                return False

        _wait("the guideline mirror", answers)

    def register_key(self, public_key_line: str) -> None:
        """A RefStack user whose registered key is ``public_key_line`` (an ssh-rsa line)."""
        fmt, blob = public_key_line.split()[:2]
        if fmt != "ssh-rsa" or not re.fullmatch(r"[A-Za-z0-9+/=]+", blob):
            raise ValueError("expected an ssh-rsa public key line")
        md5 = hashlib.md5(base64.b64decode(blob)).hexdigest()  # noqa: S324 - RefStack's lookup
        # fmt and blob are checked above; the rest is ours
        user = f"VALUES ('{OPENID}', 'bench@example.org', 'Bench', NOW())"
        key = f"VALUES (UUID(), '{OPENID}', '{fmt}', '{blob}', 'bench', '{md5}', NOW())"
        self.sql(
            f"INSERT INTO user (openid, email, fullname, created_at) {user};"
            "INSERT INTO pubkeys (id, openid, format, pubkey, comment, md5_hash, created_at) "
            f"{key};",
            database="refstack",
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
