"""Time the tcup image: cold and warm builds, size, and container start to first test.

Works on a copy of the checkout, under its own image names and a throw-away
dev cache, so the developer's images and caches are left alone:

  1. cold build, base made too: debootstrap base + wheelhouse + docker build --no-cache
  2. cold build with the base cached: base loaded from its saved archive,
     wheelhouse cached, docker build --no-cache
  3. warm rebuild after a code change (one tcup file edited)
  4. image size
  5. `docker run` -> `tcup --version` printed, and `docker run` -> first test
     result against the reference cloud when .cloud/openrc-admin exists
     (tools/cloud/up) and Keystone answers

Needs a Docker engine (tools/docker/engine-up) and root for debootstrap.
Usage: .venv/bin/python bench/image.py [--skip-base]   (--skip-base skips step 1)
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tcup import __version__

REPO = Path(__file__).resolve().parents[1]
TAG = "tcup-bench"
BASE = "tcup-bench-base:bookworm"
TARGETS = {"cold": 150.0, "warm": 20.0, "size_mb": 300.0, "first_test": 15.0}


def sh(*args: str, env: dict[str, str] | None = None, quiet: bool = True) -> str:
    proc = subprocess.run(
        list(args),
        env=env,
        check=False,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
    )
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def timed(*args: str, env: dict[str, str]) -> float:
    start = time.monotonic()
    sh(*args, env=env)
    return time.monotonic() - start


def copy_checkout(dest: Path) -> None:
    """Tracked and untracked (not ignored) files of the working tree."""
    files = sh(
        "git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"
    )
    for name in filter(None, files.split("\0")):
        src = REPO / name
        if src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def dangling() -> set[str]:
    return set(sh("docker", "images", "-q", "--no-trunc", "-f", "dangling=true").split())


def report(label: str, value: float, target: float | None, unit: str = "s") -> None:
    verdict = "" if target is None else ("  ok" if value <= target else "  OVER TARGET")
    goal = "" if target is None else f"  (target <= {target:g} {unit})"
    print(f"{label:<48} {value:8.1f} {unit}{goal}{verdict}")


def keystone_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 5000)) == 0


def openrc_env(path: Path) -> dict[str, str]:
    dumped = sh("bash", "-c", f'. "{path}" && env -0')
    pairs = (item.split("=", 1) for item in dumped.split("\0") if item.startswith("OS_"))
    return {k: v for k, v in pairs}


def first_test_seconds(image: str, interop: Path) -> float | None:
    openrc = REPO / ".cloud" / "openrc-admin"
    if not openrc.is_file() or not keystone_up():
        return None
    os_vars = openrc_env(openrc)
    name = f"tcup-bench-run-{os.getpid()}"
    args = ["docker", "run", "--rm", "--name", name, "--network", "host"]
    for var in sorted(os_vars):
        args += ["-e", var]
    args += ["-v", f"{interop}:/interop:ro", "--tmpfs", "/data/out:mode=1777", image]
    args += ["--guideline", "/interop/2020.06.json", "--target", "storage"]
    env = {**os.environ, **os_vars}
    start = time.monotonic()
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if re.match(r"\[\s*1/\d+\]", line):
                found = time.monotonic() - start
                break
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        proc.wait()
    return found


def main() -> int:
    skip_base = "--skip-base" in sys.argv[1:]
    sh("docker", "info")
    interop = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
    dev_cache = Path(os.environ.get("TCUP_DEV_CACHE") or Path.home() / ".cache" / "tcup-dev")
    dev_cache.mkdir(parents=True, exist_ok=True)
    before = dangling()
    with tempfile.TemporaryDirectory(dir=dev_cache, prefix="bench-") as tmp:
        work = Path(tmp)
        checkout = work / "checkout"
        copy_checkout(checkout)
        env = {
            **os.environ,
            "TCUP_DEV_CACHE": str(work / "cache"),
            "TCUP_BASE_IMAGE_NAME": BASE,
            "PYTHON": str(REPO / ".venv" / "bin" / "python"),
        }
        build = [str(checkout / "container" / "build"), "--base", BASE, "--tag", TAG]
        base_image = str(checkout / "tools" / "docker" / "base-image")
        try:
            print(f"tcup image benchmark ({os.cpu_count()} CPUs)")
            if skip_base:
                # Seed the throw-away cache with the developer's saved base.
                saved = dev_cache / "images" / "tcup-base-bookworm.tar.gz"
                if not saved.is_file():
                    sys.exit("bench: --skip-base needs a saved base; run tools/docker/base-image")
                sh("docker", "load", "-q", "-i", str(saved))
                sh("docker", "tag", "tcup-base:bookworm", BASE)
                sh("bash", "-c", f'docker save {BASE} | gzip -1 > "{work}/base.tar.gz"')
                (work / "cache" / "images").mkdir(parents=True)
                shutil.move(
                    str(work / "base.tar.gz"),
                    work / "cache" / "images" / f"{BASE.replace(':', '-')}.tar.gz",
                )
            else:
                t_base = timed(base_image, env=env)
                t_build = timed(*build, "--no-cache", env=env)
                report("1. cold build, base made (debootstrap)", t_base + t_build, TARGETS["cold"])
                report("   of which the base image", t_base, None)
            sh("docker", "rmi", "-f", f"{TAG}:latest", BASE, env=env)
            t_load = timed(base_image, env=env)
            t_build = timed(*build, "--no-cache", env=env)
            report("2. cold build, base loaded from cache", t_load + t_build, TARGETS["cold"])
            report("   of which loading the base", t_load, None)
            init = checkout / "tcup" / "__init__.py"
            init.write_text(init.read_text() + "\n# bench: a code change\n")
            report("3. warm rebuild after a code change", timed(*build, env=env), TARGETS["warm"])
            size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", f"{TAG}:latest"))
            report("4. image size", size / 1e6, TARGETS["size_mb"], "MB")
            start = time.monotonic()
            sh("docker", "run", "--rm", f"{TAG}:latest", "tcup", "--version")
            report("5. docker run -> tcup --version", time.monotonic() - start, None)
            first = first_test_seconds(f"{TAG}:latest", interop)
            if first is None:
                print("6. docker run -> first test result               n/a (no reference cloud)")
            else:
                report("6. docker run -> first test result", first, TARGETS["first_test"])
        finally:
            for ref in (f"{TAG}:latest", f"{TAG}:{__version__}", BASE):
                subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)
            # Build-stage images of the legacy builder: children go before parents.
            for _ in range(5):
                left = dangling() - before
                for image_id in left:
                    subprocess.run(["docker", "rmi", image_id], capture_output=True, check=False)
                if not left:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
