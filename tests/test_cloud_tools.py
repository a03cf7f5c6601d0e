"""The reference cloud's scripts answer --help and refuse bad options before touching anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLOUD_TOOLS


def _tool(name: str, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCUP_CLOUD_")}
    env["TCUP_CLOUD_DIR"] = str(state)
    return subprocess.run(
        [str(CLOUD_TOOLS / name), *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "last"),
    [("up", "Idempotent:"), ("down", "Idempotent:"), ("status", "With --memory")],
)
def test_help_prints_the_whole_header(name: str, last: str, tmp_path: Path) -> None:
    done = _tool(name, "--help", state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert last in done.stdout and "#" not in done.stdout.splitlines()[0]
    assert "set -euo" not in done.stdout  # the header only, not the script


def test_no_glance_is_refused_with_the_platform_profile(tmp_path: Path) -> None:
    done = _tool("up", "--no-glance", state=tmp_path / "state")
    assert done.returncode != 0
    assert "--no-glance needs --profile storage" in done.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made
