"""Shared fixtures.

``reference_cloud`` (session scope) brings up the loopback reference cloud with
``tools/cloud/up`` (idempotent) and describes it. At the end of the session it
stops exactly the services that were not running when the session started, so
a cloud someone left running stays running. Integration tests only: it needs
the cloud venv (installed by ``up`` on first use, about a minute).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLOUD_TOOLS = REPO / "tools" / "cloud"
CLOUD_UP_TIMEOUT = 900  # a first run installs the venv


@dataclass(frozen=True)
class CloudUser:
    """Password credentials of one reference cloud user."""

    username: str
    password: str = field(repr=False)
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"

    def auth(self, auth_url: str) -> dict[str, str]:
        """The ``auth`` dict for openstacksdk / keystoneauth ``v3.Password``."""
        return {
            "auth_url": auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": self.user_domain_name,
            "project_domain_name": self.project_domain_name,
        }


@dataclass(frozen=True)
class ReferenceCloud:
    """Where the running reference cloud's client files are and who can log in."""

    state_dir: Path
    clouds_yaml: Path
    openrc: Path
    openrc_admin: Path
    accounts_yaml: Path
    image: Path
    cloud: str  # non-admin cloud name in clouds.yaml
    admin_cloud: str
    user: CloudUser
    admin: CloudUser
    auth_url: str = "http://127.0.0.1:5000/v3"
    region: str = "RegionOne"
    # The same cloud's catalog with only identity, object-store and image endpoints.
    storage_region: str = "StorageOnly"

    def env(self, admin: bool = False) -> dict[str, str]:
        """Environment selecting this cloud through clouds.yaml (no other OS_* kept)."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        environ["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        environ["OS_CLOUD"] = self.admin_cloud if admin else self.cloud
        return environ

    def connect(self, admin: bool = False):
        """An openstacksdk connection as the non-admin user (or admin)."""
        import openstack.config
        import openstack.connection

        config = openstack.config.OpenStackConfig(
            config_files=[str(self.clouds_yaml)], load_envvars=False
        )
        region = config.get_one(cloud=self.admin_cloud if admin else self.cloud)
        return openstack.connection.Connection(config=region)

    @contextlib.contextmanager
    def stopped(self, services: str) -> Iterator[None]:
        """Stop some services (e.g. "swift", "glance,swift-proxy") for the block's duration."""
        was_running = set(running_services())
        cloud_tool("down", "--only", services)
        try:
            yield
        finally:
            stopped_here = was_running - set(running_services())
            if stopped_here:
                cloud_tool("up", "--only", ",".join(sorted(stopped_here)))


def cloud_state_dir() -> Path:
    return Path(os.environ.get("TCUP_CLOUD_DIR") or REPO / ".cloud")


def cloud_tool(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run tools/cloud/<name>; fail the test with its output if it fails."""
    proc = subprocess.run(
        [str(CLOUD_TOOLS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode not in (0, 3) or (proc.returncode == 3 and name != "status"):
        pytest.fail(
            f"tools/cloud/{name} {' '.join(args)} exited {proc.returncode}:\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return proc


def running_services() -> list[str]:
    """Names of the reference cloud services running now."""
    return cloud_tool("status", "--running").stdout.split()


@pytest.fixture(scope="session")
def reference_cloud() -> Iterator[ReferenceCloud]:
    before = set(running_services())
    cloud_tool("up", timeout=CLOUD_UP_TIMEOUT)
    state = cloud_state_dir()
    secrets = json.loads((state / "secrets.json").read_text())
    cloud = ReferenceCloud(
        state_dir=state,
        clouds_yaml=state / "clouds.yaml",
        openrc=state / "openrc",
        openrc_admin=state / "openrc-admin",
        accounts_yaml=state / "accounts.yaml",
        image=state / "image.img",
        cloud="tcup-reference",
        admin_cloud="tcup-reference-admin",
        user=CloudUser("tcup", secrets["password_tcup"], "tcup"),
        admin=CloudUser("admin", secrets["password_admin"], "admin"),
    )
    try:
        yield cloud
    finally:
        started_here = [svc for svc in running_services() if svc not in before]
        if started_here and not before:
            cloud_tool("down")
        elif started_here:
            cloud_tool("down", "--only", ",".join(started_here))


def _docker_engine_answers() -> bool:
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def tcup_image() -> Iterator[str]:
    """The Docker engine (started, and stopped afterwards, only if none answered) and the
    tcup image built by container/build, once per test session."""
    started = False
    if not _docker_engine_answers():
        subprocess.run([str(REPO / "tools/docker/engine-up")], check=True)
        started = True
    try:
        built = subprocess.run(
            [str(REPO / "container/build")], check=True, capture_output=True, text=True
        )
        yield built.stdout.strip().splitlines()[-1]
    finally:
        if started:
            subprocess.run([str(REPO / "tools/docker/engine-down")], check=False)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, as a private test server would have."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from tcup import signing

    tls_key = signing.generate_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(tls_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(signing.private_key_pem(tls_key))
    return cert_file, key_file
