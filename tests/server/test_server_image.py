"""The tcup-server image, built by ``container/build --server`` and run with the real Docker
engine: healthy, not root, migrated, on SQLite (a mounted data directory) and as a
production set (the loopback PostgreSQL, the artefacts in the reference cloud's Swift, two
workers: the ``docker run`` of docs/server.md), and it takes an upload that the runner image
(``tcup:latest``) makes.

Every container runs with ``--network host`` on a free loopback port and is removed
afterwards. The image size and the time from ``docker run`` to healthy are printed
(``pytest -s`` or ``-rP`` shows them).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from server_helpers import fresh_postgres_database, own_swift_container
from tcup_server import __version__ as server_version
from tcup_server.settings import ServerSettings

from tcup import __version__ as tcup_version
from tcup import guidelines, results, signing, testlist
from tests.interop import require_interop

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
IMAGE = "tcup-server:latest"
RUNNER_IMAGE = "tcup:latest"
HEALTHY_TIMEOUT = 120.0


def docker(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout, env=env
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_image(tcup_image: str) -> str:
    """tcup-server:<version> from the project's own build script. ``tcup_image`` brings the
    Docker engine (stopped at the end only if the session started it) and the runner image."""
    assert tcup_image == f"tcup:{tcup_version}"
    started = time.monotonic()
    built = subprocess.run(
        [str(REPO / "container" / "build"), "--server"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.strip().splitlines()[-1] == f"tcup-server:{server_version}"
    size = int(docker("image", "inspect", "-f", "{{.Size}}", IMAGE).stdout)
    print(
        f"\nfigures: {IMAGE} is {size / 1e6:.1f} MB; "
        f"container/build --server took {time.monotonic() - started:.1f} s"
    )
    return IMAGE


@dataclasses.dataclass
class ServerContainer:
    name: str
    port: int
    data_dir: Path
    database: str  # "sqlite" or "postgresql"
    swift_container: str = ""  # where the artefacts go; "" for the data directory
    healthy_after: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        """``tcup-server ARGS`` inside the running container (its environment, its user)."""
        proc = docker("exec", self.name, "tcup-server", *args, timeout=120)
        assert proc.returncode == 0, f"tcup-server {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    def logs(self) -> str:
        proc = docker("logs", "--tail", "40", self.name)
        return proc.stdout + proc.stderr


def wait_healthy(container: ServerContainer, started: float) -> float:
    """Seconds from ``started`` until Docker's HEALTHCHECK says healthy."""
    deadline = started + HEALTHY_TIMEOUT
    while time.monotonic() < deadline:
        state = docker(
            "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", container.name
        )
        status, _, health = state.stdout.strip().partition(" ")
        if health == "healthy":
            return time.monotonic() - started
        if status in ("exited", "dead"):
            pytest.fail(f"the server container stopped ({status}):\n{container.logs()}")
        time.sleep(0.1)
    pytest.fail(f"the server was not healthy within {HEALTHY_TIMEOUT:g} s:\n{container.logs()}")


@dataclasses.dataclass
class SwiftStore:
    """An artefact store in Swift: a clouds.yaml readable by the image's user, its cloud
    entry and a container of its own."""

    clouds_yaml: Path
    cloud: str
    container: str


@contextlib.contextmanager
def run_server(
    image: str, data_dir: Path, database_url: str, swift: SwiftStore | None = None
) -> Iterator[ServerContainer]:
    """The image's default command (``db upgrade``, then ``serve``) on a free loopback port,
    the data directory mounted at /data; the container is removed afterwards.  With
    ``swift``, the artefacts go to Swift and two workers serve, as docs/server.md shows."""
    container = ServerContainer(
        name=f"tcup-server-test-{uuid.uuid4().hex[:10]}",
        port=free_port(),
        data_dir=data_dir,
        database="postgresql" if database_url else "sqlite",
        swift_container=swift.container if swift else "",
    )
    settings = {
        "TCUP_SERVER_HOST": "127.0.0.1",
        "TCUP_SERVER_PORT": str(container.port),
        "TCUP_SERVER_PUBLIC_URL": container.url,
        "TCUP_SERVER_COOKIE_SECURE": "false",
    }
    if database_url:
        settings["TCUP_SERVER_DATABASE_URL"] = database_url
    args = ["run", "--detach", "--name", container.name, "--network", "host"]
    # Docker's probe every second instead of the image's 10 s, to measure the start closely.
    args += ["--health-interval", "1s", "-v", f"{data_dir}:/data"]
    args += ["-v", f"{require_interop()}:/interop:ro"]
    if swift:
        settings |= {
            "OS_CLIENT_CONFIG_FILE": "/etc/openstack/clouds.yaml",
            "TCUP_SERVER_ARTEFACT_BACKEND": "swift",
            "TCUP_SERVER_SWIFT_CLOUD": swift.cloud,
            "TCUP_SERVER_SWIFT_CONTAINER": swift.container,
            "TCUP_SERVER_ARTEFACT_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TCUP_SERVER_WORKERS": "2",
        }
        args += ["-v", f"{swift.clouds_yaml}:/etc/openstack/clouds.yaml:ro"]
    for name in sorted(settings):
        args += ["-e", name]  # values from the environment, as an operator would pass secrets
    started = time.monotonic()
    proc = docker(*args, image, env={**os.environ, **settings})
    try:
        assert proc.returncode == 0, proc.stderr
        container.healthy_after = wait_healthy(container, started)
        yield container
    finally:
        docker("rm", "--force", "--volumes", container.name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql+swift"])
def server(request, server_image: str, tmp_path_factory) -> Iterator[ServerContainer]:
    """A running server container on SQLite in its data directory, or the production set:
    a fresh (empty) database of the loopback PostgreSQL (``postgres_url`` of
    tests/server/conftest.py), the artefacts in a Swift container of the reference cloud
    (``own_swift_container``), two workers."""
    data_dir = tmp_path_factory.mktemp(f"server-image-{request.param}")
    os.chown(data_dir, 1000, 1000)  # the image's user
    data_dir.chmod(0o700)
    with contextlib.ExitStack() as stack:
        database_url, swift = "", None
        if request.param == "postgresql+swift":
            database_url = stack.enter_context(
                fresh_postgres_database(request.getfixturevalue("postgres_url"))
            )
            cloud = request.getfixturevalue("reference_cloud")
            clouds_yaml = tmp_path_factory.mktemp("server-image-swift") / "clouds.yaml"
            clouds_yaml.write_bytes(cloud.clouds_yaml.read_bytes())
            os.chown(clouds_yaml, 1000, 1000)  # readable by the image's user only
            clouds_yaml.chmod(0o600)
            container = stack.enter_context(own_swift_container(cloud))
            swift = SwiftStore(clouds_yaml, cloud.cloud, container)
        container = stack.enter_context(run_server(server_image, data_dir, database_url, swift))
        print(
            f"\nfigures: docker run -> healthy ({container.database}): "
            f"{container.healthy_after:.2f} s"
        )
        yield container


def test_the_image_is_labelled_and_has_no_wheels_caches_or_secrets(server_image: str) -> None:
    info = json.loads(docker("image", "inspect", server_image).stdout)[0]
    config = info["Config"]
    assert config["User"] == "1000:1000"
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/tcup-server-healthcheck"]
    assert config["Cmd"] == ["serve"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["TCUP_SERVER_DATA_DIR"] == "/data" and env["TCUP_SERVER_PORT"] == "8000"
    assert not {n for n in env if n.startswith("OS_")}
    assert "TCUP_SERVER_ARTEFACT_KEY" not in env and "TCUP_SERVER_METRICS_TOKEN" not in env
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "tcup-server"
    assert labels["org.opencontainers.image.version"] == server_version
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.revision"].startswith(head)
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", server_image).stdout
    for word in ("PASSWORD", "SECRET", "TOKEN", "PRIVATE KEY"):
        assert word not in history.upper()
    leftovers = (
        "test ! -e /tmp/wheelhouse && test ! -e /tmp/app-wheels && test ! -e ~root/.cache/pip"
        ' && test -z "$(ls -A /data)" && echo clean'
    )
    proc = docker("run", "--rm", "--user", "0:0", server_image, "sh", "-c", leftovers)
    assert proc.stdout.strip() == "clean", proc.stdout + proc.stderr
    versions = docker(
        "run", "--rm", server_image, "sh", "-c", "tcup-server --version; tcup --version"
    )
    assert versions.stdout.split("\n")[:2] == [
        f"tcup-server {server_version}",
        f"tcup {tcup_version}",
    ]
    # the PostgreSQL driver and the Swift client the server's settings can select
    drivers = docker("run", "--rm", server_image, "python", "-c", "import psycopg, openstack")
    assert drivers.returncode == 0, drivers.stderr


def test_it_runs_healthy_as_a_non_root_user_on_a_migrated_database(
    server: ServerContainer,
) -> None:
    status = docker(
        "exec", server.name, "sh", "-c", "grep ^Uid: /proc/1/status; cat /proc/1/cmdline"
    )
    uid_line, _, cmdline = status.stdout.partition("\n")
    assert uid_line.split()[1:] == ["1000"] * 4, status.stdout
    assert "serve" in cmdline.split("\0"), cmdline  # PID 1 is the server itself (exec)
    ready = requests.get(f"{server.url}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["database"]["status"] == "ok"
    assert "consistent" in server.cli("db", "check").splitlines()
    # the server made its keys and keeps them private in the mounted data directory
    keys = server.data_dir / "keys"
    assert {p.stat().st_uid for p in keys.iterdir()} == {1000}
    assert (keys.stat().st_mode & 0o777) == 0o700
    assert (server.data_dir / "tcup-server.db").is_file() is (server.database == "sqlite")
    log_lines = docker("logs", server.name).stdout.splitlines()
    assert log_lines and all(line.startswith("{") for line in log_lines), log_lines[:3]
    assert any(json.loads(line).get("event") == "serve.start" for line in log_lines)


def object_storage_body(cpid: str) -> bytes:
    """A RefStack body passing every required test of 2020.06's object target."""
    path = require_interop() / "2020.06.json"
    guideline = guidelines.parse_guideline(path.read_bytes(), str(path))
    names = dict.fromkeys(testlist.format_plan(testlist.plan(guideline, "object"), "names"))
    return results.dump_refstack(
        {"cpid": cpid, "duration_seconds": 3, "results": [{"name": n} for n in names]}
    )


def test_it_takes_an_upload_made_by_the_runner_image(
    request, server: ServerContainer, tmp_path: Path
) -> None:
    synced = server.cli("guidelines", "sync", "/interop")
    assert "synced 2020.06" in synced.splitlines()
    vendor = f"vendor-{server.database}"
    server.cli("create-user", vendor, "--no-password")
    token = server.cli("create-token", vendor).strip()
    auth = {"Authorization": f"Bearer {token}"}
    key = signing.generate_key(2048)
    registered = requests.post(
        f"{server.url}/v1/profile/pubkeys",
        json={
            "raw_key": signing.public_key_line(key),
            "self_signature": signing.self_signature(key),
        },
        headers=auth,
        timeout=30,
    )
    assert registered.status_code == 201, registered.text

    # a run's output directory, as `tcup run` leaves it: results and the signed manifest
    run_dir = tmp_path / "out"
    run_dir.mkdir()
    cpid = f"image-{server.database}"
    (run_dir / "results.json").write_bytes(object_storage_body(cpid))
    manifest = {"guideline": "2020.06", "target": "object", "add_ons": []}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    key_path, _ = signing.write_key_pair(key, tmp_path / "key.pem")

    runner = f"tcup-upload-test-{uuid.uuid4().hex[:10]}"
    args = ["run", "--rm", "--name", runner, "--network", "host"]
    args += ["--user", f"{os.getuid()}:{os.getgid()}", "-v", f"{run_dir}:/data/out"]
    args += ["-v", f"{key_path}:/run/secrets/tcup-key:ro", RUNNER_IMAGE]
    args += ["upload", "/data/out", "--url", server.url, "--key", "/run/secrets/tcup-key"]
    try:
        proc = docker(*args, timeout=300)
    finally:
        docker("rm", "--force", runner)
    assert proc.returncode == 0, proc.stdout + proc.stderr + server.logs()
    lines = proc.stdout.splitlines()
    assert lines[0] == "Test results uploaded!", proc.stdout
    test_id = lines[1].removeprefix("Test id: ")
    receipt = json.loads((run_dir / "upload.json").read_text())
    assert receipt["form"] == "tcup" and receipt["test_id"] == test_id  # the whole run, signed

    stored = requests.get(f"{server.url}/v1/results/{test_id}", headers=auth, timeout=30)
    assert stored.status_code == 200, stored.text
    data = stored.json()
    assert data["cpid"] == cpid and data["target"] == "object" and data["qualifies"] is True
    anonymous = requests.get(f"{server.url}/v1/results/{test_id}", timeout=30)
    assert anonymous.status_code == 404
    assert "consistent" in server.cli("db", "check").splitlines()  # its artefacts are there
    if server.swift_container:  # and they are in Swift, not in the data directory
        conn = request.getfixturevalue("reference_cloud").connect()
        try:
            names = [o.name for o in conn.object_store.objects(server.swift_container)]
        finally:
            conn.close()
        assert names, f"no artefact in the Swift container {server.swift_container}"
        assert not any(test_id in str(p) for p in server.data_dir.rglob("*")), names


def test_the_compose_example_sets_only_real_settings() -> None:
    compose = yaml.safe_load((REPO / "server" / "deploy" / "compose.yaml").read_text())
    service = compose["services"]["server"]
    assert service["image"] == IMAGE
    known = {f.name for f in dataclasses.fields(ServerSettings)}
    names = [n for n in service["environment"] if n.startswith("TCUP_SERVER_")]
    assert names and {n.removeprefix("TCUP_SERVER_").lower() for n in names} <= known
    assert service["environment"]["TCUP_SERVER_ARTEFACT_BACKEND"] == "swift"
    assert service["environment"]["OS_CLIENT_CONFIG_FILE"] == "/etc/openstack/clouds.yaml"
