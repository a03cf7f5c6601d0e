"""The tcup image, built by container/build and run with the real Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tcup import __version__
from tests.interop import require_interop

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
IMAGE = "tcup:latest"


@pytest.fixture(scope="module")
def image(tcup_image: str) -> str:
    """The image built once per session (tests/conftest.py), as tcup:<version>."""
    assert tcup_image == f"tcup:{__version__}"
    return IMAGE


def docker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=900, env=env
    )


def test_help_shows_the_run_help_and_the_container_conventions(image: str) -> None:
    proc = docker("run", "--rm", image, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: tcup run" in proc.stdout
    for convention in ("--env-file", "/etc/openstack", "TCUP_<OPTION>", "/run/secrets/tcup-key"):
        assert convention in proc.stdout
    assert '--user "$(id -u):$(id -g)"' in proc.stdout and "/data/out" in proc.stdout


def test_options_go_to_tcup_run_and_commands_to_tcup(image: str) -> None:
    version = docker("run", "--rm", image, "tcup", "--version")
    assert version.stdout.strip() == f"tcup {__version__}"
    as_subcommand = docker("run", "--rm", image, "guidelines", "--help")
    assert as_subcommand.returncode == 0 and "usage: tcup guidelines" in as_subcommand.stdout
    bad_run_option = docker("run", "--rm", image, "--no-such-option")
    assert bad_run_option.returncode == 2 and "usage: tcup run" in bad_run_option.stderr


def test_list_from_a_mounted_interop_dir_matches_the_host(image: str) -> None:
    interop = require_interop()
    args = ["list", "--guideline", "/interop/2020.06.json", "--target", "storage"]
    proc = docker("run", "--rm", "-v", f"{interop}:/interop:ro", image, *args)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 58
    host_args = ["list", "--guideline", str(interop / "2020.06.json"), "--target", "storage"]
    host = subprocess.run(
        [str(REPO / ".venv/bin/tcup"), *host_args], capture_output=True, text=True, check=True
    )
    assert lines == host.stdout.splitlines()


def test_output_is_written_as_the_callers_uid_with_a_home_fallback(
    image: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, 1234, 1234)
    script = 'echo "$HOME"; id -u; tempest init /data/out/ws >/dev/null && ls /data/out/ws'
    proc = docker(
        "run", "--rm", "--user", "1234:1234", "-v", f"{out}:/data/out", image, "sh", "-c", script
    )
    assert proc.returncode == 0, proc.stderr
    home, uid, *listing = proc.stdout.splitlines()
    assert home == "/tmp/home" and uid == "1234"
    assert "etc" in listing
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in (out / "ws").rglob("*")}
    assert owners == {(1234, 1234)}


def test_the_image_ships_the_test_list_of_its_own_tempest(image: str) -> None:
    """A run in the container finds Tempest's test list made at build time (no 10 s listing)."""
    probe = (
        "tempest init --workspace-path /tmp/w.yaml /tmp/ws >/dev/null && cd /tmp/ws && python -c "
        "'import logging, sys, time; from pathlib import Path; from tcup import listing\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        't = time.monotonic(); ids = listing.list_tests(Path("."))\n'
        "print(len(ids), round(time.monotonic() - t, 2))'"
    )
    proc = docker("run", "--rm", image, "sh", "-c", probe)
    assert proc.returncode == 0, proc.stderr
    assert "test list from /opt/tcup/test-lists/" in proc.stdout
    count = int(proc.stdout.split()[-2])
    assert count > 1000  # Tempest 47 lists about 1575 tests


def test_default_user_is_not_root(image: str) -> None:
    proc = docker("run", "--rm", image, "id", "-u")
    assert proc.stdout.strip() == "1000"


def test_no_secrets_wheels_or_caches_in_the_image(image: str) -> None:
    info = json.loads(docker("image", "inspect", image).stdout)[0]
    env_names = {item.split("=", 1)[0] for item in info["Config"]["Env"]}
    assert not {n for n in env_names if n.startswith("OS_")}
    assert "TCUP_KEY" not in env_names
    labels = info["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert labels["org.opencontainers.image.revision"].startswith(head)
    assert labels["org.opencontainers.image.created"].startswith("20")
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    for word in ("PASSWORD", "SECRET", "TOKEN", "PRIVATE KEY"):
        assert word not in history.upper()
    leftovers = (
        "test ! -e /tmp/wheelhouse && test ! -e /tmp/tcup-wheel && test ! -e /root/.cache/pip"
    )
    proc = docker("run", "--rm", "--user", "0:0", image, "sh", "-c", f"{leftovers} && echo clean")
    assert proc.stdout.strip() == "clean", proc.stderr
    proc = docker("run", "--rm", "--user", "0:0", image, "python3", "-c", FIND_PRIVATE_KEYS)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


# A real PEM private key has base64 after its header (tcup/signing.py only names the header).
FIND_PRIVATE_KEYS = r"""
import pathlib, re
pem = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=]{40}")
roots = ("/opt", "/home", "/root", "/data", "/tmp", "/etc", "/usr/local")
hits = [
    str(p)
    for root in roots
    for p in pathlib.Path(root).rglob("*")
    if p.is_file() and not p.is_symlink() and pem.search(p.read_bytes())
]
print(hits)
"""


def test_the_platform_target_qualifies_against_the_reference_cloud(
    image: str, reference_cloud, tmp_path: Path
) -> None:
    interop = require_interop()
    # Credentials: the admin openrc's OS_* variables, handed to `docker run -e NAME`
    # through the environment, so no value appears on a command line. With them,
    # --accounts auto makes (and removes) the test accounts; the fake hypervisor
    # boots the generated tiny image and its servers answer SSH from the container.
    dumped = subprocess.run(
        ["bash", "-c", f'. "{reference_cloud.openrc_admin}" && env -0'],
        capture_output=True,
        check=True,
    ).stdout.decode()
    os_vars = dict(
        item.split("=", 1) for item in dumped.split("\0") if item.startswith("OS_") and "=" in item
    )
    assert "OS_AUTH_URL" in os_vars
    out = tmp_path / "out"
    out.mkdir()
    args = ["run", "--rm", "--network", "host", "--user", f"{os.getuid()}:{os.getgid()}"]
    for name in sorted(os_vars):
        args += ["-e", name]
    args += ["-v", f"{interop}:/interop:ro", "-v", f"{out}:/data/out"]
    args += [image, "--guideline", "/interop/2020.06.json", "--target", "platform"]
    args += ["--concurrency", "2", "--accounts", "auto", "--image", "generate"]
    proc = docker(*args, env={**os.environ, **os_vars})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("manifest.json", "results.json", "results.subunit", "report.txt", "junit.xml"):
        assert (out / name).is_file(), name
    assert len((out / "test-list.txt").read_text().splitlines()) == 273
    report = json.loads((out / "report.json").read_text())
    assert report["qualifies"] is True
    outcomes = {c["name"]: c["outcome"] for c in report["capabilities"]}
    # the two required tests that log in to a guest over SSH
    assert outcomes["compute-servers-host"] == outcomes["compute-servers-verify"] == "passed"
    assert os_vars["OS_PASSWORD"] not in (out / "tempest.conf").read_text()
    assert os_vars["OS_PASSWORD"] not in proc.stdout + proc.stderr
    assert {p.stat().st_uid for p in out.iterdir()} == {os.getuid()}
