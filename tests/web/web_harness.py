"""Helpers of the web page tests: a real server process and a real headless Chromium.

* ``server``: ``tcup-server db upgrade`` on a fresh SQLite database in a temporary
  data directory, the real interop guidelines synced in, then ``tcup-server serve``
  as a subprocess on 127.0.0.1 and a free port; stopped (by its pid) at the end.
* ``accounts``: one staff account and two vendor accounts made with
  ``tcup-server create-user``; two vendor organisations with one member each,
  made through the web forms.
* ``browser`` / ``page``: Playwright for Python driving Debian's
  ``/usr/bin/chromium`` (``tools/browser/install`` puts both in place; no browser
  is ever downloaded).  Screenshots go to ``tests/artifacts/web/``.
* Submissions are made by real signed uploads: a subunit v2 stream written by
  python-subunit for the guideline's tests, read by ``tcup.results``, signed by
  ``tcup.signing`` and posted by ``tcup.upload.upload``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
INTEROP = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
ARTIFACTS = REPO / "tests" / "artifacts" / "web"
CHROMIUM = os.environ.get("TCUP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GUIDELINE = "2020.06"
TARGET = "platform"
BIN = Path(sys.executable).parent
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


# ------------------------------------------------------------------ the server


@dataclass
class Server:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [tool("tcup-server"), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"tcup-server {' '.join(args)} failed: {done.stderr}")
        return done.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tcup-server exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"tcup-server did not answer on {url}:\n{log.read_text()[-3000:]}")


# ------------------------------------------------------------------ accounts


@contextlib.contextmanager
def running_server(data_dir: Path, port: int, env: dict[str, str]) -> Iterator[Server]:
    """``tcup-server`` migrated, with the interop guidelines synced, serving on
    127.0.0.1:``port`` with ``env`` until the block ends (its log in ``data_dir``)."""
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    boot = Server(url, data_dir, env, None, log)  # type: ignore[arg-type]
    boot.cli("db", "upgrade")
    boot.cli("guidelines", "sync", str(INTEROP))
    with log.open("w") as out:
        process = subprocess.Popen(
            [tool("tcup-server"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    boot.process = process
    try:
        wait_until_up(url, process, log)
        yield boot
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class WebClient:
    """A scripted browser-less client of the web forms (for setting up state)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def token(self, path: str) -> str:
        page = self.http.get(self.url + path, timeout=10)
        page.raise_for_status()
        found = CSRF.search(page.text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, name: str, password: str) -> None:
        token = self.token("/login")
        answer = self.http.post(
            self.url + "/login",
            data={"username": name, "password": password, "csrf_token": token},
            timeout=30,
        )
        assert answer.status_code == 200 and "Log out" in answer.text, answer.text[:500]

    def post(self, form_page: str, action: str, data: dict[str, str]) -> requests.Response:
        token = self.token(form_page)
        return self.http.post(self.url + action, data={**data, "csrf_token": token}, timeout=30)


@dataclass
class Account:
    name: str
    password: str
    vendor_id: str | None = None
    key: object | None = None  # RSA private key registered for signing
    fingerprint: str | None = None


@dataclass
class Accounts:
    staff: Account
    vera: Account  # vendor "Vera Cloud"
    otto: Account  # vendor "Otto Systems"
    extra: dict[str, Account] = field(default_factory=dict)


def create_user(server: Server, name: str, staff: bool = False) -> Account:
    password = secrets.token_urlsafe(16)
    args = ["create-user", name, "--password-stdin"] + (["--staff"] if staff else [])
    server.cli(*args, stdin=password + "\n")
    return Account(name, password)


def register_key_by_api(server: Server, account: Account) -> None:
    """The vendor registers a fresh key through ``/v1/profile/pubkeys`` (a session login)."""
    from tcup import signing

    key = signing.generate_key(2048)
    http = requests.Session()
    login = http.post(
        server.url + "/v1/auth/login",
        json={"name": account.name, "password": account.password},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    line = signing.public_key_line(key, f"{account.name}@ci")
    answer = http.post(
        server.url + "/v1/profile/pubkeys",
        json={"raw_key": line, "self_signature": signing.self_signature(key)},
        headers={"X-CSRF-Token": login.json()["csrf_token"]},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    account.key = key
    account.fingerprint = signing.fingerprint(line)


# ------------------------------------------------------------------ uploads


def required_test_ids(guideline_id: str = GUIDELINE, target: str = TARGET) -> dict[str, list[str]]:
    """Capability -> tempest-style test ids (``name[id-...]``) of the required tests."""
    from tcup import guidelines, testlist

    guideline = guidelines.parse_guideline(
        (INTEROP / f"{guideline_id}.json").read_bytes(), f"{guideline_id}.json"
    )
    plan = testlist.plan(guideline, target)
    by_cap: dict[str, list[str]] = {}
    for line in testlist.format_plan(plan, "refstack"):
        by_cap.setdefault("all", []).append(line)
    for cap in guideline.target_capabilities(target, ("required",)):
        by_cap[cap.name] = [t.name for t in cap.tests]
    return by_cap


def subunit_stream(passed: list[str], failed: list[str]) -> bytes:
    """A subunit v2 stream, written by python-subunit as stestr would write it."""
    import io

    import subunit

    out = io.BytesIO()
    stream = subunit.StreamResultToBytes(out)
    clock = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for test_id, status in [(t, "success") for t in passed] + [(t, "fail") for t in failed]:
        stream.status(test_id=test_id, test_status="inprogress", timestamp=clock)
        clock += dt.timedelta(milliseconds=250)
        if status == "fail":
            stream.status(
                test_id=test_id,
                file_name="traceback",
                file_bytes=(
                    "Traceback (most recent call last):\n"
                    f'  File "tempest/test.py", line 1, in {test_id.split("[")[0]}\n'
                    "AssertionError: 404 != 200 : image service answered Not Found\n"
                ).encode(),
                mime_type="text/plain;charset=utf8",
                timestamp=clock,
            )
        stream.status(test_id=test_id, test_status=status, timestamp=clock)
    return out.getvalue()


@dataclass
class Uploaded:
    id: str
    cpid: str
    qualifies: bool


def run_and_upload(
    server: Server,
    account: Account,
    cpid: str,
    failing_capability: str | None = None,
    extended: bool = False,
) -> Uploaded:
    """Make a run's results (failing one capability if asked), sign and upload them."""
    from tcup import results
    from tcup.upload import upload

    ids = _tempest_ids()
    caps = required_test_ids()
    failing = set(caps.get(failing_capability, [])) if failing_capability else set()
    passed = [t for t in ids if t.split("[")[0] not in failing]
    failed = [t for t in ids if t.split("[")[0] in failing]
    stream = subunit_stream(passed, failed)
    run = results.read_subunit(stream, "generated.subunit")
    body = results.dump_refstack(results.refstack_body(run, cpid, 1234))
    if not extended:
        receipt = upload(body, server.url, account.key, retries=0)
        return Uploaded(receipt.test_id, cpid, failing_capability is None)
    env = results.RunEnvironment(guideline_id=GUIDELINE, target=TARGET)
    manifest = {
        "versions": {"tcup": "test", "tempest": "47.0.0", "python": sys.version.split()[0]},
        "guideline": GUIDELINE,
        "target": TARGET,
        "cpid": cpid,
    }
    from tcup.submission import Submission
    from tcup.upload import upload_submission

    parts = {
        "results": body,
        "subunit": stream,
        "extended": results.dump_extended(run, env),
        "manifest": json.dumps(manifest).encode(),
    }
    receipt = upload_submission(Submission.of(parts), server.url, account.key, retries=0)
    return Uploaded(receipt.test_id, cpid, failing_capability is None)


_IDS: list[str] = []


def _tempest_ids() -> list[str]:
    """Tempest-style ids ``name[id-<uuid>,smoke]`` for every required test."""
    if not _IDS:
        for line in required_test_ids()["all"]:
            name, _, rest = line.partition("[")
            ident = rest.rstrip("]")
            _IDS.append(f"{name}[{ident},smoke]" if ident else name)
    return _IDS


# ------------------------------------------------------------------ the browser


def login(page, account: Account) -> None:  # noqa: ANN001 - playwright Page
    page.goto("/login")
    page.fill("input[name=username]", account.name)
    page.fill("input[name=password]", account.password)
    page.click("form.stack button[type=submit]")
    page.wait_for_selector("header .who >> text=" + account.name)


def follow(page, selector: str) -> None:  # noqa: ANN001 - playwright Page
    """Click a link or submit button and wait until the page it leads to has loaded.

    ``page.click`` returns once the navigation has begun, so counting rows straight
    after it may read a half-parsed document on a busy machine.
    """
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def screenshot(page, name: str) -> Path:  # noqa: ANN001 - playwright Page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
