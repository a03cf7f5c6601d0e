"""Build step: record what `stestr list` prints for the Tempest installed in the image.

Discovering Tempest's tests takes about 10 s on two cores, and a container
starts with an empty cache, so every `docker run` paid it before the first
test.  This runs once per set of pinned dependencies (the image's dependency
stage) and writes the list where `tcup.listing.list_tests` looks
(TCUP_TEST_LIST_DIRS), named by the same key tcup computes at run time:
sha256 over the workspace's .stestr.conf, the tempest and stestr versions and
the Tempest plugins.  Should the two ever disagree the file is simply not
found and tcup lists the tests itself, so it can cost time, never correctness
(a container test checks that the image's list is used).

usage: python seed-test-list.py OUTPUT_DIR
"""

import hashlib
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path


def listing_key(workspace: Path) -> str:
    parts = [(workspace / ".stestr.conf").read_text(encoding="utf-8", errors="replace")]
    for dist in ("tempest", "stestr"):
        parts.append(f"{dist}={metadata.version(dist)}")
    for ep in sorted(metadata.entry_points(group="tempest.test_plugins"), key=lambda e: e.name):
        version = ep.dist.version if ep.dist else "?"
        parts.append(f"{ep.name}={ep.value}@{version}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def main(out_dir: Path) -> None:
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        registry = Path(tmp) / "workspaces.yaml"
        subprocess.run(
            [bindir / "tempest", "init", "--workspace-path", registry, workspace],
            check=True,
            capture_output=True,
        )
        listed = subprocess.run(
            [bindir / "stestr", "list"], cwd=workspace, check=True, capture_output=True, text=True
        ).stdout
        ids = [line.strip() for line in listed.splitlines()]
        ids = [i for i in ids if i and " " not in i and "." in i]
        if not ids:
            sys.exit("stestr list found no tests")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{listing_key(workspace)}.txt").write_text("\n".join(ids) + "\n")
        print(f"{len(ids)} Tempest tests listed into {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
